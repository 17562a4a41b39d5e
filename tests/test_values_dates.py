"""Date parsing: relative, weekday, month/day, numeric, years, impossible dates."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.nlu.values import ParseContext, extract, normalize_asr

NY = ZoneInfo("America/New_York")
SUNDAY = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=NY))  # Sunday
WEDNESDAY = ParseContext(now=datetime(2027, 3, 10, 16, 30, tzinfo=ZoneInfo("America/Chicago")))  # Wednesday
DOB = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=NY), prefer="past")


def dates(text: str, ctx: ParseContext = SUNDAY) -> list[str]:
    return [v.value for v in extract("date", text, ctx)]


@pytest.mark.parametrize("text, expected", [
    ("today", "2026-11-22"),
    ("tomorrow", "2026-11-23"),
    ("Tomorrow.", "2026-11-23"),
    ("the day after tomorrow", "2026-11-24"),
    ("day after tomorrow please", "2026-11-24"),
    ("monday", "2026-11-23"),
    ("tuesday", "2026-11-24"),
    ("this friday", "2026-11-27"),
    ("next tuesday", "2026-11-24"),
    ("this coming thursday", "2026-11-26"),
    ("sunday", "2026-11-29"),
    ("uh tuesday um at like three", "2026-11-24"),
    ("on tuesday the first", "2026-12-01"),
    ("the fifth", "2026-12-05"),
    ("the 12th", "2026-12-12"),
    ("on the twenty second", "2026-11-22"),
    ("the twenty first", "2026-12-21"),
    ("march fifth", "2027-03-05"),
    ("March 5th", "2027-03-05"),
    ("5th of march", "2027-03-05"),
    ("on march the fifth", "2027-03-05"),
    ("the fifth of march", "2027-03-05"),
    ("the 12th on january", "2027-01-12"),  # the line's "on" for "of"
    ("the 3rd in march", "2027-03-03"),
    ("december twenty fifth", "2026-12-25"),
    ("12/3", "2026-12-03"),
    ("11/22", "2026-11-22"),
    ("3/5/1985", "1985-03-05"),
    ("2026-12-01", "2026-12-01"),
    ("march fifth nineteen eighty five", "1985-03-05"),
    ("march 5 1985", "1985-03-05"),
    ("march fifth two thousand five", "2005-03-05"),
    ("march fifth twenty oh five", "2005-03-05"),
    ("january tenth twenty twenty seven", "2027-01-10"),
    ("in two weeks", "2026-12-06"),
    ("in 3 days", "2026-11-25"),
    ("in a couple of days", "2026-11-24"),
    ("a week from today", "2026-11-29"),
    ("two weeks from tuesday", "2026-12-08"),
    ("in a month", "2026-12-22"),
    ("next week", "2026-11-23"),
    ("the week after next", "2026-11-30"),
    ("friday next week", "2026-11-27"),
    ("next week on wednesday", "2026-11-25"),
    ("next month", "2026-12-01"),
    ("end of the month", "2026-11-30"),
    ("Tuesday at 3pm", "2026-11-24"),
    ("can i come in tomorrow morning", "2026-11-23"),
])
def test_dates_from_sunday(text: str, expected: str) -> None:
    assert dates(text) == [expected]


@pytest.mark.parametrize("text, expected", [
    ("tuesday", "2027-03-16"),
    ("wednesday", "2027-03-17"),
    ("next wednesday", "2027-03-17"),
    ("this friday", "2027-03-12"),
    ("friday next week", "2027-03-19"),
    ("next week", "2027-03-15"),
    ("the fifth", "2027-04-05"),
    ("the tenth", "2027-03-10"),
    ("march ninth", "2028-03-09"),
    ("february twenty ninth", "2028-02-29"),
    ("tomorrow", "2027-03-11"),
    ("the thirty first", "2027-03-31"),
    ("end of the month", "2027-03-31"),
])
def test_dates_from_wednesday(text: str, expected: str) -> None:
    assert dates(text, WEDNESDAY) == [expected]


@pytest.mark.parametrize("text, expected", [
    ("march fifth nineteen eighty five", "1985-03-05"),
    ("five march eighty five", "1985-03-05"),
    ("3/5/85", "1985-03-05"),
    ("3/5/05", "2005-03-05"),
    ("july fourth oh five", "2005-07-04"),
    ("the fourth of july nineteen ninety", "1990-07-04"),
    ("december 1st 2030", "2030-12-01"),
    ("the fifth", "2026-11-05"),
    ("monday", "2026-11-16"),
    ("last friday", "2026-11-20"),
])
def test_dates_of_birth(text: str, expected: str) -> None:
    assert dates(text, DOB) == [expected]


@pytest.mark.parametrize("text", ["march fifth", "12/3", "the 5th of march"])
def test_date_of_birth_needs_a_year(text: str) -> None:
    assert dates(text, DOB) == []


@pytest.mark.parametrize("text", [
    "february thirtieth",
    "february thirtieth at three",
    "april 31st",
    "13/45",
    "2/30/1990",
    "the first available",
    "my third visit",
    "just a second",
    "i have three kids",
    "may i book something",
    "555-123-4567",
    "",
    "hello",
])
def test_no_date(text: str) -> None:
    assert dates(text) == []


def test_span_and_text_index_the_normalised_text() -> None:
    text = "Uh, next Tuesday at three"
    norm = normalize_asr(text)
    [value] = extract("date", text, SUNDAY)
    assert value.text == "next tuesday" == norm[value.start:value.end]


def test_part_of_day_is_kept_as_extra() -> None:
    [value] = extract("date", "tomorrow morning", SUNDAY)
    assert value.extra["part_of_day"] == "morning"
    [value] = extract("date", "tonight", SUNDAY)
    assert (value.value, value.extra["part_of_day"]) == ("2026-11-22", "evening")


def test_weekday_mismatch_is_flagged_and_explicit_date_wins() -> None:
    [value] = extract("date", "monday the first", SUNDAY)
    assert value.value == "2026-12-01" and value.extra.get("weekday_mismatch") is True


def test_a_weekday_with_a_day_heard_without_its_teen_takes_the_day_that_fits() -> None:
    """"Friday, December 18th" came back "Friday, December 8th" (a Tuesday): the day with its
    "-teen" is the Friday; a day with no such fit keeps the date heard ("monday the first")."""
    [value] = extract("date", "friday december 8th", SUNDAY)
    assert value.value == "2026-12-18" and value.extra.get("day_from_weekday") is True
    [value] = extract("date", "tuesday december eighteenth", SUNDAY)
    assert value.value == "2026-12-08"
    [value] = extract("date", "monday december 8th", SUNDAY)  # the 18th is a Friday: no fit
    assert value.value == "2026-12-08" and value.extra.get("weekday_mismatch") is True


def test_several_dates_in_text_order() -> None:
    assert dates("tuesday or maybe wednesday") == ["2026-11-24", "2026-11-25"]


def test_next_week_has_week_granularity() -> None:
    [value] = extract("date", "sometime next week", SUNDAY)
    assert value.extra == {"granularity": "week"}


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        ParseContext(now=datetime(2026, 11, 22, 10, 0))


@pytest.mark.parametrize("text, expected", [
    # day of this or next month (today is Sunday 2026-11-22)
    ("the second of this month", "2026-11-02"),
    ("first of this month", "2026-11-01"),
    ("the 28th of this month", "2026-11-28"),
    ("could you do the 3rd of next month", "2026-12-03"),
    ("1st of next month please", "2026-12-01"),
    ("the second of next month", "2026-12-02"),
    ("the fifteenth of the following month", "2026-12-15"),
    ("the 4th of the month", "2026-11-04"),
    # an ordinal followed by a determiner, pronoun or "with" ends a date
    ("on the 9th with the hygienist", "2026-12-09"),
    ("move it to the 30th the other day is no good", "2026-11-30"),
    ("on the 25th it's my day off", "2026-11-25"),
    ("the 24th i'd prefer", "2026-11-24"),
    ("on the 27th anything after lunch", "2026-11-27"),
])
def test_day_of_this_or_next_month(text: str, expected: str) -> None:
    assert dates(text) == [expected]


def test_day_of_month_span_covers_the_month_words() -> None:
    [value] = extract("date", "the 3rd of next month at noon", SUNDAY)
    assert value.text == "the 3rd of next month"


def test_day_of_month_must_exist_in_that_month() -> None:
    assert dates("the 31st of next month") == ["2026-12-31"]
    assert dates("the 31st of this month") == []  # November has 30 days


@pytest.mark.parametrize("text", [
    "the second one",
    "the first you have",
    "my second visit this month",
    "the first of them",
])
def test_ordinals_that_are_not_dates(text: str) -> None:
    assert dates(text) == []


@pytest.mark.parametrize("text, expected", [
    ("no, nineteen eighty five", "1985-03-05"),
    ("no 1985", "1985-03-05"),
    ("no, nineteen oh five", "1905-03-05"),
    ("it's two thousand and three", "2003-03-05"),
    ("no, march the sixth", "1984-03-06"),
    ("no, the sixth of april", "1984-04-06"),
    ("no it's may 5th", "1984-05-05"),
    ("the 3rd", "1984-03-03"),
    ("no, june fourth nineteen eighty six", "1986-06-04"),
])
def test_a_correction_replaces_the_parts_of_the_date_it_says(text: str, expected: str) -> None:
    """A read-back "March 5, 1984" corrected by the part that was wrong keeps the others."""
    from datetime import date

    from callflows.nlu.values.date_parts import date_correction

    assert date_correction(date(1984, 3, 5), text) == date.fromisoformat(expected)


@pytest.mark.parametrize("text", ["yes that's right", "no", "no may i ask something", "no, twenty", "march fifth"])
def test_no_date_correction_without_a_new_part(text: str) -> None:
    from datetime import date

    from callflows.nlu.values.date_parts import date_correction

    assert date_correction(date(1984, 3, 5), text) is None



def test_the_weekday_names_a_misheard_month() -> None:
    """"friday december eleventh" came over the line as "Friday, November 11th": November 11th is
    a Thursday eleven months away, and the weekday with the day of month names December."""
    thursday = ParseContext(now=datetime(2026, 12, 3, 9, 0, tzinfo=NY))
    [value] = extract("date", "Friday, November 11th", thursday)
    assert value.value == "2026-12-11" and value.extra.get("month_from_weekday") is True
    [value] = extract("date", "friday november 11th 2027", thursday)  # a year said: as said
    assert value.value == "2027-11-11" and "month_from_weekday" not in value.extra
    [value] = extract("date", "tuesday march 3rd", thursday)  # no 3rd is a Tuesday soon: as heard
    assert value.value == "2027-03-03" and value.extra.get("weekday_mismatch") is True
    [value] = extract("date", "monday the first", SUNDAY)  # the matching month is later: as heard
    assert value.value == "2026-12-01"
