"""Small talk and meta-turns in every vertical (issue 16, item 3): greetings, "how are you",
"can you hear me?", thanks, "are you a robot?", "sorry, what?" and "hold on", typed and as a
recogniser writes them (lower case, no punctuation, fillers; Whisper's "Sorry, what?").

Each is answered without leaving the form: the slots stored in the database and the session's
slots, misses and question are the same after it, the reply is the answer and then the form's
question again (or, for "sorry, what?", the bot's last words again), and the caller's next
answer fills the slot asked. Outside a form: the robot question never puts the caller through
(asking for a person still does), a thanks to "anything else?" ends the call where it did
before, and goodbyes with a thanks in them still end it. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callflows.dialogue import DialogueSession
from callflows.dialogue.replies import DEFAULT_RESPONSES
from callflows.nlu.smalltalk import small_talk
from callflows.store.models import SlotValue
from callflows.verticals import load_vertical
from tests.test_dialogue_bank import NOW as BANK_NOW
from tests.test_dialogue_bank import talk
from tests.test_dialogue_dental import NOW as DENTAL_NOW
from tests.test_dialogue_hotel import NOW as HOTEL_NOW

VERTICALS = ("dental_clinic", "hotel", "retail_bank")
NOW = {"dental_clinic": DENTAL_NOW, "hotel": HOTEL_NOW, "retail_bank": BANK_NOW}
# a form in progress with a slot filled and the next asked; the answer to it and the slot it fills
FORM = {
    "dental_clinic": (("i'd like to book a cleaning",), "doctor patel", "provider", "patel"),
    "hotel": (("i'd like to book a room", "friday"), "monday", "departure_date", "2026-11-30"),
    "retail_bank": (("i lost my card", "jordan ellis"), "july fourteenth nineteen eighty eight", "date_of_birth",
                    "1988-07-14"),
}
FAQ = {"dental_clinic": "what are your opening hours", "hotel": "what time is check in",
       "retail_bank": "what are your opening hours"}
MENU = {"dental_clinic": "book a new appointment", "hotel": "book a room", "retail_bank": "lost or stolen card"}
ROBOT = "I'm the virtual assistant for {name}. I can connect you with a person at any time."

# what the bot says first (None: the bot's last words again), and typed / ASR-style ways to say it
SAID = [
    ("Hello!", "Hello!"), ("Hello!", "um hi there"),
    ("I'm doing well, thank you for asking.", "How are you?"),
    ("I'm doing well, thank you for asking.", "how are you doing today"),
    ("Yes, I'm here.", "Can you hear me?"), ("Yes, I'm here.", "hello can you hear me"),
    ("You're welcome.", "Thank you!"), ("You're welcome.", "thanks"), ("You're welcome.", "um thank you very much"),
    ("You're welcome.", "cheers"), ("You're welcome.", "Thanks again."),
    (ROBOT, "Are you a robot?"), (ROBOT, "am i talking to a real person"), (ROBOT, "is this a machine"),
    (ROBOT, "are you human"), (ROBOT, "Are you a real person or a robot?"), (ROBOT, "hello is this a real person"),
    (None, "Sorry, what?"), (None, "sorry what"), (None, "um sorry what"), (None, "what did you say"),
    (None, "Can you repeat that?"), (None, "say that again"), (None, "Pardon?"), (None, "come again"),
    (None, "sorry what was that"), (None, "I'm sorry, what?"), (None, "what"),
]


def _session(store, vertical: str) -> DialogueSession:
    return DialogueSession(load_vertical(vertical), store, now=NOW[vertical])


def _stored_slots(store, call_id: str) -> list[tuple[str, str | None]]:
    with store.session() as s:
        rows = s.scalars(select(SlotValue).where(SlotValue.call_id == call_id).order_by(SlotValue.id))
        return [(row.name, row.value_masked) for row in rows]


def _ask_in_form(store, vertical: str):
    """A session in the vertical's form, and what it holds (to compare after the meta-turn)."""
    session = _session(store, vertical)
    talk(session, *FORM[vertical][0])
    st = session.state
    held = (dict(st.slots), st.misses, st.requested, st.pending, st.active_form, _stored_slots(store, session.call_id))
    assert st.active_form and st.requested == FORM[vertical][2] and st.last_prompt, held
    return session, held


def _same(store, session: DialogueSession, held) -> None:
    st = session.state
    assert (dict(st.slots), st.misses, st.requested, st.pending, st.active_form,
            _stored_slots(store, session.call_id)) == held
    assert not st.ended and not st.transferred_to


def _answered_after(store, session: DialogueSession, vertical: str) -> None:
    """The form goes on: the answer to its question is taken and stored."""
    _, answer, slot, value = FORM[vertical]
    talk(session, answer)
    assert session.state.slots[slot] == value, session.state.slots
    assert (slot, value) in _stored_slots(store, session.call_id) or slot == "date_of_birth"  # stored masked


# --------------------------------------------------------------------------- in a form


@pytest.mark.parametrize("vertical", VERTICALS)
@pytest.mark.parametrize("first, said", SAID)
def test_small_talk_in_a_form_asks_its_question_again(store, vertical, first, said):
    session, held = _ask_in_form(store, vertical)
    question, last_words = session.state.last_prompt, session.state.last_bot_text
    reply = session.handle_text(said)
    if first is None:
        assert reply.text == last_words
    else:
        assert reply.text == f"{first.format(name=session.flow.display_name)} {question}"
    assert not reply.transfer_to and not reply.end_call
    _same(store, session, held)
    _answered_after(store, session, vertical)


@pytest.mark.parametrize("vertical", VERTICALS)
@pytest.mark.parametrize("said", ["Hold on.", "um hang on a sec"])
def test_hold_on_in_a_form_keeps_the_question_pending(store, vertical, said):
    session, held = _ask_in_form(store, vertical)
    expectation = session.expectation
    reply = session.handle_text(said)
    assert reply.text == DEFAULT_RESPONSES["hold"] and session.holding
    assert session.expectation == expectation
    _same(store, session, held)
    _answered_after(store, session, vertical)


@pytest.mark.parametrize("said", ["Pardon?", "cheers", "what", "Thank you."])
def test_a_meta_turn_is_no_name(store, said):
    session = _session(store, "retail_bank")
    talk(session, "i lost my card")
    question = session.state.last_prompt
    replies = talk(session, said)
    assert session.state.slots["full_name"] is None and session.state.misses == 0
    assert replies[-1].endswith(question), replies
    talk(session, "jordan ellis")
    assert session.state.slots["full_name"] == "Jordan Ellis"


def test_sorry_what_at_the_offer_of_a_person_keeps_it_open(store):
    session = _session(store, "hotel")
    talk(session, "i'd like to book a room", "friday", "purple elephants", "purple elephants")
    offer = talk(session, "purple elephants")[-1]
    assert "connect you" in offer
    assert talk(session, "Sorry, what?")[-1] == offer
    robot = talk(session, "Are you a robot?")[-1]
    assert robot == f"{ROBOT.format(name='Harbor View Hotel')} {DEFAULT_RESPONSES['offer_again']}"
    reply = session.handle_text("yes please")
    assert reply.transfer_to == "+15550100177"


def test_thanks_at_the_offer_of_a_person_then_no_goes_on_with_the_form(store):
    session = _session(store, "hotel")
    talk(session, "i'd like to book a room", "friday", "purple elephants", "purple elephants", "purple elephants")
    assert talk(session, "thank you")[-1] == "You're welcome. " + DEFAULT_RESPONSES["offer_again"]
    replies = talk(session, "no", "monday")
    assert "checking out" in replies[0] and session.state.slots["departure_date"] == "2026-11-30"
    assert not session.state.transferred_to


# --------------------------------------------------------------------------- outside a form


@pytest.mark.parametrize("vertical", VERTICALS)
@pytest.mark.parametrize("said", ["Are you a robot?", "am i talking to a real person", "are you human"])
def test_the_robot_question_gets_an_answer_and_the_menu(store, vertical, said):
    session = _session(store, vertical)
    reply = talk(session, said)[-1]
    assert reply.startswith(ROBOT.format(name=session.flow.display_name)) and MENU[vertical] in reply
    assert not session.state.transferred_to and not session.state.ended and session.state.misses == 0


@pytest.mark.parametrize("vertical", VERTICALS)
@pytest.mark.parametrize("said", ["can i talk to a real person", "I want a human.",
                                  "am i talking to a real person i want a real person"])
def test_asking_for_a_person_still_puts_the_caller_through(store, vertical, said):
    session = _session(store, vertical)
    talk(session, "Are you a robot?")
    reply = session.handle_text(said)
    assert reply.transfer_to == session.flow.transfer_number and reply.transfer_to


@pytest.mark.parametrize("vertical", VERTICALS)
@pytest.mark.parametrize("said", ["thanks", "Thank you."])
def test_thanks_at_the_greeting_is_no_goodbye(store, vertical, said):
    session = _session(store, vertical)
    reply = talk(session, said)[-1]
    assert reply.startswith("You're welcome.") and MENU[vertical] in reply
    assert not session.state.ended and session.state.misses == 0


@pytest.mark.parametrize("vertical, ends", [("dental_clinic", False), ("hotel", False), ("retail_bank", True)])
def test_thanks_to_anything_else(store, vertical, ends):
    """The bank's classifier is sure "thank you" is a goodbye, and the call ends as before; the
    others were not, and the caller who was told "not understood" now hears "anything else?"."""
    session = _session(store, vertical)
    talk(session, FAQ[vertical])
    reply = session.handle_text("Thank you.")
    if ends:
        assert reply.end_call and "Goodbye" in reply.text
        return
    assert reply.text == "You're welcome. " + DEFAULT_RESPONSES["anything_else"] and not reply.end_call
    assert session.handle_text("no").end_call


@pytest.mark.parametrize("vertical", VERTICALS)
def test_sorry_what_after_an_answer_says_it_again(store, vertical):
    session = _session(store, vertical)
    answer = talk(session, FAQ[vertical])[-1]
    assert talk(session, "um sorry what")[-1] == answer and session.state.misses == 0
    assert session.handle_text("no thanks").end_call


@pytest.mark.parametrize("vertical", VERTICALS)
@pytest.mark.parametrize("said", ["no thanks, goodbye", "thanks, bye", "Thank you, bye!"])
@pytest.mark.parametrize("in_form", [False, True])
def test_goodbyes_with_thanks_still_end_the_call(store, vertical, said, in_form):
    session = _session(store, vertical)
    talk(session, *(FORM[vertical][0] if in_form else (FAQ[vertical],)))
    reply = session.handle_text(said)
    assert reply.end_call and "Goodbye" in reply.text and not reply.transfer_to


# --------------------------------------------------------------------------- the phrase tables


@pytest.mark.parametrize("text, kind", [
    ("Thank you!", "thanks"), ("thanks again", "thanks"), ("cheers", "thanks"),
    ("Are you a robot?", "robot"), ("is this a machine", "robot"), ("are you a real person or a robot", "robot"),
    ("Are you an A.I.?", "robot"), ("Sorry, what?", "repeat"), ("um sorry what", "repeat"), ("Pardon?", "repeat"),
    ("come again", "repeat"), ("hello? sorry, what?", "repeat"), ("hi are you a robot", "robot"),
    ("hello can you hear me", "presence"), ("hi thanks", "thanks"),
    # a request, a yes or no, a goodbye or a hold is no small talk
    ("no thanks", None), ("okay thanks", None), ("thanks bye", None), ("no thanks goodbye", None),
    ("uh huh", None), ("sorry", None), ("can i talk to a real person", None), ("i want a human", None),
    ("real person please", None), ("hold on", None), ("what time is check in", None),
    ("thanks i'd like to book a room", None), ("sorry what are your hours", None),
])
def test_small_talk_kinds(text, kind):
    assert small_talk(text) == kind
