"""The number slot type: counts of guests, nights, people."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.flow.spec import SLOT_TYPES as FLOW_SLOT_TYPES
from callflows.nlu.values import SLOT_TYPES, ParseContext, extract
from callflows.privacy import is_sensitive, store_value

CTX = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("America/New_York")))


def counts(text: str) -> list[int]:
    return [v.value for v in extract("number", text, CTX)]


def test_number_is_a_slot_type() -> None:
    assert "number" in SLOT_TYPES
    assert "number" in FLOW_SLOT_TYPES


@pytest.mark.parametrize("text, expected", [
    ("two", 2),
    ("Two.", 2),
    ("four two nights", 2),  # "for two nights" over the line
    ("to three people", 3),
    ("2", 2),
    ("2 adults", 2),
    ("two adults and a child", 3),
    ("two adults and one kid", 3),
    ("2 adults plus 2 children", 4),
    ("three adults, two kids and an infant", 6),
    ("two adults and no children", 2),
    ("a couple", 2),
    ("a couple of nights", 2),
    ("me and my wife", 2),
    ("my husband and I", 2),
    ("me, my husband and our two kids", 4),
    ("just me and my son", 2),
    ("me and my parents", 3),
    ("just me", 1),
    ("only me", 1),
    ("myself", 1),
    ("just myself please", 1),
    ("i'll be coming by myself", 1),
    ("for four people", 4),
    ("party of six", 6),
    ("a table for 2", 2),
    ("the three of us", 3),
    ("all five of us", 5),
    ("both of us", 2),
    ("we need it for three nights", 3),
    ("twelve guests", 12),
    ("twenty five people", 25),
    ("um two two people", 2),
    ("just one", 1),
    ("a dozen people", 12),
    ("me and two friends", 3),
    ("4 adults 2 kids", 6),
    ("myself and 3 colleagues", 4),
    ("it's just the two of us", 2),
    ("give me two", 2),            # "me" counts only in a list of people
    ("send me a couple", 2),
])
def test_counts(text: str, expected: int) -> None:
    assert counts(text) == [expected]


def test_value_type_span_and_extra() -> None:
    [value] = extract("number", "Book it for two adults and a child, please", CTX)
    assert value.type == "number"
    assert value.value == 3 and isinstance(value.value, int)
    assert value.text == "two adults and a child"
    assert value.extra == {"people": True}
    [plain] = extract("number", "three nights", CTX)
    assert plain.text == "three" and plain.extra == {"people": False}
    [party] = extract("number", "party of six", CTX)  # the words before it say it counts people
    assert party.text == "six" and party.extra == {"people": True}


@pytest.mark.parametrize("text, count", [
    ("no, we are four", 4),
    ("we're three", 3),
    ("there will be two of us", 2),
    ("we'll be five", 5),
    ("there are four of us and a baby", 5),
])
def test_a_number_after_words_that_count_people_is_a_party_size(text: str, count: int) -> None:
    """"No, we are four" corrects a party size where a bare "four" could be nights or a room number."""
    [value] = extract("number", text, CTX)
    assert value.value == count and value.extra == {"people": True}


@pytest.mark.parametrize("text", [
    "",
    "call me tomorrow",
    "me",
    "my wife",
    "a child",
    "me and my kids",          # a plural of unknown size
    "some friends and i",
    "on the fifth",            # a date
    "march 3rd",
    "at 3 pm",                 # a time
    "at three",
    "3:30",
    "it costs 20 dollars",     # money
    "$20",
    "four five six seven",     # a PIN, not a count
    "the first one",
])
def test_not_counts(text: str) -> None:
    assert counts(text) == []


def test_several_counts_in_text_order() -> None:
    assert counts("two rooms for five people") == [2, 5]
    assert counts("three nights for me and my wife") == [3, 2]


def test_count_next_to_a_date_or_time() -> None:
    assert counts("four people on march 3rd at 7 pm") == [4]
    assert counts("tomorrow at 6 for me and my husband") == [2]
    assert counts("tomorrow morning 11 for 3 people") == [3]
    assert counts("friday afternoon 2 for two adults") == [2]


def test_number_is_not_personal_data() -> None:
    assert not is_sensitive("guests", "number")
    assert not is_sensitive("party_size", "number")
    assert store_value("guests", "number", 3, pii=False) == "3"
    assert store_value("nights", "number", 2) == "2"
