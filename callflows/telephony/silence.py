"""How long a caller heard nothing: dead air measured from what the caller's side played.

The input is the bot's audio as the caller's phone played it: 20 ms mu-law frames, each with
the time it started and stopped playing (``HeardFrame``; ``SimulatedCall`` records them on its
real-time playback clock, with ``clear`` cutting what was buffered). A frame is *audible* when
its level is above ``threshold_dbfs`` (Piper's pauses and the line's silence are not; the
clicks of the keyboard filler are). Silence is every stretch of the window not covered by an
audible frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from callflows.speech import codec

AUDIBLE_DBFS = -55.0  # a 20 ms frame quieter than this is heard as nothing


@dataclass(frozen=True)
class HeardFrame:
    start: float  # perf_counter when it started playing at the caller's end
    end: float
    audible: bool


def is_audible(mulaw: bytes, threshold_dbfs: float = AUDIBLE_DBFS) -> bool:
    """Whether a mu-law frame is loud enough to be heard."""
    return codec.rms_dbfs(codec.ulaw_to_pcm16(mulaw)) > threshold_dbfs


def heard_frame(start: float, mulaw: bytes, threshold_dbfs: float = AUDIBLE_DBFS) -> HeardFrame:
    return HeardFrame(start, start + len(mulaw) / codec.PHONE_RATE, is_audible(mulaw, threshold_dbfs))


def audible_spans(frames: Iterable[HeardFrame]) -> list[tuple[float, float]]:
    """The audible frames merged into (start, end) spans, in time order."""
    spans: list[tuple[float, float]] = []
    for f in sorted((f for f in frames if f.audible and f.end > f.start), key=lambda f: f.start):
        if spans and f.start <= spans[-1][1] + 1e-6:
            spans[-1] = (spans[-1][0], max(spans[-1][1], f.end))
        else:
            spans.append((f.start, f.end))
    return spans


def longest_silence_ms(frames: Sequence[HeardFrame], stopped_at: float, until: float | None = None) -> float:
    """The longest stretch the caller heard nothing between ``stopped_at`` (when they stopped
    speaking) and ``until`` (default: the end of the last audible frame after ``stopped_at``).

    Audio still playing when the caller stopped covers the start of the window. With no
    audible frame in the window and no ``until``, the silence never ended: ``math.inf``."""
    spans = [(max(s, stopped_at), e) for s, e in audible_spans(frames) if e > stopped_at]
    if until is not None:
        spans = [(s, min(e, until)) for s, e in spans if s < until]
    if not spans:
        return math.inf if until is None else max(0.0, (until - stopped_at) * 1000)
    end = until if until is not None else spans[-1][1]
    longest, cursor = 0.0, stopped_at
    for start, stop in spans:
        longest = max(longest, start - cursor)
        cursor = max(cursor, stop)
    longest = max(longest, end - cursor)
    return longest * 1000
