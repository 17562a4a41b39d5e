"""Facts a rule may test that the call itself does not hold (a balance, a tier, the length
of a booking), read from the store once the slots a lookup `needs` are filled.

A lookup is a function "module:function" called as f(store, slots, options) -> dict, or one of
the vertical's rasa-sdk actions (its SlotSet events become the facts). Results are cached per
call until the needed slots change. A failing lookup gives no facts (and is logged), never an
error: an unknown fact is never a reason to escalate.
"""

from __future__ import annotations

import importlib
from datetime import date
from pathlib import Path
from typing import Any, Callable

import yaml

from callflows.escalation.spec import Lookup


def resolve_function(path: str) -> Callable[..., dict[str, Any]]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class LookupCache:
    def __init__(self, lookups: dict[str, Lookup], log: Any):
        self.lookups = lookups
        self.log = log
        self._cache: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def facts(self, slots: dict[str, Any], run_function: Callable[[Lookup], dict[str, Any]],
              run_action: Callable[[Lookup], dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, lookup in self.lookups.items():
            key = tuple(slots.get(s) for s in lookup.needs)
            if any(v is None for v in key):
                continue
            cached = self._cache.get(name)
            if cached is None or cached[0] != key:
                try:
                    facts = run_action(lookup) if lookup.action else run_function(lookup)
                except Exception as exc:  # noqa: BLE001 - a lookup never breaks the call
                    self.log.warning("lookup %s failed: %s", name, type(exc).__name__)
                    facts = {}
                cached = (key, dict(facts or {}))
                self._cache[name] = cached
            out[name] = cached[1]
        return out


# --------------------------------------------------------------------------- built-in lookups


def bank_customer(store: Any, slots: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """tier, checking_balance, savings_balance, total_balance (dollars) of the verified customer."""
    from callflows.store import bank as bank_repo

    customer_id = slots.get(options.get("slot", "customer_id"))
    if not isinstance(customer_id, int):
        return {}
    with store.session() as s:
        accounts = bank_repo.accounts_of(s, customer_id)
        tier = bank_repo.customer_tier(s, customer_id)
    facts: dict[str, Any] = {"tier": tier, "total_balance": sum(a.balance_cents for a in accounts) / 100}
    for kind in sorted({a.kind for a in accounts}):
        facts[f"{kind}_balance"] = sum(a.balance_cents for a in accounts if a.kind == kind) / 100
    return facts


def hotel_reservation(store: Any, slots: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """nights, guests, room_type and total_price (dollars, from the vertical's price file) of the
    reservation the caller is changing or cancelling."""
    from callflows.hotel_booking import get_stay

    ref = slots.get(options.get("slot", "reservation_ref"))
    if not ref:
        return {}
    with store.session() as s:
        stay = get_stay(s, str(options.get("vertical", "hotel")), str(ref))
    if stay is None:
        return {}
    facts: dict[str, Any] = {"nights": stay.nights, "guests": stay.guests, "room_type": stay.room_type}
    prices = options.get("prices_file")
    if prices:
        path = Path(prices) if Path(prices).is_absolute() else Path(options.get("root", ".")) / prices
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
        room = ((data or {}).get("room_types") or {}).get(stay.room_type) or {}
        if "price" in room:
            facts["total_price"] = float(room["price"]) * stay.nights
    return facts


def dental_appointment(store: Any, slots: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """appointment_type, minutes and days_until of the appointment the caller is changing."""
    from sqlalchemy import select

    from callflows.store.models import Appointment

    ref = slots.get(options.get("slot", "appointment_ref"))
    if not ref:
        return {}
    with store.session() as s:
        appt = s.scalars(select(Appointment).where(Appointment.reference == str(ref))).first()
        if appt is None:
            return {}
        minutes = int((appt.ends_at - appt.starts_at).total_seconds() // 60)
        days = (appt.starts_at.date() - date.today()).days
        return {"appointment_type": appt.appointment_type, "minutes": minutes, "days_until": days}
