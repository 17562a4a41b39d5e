"""Thinking time: hold requests (callflows.nlu.hold) and the dialogue's hold policy
(callflows.dialogue.hold) on the text channel; the phone side is in test_phone_turn_taking.py."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.dialogue import DialogueSession
from callflows.dialogue.hold import HOLD_CHECK_IN_S, HOLD_MAX_S
from callflows.nlu.hold import hold_request
from tests.test_dialogue_bank import bank  # noqa: F401 - a fixture
from tests.test_dialogue_dental import dental, talk  # noqa: F401 - dental is a fixture

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("America/New_York"))
TO_PHONE = ("i would like to book a cleaning", "doctor patel please", "next tuesday", "at ten thirty in the morning")


@pytest.mark.parametrize("said", [
    "hold on", "hold on let me find my card", "give me a second", "one moment", "one moment please",
    "let me find my card", "let me check", "wait a sec", "hang on a minute", "just a sec", "bear with me",
    "uh hold on", "okay hold on a second", "sorry one second let me grab a pen", "let me look it up",
    "i need to find my card", "hang on let me get my wallet", "can you hold on a moment", "i'm looking for it",
    "let me check my calendar", "um let me just grab my card", "give me a couple of minutes",
    "let me go get my insurance card", "Hold on. Let me find my card.", "hold on there to meet my card",
    "one minute i'm looking for my wallet", "just a moment", "wait", "hold on let me see",
])
def test_hold_requests(said):
    assert hold_request(said) is not None


@pytest.mark.parametrize("said", [
    "no wait", "stop", "no no", "that's wrong", "wait that's wrong", "let me get an appointment",
    "hold on what are your opening hours", "hold on i want to cancel my appointment", "hold on my card was stolen",
    "i'd like to book a cleaning", "second opinion", "the second", "next tuesday", "give me an appointment", "one",
    "a moment ago i called", "let me speak to a person", "let me book a cleaning", "i need to cancel",
    "five five five one two three four", "okay", "uh-huh", "", "let me think", "let me see",
])
def test_not_hold_requests(said):
    assert hold_request(said) is None


def test_a_bare_errand_is_marked_as_such():
    assert hold_request("let me check my balance") == "errand"
    assert hold_request("hold on let me check") == "wait"


def test_hold_keeps_the_question_pending_and_checks_in_once(store, dental):  # noqa: F811
    session = DialogueSession(dental, store, now=NOW, escalation=None)
    replies = talk(session, *TO_PHONE)
    asked = session.expectation
    assert asked.slot_type == "phone_number"
    assert talk(session, "hold on let me find my card") == ["Sure, take your time."]
    assert session.holding and session.expectation == asked
    assert session.hold_check(HOLD_CHECK_IN_S / 2) is None
    assert session.hold_check(HOLD_CHECK_IN_S + 1).text == "Take your time."
    assert session.hold_check(HOLD_CHECK_IN_S + 2) is None  # once
    again = session.hold_check(HOLD_MAX_S + 1)
    assert again.text.endswith(replies[-1]) and not session.holding  # the question, once
    assert session.hold_check(HOLD_MAX_S + 30) is None


def test_keypad_digits_while_holding_answer_the_question(store, dental):  # noqa: F811
    session = DialogueSession(dental, store, now=NOW, escalation=None)
    talk(session, *TO_PHONE, "one moment please")
    assert session.holding
    reply = talk(session, "#dtmf 5551234567")[0]
    assert not session.holding and session.state.slots["phone"] == "+15551234567", reply


def test_spoken_answer_after_a_hold_fills_the_slot(store, dental):  # noqa: F811
    session = DialogueSession(dental, store, now=NOW, escalation=None)
    talk(session, *TO_PHONE, "give me a second")
    talk(session, "okay it's five five five one two three four five six seven")
    assert session.state.slots["phone"] == "+15551234567" and not session.holding


def test_hold_before_any_question_and_a_request_after(store, dental):  # noqa: F811
    session = DialogueSession(dental, store, now=NOW, escalation=None)
    assert talk(session, "one moment")[1] == "Sure, take your time."
    assert "Monday to Friday" in talk(session, "what are your opening hours")[0]


def test_a_bank_request_that_sounds_like_an_errand_is_a_request(bank):  # noqa: F811
    session = DialogueSession(bank, now=NOW, escalation=None)
    reply = talk(session, "let me check my balance")[1]
    assert "take your time" not in reply.lower() and not session.holding
