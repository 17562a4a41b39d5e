"""A caller who disputes a summary that was right (callflows.dialogue.confirmation): over the line
the caller hears "thirteen" as "thirty", a typed name as another, a phone number cut short, and
says the right value again. The values the booking holds must survive that: the value restated is
said once more on its own (not the whole summary, heard wrong again), a typed name is spelled back
whole (not replaced by one more hearing of it), a word only *near* a choice word ("check" for
"checkup") changes nothing, and a number heard short twice is asked on the keypad only.
Real DialogueSession, verticals, NLU and store (SQLite and PostgreSQL)."""

from __future__ import annotations

from callflows.dialogue import DialogueSession
from callflows.nlu.keyed_names import keys_of
from tests.test_dialogue_dental import NOW, appointments, dental, local, talk  # noqa: F401 - dental is a fixture

TO_THE_NAME = ("i'd like to make an appointment", "an extraction please", "doctor nguyen", "friday",
               "one p m", "#dtmf 8466344613#")


def _to_the_summary(session: DialogueSession) -> list[str]:
    talk(session, *TO_THE_NAME, "my name is yuki volkov", f"#dtmf {keys_of('Volkov')}#")
    replies = talk(session, f"#dtmf {keys_of('Yuki')}#")
    assert "Yuki Volkov" in replies[-1], replies
    replies = talk(session, "yes")
    assert "Shall I book it" in replies[-1] and "Friday, November 27" in replies[-1], replies
    return replies


def _booked(store) -> tuple[str, str, str, str]:
    [appt] = appointments(store)
    return appt.appointment_type, appt.provider.key, local(appt), appt.customer.full_name


def test_a_date_restated_to_a_right_summary_is_said_again_alone(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_summary(session)
    replies = talk(session, "no, friday the twenty seventh")  # the caller heard another day
    assert replies[-1] == ("That's what I have: Friday, November 27. Shall I book it? "
                           "You can also press 1 if that's right, or 2 to change something."), replies
    replies = talk(session, "eight four six six three four four six one three")  # the number, said again
    assert replies[-1].startswith("That's what I have: 8 4 6, 6 3 4, 4 6 1 3."), replies
    assert appointments(store) == []
    # the same number a second time: the caller's words agree with the record twice, it goes ahead
    replies = talk(session, "no, eight four six six three four four six one three")
    assert replies[-1].startswith("Yes, 8 4 6, 6 3 4, 4 6 1 3, that's what I have, so I'll go ahead. You're all set"), replies
    assert _booked(store) == ("extraction", "nguyen", "2026-11-27 13:00", "Yuki Volkov")


def test_a_real_correction_still_changes_the_value(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_summary(session)
    replies = talk(session, "no, monday")
    assert "Monday, November 23" in replies[-1] and "Shall I book it" in replies[-1], replies
    talk(session, "yes")
    assert _booked(store)[2] == "2026-11-23 13:00"


def test_a_word_near_a_choice_does_not_change_the_visit(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_summary(session)
    talk(session, "and then i'll check eight four six")  # "check" is near "checkup" (a cleaning)
    assert session.state.slots["appointment_type"] == "extraction"
    replies = talk(session, "no, the visit is a cleaning")  # named outright, it changes
    assert session.state.slots["appointment_type"] == "cleaning", replies
    talk(session, "yes")
    assert _booked(store)[0] == "cleaning"


def test_a_typed_name_disputed_at_the_summary_is_spelled_back_not_replaced(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_summary(session)
    replies = talk(session, "no, my name is yuri vokov")  # the name said again, heard wrong
    assert replies[-1] == "I have Yuki Volkov, spelled Y, U, K, I; V, O, L, K, O, V. Is that right?", replies
    replies = talk(session, "yes")
    assert "Shall I book it" in replies[-1] and "Yuki Volkov" in replies[-1], replies
    talk(session, "yes")
    assert _booked(store)[3] == "Yuki Volkov"


def test_a_typed_name_named_at_what_to_change_is_spelled_back(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_summary(session)
    replies = talk(session, "no")
    assert "What would you like to change" in replies[-1], replies
    replies = talk(session, "the name")
    assert "spelled Y, U, K, I; V, O, L, K, O, V" in replies[-1], replies
    replies = talk(session, "no")  # the keys stand: their next spelling is read back
    assert "another name" in replies[-1] and "Volkov" in replies[-1], replies


def test_a_typed_name_is_not_spelled_back_in_a_typed_chat(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="text")
    talk(session, *TO_THE_NAME, "my name is yuki volkov", "yes")
    assert session.state.pending == "confirm"
    talk(session, "no, my name is yuri volkov")
    assert session.state.slots["full_name"] == "Yuri Volkov"


def test_a_phone_number_heard_short_twice_is_asked_on_the_keypad(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    replies = talk(session, "i need to cancel my appointment", "two seven one three four seven zero two five")
    assert "I heard 9 digits, but a phone number has 10" in replies[-1], replies
    replies = talk(session, "two seven one three four seven zero two five")
    assert replies[-1] == ("I heard 9 digits again. Please type the phone number on your keypad, "
                           "then press the pound key."), replies
    replies = talk(session, "#dtmf 2713470250#")
    assert "couldn't find an upcoming appointment" in replies[-1], replies


def test_a_day_refused_is_said_back_as_heard(store, dental):
    """A correction heard as a day the clinic is closed: the refusal says which day was heard
    ("twenty ninth" heard "20th"), so the caller can tell it was misheard."""
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_summary(session)
    replies = talk(session, "no, sunday")
    assert replies[-1].startswith("November 29 is a Sunday, and we're closed on Sundays."), replies
    assert session.state.slots["date"] is None


def test_a_name_heard_in_another_answer_never_replaces_a_typed_one(store, dental):
    """"Who's name is ..." heard for "the twenty ninth" at the day question: the typed and
    confirmed name stays (it was replaced by the hearing, and read back again)."""
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_summary(session)
    talk(session, "no", "the day")
    replies = talk(session, "whose name is yuri when it's in high")
    assert "day" in replies[-1] and session.state.slots["full_name"] == "Yuki Volkov", replies
    replies = talk(session, "monday")
    assert "Shall I book it" in replies[-1] and "Yuki Volkov" in replies[-1], replies


def test_a_yes_heard_from_speech_whose_words_were_lost_books_nothing(store, dental):
    """"it's eight four six, six three four, four six one three" came back "That's it's perfect."
    from five seconds of speech: no yes (callflows.nlu.thin_transcript). The summary is asked
    again, and a yes heard whole books it."""
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    summary = _to_the_summary(session)[-1]
    reply = session.handle_text("That's it's perfect.", source="speech", timings={"speech_ms": 5200.0})
    assert appointments(store) == [] and reply.text.startswith(summary), reply.text
    assert reply.text.endswith("You can also press 1 if that's right, or 2 to change something."), reply.text
    session.handle_text("yes please", source="speech", timings={"speech_ms": 900.0})
    assert _booked(store) == ("extraction", "nguyen", "2026-11-27 13:00", "Yuki Volkov")


def test_a_short_yes_and_a_typed_chat_yes_are_taken(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_summary(session)
    session.handle_text("Yes.", source="speech", timings={"speech_ms": 1400.0})
    assert len(appointments(store)) == 1


def test_thin_transcripts():
    from callflows.nlu.thin_transcript import too_thin

    assert too_thin("Yes.", 4000.0) and too_thin("That's it's perfect.", 5200.0)
    assert not too_thin("Yes.", 1200.0)  # too short to judge
    assert not too_thin("yes that's all correct thank you", 2600.0)
    assert not too_thin("Yes.", None)  # a typed chat, or no audio measured
