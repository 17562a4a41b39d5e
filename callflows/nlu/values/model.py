"""The two value types every parser shares: the call's context and a found value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PREFERENCES = ("future", "past", "birth")


@dataclass(frozen=True)
class ParseContext:
    """What a parser needs to know about the call.

    now: tz-aware local time of the call (the vertical's time zone); relative dates
         ("tomorrow", "monday") are resolved against its date.
    business_hours: (open, close) hours; "at three" without am/pm resolves into them.
    prefer: "future" (appointments), "past" (dates gone by), or "birth" (a date of birth: read as
            "past", and only a date that can be one; see callflows.nlu.values.dates).
    """

    now: datetime
    business_hours: tuple[int, int] = (8, 18)
    prefer: str = "future"

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("ParseContext.now must be timezone-aware")
        if self.prefer not in PREFERENCES:
            raise ValueError(f"ParseContext.prefer must be one of {PREFERENCES}, not {self.prefer!r}")
        start, end = self.business_hours
        if not 0 <= start < end <= 24:
            raise ValueError(f"bad business_hours {self.business_hours!r}")


@dataclass(frozen=True)
class Value:
    """One value found in an utterance.

    start/end index the text returned by normalize_asr(text); text == normalised[start:end].
    """

    type: str
    value: Any
    start: int
    end: int
    text: str
    extra: dict = field(default_factory=dict)
