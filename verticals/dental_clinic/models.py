"""The clinic's tables: providers, appointments and the slot holds that forbid double booking.

Double booking is prevented by ``slot_holds``: a booked appointment owns one row per 15-minute
unit it spans, and ``UNIQUE(provider_id, slot_start)`` lets the database itself refuse a
second, overlapping booking, on SQLite and PostgreSQL alike (see scheduling.py). Declared on
the core's ``Base``; created by this vertical's Alembic branch (migrations/).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callflows.store.models import Base, Customer
from callflows.store.types import UTCDateTime, utcnow

#: Minutes covered by one row of ``slot_holds``.
HOLD_MINUTES = 15

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

    customer: Mapped[Customer] = relationship()
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


__all__ = ["HOLD_MINUTES", "Appointment", "Provider", "SlotHold"]
