"""Race-safe booking of held units: the one "hold, retry, reference code" helper of every vertical.

A booking owns rows of a holds table (15-minute units of a provider, nights of a room unit,
a bike on a day...) and a UNIQUE constraint on that table lets the database itself refuse a
second booking of the same unit, whatever the number of concurrent calls, on SQLite and
PostgreSQL alike. The vertical writes one *attempt* (pick the units it believes free, insert
the booking and its holds, flush); :func:`hold_with_retry` runs it in a savepoint, so a lost
race undoes only that attempt, and tries again (re-reading what is held) or reports the loss
with the vertical's own exception. :func:`new_reference` gives the short code read to the caller,
:func:`release` cancels a booking and frees its units.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from callflows.store.db import Store

log = logging.getLogger(__name__)

REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: easy to say and hear
REFERENCE_LENGTH = 6
RACE_SQLSTATES = ("40P01", "40001")  # deadlock, serialization failure (PostgreSQL)

T = TypeVar("T")


def is_race_error(exc: DBAPIError) -> bool:
    """Deadlock / serialization failures count as losing the race for a unit."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in RACE_SQLSTATES


def new_reference(session: Session, column: InstrumentedAttribute[str], length: int = REFERENCE_LENGTH) -> str:
    """A reference code no row of ``column``'s table has yet (the column's UNIQUE has the last word)."""
    while True:
        ref = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(length))
        if session.scalar(select(column).where(column == ref)) is None:
            return ref


def hold_with_retry(session: Session, attempt: Callable[[], T], lost: Callable[[], Exception], *,
                    attempts: int = 1, what: str = "booking") -> T:
    """Run ``attempt`` in a savepoint until it wins its units; after ``attempts`` lost races
    raise ``lost()`` (the vertical's "taken" / "sold out" error). Any other error propagates
    (and the savepoint is rolled back, the caller's transaction untouched)."""
    for n in range(max(1, attempts)):
        try:
            with session.begin_nested():
                return attempt()
        except IntegrityError:
            log.info("%s lost a race for its units (attempt %d)", what, n + 1)
        except DBAPIError as exc:
            if not is_race_error(exc):
                raise
            log.info("%s hit a lock conflict (attempt %d)", what, n + 1)
    raise lost()


def with_session(target: Store | Session, work: Callable[[Session], T]) -> T:
    """Run ``work`` in the caller's session, or in a new one of the store committed on return."""
    if isinstance(target, Store):
        with target.session() as own:
            return work(own)
    return work(target)


class _Holds(Protocol):
    def clear(self) -> None: ...


class HeldBooking(Protocol):
    """A booking row that owns its holds (deleted with it: ``cascade="all, delete-orphan"``)."""

    status: str
    reference: str

    @property
    def holds(self) -> _Holds: ...


def release(session: Session, booking: HeldBooking) -> bool:
    """Cancel ``booking`` and free its units; idempotent (False when it was already cancelled)."""
    if booking.status == "cancelled":
        return False
    booking.holds.clear()
    booking.status = "cancelled"
    session.flush()
    log.info("cancelled %s", booking.reference)
    return True
