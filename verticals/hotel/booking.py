"""Room inventory, race-free hotel reservations, changes and cancellations.

A room type has ``rooms`` identical rooms. A booked reservation owns one
``room_night_holds`` row per night of its stay, each on a numbered unit
(1..rooms) of its room type; ``UNIQUE(vertical, room_type, night, unit)``
makes the database refuse a night sold once too often, so two callers can
never both get the last room, on SQLite and PostgreSQL alike.  The check
before the insert only picks a free unit; when another call takes it first
the insert fails and the booking re-reads the holds and tries again (up to
``ATTEMPTS`` times, the engine's :func:`callflows.store.holds.hold_with_retry`) or reports
:class:`SoldOut`.

Dates are local calendar dates (``date``); a stay from ``arrival`` to
``departure`` uses the nights ``arrival .. departure - 1``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.store.db import Store
from callflows.store.holds import hold_with_retry, new_reference, release, with_session
from callflows.store.models import Customer
from callflows.store.types import utcnow

from .models import Reservation, RoomNightHold

log = logging.getLogger(__name__)

ATTEMPTS = 8  # tries to find free units when concurrent bookings keep taking them

T = TypeVar("T")


class BookingError(Exception):
    """Base class of the reservation errors."""


class SoldOut(BookingError):
    """No room of the type is free for at least one night of the stay."""


class BadStay(BookingError):
    """The stay itself is not acceptable (dates, length, guests, room type)."""


class NotFound(BookingError):
    """No booked reservation with that reference."""


@dataclass(frozen=True)
class RoomType:
    key: str
    rooms: int
    price: int  # per night, whole currency units
    max_guests: int
    label: str


@dataclass(frozen=True)
class Inventory:
    """A hotel's rooms and rules (``verticals/<name>/hotel.yaml``)."""

    vertical: str
    room_types: dict[str, RoomType]
    check_in: str = "15:00"
    check_out: str = "11:00"
    max_nights: int = 30
    horizon_days: int = 365

    @classmethod
    def from_dict(cls, vertical: str, data: Mapping[str, Any]) -> Inventory:
        types = {}
        for key, body in (data.get("room_types") or {}).items():
            types[str(key)] = RoomType(
                key=str(key),
                rooms=int(body["rooms"]),
                price=int(body.get("price", 0)),
                max_guests=int(body.get("max_guests", 2)),
                label=str(body.get("label", f"{key} room")),
            )
        if not types or any(t.rooms < 1 for t in types.values()):
            raise ValueError("room_types needs at least one type, each with rooms >= 1")
        return cls(
            vertical=vertical,
            room_types=types,
            check_in=str(data.get("check_in", "15:00")),
            check_out=str(data.get("check_out", "11:00")),
            max_nights=int(data.get("max_nights", 30)),
            horizon_days=int(data.get("booking_horizon_days", 365)),
        )

    def room(self, key: str) -> RoomType:
        try:
            return self.room_types[key]
        except KeyError:
            raise BadStay(f"unknown room type {key!r}") from None

    def price(self, room_type: str, arrival: date, departure: date) -> int:
        return self.room(room_type).price * len(nights(arrival, departure))


@dataclass(frozen=True)
class Stay:
    """A reservation as the rest of the program sees it (no ORM object leaves this module)."""

    id: int
    reference: str
    vertical: str
    customer_id: int
    room_type: str
    arrival: date
    departure: date
    guests: int
    status: str
    name_unverified: bool = False

    @property
    def nights(self) -> int:
        return (self.departure - self.arrival).days


def _stay(r: Reservation) -> Stay:
    return Stay(r.id, r.reference, r.vertical, r.customer_id, r.room_type, r.arrival, r.departure,
                r.guests, r.status, bool(r.name_unverified))


def nights(arrival: date, departure: date) -> list[date]:
    """The nights of a stay: arrival .. departure - 1."""
    return [arrival + timedelta(days=k) for k in range((departure - arrival).days)]


def check_stay(inventory: Inventory, room_type: str, arrival: date, departure: date, guests: int,
               today: date | None = None) -> None:
    """Raise :class:`BadStay` if the stay cannot be sold at all (whatever is free)."""
    room = inventory.room(room_type)
    if departure <= arrival:
        raise BadStay("departure must be after arrival")
    if (departure - arrival).days > inventory.max_nights:
        raise BadStay(f"stays are limited to {inventory.max_nights} nights")
    if today is not None and arrival < today:
        raise BadStay("arrival is in the past")
    if today is not None and arrival > today + timedelta(days=inventory.horizon_days):
        raise BadStay("arrival is too far ahead")
    if not 1 <= guests <= room.max_guests:
        raise BadStay(f"a {room.label} takes 1 to {room.max_guests} guests")


# --------------------------------------------------------------------------- #
# queries
# --------------------------------------------------------------------------- #


def _held(session: Session, vertical: str, room_type: str, arrival: date, departure: date,
          exclude_reservation_id: int | None = None) -> dict[date, set[int]]:
    """Units taken per night of the stay."""
    stmt = select(RoomNightHold.night, RoomNightHold.unit).where(
        RoomNightHold.vertical == vertical,
        RoomNightHold.room_type == room_type,
        RoomNightHold.night >= arrival,
        RoomNightHold.night < departure,
    )
    if exclude_reservation_id is not None:
        stmt = stmt.where(RoomNightHold.reservation_id != exclude_reservation_id)
    out: dict[date, set[int]] = {}
    for night, unit in session.execute(stmt):
        out.setdefault(night, set()).add(unit)
    return out


def rooms_free(session: Session, inventory: Inventory, room_type: str, arrival: date, departure: date,
               exclude_reservation_id: int | None = None) -> int:
    """How many rooms of the type are free on every night of the stay."""
    room = inventory.room(room_type)
    held = _held(session, inventory.vertical, room_type, arrival, departure, exclude_reservation_id)
    return min((room.rooms - len(held.get(n, ())) for n in nights(arrival, departure)), default=room.rooms)


def alternatives(session: Session, inventory: Inventory, arrival: date, departure: date, guests: int,
                 exclude: str | None = None, exclude_reservation_id: int | None = None) -> list[RoomType]:
    """Room types that take ``guests`` and are free for the whole stay, cheapest first."""
    out = []
    for room in sorted(inventory.room_types.values(), key=lambda r: (r.price, r.key)):
        if room.key == exclude or guests > room.max_guests:
            continue
        if rooms_free(session, inventory, room.key, arrival, departure, exclude_reservation_id) > 0:
            out.append(room)
    return out


def get_stay(session: Session, vertical: str, reference: str) -> Stay | None:
    """The reservation with this reference (any status), or None."""
    r = session.scalars(select(Reservation).where(Reservation.vertical == vertical,
                                                  Reservation.reference == reference.upper())).first()
    return _stay(r) if r is not None else None


def find_stays(session: Session, vertical: str, full_name: str, arrival: date | None = None,
               upcoming_from: date | None = None) -> list[Stay]:
    """Booked reservations under this guest name (case and spacing ignored), soonest first."""
    name = " ".join(full_name.split()).lower()
    stmt = (select(Reservation).join(Customer, Reservation.customer_id == Customer.id)
            .where(Reservation.vertical == vertical, Reservation.status == "booked",
                   func.lower(Customer.full_name) == name))
    if arrival is not None:
        stmt = stmt.where(Reservation.arrival == arrival)
    if upcoming_from is not None:
        stmt = stmt.where(Reservation.departure > upcoming_from)
    return [_stay(r) for r in session.scalars(stmt.order_by(Reservation.arrival, Reservation.id))]


def stays_of_customers(session: Session, vertical: str, customer_ids: list[int],
                       upcoming_from: date | None = None) -> list[Stay]:
    """Booked reservations of these customers (those still to end after `upcoming_from`), soonest first."""
    if not customer_ids:
        return []
    stmt = select(Reservation).where(Reservation.vertical == vertical, Reservation.status == "booked",
                                     Reservation.customer_id.in_(customer_ids))
    if upcoming_from is not None:
        stmt = stmt.where(Reservation.departure > upcoming_from)
    return [_stay(r) for r in session.scalars(stmt.order_by(Reservation.arrival, Reservation.id))]


def list_stays(session: Session, vertical: str, include_cancelled: bool = False) -> list[Stay]:
    stmt = select(Reservation).where(Reservation.vertical == vertical)
    if not include_cancelled:
        stmt = stmt.where(Reservation.status == "booked")
    return [_stay(r) for r in session.scalars(stmt.order_by(Reservation.arrival, Reservation.id))]


# --------------------------------------------------------------------------- #
# commands
# --------------------------------------------------------------------------- #


def _pick_units(session: Session, inventory: Inventory, room_type: str, arrival: date, departure: date,
                exclude_reservation_id: int | None) -> list[tuple[date, int]]:
    """The lowest free unit for each night; raises SoldOut if a night has none."""
    room = inventory.room(room_type)
    held = _held(session, inventory.vertical, room_type, arrival, departure, exclude_reservation_id)
    picks = []
    for night in nights(arrival, departure):
        taken = held.get(night, set())
        unit = next((u for u in range(1, room.rooms + 1) if u not in taken), None)
        if unit is None:
            raise SoldOut(f"no {room_type} free on {night.isoformat()}")
        picks.append((night, unit))
    return picks


def _retrying(session: Session, attempt: Callable[[], T], what: str) -> T:
    """Run ``attempt`` in a savepoint until it wins the race for its units (or SoldOut)."""
    return hold_with_retry(session, attempt, lambda: SoldOut(f"{what}: rooms kept being taken by other calls"),
                           attempts=ATTEMPTS, what=what)


def book_stay(target: Store | Session, inventory: Inventory, customer_id: int, room_type: str,
              arrival: date, departure: date, guests: int, *, call_id: str | None = None,
              today: date | None = None, name_unverified: bool = False) -> Stay:
    """Reserve a room, or raise :class:`SoldOut` / :class:`BadStay`.

    ``target`` is a Store (committed before this returns) or a Session (the caller's
    transaction commits).  The past is checked only when ``today`` is given.
    ``name_unverified``: the caller could not confirm the spelling of the name.
    """
    check_stay(inventory, room_type, arrival, departure, guests, today)

    def work(session: Session) -> Stay:
        def attempt() -> Stay:
            picks = _pick_units(session, inventory, room_type, arrival, departure, None)
            r = Reservation(vertical=inventory.vertical, reference=new_reference(session, Reservation.reference),
                            customer_id=customer_id, room_type=room_type, arrival=arrival,
                            departure=departure, guests=guests, status="booked", created_at=utcnow(),
                            call_id=call_id, name_unverified=bool(name_unverified))
            session.add(r)
            session.flush()
            r.holds = [RoomNightHold(vertical=inventory.vertical, room_type=room_type, night=night, unit=unit)
                       for night, unit in picks]
            session.flush()
            return _stay(r)

        stay = _retrying(session, attempt, "booking")
        log.info("reserved %s: %s, %d nights", stay.reference, room_type, stay.nights)
        return stay

    return with_session(target, work)


def change_stay(target: Store | Session, inventory: Inventory, reference: str, *,
                arrival: date | None = None, departure: date | None = None, room_type: str | None = None,
                guests: int | None = None, today: date | None = None) -> Stay:
    """Change dates, room type and/or guests of a booked reservation, atomically.

    The old nights are released and the new ones taken in one savepoint; if the new stay
    is not free (:class:`SoldOut`) the reservation is left exactly as it was.
    """

    def work(session: Session) -> Stay:
        r = session.scalars(select(Reservation).where(Reservation.vertical == inventory.vertical,
                                                      Reservation.reference == reference.upper())).first()
        if r is None or r.status != "booked":
            raise NotFound(f"no booked reservation {reference!r}")
        new = (room_type or r.room_type, arrival or r.arrival, departure or r.departure, guests or r.guests)
        check_stay(inventory, new[0], new[1], new[2], new[3], today)

        def attempt() -> Stay:
            picks = _pick_units(session, inventory, new[0], new[1], new[2], r.id)
            r.holds.clear()
            session.flush()  # old nights released before the new ones are taken
            r.room_type, r.arrival, r.departure, r.guests = new
            r.holds = [RoomNightHold(vertical=inventory.vertical, room_type=new[0], night=night, unit=unit)
                       for night, unit in picks]
            session.flush()
            return _stay(r)

        try:
            stay = _retrying(session, attempt, "change")
        except BookingError:
            session.refresh(r)
            raise
        log.info("changed %s: %s, %d nights", stay.reference, stay.room_type, stay.nights)
        return stay

    return with_session(target, work)


def cancel_stay(target: Store | Session, vertical: str, reference: str) -> Stay:
    """Cancel a reservation and free its nights (idempotent)."""

    def work(session: Session) -> Stay:
        r = session.scalars(select(Reservation).where(Reservation.vertical == vertical,
                                                      Reservation.reference == reference.upper())).first()
        if r is None:
            raise NotFound(f"no reservation {reference!r}")
        release(session, r)
        return _stay(r)

    return with_session(target, work)


__all__ = [
    "BadStay",
    "BookingError",
    "Inventory",
    "NotFound",
    "RoomType",
    "SoldOut",
    "Stay",
    "alternatives",
    "book_stay",
    "cancel_stay",
    "change_stay",
    "check_stay",
    "find_stays",
    "get_stay",
    "list_stays",
    "nights",
    "rooms_free",
]
