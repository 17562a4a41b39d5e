"""Corrections that give part of a date: "no, nineteen eighty five", "no, march the fifth".

A read-back ("I have your date of birth as March 5, 1984") is corrected by the part that was
wrong; the date parser alone cannot place "nineteen eighty five" or a month and day without
a year when only a date of birth fits, so the parts said here replace those of the date read
back and the rest is kept.

- a year: "1985", "nineteen eighty five", "nineteen oh five", "two thousand and three";
- a month: its name (full or short, "may" only next to a number);
- a day: an ordinal ("the fifth", "5th"), or a number 1-31 next to the month ("march 5").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .dates import MONTHS
from .normalize import normalize_asr, tokenize
from .numbers import Num, find_numbers


@dataclass(frozen=True)
class DateParts:
    """The parts of a date said in one utterance (None: not said)."""

    year: int | None = None
    month: int | None = None
    day: int | None = None

    @property
    def empty(self) -> bool:
        return self.year is None and self.month is None and self.day is None


def _year_at(nums: list[Num], k: int) -> tuple[int, int] | None:
    """(year, index of the next Num) for a year starting at nums[k]."""
    first = nums[k]
    if first.ordinal or first.kind == "repeat":
        return None
    if 1900 <= first.value <= 2099 and (first.kind == "cardinal" or len(first.digits) == 4):
        return first.value, k + 1
    if first.kind != "cardinal" or first.value not in (19, 20) or k + 1 >= len(nums):
        return None
    second = nums[k + 1]
    if second.i != first.j or second.ordinal:
        return None
    if second.kind == "cardinal" and 10 <= second.value <= 99:
        return first.value * 100 + second.value, k + 2
    if second.value == 0 and k + 2 < len(nums) and nums[k + 2].i == second.j and nums[k + 2].kind == "digit":
        return first.value * 100 + nums[k + 2].value, k + 3
    return None


def date_parts(text: str) -> DateParts:
    """The year, month and day said in `text` (see the module docstring)."""
    tokens = tokenize(normalize_asr(text))
    words = [t.text for t in tokens]
    nums = find_numbers(tokens)
    year = None
    in_year: set[int] = set()
    k = 0
    while k < len(nums):
        found = _year_at(nums, k)
        if found is None:
            k += 1
            continue
        year = found[0]
        in_year |= {n.i for n in nums[k:found[1]]}
        k = found[1]
    starts = {n.i: n for n in nums if n.i not in in_year}
    ends = {n.j: n for n in nums if n.i not in in_year}
    month = day = None
    for i, word in enumerate(words):
        if word not in MONTHS:
            continue
        after = starts.get(i + 2 if words[i + 1:i + 2] == ["the"] else i + 1)  # "march (the) fifth"
        before = ends.get(i - 1 if words[i - 1:i] == ["of"] else i)  # "the fifth (of) march"
        near = next((n for n in (after, before) if n is not None and 1 <= n.value <= 31), None)
        if word == "may" and near is None:
            continue  # "may i", not the month
        month = MONTHS[word]
        if near is not None:
            day = near.value
    if day is None:
        day = next((n.value for n in nums if n.ordinal and n.i not in in_year and 1 <= n.value <= 31), None)
    return DateParts(year, month, day)


def date_correction(old: date, text: str) -> date | None:
    """`old` with the parts `text` says in place of its own; None when `text` gives no part
    of a date, or the parts make no date, or the same one."""
    parts = date_parts(text)
    if parts.empty:
        return None
    try:
        new = date(parts.year or old.year, parts.month or old.month, parts.day or old.day)
    except ValueError:
        return None
    return new if new != old else None
