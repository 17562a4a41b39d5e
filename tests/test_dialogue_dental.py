"""Scripted conversations with the dental clinic, asserting what ends up in the database.

The call's clock is fixed: Sunday 22 November 2026, 10:00 in New York, so "tuesday" is
the 24th. Runs on SQLite and PostgreSQL (the `store` fixture).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callflows_verticals.dental_clinic import scheduling
from callflows.dialogue import DialogueSession
from callflows.store import repo
from callflows.store.models import Call, SlotValue, Turn
from callflows_verticals.dental_clinic.models import Appointment
from callflows.verticals import load_vertical
from callflows_verticals.dental_clinic import repo as clinic_repo
from tests.dialogue_helpers import correct_at_summary

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
        rows = clinic_repo.list_appointments(s, vertical="dental_clinic", include_cancelled=True)
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
        "five five five one two three four five six seven",
        "my name is jane smith",
        "yes",
        "yes that's right",
        "no that's all thanks",
    )
    assert "kind of visit" in replies[1]
    assert "phone number" in replies[5] and "name" in replies[6]
    assert "Jane Smith" in replies[7] and "right" in replies[7]  # the name read back on its own
    assert "Tuesday, November 24" in replies[8] and "3:30 PM" in replies[8]
    assert "5 5 5, 1 2 3, 4 5 6 7" in replies[8]  # the phone number read back in the summary
    assert "booked" in replies[9]
    [appt] = appointments(store)
    assert (appt.status, appt.provider.key, appt.appointment_type) == ("booked", "patel", "cleaning")
    assert local(appt) == "2026-11-24 15:30"
    assert appt.customer.full_name == "Jane Smith"
    with store.session() as s:
        call = s.get(Call, session.call_id)
        assert call.outcome == "appointment_booked"
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == session.call_id))]
        stored_slots = {v.name: v.value_masked for v in s.scalars(select(SlotValue).where(SlotValue.call_id == session.call_id))}
    assert len(texts) == 2 * 10 + 1
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
    assert "phone number" in replies[-1]


def test_correction_mid_form_and_at_confirmation(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "book a filling with doctor garcia", "tuesday")
    assert session.state.slots["date"] == "2026-11-24"
    talk(session, "actually make it wednesday at ten")
    assert session.state.slots["date"] == "2026-11-25"
    assert session.state.slots["time"] == "10:00"
    replies = talk(session, "555 222 3333", "my name is tom baker", "yes")
    assert "Wednesday, November 25" in replies[-1]
    replies = talk(session, "no thursday")
    assert session.state.slots["date"] == "2026-11-26"
    assert "Thursday, November 26" in replies[-1]
    talk(session, "yes")
    [appt] = appointments(store)
    assert local(appt) == "2026-11-26 10:00" and appt.provider.key == "garcia"


def test_confirmation_answered_no_then_change_the_time(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "i need a checkup with anyone on friday at nine", "five five five four four four one two one two",
         "i'm ann lee", "yes")
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
    replies = talk(session, "book a cleaning with doctor patel on tuesday at three",
                   "five five five one two three four five six seven", "my name is jane smith", "yes", "yes")
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


def test_reschedule_by_the_phone_number_on_file_then_the_name_on_it(store, dental):
    seed_appointment(store, dental)
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "i need to move my appointment")
    assert "phone number on your file" in replies[-1] and "keypad" in replies[-1]
    assert "birth" not in replies[-1]  # a booking holds no date of birth: never asked for
    replies = talk(session, "five five five nine eight seven six five four three")
    assert "for Maria, a cleaning on Wednesday, November 25" in replies[-1] and "Is that yours" in replies[-1]
    assert session.expectation.yes_no
    talk(session, "yes", "thursday", "two pm")
    replies = talk(session, "yes")
    assert "Thursday, November 26" in replies[-1]
    [appt] = appointments(store)
    assert local(appt) == "2026-11-26 14:00" and appt.status == "booked"
    with store.session() as s:
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == session.call_id))]
    assert not any("nine eight seven six" in t for t in texts)


def test_reschedule_by_the_booking_reference(store, dental):
    appt = seed_appointment(store, dental)
    spoken = " ".join(appt.reference.lower())
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "can i move my appointment", f"my reference is {spoken}")
    assert "for Maria" in replies[-1] and "Is that yours" in replies[-1]
    talk(session, "yes", "thursday at two pm", "yes")
    [row] = appointments(store)
    assert local(row) == "2026-11-26 14:00"


def test_cancel_by_the_phone_number_on_the_keypad(store, dental):
    seed_appointment(store, dental)
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "i have to cancel my appointment")
    replies = talk(session, "#dtmf 5559876543#")
    assert "Maria" in replies[-1] and "Is that yours" in replies[-1], replies
    replies = talk(session, "yes")
    assert "cancel your cleaning" in replies[-1]
    talk(session, "yes please")
    session.end()  # the caller hangs up
    [appt] = appointments(store)
    assert appt.status == "cancelled"
    with store.session() as s:
        assert s.get(Call, session.call_id).outcome == "appointment_cancelled"


def test_a_long_treatment_is_offered_a_move_in_the_confirmation_and_a_yes_cancels_without_the_llm(store, dental):
    """The clinic offers to move a costly or long visit before cancelling it: the offer is in the
    confirmation itself, so the caller's plain yes settles it (no LLM: NoLLM fails if reached)."""
    from tests.escalation_helpers import NoLLM

    seed_appointment(store, dental, kind="extraction")
    session = DialogueSession(dental, store, now=NOW, llm=NoLLM())
    talk(session, "hello, i need to cancel my appointment", "five five five nine eight seven six five four three")
    replies = talk(session, "yes, that's the one")
    assert "move it to another day instead" in replies[-1] and "cancel your extraction" in replies[-1]
    replies = talk(session, "yes please")
    assert "has been cancelled" in replies[-1]
    [appt] = appointments(store)
    assert appt.status == "cancelled"
    assert session.state.transferred_to is None


def test_a_short_visit_is_cancelled_without_the_offer_to_move_it(store, dental):
    seed_appointment(store, dental, kind="cleaning")
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "cancel my appointment", "five five five nine eight seven six five four three", "yes")
    assert "cancel your cleaning" in replies[-1] and "instead" not in replies[-1]


def test_asking_to_move_it_at_the_cancel_confirmation_moves_the_appointment_found(store, dental):
    """"No, i'd rather move it" to "shall I cancel it?" starts the reschedule with the booking
    already found: the phone number is not asked again."""
    seed_appointment(store, dental, kind="extraction")
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "i need to cancel my appointment", "five five five nine eight seven six five four three", "yes")
    replies = talk(session, "no, i'd rather move it to another day")
    assert session.state.active_form == "reschedule_appointment"
    assert "what day" in replies[-1].lower() and "phone" not in replies[-1].lower()
    talk(session, "thursday", "two pm")
    replies = talk(session, "yes")
    assert "Thursday, November 26" in replies[-1]
    [appt] = appointments(store)
    assert local(appt) == "2026-11-26 14:00" and appt.status == "booked"


def test_a_short_given_name_alone_gets_asked_for_the_last_name(store, dental):
    """"It's Jun": a given name that is also a month's short form is a name, kept for the last name."""
    session = DialogueSession(dental, store, now=NOW)
    _to_the_name(session)
    replies = talk(session, "it's jun")
    assert "last name" in replies[-1] and "Jun" in replies[-1]
    replies = talk(session, "it's kowalczyk")
    assert "Jun Kowalczyk" in replies[-1] and "right" in replies[-1]
    talk(session, "yes", "yes please")
    [appt] = appointments(store)
    assert appt.customer.full_name == "Jun Kowalczyk"


def test_unknown_number_is_not_found_then_keypad_or_person_is_offered(store, dental):
    seed_appointment(store, dental)
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "cancel my appointment", "five five five one one one two two two two")
    assert "couldn't find" in replies[-1] and "phone number on your file" in replies[-1]
    assert session.state.slots["phone"] is None
    replies = talk(session, "five five five one one one two two two three")
    # the same question is not asked a third time: the keypad and a person are offered
    assert "keypad" in replies[-1] and "connect you" in replies[-1] and "file?" not in replies[-1]
    replies = talk(session, "#dtmf 5559876543")  # typed during the offer: the lookup goes on
    assert "for Maria" in replies[-1], replies


def test_not_the_callers_appointment_is_asked_again_and_never_loops(store, dental):
    seed_appointment(store, dental)
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "i need to reschedule")
    replies = talk(session, "five five five nine eight seven six five four three", "no")
    assert "Let's try again" in replies[-1] and "phone number on your file" in replies[-1]
    assert session.state.slots["appointment_ref"] is None
    replies = talk(session, "five five five nine eight seven six five four three", "no that's not mine")
    assert "connect you" in replies[-1]
    reply = session.handle_text("yes")
    assert reply.transfer_to


def test_a_nine_digit_phone_number_is_never_stored(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "book a cleaning with anyone on tuesday at ten", "five five five one two three four five six")
    assert "9 digits" in replies[-1] and session.state.slots["phone"] is None
    replies = talk(session, "#dtmf 555123456")
    assert "9 digits" in replies[-1] and session.state.slots["phone"] is None
    talk(session, "#dtmf 5551234567")
    assert session.state.slots["phone"] == "+15551234567"


def test_faq_in_the_middle_of_a_form_then_back(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "i'd like to book a cleaning", "anyone", "where can i park")
    assert "parking" in replies[-1].lower() and "what day" in replies[-1].lower()
    assert session.state.active_form == "book_appointment" and session.state.requested == "date"
    talk(session, "monday", "ten thirty", "five five five three three three four four four four", "my name is lee wong",
         "yes", "yes")
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


def _to_the_name(session: DialogueSession, phone: str = "five five five two two two three three three three") -> list[str]:
    return talk(session, "book a cleaning with anyone on tuesday at ten", phone)


def test_a_first_name_alone_gets_asked_for_the_last_name(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    _to_the_name(session)
    replies = talk(session, "margarita")
    assert "last name" in replies[-1] and session.state.slots["full_name"] is None
    replies = talk(session, "conquale")
    assert "Margarita Conquale" in replies[-1] and "right" in replies[-1]
    talk(session, "yes", "yes")
    [appt] = appointments(store)
    assert appt.customer.full_name == "Margarita Conquale" and appt.name_unverified is False


@pytest.mark.parametrize("spelling", [
    "D, M, I, T, R, I, E, V", "d m i t r i e v", "delta mike india tango romeo india echo victor",
    "d as in david m i t r i e v",
])
def test_a_denied_read_back_asks_for_the_spelling_and_reads_it_back(store, dental, spelling):
    session = DialogueSession(dental, store, now=NOW)
    _to_the_name(session)
    talk(session, "my name is dmitri sula")
    replies = talk(session, "no")
    assert "spell your last name" in replies[-1]
    replies = talk(session, spelling)
    assert "Dmitri Dmitriev" in replies[-1] and "D, M, I, T, R, I, E, V" in replies[-1]
    talk(session, "yes", "yes")
    [appt] = appointments(store)
    assert appt.customer.full_name == "Dmitri Dmitriev"


def test_a_name_that_never_converges_is_kept_unverified(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    _to_the_name(session)
    talk(session, "my name is dmitri sula", "no", "s u l l a", "no")
    replies = talk(session, "d m i t r y")
    assert "Dmitry Sulla" in replies[-1]
    replies = talk(session, "no")  # past two corrections: keep it, flag it, go on
    assert "Shall I book it" in replies[-1] and "check the spelling" in replies[-1]
    assert session.state.slots["name_unverified"] is True
    talk(session, "yes")
    [appt] = appointments(store)
    assert appt.customer.full_name == "Dmitry Sulla"
    assert appt.name_unverified is True  # stored with the booking, not only as a call slot
    with store.session() as s:
        stored = {v.name: v.value_masked for v in s.scalars(select(SlotValue).where(SlotValue.call_id == session.call_id))}
    assert stored.get("name_unverified") in ("True", "true", True)


def test_the_name_on_file_for_the_number_is_confirmed_not_recognised(store, dental):
    seed_appointment(store, dental, name="Marguerite Conquale", phone="+15552223333")
    session = DialogueSession(dental, store, now=NOW)
    replies = _to_the_name(session)
    assert "on file for Marguerite Conquale" in replies[-1]
    talk(session, "yes", "yes")
    booked = [a for a in appointments(store) if local(a) == "2026-11-24 10:00"]
    assert [a.customer.full_name for a in booked] == ["Marguerite Conquale"]


def test_someone_else_on_the_number_gets_asked_their_name(store, dental):
    seed_appointment(store, dental, name="Marguerite Conquale", phone="+15552223333")
    session = DialogueSession(dental, store, now=NOW)
    _to_the_name(session)
    replies = talk(session, "no")
    assert "first and last name" in replies[-1] and session.state.slots["full_name"] is None
    talk(session, "my name is paul conquale", "yes", "yes")
    booked = [a for a in appointments(store) if local(a) == "2026-11-24 10:00"]
    assert [a.customer.full_name for a in booked] == ["Paul Conquale"]


@pytest.mark.parametrize("correction,slot,value", [
    ("no, ten in the morning", "time", "10:00"),
    ("no, my name is priya raghunathan", "full_name", "Priya Raghunathan"),
    ("no, the number is five five five four four four five five five five", "phone", "+15554445555"),
])
def test_a_correction_at_the_summary_changes_exactly_that_value(store, dental, correction, slot, value):
    session = DialogueSession(dental, store, now=NOW)
    talk(session, "book a cleaning with anyone on tuesday at two pm", "five five five two two two three three three three",
         "my name is jane smith", "yes")
    assert session.state.pending == "confirm"
    correct_at_summary(session, correction, slot, value, {"offered_times"})


def test_silence_after_an_offer_of_a_person_asks_the_offer_again(store, dental):
    """A caller silent after "Would you like me to connect you with a person?" heard the question
    before it again ("Are you still there? I have ..., is that right?"); their "Yeah" to that was
    taken as a yes to the person, and the call was put through."""
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "book a cleaning", *["the purple elephant sings"] * 3)
    assert "connect you with a person" in replies[-1]
    reply = session.handle_silence()
    assert "Are you still there" in reply.text and "connect you with a person" in reply.text
    talk(session, "no thanks")
    assert session.state.transferred_to is None


def test_a_time_off_the_booking_grid_is_its_thirty_or_asked_again(store, dental):
    """"one thirty in the afternoon" came back "One thirteen ..." and was booked at 1:13 PM. The
    clinic books every 15 minutes: thirteen past is half past, fourteen past is asked again."""
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, "i'd like to book a whitening with doctor garcia", "monday november thirtieth")
    talk(session, "One thirteen in the afternoon")
    assert session.state.slots["time"] == "13:30"
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, "i'd like to book a whitening with doctor garcia", "monday november thirtieth")
    replies = talk(session, "One fourteen in the afternoon")
    assert session.state.slots["time"] is None and "every 15 minutes" in replies[-1]
