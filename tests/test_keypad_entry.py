"""Keypad entries end at the right number of keys: the phone layer cuts a keypad entry once it
has `Expectation.digits_length` keys, so a step that takes one of several slots must expect
the longest of them ("your reservation number, or the phone number on it": ten keys, not six)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from callflows.dialogue import DialogueSession
from callflows.verticals import load_vertical

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=ZoneInfo("America/New_York"))


def test_a_step_of_several_slots_expects_the_longest_keypad_entry(store):
    hotel = load_vertical("hotel")
    session = DialogueSession(hotel, store, now=NOW)
    session.start()
    session.handle_text("hello i need to change the dates of my reservation")
    asked = session.expectation
    assert asked.slot == "booking_ref" and asked.digits_length == 10  # not the reference's 6


def test_a_single_slot_step_expects_its_own_length(store):
    dental = load_vertical("dental_clinic")
    session = DialogueSession(dental, store, now=NOW)
    session.start()
    for line in ("i'd like to book a cleaning", "anyone", "next tuesday", "ten in the morning"):
        session.handle_text(line)
    assert session.expectation.slot == "phone" and session.expectation.digits_length == 10
    assert date.fromisoformat(session.state.slots["date"]).weekday() == 1
