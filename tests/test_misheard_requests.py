"""Requests heard badly over the phone still go somewhere sensible: intent hints place an
utterance the classifier could not, "let's keep going" never starts the call over, and a caller
who declines a person at the top hears what the agent can do (real students, real store)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.dialogue import DialogueSession
from callflows.verticals import load_vertical

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(scope="module")
def verticals():
    return {name: load_vertical(name) for name in ("dental_clinic", "hotel", "retail_bank")}


@pytest.mark.parametrize(("vertical", "heard", "intent"), [
    # each out of scope for the classifier alone: the hint places it
    ("dental_clinic", "hi i'd like to book a writer in windok or drc on june may december", "book_appointment"),
    ("dental_clinic", "yeah to cancel the wobbly zorp in windok on the drc", "cancel_appointment"),
    ("dental_clinic", "i want to move my the glim in windok drc june", "reschedule_appointment"),
    ("hotel", "cancel the wobbly zorp windok drc", "cancel_reservation"),
])
def test_a_hint_places_a_request_whose_other_words_were_misheard(store, verticals, vertical, heard, intent):
    nlu = verticals[vertical].nlu
    from callflows.nlu.values import ParseContext

    hints, nlu._hints = nlu._hints, []
    try:
        assert nlu.parse(heard, ParseContext(now=NOW), slots=[]).intent != intent  # the classifier alone
    finally:
        nlu._hints = hints
    session = DialogueSession(verticals[vertical], store, now=NOW)
    session.start()
    session.handle_text(heard)
    form = verticals[vertical].flow.form_for_intent(intent)
    assert session.state.active_form in (form.name, form.requires), session.state.active_form


def test_hints_of_two_tasks_place_nothing_and_confident_classifications_stand(verticals):
    nlu = verticals["dental_clinic"].nlu
    from callflows.nlu.values import ParseContext

    ctx = ParseContext(now=NOW)
    both = nlu.parse("to book or cancel the blorp", ctx, slots=[])
    assert both.intent not in ("book_appointment", "cancel_appointment") or both.confidence >= 0.45
    plain = nlu.parse("i need to reschedule my appointment", ctx, slots=[])
    assert plain.intent == "reschedule_appointment"


def test_lets_keep_going_never_starts_over(store, verticals):
    session = DialogueSession(verticals["dental_clinic"], store, now=NOW)
    session.start()
    for line in ("i'd like to book a filling", "anyone", "next wednesday"):
        session.handle_text(line)
    reply = session.handle_text("let's keep going").text
    assert "start over" not in reply.lower()
    assert session.state.slots["appointment_type"] == "filling" and session.state.slots["date"]
    reply = session.handle_text("let's start over").text
    assert "start over" in reply.lower() and session.state.slots.get("appointment_type") is None


def test_declining_a_person_at_the_top_offers_the_menu(store, verticals):
    session = DialogueSession(verticals["dental_clinic"], store, now=NOW)
    session.start()
    assert "connect you" in session.handle_text("what's the weather like on mars").text
    reply = session.handle_text("no thanks let's keep going").text
    assert "book" in reply.lower() and "what else" not in reply.lower()
    session.handle_text("i'd like to book a cleaning")
    assert session.state.active_form == "book_appointment"


def test_a_name_corrected_again_and_again_at_the_summary_does_not_go_round(store, verticals):
    """Once a name is kept for the team to check, a new version is taken without another
    read-back, and a summary disputed over and over brings the offer of a person (once per
    three more summaries) instead of the same question for ever."""
    session = DialogueSession(verticals["dental_clinic"], store, now=NOW)
    session.start()
    for line in ("i'd like to book a cleaning", "anyone", "next tuesday", "ten am"):
        session.handle_text(line)
    session.handle_text("5551234567", source="dtmf")
    replies = [session.handle_text(f"no my name is {name}").text for name in
               ("tari capita", "tari capita pools", "tariq pappetapulos", "tori papa")]
    assert session.state.slots["name_unverified"] and replies[-1].startswith("Thank you. I'll note it")
    replies = [session.handle_text(f"no my name is {name}").text for name in ("terry pappas", "tariq papi", "toro pop")]
    assert all("Is that right?" not in r for r in replies)  # no read-back of a name already kept
    assert "connect you" in replies[-1] and "Shall I book" in replies[0]
    assert session.state.slots["full_name"] == "Toro Pop"
    again = session.handle_text("no thanks let's keep going").text
    assert "Shall I book" in again  # declined: the summary once more, not the offer again
    assert "is booked for" in session.handle_text("yes please").text
