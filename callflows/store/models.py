"""ORM models (SQLAlchemy 2 declarative, typed with ``Mapped[...]``).

Every timestamp column is :class:`~callflows.store.types.UTCDateTime`
(aware, UTC).  Personal data that reaches ``turns.text`` and
``slot_values.value_masked`` is masked before it is written (see
:mod:`callflows.privacy` and :mod:`callflows.store.repo`).

These are the engine's tables only. A vertical declares its own tables on :class:`Base`
in its package (``verticals/<name>/models.py``), with its own Alembic branch
(see :mod:`callflows.plugins`); they may refer to ``customers`` and ``calls``.
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

    def __repr__(self) -> str:  # no personal data in reprs
        return f"<Customer id={self.id} vertical={self.vertical!r}>"


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
    "AuditLog",
    "Base",
    "Call",
    "Customer",
    "FlowVersion",
    "PhoneNumber",
    "SlotValue",
    "Turn",
    "new_call_id",
]


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
