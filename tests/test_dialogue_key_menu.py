"""Keypad menus for choices the phone line lost: after a miss on an enum question, a phone call
hears each choice with a key ("press 1 for cleaning ..."), one key answers, and the stored
record holds the choice pressed. Typed chats never get a menu. Real DialogueSession, real
verticals and NLU, real store.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bench.callers.policy import menu_key
from callflows.dialogue import DialogueSession
from callflows.dialogue.key_menu import MAX_KEYS, menu_for
from callflows.flow.spec import SlotSpec
from tests.test_dialogue_bank import talk
from tests.test_dialogue_dental import appointments, dental, local  # noqa: F401 - dental is a fixture
from tests.test_dialogue_hotel import hotel, seed  # noqa: F401

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=NY)  # a Sunday


def test_a_lost_choice_is_offered_on_the_keypad_and_the_key_is_stored(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, "i'd like to book an appointment")
    assert session.expectation.digits_length is None  # asked by voice first: no menu yet
    replies = talk(session, "the emphasis for a character")  # "a filling", heard on the line
    assert "press 1 for cleaning, 2 for filling" in replies[-1], replies
    assert session.expectation.digits_length == 1  # one key is the whole answer
    replies = talk(session, "#dtmf 2")
    assert session.state.slots["appointment_type"] == "filling"
    assert "dentist" in replies[-1], replies
    replies = talk(session, "doctor who")
    assert "press 1 for dr. patel" in replies[-1] and "4 for anyone" in replies[-1], replies
    talk(session, "#dtmf 3")
    assert session.state.slots["provider"] == "garcia"
    talk(session, "tuesday", "ten in the morning", "#dtmf 5551234567#", "my name is lee wong", "#dtmf 9664#", "#dtmf 533#", "yes", "yes")
    booked = appointments(store)
    assert len(booked) == 1, session.state.last_bot_text
    assert (booked[0].appointment_type, booked[0].provider.key, local(booked[0])) == ("filling", "garcia", "2026-11-24 10:00")


def test_speech_still_answers_after_the_menu_and_other_keys_are_not_taken(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, "i'd like to book an appointment", "the emphasis")
    replies = talk(session, "#dtmf 9")  # no choice has key 9
    assert session.state.slots["appointment_type"] is None and "press 1" in replies[-1], replies
    talk(session, "a crown please")
    assert session.state.slots["appointment_type"] == "crown"


def test_typed_chats_get_no_menu(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, "i'd like to book an appointment", "the emphasis")
    assert "press" not in replies[-1].lower() and session.expectation.digits_length is None


def test_what_to_change_on_a_reservation_by_key(store, hotel):
    """"The dates" was heard "The maid." three times at "what would you like to change?" and the
    caller was handed to a person."""
    seed(store, hotel)
    session = DialogueSession(hotel, store, now=NOW, channel="phone")
    talk(session, "i need to change my reservation", "#dtmf 5559876543#", "yes that's the one")
    replies = talk(session, "The maid.")
    assert "press 1 for dates, 2 for room type, or 3 for guests" in replies[-1], replies
    replies = talk(session, "#dtmf 1")
    assert session.state.slots["change_item"] == "dates" and "arrival" in replies[-1].lower(), replies


def test_month_and_day_keys_are_the_next_such_day():
    from datetime import date

    from callflows.dialogue.session import _dtmf_value

    today = date(2026, 11, 22)
    assert _dtmf_value("date", None, "1209", today) == "2026-12-09"
    assert _dtmf_value("date", None, "1105", today) == "2027-11-05"  # past this year: next year's
    assert _dtmf_value("date", None, "1122", today) == "2026-11-22"
    assert _dtmf_value("date", None, "0229", today) is None  # not in 2026 nor in 2027
    assert _dtmf_value("date", None, "1340", today) is None
    assert _dtmf_value("date", None, "12092026", today) == "2026-12-09"


def test_menus_are_for_short_lists_of_choices_only():
    nine = SlotSpec("pick", "enum", choices={f"c{k}": (f"choice {k}",) for k in range(MAX_KEYS)})
    assert menu_for(nine) is not None and menu_for(nine).value_of("9") == "c8"
    ten = SlotSpec("pick", "enum", choices={f"c{k}": (f"choice {k}",) for k in range(MAX_KEYS + 1)})
    assert menu_for(ten) is None
    assert menu_for(SlotSpec("when", "date")) is None
    menu = menu_for(SlotSpec("room", "enum", choices={"twin": ("twin",), "suite": ("suite",)}))
    assert menu.offer() == "You can also press 1 for twin, or 2 for suite."
    assert [menu.value_of(k) for k in ("1", "2", "0", "3", "12", "#")] == ["twin", "suite", None, None, None, None]


def test_the_simulated_caller_presses_the_key_of_its_choice():
    heard = "Is it a cleaning or a filling? You can also press one for cleaning, 2 for filling, 3 for crown, or 4 for whitening."
    assert menu_key(heard, "a filling please") == "2"
    assert menu_key(heard, "a whitening please") == "4"
    assert menu_key(heard, "an extraction please") is None  # not offered: said instead
    dentists = "You can also press 1 for Dr. Patel, 2 for Dr. Nguyen, 3 for Dr. Garcia, or 4 for anyone."
    assert menu_key(dentists, "doctor garcia") == "3" and menu_key(dentists, "anyone is fine") == "4"
    assert menu_key("What kind of visit do you need?", "a filling please") is None


def test_the_part_of_a_summary_to_change_by_key(store, dental):
    """"The day" heard "I'll be." at "what would you like to change?": after one miss the parts
    are on the keypad as well, and a key clears that part and asks for it again."""
    from tests.test_dialogue_dental import _to_the_name

    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_name(session)
    talk(session, "my name is lee wong", "#dtmf 9664#", "#dtmf 533#", "yes")
    talk(session, "no")
    assert session.state.pending == "change_which"
    replies = talk(session, "i'll be")
    assert "press 1 for day, 2 for time, 3 for dentist, 4 for visit" in replies[-1], replies
    assert session.expectation.digits_length == 1
    time_before = session.state.slots["time"]
    replies = talk(session, "#dtmf 1")
    assert session.state.slots["date"] is None and session.state.slots["time"] == time_before, replies
    assert "day" in replies[-1].lower(), replies


def test_the_simulated_caller_says_when_the_bot_took_the_wrong_task():
    from datetime import date

    from bench.callers import personas, voices
    from bench.callers.policy import CallerState, next_move

    persona = next(p for p in personas.generate(16, 13, date(2026, 12, 3), voices.FAMILIES, voices.VOICES)
                   if p.task == "book")
    st = CallerState(persona, datetime(2026, 12, 3, 9, 0, tzinfo=NY))
    st.opened = True
    said = [next_move(st, "Sure, I can help you move your appointment. What's the phone number on your file?").say
            for _ in range(3)]
    assert said[0] == said[1] == "no, i don't want to change anything, i'd like to book a new appointment", said
    assert said[2] != said[0]  # said twice at most, then it answers the question


def test_the_simulated_caller_checks_a_spelled_read_back_letter_by_letter():
    from datetime import date

    from bench.callers import personas, voices
    from bench.callers.policy import CallerState, confirm_move

    persona = next(p for p in personas.generate(16, 13, date(2026, 12, 3), voices.FAMILIES, voices.VOICES)
                   if p.task == "book")
    persona.first, persona.last = "Rui", "Ferreira"
    st = CallerState(persona, datetime(2026, 12, 3, 9, 0, tzinfo=NY))
    wrong = confirm_move(st, "I have Rui Ferreira, spelled F, R, R, I, R, A. Is that right?")
    assert wrong.say == "no, it's F, E, R, R, E, I, R, A" and wrong.slot == "spelling"
    right = confirm_move(st, "I have Rui Ferreira, spelled F, E, R, R, E, I, R, A. Is that right?")
    assert right.say.startswith("yes")


def test_a_lost_day_can_be_typed_as_month_and_day(store, dental):
    """"December twenty ninth" was heard "December 20th", "September", "ember": after a miss on
    the phone the day may also be typed, four keys, month and day."""
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, "i'd like to book a cleaning", "anyone")
    assert "keypad" not in session.state.last_bot_text
    replies = talk(session, "the tember went behind")
    assert "month and the day on your keypad" in replies[-1], replies
    replies = talk(session, "#dtmf 0230#")  # no such day: not taken
    assert session.state.slots["date"] is None, replies
    talk(session, "#dtmf 1209#")
    assert session.state.slots["date"] == "2026-12-09"
    typed = DialogueSession(dental, store, now=NOW)
    assert "keypad" not in talk(typed, "i'd like to book a cleaning", "anyone", "the tember went behind")[-1]


def test_a_lost_time_can_be_typed_on_a_24_hour_clock(store, dental):
    """"Three in the afternoon" was heard "thirteen in the morning" and "And in the morning":
    after a miss on the phone the time may also be typed, four keys on a 24-hour clock."""
    from callflows.dialogue.session import _dtmf_value

    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, "i'd like to book a cleaning with anyone on tuesday")
    assert "keypad" not in session.state.last_bot_text
    replies = talk(session, "and in the morning")
    assert "type the time on your keypad" in replies[-1], replies
    replies = talk(session, "#dtmf 2575#")  # no such time: not taken
    assert session.state.slots["time"] is None, replies
    talk(session, "#dtmf 1430#")
    assert session.state.slots["time"] == "14:30", session.state.last_bot_text
    assert (_dtmf_value("time", None, "930"), _dtmf_value("time", None, "12345")) == ("09:30", None)
    typed = DialogueSession(dental, store, now=NOW)
    assert "keypad" not in talk(typed, "i'd like to book a cleaning with anyone on tuesday", "and in the morning")[-1]


def test_the_simulated_caller_types_the_day_when_offered():
    from datetime import date

    from bench.callers import personas, voices
    from bench.callers.policy import CallerState, next_move

    persona = next(p for p in personas.generate(16, 13, date(2026, 12, 3), voices.FAMILIES, voices.VOICES)
                   if p.task == "book")
    st = CallerState(persona, datetime(2026, 12, 3, 9, 0, tzinfo=NY))
    st.opened = True
    first = next_move(st, "What day would you like to come in?")
    assert first.say and not first.dtmf
    offered = next_move(st, "Which day works for you? You can also type the month and the day on your keypad, "
                            "four digits, then the pound key.")
    assert offered.dtmf == f"{persona.day.month:02d}{persona.day.day:02d}#"
    st.slipped = True  # a caller who says a wrong time first has said it by now
    assert not next_move(st, "And what time would you like?").dtmf
    timed = next_move(st, "What time would you like? You can also type the time on your keypad, four digits on a "
                          "24-hour clock: for half past two in the afternoon, 1 4 3 0.")
    assert timed.dtmf == f"{persona.at[0]:02d}{persona.at[1]:02d}#"
    keyed = next_move(st, "To get the spelling right, please type your last name on your phone's keypad, one key "
                          "for each letter, then press the pound key. For Smith, that's 7 6 4 8 4.")
    assert keyed.dtmf and len(keyed.dtmf) == len([c for c in persona.last if c.isalpha()]) + 1


def test_the_simulated_caller_names_the_part_it_disputed_and_reads_past_the_keys():
    from datetime import date

    from bench.callers import personas, voices
    from bench.callers.policy import CallerState, classify, next_move

    persona = next(p for p in personas.generate(16, 13, date(2026, 12, 3), voices.FAMILIES, voices.VOICES)
                   if p.task == "book" and p.style != "correction")
    st = CallerState(persona, datetime(2026, 12, 3, 9, 0, tzinfo=NY))
    st.opened = True
    wrong_hour = (persona.at[0] + 3) % 12 or 1
    disputed = next_move(st, f"So that's a cleaning on {persona.day:%A, %B} {persona.day.day} at {wrong_hour} PM. "
                             "Shall I book it?")
    assert disputed.slot == "time", disputed
    menu = ("Sorry, I didn't quite catch that. What would you like to change, the day, the time, or the dentist? "
            "You can also press 1 for day, 2 for time, 3 for dentist, or 4 for name.")
    assert classify(menu) == "change_what"  # not "name": the keys on offer ask nothing
    assert next_move(st, menu).dtmf == "2"


def test_a_misheard_request_to_change_a_reservation_starts_the_change(store, hotel):
    """"I need to change the dates of my reservation" was heard "... change the made of my
    reminuation" and "... the name of my reformation", read as out of scope three times."""
    for heard in ("Hello. I need to change the made of my reminuation.",
                  "Hello. I need to change the name of my reformation."):
        session = DialogueSession(hotel, store, now=NOW, channel="phone")
        replies = talk(session, heard)
        assert "reservation number" in replies[-1], replies


def test_the_same_small_talk_again_mid_question_is_an_answer_lost(store, dental):
    """"The day" heard "Good day." at "what would you like to change?" got "Hello!" and the
    question, ten times. A greeting that names the part takes it; the same small talk said
    again mid-question is handled as not understood (then the keypad)."""
    from tests.test_dialogue_dental import _to_the_name

    session = DialogueSession(dental, store, now=NOW, channel="phone", escalation=None)
    _to_the_name(session)
    talk(session, "my name is lee wong", "#dtmf 9664#", "#dtmf 533#", "yes", "no")
    replies = talk(session, "Good day.")
    assert "What day" in replies[-1] and session.state.slots["date"] is None, replies
    talk(session, "tuesday", "no")
    assert session.state.pending == "change_which"
    first = talk(session, "Hello.")[-1]
    assert first.startswith("Hello!"), first
    again = talk(session, "Hello.")[-1]
    assert not again.startswith("Hello!") and "press 1 for day" in again, again
    idle = DialogueSession(dental, store, now=NOW, escalation=None)  # no question pending: hello each time
    assert talk(idle, "hello")[-1].startswith("Hello!") and talk(idle, "hello")[-1].startswith("Hello!")


def test_a_request_not_understood_is_offered_on_keys_on_the_phone(store):
    """"Hi, what's the balance on my account" was heard otherwise five times and the caller was
    put through: after a miss on the first request the menu of what the bot does is on keys too
    (the intents a flow labels with `menu:`), a key starts that request, and typed chats never
    get a menu."""
    from bench.callers import personas, voices
    from bench.callers.policy import CallerState, next_move
    from callflows.verticals import load_vertical

    bank = load_vertical("retail_bank")
    session = DialogueSession(bank, store, now=NOW, channel="phone", escalation=None)
    talk(session, "no thank")  # a greeting's answer: no miss yet
    replies = talk(session, "what's the ballots")
    assert "press 1 for your balance, 2 for recent transactions, or 3 for a lost or stolen card" in replies[-1], replies
    assert session.expectation.digits_length == 1
    replies = talk(session, "#dtmf 1")
    assert session.state.active_form == "verify_identity" and "verify your identity" in replies[-1], replies
    typed = DialogueSession(bank, store, now=NOW, escalation=None)
    assert "press" not in talk(typed, "what's the ballots")[-1]

    persona = next(p for p in personas.generate(16, 13, datetime(2026, 12, 3).date(), voices.FAMILIES, voices.VOICES)
                   if p.task == "balance")
    st = CallerState(persona, datetime(2026, 12, 3, 9, 0, tzinfo=NY))
    st.opened = True
    assert next_move(st, "Sorry, I didn't quite catch that. What would you like to do? "
                     "You can also press 1 for your balance, 2 for recent transactions, or 3 for a lost or stolen "
                     "card.").dtmf == "1"


def test_a_summary_read_again_takes_yes_and_no_on_keys(store, dental):
    """A summary read again on the phone (here after a turn not understood) also offers yes and
    no on keys: the line turns a correction into "That's it's perfect." but never a 2 into a 1.
    A 2 asks what to change with the parts on keys; a 1 books what the summary said."""
    from tests.test_dialogue_dental import _to_the_name

    session = DialogueSession(dental, store, now=NOW, channel="phone")
    _to_the_name(session)
    replies = talk(session, "my name is lee wong", "#dtmf 9664#", "#dtmf 533#", "yes")
    assert "Shall I book it?" in replies[-1] and "press 1" not in replies[-1], replies  # read once: no keys
    replies = talk(session, "blue cheese")
    assert replies[-1].endswith("Shall I book it? You can also press 1 if that's right, or 2 to change something."), replies
    replies = talk(session, "#dtmf 2")
    assert session.state.pending == "change_which" and "press 1 for day, 2 for time" in replies[-1], replies
    assert appointments(store) == []
    talk(session, "#dtmf 1")
    replies = talk(session, "monday")
    assert "Monday, November 23" in replies[-1] and "press 1 if that's right" in replies[-1], replies
    talk(session, "#dtmf 1")
    [booked] = appointments(store)
    assert local(booked).startswith("2026-11-23") and booked.customer.full_name == "Lee Wong"


def test_typed_chats_get_no_yes_and_no_keys(store, dental):
    from tests.test_dialogue_dental import _to_the_name

    session = DialogueSession(dental, store, now=NOW)
    _to_the_name(session)
    replies = talk(session, "my name is lee wong", "yes", "blue cheese")
    assert "Shall I book it?" in replies[-1] and "press" not in replies[-1], replies


def test_the_simulated_caller_presses_yes_when_offered_and_checks_a_heard_spelling():
    from datetime import date

    from bench.callers import personas, voices
    from bench.callers.policy import CallerState, Move, _yes_on_key, confirm_move

    persona = next(p for p in personas.generate(16, 13, date(2026, 12, 3), voices.FAMILIES, voices.VOICES)
                   if p.task == "book")
    persona.first, persona.last, persona.keypad = "Farhan", "Delgado", True
    st = CallerState(persona, datetime(2026, 12, 3, 9, 0, tzinfo=NY))
    # "spelled" heard "Spell", an I heard as an A: a person still hears Darian is not Farhan
    assert confirm_move(st, "I have Darian Delgado. Spell D A R A A N. Is that right?").say == "no, it's F, A, R, H, A, N"
    assert confirm_move(st, "I have Farhan Delgado. Spell F A R H A A N. Is that right?").say.startswith("yes")
    offer = "Shall I book it? You can also press 1 if that's right, or 2 to change something."
    yes, no = Move("yes please", slot="yes_no"), Move("no, the ninth", slot="date")
    assert _yes_on_key(st, yes, offer).dtmf == "1"  # a caller who likes keys presses its yes
    assert _yes_on_key(st, no, offer) is no  # a correction carries a value: said
    assert _yes_on_key(st, yes, "Shall I book it?") is yes  # no keys offered
    persona.keypad = False
    assert _yes_on_key(st, yes, offer) is yes  # a caller who speaks says it, until the summary came round thrice
    st.asks["confirm"] = 3
    assert _yes_on_key(st, yes, offer).dtmf == "1"
