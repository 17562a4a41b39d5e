"""Deciding who answers a call: each rule kind of escalation.yaml (intent + looked-up fact,
slot values, the caller's record, signals: low confidence, re-prompts, out of scope, asking
for a person, frustration, complaint words), the loader's line-numbered errors, budgets, and
the decisions stored in escalation_decisions (SQLite and PostgreSQL: the `store` fixture).
Routine calls never reach the LLM (an LLM that fails the test if asked)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from callflows.dialogue import DialogueSession
from callflows.escalation import load_escalation_text
from callflows.escalation.budget import BudgetKeeper
from callflows.escalation.rules import Context, decide
from callflows.escalation.signals import Signals, SignalTracker
from callflows.escalation.spec import Budget, SignalSettings
from callflows.escalation.store import add_decision, decisions_of, usage_since
from callflows.flow.errors import FlowErrors
from callflows.store.models import Call
from callflows.verticals import load_vertical
from tests.escalation_helpers import JORDAN, NOW, PRIYA, NoLLM, ScriptedLLM, bank_spec, play


@pytest.fixture(scope="module")
def bank():
    return load_vertical("retail_bank")


@pytest.fixture(scope="module")
def spec(bank):
    return bank_spec(bank)


def ctx(**kw) -> Context:
    return Context(**kw)


# --------------------------------------------------------------------------- the rules, one by one


def test_lost_card_with_a_high_balance_goes_to_the_llm(spec):
    d = decide(spec, ctx(intents={"lost_or_stolen_card"}, facts={"customer": {"checking_balance": 5120.4, "tier": "standard"}}))
    assert d.route == "llm" and d.reasons == ["lost_or_stolen_card", "balance over 5000"]
    assert d.line() == "[route: llm — lost_or_stolen_card, balance over 5000]"


def test_lost_card_of_a_premium_customer_goes_to_the_llm(spec):
    d = decide(spec, ctx(intents={"lost_or_stolen_card"}, facts={"customer": {"checking_balance": 10.0, "tier": "premium"}}))
    assert d.route == "llm" and "premium customer" in d.reasons


def test_lost_card_with_a_low_balance_or_unknown_facts_stays(spec):
    assert decide(spec, ctx(intents={"lost_or_stolen_card"}, facts={"customer": {"checking_balance": 2481.56, "tier": "standard"}})).route == "stay"
    assert decide(spec, ctx(intents={"lost_or_stolen_card"})).route == "stay"  # not verified yet: nothing known
    assert decide(spec, ctx(intents={"check_balance"}, facts={"customer": {"checking_balance": 99999, "tier": "premium"}})).route == "stay"


def test_asking_for_a_person_goes_to_a_person_and_beats_the_llm(spec):
    d = decide(spec, ctx(signals=Signals(asked_for_person=1, frustration=2)))
    assert d.route == "person" and d.reasons == ["caller asked for a person"]


def test_frustration_words_go_to_the_llm(spec):
    assert decide(spec, ctx(signals=Signals(frustration=1))).reasons == ["caller frustrated"]


def test_two_low_confidence_turns_in_a_row_go_to_the_llm(spec):
    assert decide(spec, ctx(signals=Signals(low_confidence_streak=1))).route == "stay"
    assert decide(spec, ctx(signals=Signals(low_confidence_streak=2))).route == "llm"


def test_out_of_scope_count_and_complaint_words(spec):
    assert decide(spec, ctx(signals=Signals(out_of_scope=2))).reasons == ["two out-of-scope requests"]
    d = decide(spec, ctx(text="i want to make a complaint about your branch"))
    assert d.route == "person" and d.reasons == ["complaint"]


SLOT_RULES = """
lookups:
  reservation: {function: hotel_reservation, needs: [reservation_ref]}
rules:
  - name: big_cancel
    route: llm
    intent: cancel_reservation
    any:
      - {fact: reservation.nights, over: 4}
      - {slot: guests, at_least: 6}
  - name: reprompted
    route: llm
    when: [{signal: reprompts, at_least: 2}]
"""


def test_slot_values_facts_and_reprompts_of_another_vertical():
    hotel = load_vertical("hotel")
    spec = load_escalation_text(SLOT_RULES, "escalation.yaml", hotel.flow, hotel.actions.has)
    assert decide(spec, ctx(intents={"cancel_reservation"}, facts={"reservation": {"nights": 5}})).reasons == [
        "cancel_reservation", "nights over 4"]
    assert decide(spec, ctx(intents={"cancel_reservation"}, slots={"guests": 6})).route == "llm"
    assert decide(spec, ctx(intents={"cancel_reservation"}, slots={"guests": 2}, facts={"reservation": {"nights": 2}})).route == "stay"
    assert decide(spec, ctx(intents={"book_room"}, slots={"guests": 9})).route == "stay"
    assert decide(spec, ctx(signals=Signals(reprompts=2))).route == "llm"


def test_a_lookup_is_found_by_the_name_its_vertical_registers_and_a_wrong_name_is_an_error():
    from callflows.escalation.lookups import resolve_function
    from callflows_verticals.hotel.lookups import hotel_reservation

    assert resolve_function("hotel_reservation", "hotel") is hotel_reservation  # the engine imports no vertical
    hotel = load_vertical("hotel")
    with pytest.raises(FlowErrors) as info:
        load_escalation_text(SLOT_RULES.replace("hotel_reservation", "hotel_reservaton"), "escalation.yaml",
                             hotel.flow, hotel.actions.has)
    assert "'hotel_reservaton' is not a lookup any installed vertical registers" in str(info.value)


def test_signal_tracker_counts_only_turns_not_understood():
    class N:
        def __init__(self, text, intent="x", confidence=0.9, values=None, yes_no=None):
            self.text, self.intent, self.confidence, self.values, self.yes_no = text, intent, confidence, values or {}, yes_no

    t = SignalTracker(SignalSettings(), 0.4)
    t.observe(N("blah", confidence=0.1), "speech", 0, False)
    t.observe(N("jordan ellis", intent="out_of_scope", confidence=0.1, values={"full_name": [1]}), "speech", 0, False)
    assert t.signals.low_confidence_streak == 0 and t.signals.out_of_scope == 0  # an answer is understood
    t.observe(N("hm", confidence=0.1), "speech", 1, False)
    t.observe(N("uh", confidence=0.2), "speech", 1, False)
    assert t.signals.low_confidence_streak == 2
    t.observe(N("what about bitcoin", intent="out_of_scope", confidence=0.9), "speech", 2, False)
    assert t.signals.low_confidence_streak == 0 and t.signals.out_of_scope == 1 and t.signals.reprompts == 2
    t.observe(N("this is ridiculous, let me talk to someone"), "speech", 0, False)
    assert t.signals.frustration == 1 and t.signals.asked_for_person == 1
    # answering a form's question: "out of scope" is a misheard answer, never an out-of-scope request
    t.observe(N("hold them", intent="out_of_scope", confidence=0.7), "speech", 0, False, answering=True)
    assert t.signals.out_of_scope == 1 and t.signals.low_confidence_streak == 1


# --------------------------------------------------------------------------- the file


def test_every_vertical_has_a_valid_escalation_file():
    from callflows.escalation import for_vertical

    for name in ("retail_bank", "dental_clinic", "hotel"):
        spec = for_vertical(load_vertical(name))
        assert spec is not None and spec.rules and spec.tools and spec.instructions


def test_errors_name_the_line_and_the_field(bank):
    text = """instructions: hi
rules:
  - name: a
    route: maybe
    intent: no_such_intent
    when: [{signal: moon_phase, at_least: 1}]
tools:
  freeze:
    description: freeze
    action: action_nothing
    form: freeze_card
    args:
      card_problem: {slot: nope}
"""
    with pytest.raises(FlowErrors) as info:
        load_escalation_text(text, "escalation.yaml", bank.flow, bank.actions.has)
    errors = {(e.line, e.field.split(" ")[0] if "(" not in e.field else e.field) for e in info.value.errors}
    text_errors = str(info.value)
    assert "escalation.yaml:4: rules[0] (a).route: must be llm or person" in text_errors
    assert "escalation.yaml:5:" in text_errors and "no_such_intent" in text_errors
    assert "unknown signal 'moon_phase'" in text_errors
    assert "escalation.yaml:10: tools.freeze.action: the vertical has no action 'action_nothing'" in text_errors
    assert "requires: verify_identity" in text_errors  # a tool cannot drop its form's verification
    assert "'nope' is not a slot" in text_errors
    assert errors


def test_environment_overrides_timeout_role_and_budgets(bank, monkeypatch):
    from callflows.escalation import apply_env

    spec = bank_spec(bank)
    env = {"CALLFLOWS_ESCALATION_TIMEOUT_S": "2.5", "CALLFLOWS_ESCALATION_ROLE": "small",
           "CALLFLOWS_ESCALATION_DAY_TOKENS": "1000"}
    out = apply_env(spec, env)
    assert out.llm.timeout_s == 2.5 and out.llm.role == "small" and out.budget.day_tokens == 1000


# --------------------------------------------------------------------------- budgets


def test_budget_per_call_and_per_day():
    keeper = BudgetKeeper(Budget(call_seconds=10))
    assert keeper.exceeded() is None
    keeper.add(11.0, 500)
    assert "per call" in keeper.exceeded()
    day = BudgetKeeper(Budget(day_tokens=1000), day_usage=lambda since: __import__(
        "callflows.escalation.store", fromlist=["Usage"]).Usage(1.0, 990, 3))
    assert day.exceeded() is None
    day.add(1.0, 20)
    assert "per day" in day.exceeded()


# --------------------------------------------------------------------------- in a call, stored


def test_routine_balance_call_never_reaches_the_llm_and_each_turn_is_recorded(store, bank, spec):
    session = DialogueSession(bank, store, now=NOW, escalation=spec, llm=NoLLM())
    replies = play(session, "how much money do i have", *PRIYA, "all of them", "no thanks")
    assert "251,300 dollars" in replies[-2].text and all(r.sentences is None for r in replies)
    with store.session() as s:
        rows = decisions_of(s, session.call_id)
    assert len(rows) == 6 and {r.route for r in rows} == {"stay"}
    assert all(r.reasons == [] and set(r.signals) >= {"low_confidence_streak", "frustration"} for r in rows)


def test_let_me_talk_to_someone_transfers_with_the_reason_stored(store, bank, spec):
    session = DialogueSession(bank, store, now=NOW, escalation=spec, llm=NoLLM())
    replies = play(session, "let me talk to someone")
    assert replies[-1].transfer_to == "+15550100299"
    assert replies[-1].decision == {"route": "person", "reasons": ["caller asked for a person"], "rules": ["asked_for_person"]}
    with store.session() as s:
        rows = decisions_of(s, session.call_id)
        call = s.get(Call, session.call_id)
    assert [(r.route, r.reasons) for r in rows] == [("person", ["caller asked for a person"])]
    assert call.transferred and call.summary["handoff"]["route"] == "person"
    assert call.summary["handoff"]["reasons"] == ["caller asked for a person"]


def test_premium_lost_card_goes_to_the_llm_after_verification_before_the_freeze(store, bank, spec):
    llm = ScriptedLLM({"say": "I'm so sorry about your card. I can freeze it right now. Shall I?"})
    session = DialogueSession(bank, store, now=NOW, escalation=spec, llm=llm)
    replies = play(session, "someone stole my wallet with my card in it", *PRIYA)
    last = replies[-1]
    assert last.decision["route"] == "llm" and last.decision["reasons"] == ["lost_or_stolen_card", "balance over 5000", "premium customer"]
    assert last.spoken[0] == "Thank you, you're verified." and "freeze it right now" in last.text
    assert not last.transfer_to and len(llm.prompts) == 1
    with store.session() as s:
        from callflows_verticals.retail_bank import bank as bank_repo

        rows = decisions_of(s, session.call_id)
        cid = session.state.slots["customer_id"]
        assert all(c.status == "active" for c in bank_repo.cards_of(s, cid))  # the LLM decides, nothing ran yet
    assert rows[-1].route == "llm" and rows[-1].reasons == ["lost_or_stolen_card", "balance over 5000", "premium customer"]
    assert rows[-1].llm_seconds is not None and rows[-1].llm_tokens > 0
    assert [r.route for r in rows[:-1]] == ["stay"] * 3


def test_lost_card_of_a_standard_customer_with_a_low_balance_stays_on_the_small_model(store, bank, spec):
    session = DialogueSession(bank, store, now=NOW, escalation=spec, llm=NoLLM())
    replies = play(session, "i lost my card", *JORDAN)
    assert "frozen your debit card ending in 5 5 2 1" in replies[-1].text and replies[-1].transfer_to


def test_budget_spent_today_sends_the_llm_route_to_a_person(store, bank):
    spec = bank_spec(bank, budget=Budget(day_seconds=60))
    with store.session() as s:  # another call today used the day's LLM seconds
        s.add(Call(id="earlier-call", vertical="retail_bank", channel="text"))
        s.flush()
        add_decision(s, "earlier-call", 3, "llm", ["caller frustrated"], llm_seconds=75.0, llm_tokens=900)
    with store.session() as s:
        assert usage_since(s, datetime.now(timezone.utc).replace(hour=0, minute=0), "retail_bank").seconds == 75.0
    llm = ScriptedLLM()
    session = DialogueSession(bank, store, now=NOW, escalation=spec, llm=llm)
    replies = play(session, "this is ridiculous")
    assert replies[-1].transfer_to and not llm.prompts
    assert replies[-1].decision["route"] == "person"
    assert any("budget per day" in r for r in replies[-1].decision["reasons"])


def test_budget_per_call_exceeded_mid_call_goes_to_a_person(store, bank):
    spec = bank_spec(bank, budget=Budget(call_tokens=100))
    llm = ScriptedLLM({"say": "I understand, that is annoying. What happened?"})
    session = DialogueSession(bank, store, now=NOW, escalation=spec, llm=llm)
    first = play(session, "this is ridiculous")[-1]
    assert "annoying" in first.text and not first.transfer_to
    second = play(session, "my card does not work")[-1]
    assert second.transfer_to and len(llm.prompts) == 1  # the LLM is not asked again
    assert second.decision["route"] == "person" and any("budget per call" in r for r in second.decision["reasons"])
    with store.session() as s:
        call = s.get(Call, session.call_id)
    assert call.transferred and call.summary["llm_usage"]["llm_tokens"] >= 100
    assert any("budget per call" in r for r in call.summary["handoff"]["reasons"])
