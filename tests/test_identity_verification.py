"""Identity verification: the engine's `requires` (a form runs only after the form it
requires completed in the call) and the retail bank's check of name + date of birth +
SSN last 4 / account last 4 / ZIP, with a lockout after three failures.

The call's clock is fixed (Monday 23 November 2026, 10:00 in Chicago); runs on SQLite and
PostgreSQL (the `store` fixture). Demo customer: Jordan Ellis, born 14 July 1988, SSN
last 4 4417, accounts ending 7891 (checking) and 3305 (savings), ZIP 60614.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callflows.dialogue import DialogueSession
from callflows.flow.errors import FlowErrors
from callflows.flow.loader import load_flow_text
from callflows.store.models import Customer, Turn
from callflows.verticals import load_vertical

TZ = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
NAME, DOB_SPOKEN, SSN = "jordan ellis", "july fourteenth nineteen eighty eight", "four four one seven"


@pytest.fixture(scope="module")
def bank():
    return load_vertical("retail_bank")


def talk(session: DialogueSession, *lines: str) -> list[str]:
    """Play caller lines ('#dtmf 1234#' for keys); returns the bot's replies (greeting first)."""
    replies = [session.start().text] if session.recorder.seq == 0 else []
    for line in lines:
        if line.startswith("#dtmf "):
            replies.append(session.handle_text(line[6:], source="dtmf").text)
        else:
            replies.append(session.handle_text(line).text)
    return replies


def customer(store, name: str = "Jordan Ellis") -> Customer:
    with store.session() as s:
        return s.scalars(select(Customer).where(Customer.vertical == "retail_bank",
                                                Customer.full_name == name)).one()


# --------------------------------------------------------------------------- success


def test_verified_with_spoken_name_date_of_birth_and_ssn_then_balance(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance")
    assert "verify your identity" in replies[-1] and "name" in replies[-1]
    assert session.state.active_form == "verify_identity" and session.state.pending_form == "check_balance"
    assert not session.is_verified() and not session.requirement_met("check_balance")
    replies = talk(session, NAME, DOB_SPOKEN, SSN)
    assert "you're verified" in replies[-1]
    assert session.is_verified() and session.is_verified("verify_identity")
    assert session.requirement_met("check_balance")
    assert session.state.active_form == "check_balance" and "checking, savings" in replies[-1]
    replies = talk(session, "checking please")
    assert "2,481 dollars and 56 cents" in replies[-1] and "anything else" in replies[-1].lower()


def test_a_name_said_before_it_was_asked_is_masked_in_the_stored_turns(store, bank):
    """A turn recorded before the name was known (no name parser caught it then) is masked
    again, in memory and in the database, once the name slot is filled."""
    from callflows.dialogue.recorder import CallRecorder
    from callflows.store.models import Turn

    recorder = CallRecorder(store, "remask-call", bank.flow, channel="phone")
    recorder.caller_turn("jordan ellis again about the card", None, secrets=[])
    recorder.bot_turn("Sure, Jordan Ellis. Let me verify you first.", secrets=[])
    recorder.slot("full_name", "person_name", "Jordan Ellis", pii=True)
    recorder.finish("test")
    with store.session() as s:
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == "remask-call").order_by(Turn.seq))]
    assert texts == ["[redacted] again about the card", "Sure, [redacted]. Let me verify you first."], texts
    assert [t["text"] for t in recorder.turns] == texts


def test_verified_on_the_keypad_with_account_last_four(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's the balance on my savings", NAME)
    replies = talk(session, "#dtmf 07141988#")
    assert session.state.slots["date_of_birth"] == "1988-07-14"
    assert "last four digits" in replies[-1]
    replies = talk(session, "#dtmf 7891#")
    assert "you're verified" in replies[-1]
    assert "10,250 dollars" in replies[-1]  # "savings" was said before verification: carried over
    assert session.state.slots["account_kind"] == "savings"


def test_verified_with_zip_code(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "how much money do i have", NAME, DOB_SPOKEN, "my zip code is six zero six one four")
    assert "you're verified" in replies[-1]


def test_the_digit_count_word_is_not_taken_for_the_answer(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "check my balance", NAME, DOB_SPOKEN, "the last four of my social are 4 4 1 7")
    assert "you're verified" in replies[-1]


# --------------------------------------------------------------------------- failure and lockout


def _failed_reply(store, bank, *answers: str) -> str:
    session = DialogueSession(bank, store, now=NOW)
    return talk(session, "what's my balance", *answers)[-1]


def test_failure_message_is_the_same_whichever_detail_was_wrong(store, bank):
    wrong_ssn = _failed_reply(store, bank, NAME, DOB_SPOKEN, "one two three four")
    wrong_dob = _failed_reply(store, bank, NAME, "january first nineteen ninety", SSN)
    unknown_name = _failed_reply(store, bank, "michael brown", DOB_SPOKEN, SSN)
    wrong_zip = _failed_reply(store, bank, NAME, DOB_SPOKEN, "nine nine nine nine nine")
    assert "couldn't verify those details" in wrong_ssn
    assert wrong_ssn == wrong_dob == unknown_name == wrong_zip
    for word in ("social", "security number", "birth", "zip", "account"):
        assert word not in wrong_ssn.lower().split("let's try again")[0]


def test_a_spoken_date_of_birth_is_read_back_with_its_year(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", NAME, DOB_SPOKEN)
    assert "I have your date of birth as July 14, 1988. Is that right?" in replies[-1]
    replies = talk(session, "yes")
    assert "last four digits" in replies[-1]
    replies = talk(session, SSN)
    assert "you're verified" in replies[-1]


@pytest.mark.parametrize("correction", ["no, nineteen eighty eight", "no, it's 1988", "no, july fourteenth nineteen eighty eight"])
def test_a_date_of_birth_read_back_wrong_is_corrected_by_the_part_said(store, bank, correction):
    """"July 14, 1989" read back, "no, nineteen eighty eight": the year changes, the day stays;
    the correction is read back in turn, and the stored turns hold none of it."""
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance", NAME, "july fourteenth nineteen eighty nine")
    replies = talk(session, correction)
    assert "July 14, 1988" in replies[-1] and "right" in replies[-1]
    assert session.state.slots["date_of_birth"] == "1988-07-14"
    replies = talk(session, "yes", SSN)
    assert "you're verified" in replies[-1]
    session.end()
    with store.session() as s:
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == session.call_id))]
    for secret in ("1988", "1989", "eighty eight", "eighty nine", "July 14", "july fourteenth"):
        assert not any(secret in t for t in texts), (secret, texts)


def test_a_day_and_month_correction_of_the_date_of_birth_is_masked_in_the_record(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance", NAME, "july fifteenth nineteen eighty eight")
    replies = talk(session, "no, july the fourteenth")
    assert "July 14, 1988" in replies[-1]
    session.end()
    with store.session() as s:
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == session.call_id))]
    assert not any("fourteenth" in t or "fifteenth" in t for t in texts), texts


def test_a_typed_date_of_birth_is_not_read_back(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", NAME, "#dtmf 07141988#")
    assert "last four digits" in replies[-1] and "date of birth as" not in replies[-1]


def test_going_on_to_the_next_answer_confirms_the_date_of_birth_read_back(store, bank):
    """Callers who hear nothing wrong often just answer the next question."""
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", NAME, DOB_SPOKEN, SSN)
    assert "you're verified" in replies[-1]
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", NAME, DOB_SPOKEN, "#dtmf 4417#")
    assert "you're verified" in replies[-1]


def test_the_digits_of_a_date_of_birth_are_never_taken_for_the_last_four(store, bank):
    """A date of birth heard as bare numbers ("8 15 1962") is not the last four, and a read-back
    answered with a month ("August 1962") is about the date: neither fills the digits, none is a
    failed check (before, "1962" was taken as the last four and the check failed, counted)."""
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", NAME, "8 15 1962")
    assert "date of birth" in replies[-1] and "four digits" not in replies[-1], replies
    assert session.state.slots["id_digits"] is None
    replies = talk(session, "july fourteenth nineteen eighty eight", "july 1988")
    assert session.state.slots["id_digits"] is None and session.state.slots["verify_attempts"] is None, replies
    assert "date of birth as July 14, 1988" in replies[-1], replies
    replies = talk(session, "yes", SSN)
    assert "you're verified" in replies[-1], replies
    assert customer(store).failed_verifications == 0


def test_a_short_given_name_is_taken_for_verification(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", "my name is jun nasser")
    assert session.state.slots["full_name"] == "Jun Nasser" and "date of birth" in replies[-1]


def test_a_failed_check_says_a_colleague_can_help(store, bank):
    """Details understood but wrong are no misunderstanding: the caller hears that a member of
    the team can help, and the questions start over from the name."""
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", NAME, DOB_SPOKEN, "one two three four")
    assert "team" in replies[-1] and "first and last name" in replies[-1]


def test_a_failed_check_asks_again_from_the_name(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance", NAME, DOB_SPOKEN, "one two three four")
    assert session.state.active_form == "verify_identity" and session.state.requested == "full_name"
    assert session.state.slots["date_of_birth"] is None and session.state.slots["id_digits"] is None
    assert not session.is_verified()
    replies = talk(session, NAME, DOB_SPOKEN, SSN)
    assert "you're verified" in replies[-1]


def test_three_failures_lock_and_transfer_and_the_lock_holds_on_a_new_call(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance")
    for attempt in range(3):
        reply = talk(session, NAME, DOB_SPOKEN, "one two three four")[-1]
        if attempt < 2:
            assert "couldn't verify" in reply and session.state.transferred_to is None
    assert session.state.transferred_to == "+15550100299"
    assert "can't complete verification" in reply and "couldn't verify" not in reply
    assert session.final_outcome("x") == "verification_locked"
    locked = customer(store)
    assert locked.failed_verifications == 3
    assert locked.locked_until == (NOW + timedelta(minutes=30)).astimezone(locked.locked_until.tzinfo)

    # a new call ten minutes later, with the right details: still locked, to a person
    later = DialogueSession(bank, store, now=NOW + timedelta(minutes=10))
    replies = talk(later, "what's my balance", NAME, DOB_SPOKEN, SSN)
    assert "can't complete verification" in replies[-1] and later.state.transferred_to
    assert not later.is_verified()

    # after the configured 30 minutes the lock has run out
    after = DialogueSession(bank, store, now=NOW + timedelta(minutes=31))
    replies = talk(after, "what's my balance", NAME, DOB_SPOKEN, SSN)
    assert "you're verified" in replies[-1]
    unlocked = customer(store)
    assert unlocked.failed_verifications == 0 and unlocked.locked_until is None


def test_three_failures_in_one_call_transfer_even_for_an_unknown_caller(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance")
    for _ in range(3):
        reply = talk(session, "michael brown", DOB_SPOKEN, SSN)[-1]
    assert "can't complete verification" in reply and session.state.transferred_to


def test_the_lockout_time_is_the_flow_variable(store, bank):
    from callflows.verticals import _REGISTRY

    text = (bank.root / "flow.yaml").read_text(encoding="utf-8").replace("lockout_minutes: 30", "lockout_minutes: 5")
    short = _REGISTRY.load("retail_bank", text, version=9001)
    assert short.flow.variables["lockout_minutes"] == 5
    session = DialogueSession(short, store, now=NOW)
    talk(session, "what's my balance")
    for _ in range(3):
        talk(session, NAME, DOB_SPOKEN, "one two three four")
    locked = customer(store)
    assert locked.locked_until == (NOW + timedelta(minutes=5)).astimezone(locked.locked_until.tzinfo)


# --------------------------------------------------------------------------- the `requires` guard


def test_a_form_that_requires_verification_cannot_be_reached_without_it(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session)
    for form in ("check_balance", "recent_transactions", "freeze_card"):
        assert not session.requirement_met(form)
    assert session.requirement_met("verify_identity")
    # even opening the form or completing it directly leads to verification, never to its action
    from callflows.nlu.pipeline import NluResult

    nlu = NluResult(text="", intent="check_balance", confidence=1.0, ranking=())
    out = session._open_form(bank.flow.forms["check_balance"], nlu, {"account_kind": "checking"})
    assert session.state.active_form == "verify_identity" and "name" in out[-1]
    out = session._complete(bank.flow.forms["check_balance"])
    assert session.state.active_form == "verify_identity"
    assert not any("dollars" in part for part in out)
    # a verified slot set by hand is not verification: only completing the form is
    session.state.slots.update(verified=True, customer_id=1)
    assert not session.requirement_met("check_balance") and not session.is_verified()


def test_an_unverified_tracker_is_refused_by_the_action_itself(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    tracker = session.actions.tracker("", 1.0, bank.flow.forms["check_balance"])
    result = bank.actions.run("action_check_balance", tracker, session.actions.domain)
    texts = " ".join(m.get("text") or "" for m in result.responses)
    assert "dollars" not in texts
    assert any((m.get("custom") or m.get("json_message") or {}).get("callflows", {}).get("transfer")
               for m in result.responses)


def test_asking_for_something_else_during_verification_keeps_verifying(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance", NAME)
    replies = talk(session, "actually what are my recent transactions")
    assert session.state.active_form == "verify_identity" and session.state.pending_form == "recent_transactions"
    assert session.state.slots["full_name"] == "Jordan Ellis"  # not asked again
    assert "date of birth" in replies[-1]


def test_start_over_forgets_the_verification(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance", NAME, DOB_SPOKEN, SSN, "checking")
    assert session.is_verified()
    talk(session, "start over")
    assert not session.is_verified() and session.state.slots["customer_id"] is None


# --------------------------------------------------------------------------- loader


FLOW = """\
vertical: t
slots:
  name: person_name
  ok: any
  day: date
intents:
  balance: [what's my balance]
forms:
  verify:
    steps:
      - slot: name
        prompt: Your name?
    action: action_verify
    success_slot: ok
  balance:
    intent: balance
    requires: verify
    steps:
      - slot: day
        prompt: Which day?
    action: action_balance
"""


def test_loader_reads_requires_and_success_slot():
    flow = load_flow_text(FLOW, "t.yaml")
    assert flow.forms["balance"].requires == "verify"
    assert flow.forms["verify"].success_slot == "ok"
    assert flow.required_forms == {"verify"}


@pytest.mark.parametrize("old, new, field, words", [
    ("requires: verify", "requires: verfy", "forms.balance.requires", "form 'verfy' is not defined in forms"),
    ("requires: verify", "requires: balance", "forms.balance.requires", "cannot require itself"),
    ("success_slot: ok", "success_slot: okay", "forms.verify.success_slot", "slot 'okay' is not defined"),
    ("success_slot: ok", "success_slot: name", "forms.verify.success_slot", "set by the form's action only"),
    ("    action: action_verify\n", "", "forms.verify.success_slot", "needs an action"),
    ("    success_slot: ok\n", "    success_slot: ok\n    requires: balance\n", "forms.balance.requires",
     "a required form cannot have requirements"),
])
def test_loader_errors_name_the_line_and_field(old, new, field, words):
    text = FLOW.replace(old, new)
    with pytest.raises(FlowErrors) as info:
        load_flow_text(text, "t.yaml")
    [error] = [e for e in info.value.errors if e.field == field]
    assert words in error.message
    line = text.splitlines()[error.line - 1]
    assert field.rsplit(".", 1)[1] in line


def test_a_name_the_recogniser_misspelt_still_matches_with_exact_date_and_digits():
    from callflows_verticals.retail_bank.bank import names_match

    assert names_match("Linda Ken", "Linda Chen") and names_match("jordan elis", "Jordan Ellis")
    assert not names_match("Maria Chen", "Linda Chen")  # another first name
    assert not names_match("Linda", "Linda Chen") and not names_match("", "Linda Chen")


# --------------------------------------------------------------------------- a noisy line, not an impostor


@pytest.mark.parametrize("heard", ["jordan elis", "jorden ellis", "my name is jordan allis"])
def test_a_misheard_but_close_name_verifies(store, bank, heard):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", heard, "#dtmf 07141988", "#dtmf 4417")
    assert "you're verified" in replies[-1], replies
    assert customer(store).failed_verifications == 0


@pytest.mark.parametrize("heard", ["jordan smith", "michael ellis", "jordan"])
def test_another_name_fails_even_with_the_right_numbers(store, bank, heard):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", heard)
    if session.state.requested == "full_name":  # "jordan" alone: the full name is asked for again
        replies = talk(session, f"{heard} smith")
    replies = talk(session, "#dtmf 07141988", "#dtmf 4417")
    assert "couldn't verify" in replies[-1] and not session.is_verified()


def test_numeric_factors_are_asked_for_on_the_keypad_first(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's my balance", NAME)
    assert "type it on your keypad" in replies[-1]
    assert replies[-1].index("keypad") < replies[-1].index("say it")
    replies = talk(session, "#dtmf 07141988")
    assert "type them on your keypad" in replies[-1]


def test_an_answer_not_understood_is_asked_again_and_never_counts(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance", NAME)
    replies = talk(session, "it is on my license somewhere")  # no date in it: asked again, no attempt spent
    assert session.state.requested == "date_of_birth" and "keypad" in replies[-1]
    talk(session, DOB_SPOKEN)
    replies = talk(session, "one two three")  # three digits: neither a last four nor a ZIP
    assert session.state.requested == "id_digits" and "couldn't verify" not in replies[-1]
    assert not session.state.slots.get("verify_attempts")
    replies = talk(session, SSN)
    assert "you're verified" in replies[-1]
    assert customer(store).failed_verifications == 0 and session.state.slots["verify_attempts"] == 1


def test_unparsed_answers_do_not_lock_but_three_understood_wrong_ones_do(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance")
    for attempt in range(3):
        talk(session, NAME, "it is on my license somewhere", DOB_SPOKEN, "one two")  # two not understood: no count
        assert session.state.requested == "id_digits" and not session.state.transferred_to
        reply = talk(session, "one two three four")[-1]  # understood and wrong: counts
        assert customer(store).failed_verifications == attempt + 1
    assert "can't complete verification" in reply and session.state.transferred_to
