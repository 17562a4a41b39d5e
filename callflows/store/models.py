"""ORM models (SQLAlchemy 2 declarative, typed with ``Mapped[...]``).

Every timestamp column is :class:`~callflows.store.types.UTCDateTime`
(aware, UTC).  Personal data that reaches ``turns.text`` and
``slot_values.value_masked`` is masked before it is written (see
:mod:`callflows.privacy` and :mod:`callflows.store.repo`).

Double booking is prevented by ``slot_holds``: a booked appointment owns
one row per 15-minute unit it spans, and ``UNIQUE(provider_id,
slot_start)`` lets the database itself refuse a second, overlapping
booking, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from callflows.store.types import JSONType, UTCDateTime, utcnow

#: Constraint names are deterministic so that Alembic can alter them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Minutes covered by one row of ``slot_holds``.
HOLD_MINUTES = 15


def new_call_id() -> str:
    """A fresh call id (uuid4 as a string)."""
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Customer(Base):
    """A caller known to a vertical (patient, account holder, ...)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vertical: Mapped[str] = mapped_column(String(64), index=True)
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(200))
    ssn_last4: Mapped[str | None] = mapped_column(String(4))
    account_number: Mapped[str | None] = mapped_column(String(64))
    zip_code: Mapped[str | None] = mapped_column(String(10))
    tier: Mapped[str | None] = mapped_column(String(32))
    failed_verifications: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    appointments: Mapped[list[Appointment]] = relationship(back_populates="customer")

    def __repr__(self) -> str:  # no personal data in reprs
        return f"<Customer id={self.id} vertical={self.vertical!r}>"


class Provider(Base):
    """Someone (or something: a room, a technician) appointments are booked with."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("vertical", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vertical: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))

    def __repr__(self) -> str:
        return f"<Provider id={self.id} {self.vertical}/{self.key}>"


class Appointment(Base):
    """A booking; while ``status == "booked"`` it owns its slot holds."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_provider_starts", "provider_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vertical: Mapped[str] = mapped_column(String(64), index=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    appointment_type: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="booked", server_default="booked")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    notes: Mapped[str | None] = mapped_column(Text)
    # the caller could not confirm the spelling of the name: the staff check it
    name_unverified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    customer: Mapped[Customer] = relationship(back_populates="appointments")
    provider: Mapped[Provider] = relationship()
    holds: Mapped[list[SlotHold]] = relationship(
        back_populates="appointment", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def duration_minutes(self) -> int:
        """Length of the appointment in whole minutes."""
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def __repr__(self) -> str:
        return f"<Appointment {self.reference} {self.status} {self.starts_at.isoformat()}>"


class SlotHold(Base):
    """One 15-minute unit of a provider's time taken by one appointment."""

    __tablename__ = "slot_holds"
    __table_args__ = (UniqueConstraint("provider_id", "slot_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime())
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )

    appointment: Mapped[Appointment] = relationship(back_populates="holds")


class Call(Base):
    """One conversation (phone or text), from greeting to hang-up."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_call_id)
    vertical: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="text")
    twilio_call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    from_number_masked: Mapped[str | None] = mapped_column(String(32))
    to_number: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="active")
    outcome: Mapped[str | None] = mapped_column(String(64))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    transferred: Mapped[bool] = mapped_column(Boolean, default=False)
    transfer_to: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    flow_version: Mapped[int | None] = mapped_column(Integer)

    turns: Mapped[list[Turn]] = relationship(
        back_populates="call", order_by="Turn.seq", cascade="all, delete-orphan", passive_deletes=True
    )
    slots: Mapped[list[SlotValue]] = relationship(
        back_populates="call", order_by="SlotValue.id", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.vertical} {self.status}>"


class Turn(Base):
    """One utterance of the caller or of the bot, with its latencies."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text, default="")
    intent: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    endpoint_ms: Mapped[float | None] = mapped_column(Float)
    stt_ms: Mapped[float | None] = mapped_column(Float)
    nlu_ms: Mapped[float | None] = mapped_column(Float)
    tts_first_audio_ms: Mapped[float | None] = mapped_column(Float)
    total_ms: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    call: Mapped[Call] = relationship(back_populates="turns")


class SlotValue(Base):
    """A slot value collected during a call (masked when personal)."""

    __tablename__ = "slot_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    turn_seq: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    slot_type: Mapped[str] = mapped_column(String(32))
    value_masked: Mapped[str | None] = mapped_column(Text)

    call: Mapped[Call] = relationship(back_populates="slots")


class FlowVersion(Base):
    """A version of a vertical's YAML flow: draft, published (one) or archived."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("vertical", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vertical: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    yaml_text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<FlowVersion {self.vertical} v{self.version} {self.status}>"


class PhoneNumber(Base):
    """An inbound number, the vertical it answers for and where to transfer."""

    __tablename__ = "phone_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    vertical: Mapped[str] = mapped_column(String(64))
    transfer_number: Mapped[str | None] = mapped_column(String(32))


class AuditLog(Base):
    """Who did what to what (admin actions, publishes, verifications...)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


__all__ = [
    "HOLD_MINUTES",
    "AuditLog",
    "Appointment",
    "Base",
    "Call",
    "Customer",
    "FlowVersion",
    "PhoneNumber",
    "Provider",
    "SlotHold",
    "SlotValue",
    "Turn",
    "new_call_id",
]


# --- retail bank
# Accounts, their transactions and cards of the retail bank vertical (migration 0003).
# Amounts are whole cents; a customer is a row of ``customers`` (vertical "retail_bank").

from sqlalchemy import BigInteger, CheckConstraint  # noqa: E402 - kept inside this block


class Account(Base):
    """A customer's bank account (checking, savings, ...)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("customer_id", "number_last4"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    vertical: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    number_last4: Mapped[str] = mapped_column(String(4))
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")

    transactions: Mapped[list[AccountTransaction]] = relationship(
        back_populates="account", order_by="AccountTransaction.posted_at.desc()",
        cascade="all, delete-orphan", passive_deletes=True,
    )

    def __repr__(self) -> str:  # no account digits in reprs
        return f"<Account id={self.id} {self.kind}>"


class AccountTransaction(Base):
    """One posted movement on an account (negative: money out)."""

    __tablename__ = "account_transactions"
    __table_args__ = (Index("ix_account_transactions_account_posted", "account_id", "posted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(String(200))
    amount_cents: Mapped[int] = mapped_column(BigInteger)

    account: Mapped[Account] = relationship(back_populates="transactions")


class Card(Base):
    """A payment card; ``status`` is ``active`` or ``frozen`` (by which call, when)."""

    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("customer_id", "last4"),
        CheckConstraint("status IN ('active', 'frozen')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="debit", server_default="debit")
    last4: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    frozen_call_id: Mapped[str | None] = mapped_column(String(36))

    def __repr__(self) -> str:
        return f"<Card id={self.id} {self.kind} {self.status}>"


__all__ += ["Account", "AccountTransaction", "Card"]


# --- hotel
# Room nights are sold through ``room_night_holds``: a booked reservation owns one row per
# night of its stay, each on one numbered unit of its room type (1..rooms in hotel.yaml), and
# ``UNIQUE(vertical, room_type, night, unit)`` lets the database refuse the (rooms + 1)-th
# sale of a night, whatever the number of concurrent calls (see callflows.hotel_booking).


class Reservation(Base):
    """A hotel stay; while ``status == "booked"`` it owns its room-night holds."""

    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_vertical_arrival", "vertical", "arrival"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vertical: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    room_type: Mapped[str] = mapped_column(String(32))
    arrival: Mapped[date] = mapped_column(Date)
    departure: Mapped[date] = mapped_column(Date)
    guests: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="booked", server_default="booked")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    name_unverified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    customer: Mapped[Customer] = relationship()
    holds: Mapped[list[RoomNightHold]] = relationship(
        back_populates="reservation", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:  # no personal data in reprs
        return f"<Reservation {self.reference} {self.status} {self.room_type} {self.arrival}..{self.departure}>"


class RoomNightHold(Base):
    """One night of one room unit of a room type, taken by one reservation."""

    __tablename__ = "room_night_holds"
    __table_args__ = (UniqueConstraint("vertical", "room_type", "night", "unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vertical: Mapped[str] = mapped_column(String(64))
    room_type: Mapped[str] = mapped_column(String(32))
    night: Mapped[date] = mapped_column(Date)
    unit: Mapped[int] = mapped_column(Integer)
    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), index=True
    )

    reservation: Mapped[Reservation] = relationship(back_populates="holds")


__all__ += ["Reservation", "RoomNightHold"]


# --- escalation
# One row per caller turn of a call whose vertical has escalation rules: the route decided
# (``stay`` / ``llm`` / ``person``), its reasons and the call's signals at that turn, and the
# LLM seconds and tokens that turn used (None when the LLM was not asked).


class EscalationDecision(Base):
    """A routing decision (or, with route ``stay``, the per-turn record of the signals)."""

    __tablename__ = "escalation_decisions"
    __table_args__ = (Index("ix_escalation_decisions_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    turn_seq: Mapped[int] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    signals: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    llm_seconds: Mapped[float | None] = mapped_column(Float)
    llm_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<EscalationDecision call={self.call_id} seq={self.turn_seq} {self.route}>"


__all__ += ["EscalationDecision"]
