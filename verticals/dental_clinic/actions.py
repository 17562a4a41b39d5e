"""Bright Smile Dental's custom logic, with the rasa-sdk interface.

Form validators check dates and times against opening hours and find the caller's
appointment by what is on file (phone number or booking reference), then the caller confirms
it by the first name on it; a new booking's phone number on file gives the name to confirm; actions book, move and cancel in the
store, offering the nearest free times when the asked one is taken. The same module runs
in process (default) or under `rasa run actions`.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from callflows.actions.context import call_id, call_now, store_for
from callflows.actions.name_on_file import NameOnFile
from callflows.actions.signals import signal
from callflows.flow.templates import speak_date, speak_time
from callflows.store import repo
from callflows_verticals.dental_clinic import repo as clinic_repo
from callflows_verticals.dental_clinic import scheduling

logger = logging.getLogger(__name__)

VERTICAL = "dental_clinic"
LABELS = {"patel": "Dr. Patel", "nguyen": "Dr. Nguyen", "garcia": "Dr. Garcia"}
ORDINALS = {"first": 0, "1st": 0, "earliest": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": -1}


@lru_cache(maxsize=1)
def clinic() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parent / "clinic.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def schedule() -> scheduling.Schedule:
    return scheduling.Schedule.from_dict(clinic())


def ensure_providers(session: Any) -> dict[str, Any]:
    """Providers of the clinic in the store (created on first use); key -> Provider."""
    out = {}
    for p in clinic()["providers"]:
        out[p["key"]] = clinic_repo.upsert_provider(session, VERTICAL, p["key"], p["name"], title=p.get("title"))
    return out


def local_start(day: str, at: str) -> datetime:
    tz = ZoneInfo(clinic()["timezone"])
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(at), tzinfo=tz)


def describe(start: datetime, provider_key: str) -> str:
    local = start.astimezone(ZoneInfo(clinic()["timezone"]))
    return f"{speak_date(local.date())} at {speak_time(local.time())} with {LABELS.get(provider_key, provider_key)}"


def duration_of(appointment_type: str | None) -> int:
    return int(clinic()["appointment_types"].get(appointment_type or "", 30))


def long_treatment(appt: Any) -> bool:
    """A costly or long visit (clinic.yaml move_offer): before cancelling it the caller hears that
    it can be moved instead. Said in the confirmation itself, so a plain yes or no settles it."""
    offer = clinic().get("move_offer") or {}
    minutes = int((appt.ends_at - appt.starts_at).total_seconds() // 60)
    return appt.appointment_type in (offer.get("treatments") or ()) or minutes >= int(offer.get("from_minutes") or 10**6)


def hours_text(day: date) -> str:
    return " and ".join(f"{speak_time(a.time())} to {speak_time(b.time())}" for a, b in schedule().windows(day))


def offer_alternatives(dispatcher: CollectingDispatcher, tracker: Tracker, start: datetime,
                       provider_keys: list[str], duration: int) -> list[dict[str, Any]]:
    """Say the nearest free times and return the events that re-open the form on the time."""
    store = store_for(tracker)
    with store.session() as s:
        providers = ensure_providers(s)
        ids = [providers[k].id for k in provider_keys]
        found = scheduling.free_slots(s, VERTICAL, schedule(), duration, ids, near=start, limit=3,
                                      earliest=call_now(tracker))
        offers = [{"start": st.isoformat(), "provider": p.key} for st, p in found]
    if not offers:
        dispatcher.utter_message(text="I'm sorry, I can't find a free time near then. Could you try another day?")
        return [SlotSet("date", None), SlotSet("time", None), SlotSet("offered_times", None),
                ActiveLoop(tracker.active_loop.get("name") or "book_appointment")]
    spoken = "; ".join(describe(datetime.fromisoformat(o["start"]), o["provider"]) for o in offers)
    dispatcher.utter_message(text=f"I'm sorry, that time isn't available. The nearest free times are {spoken}. "
                                  "Which one would you like? You can say the first, the second, or another time.")
    return [SlotSet("time", None), SlotSet("offered_times", offers),
            ActiveLoop(tracker.active_loop.get("name") or "book_appointment")]


def on_the_grid(at: time, step: int) -> time | None:
    """A time off the clinic's booking grid whose minutes are a "-teen" heard for a "-ty":
    "one thirty" comes back "one thirteen" over the line (and was booked at 1:13 PM); the "-ty"
    when that is on the grid, else None."""
    ty = (at.minute - 10) * 10 if 13 <= at.minute <= 15 else None
    return at.replace(minute=ty) if ty is not None and ty % step == 0 else None


class DateTimeChecks:
    """validate_date / validate_time / extract_time shared by booking and moving."""

    def validate_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: dict[str, Any]) -> dict[str, Any]:
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            return {"date": None}
        today = call_now(tracker).date()
        # the day heard is said back with the refusal: over the line it is often not the day
        # the caller said ("twenty ninth" heard "20th"), and they can only correct what they hear
        heard = f"{day.strftime('%B')} {day.day}"
        if day < today:
            dispatcher.utter_message(text=f"{heard} has already passed.")
            return {"date": None}
        if day > today + timedelta(days=180):
            dispatcher.utter_message(text=f"{heard} is too far ahead: we only book up to six months ahead.")
            return {"date": None}
        if not schedule().windows(day):
            dispatcher.utter_message(text=f"{heard} is a {day.strftime('%A')}, and we're closed on {day.strftime('%A')}s.")
            return {"date": None}
        return {"date": day.isoformat()}

    def validate_time(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: dict[str, Any]) -> dict[str, Any]:
        if value is None:
            return {"time": None}
        try:
            at = time.fromisoformat(str(value))
        except ValueError:
            return {"time": None}
        step = schedule().slot_minutes
        if at.minute % step:
            thirty = on_the_grid(at, step)
            if thirty is None:
                dispatcher.utter_message(text=f"We book appointments every {step} minutes, "
                                              f"like {speak_time(at.replace(minute=0))} or "
                                              f"{speak_time(at.replace(minute=step))}.")
                return {"time": None}
            at = thirty
        day_value = tracker.get_slot("date")
        if day_value:
            day = date.fromisoformat(str(day_value))
            start = local_start(day.isoformat(), at.isoformat(timespec="minutes"))
            if not schedule().contains(start, duration_of(tracker.get_slot("appointment_type"))):
                dispatcher.utter_message(text=f"We're open from {hours_text(day)} that day.")
                return {"time": None}
        return {"time": at.isoformat(timespec="minutes")}

    def extract_time(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     domain: dict[str, Any]) -> dict[str, Any]:
        """'the second one' after the nearest free times were offered."""
        offers = tracker.get_slot("offered_times")
        if not offers or tracker.get_slot("requested_slot") not in ("time", "date"):
            return {}
        text = (tracker.latest_message or {}).get("text", "")
        words = re.findall(r"[a-z0-9]+", text.lower())
        pick = next((ORDINALS[w] for w in words if w in ORDINALS), None)
        if pick is None and re.search(r"\b(that one|that works|yes|sure|okay)\b", text.lower()) and len(offers) == 1:
            pick = 0
        if pick is None or abs(pick) > len(offers) - (0 if pick < 0 else 1):
            return {}
        chosen = offers[pick]
        start = datetime.fromisoformat(chosen["start"]).astimezone(ZoneInfo(clinic()["timezone"]))
        return {"date": start.date().isoformat(), "time": start.strftime("%H:%M"),
                "provider": chosen["provider"], "offered_times": None}


class FindAppointment:
    """validate_phone / validate_booking_ref: find the caller's next appointment by what is on
    file (the phone number or the booking reference); validate_owner_confirmed: the caller says
    whether the appointment found (read back with the first name on it) is theirs."""

    CLEARS = ("phone", "booking_ref", "owner_confirmed", "appointment_ref", "appointment_summary", "name_on_file",
              "long_treatment")

    def _found(self, appt: Any) -> dict[str, Any]:
        return {"appointment_ref": appt.reference, "appointment_type": appt.appointment_type,
                "appointment_summary": f"{appt.appointment_type} on {describe(appt.starts_at, appt.provider.key)}",
                "long_treatment": long_treatment(appt),
                "name_on_file": (appt.customer.full_name or "").split()[0] if appt.customer.full_name else "you"}

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: dict[str, Any]) -> dict[str, Any]:
        if not value:
            return {}
        with store_for(tracker).session() as s:
            upcoming = []
            for c in repo.customers_with_phone(s, VERTICAL, str(value)):
                upcoming += scheduling.find_customer_appointments(s, VERTICAL, c.id, call_now(tracker))
            upcoming.sort(key=lambda a: a.starts_at)
            found = self._found(upcoming[0]) if upcoming else None
        if found is None:
            dispatcher.utter_message(response="not_found_phone")
            return {"phone": None}
        return {"phone": value, "booking_ref": None, **found}

    def validate_booking_ref(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> dict[str, Any]:
        if not value:
            return {}
        with store_for(tracker).session() as s:
            appt = clinic_repo.get_appointment_by_reference(s, str(value))
            ok = appt is not None and appt.vertical == VERTICAL and appt.status == "booked"
            found = self._found(appt) if ok else None
        if found is None:
            dispatcher.utter_message(response="not_found_ref")
            return {"booking_ref": None}
        return {"booking_ref": value, "phone": None, **found}

    def validate_owner_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: dict[str, Any]) -> dict[str, Any]:
        if value is False:
            dispatcher.utter_message(response="not_yours")
            return {slot: None for slot in self.CLEARS}
        return {"owner_confirmed": value}


class ValidateBookAppointmentForm(NameOnFile, DateTimeChecks, FormValidationAction):
    vertical = VERTICAL

    def name(self) -> str:
        return "validate_book_appointment"


class ValidateRescheduleAppointmentForm(FindAppointment, DateTimeChecks, FormValidationAction):
    def name(self) -> str:
        return "validate_reschedule_appointment"


class ValidateCancelAppointmentForm(FindAppointment, FormValidationAction):
    def name(self) -> str:
        return "validate_cancel_appointment"


class ActionBookAppointment(Action):
    def name(self) -> str:
        return "action_book_appointment"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        kind = tracker.get_slot("appointment_type")
        wanted = tracker.get_slot("provider") or "any"
        keys = [p["key"] for p in clinic()["providers"]] if wanted == "any" else [wanted]
        start = local_start(tracker.get_slot("date"), tracker.get_slot("time"))
        duration = duration_of(kind)
        store = store_for(tracker)
        booked = None
        with store.session() as s:
            providers = ensure_providers(s)
            matches = repo.find_customers(s, VERTICAL, tracker.get_slot("full_name"), phone=tracker.get_slot("phone"))
            customer = matches[0] if matches else repo.add_customer(
                s, VERTICAL, tracker.get_slot("full_name"), phone=tracker.get_slot("phone"))
            customer_id = customer.id
        for key in keys:
            try:
                appt = scheduling.book(store, VERTICAL, customer_id, providers[key].id, kind, start, duration,
                                       call_id=call_id(tracker), schedule=schedule(), now=call_now(tracker),
                                       name_unverified=tracker.get_slot("name_unverified") is True)
            except scheduling.SchedulingError:
                continue
            booked = (appt.reference, key)
            break
        if booked is None:
            return offer_alternatives(dispatcher, tracker, start, keys, duration)
        ref, key = booked
        spelled = " ".join(ref)
        dispatcher.utter_message(response="booked", appointment_ref=spelled)
        signal(dispatcher, outcome="appointment_booked")
        return [SlotSet("appointment_ref", ref), SlotSet("provider", key), SlotSet("offered_times", None)]


class ActionRescheduleAppointment(Action):
    def name(self) -> str:
        return "action_reschedule_appointment"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        ref = tracker.get_slot("appointment_ref")
        start = local_start(tracker.get_slot("date"), tracker.get_slot("time"))
        store = store_for(tracker)
        with store.session() as s:
            appt = clinic_repo.get_appointment_by_reference(s, ref)
            if appt is None:
                dispatcher.utter_message(response="not_found")
                signal(dispatcher, transfer=True)
                return []
            appt_id, provider_key, kind = appt.id, appt.provider.key, appt.appointment_type
        try:
            scheduling.reschedule(store, appt_id, start, schedule(), now=call_now(tracker))
        except scheduling.SchedulingError:
            return offer_alternatives(dispatcher, tracker, start, [provider_key], duration_of(kind))
        dispatcher.utter_message(response="rescheduled")
        signal(dispatcher, outcome="appointment_rescheduled")
        return [SlotSet("offered_times", None)]


class ActionCancelAppointment(Action):
    def name(self) -> str:
        return "action_cancel_appointment"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        ref = tracker.get_slot("appointment_ref")
        store = store_for(tracker)
        with store.session() as s:
            appt = clinic_repo.get_appointment_by_reference(s, ref)
            if appt is None:
                dispatcher.utter_message(response="not_found")
                return []
            scheduling.cancel(s, appt.id)
        dispatcher.utter_message(response="cancelled")
        signal(dispatcher, outcome="appointment_cancelled")
        return [SlotSet("appointment_ref", None)]
