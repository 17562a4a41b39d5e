"""words_to_digits, normalize_asr and the digits slot."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.nlu.values import SLOT_TYPES, ParseContext, extract, normalize_asr, words_to_digits

CTX = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("America/New_York")))


@pytest.mark.parametrize("text, expected", [
    ("four five six seven", "4567"),
    ("forty five sixty seven", "45 67"),
    ("twenty five", "25"),
    ("three hundred and twenty five dollars", "325 dollars"),
    ("five oh five", "505"),
    ("oh i see", "oh i see"),
    ("double five one", "551"),
    ("triple seven", "777"),
    ("nineteen eighty five", "19 85"),
    ("two thousand and five", "2005"),
    ("twelve hundred", "1200"),
    ("a hundred", "100"),
    ("the twenty first", "the 21st"),
    ("that one please", "that one please"),
    ("one eight hundred five five five one two one two", "1 800 5551212"),
    ("My PIN is Four Five", "My PIN is 45"),
    ("4 5 6 7", "4 5 6 7"),
])
def test_words_to_digits(text: str, expected: str) -> None:
    assert words_to_digits(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Tuesday at 3pm.", "tuesday at 3 pm"),
    ("uh tuesday um at like three", "tuesday at three"),
    ("I'd like Tuesday, you know, at 3", "i'd like tuesday at 3"),
    ("$1,250.50", "$1250.50"),
    ("555-123-4567", "555 123 4567"),
    ("3/5/1985", "3/5/1985"),
    ("2026-12-01", "2026/12/01"),
    ("at 3:30 p.m.", "at 3:30 pm"),
    ("My name is Jane O\u2019Neil.", "my name is jane o'neil"),
    ("Uh-huh.", "uh huh"),
    ("Mm-hmm", "uh huh"),
    ("Uh-uh.", "uh-uh"),
    ("tu- tuesday", "tuesday"),
    ("4567#", "4567"),
    ("  lots   of   space ", "lots of space"),
    ("", ""),
])
def test_normalize_asr(text: str, expected: str) -> None:
    assert normalize_asr(text) == expected
    assert normalize_asr(expected) == expected


@pytest.mark.parametrize("text, length, expected", [
    ("four five six seven", 4, ["4567"]),
    ("forty five sixty seven", 4, ["4567"]),
    ("4 5 6 7", 4, ["4567"]),
    ("1234", 4, ["1234"]),
    ("4567#", 4, ["4567"]),
    ("my pin is uh one two three four", 4, ["1234"]),
    ("double five one two", 4, ["5512"]),
    ("oh one two three", 4, ["0123"]),
    ("the last four are 4 5 6 7", 4, ["4567"]),
    ("one two three four five", 4, []),
    ("one two three four five", None, ["12345"]),
    ("member number 12345678", None, ["12345678"]),
    ("the fifth", None, []),
    ("no numbers here", None, []),
])
def test_digits(text: str, length: int | None, expected: list[str]) -> None:
    options = {"length": length} if length else {}
    assert [v.value for v in extract("digits", text, CTX, **options)] == expected


def test_text_slot_is_the_normalised_text() -> None:
    [value] = extract("text", "Uh, I need HELP!", CTX)
    assert (value.value, value.start, value.end) == ("i need help", 0, 11)
    assert extract("text", "um", CTX) == []


def test_unknown_slot_type_and_options_are_errors() -> None:
    assert "datetime" in SLOT_TYPES
    with pytest.raises(ValueError):
        extract("colour", "red", CTX)
    with pytest.raises(TypeError):
        extract("date", "today", CTX, length=4)
    with pytest.raises(TypeError):
        extract("enum", "today", CTX)


@pytest.mark.parametrize("text, expected", [
    ("the second one", "the 2nd one"),
    ("the 3rd one please", "the 3rd one please"),
    ("twenty one", "21"),
])
def test_one_after_an_ordinal_is_a_word(text: str, expected: str) -> None:
    assert words_to_digits(text) == expected


@pytest.mark.parametrize("text, expected", [
    ('at 4 o"clock', "at 4 o'clock"),
    ("at four o clock", "at four o'clock"),
    ("o'clock", "o'clock"),
])
def test_oclock_spellings(text: str, expected: str) -> None:
    assert normalize_asr(text) == expected
