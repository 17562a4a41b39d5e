"""Northgate Bank's custom logic, with the rasa-sdk interface.

The verification form's action checks full name + date of birth + the last four digits of
the SSN or of an account number, or the ZIP code, against the store, counts failures and
locks a customer after `max_verification_attempts` (flow variables); it never says which
detail was wrong. After verification: balances, recent transactions, and freezing a lost,
stolen, swallowed or compromised card before handing the call to a person with a summary.
The demo customers of bank.yaml are seeded into the store on first use.

Nothing personal is logged here: customer ids and outcomes only.
"""

from __future__ import annotations

import re
import threading
import weakref
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import IntegrityError

from callflows.actions.context import call_id, call_now, store_for
from callflows.actions.signals import signal
from callflows.logs import call_logger
from callflows.nlu.values import normalize_asr
from callflows.nlu.typed_name import typed_keys
from callflows.nlu.values.digits import digit_runs
from callflows_verticals.retail_bank import bank as bank_repo

VERTICAL = "retail_bank"
VERIFY_FORM = "verify_identity"
MAX_HEARD_MISSES = 2  # failed checks on details heard (not typed) before failures count: then keys only
DEFAULTS = {"lockout_minutes": 30, "max_verification_attempts": 3, "transactions_to_read": 3}
_FACTOR_CUES = (
    ("zip", re.compile(r"\b(zip|postal|post code|postcode)\b")),
    ("account", re.compile(r"\baccount\b")),
    ("ssn", re.compile(r"\b(social|ssn|security)\b")),
)

_seed_lock = threading.Lock()
_seeded: "weakref.WeakSet[Any]" = weakref.WeakSet()


# --------------------------------------------------------------------------- #
# data and settings
# --------------------------------------------------------------------------- #


@lru_cache(maxsize=1)
def bank_data() -> dict[str, Any]:
    """The demo data file (customers with accounts, transactions and cards)."""
    data = yaml.safe_load((Path(__file__).parent / "bank.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("customers"), list):
        raise bank_repo.SeedError("bank.yaml: customers: must be a list of customers")
    return data


def ensure_demo_data(store: Any, now: datetime | None = None) -> None:
    """Seed bank.yaml's customers into `store` once (idempotent; concurrent calls wait)."""
    with _seed_lock:
        if store in _seeded:
            return
        for attempt in range(2):
            try:
                with store.session() as s:
                    bank_repo.seed_customers(s, VERTICAL, bank_data()["customers"], now=now)
                break
            except IntegrityError:  # another process seeded the same rows first: look again
                if attempt:
                    raise
        _seeded.add(store)


def flow_variable(tracker: Tracker, name: str) -> int:
    """A whole-number flow variable (lockout_minutes...), from the call's metadata."""
    variables = (tracker.latest_message or {}).get("metadata", {}).get("variables") or {}
    try:
        return int(variables.get(name, DEFAULTS[name]))
    except (TypeError, ValueError):
        return int(DEFAULTS[name])


def _log(tracker: Tracker) -> Any:
    return call_logger(__name__, call_id(tracker))


# --------------------------------------------------------------------------- #
# speaking numbers
# --------------------------------------------------------------------------- #


def spaced(digits: str) -> str:
    """'5521' -> '5 5 2 1' (read digit by digit)."""
    return " ".join(digits)


def speak_cents(cents: int) -> str:
    """2481_56 -> '2,481 dollars and 56 cents' (thousands with commas, as a person reads it)."""
    cents = abs(int(cents))
    dollars, rest = divmod(cents, 100)
    d = f"{dollars:,} dollar{'s' if dollars != 1 else ''}"
    if not rest:
        return d
    c = f"{rest} cent{'s' if rest != 1 else ''}"
    return f"{d} and {c}" if dollars else c


def speak_day(posted: datetime, now: datetime) -> str:
    """'today', 'yesterday', 'on Tuesday' within a week, else 'on November 12'."""
    local = posted.astimezone(now.tzinfo) if now.tzinfo else posted
    days = (now.date() - local.date()).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"on {local.strftime('%A')}"
    return f"on {local.strftime('%B')} {local.day}"


def describe_transaction(tx: bank_repo.TransactionInfo, now: datetime) -> str:
    day = speak_day(tx.posted_at, now)
    if tx.amount_cents < 0:
        return f"{day}, {speak_cents(tx.amount_cents)} at {tx.description}"
    return f"{day}, a credit of {speak_cents(tx.amount_cents)} from {tx.description}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _verified_customer(dispatcher: CollectingDispatcher, tracker: Tracker) -> int | None:
    """The verified caller's customer id; never trusts an unverified call (the engine's
    `requires` already guarantees it, this is the second lock on the door)."""
    cid = tracker.get_slot("customer_id")
    if tracker.get_slot("verified") is True and isinstance(cid, int):
        return cid
    _log(tracker).error("bank action reached without verification")
    dispatcher.utter_message(response="not_verified")
    signal(dispatcher, transfer=True, outcome="not_verified")
    return None


# --------------------------------------------------------------------------- #
# identity verification
# --------------------------------------------------------------------------- #


class ValidateVerifyIdentity(FormValidationAction):
    """id_digits: four digits (SSN or account) or five (ZIP); notes which one the caller named."""

    def name(self) -> str:
        return "validate_verify_identity"

    def validate_id_digits(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: dict[str, Any]) -> dict[str, Any]:
        text = normalize_asr((tracker.latest_message or {}).get("text", "") or "")
        digits = "".join(ch for ch in str(value or "") if ch.isdigit())
        if len(digits) not in (4, 5):  # "the last four are 1 2 3 4": 'four' is not the answer
            runs = [r.digits for r in digit_runs(text) if len(r.digits) in (4, 5)]
            digits = runs[-1] if runs else ""
        if not digits:
            dispatcher.utter_message(response="verify_repeat_digits")
            return {"id_digits": None, "id_factor": None}
        factor = next((name for name, cue in _FACTOR_CUES if cue.search(text)), None)
        if factor in ("ssn", "account") and len(digits) != 4 or factor == "zip" and len(digits) != 5:
            factor = None
        return {"id_digits": digits, "id_factor": factor}


class ActionVerifyIdentity(Action):
    def name(self) -> str:
        return "action_verify_identity"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        log = _log(tracker)
        max_failures = max(1, flow_variable(tracker, "max_verification_attempts"))
        lock_minutes = max(1, flow_variable(tracker, "lockout_minutes"))
        now = call_now(tracker)
        store = store_for(tracker)
        ensure_demo_data(store, now)
        with store.session() as s:
            result = bank_repo.verify_identity(
                s, VERTICAL, tracker.get_slot("full_name") or "", tracker.get_slot("date_of_birth") or "",
                str(tracker.get_slot("id_digits") or ""), factor=tracker.get_slot("id_factor"), now=now,
                max_failures=max_failures, lock_minutes=lock_minutes)
        attempts = int(tracker.get_slot("verify_attempts") or 0) + 1
        if result.verified:
            log.info("caller verified (customer %s, attempt %d)", result.customer_id, attempts)
            dispatcher.utter_message(response="verified")
            signal(dispatcher, outcome="identity_verified")
            return [SlotSet("verified", True), SlotSet("customer_id", result.customer_id),
                    SlotSet("verify_attempts", attempts)]
        heard = not all_understood(tracker)
        # a name or date of birth the line may have garbled matches nobody: no failed attempt, up
        # to MAX_HEARD_MISSES; a wrong last four for a customer's own name and date of birth counts
        # as the store counts it (an impostor who knows those gets no free guesses)
        misses = heard_misses(tracker)
        free = heard and result.outcome != "locked" and not result.known and misses < MAX_HEARD_MISSES
        counters = [SlotSet("verify_heard_misses", misses + 1)] if free else [SlotSet("verify_attempts", attempts)]
        if not free and (result.outcome == "locked" or attempts >= max_failures):
            log.warning("identity verification locked after %d attempt(s) in this call", attempts)
            dispatcher.utter_message(response="verify_locked")
            signal(dispatcher, transfer=True, outcome="verification_locked",
                   summary={"reason": "identity_verification_locked", "attempts": attempts, "verified": False})
            return [SlotSet("verified", False), *counters]
        log.info("identity verification failed (%s)", "not counted: details heard" if free else f"attempt {attempts}")
        # worded the same whether or not it counted: the caller never learns what matched
        dispatcher.utter_message(response="verify_failed_heard" if heard else "verify_failed")
        return [*_ask_again(), *counters, *([SlotSet("verify_by_keys", True)] if heard else [])]


def _ask_again() -> list[dict[str, Any]]:
    """All three details asked again (never saying which one was wrong)."""
    return [SlotSet("full_name", None), SlotSet("date_of_birth", None), SlotSet("id_digits", None),
            SlotSet("id_factor", None), SlotSet("verified", False), ActiveLoop(VERIFY_FORM)]


def heard_misses(tracker: Tracker) -> int:
    return int(tracker.get_slot("verify_heard_misses") or 0)


def all_understood(tracker: Tracker) -> bool:
    """Whether every detail of this attempt is sure to be what the caller gave: typed (the name on
    its keys, the date of birth and digits on the keypad), or written in a text chat. A detail
    heard over the phone may be the line's mistake ("Paloma Chaudhry" heard "Paloma on the
    Showery"): a failure with one is not counted against the caller, up to MAX_HEARD_MISSES."""
    metadata = (tracker.latest_message or {}).get("metadata", {})
    if metadata.get("channel") != "phone":
        return True
    sources = metadata.get("sources") or {}
    name_typed = typed_keys(tracker.get_slot("full_name")) is not None
    return name_typed and all(sources.get(slot) == "dtmf" for slot in ("date_of_birth", "id_digits"))


# --------------------------------------------------------------------------- #
# after verification
# --------------------------------------------------------------------------- #


def _kind(tracker: Tracker) -> str | None:
    kind = tracker.get_slot("account_kind")
    return None if kind in (None, "all") else str(kind)


class ActionCheckBalance(Action):
    def name(self) -> str:
        return "action_check_balance"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        cid = _verified_customer(dispatcher, tracker)
        if cid is None:
            return []
        kind = _kind(tracker)
        with store_for(tracker).session() as s:
            accounts = bank_repo.accounts_of(s, cid, kind)
            if not accounts and kind:
                dispatcher.utter_message(response="no_account")
                accounts = bank_repo.accounts_of(s, cid)
        parts = [f"your {a.kind} account ending in {spaced(a.number_last4)} has a balance of "
                 f"{'minus ' if a.balance_cents < 0 else ''}{speak_cents(a.balance_cents)}" for a in accounts]
        if parts:
            dispatcher.utter_message(text=_sentence("; and ".join(parts)) + ".")
        signal(dispatcher, outcome="balance_given")
        return []


class ActionRecentTransactions(Action):
    def name(self) -> str:
        return "action_recent_transactions"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        cid = _verified_customer(dispatcher, tracker)
        if cid is None:
            return []
        kind = _kind(tracker)
        count = min(5, max(3, flow_variable(tracker, "transactions_to_read")))
        now = call_now(tracker)
        with store_for(tracker).session() as s:
            if kind and not bank_repo.accounts_of(s, cid, kind):
                dispatcher.utter_message(response="no_account")
                kind = None
            transactions = bank_repo.recent_transactions(s, cid, kind, limit=count)
        if not transactions:
            dispatcher.utter_message(response="no_transactions")
        else:
            where = f"on your {kind} account" if kind else "on your accounts"
            said = "; ".join(describe_transaction(t, now) for t in transactions)
            dispatcher.utter_message(text=f"Here are your last {len(transactions)} transactions {where}: {said}.")
        signal(dispatcher, outcome="transactions_given")
        return []


class ActionFreezeCard(Action):
    """Freeze the verified caller's active cards, then hand the call to a person with a summary."""

    def name(self) -> str:
        return "action_freeze_card"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        cid = _verified_customer(dispatcher, tracker)
        if cid is None:
            return []
        problem = tracker.get_slot("card_problem") or "lost"
        with store_for(tracker).session() as s:
            frozen = bank_repo.freeze_cards(s, cid, call_id=call_id(tracker), now=call_now(tracker))
            cards = bank_repo.cards_of(s, cid)
            tier = bank_repo.customer_tier(s, cid)
        if frozen:
            named = " and your ".join(f"{c.kind} card ending in {spaced(c.last4)}" for c in frozen)
            them = "them" if len(frozen) > 1 else "it"
            dispatcher.utter_message(text=f"I've frozen your {named}, so nobody can use {them}.")
        elif cards:
            dispatcher.utter_message(text="Your card is already frozen, so nobody can use it.")
        else:
            dispatcher.utter_message(response="no_active_card")
        if frozen or cards:
            dispatcher.utter_message(response="card_frozen_handoff")
        _log(tracker).info("card problem (%s): %d card(s) frozen for customer %d", problem, len(frozen), cid)
        signal(dispatcher, transfer=True, outcome="card_frozen" if frozen else "card_problem_transferred",
               summary={"reason": f"card_{problem}", "verified": True, "customer_id": cid, "tier": tier,
                        "cards_frozen": [c.id for c in frozen],
                        "next_step": "order a replacement card and review recent payments"})
        return []
