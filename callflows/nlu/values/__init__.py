"""Deterministic value parsers for speech-recogniser and typed text.

    from callflows.nlu.values import ParseContext, extract
    extract("date", "uh next tuesday at three", ParseContext(now=...))

Each module has one job and documents its rules for ambiguous cases: normalize (text clean-up),
numbers (spoken numbers, words_to_digits), dates, times, dayparts, digits, phone, money,
enums, names, yesno; api.extract dispatches by slot type and pairs dates with times.
"""

from .api import SLOT_TYPES, extract
from .model import ParseContext, Value
from .normalize import normalize_asr
from .numbers import words_to_digits
from .yesno import parse_yes_no

__all__ = ["SLOT_TYPES", "ParseContext", "Value", "extract", "normalize_asr", "parse_yes_no", "words_to_digits"]
