"""Vosk backend: Kaldi streaming recognition at 8 kHz, with a grammar restricted to the
expected slot's words when there is one. The model comes from a user's path, or a URL + sha256
(no English model ships in a package registry)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .. import codec
from ..bias import vosk_vocabulary
from ..download import resolve_model_dir
from ..expectation import Expectation
from ..registry import ModelRegistry, registry
from .base import Transcript


class VoskRecognizer:
    """Vosk (Kaldi) streaming recognition at 8 kHz.

    The model comes from ``model_path``, or from ``model_url`` + ``sha256`` (a zip downloaded
    to ``cache_dir``, verified, unpacked). With an expectation that has a vocabulary (yes/no,
    digits, dates, times, choices) the recogniser is restricted to a grammar of those words.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model_url: str | None = None,
        sha256: str | None = None,
        cache_dir: str | Path = "var/models",
        sample_rate: int = codec.PHONE_RATE,
        log_level: int = -1,
        use_grammar: bool = True,
        models: ModelRegistry | None = None,
    ) -> None:
        if model_path is None and model_url is None:
            raise ValueError("VoskRecognizer needs model_path, or model_url and sha256")
        self.model_path = Path(model_path) if model_path else None
        self.model_url = model_url
        self.sha256 = sha256
        self.cache_dir = Path(cache_dir)
        self.sample_rate = sample_rate
        self.log_level = log_level
        self.use_grammar = use_grammar
        self._models = models or registry()
        self._resolved: Path | None = None

    def model_dir(self) -> Path:
        """The local model directory (downloading and verifying it first if configured by URL)."""
        if self._resolved is None:
            self._resolved = resolve_model_dir(self.model_path, self.model_url, self.sha256, self.cache_dir)
        return self._resolved

    @property
    def model(self) -> Any:
        """The ``vosk.Model`` (loaded once per process)."""
        path = self.model_dir()

        def load() -> Any:
            import vosk

            vosk.SetLogLevel(self.log_level)
            return vosk.Model(str(path))

        return self._models.get_or_load(("vosk", str(path.resolve())), load)

    def load(self) -> None:
        """Resolve (download) and load the model now."""
        _ = self.model

    def transcribe(self, pcm16_8k: bytes, expectation: Expectation | None = None, *, bias: bool = True) -> Transcript:
        """One-shot transcription of a whole utterance (``bias=False``: no grammar)."""
        stream = self.start(expectation if bias else None)
        stream.accept(pcm16_8k)
        return stream.finish()

    def start(self, expectation: Expectation | None = None) -> VoskStream:
        import vosk

        vocabulary = vosk_vocabulary(expectation) if self.use_grammar else None
        if vocabulary:
            rec = vosk.KaldiRecognizer(self.model, self.sample_rate, json.dumps(vocabulary, ensure_ascii=False))
        else:
            rec = vosk.KaldiRecognizer(self.model, self.sample_rate)
        rec.SetWords(True)
        return VoskStream(rec, self.sample_rate, vocabulary)


class VoskStream:
    """A Vosk turn: audio is decoded as it arrives; partials are available at any time."""

    def __init__(self, recognizer: Any, sample_rate: int, grammar: list[str] | None) -> None:
        self._rec = recognizer
        self._rate = sample_rate
        self.grammar = grammar
        """The grammar in force (None: free recognition)."""
        self._segments: list[dict[str, Any]] = []
        self._bytes = 0
        self._lock = threading.Lock()

    def accept(self, pcm16_8k: bytes) -> None:
        with self._lock:
            self._bytes += len(pcm16_8k)
            if self._rec.AcceptWaveform(pcm16_8k):
                self._segments.append(json.loads(self._rec.Result()))

    def partial(self) -> str:
        with self._lock:
            current = json.loads(self._rec.PartialResult()).get("partial", "")
            return " ".join(t for t in [*(s.get("text", "") for s in self._segments), current] if t)

    def finish(self) -> Transcript:
        with self._lock:
            self._segments.append(json.loads(self._rec.FinalResult()))
            words = [w for s in self._segments for w in s.get("result", [])]
            text = " ".join(t for t in (s.get("text", "") for s in self._segments) if t)
            confidence = float(np.mean([w.get("conf", 0.0) for w in words])) if words else 0.0
            return Transcript(text, confidence, self._bytes // 2 * 1000 // self._rate)
