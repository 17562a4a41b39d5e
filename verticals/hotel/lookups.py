"""The hotel's escalation lookup (escalation.yaml ``function: hotel_reservation``).

Registered by name through the vertical's plugin, so the engine never imports this module."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from callflows.plugins import Booking
from callflows.plugins.spec import Facts, SlotValues
from callflows.store.db import Store

from .booking import get_stay
from .models import Reservation


def hotel_reservation(store: Store, slots: SlotValues, options: Mapping[str, object]) -> Facts:
    """nights, guests, room_type and total_price (dollars, from the vertical's price file) of the
    reservation the caller is changing or cancelling."""
    ref = slots.get(str(options.get("slot", "reservation_ref")))
    if not ref:
        return {}
    with store.session() as s:
        stay = get_stay(s, str(options.get("vertical", "hotel")), str(ref))
    if stay is None:
        return {}
    facts: Facts = {"nights": stay.nights, "guests": stay.guests, "room_type": stay.room_type}
    prices = options.get("prices_file")
    if prices:
        path = Path(str(prices))
        if not path.is_absolute():
            path = Path(str(options.get("root", "."))) / path
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
        room = ((data or {}).get("room_types") or {}).get(stay.room_type) or {}
        if "price" in room:
            facts["total_price"] = float(room["price"]) * stay.nights
    return facts


def bookings_of_call(session: Session, call_id: str) -> list[Booking]:
    """The reservations made on a call, for the admin's call page."""
    rows = session.scalars(select(Reservation).where(Reservation.call_id == call_id).order_by(Reservation.id))
    return [Booking("reservation", r.reference, r.status, bool(r.name_unverified)) for r in rows]
