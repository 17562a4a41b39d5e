"""The clinic's escalation lookups (escalation.yaml ``function: dental_appointment``).

Registered by name through the vertical's plugin, so the engine never imports this module."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import select

from callflows.plugins.spec import Facts, SlotValues
from callflows.store.db import Store

from .models import Appointment


def dental_appointment(store: Store, slots: SlotValues, options: Mapping[str, object]) -> Facts:
    """appointment_type, minutes and days_until of the appointment the caller is changing."""
    ref = slots.get(str(options.get("slot", "appointment_ref")))
    if not ref:
        return {}
    with store.session() as s:
        appt = s.scalars(select(Appointment).where(Appointment.reference == str(ref))).first()
        if appt is None:
            return {}
        days = (appt.starts_at.date() - date.today()).days
        return {"appointment_type": appt.appointment_type, "minutes": appt.duration_minutes, "days_until": days}
