"""Phone numbers: a digit run (see digits.py) of 7 to 15 digits.

10 digits -> "+1" + digits (US); 11 digits starting with 1 -> "+" + digits; other lengths from 7
to 15 -> the bare digits (a local or international number the caller should confirm).
"555-123-4567", "(555) 123-4567", "five five five one two three four five six seven",
"five five five, one two three, forty five sixty seven" and "one eight hundred five five five
one two one two" all work.
"""

from __future__ import annotations

from .digits import digit_runs
from .model import Value


def normalise_phone(digits: str) -> str | None:
    """E.164-style US form of a digit string, the digits for other lengths 7..15, else None."""
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    if 7 <= len(digits) <= 15:
        return digits
    return None


def extract_phones(text: str) -> list[Value]:
    """Phone-number values in normalised text."""
    values = []
    for run in digit_runs(text):
        phone = normalise_phone(run.digits)
        if phone is not None:
            values.append(Value("phone_number", phone, run.start, run.end, text[run.start:run.end]))
    return values
