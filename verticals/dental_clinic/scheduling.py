"""Opening hours, free-slot search and race-free booking.

No two bookings of one provider can overlap, whatever the number of
concurrent callers: a booked appointment owns one ``slot_holds`` row per
15-minute unit (on the UTC quarter-hour grid) that its time touches, and
``UNIQUE(provider_id, slot_start)`` makes the database refuse the second
booking (``IntegrityError`` -> :class:`SlotTaken`, through the engine's
:func:`callflows.store.holds.hold_with_retry`).  The check before the
insert only gives a nicer error; the constraint is what guarantees it.

All datetimes given must be timezone-aware.  Datetimes returned by
:func:`free_slots` are in the schedule's time zone; those read from the
database are in UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from callflows.store.db import Store
from callflows.store.holds import hold_with_retry, new_reference, release, with_session
from callflows.store.types import to_utc, utcnow

from .models import HOLD_MINUTES, Appointment, Provider, SlotHold

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOLD = timedelta(minutes=HOLD_MINUTES)


class SchedulingError(Exception):
    """Base class of the booking errors."""


class SlotTaken(SchedulingError):
    """The provider is already booked for (part of) that time."""


class OutsideHours(SchedulingError):
    """The requested time is not within opening hours."""


class SlotInPast(SchedulingError):
    """The requested time has already started."""


# --------------------------------------------------------------------------- #
# Schedule
# --------------------------------------------------------------------------- #


def _parse_hhmm(value: str) -> time:
    hours, minutes = str(value).strip().split(":")
    if hours == "24" and minutes == "00":
        return time(23, 59, 59, 999999)
    return time(int(hours), int(minutes))


def _day_key(name: str) -> str:
    key = str(name).strip().lower()[:3]
    if key not in DAYS:
        raise ValueError(f"unknown day {name!r} (use mon..sun)")
    return key


@dataclass
class Schedule:
    """Weekly opening hours in a time zone.

    ``opening_hours`` maps ``"mon"``..``"sun"`` (full names accepted) to
    ``[("08:00", "12:00"), ("13:00", "17:00")]``; ``"08:00-12:00"`` strings
    and two-item lists (from YAML) are accepted too.  Days not listed are
    closed, as are ``closed_dates`` (``"YYYY-MM-DD"``).  Appointments start
    on the ``slot_minutes`` grid counted from the start of each window.
    """

    timezone: str
    opening_hours: dict[str, list[tuple[str, str]]]
    slot_minutes: int = 15
    closed_dates: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        normalized: dict[str, list[tuple[str, str]]] = {}
        for day, windows in (self.opening_hours or {}).items():
            spans: list[tuple[str, str]] = []
            for window in windows or []:
                if isinstance(window, str):
                    start, end = window.split("-")
                else:
                    start, end = window
                if _parse_hhmm(end) <= _parse_hhmm(start):
                    raise ValueError(f"empty opening window {start}-{end} on {day}")
                spans.append((str(start).strip(), str(end).strip()))
            normalized.setdefault(_day_key(day), []).extend(spans)
        self.opening_hours = {d: sorted(w, key=lambda s: _parse_hhmm(s[0])) for d, w in normalized.items()}
        if self.slot_minutes <= 0:
            raise ValueError("slot_minutes must be positive")
        self.closed_dates = tuple(str(d) for d in self.closed_dates)
        self._tz = ZoneInfo(self.timezone)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """Build from a mapping such as a YAML ``schedule:`` section."""
        return cls(
            timezone=data["timezone"],
            opening_hours=dict(data.get("opening_hours") or data.get("hours") or {}),
            slot_minutes=int(data.get("slot_minutes", 15)),
            closed_dates=tuple(data.get("closed_dates") or ()),
        )

    @property
    def tz(self) -> ZoneInfo:
        """The schedule's time zone."""
        return self._tz

    def windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """The opening windows of a local date, as aware datetimes, contiguous ones merged."""
        if day.isoformat() in self.closed_dates:
            return []
        merged: list[tuple[datetime, datetime]] = []
        for start, end in self.opening_hours.get(DAYS[day.weekday()], []):
            ws = datetime.combine(day, _parse_hhmm(start), tzinfo=self._tz)
            we = datetime.combine(day, _parse_hhmm(end), tzinfo=self._tz)
            if merged and ws <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(we, merged[-1][1]))
            else:
                merged.append((ws, we))
        return merged

    def contains(self, start: datetime, duration_minutes: int) -> bool:
        """Whether ``[start, start + duration)`` lies inside one opening window."""
        local = _aware(start).astimezone(self._tz)
        end = local + timedelta(minutes=duration_minutes)
        return any(ws <= local and end <= we for ws, we in self.windows(local.date()))

    def starts(self, day: date, duration_minutes: int) -> Iterator[datetime]:
        """Every possible start on a local date for an appointment of that length."""
        step = timedelta(minutes=self.slot_minutes)
        length = timedelta(minutes=duration_minutes)
        for ws, we in self.windows(day):
            t = ws
            while t + length <= we:
                yield t
                t += step


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: give a timezone-aware one")
    return value


def hold_starts(start: datetime, end: datetime) -> list[datetime]:
    """UTC starts of the 15-minute units touched by ``[start, end)``."""
    start_utc, end_utc = to_utc(_aware(start)), to_utc(_aware(end))
    step = int(_HOLD.total_seconds())
    first = int(start_utc.timestamp()) // step * step
    t = datetime.fromtimestamp(first, tz=timezone.utc)
    out: list[datetime] = []
    while t < end_utc:
        out.append(t)
        t += _HOLD
    return out


def _held(session: Session, provider_ids: Iterable[int], lo: datetime, hi: datetime,
          exclude_appointment_id: int | None = None) -> set[tuple[int, datetime]]:
    stmt = select(SlotHold.provider_id, SlotHold.slot_start).where(
        SlotHold.provider_id.in_(list(provider_ids)),
        SlotHold.slot_start >= lo - _HOLD,
        SlotHold.slot_start < hi,
    )
    if exclude_appointment_id is not None:
        stmt = stmt.where(SlotHold.appointment_id != exclude_appointment_id)
    return {(pid, to_utc(start)) for pid, start in session.execute(stmt)}


def _check_time(start: datetime, duration_minutes: int, schedule: Schedule | None,
                now: datetime | None, allow_past: bool) -> None:
    _aware(start)
    if duration_minutes <= 0:
        raise ValueError("duration_minutes must be positive")
    if now is not None and not allow_past and start < _aware(now):
        raise SlotInPast(f"{start.isoformat()} is in the past")
    if schedule is not None and not schedule.contains(start, duration_minutes):
        raise OutsideHours(f"{start.isoformat()} (+{duration_minutes} min) is outside opening hours")


# --------------------------------------------------------------------------- #
# queries
# --------------------------------------------------------------------------- #


def is_free(
    session: Session,
    provider_id: int,
    start: datetime,
    duration_minutes: int,
    schedule: Schedule | None = None,
    *,
    now: datetime | None = None,
    exclude_appointment_id: int | None = None,
) -> bool:
    """Whether the provider can take ``[start, start + duration)``.

    With ``schedule``, the time must also be within opening hours; with
    ``now``, it must not have started.
    """
    end = _aware(start) + timedelta(minutes=duration_minutes)
    if schedule is not None and not schedule.contains(start, duration_minutes):
        return False
    if now is not None and start < now:
        return False
    units = hold_starts(start, end)
    held = _held(session, [provider_id], units[0], units[-1] + _HOLD, exclude_appointment_id)
    return not any((provider_id, u) in held for u in units)


def free_slots(
    session: Session,
    vertical: str,
    schedule: Schedule,
    duration_minutes: int,
    provider_ids: Sequence[int] | None,
    near: datetime,
    limit: int = 3,
    earliest: datetime | None = None,
    *,
    now: datetime | None = None,
    horizon_days: int = 14,
    distinct_times: bool = True,
) -> list[tuple[datetime, Provider]]:
    """The free starts closest to ``near``, nearest first (ties: the earlier).

    Starts are on the schedule's grid, the whole appointment fits in one
    opening window, none is before ``now`` or ``earliest`` (with neither
    given: before the current time; pass the call's clock as either for
    simulated calls), and none overlaps another booking of the provider.
    ``provider_ids`` gives the providers in order of preference (``None``
    or empty: every provider of the vertical).  With ``distinct_times``
    each start is offered once, with the first free provider.  Searches
    ``horizon_days`` either side of ``near``.  Returned datetimes are in
    the schedule's time zone.
    """
    near = _aware(near)
    stmt = select(Provider).where(Provider.vertical == vertical)
    if provider_ids:
        stmt = stmt.where(Provider.id.in_(list(provider_ids)))
    providers = list(session.scalars(stmt.order_by(Provider.id)))
    if provider_ids:
        order = {pid: i for i, pid in enumerate(provider_ids)}
        providers.sort(key=lambda p: order[p.id])
    if not providers or limit <= 0:
        return []

    if now is None and earliest is None:
        now = utcnow()
    bounds = [_aware(b) for b in (now, earliest) if b is not None]
    lower = max(bounds)
    length = timedelta(minutes=duration_minutes)
    horizon = timedelta(days=horizon_days)
    held = _held(session, [p.id for p in providers], near - horizon - timedelta(days=1),
                 near + horizon + length + timedelta(days=1))

    center = near.astimezone(schedule.tz).date()
    found: list[tuple[timedelta, datetime, int, Provider]] = []
    seen_times: set[datetime] = set()
    for k in range(horizon_days + 1):
        days = [center] if k == 0 else [center - timedelta(days=k), center + timedelta(days=k)]
        for day in days:
            for start in schedule.starts(day, duration_minutes):
                if start < lower or abs(start - near) > horizon:
                    continue
                units = hold_starts(start, start + length)
                for rank, provider in enumerate(providers):
                    if distinct_times and start in seen_times:
                        break
                    if any((provider.id, u) in held for u in units):
                        continue
                    found.append((abs(start - near), start, rank, provider))
                    seen_times.add(start)
        found.sort(key=lambda f: (f[0], f[1], f[2]))
        # every start on a later ring is at least ~k days away from `near`
        if len(found) >= limit and found[limit - 1][0] < timedelta(days=k) - timedelta(hours=2):
            break
    return [(start, provider) for _d, start, _r, provider in found[:limit]]


def find_customer_appointments(
    session: Session,
    vertical: str,
    customer_id: int,
    upcoming_after: datetime | None = None,
) -> list[Appointment]:
    """A customer's booked appointments (starting at/after ``upcoming_after``), soonest first."""
    stmt = select(Appointment).where(
        Appointment.vertical == vertical,
        Appointment.customer_id == customer_id,
        Appointment.status == "booked",
    )
    if upcoming_after is not None:
        stmt = stmt.where(Appointment.starts_at >= to_utc(_aware(upcoming_after)))
    return list(session.scalars(stmt.order_by(Appointment.starts_at, Appointment.id)))


# --------------------------------------------------------------------------- #
# commands
# --------------------------------------------------------------------------- #


def book(
    target: Store | Session,
    vertical: str,
    customer_id: int,
    provider_id: int,
    appointment_type: str,
    start: datetime,
    duration_minutes: int,
    call_id: str | None = None,
    *,
    schedule: Schedule | None = None,
    notes: str | None = None,
    now: datetime | None = None,
    allow_past: bool = False,
    name_unverified: bool = False,
) -> Appointment:
    """Book an appointment, or raise :class:`SlotTaken` / :class:`OutsideHours` / :class:`SlotInPast`.

    ``target`` is a :class:`Store` (the booking is committed before this
    returns) or a ``Session`` (the booking happens in a savepoint; the
    caller's transaction commits it).  Opening hours are checked only when
    ``schedule`` is given, the past only when ``now`` (the call's clock) is
    given -- so seeding and imports need no clock.  ``name_unverified``: the caller could not
    confirm the spelling of the name (stored with the booking for the staff to check).
    """
    return with_session(target, lambda session: _book(
        session, vertical, customer_id, provider_id, appointment_type, start, duration_minutes, call_id,
        schedule, notes, now, allow_past, name_unverified))


def _book(session: Session, vertical: str, customer_id: int, provider_id: int, appointment_type: str,
          start: datetime, duration_minutes: int, call_id: str | None, schedule: Schedule | None,
          notes: str | None, now: datetime | None, allow_past: bool, name_unverified: bool = False) -> Appointment:
    _check_time(start, duration_minutes, schedule, now, allow_past)
    provider = session.get(Provider, provider_id)
    if provider is None or provider.vertical != vertical:
        raise LookupError(f"no provider {provider_id} in {vertical!r}")
    starts_at = to_utc(start)
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    taken = SlotTaken(f"provider {provider_id} is busy at {starts_at.isoformat()}")
    if not is_free(session, provider_id, starts_at, duration_minutes):
        raise taken

    def attempt() -> Appointment:
        appointment = Appointment(
            vertical=vertical,
            reference=new_reference(session, Appointment.reference),
            customer_id=customer_id,
            provider_id=provider_id,
            appointment_type=appointment_type,
            starts_at=starts_at,
            ends_at=ends_at,
            status="booked",
            created_at=utcnow(),
            call_id=call_id,
            notes=notes,
            name_unverified=bool(name_unverified),
        )
        session.add(appointment)
        session.flush()
        appointment.holds = [SlotHold(provider_id=provider_id, slot_start=u) for u in hold_starts(starts_at, ends_at)]
        session.flush()
        return appointment

    appointment = hold_with_retry(session, attempt, lambda: taken, what=f"booking with provider {provider_id}")
    log.info("booked %s: provider %s at %s (%d min)", appointment.reference, provider_id,
             starts_at.isoformat(), duration_minutes)
    return appointment


def reschedule(
    target: Store | Session,
    appointment_id: int,
    new_start: datetime,
    schedule: Schedule | None = None,
    *,
    duration_minutes: int | None = None,
    provider_id: int | None = None,
    now: datetime | None = None,
    allow_past: bool = False,
) -> Appointment:
    """Move a booked appointment, atomically.

    The old holds are released and the new ones taken in one savepoint; if
    the new time is taken (:class:`SlotTaken`) the old booking is left
    exactly as it was.  The length stays the same unless
    ``duration_minutes`` is given; ``provider_id`` may switch provider.
    """
    return with_session(target, lambda session: _reschedule(
        session, appointment_id, new_start, schedule, duration_minutes, provider_id, now, allow_past))


def _reschedule(session: Session, appointment_id: int, new_start: datetime, schedule: Schedule | None,
                duration_minutes: int | None, provider_id: int | None, now: datetime | None,
                allow_past: bool) -> Appointment:
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        raise LookupError(f"no appointment {appointment_id}")
    if appointment.status != "booked":
        raise SchedulingError(f"appointment {appointment.reference} is {appointment.status}")
    minutes = duration_minutes or appointment.duration_minutes
    _check_time(new_start, minutes, schedule, now, allow_past)
    pid = provider_id or appointment.provider_id
    if pid != appointment.provider_id:
        provider = session.get(Provider, pid)
        if provider is None or provider.vertical != appointment.vertical:
            raise LookupError(f"no provider {pid} in {appointment.vertical!r}")
    starts_at = to_utc(new_start)
    ends_at = starts_at + timedelta(minutes=minutes)
    taken = SlotTaken(f"provider {pid} is busy at {starts_at.isoformat()}")
    if not is_free(session, pid, starts_at, minutes, exclude_appointment_id=appointment.id):
        raise taken

    def attempt() -> Appointment:
        appointment.holds.clear()
        session.flush()  # old holds gone before the new ones go in
        appointment.provider_id = pid
        appointment.starts_at = starts_at
        appointment.ends_at = ends_at
        appointment.holds = [SlotHold(provider_id=pid, slot_start=u) for u in hold_starts(starts_at, ends_at)]
        session.flush()
        return appointment

    try:
        hold_with_retry(session, attempt, lambda: taken, what=f"move of {appointment.reference}")
    except SlotTaken:
        session.refresh(appointment)  # the old booking, exactly as it was
        raise
    log.info("rescheduled %s to %s", appointment.reference, starts_at.isoformat())
    return appointment


def cancel(target: Store | Session, appointment_id: int) -> Appointment:
    """Cancel an appointment and free its time (idempotent)."""
    return with_session(target, lambda session: _cancel(session, appointment_id))


def _cancel(session: Session, appointment_id: int) -> Appointment:
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        raise LookupError(f"no appointment {appointment_id}")
    release(session, appointment)
    return appointment


__all__ = [
    "DAYS",
    "OutsideHours",
    "Schedule",
    "SchedulingError",
    "SlotInPast",
    "SlotTaken",
    "book",
    "cancel",
    "find_customer_appointments",
    "free_slots",
    "hold_starts",
    "is_free",
    "reschedule",
]
