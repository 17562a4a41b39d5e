"""Text normalisation for the bot's voice."""

from __future__ import annotations

from datetime import date

import pytest

from callflows.speech.tts import normalize_for_speech, split_sentences

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("2026-12-01", "Tuesday, December first"),
        ("1985-03-05", "March fifth, nineteen eighty five"),
        ("15:30", "three thirty p m"),
        ("15:00", "three p m"),
        ("9:05", "nine oh five a m"),
        ("00:15", "twelve fifteen a m"),
        ("3pm", "three p m"),
        ("10:30 a.m.", "ten thirty a m"),
        ("$325.50", "three hundred twenty five dollars and fifty cents"),
        ("$1", "one dollar"),
        ("$0.05", "five cents"),
        ("$1,200", "one thousand two hundred dollars"),
        ("555-123-4567", "five five five, one two three, four five six seven"),
        ("(555) 123-4567", "five five five, one two three, four five six seven"),
        ("+1 555 123 4567", "five five five, one two three, four five six seven"),
        ("Wednesday, January 13 at 1 PM", "Wednesday, January thirteenth at one p m"),  # not "thirteen" (heard 30)
        ("from January 3 to January 7", "from January third to January seventh"),
        ("January 13th", "January 13th"),  # already an ordinal
        ("May 0", "May 0"),
        ("Dr. Smith", "Doctor Smith"),
        ("12 Main St.", "12 Main Street"),
        ("St. Mary's Hospital", "Saint Mary's Hospital"),
        ("Smith & Sons", "Smith and Sons"),
    ],
)
def test_normalize_for_speech(text: str, spoken: str) -> None:
    assert normalize_for_speech(text, today=TODAY) == spoken


def test_normalize_sentence() -> None:
    text = "Dr. Lee can see you on 2026-12-01 at 15:30. The fee is $325.50; call 555-123-4567."
    assert normalize_for_speech(text, today=TODAY) == (
        "Doctor Lee can see you on Tuesday, December first at three thirty p m. The fee is three "
        "hundred twenty five dollars and fifty cents; call five five five, one two three, four five six seven."
    )


def test_invalid_date_left_alone() -> None:
    assert normalize_for_speech("2026-13-45", today=TODAY) == "2026-13-45"


def test_split_sentences() -> None:
    assert split_sentences("Hello. How can I help? Great!") == ["Hello.", "How can I help?", "Great!"]
    long = ", ".join(["word " * 10] * 6)
    pieces = split_sentences(long, max_chars=120)
    assert len(pieces) > 1 and all(len(p) <= 120 for p in pieces)


def test_a_title_before_a_name_does_not_end_a_sentence() -> None:
    """Split at "Dr.", a phone call paused between "with Dr." and "Garcia" in the middle of
    the booking summary, and callers answered into the pause."""
    summary = "So that's a cleaning with Dr. Garcia at 3pm for Mrs. Lee Wong. Shall I book it?"
    assert split_sentences(summary) == ["So that's a cleaning with Dr. Garcia at 3pm for Mrs. Lee Wong.",
                                        "Shall I book it?"]
    assert split_sentences("Ask for Dr.  Patel. Or Mr. Smith!") == ["Ask for Dr. Patel.", "Or Mr. Smith!"]
