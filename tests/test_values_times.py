"""Time parsing: clock forms, am/pm resolution, parts of the day, numbers that are not times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.nlu.values import ParseContext, extract

NY = ZoneInfo("America/New_York")
CTX = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=NY))
EVENING_SHOP = ParseContext(now=datetime(2027, 3, 10, 16, 30, tzinfo=NY), business_hours=(12, 22))


def times(text: str, ctx: ParseContext = CTX) -> list[str | None]:
    return [v.value for v in extract("time", text, ctx)]


@pytest.mark.parametrize("text, expected", [
    ("three", "15:00"),
    ("at three", "15:00"),
    ("at nine", "09:00"),
    ("at 8", "08:00"),
    ("at seven", "07:00"),
    ("at six", "18:00"),
    ("at five thirty", "17:30"),
    ("at twelve", "12:00"),
    ("at eleven forty five", "11:45"),
    ("3pm", "15:00"),
    ("3 PM", "15:00"),
    ("3 p m", "15:00"),
    ("three p.m.", "15:00"),
    ("nine a.m.", "09:00"),
    ("seven am", "07:00"),
    ("12 am", "00:00"),
    ("three thirty", "15:30"),
    ("3:30", "15:30"),
    ("at 3:30 p.m.", "15:30"),
    ("10:15am", "10:15"),
    ("three oh five", "15:05"),
    ("half past two", "14:30"),
    ("a quarter past two", "14:15"),
    ("quarter after ten", "10:15"),
    ("quarter to four", "15:45"),
    ("quarter till nine", "08:45"),
    ("ten to five", "16:50"),
    ("twenty past eleven", "11:20"),
    ("noon", "12:00"),
    ("midday", "12:00"),
    ("twelve noon", "12:00"),
    ("midnight", "00:00"),
    ("two o'clock", "14:00"),
    ("ten o'clock in the morning", "10:00"),
    ("fourteen hundred", "14:00"),
    ("fourteen hundred hours", "14:00"),
    ("fourteen thirty", "14:30"),
    ("330 pm", "15:30"),
    ("three in the afternoon", "15:00"),
    ("seven in the evening", "19:00"),
    ("tomorrow morning at ten", "10:00"),
    ("monday afternoon at four", "16:00"),
    ("uh tuesday um at like three", "15:00"),
    ("how about three", "15:00"),
    ("three please", "15:00"),
    ("tuesday three", "15:00"),
    ("the fifth at 3", "15:00"),
    ("march 5 at two thirty", "14:30"),
    ("next tuesday at three", "15:00"),
    ("Tuesday at 3pm", "15:00"),
])
def test_times(text: str, expected: str) -> None:
    assert times(text) == [expected]


@pytest.mark.parametrize("text, expected", [
    ("at three", "15:00"),
    ("at eleven", "11:00"),   # neither 11:00 nor 23:00 is inside (12, 22): am for 7..11
    ("at nine", "21:00"),
    ("at ten", "10:00"),
    ("at one", "13:00"),
])
def test_business_hours_decide_am_pm(text: str, expected: str) -> None:
    assert times(text, EVENING_SHOP) == [expected]


def test_how_am_pm_was_decided_is_reported() -> None:
    assert extract("time", "3pm", CTX)[0].extra["ampm"] == "explicit"
    assert extract("time", "at three", CTX)[0].extra["ampm"] == "business_hours"
    assert extract("time", "three in the afternoon", CTX)[0].extra["ampm"] == "part_of_day"
    assert extract("time", "fourteen hundred", CTX)[0].extra["ampm"] == "24h"


@pytest.mark.parametrize("text, part", [
    ("in the morning", "morning"),
    ("tomorrow morning", "morning"),
    ("sometime in the afternoon", "afternoon"),
    ("this evening", "evening"),
    ("tonight", "evening"),
])
def test_part_of_day_alone(text: str, part: str) -> None:
    [value] = extract("time", text, CTX)
    assert value.value is None and value.extra["part_of_day"] == part
    assert (value.extra["from"], value.extra["to"]) == {
        "morning": ("08:00", "12:00"), "afternoon": ("12:00", "17:00"), "evening": ("17:00", "21:00"),
    }[part]


def test_several_times() -> None:
    assert times("between two and four") == ["14:00", "16:00"]
    assert times("three or four") == ["15:00", "16:00"]


@pytest.mark.parametrize("text", [
    "the fifth",
    "march 5",
    "march fifth",
    "in two weeks",
    "five five five one two three four",
    "555-123-4567",
    "my number is 555 123 4567",
    "i have three kids",
    "party of two",
    "my pin is four five six seven",
    "tuesday",
    "25:00",
    "at 3:75",
    "",
])
def test_no_time(text: str) -> None:
    assert times(text) == []


def test_time_span_covers_markers() -> None:
    [value] = extract("time", "um at 3:30 p.m. please", CTX)
    assert value.text == "3:30 pm"


@pytest.mark.parametrize("text, expected", [
    # a part of the day right before the hour sets am/pm and makes the number a time
    ("could we do afternoon 4", "16:00"),
    ("Morning 9 suits me", "09:00"),
    ("evening 7:45 if possible", "19:45"),
    ("the evening six fifteen slot", "18:15"),
    ("tonight 8 works", "20:00"),
    ("in the afternoon, 2", "14:00"),
    ("friday morning 10 please", "10:00"),
    # o'clock typed with a double quote or spaced out
    ('put me down for 2 o"clock', "14:00"),
    ("seven o clock in the evening", "19:00"),
    ('9 o"clock in the morning would be ideal', "09:00"),
    # forms around the hour
    ("a quarter past 11 in the morning", "11:15"),
    ("quarter to 2 in the afternoon", "13:45"),
    ("half past 4", "16:30"),
    ("can it be 6:45 pm", "18:45"),
    ("2 in the afternoon", "14:00"),
])
def test_times_with_part_of_day_and_oclock(text: str, expected: str) -> None:
    assert times(text) == [expected]


def test_part_of_day_before_a_time_joins_its_span() -> None:
    [value] = extract("time", "Afternoon 3 is best", CTX)
    assert (value.value, value.text, value.extra["ampm"]) == ("15:00", "afternoon 3", "part_of_day")


@pytest.mark.parametrize("text", ["this evening 2 guests", "tomorrow morning 3 of us"])
def test_part_of_day_before_a_count_is_not_a_time(text: str) -> None:
    assert times(text) == [None]


def test_each_time_takes_the_part_of_day_before_it() -> None:
    assert times("morning 9 or evening 6") == ["09:00", "18:00"]


def test_bare_number_is_not_a_time_when_another_number_is() -> None:
    # "one" here is a pronoun; the whole-utterance rule only applies when nothing else is a time
    assert times("yes i'd like one for friday at 4 pm") == ["16:00"]
    assert times("i'd like one tomorrow at 10 am") == ["10:00"]
    assert times("one please") == ["13:00"]


@pytest.mark.parametrize("text, expected", [
    ("One VM.", "13:00"), ("two, vm", "14:00"), ("three b m", "15:00"), ("eleven d m", "23:00"),
    ("one vm on friday", "13:00"),
])
def test_pm_as_a_phone_line_delivers_it(text: str, expected: str) -> None:
    assert times(text)[:1] == [expected]


@pytest.mark.parametrize("text", ["i have a vm at home", "my bm", "dm me"])
def test_those_letters_without_an_hour_are_no_time(text: str) -> None:
    assert [t for t in times(text) if t] == []


@pytest.mark.parametrize("text, expected", [
    ("Read in the afternoon.", "15:00"), ("tree in the afternoon", "15:00"), ("won p m", "13:00"),
    ("for o'clock", "16:00"), ("to pm", "14:00"), ("heaven in the morning", "07:00"),
])
def test_an_hour_the_line_turned_into_another_word(text: str, expected: str) -> None:
    """A caller's "three in the afternoon" came out "Read in the afternoon." at every try, and the
    booking went round its summary until the call was put through."""
    assert times(text)[:1] == [expected]


@pytest.mark.parametrize("text", ["is there anything free in the afternoon", "an appointment for in the afternoon",
                                  "i read the paper", "then in the morning", "i'd like to in the evening"])
def test_those_words_elsewhere_are_no_hour(text: str) -> None:
    assert [t for t in times(text) if t] == []


@pytest.mark.parametrize("text", ["And thirteen in the morning.", "fifteen in the morning", "13 am"])
def test_an_afternoon_hour_in_the_morning_is_no_time(text: str) -> None:
    """"Three in the afternoon" was heard "And thirteen in the morning." and booked at 1 PM."""
    assert [t for t in times(text) if t] == []
