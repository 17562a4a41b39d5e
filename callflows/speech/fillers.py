"""Audio that fills a wait on the line: short spoken phrases and a soft keyboard sound.

Everything is made locally, nothing is downloaded:

* phrases ("Mm-hm.", "One moment.", "I'm checking the schedule now.") are synthesised with
  the bot's Piper voice into the prompt cache (``PromptCache``: ``<sha256>.ulaw`` files);
* the keyboard sound is synthesised with numpy: short band-limited noise clicks (a key
  going down, a quieter one coming up) at random, typing-like intervals, 8 kHz mu-law,
  stored as ``fillers/keyboard-<ms>ms-<seed>.ulaw`` next to the prompts.

``callflows fillers build`` renders them at install time; the phone server's warm-up
renders any that are missing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import codec
from .tts.prompt_cache import write_atomic

__all__ = ["BuildReport", "FillerLibrary", "keyboard_sound"]

log = logging.getLogger(__name__)

KEYBOARD_VARIANTS = 3  # different random typing, so a long wait does not loop one clip


def _click(rng: np.random.Generator, rate: int, gain: float) -> np.ndarray:
    """One key click: 4-9 ms of noise, high-passed (a first difference) and smoothed
    (a short moving average) into a soft 1-3 kHz tick, with a fast exponential decay."""
    n = int(rate * rng.uniform(0.004, 0.009))
    noise = rng.standard_normal(n + 4)
    tick = np.diff(noise)  # high-pass: the thud of the desk goes, the click stays
    tick = np.convolve(tick, np.ones(3) / 3, mode="valid")[:n]  # low-pass: no hiss above ~3 kHz
    envelope = np.exp(-np.arange(n) / (n / 4.0))
    out = tick * envelope
    peak = np.max(np.abs(out)) or 1.0
    return out / peak * gain


def keyboard_sound(duration_ms: int = 1600, seed: int = 0, level_dbfs: float = -22.0,
                   rate: int = codec.PHONE_RATE) -> bytes:
    """Soft typing as 8 kHz mu-law: clicks 70-240 ms apart in bursts of 3-7 keys, with a
    longer pause between bursts (words); each key has a down click and a quieter up click.
    ``level_dbfs`` is the loudest click's peak; ``seed`` makes it reproducible."""
    rng = np.random.default_rng(seed)
    total = int(rate * duration_ms / 1000)
    signal = np.zeros(total, dtype=np.float64)
    peak = 10 ** (level_dbfs / 20)
    edge = int(rate * 0.06)  # no click in the first and last 60 ms: clean joins
    t = edge
    while True:
        for _ in range(int(rng.integers(3, 8))):
            if t >= total - edge:
                break
            gain = peak * rng.uniform(0.55, 1.0)
            down = _click(rng, rate, gain)
            signal[t:t + len(down)] += down[: max(0, total - t)]
            up_at = t + int(rate * rng.uniform(0.03, 0.06))
            up = _click(rng, rate, gain * 0.45)
            if up_at < total - len(up):
                signal[up_at:up_at + len(up)] += up
            t += int(rate * rng.uniform(0.07, 0.24))
        if t >= total - edge:
            break
        t += int(rate * rng.uniform(0.18, 0.40))  # between words
    return codec.float_to_ulaw(np.clip(signal, -1.0, 1.0).astype(np.float32))


@dataclass(frozen=True)
class BuildReport:
    """What ``FillerLibrary.build`` did."""

    phrases_synthesised: int
    phrases_cached: int
    keyboard_written: int
    keyboard_cached: int

    @property
    def total(self) -> int:
        return self.phrases_synthesised + self.phrases_cached + self.keyboard_written + self.keyboard_cached


class FillerLibrary:
    """Filler audio for calls: ``phrase(text)`` and ``keyboard(duration_ms, variant)``,
    from memory, else disk, else made (and stored) on the spot.

    ``prompts`` is the ``PromptCache`` of the bot's voice; keyboard clips go under
    ``<prompts.cache_dir>/fillers``."""

    def __init__(self, prompts: Any, cache_dir: str | Path | None = None) -> None:
        self.prompts = prompts
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path(prompts.cache_dir) / "fillers"
        self._memory: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ phrases
    def has_phrase(self, text: str) -> bool:
        return bool(self.prompts.has(text))

    def phrase(self, text: str) -> bytes:
        """The phrase in the bot's voice (synthesised once, then cached)."""
        return self.prompts.get(text)

    # ------------------------------------------------------------------ keyboard
    def keyboard_path(self, duration_ms: int, variant: int = 0) -> Path:
        return self.cache_dir / f"keyboard-{int(duration_ms)}ms-{int(variant)}.ulaw"

    def has_keyboard(self, duration_ms: int, variant: int = 0) -> bool:
        path = self.keyboard_path(duration_ms, variant)
        return path.name in self._memory or path.exists()

    def keyboard(self, duration_ms: int, variant: int = 0) -> bytes:
        """Typing of ``duration_ms`` (variant ``0..KEYBOARD_VARIANTS-1``)."""
        path = self.keyboard_path(duration_ms, variant % KEYBOARD_VARIANTS)
        audio = self._memory.get(path.name)
        if audio is not None:
            return audio
        with self._lock:
            if path.exists():
                audio = path.read_bytes()
            else:
                audio = keyboard_sound(duration_ms, seed=variant % KEYBOARD_VARIANTS)
                write_atomic(path, audio)
                log.info("keyboard sound written: %s", path.name)
            self._memory[path.name] = audio
            return audio

    # ------------------------------------------------------------------ build
    def missing(self, phrases: Iterable[str], keyboard_ms: Iterable[int] = ()) -> list[str]:
        """What ``build`` would make: the phrases and keyboard clips not yet on disk."""
        out = [p for p in dict.fromkeys(phrases) if not self.has_phrase(p)]
        for ms in dict.fromkeys(keyboard_ms):
            out += [self.keyboard_path(ms, v).name for v in range(KEYBOARD_VARIANTS) if not self.has_keyboard(ms, v)]
        return out

    def build(self, phrases: Iterable[str], keyboard_ms: Iterable[int] = ()) -> BuildReport:
        """Render every phrase (Piper) and keyboard clip (numpy) that is not cached yet."""
        synthesised = cached = written = kept = 0
        for text in dict.fromkeys(phrases):
            if self.has_phrase(text):
                cached += 1
            else:
                synthesised += 1
            self.phrase(text)
        for ms in dict.fromkeys(keyboard_ms):
            for variant in range(KEYBOARD_VARIANTS):
                if self.has_keyboard(ms, variant):
                    kept += 1
                else:
                    written += 1
                self.keyboard(ms, variant)
        return BuildReport(synthesised, cached, written, kept)

