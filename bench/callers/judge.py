"""Seed what a persona's call needs into the store, and judge the call from the stored record.

Facts-right success is read from the rows the call left, not from its outcome label: the
appointment / reservation linked to the call (or the seeded one it moved or cancelled) has the
persona's date, time, type, and a customer whose name matches (difflib ratio >= 0.85 on the
normalised full name) and whose phone number is exactly the persona's; a bank caller is
verified as the seeded customer (slot rows ``verified`` and ``customer_id``) and, for a lost
card, that customer's card is frozen by this call; an impostor is never verified and freezes
nothing; an FAQ caller's answer is among the stored bot turns; an emergency is transferred to
the clinic's number. Outcome-only success compares the call's outcome label only.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from difflib import SequenceMatcher
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from callflows.store import repo
from callflows.store.models import Call, Customer, SlotValue, Turn
from callflows_verticals.dental_clinic.models import Appointment
from callflows_verticals.hotel.models import Reservation
from callflows_verticals.retail_bank.models import Card

from .personas import Persona

NAME_RATIO = 0.85
EXPECTED_OUTCOME = {
    "book": {"appointment_booked"}, "faq_book": {"appointment_booked"},
    "reschedule": {"appointment_rescheduled"}, "cancel": {"appointment_cancelled"},
    "hours": {"faq_answered"},
    "emergency": {"emergency_transferred", "transferred"},
    "balance": {"balance_given"}, "lost_card": {"card_frozen"},
    "hotel_book": {"reservation_booked"}, "hotel_change": {"reservation_changed"},
}
TRANSFER_NUMBER = {"dental_clinic": "+15550100199"}


def norm_name(name: str) -> str:
    return " ".join(re.sub(r"[^a-z ]", " ", (name or "").lower()).split())


def name_ok(stored: str, persona: Persona) -> bool:
    return SequenceMatcher(None, norm_name(stored), norm_name(persona.full_name)).ratio() >= NAME_RATIO


def phone_ok(stored: str | None, persona: Persona) -> bool:
    digits = re.sub(r"\D", "", stored or "")
    return digits[-10:] == persona.phone and len(digits) in (10, 11)


def _tz(vertical: str) -> ZoneInfo:
    return ZoneInfo("America/New_York")


# --------------------------------------------------------------------------- seeding


def seed(store: Any, p: Persona, modules: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Rows the persona's call needs (an existing booking, a bank customer); returns their ids."""
    from callflows_verticals.dental_clinic import scheduling
    from callflows_verticals.hotel import booking as hb
    from callflows_verticals.retail_bank import bank as bank_repo

    tz = _tz(p.vertical)
    if p.task in ("reschedule", "cancel"):
        with store.session() as s:
            providers = modules["dental_clinic"].ensure_providers(s)
            cust = repo.add_customer(s, "dental_clinic", p.full_name, date_of_birth=p.dob.isoformat(), phone=p.e164)
            cid, pid = cust.id, providers[p.provider].id
        start = datetime.combine(p.old_day, time(*p.old_at), tzinfo=tz)
        appt = scheduling.book(store, "dental_clinic", cid, pid, p.visit, start, 30)
        return {"appointment_id": getattr(appt, "id", None) or _appt_id(store, cid), "customer_id": cid}
    if p.vertical == "retail_bank":
        entry = {"full_name": p.full_name, "date_of_birth": p.dob.isoformat(), "ssn_last4": p.ssn_last4,
                 "zip_code": p.zip_code, "phone": p.e164, "tier": "standard",
                 "account_number": f"00{p.phone}",
                 "accounts": [{"kind": "checking", "number_last4": p.phone[-4:], "balance": 1234.56},
                              {"kind": "savings", "number_last4": p.ssn_last4[::-1], "balance": 5800.00}],
                 "cards": [{"kind": "debit", "last4": p.zip_code[:4]}]}
        with store.session() as s:
            bank_repo.seed_customers(s, "retail_bank", [entry], now=now)
            cid = s.scalars(select(Customer.id).where(Customer.vertical == "retail_bank",
                                                      Customer.full_name == p.full_name)).first()
        return {"customer_id": cid}
    if p.task == "hotel_change":
        inv = modules["hotel"].inventory()
        with store.session() as s:
            cid = repo.add_customer(s, "hotel", p.full_name, phone=p.e164).id
        stay = hb.book_stay(store, inv, cid, p.old_room, p.old_arrival, p.old_departure, p.guests)
        return {"reservation_id": stay.id, "customer_id": cid}
    return {}


def _appt_id(store: Any, customer_id: int) -> int | None:
    with store.session() as s:
        return s.scalars(select(Appointment.id).where(Appointment.customer_id == customer_id)).first()


# --------------------------------------------------------------------------- judging


def _local(dt: datetime, vertical: str) -> tuple[str, tuple[int, int]]:
    loc = dt.astimezone(_tz(vertical))
    return loc.date().isoformat(), (loc.hour, loc.minute)


def _judge_dental(s: Any, p: Persona, call: Call, seeded: dict[str, Any], why: list[str],
                  booked_name: dict[str, bool]) -> bool:
    if p.task in ("reschedule", "cancel"):
        appt = s.get(Appointment, seeded.get("appointment_id"))
        if appt is None:
            why.append("seeded appointment missing")
            return False
        if p.task == "cancel":
            ok = appt.status == "cancelled"
            why += [] if ok else [f"status {appt.status}"]
            return ok
        day, at = _local(appt.starts_at, p.vertical)
        checks = {"status": appt.status == "booked", "date": day == p.day.isoformat(), "time": at == p.at}
    else:
        appts = list(s.scalars(select(Appointment).where(Appointment.call_id == call.id,
                                                         Appointment.status == "booked")))
        if len(appts) != 1:
            why.append(f"{len(appts)} appointments booked by the call")
            return False
        appt = appts[0]
        day, at = _local(appt.starts_at, p.vertical)
        cust = s.get(Customer, appt.customer_id)
        booked_name.update(close=name_ok(cust.full_name, p), flagged=bool(appt.name_unverified))
        checks = {"date": day == p.day.isoformat(), "time": at == p.at, "name": name_ok(cust.full_name, p),
                  "phone": phone_ok(cust.phone, p), "visit": appt.appointment_type == p.visit,
                  "provider": p.provider == "any" or appt.provider.key == p.provider}
    why += [k for k, ok in checks.items() if not ok]
    return all(checks.values())


def _slots(s: Any, call_id: str) -> dict[str, str | None]:
    rows = s.scalars(select(SlotValue).where(SlotValue.call_id == call_id).order_by(SlotValue.id))
    return {r.name: r.value_masked for r in rows}  # the last value of each slot


def _judge_bank(s: Any, p: Persona, call: Call, seeded: dict[str, Any], why: list[str]) -> bool:
    slots = _slots(s, call.id)
    verified = str(slots.get("verified")).lower() == "true" and str(slots.get("customer_id")) == str(seeded["customer_id"])
    frozen = list(s.scalars(select(Card).where(Card.customer_id == seeded["customer_id"], Card.frozen_call_id == call.id)))
    if p.task == "impostor":
        ok = str(slots.get("verified")).lower() != "true" and not frozen
        why += [] if ok else ["impostor verified"]
        return ok
    if not verified:
        why.append("not verified")
        return False
    if p.task == "lost_card":
        ok = bool(frozen) and all(c.status == "frozen" for c in frozen)
        why += [] if ok else ["card not frozen"]
        return ok
    bots = " ".join(t.text for t in s.scalars(select(Turn).where(Turn.call_id == call.id, Turn.speaker == "bot")))
    ok = "dollars" in bots.lower()
    why += [] if ok else ["no balance read"]
    return ok


def _judge_hotel(s: Any, p: Persona, call: Call, seeded: dict[str, Any], why: list[str],
                 booked_name: dict[str, bool]) -> bool:
    if p.task == "hotel_change":
        res = s.get(Reservation, seeded.get("reservation_id"))
    else:
        rows = list(s.scalars(select(Reservation).where(Reservation.call_id == call.id, Reservation.status == "booked")))
        res = rows[0] if len(rows) == 1 else None
    if res is None:
        why.append("no reservation")
        return False
    cust = s.get(Customer, res.customer_id)
    checks = {"status": res.status == "booked", "arrival": res.arrival == p.arrival,
              "departure": res.departure == p.departure, "guests": res.guests == p.guests,
              "room": res.room_type == p.room, "name": name_ok(cust.full_name, p)}
    if p.task == "hotel_book":
        checks["phone"] = phone_ok(cust.phone, p)
        booked_name.update(close=name_ok(cust.full_name, p), flagged=bool(res.name_unverified))
    why += [k for k, ok in checks.items() if not ok]
    return all(checks.values())


def _judge_faq(s: Any, p: Persona, call: Call, why: list[str]) -> bool:
    bots = " ".join(t.text for t in s.scalars(select(Turn).where(Turn.call_id == call.id, Turn.speaker == "bot")))
    ok = all(w in bots.lower() for w in p.faq[1])
    why += [] if ok else ["faq answer not given"]
    return ok


def judge(store: Any, p: Persona, call_id: str | None, seeded: dict[str, Any],
          twilio_sid: str | None = None) -> dict[str, Any]:
    """{facts_ok, outcome_ok, outcome, transferred, why, ...} of one call, from the store."""
    with store.session() as s:
        call = s.get(Call, call_id) if call_id else s.scalar(select(Call).where(Call.twilio_call_sid == twilio_sid))
        if call is None:
            return {"facts_ok": False, "outcome_ok": False, "outcome": None, "transferred": False,
                    "why": ["no call record"], "call_id": None}
        why: list[str] = []
        booked_name: dict[str, bool] = {}  # a new booking's stored name: close to the truth, flagged
        if p.task == "emergency":
            facts = bool(call.transferred) and call.transfer_to == TRANSFER_NUMBER["dental_clinic"]
            why += [] if facts else ["not transferred"]
        elif p.task == "hours":
            facts = _judge_faq(s, p, call, why)
        elif p.vertical == "dental_clinic":
            facts = _judge_dental(s, p, call, seeded, why, booked_name)
            if p.task == "faq_book":
                facts = _judge_faq(s, p, call, why) and facts
        elif p.vertical == "retail_bank":
            facts = _judge_bank(s, p, call, seeded, why)
        else:
            facts = _judge_hotel(s, p, call, seeded, why, booked_name)
        outcome = call.outcome
        if p.task == "impostor":  # any label but one of a verified caller
            outcome_ok = outcome not in {"identity_verified", "balance_given", "card_frozen", "transactions_given"}
        else:
            outcome_ok = outcome in EXPECTED_OUTCOME[p.task]
        if p.task == "emergency":
            outcome_ok = outcome_ok or bool(call.transferred)
        return {"facts_ok": bool(facts), "outcome_ok": bool(outcome_ok), "outcome": outcome,
                "transferred": bool(call.transferred), "why": why, "call_id": call.id,
                "booked_name": booked_name or None}


def caller_turns(store: Any, call_id: str) -> list[tuple[str, dict[str, Any] | None]]:
    """The stored caller turns of a call, in order: (text as heard, extra)."""
    with store.session() as s:
        rows = s.scalars(select(Turn).where(Turn.call_id == call_id, Turn.speaker == "caller").order_by(Turn.seq))
        return [(t.text, t.extra) for t in rows]
