"""Static prompts synthesised once and kept on disk and in memory, for any ``TextToSpeech``."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from .base import TextToSpeech

log = logging.getLogger(__name__)


class PromptCache:
    """Static prompts synthesised once, kept as ``<sha256>.ulaw`` files under ``cache_dir``
    (default ``var/tts-cache``) and in memory. The key is sha256(voice id + text)."""

    def __init__(self, tts: TextToSpeech, cache_dir: str | Path = "var/tts-cache") -> None:
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
