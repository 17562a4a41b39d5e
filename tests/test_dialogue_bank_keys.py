"""A bank caller's name typed on the keypad (flow.yaml `keys: match_on_file`): on the phone, the
name question asked again after a miss offers the keys; the keys fill full_name as a typed value
(callflows.nlu.typed_name) and the bank compares them with the keys of the names on file
(bank.keys_match), still only with the exact date of birth and last-4 / ZIP, the lockout counted
as for a name heard. Typed chats are never offered keys. Real DialogueSession, flow, NLU, store
and bank action; the bench's simulated caller types its last name at the offer.

Demo customers (bank.yaml): Jordan Ellis, born 14 July 1988, SSN last 4 4417; Priya Raman.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callflows.dialogue import DialogueSession
from callflows.flow.errors import FlowErrors
from callflows.flow.loader import load_flow_text
from callflows.nlu.keyed_names import keys_of
from callflows.nlu.typed_name import typed_keys, typed_name
from callflows.store.models import Call, SlotValue, Turn
from callflows_verticals.retail_bank.bank import keys_match, name_matches
from tests.test_identity_verification import DOB_SPOKEN, SSN, bank, customer, talk  # noqa: F401 - bank is a fixture

TZ = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
GARBLED = "jar then a lease"  # Jordan Ellis as the line gave it: no name in it
OFFER = "You can also type your last name on your keypad, one key for each letter, then press pound."


def phone_call(store, bank) -> DialogueSession:
    # escalation off: two misses in a row would otherwise go to the LLM where one is installed
    return DialogueSession(bank, store, now=NOW, channel="phone", escalation=None)


# --------------------------------------------------------------------------- the value and the comparison


def test_the_typed_value_says_it_was_typed_and_too_short_is_no_name():
    assert typed_name("35547#") == "keys:35547" and typed_keys("keys:35547") == "35547"
    assert typed_name("3#") is None and typed_name("1#") is None and typed_name("301") is None  # one letter key
    assert typed_name("1" + "2" * 30) is None  # a stuck key
    assert typed_keys("Jordan Ellis") is None and typed_keys(None) is None and typed_keys("keys:") is None


def test_keys_match_the_last_name_or_the_whole_name_on_file():
    assert keys_match(keys_of("Ellis"), "Jordan Ellis")
    assert keys_match(keys_of("Jordan Ellis"), "Jordan Ellis")  # first then last, typed whole
    assert keys_match(keys_of("Elkis"), "Jordan Ellis")  # the same keys: why the date and digits must be exact
    assert keys_match(keys_of("Cruz"), "Maria de la Cruz") and keys_match(keys_of("delacruz"), "Maria de la Cruz")
    assert keys_match(keys_of("Mariacruz"), "Maria Ann Cruz") and keys_match(keys_of("Mariaanncruz"), "Maria Ann Cruz")
    assert not keys_match(keys_of("Jordan"), "Jordan Ellis")  # the first name alone
    assert not keys_match(keys_of("Raman"), "Jordan Ellis") and not keys_match("", "Jordan Ellis")
    # a name heard is still compared as before
    assert name_matches("jordan elis", "Jordan Ellis") and name_matches(typed_name(keys_of("Ellis")), "Jordan Ellis")
    assert not name_matches("ellis", "Jordan Ellis")


# --------------------------------------------------------------------------- phone calls


def test_a_name_never_heard_is_typed_and_the_caller_verified(store, bank):
    session = phone_call(store, bank)
    replies = talk(session, "what's my balance", GARBLED)
    assert OFFER in replies[-1] and session.state.slots["full_name"] is None, replies
    replies = talk(session, GARBLED)
    assert OFFER in replies[-1], replies
    replies = talk(session, f"#dtmf {keys_of('Ellis')}#")
    assert "date of birth" in replies[-1], replies
    replies = talk(session, "#dtmf 07141988#", "#dtmf 4417#")
    assert "you're verified" in replies[-1], replies
    jordan = customer(store)
    assert session.state.slots["verified"] is True and session.state.slots["customer_id"] == jordan.id
    assert jordan.failed_verifications == 0
    talk(session, "checking")
    session.end()
    with store.session() as s:
        call = s.get(Call, session.call_id)
        slots = {v.name: v.value_masked for v in s.scalars(select(SlotValue).where(SlotValue.call_id == session.call_id))}
        turns = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == session.call_id).order_by(Turn.seq))]
    assert call.outcome == "balance_given", call.outcome
    assert slots["verified"] == "True" and "35547" not in str(slots.get("full_name")), slots
    assert not any(keys_of("Ellis") in t or "4417" in t or "07141988" in t for t in turns), turns


def test_the_keys_may_be_typed_at_the_first_question_and_a_short_entry_is_asked_again(store, bank):
    session = phone_call(store, bank)
    talk(session, "what's my balance")
    replies = talk(session, "#dtmf 3#")  # one letter key: no name
    assert session.state.requested == "full_name" and session.state.slots["full_name"] is None
    assert OFFER in replies[-1], replies
    replies = talk(session, f"#dtmf {keys_of('Jordan Ellis')}#", "#dtmf 07141988#", "#dtmf 4417#")
    assert "you're verified" in replies[-1] and session.is_verified(), replies


def test_someone_elses_typed_name_is_not_verified_and_no_customer_counts_a_failure(store, bank):
    session = phone_call(store, bank)
    talk(session, "what's my balance", GARBLED)
    replies = talk(session, f"#dtmf {keys_of('Raman')}#", "#dtmf 07141988#", "#dtmf 4417#")
    assert "couldn't verify" in replies[-1] and not session.is_verified(), replies
    assert session.state.slots["verified"] is False and session.state.slots["verify_attempts"] == 1
    assert customer(store).failed_verifications == 0  # the name matched nobody with that date of birth
    assert session.state.requested == "full_name"  # asked again from the name


def test_the_right_typed_name_with_wrong_digits_counts_a_failure_as_a_heard_name_does(store, bank):
    session = phone_call(store, bank)
    talk(session, "what's my balance", GARBLED)
    replies = talk(session, f"#dtmf {keys_of('Ellis')}#", "#dtmf 07141988#", "#dtmf 1234#")
    assert "couldn't verify" in replies[-1], replies
    assert customer(store).failed_verifications == 1


def test_typed_chats_are_not_offered_keys_for_the_name(store, bank):
    session = DialogueSession(bank, store, now=NOW, escalation=None)
    replies = talk(session, "what's my balance", GARBLED)
    assert "keypad" not in replies[-1] and "first and last name" in replies[-1], replies
    for _ in range(2):  # verification failed twice: the name is asked a third time, a person offered, no keys
        replies = talk(session, "jordan ellis", "july fourteenth nineteen eighty eight", "one two three four")
    assert "couldn't verify" in replies[-1] and "keypad" not in replies[-1], replies


# --------------------------------------------------------------------------- the flow option


def test_the_flow_option_is_read_and_checked(bank):
    spec = bank.flow.slots["full_name"]
    assert spec.keys == "match_on_file"
    text = (Path(__file__).resolve().parent.parent / "verticals/retail_bank/flow.yaml").read_text(encoding="utf-8")
    for old, new in (("    keys: match_on_file\n", "    keys: decode\n"),
                     ("    type: person_name\n    description: the caller's first", "    type: text\n    description: x")):
        with pytest.raises(FlowErrors) as info:
            load_flow_text(text.replace(old, new, 1), "flow.yaml")
        assert any(e.field == "slots.full_name.keys" for e in info.value.errors), info.value.errors


# --------------------------------------------------------------------------- the bench's simulated caller


def test_the_simulated_caller_types_its_last_name_at_the_banks_offer():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from callers import personas, voices
    from callers.policy import CallerState, classify, next_move

    people = personas.generate(64, 13, date(2026, 12, 3), voices.FAMILIES, voices.VOICES)
    p = next(p for p in people if p.vertical == "retail_bank")
    reprompt = f"Please tell me your first and last name, for example, my name is Jane Smith. {OFFER}"
    assert classify(reprompt) == "key_name"
    assert classify(reprompt.replace("one key", "1 key")) == "key_name"  # as the recogniser may write it
    st = CallerState(p, datetime(2026, 12, 3, 9, 0, tzinfo=TZ))
    next_move(st, "How can I help you today?")
    next_move(st, "To keep your accounts safe, I first need to verify your identity. What's your first and last name?")
    move = next_move(st, reprompt)
    assert move.dtmf == keys_of(p.last) + "#", (move, p.last)


# --------------------------------------------------------------------------- details heard wrong on the line


HEARD_NAME = "my name is jordan showery"  # Jordan Ellis as the line gave it
KEYED = ("#dtmf 35547#", "#dtmf 07141988#", "#dtmf 4417#")  # Ellis, 07/14/1988, SSN last 4


def test_details_heard_wrong_are_asked_again_on_the_keypad_and_never_count(store, bank):
    """A check that failed on details heard over the phone spends no attempt and locks nobody:
    the three details are asked again on the keypad (each question afresh, not "I still don't
    have that"), and the typed ones verify the caller."""
    session = phone_call(store, bank)
    replies = talk(session, "what's my balance", HEARD_NAME, DOB_SPOKEN, "yes", SSN)
    assert "Words can get lost on a phone line" in replies[-1], replies
    assert "type your last name on your keypad" in replies[-1] and "still don't have" not in replies[-1]
    assert not session.state.slots.get("verify_attempts") and session.state.slots["verify_heard_misses"] == 1
    replies = talk(session, HEARD_NAME)  # said again all the same: taken, then the date of birth on the keys
    assert "type your date of birth on your keypad" in replies[-1] and "or say it" not in replies[-1], replies
    replies = talk(session, "#dtmf 07141988#", "four four one seven")
    assert session.state.slots["verify_heard_misses"] == 2 and not session.state.slots.get("verify_attempts")
    replies = talk(session, *KEYED)
    assert "you're verified" in replies[-1], replies
    assert session.state.slots["verify_attempts"] == 1 and customer(store).failed_verifications == 0


def test_after_two_misses_on_details_heard_a_failure_counts(store, bank):
    session = phone_call(store, bank)
    talk(session, "what's my balance", *(2 * (HEARD_NAME, DOB_SPOKEN, "yes", SSN)))
    assert session.state.slots["verify_heard_misses"] == 2
    replies = talk(session, HEARD_NAME, DOB_SPOKEN, "yes", SSN)
    assert "couldn't verify" in replies[-1] and "keypad" in replies[-1], replies
    assert session.state.slots["verify_attempts"] == 1 and session.state.slots["verify_heard_misses"] == 2


def test_a_wrong_last_four_said_for_a_customers_own_name_and_birth_date_counts(store, bank):
    """The name and date of birth match a customer, so the wrong last four is counted, on the call
    and on the customer, even said aloud (an impostor who knows them gets no free guesses), and
    the caller hears the same words as for a miss that is not counted (nothing about what matched)."""
    session = phone_call(store, bank)
    replies = talk(session, "what's my balance", "my name is jordan ellis", DOB_SPOKEN, "yes", "one one one one")
    assert "Words can get lost on a phone line" in replies[-1], replies
    assert session.state.slots["verify_attempts"] == 1 and not session.state.slots.get("verify_heard_misses")
    assert customer(store).failed_verifications == 1


def test_typed_details_that_are_wrong_count_from_the_first_try(store, bank):
    """Nothing typed can be the line's mistake: a wrong last four typed is a failed attempt, on the
    call and on the customer (an impostor who types gets no free tries)."""
    session = phone_call(store, bank)
    replies = talk(session, "what's my balance", "#dtmf 35547#", "#dtmf 07141988#", "#dtmf 1111#")
    assert "couldn't verify" in replies[-1] and "Words can get lost" not in replies[-1], replies
    assert session.state.slots["verify_attempts"] == 1 and not session.state.slots.get("verify_heard_misses")
    assert customer(store).failed_verifications == 1
