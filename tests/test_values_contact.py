"""Phone numbers, person names, money and enum choices."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.nlu.values import ParseContext, extract

CTX = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("America/New_York")))


@pytest.mark.parametrize("text, expected", [
    ("555-123-4567", ["+15551234567"]),
    ("(555) 123-4567", ["+15551234567"]),
    ("+1 555 123 4567", ["+15551234567"]),
    ("1-555-123-4567", ["+15551234567"]),
    ("five five five one two three four five six seven", ["+15551234567"]),
    ("five five five, one two three, forty five sixty seven", ["+15551234567"]),
    ("uh my number is five five five um one two three four five six seven", ["+15551234567"]),
    ("one eight hundred five five five one two one two", ["+18005551212"]),
    ("double five five one two three four five six seven", ["+15551234567"]),
    ("five five five oh one oh oh", ["5550100"]),
    ("call me at 555 1234", ["5551234"]),
    ("44 20 7946 0958", ["442079460958"]),
    ("my number is four five six", []),
    ("the fifth at three", []),
    ("no number", []),
])
def test_phone_numbers(text: str, expected: list[str]) -> None:
    assert [v.value for v in extract("phone_number", text, CTX)] == expected


@pytest.mark.parametrize("text, expected, extra", [
    ("my name is jane o'neil", "Jane O'Neil", {"cue": "my name is"}),
    ("My name is Jane Smith.", "Jane Smith", {"cue": "my name is"}),
    ("this is john smith calling about my appointment", "John Smith", {"cue": "this is"}),
    ("uh hi it's jane", "Jane", {"cue": "it's"}),
    ("name's bob", "Bob", {"cue": "name's"}),
    ("i'm maria garcia lopez", "Maria Garcia Lopez", {"cue": "i'm"}),
    ("you can call me liz", "Liz", {"cue": "call me"}),
    ("the name is mcdonald", "McDonald", {"cue": "the name is"}),
    ("it's under smith", "Smith", {"cue": "under"}),
    ("an appointment for jane doe", "Jane Doe", {"cue": "for"}),
    ("jane smith", "Jane Smith", {}),
    ("Smith", "Smith", {}),
    ("j o h n", "John", {}),
    ("my name is john j o h n smith", "John Smith", {"cue": "my name is"}),
    ("with doctor patel", "Patel", {"title": "Dr."}),
    ("Dr. Patel", "Patel", {"title": "Dr."}),
    ("this is mrs johnson", "Johnson", {"cue": "this is", "title": "Mrs."}),
])
def test_person_names(text: str, expected: str, extra: dict) -> None:
    [value] = extract("person_name", text, CTX)
    assert (value.value, value.extra) == (expected, extra)


@pytest.mark.parametrize("text", [
    "tuesday",
    "yes",
    "no thanks",
    "i'm calling about my appointment",
    "i'm fine thanks",
    "this is about my bill",
    "it's tuesday at three",
    "for tuesday",
    "i'd like to book a cleaning",
    "four five six seven",
    "the fifth",
    "i need to reschedule my appointment for next week",
    "",
])
def test_no_person_name(text: str) -> None:
    assert extract("person_name", text, CTX) == []


@pytest.mark.parametrize("text, expected", [
    ("my name is jun nasser", "Jun Nasser"),   # "jun" is June's short form, and a given name
    ("it's jun", "Jun"),
    ("jun tanaka", "Jun Tanaka"),
    ("this is jan kowalski", "Jan Kowalski"),
    ("my name is may chen", "May Chen"),        # a month, said after a cue that says "name"
    ("my first name is june", "June"),
    ("my name is will smith", "Will Smith"),
])
def test_given_names_that_are_also_words(text: str, expected: str) -> None:
    [value] = extract("person_name", text, CTX)
    assert value.value == expected


@pytest.mark.parametrize("text", ["jun fifth", "it's dec 3", "on jan 12th please", "may i book", "june"])
def test_a_short_month_before_a_day_is_a_date_not_a_name(text: str) -> None:
    assert extract("person_name", text, CTX) == []


@pytest.mark.parametrize("text, expected", [
    ("three hundred and twenty five dollars and fifty cents", "325.50"),
    ("$250.50", "250.50"),
    ("$1,200.00", "1200.00"),
    ("fifty bucks", "50.00"),
    ("a hundred dollars", "100.00"),
    ("1,200", "1200.00"),
    ("twelve hundred", "1200.00"),
    ("250 dollars", "250.00"),
    ("250.50", "250.50"),
    ("fifty cents", "0.50"),
    ("twelve point five", "12.50"),
    ("a buck fifty", "1.50"),
    ("two dollars fifty", "2.50"),
    ("twenty dollars and five cents", "20.05"),
    ("uh like two hundred bucks", "200.00"),
    ("i paid 50 dollars on march 5th", "50.00"),
    ("two thousand five hundred dollars", "2500.00"),
])
def test_money(text: str, expected: str) -> None:
    assert [v.value for v in extract("money", text, CTX)] == [expected]


def test_bare_pair_is_dollars_and_cents_but_flagged() -> None:
    [value] = extract("money", "two fifty", CTX)
    assert value.value == "2.50" and value.extra == {"ambiguous": True, "alternative": "250.00"}


@pytest.mark.parametrize("text", ["four five six", "no money", "the fifth", ""])
def test_no_money(text: str) -> None:
    assert extract("money", text, CTX) == []


CHOICES = {
    "cleaning": ["teeth cleaning", "clean"],
    "checkup": ["check up", "exam"],
    "new_patient": ["first visit"],
    "new_patient_exam": ["new patient exam"],
    "Dr. Patel": ["patel", "doctor patel"],
}


@pytest.mark.parametrize("text, expected", [
    ("a cleaning please", ["cleaning"]),
    ("Cleaning", ["cleaning"]),
    ("I need my teeth cleaning", ["cleaning"]),
    ("check up", ["checkup"]),
    ("checkup", ["checkup"]),
    ("uh an exam", ["checkup"]),
    ("new patient", ["new_patient"]),
    ("it's my first visit", ["new_patient"]),
    ("i need a new patient exam", ["new_patient_exam"]),
    ("cleaning and an exam", ["cleaning", "checkup"]),
    ("with doctor patel", ["Dr. Patel"]),
    ("Dr. Patel", ["Dr. Patel"]),
    ("cleanings", ["cleaning"]),  # a near miss of a one-word choice (below)
    ("nothing like that", []),
])
def test_enum(text: str, expected: list[str]) -> None:
    assert [v.value for v in extract("enum", text, CTX, choices=CHOICES)] == expected


PHONE_CHOICES = {"patel": ["dr patel"], "garcia": ["dr garcia"], "any": ["anyone", "any"], "whitening": [],
                 "filling": [], "consultation": [], "family": ["family room"], "double": [], "twin": [], "suite": []}


@pytest.mark.parametrize("text, expected", [
    ("dr narcia", ["garcia"]),             # what the phone line made of "Dr. Garcia"
    ("a widening please", ["whitening"]),
    ("a filing", ["filling"]),
    ("garcia or narcia", ["garcia"]),     # an exact match wins; no near miss is looked for
    ("feeling", []), ("trouble", []), ("finally", []), ("a sweet", []), ("petal", []), ("hotel", []),
    ("the weather", []), ("twine", []),  # short choices ("twin") never match by near miss
])
def test_enum_near_misses(text: str, expected: list[str]) -> None:
    assert [v.value for v in extract("enum", text, CTX, choices=PHONE_CHOICES)] == expected
