"""Digit strings (PINs, account and member numbers, DTMF) spoken or typed.

A digit string is a run of directly adjacent numbers (see callflows.nlu.values.numbers), each
written out and concatenated: "four five six seven", "forty five sixty seven", "4 5 6 7", "1234",
"double five one two" and DTMF "4567#" (normalize_asr drops the '#') all give "4567"/"5512".
Ordinals ("the fifth") are not digits. Option length=N keeps only runs of exactly N digits.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Value
from .normalize import tokenize
from .numbers import find_numbers, number_runs


@dataclass(frozen=True)
class DigitRun:
    digits: str
    start: int
    end: int


def digit_runs(text: str) -> list[DigitRun]:
    """Every run of adjacent non-ordinal numbers in normalised text, as one digit string."""
    tokens = tokenize(text)
    nums = [n for n in find_numbers(tokens) if not n.ordinal]
    return [
        DigitRun("".join(n.digits for n in run), tokens[run[0].i].start, tokens[run[-1].j - 1].end)
        for run in number_runs(nums)
    ]


def extract_digits(text: str, length: int | None = None) -> list[Value]:
    """Digit-string values in normalised text; with length, only runs of exactly that many digits."""
    return [
        Value("digits", run.digits, run.start, run.end, text[run.start:run.end])
        for run in digit_runs(text)
        if length is None or len(run.digits) == length
    ]
