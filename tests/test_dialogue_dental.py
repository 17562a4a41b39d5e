"""Scripted conversations with the dental clinic, asserting what ends up in the database.

The call's clock is fixed: Sunday 22 November 2026, 10:00 in New York, so "tuesday" is
the 24th. Runs on SQLite and PostgreSQL (the `store` fixture).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callflows import scheduling
from callflows.dialogue import DialogueSession
from callflows.store import repo
from callflows.store.models import Appointment, Call, SlotValue, Turn
from callflows.verticals import load_vertical

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def dental():
    return load_vertical("dental_clinic")


def talk(session: DialogueSession, *lines: str) -> list[str]:
    """Play caller lines; returns the bot's replies (the greeting first)."""
    replies = [session.start().text] if session.recorder.seq == 0 else []
    for line in lines:
        if line.startswith("#dtmf "):
            replies.append(session.handle_text(line[6:], source="dtmf").text)
        else:
            replies.append(session.handle_text(line).text)
    return replies


def appointments(store) -> list[Appointment]:
    with store.session() as s:
        rows = repo.list_appointments(s, vertical="dental_clinic", include_cancelled=True)
        for a in rows:  # load what the tests read before the session closes
            _ = (a.provider.key, a.customer.full_name)
        return rows


def local(appt: Appointment) -> str:
    return appt.starts_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def seed_appointment(store, dental, *, name="Maria Lopez", dob="1985-03-05", phone="+15559876543",
                     start=datetime(2026, 11, 25, 10, 0, tzinfo=TZ), provider="nguyen", kind="cleaning"):
    module = __import__("callflows_vertical_dental_clinic_actions")  # loaded with the vertical
    with store.session() as s:
        providers = module.ensure_providers(s)
        customer = repo.add_customer(s, "dental_clinic", name, date_of_birth=dob, phone=phone)
        cid, pid = customer.id, providers[provider].id
    return scheduling.book(store, "dental_clinic", cid, pid, kind, start, 30)


def test_book_an_appointment_step_by_step(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(
        session,
        "hi um i'd like to book an appointment",
        "a cleaning please",
        "doctor patel",
        "next tuesday",
        "three thirty",
        "my name is jane smith",
        "five five five one two three four five six seven",
        "yes that's right",
        "no that's all thanks",
    )
    assert "kind of visit" in replies[1]
    assert "Tuesday, November 24" in replies[7] and "3:30 PM" in replies[7]
    assert "booked" in replies[8]
    [appt] = appointments(store)
    assert (appt.status, appt.provider.key, appt.appointment_type) == ("booked", "patel", "cleaning")
    assert local(appt) == "2026-11-24 15:30"
    assert appt.customer.full_name == "Jane Smith"
    with store.session() as s:
        call = s.get(Call, session.call_id)
        assert call.outcome == "appointment_booked"
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == session.call_id))]
        stored_slots = {v.name: v.value_masked for v in s.scalars(select(SlotValue).where(SlotValue.call_id == session.call_id))}
    assert len(texts) == 2 * 9 + 1
    assert not any("1234567" in t or "one two three four five six seven" in t for t in texts)
    assert "1234567" not in stored_slots["phone"]
    assert stored_slots["date"] == "2026-11-24"


def test_over_informative_answer_fills_several_slots(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "i want to book a cleaning with doctor patel on tuesday at three")
    assert session.state.slots["appointment_type"] == "cleaning"
    assert session.state.slots["provider"] == "patel"
    assert session.state.slots["date"] == "2026-11-24"
    assert session.state.slots["time"] == "15:00"
    assert "name" in replies[-1]


def test_correction_mid_form_and_at_confirmation(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "book a filling with doctor garcia", "tuesday")
    assert session.state.slots["date"] == "2026-11-24"
    talk(session, "actually make it wednesday at ten")
    assert session.state.slots["date"] == "2026-11-25"
    assert session.state.slots["time"] == "10:00"
    replies = talk(session, "my name is tom baker", "555 222 3333")
    assert "Wednesday, November 25" in replies[-1]
    replies = talk(session, "no thursday")
    assert session.state.slots["date"] == "2026-11-26"
    assert "Thursday, November 26" in replies[-1]
    talk(session, "yes")
    [appt] = appointments(store)
    assert local(appt) == "2026-11-26 10:00" and appt.provider.key == "garcia"


def test_confirmation_answered_no_then_change_the_time(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "i need a checkup with anyone on friday at nine", "i'm ann lee", "five five five four four four one two one two")
    assert session.state.pending == "confirm"
    replies = talk(session, "no")
    assert "change" in replies[-1]
    replies = talk(session, "the time")
    assert session.state.slots["time"] is None and "what time" in replies[-1].lower()
    talk(session, "eleven in the morning", "yes")
    [appt] = appointments(store)
    assert local(appt) == "2026-11-27 11:00"


def test_taken_slot_offers_nearest_free_times(store, dental):
    seed_appointment(store, dental, start=datetime(2026, 11, 24, 15, 0, tzinfo=TZ), provider="patel")
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "book a cleaning with doctor patel on tuesday at three", "my name is jane smith",
                   "five five five one two three four five six seven", "yes")
    assert "isn't available" in replies[-1] and "nearest free times" in replies[-1]
    offered = session.state.slots["offered_times"]
    assert offered and len(offered) >= 2
    replies = talk(session, "the first one")
    assert session.state.pending == "confirm", replies
    talk(session, "yes")
    rows = [a for a in appointments(store) if a.customer.full_name == "Jane Smith"]
    assert len(rows) == 1
    first = datetime.fromisoformat(offered[0]["start"]).astimezone(TZ)
    assert rows[0].starts_at.astimezone(TZ) == first
    assert local(rows[0]) != "2026-11-24 15:00"


def test_reschedule_by_name_and_date_of_birth(store, dental):
    seed_appointment(store, dental)
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "i need to move my appointment", "maria lopez",
                   "march fifth nineteen eighty five")
    assert "cleaning on Wednesday, November 25" in replies[-1]
    talk(session, "thursday", "two pm")
    replies = talk(session, "yes")
    assert "Thursday, November 26" in replies[-1]
    [appt] = appointments(store)
    assert local(appt) == "2026-11-26 14:00" and appt.status == "booked"
    with store.session() as s:
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == session.call_id))]
    assert not any("nineteen eighty five" in t for t in texts)


def test_cancel_by_name_and_phone_on_the_keypad(store, dental):
    seed_appointment(store, dental)
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "i have to cancel my appointment", "it's maria lopez")
    replies = talk(session, "#dtmf 5559876543#")
    assert "cancel it" in replies[-1], replies
    talk(session, "yes please")
    session.end()  # the caller hangs up
    [appt] = appointments(store)
    assert appt.status == "cancelled"
    with store.session() as s:
        assert s.get(Call, session.call_id).outcome == "appointment_cancelled"


def test_unknown_caller_is_not_found_and_asked_again(store, dental):
    seed_appointment(store, dental)
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "cancel my appointment", "john nobody", "january first nineteen ninety")
    assert "couldn't find" in replies[-1]
    assert session.state.slots["full_name"] is None


def test_faq_in_the_middle_of_a_form_then_back(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "i'd like to book a cleaning", "anyone", "where can i park")
    assert "parking" in replies[-1].lower() and "what day" in replies[-1].lower()
    assert session.state.active_form == "book_appointment" and session.state.requested == "date"
    talk(session, "monday", "ten thirty", "my name is lee wong", "five five five three three three four four four four", "yes")
    [appt] = appointments(store)
    assert local(appt) == "2026-11-23 10:30"


def test_faq_outside_a_form_and_goodbye(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "what are your opening hours")
    assert "Monday to Friday" in replies[-1] and "anything else" in replies[-1]
    reply = session.handle_text("no thanks")
    assert reply.end_call
    with store.session() as s:
        assert s.get(Call, session.call_id).ended_at is not None


def test_a_yes_to_anything_else_that_carries_a_question_gets_its_answer(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "what are your opening hours", "yes and what about parking")
    assert "parking" in replies[-1].lower() and "anything else" in replies[-1], replies
    replies = talk(session, "yes")  # a plain yes still asks what the caller needs
    assert "anything else" not in replies[-1] and "parking" not in replies[-1].lower(), replies
    assert not session.state.ended


def test_emergency_goes_to_a_person(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    session.start()
    reply = session.handle_text("i have severe pain and my jaw is swelling")
    assert reply.transfer_to == "+15550100199"
    with store.session() as s:
        call = s.get(Call, session.call_id)
        assert call.transferred and call.outcome == "emergency_transferred"


def test_talk_to_a_person(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    session.start()
    reply = session.handle_text("can i talk to a real person")
    assert reply.transfer_to


def test_bounded_reprompts_then_offer_a_person(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "book an appointment")
    replies = talk(session, "purple", "banana", "elephant")
    assert "connect you with a person" in replies[-1]
    reply = session.handle_text("yes")
    assert reply.transfer_to


def test_help_and_repeat_keep_the_question(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "i need to book a filling", "help")
    assert "talk to a person" in replies[-1] and "dentist" in replies[-1]
    again = talk(session, "can you repeat that")
    assert again[-1] == replies[-1]
    replies = talk(session, "start over")
    assert session.state.active_form is None


def test_silence_reprompts_then_hangs_up(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "book a cleaning")
    assert "Are you still there" in session.handle_silence().text
    session.handle_silence()
    reply = session.handle_silence()
    assert reply.end_call
    with store.session() as s:
        assert s.get(Call, session.call_id).outcome == "no_input"


@pytest.mark.parametrize("line,intent", [
    ("uh i wanna book a a cleaning um", "book_appointment"),
    ("i need to cancel my appointment on friday", "cancel_appointment"),
    ("can we move my visit to another day", "reschedule_appointment"),
    ("do you take delta dental", "faq"),
    ("my gum is bleeding a lot", "emergency"),
    ("let me speak to a human", "human"),
])
def test_intents_on_asr_style_text(dental, line, intent):
    from callflows.nlu.values import ParseContext

    assert dental.nlu.parse(line, ParseContext(now=NOW)).intent == intent


def test_self_correction_in_one_utterance_takes_the_last_value(dental):
    session = DialogueSession(dental, None, now=NOW)
    session.start()
    session.handle_text("book a cleaning with anyone on tuesday no wednesday at ten")
    assert session.state.slots["date"] == "2026-11-25" and session.state.slots["time"] == "10:00"
