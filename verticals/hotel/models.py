"""The hotel's tables: reservations and the room-night holds that forbid overselling.

Room nights are sold through ``room_night_holds``: a booked reservation owns one row per night
of its stay, each on one numbered unit of its room type (1..rooms in hotel.yaml), and
``UNIQUE(vertical, room_type, night, unit)`` lets the database refuse the (rooms + 1)-th sale
of a night, whatever the number of concurrent calls (see booking.py). Declared on the core's
``Base``; created by this vertical's Alembic branch.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callflows.store.models import Base, Customer
from callflows.store.types import UTCDateTime, utcnow


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


__all__ = ["Reservation", "RoomNightHold"]
