"""Scripted calls to Northgate Bank (the retail_bank vertical), asserting what ends up in
the database: balances and transactions after verification, a lost card frozen and the
call handed to a person with a summary, personal data masked everywhere, and Banking77
questions reaching their answers.

The call's clock is fixed (Monday 23 November 2026, 10:00 in Chicago); runs on SQLite and
PostgreSQL (the `store` fixture).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from callflows.dialogue import DialogueSession
from callflows.eval.data import data_dir
from callflows_verticals.retail_bank import bank as bank_repo
from callflows.store.models import Call, Customer, SlotValue, Turn
from callflows_verticals.retail_bank.models import Account, AccountTransaction, Card
from callflows.verticals import load_vertical
from tests.fixtures.db import schema_diff

TZ = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
CATEGORIES = data_dir() / "banking77_categories.json"  # the project's own lookup (CALLFLOWS_DEV_DATA, ../shared, ...)

JORDAN = ("jordan ellis", "july fourteenth nineteen eighty eight", "four four one seven")
PRIYA = ("my name is priya raman", "february third nineteen seventy five", "nine zero two three")


@pytest.fixture(scope="module")
def bank():
    return load_vertical("retail_bank")


def actions_module():
    return __import__("callflows_vertical_retail_bank_actions")  # loaded with the vertical


def talk(session: DialogueSession, *lines: str) -> list[str]:
    replies = [session.start().text] if session.recorder.seq == 0 else []
    for line in lines:
        if line.startswith("#dtmf "):
            replies.append(session.handle_text(line[6:], source="dtmf").text)
        else:
            replies.append(session.handle_text(line).text)
    return replies


def stored(store, call_id: str) -> tuple[list[str], dict[str, str | None], Call]:
    with store.session() as s:
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == call_id).order_by(Turn.seq))]
        slots = [(v.name, v.value_masked) for v in s.scalars(select(SlotValue).where(SlotValue.call_id == call_id))]
        call = s.get(Call, call_id)
    return texts, slots, call


# --------------------------------------------------------------------------- the demo call


def test_lost_card_is_frozen_and_the_call_handed_over_with_a_summary(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "hi i lost my card")
    assert "verify your identity" in replies[-1]
    replies = talk(session, *JORDAN)
    assert "you're verified" in replies[-1]
    assert "frozen your debit card ending in 5 5 2 1" in replies[-1]
    assert "connect you" in replies[-1]
    assert session.state.transferred_to == "+15550100299" and session.state.ended
    with store.session() as s:
        card = s.scalars(select(Card).where(Card.last4 == "5521")).one()
        assert card.status == "frozen" and card.frozen_call_id == session.call_id
        assert card.frozen_at is not None
        others = s.scalars(select(Card).where(Card.last4 != "5521")).all()
        assert others and all(c.status == "active" for c in others)
    _, _, call = stored(store, session.call_id)
    assert call.outcome == "card_frozen" and call.transferred and call.transfer_to == "+15550100299"
    assert call.summary["reason"] == "card_lost" and call.summary["verified"] is True
    assert call.summary["cards_frozen"] == [card.id]


def test_stolen_card_of_a_premium_customer_freezes_both_cards(store, bank):
    # the small model's own path (with escalation on, a premium customer's card goes to the LLM:
    # tests/test_escalation_agent.py)
    session = DialogueSession(bank, store, now=NOW, escalation=None)
    replies = talk(session, "someone stole my wallet with my card in it", *PRIYA)
    assert "you're verified" in replies[-1]
    assert "debit card ending in 8 8 3 4 and your credit card ending in 1 2 0 9" in replies[-1]
    _, _, call = stored(store, session.call_id)
    assert call.summary["reason"] == "card_stolen" and call.summary["tier"] == "premium"


def test_atm_swallowed_card_goes_the_same_way(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "the atm ate my card", *JORDAN)
    assert "frozen your debit card" in replies[-1] and session.state.transferred_to
    _, _, call = stored(store, session.call_id)
    assert call.summary["reason"] == "card_swallowed"


# --------------------------------------------------------------------------- balances and transactions


def test_balance_of_all_accounts_of_the_premium_customer(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "how much money do i have", *PRIYA, "all of them")
    assert "checking account ending in 2 4 5 6 has a balance of 48,210 dollars and 33 cents" in replies[-1]
    assert "savings account ending in 7 7 1 0 has a balance of 251,300 dollars" in replies[-1]
    _, _, call = stored(store, session.call_id)
    replies = talk(session, "no thanks")
    assert "goodbye" in replies[-1].lower()
    _, _, call = stored(store, session.call_id)
    assert call.outcome == "balance_given"


def test_recent_transactions_read_in_dollars_newest_first(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what are my recent transactions", *JORDAN, "checking")
    said = replies[-1]
    assert said.startswith("Here are your last 3 transactions on your checking account")
    assert "yesterday, 54 dollars and 20 cents at Whole Foods Market" in said
    assert "2 dollars and 50 cents at Chicago Transit Authority" in said
    assert "a credit of 2,150 dollars from Acme Corporation payroll" in said
    assert "ComEd" not in said  # only the configured three
    assert said.index("Whole Foods") < said.index("Chicago Transit") < said.index("Acme")


def test_second_request_in_the_call_needs_no_second_verification(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance", *JORDAN, "checking")
    replies = talk(session, "yes", "what are my recent transactions")
    assert "verify" not in replies[-1] and session.state.active_form == "recent_transactions"
    replies = talk(session, "savings")
    assert "Interest paid" in replies[-1] and "Transfer from checking" in replies[-1]


def test_an_account_the_customer_does_not_have(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "check my balance", "samuel okafor", "november thirtieth nineteen ninety two",
                   "#dtmf 3158#", "savings")
    assert "don't see a savings account" in replies[-1] and "312 dollars and 8 cents" in replies[-1]


# --------------------------------------------------------------------------- personal data


SECRETS = ("1988", "07141988", "4417", "4 4 1 7", "four four one seven", "nineteen eighty eight", "7891",
           "1988-07-14", "july fourteenth", "60614", "5521", "5 5 2 1", "Jordan Ellis", "jordan ellis")


def test_personal_data_is_masked_in_turns_and_slots_and_absent_from_logs(store, bank, caplog):
    caplog.set_level(logging.DEBUG)
    session = DialogueSession(bank, store, now=NOW)
    talk(session, "what's my balance", "my name is jordan ellis")
    talk(session, "#dtmf 07141988#")
    talk(session, "four four one seven", "checking", "no thanks")
    session.end()
    lost = DialogueSession(bank, store, now=NOW)
    talk(lost, "i lost my card", "jordan ellis", "july fourteenth nineteen eighty eight", "#dtmf 7891#")
    assert lost.state.transferred_to
    for call_id in (session.call_id, lost.call_id):
        texts, slots, call = stored(store, call_id)
        dump = json.dumps([texts, slots, call.summary])
        for secret in SECRETS:
            assert secret not in dump, (secret, dump)
        values = dict(slots)
        assert values["full_name"] == "J***** E****"
        assert values["date_of_birth"] == "****-**-**"
        assert set(values["id_digits"]) == {"*"}
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "verified" in log_text  # the actions did log, without the details
    for secret in SECRETS:
        assert secret not in log_text, secret


# --------------------------------------------------------------------------- Banking77 routing


@pytest.mark.parametrize("said, answer", [
    ("my pin is blocked", "A PIN is blocked after three wrong tries"),
    ("how do i change my pin", "change your PIN at any of our ATMs"),
    ("my card hasn't arrived yet", "New cards usually arrive"),
    ("can i use apple pay", "Apple Pay, Google Pay"),
    ("why was my card payment declined", "A card payment can be declined"),
    ("why did the atm charge me a fee", "ATM withdrawals are free at Allpoint"),
])
def test_banking77_questions_reach_their_answer(store, bank, said, answer):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, said)
    assert answer in replies[-1], replies[-1]
    assert replies[-1].endswith("Is there anything else I can help you with?")
    assert session.state.transferred_to is None


@pytest.mark.parametrize("said", ["i want to close my account", "i was charged twice for the same thing"])
def test_banking77_intents_that_need_a_person_transfer(store, bank, said):
    session = DialogueSession(bank, store, now=NOW)
    talk(session, said)
    assert session.state.transferred_to == "+15550100299"


def test_bank_faq_answers_without_verification(store, bank):
    session = DialogueSession(bank, store, now=NOW)
    replies = talk(session, "what's your routing number")
    assert "routing number is" in replies[-1] and not session.is_verified()


def test_flow_declares_every_banking77_intent(bank):
    categories = json.loads(CATEGORIES.read_text(encoding="utf-8"))
    assert len(categories) == 77
    forms_by_intent = {f.intent for f in bank.flow.forms.values()}
    for name in categories:
        intent = bank.flow.intents[name]
        assert 3 <= len(intent.examples) <= 6, name
        assert intent.response or intent.transfer or name in forms_by_intent, name
    for name in ("check_balance", "recent_transactions", "lost_or_stolen_card", "card_swallowed", "compromised_card"):
        form = bank.flow.form_for_intent(name)
        assert form is not None and form.requires == "verify_identity"
    assert len(bank.flow.faq) >= 15


# --------------------------------------------------------------------------- store


def _counts(store) -> tuple[int, ...]:
    with store.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Customer, Account, AccountTransaction, Card))


def test_demo_data_is_seeded_once_even_concurrently(store, bank):
    customers = actions_module().bank_data()["customers"]
    errors: list[BaseException] = []

    def seed() -> None:
        try:
            with store.session() as s:
                bank_repo.seed_customers(s, "retail_bank", customers, now=NOW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=seed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    first = _counts(store)
    assert first == (4, 6, 18, 5)
    actions_module().ensure_demo_data(store, NOW)
    seed()
    assert _counts(store) == first


def test_bank_migration_matches_the_models(store):
    diff = schema_diff(store)
    bank_tables = {"accounts", "account_transactions", "cards"}
    mine = [d for d in diff if any(t in repr(d) for t in bank_tables)]
    assert not mine, mine
