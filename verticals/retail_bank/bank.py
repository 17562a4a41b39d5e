"""Repository functions for the retail bank: identity checks, accounts, transactions, cards.

Like :mod:`callflows.store.repo` (whose customers they share) they take a ``Session``, flush but never commit. What
crosses this boundary are small frozen dataclasses, never ORM rows, and nothing here logs
personal data (names, dates of birth, SSN or account digits): only customer ids.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import jellyfish
from rapidfuzz import fuzz
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from callflows.nlu.keyed_names import keys_of
from callflows.nlu.typed_name import typed_keys
from callflows.store import repo
from callflows.store.models import Customer
from callflows.store.types import to_utc, utcnow

from .models import Account, AccountTransaction, Card

log = logging.getLogger(__name__)

#: PostgreSQL advisory lock taken while demo data is seeded ("CFbk").
SEED_LOCK_ID = 0x4346626B
NAME_MATCH = 75  # rapidfuzz ratio (0-100) at which a name part heard by the recogniser is the one on file

Factor = Literal["ssn", "account", "zip"]
Outcome = Literal["verified", "failed", "locked"]


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of one identity check. ``customer_id`` is set only when verified."""

    outcome: Outcome
    customer_id: int | None = None
    tier: str | None = None
    known: bool = False
    """A customer has this name and date of birth (a failure was counted on them). Never told to
    the caller: the answer is worded the same either way."""

    @property
    def verified(self) -> bool:
        return self.outcome == "verified"


@dataclass(frozen=True)
class AccountInfo:
    id: int
    kind: str
    number_last4: str
    balance_cents: int
    currency: str


@dataclass(frozen=True)
class TransactionInfo:
    posted_at: datetime
    description: str
    amount_cents: int
    account_kind: str


@dataclass(frozen=True)
class CardInfo:
    id: int
    kind: str
    last4: str
    status: str


# --------------------------------------------------------------------------- #
# identity verification
# --------------------------------------------------------------------------- #


def _same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two digit strings (None never matches)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


def factor_matches(customer: Customer, accounts: list[Account], code: str, factor: Factor | None = None) -> bool:
    """Whether `code` is the customer's SSN last 4, an account number's last 4 or the ZIP
    code (only the named `factor` when the caller said which)."""
    digits = "".join(ch for ch in code if ch.isdigit())
    checks: list[bool] = []
    if factor in (None, "ssn") and len(digits) == 4:
        checks.append(_same(customer.ssn_last4, digits))
    if factor in (None, "account") and len(digits) == 4:
        numbers = [(customer.account_number or "")[-4:]] + [a.number_last4 for a in accounts]
        checks += [_same(n, digits) for n in numbers if n]
    if factor in (None, "zip") and len(digits) == 5:
        checks.append(_same((customer.zip_code or "")[:5], digits))
    return any(checks)


def names_match(heard: str, on_file: str, threshold: float = NAME_MATCH) -> bool:
    """Whether a name as the speech recogniser heard it is the name on file: case, spacing and
    punctuation ignored, the first and the last name compared each on its own (a middle name
    aside), spelling and sound both tolerated ("Linda Ken" for Linda Chen, "Jordan Elis",
    "Priya Rahman"), a first name alone or another surname never. Only ever used together with
    an exact date of birth and an exact last-4 / ZIP."""
    a, b = _name_key(heard).split(), _name_key(on_file).split()
    if len(a) < 2 or len(b) < 2:
        return a == b and bool(a)
    return _part_matches(a[0], b[0], threshold) and _part_matches(a[-1], b[-1], threshold)


def _part_matches(heard: str, on_file: str, threshold: float) -> bool:
    """One name part: the same spelling give or take a letter or two (rapidfuzz ratio), the same
    sound (jellyfish metaphone), or a near sound of a near length ("ken" for "chen")."""
    if heard == on_file or fuzz.ratio(heard, on_file) >= threshold:
        return True
    sound_a, sound_b = jellyfish.metaphone(heard), jellyfish.metaphone(on_file)
    if sound_a and sound_a == sound_b:
        return True
    return (fuzz.ratio(sound_a, sound_b) >= 50 and fuzz.ratio(heard, on_file) >= 55
            and abs(len(heard) - len(on_file)) <= 1)


def name_matches(given: str, on_file: str) -> bool:
    """Whether the name the caller gave is the one on file: a name typed on the keypad
    (flow.yaml `keys: match_on_file`) by its keys (:func:`keys_match`), a name heard by
    :func:`names_match`."""
    keys = typed_keys(given)
    return keys_match(keys, on_file) if keys is not None else names_match(given, on_file)


def keys_match(keys: str, on_file: str) -> bool:
    """Whether keypad ``keys`` (one per letter) type the name on file: its last name (a surname
    of several words, "De La Cruz", from any of them on), or the whole name typed without the
    spaces, the first name then the last (a middle name left out or typed too). Several names
    share keys (Ellis and Elkis), which is why, like a name heard, it only ever counts together
    with an exact date of birth and an exact last-4 / ZIP."""
    words = _name_key(on_file).split()
    if not words or not keys:
        return False
    typings = {keys_of("".join(words[i:])) for i in range(1, len(words))} if len(words) > 1 else {keys_of(words[0])}
    typings |= {keys_of(words[0] + words[-1]), keys_of("".join(words))}
    return any(hmac.compare_digest(keys.encode(), t.encode()) for t in typings if t)


def _name_key(name: str) -> str:
    return " ".join(re.sub(r"[^a-z ]", " ", (name or "").lower()).split())


def verify_identity(
    session: Session,
    vertical: str,
    full_name: str,
    date_of_birth: date | str,
    code: str,
    *,
    factor: Factor | None = None,
    now: datetime | None = None,
    max_failures: int = 3,
    lock_minutes: int = 30,
) -> VerificationResult:
    """Check name + date of birth + one more factor against the vertical's customers.

    A locked customer stays ``locked`` whatever is given; a lock that has run out is
    cleared (with its failure count). A wrong factor counts a failure on every customer
    with that name and date of birth, and the ``max_failures``-th locks them for
    ``lock_minutes``; the result never says which detail was wrong.
    """
    at = to_utc(now) if now else utcnow()
    try:
        dob = date_of_birth if isinstance(date_of_birth, date) else date.fromisoformat(str(date_of_birth)[:10])
    except ValueError:
        return VerificationResult("failed")
    rows = [c for c in session.scalars(
        select(Customer)
        .where(Customer.vertical == vertical, Customer.date_of_birth == dob)
        .order_by(Customer.id)
        .with_for_update()  # concurrent calls for one customer count their failures one by one
        .execution_options(populate_existing=True)
    ) if name_matches(full_name, c.full_name)]
    if not rows:
        return VerificationResult("failed")
    for customer in rows:
        if customer.locked_until is not None and customer.locked_until <= at:
            customer.locked_until, customer.failed_verifications = None, 0  # the lock ran out
    if any(repo.is_locked(c, at) for c in rows):
        session.flush()
        log.info("identity check refused: customer locked")
        return VerificationResult("locked")
    for customer in rows:
        accounts = list(session.scalars(select(Account).where(Account.customer_id == customer.id)))
        if factor_matches(customer, accounts, code, factor):
            customer.failed_verifications, customer.locked_until = 0, None
            session.flush()
            log.info("identity verified: customer %d", customer.id)
            return VerificationResult("verified", customer.id, customer.tier)
    locked = False
    for customer in rows:
        customer.failed_verifications = (customer.failed_verifications or 0) + 1
        if customer.failed_verifications >= max_failures:
            customer.locked_until = at + timedelta(minutes=lock_minutes)
            locked = True
            log.warning("identity check failed %d times: customer %d locked for %d minutes",
                        customer.failed_verifications, customer.id, lock_minutes)
    session.flush()
    return VerificationResult("locked" if locked else "failed", known=True)


# --------------------------------------------------------------------------- #
# accounts, transactions, cards
# --------------------------------------------------------------------------- #


def _account_info(a: Account) -> AccountInfo:
    return AccountInfo(a.id, a.kind, a.number_last4, int(a.balance_cents), a.currency)


def accounts_of(session: Session, customer_id: int, kind: str | None = None) -> list[AccountInfo]:
    """The customer's accounts (of one kind when given), checking before savings, by id."""
    stmt = select(Account).where(Account.customer_id == customer_id)
    if kind:
        stmt = stmt.where(Account.kind == kind)
    rows = session.scalars(stmt.order_by(Account.id)).all()
    return [_account_info(a) for a in rows]


def recent_transactions(session: Session, customer_id: int, kind: str | None = None,
                        limit: int = 5) -> list[TransactionInfo]:
    """The customer's latest posted transactions (of one kind of account when given), newest first."""
    stmt = (
        select(AccountTransaction, Account.kind)
        .join(Account, AccountTransaction.account_id == Account.id)
        .where(Account.customer_id == customer_id)
    )
    if kind:
        stmt = stmt.where(Account.kind == kind)
    stmt = stmt.order_by(AccountTransaction.posted_at.desc(), AccountTransaction.id.desc()).limit(limit)
    return [TransactionInfo(t.posted_at, t.description, int(t.amount_cents), k) for t, k in session.execute(stmt)]


def cards_of(session: Session, customer_id: int) -> list[CardInfo]:
    rows = session.scalars(select(Card).where(Card.customer_id == customer_id).order_by(Card.id)).all()
    return [CardInfo(c.id, c.kind, c.last4, c.status) for c in rows]


def freeze_cards(session: Session, customer_id: int, *, call_id: str | None = None,
                 now: datetime | None = None, last4: str | None = None) -> list[CardInfo]:
    """Freeze the customer's active cards (only the one ending in `last4` when given);
    returns the cards frozen now. Idempotent: a frozen card stays as it was."""
    stmt = select(Card).where(Card.customer_id == customer_id, Card.status == "active")
    if last4:
        stmt = stmt.where(Card.last4 == last4)
    frozen: list[CardInfo] = []
    at = to_utc(now) if now else utcnow()
    for card in session.scalars(stmt.order_by(Card.id).with_for_update()).all():
        card.status, card.frozen_at, card.frozen_call_id = "frozen", at, call_id
        frozen.append(CardInfo(card.id, card.kind, card.last4, card.status))
    session.flush()
    log.info("froze %d card(s) of customer %d", len(frozen), customer_id)
    return frozen


def customer_tier(session: Session, customer_id: int) -> str | None:
    customer = session.get(Customer, customer_id)
    return customer.tier if customer else None


# --------------------------------------------------------------------------- #
# demo data
# --------------------------------------------------------------------------- #


class SeedError(ValueError):
    """The demo data file is not as expected (names the customer entry and the field)."""


def _cents(value: Any, where: str) -> int:
    try:
        return int(round(float(value) * 100))
    except (TypeError, ValueError):
        raise SeedError(f"{where}: must be an amount in dollars, not {value!r}") from None


def _need(entry: dict[str, Any], key: str, where: str) -> Any:
    if entry.get(key) in (None, ""):
        raise SeedError(f"{where}.{key}: is required")
    return entry[key]


def seed_customers(session: Session, vertical: str, customers: list[dict[str, Any]],
                   now: datetime | None = None) -> int:
    """Create the demo customers with their accounts, transactions and cards; returns how
    many customers were added. Idempotent (a customer is known by name and date of birth,
    an account and a card by their last four digits) and safe when two calls seed at
    once: PostgreSQL takes an advisory lock for the transaction, SQLite's BEGIN IMMEDIATE
    already serialises writers. Transactions are dated ``days_ago`` before `now`."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SEED_LOCK_ID})
    at = to_utc(now) if now else utcnow()
    added = 0
    for i, entry in enumerate(customers):
        where = f"customers[{i}]"
        if not isinstance(entry, dict):
            raise SeedError(f"{where}: must be a mapping")
        name, dob = str(_need(entry, "full_name", where)), _need(entry, "date_of_birth", where)
        found = repo.find_customers(session, vertical, name, date_of_birth=str(dob))
        if found:
            customer = found[0]
        else:
            customer = repo.add_customer(
                session, vertical, name, date_of_birth=str(dob), phone=entry.get("phone"),
                ssn_last4=str(_need(entry, "ssn_last4", where)), account_number=str(entry.get("account_number") or "") or None,
                zip_code=str(entry.get("zip_code") or "") or None, tier=entry.get("tier"))
            added += 1
        for j, acc in enumerate(entry.get("accounts") or []):
            awhere = f"{where}.accounts[{j}]"
            last4 = str(_need(acc, "number_last4", awhere))
            account = session.scalars(select(Account).where(
                Account.customer_id == customer.id, Account.number_last4 == last4)).first()
            if account is not None:
                continue
            account = Account(customer_id=customer.id, vertical=vertical, kind=str(_need(acc, "kind", awhere)),
                              number_last4=last4, balance_cents=_cents(_need(acc, "balance", awhere), f"{awhere}.balance"),
                              currency=str(acc.get("currency", "USD")))
            session.add(account)
            session.flush()
            for k, tx in enumerate(acc.get("transactions") or []):
                twhere = f"{awhere}.transactions[{k}]"
                days = int(tx.get("days_ago", 0))
                session.add(AccountTransaction(
                    account_id=account.id, posted_at=at - timedelta(days=days, hours=k % 5),
                    description=str(_need(tx, "description", twhere)),
                    amount_cents=_cents(_need(tx, "amount", twhere), f"{twhere}.amount")))
        for j, card in enumerate(entry.get("cards") or []):
            cwhere = f"{where}.cards[{j}]"
            last4 = str(_need(card, "last4", cwhere))
            exists = session.scalars(select(Card.id).where(Card.customer_id == customer.id, Card.last4 == last4)).first()
            if exists is None:
                session.add(Card(customer_id=customer.id, kind=str(card.get("kind", "debit")), last4=last4,
                                 status="active"))
        session.flush()
    if added:
        log.info("seeded %d %s demo customer(s)", added, vertical)
    return added


__all__ = [
    "AccountInfo",
    "CardInfo",
    "SeedError",
    "TransactionInfo",
    "VerificationResult",
    "accounts_of",
    "cards_of",
    "customer_tier",
    "factor_matches",
    "freeze_cards",
    "keys_match",
    "name_matches",
    "names_match",
    "recent_transactions",
    "seed_customers",
    "verify_identity",
]
