"""Parts of the day ("morning", "this afternoon", "tonight") shared by the date and time parsers.

Ranges (24 h, end exclusive): morning 08:00-12:00, afternoon 12:00-17:00, evening 17:00-21:00.
"night" and "tonight" count as evening.
"""

from __future__ import annotations

PART_OF_DAY = {
    "morning": "morning", "mornings": "morning",
    "afternoon": "afternoon", "afternoons": "afternoon",
    "evening": "evening", "evenings": "evening",
    "night": "evening", "tonight": "evening",
}
PART_RANGES = {
    "morning": ("08:00", "12:00"),
    "afternoon": ("12:00", "17:00"),
    "evening": ("17:00", "21:00"),
}
PM_PARTS = frozenset({"afternoon", "evening"})


def part_of_day_at(words: list[str], i: int) -> tuple[str, int] | None:
    """(part, end) for "morning" / "in the morning" / "at night" / "tonight" starting at words[i]."""
    j = i
    if j + 1 < len(words) and words[j] in ("in", "this") and words[j + 1] == "the":
        j += 2
    elif j < len(words) and words[j] in ("in", "at", "this", "the"):
        j += 1
    if j < len(words) and words[j] in PART_OF_DAY:
        return PART_OF_DAY[words[j]], j + 1
    return None


def part_of_day_in(words: list[str]) -> str | None:
    """The first part of the day mentioned anywhere in the words, if any."""
    for word in words:
        if word in PART_OF_DAY:
            return PART_OF_DAY[word]
    return None
