"""parse_yes_no and the datetime slot."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.nlu.values import ParseContext, extract, parse_yes_no

CTX = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("America/New_York")))

AFFIRM = [
    "yes", "Yes.", "yeah", "yep", "yup", "sure", "correct", "that's right", "That's right.", "right",
    "uh huh", "Uh-huh.", "mm-hmm", "absolutely", "sounds good", "perfect", "please do", "go ahead",
    "that works", "okay", "yes that is correct", "um yeah sure", "i think so", "no problem",
    "yes please", "yeah that works for me", "of course",
]
DENY = [
    "no", "No.", "nope", "nah", "not really", "that's wrong", "incorrect", "wrong", "negative",
    "no thanks", "not quite", "that's not right", "that is not correct", "no, wednesday",
    "no it's thursday", "Uh-uh.", "i don't think so", "not correct", "no that won't work",
]
UNCLEAR = [
    "yeah no", "yes no", "i want tuesday", "", "um", "maybe", "i'm not sure", "no idea what time",
    "right after lunch", "what", "can you repeat that",
]


@pytest.mark.parametrize("text", AFFIRM)
def test_affirm(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize("text", DENY)
def test_deny(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize("text", UNCLEAR)
def test_unclear(text: str) -> None:
    assert parse_yes_no(text) is None


@pytest.mark.parametrize("text, expected", [
    ("next tuesday at three", ["2026-11-24T15:00"]),
    ("Tuesday at 3pm", ["2026-11-24T15:00"]),
    ("tomorrow morning at ten", ["2026-11-23T10:00"]),
    ("at ten tomorrow", ["2026-11-23T10:00"]),
    ("march fifth at 3:30 pm", ["2027-03-05T15:30"]),
    ("12/3 at noon", ["2026-12-03T12:00"]),
    ("uh the fifth um at like half past two", ["2026-12-05T14:30"]),
    ("tuesday at three or wednesday at four", ["2026-11-24T15:00", "2026-11-25T16:00"]),
    ("at three", []),
    ("tomorrow morning", []),
    ("tuesday", []),
])
def test_datetime(text: str, expected: list[str]) -> None:
    assert [v.value for v in extract("datetime", text, CTX)] == expected


def test_datetime_extra_has_both_parts() -> None:
    [value] = extract("datetime", "tomorrow morning at ten", CTX)
    assert value.extra["date"] == "2026-11-23" and value.extra["time"] == "10:00"
    assert value.extra["part_of_day"] == "morning"
    assert value.text == "tomorrow morning at ten"
