"""Names typed on the keypad, one key per letter, on phone calls (callflows.nlu.keyed_names and
callflows.dialogue.readback): a name said over the line is typed before it is read back, the
read-back spells it, a "no" reads the next spelling of the same keys, and letters said aloud
choose among those spellings. Typed chats are unchanged. Real DialogueSession, real verticals,
NLU, name lists and store.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.dialogue import DialogueSession
from callflows.nlu.keyed_names import build_keyed_names, keys_of
from tests.test_dialogue_dental import appointments, dental, local, talk  # noqa: F401 - dental is a fixture
from tests.test_dialogue_hotel import hotel  # noqa: F401

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=NY)  # a Sunday
BOOK_UP_TO_NAME = ("i'd like to book a cleaning with doctor patel on tuesday at ten in the morning", "#dtmf 5551234567#")


@pytest.fixture(scope="module")
def keyed():
    return build_keyed_names()


def test_keys_alone_find_known_names_and_spell_unknown_ones(keyed):
    assert keys_of("Okonkwo") == "6566596" and keys_of("Minh Anh") == "6464264"
    assert keyed.decode("6566596", part="last")[0].spelling == "okonkwo"
    # a name on no list still comes out as a spelling of its keys, in the name model's likeliest
    # letters, and what the line made of it ("rug when a fan") settles the letters the keys leave open
    invented = keyed.decode(keys_of("Ulbekova"), part="last")
    assert "ulbekova" in [k.spelling for k in invented[:3]] and not any(k.known for k in invented[:3])
    assert keyed.decode(keys_of("Raghunathan"), part="last")[0].spelling != "raghunathan"
    assert keyed.decode(keys_of("Raghunathan"), heard=["rug when a fan"], part="last")[0].spelling == "raghunathan"
    # what was heard by voice chooses among names on the same keys
    assert keyed.decode(keys_of("Meera"), part="first")[0].spelling != "meera"
    assert keyed.decode(keys_of("Meera"), heard=["mira"], part="first")[0].spelling == "meera"
    assert keyed.decode("1#", part="last") == [] and keyed.decode("2", part="last") == []


def test_a_name_said_on_the_phone_is_typed_then_read_back_spelled(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, *BOOK_UP_TO_NAME)
    replies = talk(session, "my name is cara oconquo")  # Karim Okonkwo, as the line gives it
    assert "keypad" in replies[-1] and "last name" in replies[-1], replies
    replies = talk(session, f"#dtmf {keys_of('Okonkwo')}#")
    assert "first name" in replies[-1] and session.state.slots["full_name"] is None, replies
    replies = talk(session, f"#dtmf {keys_of('Karim')}#")  # a known name heard as another is typed too
    assert "Okonkwo, spelled K, A, R, I" in replies[-1], replies
    if "Karim" not in replies[-1]:  # "Karin" has the same keys and more people: "no" reads the next
        replies = talk(session, "no")
        assert "another name" in replies[-1] and "Karim Okonkwo" in replies[-1], replies
    talk(session, "yes", "yes")
    booked = appointments(store)
    assert len(booked) == 1, session.state.last_bot_text
    assert booked[0].customer.full_name == "Karim Okonkwo"
    assert not booked[0].name_unverified


def test_keys_after_a_first_name_alone_and_corrections_keep_what_was_typed(store, dental):
    """Meera Raghunathan, heard "Lee" and then words: the keys give each part's length and
    letters, the letters said aloud choose among their spellings, and "no, my name is ..."
    changes only a part that was not typed."""
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    replies = talk(session, *BOOK_UP_TO_NAME, "my name is lee a rug when a fan")
    assert "Lee" in replies[-1] and "keypad" in replies[-1], replies
    replies = talk(session, f"#dtmf {keys_of('Raghunathan')}")  # no pound: the keypad's pause ends it the same way
    assert "type your first name" in replies[-1], replies
    replies = talk(session, f"#dtmf {keys_of('Meera')}#")
    assert "spelled" in replies[-1] and session.state.slots["full_name"].split()[0] in replies[-1], replies
    if not session.state.slots["full_name"].startswith("Meera "):
        replies = talk(session, "no")  # the next spelling of the same keys
        assert "another name" in replies[-1], replies
    if not session.state.slots["full_name"].startswith("Meera "):
        talk(session, "no, it's m, e, e, r, a")
    assert session.state.slots["full_name"].startswith("Meera "), session.state.last_bot_text
    assert len(session.state.slots["full_name"].split()[1]) == len("Raghunathan")


def test_a_whole_name_said_again_changes_only_what_was_not_typed(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, *BOOK_UP_TO_NAME, "my name is lee a rug when a fan")
    talk(session, f"#dtmf {keys_of('Raghunathan')}", "it's lee")  # the first name said, not typed
    talk(session, "no, it's r, a, g, h, u, n, a, t, h, a, n")
    replies = talk(session, "no my name is mira raghu nathan")
    assert "type your first name" in replies[-1], replies  # said differently, and never typed: typed now
    replies = talk(session, f"#dtmf {keys_of('Mira')}#")
    assert session.state.slots["full_name"] == "Mira Raghunathan", replies


def test_an_unknown_first_name_is_typed_as_well(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, *BOOK_UP_TO_NAME, "my name is dmitrifln valenzuela")
    replies = talk(session, f"#dtmf {keys_of('Valenzuela')}#")
    assert "first name" in replies[-1], replies
    replies = talk(session, f"#dtmf {keys_of('Dmitri')}#")
    assert session.state.slots["full_name"] == "Dmitri Valenzuela", replies
    assert "D, M, I, T, R, I" in replies[-1], replies


def test_the_caller_may_say_the_name_instead_of_typing_it(store, dental):
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, *BOOK_UP_TO_NAME, "my name is jane smith")
    replies = talk(session, "smith", "jane")
    assert "keypad" not in replies[-1] and "Jane Smith" in replies[-1], replies


def test_typed_chats_never_ask_for_keys(store, dental):
    session = DialogueSession(dental, store, now=NOW)
    replies = talk(session, *BOOK_UP_TO_NAME, "my name is marguerite okonkwo")
    assert "keypad" not in replies[-1] and "I have your name as Marguerite Okonkwo" in replies[-1], replies


def test_a_hotel_guest_name_is_typed_on_the_phone(store, hotel):
    session = DialogueSession(hotel, store, now=NOW, channel="phone")
    talk(session, "i'd like to book a double room for two people arriving december fifth for two nights",
         "#dtmf 5559876543#")
    replies = talk(session, "my name is tiago joe")  # Tiago Zhou
    assert "keypad" in replies[-1], replies
    talk(session, f"#dtmf {keys_of('Zhou')}#")
    replies = talk(session, f"#dtmf {keys_of('Tiago')}#")
    assert "Tiago Zhou" in replies[-1] and "T, I, A, G, O" in replies[-1], replies


def test_a_name_never_heard_can_be_typed_after_a_miss(store, dental):
    """"My name is Thuy Keane" was taken as no name at all, six times, and the caller put through:
    after a miss the name question also offers the keys, last name first."""
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, *BOOK_UP_TO_NAME)
    replies = talk(session, "my nay miss too keen")
    assert "type your last name on your keypad" in replies[-1], replies
    replies = talk(session, f"#dtmf {keys_of('Keane')}#")
    assert "type your first name" in replies[-1], replies
    replies = talk(session, f"#dtmf {keys_of('Thuy')}#")
    assert "Thuy Keane, spelled T, H, U, Y" in replies[-1], replies
    talk(session, "yes", "yes")
    assert [a.customer.full_name for a in appointments(store)] == ["Thuy Keane"]


def test_a_part_spelled_at_a_correction_is_chosen_among_that_parts_keys(store, dental):
    """Past the keys' other spellings, "spell your last name" takes the letters heard among the
    spellings of the *last* name's keys: before, it used the first name's (typed last), and the
    booking stored "Thuy Thuy" for Thuy Keane."""
    session = DialogueSession(dental, store, now=NOW, channel="phone")
    talk(session, *BOOK_UP_TO_NAME, "my name is two teams", f"#dtmf {keys_of('Keane')}#", f"#dtmf {keys_of('Thuy')}#")
    talk(session, "no", "no", "no")  # the right read-back disputed, then both other spellings
    replies = talk(session, "k a any")  # "K, A, N, E" as the line gave it
    assert "Keane, spelled K, E, A, N, E" in replies[-1], replies
    talk(session, "no")
    replies = talk(session, "d h y")  # "T, H, U, Y" as the line gave it
    assert "Thuy Keane, spelled T, H, U, Y" in replies[-1], replies
    talk(session, "yes", "yes")
    assert appointments(store)[0].customer.full_name == "Thuy Keane"
