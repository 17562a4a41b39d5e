"""Repository functions: small, typed helpers that take a ``Session``.

They flush (so ids are available) but never commit: the caller's
``with store.session() as s:`` block decides.  Personal data is masked on
the way in (turn text, slot values, caller numbers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.privacy import mask_text, mask_value, store_value
from callflows.store.models import (
    AuditLog,
    Call,
    Customer,
    PhoneNumber,
    SlotValue,
    Turn,
    new_call_id,
)
from callflows.store.types import to_utc, utcnow

log = logging.getLogger(__name__)

TIMING_FIELDS = ("endpoint_ms", "stt_ms", "nlu_ms", "tts_first_audio_ms", "total_ms")


# --------------------------------------------------------------------------- #
# calls, turns, slots
# --------------------------------------------------------------------------- #


def start_call(
    session: Session,
    vertical: str,
    channel: str = "text",
    *,
    call_id: str | None = None,
    twilio_call_sid: str | None = None,
    from_number: str | None = None,
    to_number: str | None = None,
    flow_version: int | None = None,
    started_at: datetime | None = None,
) -> Call:
    """Create the record of a new call (status ``"active"``); ``from_number`` is masked."""
    call = Call(
        id=call_id or new_call_id(),
        vertical=vertical,
        channel=channel,
        twilio_call_sid=twilio_call_sid,
        from_number_masked=mask_value("phone_number", from_number) if from_number else None,
        to_number=to_number,
        started_at=to_utc(started_at) if started_at else utcnow(),
        status="active",
        escalated=False,
        transferred=False,
        flow_version=flow_version,
    )
    session.add(call)
    session.flush()
    log.debug("call %s started (%s, %s)", call.id, vertical, channel)
    return call


def get_call(session: Session, call_id: str) -> Call | None:
    """The call with this id, or None."""
    return session.get(Call, call_id)


def get_call_by_sid(session: Session, twilio_call_sid: str) -> Call | None:
    """The call with this Twilio CallSid, or None."""
    return session.scalars(select(Call).where(Call.twilio_call_sid == twilio_call_sid)).first()


def _require_call(session: Session, call_id: str) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise LookupError(f"no call {call_id!r}")
    return call


def add_turn(
    session: Session,
    call_id: str,
    speaker: str,
    text: str,
    *,
    intent: str | None = None,
    confidence: float | None = None,
    started_at: datetime | None = None,
    endpoint_ms: float | None = None,
    stt_ms: float | None = None,
    nlu_ms: float | None = None,
    tts_first_audio_ms: float | None = None,
    total_ms: float | None = None,
    extra: dict[str, Any] | None = None,
    secrets: Iterable[str] = (),
    mask: bool = True,
    seq: int | None = None,
) -> Turn:
    """Append a turn (``speaker`` ``"caller"`` or ``"bot"``); ``seq`` is the next number unless
    given (a caller that retries after a lost connection gives it, so a turn whose first
    write did commit is refused by the unique (call, seq) constraint instead of duplicated).

    ``text`` goes through :func:`callflows.privacy.mask_text` (with the given
    ``secrets``, e.g. the customer's name) unless ``mask=False``.
    """
    if speaker not in ("caller", "bot"):
        raise ValueError(f"speaker must be 'caller' or 'bot', not {speaker!r}")
    if seq is None:
        seq = (session.scalar(select(func.max(Turn.seq)).where(Turn.call_id == call_id)) or 0) + 1
    turn = Turn(
        call_id=call_id,
        seq=seq,
        speaker=speaker,
        text=mask_text(text or "", secrets) if mask else (text or ""),
        intent=intent,
        confidence=confidence,
        started_at=to_utc(started_at) if started_at else utcnow(),
        endpoint_ms=endpoint_ms,
        stt_ms=stt_ms,
        nlu_ms=nlu_ms,
        tts_first_audio_ms=tts_first_audio_ms,
        total_ms=total_ms,
        extra=extra,
    )
    session.add(turn)
    session.flush()
    return turn


def set_slot(
    session: Session,
    call_id: str,
    name: str,
    slot_type: str,
    value: Any,
    *,
    turn_seq: int | None = None,
    pii: bool | None = None,
) -> SlotValue:
    """Record a slot value collected on a call.

    Personal values (``pii=True``, or by default when the slot's type or
    name says so: phone, digits, date of birth, name, ...) are stored
    masked; others are stored as text with :func:`mask_text` applied.
    Each call appends a row, so corrections keep their history.
    """
    row = SlotValue(
        call_id=call_id,
        turn_seq=turn_seq,
        name=name,
        slot_type=slot_type,
        value_masked=store_value(name, slot_type, value, pii),
    )
    session.add(row)
    session.flush()
    return row


def get_slots(session: Session, call_id: str) -> dict[str, str | None]:
    """The latest stored (masked) value of each slot of a call."""
    rows = session.scalars(select(SlotValue).where(SlotValue.call_id == call_id).order_by(SlotValue.id))
    return {row.name: row.value_masked for row in rows}


def finish_call(
    session: Session,
    call_id: str,
    outcome: str,
    *,
    status: str = "completed",
    escalated: bool | None = None,
    transferred: bool | None = None,
    transfer_to: str | None = None,
    summary: dict[str, Any] | None = None,
    ended_at: datetime | None = None,
) -> Call:
    """Close a call.  Idempotent: a call already ended is returned unchanged."""
    call = _require_call(session, call_id)
    if call.ended_at is not None:
        log.debug("call %s already finished (%s)", call_id, call.outcome)
        return call
    call.ended_at = to_utc(ended_at) if ended_at else utcnow()
    call.status = status
    call.outcome = outcome
    if escalated is not None:
        call.escalated = escalated
    if transferred is not None:
        call.transferred = transferred
    if transfer_to is not None:
        call.transfer_to = transfer_to
        call.transferred = True if transferred is None else transferred
    if summary is not None:
        call.summary = {**(call.summary or {}), **summary}
    session.flush()
    log.info("call %s finished: %s", call_id, outcome)
    return call


def list_calls(
    session: Session,
    *,
    vertical: str | None = None,
    status: str | None = None,
    outcome: str | None = None,
    channel: str | None = None,
    escalated: bool | None = None,
    transferred: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[Call]:
    """Calls matching every given filter, newest first."""
    stmt = select(Call)
    if vertical is not None:
        stmt = stmt.where(Call.vertical == vertical)
    if status is not None:
        stmt = stmt.where(Call.status == status)
    if outcome is not None:
        stmt = stmt.where(Call.outcome == outcome)
    if channel is not None:
        stmt = stmt.where(Call.channel == channel)
    if escalated is not None:
        stmt = stmt.where(Call.escalated == escalated)
    if transferred is not None:
        stmt = stmt.where(Call.transferred == transferred)
    if since is not None:
        stmt = stmt.where(Call.started_at >= to_utc(since))
    if until is not None:
        stmt = stmt.where(Call.started_at < to_utc(until))
    stmt = stmt.order_by(Call.started_at.desc(), Call.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


# --------------------------------------------------------------------------- #
# customers, phone numbers
# --------------------------------------------------------------------------- #


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value  # type: ignore[return-value]
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value))


def phone_digits(phone: str | None) -> str:
    """The national digits of a phone number (US: drops a leading 1 of 11 digits)."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


def add_customer(
    session: Session,
    vertical: str,
    full_name: str,
    *,
    date_of_birth: date | str | None = None,
    phone: str | None = None,
    email: str | None = None,
    ssn_last4: str | None = None,
    account_number: str | None = None,
    zip_code: str | None = None,
    tier: str | None = None,
) -> Customer:
    """Create a customer (``date_of_birth`` may be a ``date`` or ``"YYYY-MM-DD"``)."""
    customer = Customer(
        vertical=vertical,
        full_name=" ".join(full_name.split()),
        date_of_birth=_as_date(date_of_birth),
        phone=phone,
        email=email,
        ssn_last4=ssn_last4,
        account_number=account_number,
        zip_code=zip_code,
        tier=tier,
        failed_verifications=0,
    )
    session.add(customer)
    session.flush()
    return customer


def find_customers(
    session: Session,
    vertical: str,
    full_name: str,
    date_of_birth: date | str | None = None,
    phone: str | None = None,
) -> list[Customer]:
    """Customers of a vertical with this name (case and spacing ignored),
    narrowed by date of birth and/or phone (compared on digits) when given."""
    name = " ".join(full_name.split()).lower()
    rows = session.scalars(
        select(Customer)
        .where(Customer.vertical == vertical, func.lower(Customer.full_name) == name)
        .order_by(Customer.id)
    ).all()
    dob = _as_date(date_of_birth)
    if dob is not None:
        rows = [c for c in rows if c.date_of_birth == dob]
    if phone:
        wanted = phone_digits(phone)
        rows = [c for c in rows if phone_digits(c.phone) == wanted]
    return list(rows)


def customers_with_phone(session: Session, vertical: str, phone: str | None) -> list[Customer]:
    """Customers of a vertical whose phone number on file is `phone` (compared on digits), oldest first."""
    wanted = phone_digits(phone)
    if not wanted:
        return []
    rows = session.scalars(
        select(Customer).where(Customer.vertical == vertical, Customer.phone.is_not(None)).order_by(Customer.id)
    ).all()
    return [c for c in rows if phone_digits(c.phone) == wanted]


def record_failed_verification(
    session: Session, customer_id: int, *, max_failures: int = 3, lock_minutes: int = 30
) -> Customer:
    """Count a failed identity check; lock the customer after ``max_failures``."""
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise LookupError(f"no customer {customer_id}")
    customer.failed_verifications = (customer.failed_verifications or 0) + 1
    if customer.failed_verifications >= max_failures:
        customer.locked_until = utcnow() + timedelta(minutes=lock_minutes)
    session.flush()
    return customer


def reset_verification(session: Session, customer_id: int) -> None:
    """Clear the failure count and lock after a successful identity check."""
    customer = session.get(Customer, customer_id)
    if customer is not None:
        customer.failed_verifications = 0
        customer.locked_until = None
        session.flush()


def is_locked(customer: Customer, now: datetime | None = None) -> bool:
    """Whether the customer is locked out of self-service right now."""
    return customer.locked_until is not None and customer.locked_until > (to_utc(now) if now else utcnow())


def upsert_phone_number(
    session: Session, number: str, vertical: str, transfer_number: str | None = None
) -> PhoneNumber:
    """Map an inbound number to a vertical (and its transfer number)."""
    row = session.scalars(select(PhoneNumber).where(PhoneNumber.number == number)).first()
    if row is None:
        row = PhoneNumber(number=number, vertical=vertical, transfer_number=transfer_number)
        session.add(row)
    else:
        row.vertical = vertical
        row.transfer_number = transfer_number
    session.flush()
    return row


def lookup_phone_number(session: Session, number: str) -> PhoneNumber | None:
    """The mapping for an inbound number (exact match, then on digits)."""
    row = session.scalars(select(PhoneNumber).where(PhoneNumber.number == number)).first()
    if row is not None:
        return row
    wanted = phone_digits(number)
    for candidate in session.scalars(select(PhoneNumber)):
        if phone_digits(candidate.number) == wanted:
            return candidate
    return None


# --------------------------------------------------------------------------- #
# audit
# --------------------------------------------------------------------------- #


def audit(
    session: Session,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Append an audit-log entry."""
    row = AuditLog(at=utcnow(), actor=actor, action=action, target=target, detail=detail)
    session.add(row)
    session.flush()
    return row


def list_audit(session: Session, *, target: str | None = None, limit: int = 100) -> list[AuditLog]:
    """Audit entries, newest first."""
    stmt = select(AuditLog)
    if target is not None:
        stmt = stmt.where(AuditLog.target == target)
    return list(session.scalars(stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)))


__all__ = [
    "add_customer",
    "add_turn",
    "audit",
    "find_customers",
    "finish_call",
    "get_call",
    "get_call_by_sid",
    "get_slots",
    "is_locked",
    "list_audit",
    "list_calls",
    "lookup_phone_number",
    "phone_digits",
    "record_failed_verification",
    "reset_verification",
    "set_slot",
    "start_call",
    "upsert_phone_number",
]


def _turn_at(session: Session, call_id: str, seq: int) -> Turn | None:
    return session.scalar(select(Turn).where(Turn.call_id == call_id, Turn.seq == seq))


def update_turn_text(session: Session, call_id: str, seq: int, text: str) -> None:
    """Replace a stored turn's text (masked again once a personal value became known)."""
    turn = _turn_at(session, call_id, seq)
    if turn is not None:
        turn.text = text
        session.flush()


def update_turn_timings(session: Session, call_id: str, seq: int, **timings: float | None) -> None:
    """Latency parts measured after the turn was written (TTS first audio, total)."""
    allowed = {"endpoint_ms", "stt_ms", "nlu_ms", "tts_first_audio_ms", "total_ms"}
    values = {k: v for k, v in timings.items() if k in allowed}
    if not values:
        return
    turn = _turn_at(session, call_id, seq)
    if turn is not None:
        for key, value in values.items():
            setattr(turn, key, value)
        session.flush()
