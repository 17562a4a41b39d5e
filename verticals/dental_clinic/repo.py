"""The clinic's queries: providers and appointments (booking itself is in scheduling.py).

Like :mod:`callflows.store.repo` these take a ``Session``, flush but never commit.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from callflows.plugins import Booking

from .models import Appointment, Provider


def upsert_provider(
    session: Session, vertical: str, key: str, name: str, title: str | None = None
) -> Provider:
    """Create or update the provider ``key`` of a vertical."""
    provider = session.scalars(
        select(Provider).where(Provider.vertical == vertical, Provider.key == key)
    ).first()
    if provider is None:
        provider = Provider(vertical=vertical, key=key, name=name, title=title)
        session.add(provider)
    else:
        provider.name = name
        provider.title = title
    session.flush()
    return provider


def get_provider(session: Session, vertical: str, key: str) -> Provider | None:
    """The provider ``key`` of a vertical, or None."""
    return session.scalars(
        select(Provider).where(Provider.vertical == vertical, Provider.key == key)
    ).first()


def list_providers(session: Session, vertical: str) -> list[Provider]:
    """A vertical's providers, by id."""
    return list(session.scalars(select(Provider).where(Provider.vertical == vertical).order_by(Provider.id)))


def list_appointments(
    session: Session, vertical: str | None = None, include_cancelled: bool = False
) -> list[Appointment]:
    """Appointments by start time (booked only unless ``include_cancelled``)."""
    stmt = select(Appointment)
    if vertical is not None:
        stmt = stmt.where(Appointment.vertical == vertical)
    if not include_cancelled:
        stmt = stmt.where(Appointment.status == "booked")
    return list(session.scalars(stmt.order_by(Appointment.starts_at, Appointment.id)))


def get_appointment_by_reference(session: Session, reference: str) -> Appointment | None:
    """The appointment with this reference (case and spaces ignored), or None."""
    ref = re.sub(r"[\s\-]", "", reference).upper()
    return session.scalars(select(Appointment).where(Appointment.reference == ref)).first()


def bookings_of_call(session: Session, call_id: str) -> list[Booking]:
    """The appointments made on a call, for the admin's call page."""
    rows = session.scalars(select(Appointment).where(Appointment.call_id == call_id).order_by(Appointment.id))
    return [Booking("appointment", a.reference, a.status, bool(a.name_unverified)) for a in rows]
