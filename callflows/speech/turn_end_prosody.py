"""A small end-of-turn classifier on prosody and the partial transcript, as a ``TurnEndModel``.

Why these features: at a pause, a finished statement usually ends with falling pitch, falling
energy and a lengthened last syllable, while a caller who goes on tends to stop on level pitch
in the middle of a phrase; and the words tell what the audio cannot (a phone number with six
of ten digits, a trailing "um", "I'd like to book a"). Pitch is found by autocorrelation on the
8 kHz signal itself (60-400 Hz), so nothing above the phone band is needed.

The classifier (scikit-learn gradient boosting, a few hundred kilobytes) is trained by
bench/end_of_turn_train.py on the train voices of the 8 kHz set and saved, with the feature
columns it uses, to models/built/turn_end/prosody.pkl (never committed). The install builds it
(``scripts/install.sh turn_end``, with the script's words: no recogniser, under a minute); the
phone uses it with ``CALLFLOWS_TURN_END=classifier`` (the rules are the default: bench/README.md).
"""

from __future__ import annotations

import logging
import pickle
import re
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from . import codec
from .turn_end import TurnSnapshot, digits_heard, digits_needed, ends_with_filler

log = logging.getLogger(__name__)

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "models" / "built" / "turn_end" / "prosody.pkl"
HOP = 80  # 10 ms at 8 kHz
WIN = 320  # 40 ms
_FUNCTION_WORDS = frozenset({"a", "an", "the", "is", "my", "to", "at", "and", "or", "of", "for", "on", "in", "about",
                             "like", "be", "it's", "its", "from", "with", "this", "that's", "um", "uh", "number",
                             "name", "around", "next", "by"})


@dataclass(frozen=True)
class TurnFeatures:
    """One pause, described: pitch and energy at the end of the speech before it (relative to
    the caller's own median), the last voiced run, how much was said, and the words."""

    f0_end_st: float
    f0_slope_st_s: float
    f0_range_end_st: float
    energy_end_db: float
    energy_slope_db_s: float
    voiced_end_frac: float
    last_run_ms: float
    last_run_ratio: float
    speech_ms: float
    pauses: float
    slot_complete: float
    ends_filler: float
    ends_function_word: float
    words: float
    digit_fraction: float
    yes_no: float
    long_slot: float
    free_speech: float

    def vector(self) -> list[float]:
        return [float(x) for x in astuple(self)]


FEATURES = tuple(f.name for f in fields(TurnFeatures))
PROSODY_FEATURES = FEATURES[:10]
"""The audio-only columns (the rest come from the partial transcript and the slot)."""


def _frames(x: np.ndarray) -> np.ndarray:
    if len(x) < WIN:
        x = np.pad(x, (0, WIN - len(x)))
    n = 1 + (len(x) - WIN) // HOP
    return np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP][:n]


def _pitch(frames: np.ndarray) -> np.ndarray:
    """f0 per frame in Hz (0 where unvoiced): normalised autocorrelation, lags of 60-400 Hz."""
    lo, hi = codec.PHONE_RATE // 400, codec.PHONE_RATE // 60
    centred = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(centred * np.hanning(WIN), n=2 * WIN, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : hi + 1]
    ac = ac / np.maximum(ac[:, :1], 1e-9)
    lag = lo + np.argmax(ac[:, lo : hi + 1], axis=1)
    strength = ac[np.arange(len(ac)), lag]
    return np.where(strength > 0.45, codec.PHONE_RATE / lag, 0.0)


def _slope(y: np.ndarray) -> float:
    if len(y) < 3:
        return 0.0
    t = np.arange(len(y)) * HOP / codec.PHONE_RATE
    return float(np.polyfit(t, y, 1)[0])


def _runs(active: np.ndarray, bridge: int = 6) -> list[tuple[int, int]]:
    """(start, end) frame runs of ``active``, bridging gaps up to ``bridge`` frames (60 ms)."""
    runs: list[tuple[int, int]] = []
    start = gap = None
    for i, on in enumerate(active):
        if on:
            if start is None:
                start = i
            elif gap is not None and i - gap > bridge:
                runs.append((start, gap))
                start = i
            gap = None
        elif start is not None and gap is None:
            gap = i
    if start is not None:
        runs.append((start, gap if gap is not None else len(active)))
    return runs


def prosody(pcm16: bytes, silence_ms: int) -> list[float]:
    """The ten audio features of ``TurnFeatures`` for a turn ending in ``silence_ms`` of quiet."""
    x = codec.pcm16_to_float(pcm16)
    x = x[: max(len(x) - silence_ms * codec.PHONE_RATE // 1000, WIN)]
    frames = _frames(x)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    speech = db > max(float(np.max(db)) - 35.0, -55.0)
    f0 = _pitch(frames) * speech
    voiced = f0 > 0
    if voiced.sum() < 5:
        return [0.0] * 10
    st = 12 * np.log2(np.maximum(f0, 1.0) / float(np.median(f0[voiced])))
    last_voiced = np.flatnonzero(voiced)
    tail = last_voiced[last_voiced >= last_voiced[-1] - 25]  # the last 250 ms of voicing
    tail_slope = last_voiced[last_voiced >= last_voiced[-1] - 40]
    speech_idx = np.flatnonzero(speech)
    end = speech_idx[-1] + 1
    e_rel = db - float(np.median(db[speech]))
    runs = _runs(speech)
    last_run = (runs[-1][1] - runs[-1][0]) * 10.0 if runs else 0.0
    mean_run = float(np.mean([(b - a) * 10.0 for a, b in runs])) if runs else 1.0
    pauses = sum(1 for (_, b), (c, _) in zip(runs, runs[1:]) if c - b >= 20)
    return [
        float(np.median(st[tail])),
        _slope(st[tail_slope]),
        float(np.max(st[tail]) - np.min(st[tail])),
        float(np.mean(e_rel[max(end - 20, 0):end])),
        _slope(e_rel[max(end - 30, 0):end]),
        float(np.mean(voiced[max(end - 30, 0):end])),
        last_run,
        last_run / max(mean_run, 1.0),
        float(speech.sum() * 10.0),
        float(pauses),
    ]


def features(snapshot: TurnSnapshot) -> TurnFeatures:
    """Everything the classifier sees at one pause."""
    e = snapshot.expectation
    words = re.sub(r"[^a-z0-9' ]", " ", snapshot.partial.lower()).split()
    needed = digits_needed(e)
    long_slot = e is not None and (e.pii or needed is not None or e.slot_type in
                                   {"digits", "date", "datetime", "time", "phone_number", "money"})
    return TurnFeatures(
        *prosody(snapshot.audio, snapshot.silence_ms),
        slot_complete=float(snapshot.slot_complete),
        ends_filler=float(ends_with_filler(snapshot.partial)),
        ends_function_word=float(bool(words) and words[-1] in _FUNCTION_WORDS),
        words=float(len(words)),
        digit_fraction=min(digits_heard(snapshot.partial) / needed, 1.5) if needed else -1.0,
        yes_no=float(e is not None and e.yes_no),
        long_slot=float(long_slot),
        free_speech=float(e is None or (e.slot_type is None and not e.yes_no)),
    )


class ProsodyTurnModel:
    """The trained classifier (a pickle written by bench/end_of_turn_train.py)."""

    name = "prosody-classifier"

    def __init__(self, path: str | Path | None = None, check_ms: int = 300) -> None:
        if path and "#sha256=" in str(path):  # a user's model by URL, downloaded once and verified
            from callflows.models.manifest import resolve_override

            from .turn_end_smart import default_cache_dir

            path = resolve_override(str(path), default_cache_dir() / "user")
        self.path = Path(path) if path else DEFAULT_PATH
        if not self.path.exists():
            raise FileNotFoundError(f"no end-of-turn classifier at {self.path}: bash scripts/install.sh turn_end")
        with open(self.path, "rb") as fh:
            saved = pickle.load(fh)  # noqa: S301 - our own file, built by the training script
        self._clf = saved["model"]
        self.columns: tuple[str, ...] = tuple(saved["columns"])
        self._index = [FEATURES.index(c) for c in self.columns]
        self.check_ms = check_ms

    def probability(self, snapshot: TurnSnapshot) -> float:
        row = np.asarray([features(snapshot).vector()])[:, self._index]
        return float(self._clf.predict_proba(row)[0, 1])
