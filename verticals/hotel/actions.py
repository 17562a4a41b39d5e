"""Harbor View Hotel's custom logic, with the rasa-sdk interface.

Form validators read the stay from what the caller says ("from friday for three nights",
"the 4th to the 7th"), reject a departure on or before the arrival, check that the room
type takes the party and is free for every night (offering other types when it is sold
out), and find an existing reservation by its reference or by name plus arrival date.
Actions book, change and cancel through booking.py (beside this file), which never sells a
night twice. The same module runs in process (default) or under `rasa run actions`.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from callflows.actions.context import call_id, call_now, store_for
from callflows.actions.name_on_file import NameOnFile
from callflows.actions.signals import signal
from callflows.flow.templates import speak_date
from callflows.nlu.values import ParseContext, extract
from callflows.store import repo
from callflows.store.holds import REFERENCE_ALPHABET, REFERENCE_LENGTH
from callflows.store.models import Customer
from callflows_verticals.hotel import booking as hb

logger = logging.getLogger(__name__)

VERTICAL = "hotel"
DATE_SLOTS = ("arrival_date", "departure_date", "booked_arrival")
STAY_SLOTS = ("arrival_date", "departure_date", "guests", "room_type")
CHANGE_CLEARS = {"dates": ("arrival_date", "departure_date"), "room": ("room_type",), "guests": ("guests",)}

# --------------------------------------------------------------------------- #
# business data
# --------------------------------------------------------------------------- #


@lru_cache(maxsize=1)
def hotel() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parent / "hotel.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def inventory() -> hb.Inventory:
    return hb.Inventory.from_dict(VERTICAL, hotel())


def label(room_type: str | None) -> str:
    room = inventory().room_types.get(room_type or "")
    return room.label if room else str(room_type)


def money(amount: int) -> str:
    return f"${amount:,}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def as_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def summary(stay: hb.Stay) -> str:
    return (f"a {label(stay.room_type)} for {plural(stay.guests, 'guest')}, from {speak_date(stay.arrival)} "
            f"to {speak_date(stay.departure)}")


def offer_text(rooms: list[hb.RoomType]) -> str:
    if not rooms:
        return "Nothing else is free for those nights either; you could try other dates."
    parts = [f"a {r.label} at {money(r.price)} a night" for r in rooms[:3]]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    return f"I can offer {joined}."


# --------------------------------------------------------------------------- #
# reading the caller's words
# --------------------------------------------------------------------------- #

_NIGHT_UNIT = re.compile(r"\s*(?:of\s+)?(nights?|weeks?)\b")
_FIXED_NIGHTS = ((re.compile(r"\b(?:a|one|single) night\b"), 1), (re.compile(r"\b(?:a|one) week\b"), 7),
                 (re.compile(r"\ba fortnight\b"), 14), (re.compile(r"\b(?:the|a) weekend\b(?! of)"), 2))
_NOT_GUESTS_AFTER = re.compile(r"\s*(?:of\s+)?(nights?|days?|weeks?|beds?|rooms?|singles?)\b")
_WEEKDAY = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b")
_EXPLICIT_DAY = re.compile(r"\b(january|february|march|april|may|june|july|august|september|october|november|"
                           r"december|\d+(st|nd|rd|th)?|\w+(first|second|third|th))\b")


def parse_ctx(tracker: Tracker) -> ParseContext:
    return ParseContext(now=call_now(tracker), business_hours=(0, 24))


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text", "") or ""


def nights_in(text: str, ctx: ParseContext) -> int | None:
    """'for three nights' -> 3, 'a week' -> 7; None when the caller gave no length of stay."""
    for value in extract("number", text, ctx):
        unit = _NIGHT_UNIT.match(text[value.end:])
        if unit and isinstance(value.value, int) and value.value > 0 and not value.extra.get("people"):
            return value.value * (7 if unit.group(1).startswith("week") else 1)
    for pattern, n in _FIXED_NIGHTS[:3]:
        if pattern.search(text):
            return n
    return None


# "for two nights" comes back "For tonight." over the line (Whisper, 8 kHz)
_TWO_NIGHTS_HEARD = re.compile(r"\bfor (?:tonight|to night|too nights?|to nights?)\b")


def two_nights_heard(text: str, ctx: ParseContext, arrival: date | None) -> bool:
    """"For tonight" as the length of a stay that does not begin today is "for two nights" misheard
    (a caller arriving January 10 was asked for the check-out again and again, then put through). A
    room "for tonight" with no other day said, or an arrival today, is tonight."""
    if not _TWO_NIGHTS_HEARD.search(text.lower()):
        return False
    today = ctx.now.date()
    days = [arrival] if arrival is not None else dates_in(text, ctx)
    return any(day is not None and day > today for day in days)


def dates_in(text: str, ctx: ParseContext) -> list[date]:
    return [d for d in (as_date(v.value) for v in extract("date", text, ctx)) if d is not None]


_LETTERS = {
    "bee": "B", "be": "B", "see": "C", "sea": "C", "cee": "C", "dee": "D", "ee": "E", "ef": "F", "eff": "F",
    "gee": "G", "aitch": "H", "jay": "J", "kay": "K", "em": "M", "en": "N", "pee": "P", "queue": "Q",
    "cue": "Q", "are": "R", "ar": "R", "es": "S", "ess": "S", "tee": "T", "tea": "T", "you": "U",
    "vee": "V", "ex": "X", "why": "Y", "zed": "Z", "zee": "Z",
    "alpha": "A", "alfa": "A", "bravo": "B", "charlie": "C", "delta": "D", "echo": "E", "foxtrot": "F",
    "golf": "G", "hotel": "H", "juliet": "J", "juliett": "J", "kilo": "K", "mike": "M", "november": "N",
    "papa": "P", "quebec": "Q", "romeo": "R", "sierra": "S", "tango": "T", "uniform": "U", "victor": "V",
    "whiskey": "W", "whisky": "W", "xray": "X", "yankee": "Y", "zulu": "Z",
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_REF_FILLER = frozenset({
    "it's", "its", "it", "is", "my", "the", "our", "reference", "number", "code", "confirmation", "booking",
    "reservation", "ref", "okay", "ok", "yes", "yeah", "sure", "that's", "thats", "so", "and", "then", "i", "think",
    "have", "got", "here", "please",
})


def parse_reference(text: str) -> str | None:
    """A spoken or typed reservation number ('k seven m as in mike two q p', 'K7M2QP'), or None.

    Every word must be a filler, a letter or a digit: "maria lopez" is not a reference."""
    words = re.findall(r"[a-z0-9']+", text.lower().replace("x-ray", "xray"))
    chars: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "as" and i + 1 < len(words) and words[i + 1] in ("in", "for"):
            i += 3  # "m as in mike": the word only confirms the letter
            continue
        if w == "double" and i + 1 < len(words):
            nxt = words[i + 1]
            if nxt == "you":
                chars.append("W")
                i += 2
                continue
            repeated = _LETTERS.get(nxt) or (nxt.upper() if len(nxt) == 1 else None)
            if repeated:
                chars += [repeated, repeated]
                i += 2
                continue
        if w in _REF_FILLER:
            pass
        elif w in _LETTERS:
            chars.append(_LETTERS[w])
        elif len(w) == 1 or (any(c.isdigit() for c in w) or len(w) == REFERENCE_LENGTH):
            chars += list(w.upper())
        else:
            return None
        i += 1
    ref = "".join(chars)
    if len(ref) != REFERENCE_LENGTH or any(c not in REFERENCE_ALPHABET for c in ref):
        return None
    return ref


def previous_value(tracker: Tracker, slot: str) -> Any:
    """The slot's value before this turn (the last SlotSet before the latest user event)."""
    events = list(tracker.events or [])
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=len(events))
    for event in reversed(events[:last_user]):
        if event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
    return None


# --------------------------------------------------------------------------- #
# validators
# --------------------------------------------------------------------------- #


class StayChecks:
    """Dates, guests and room type of a stay, and whether the room is free; shared by
    booking and changing. Subclasses say which reservation to leave out of the count."""

    dates_at_start = True  # booking: a date said before any was asked is the arrival

    def editing_reservation(self, tracker: Tracker) -> int | None:
        return None

    # ---- extraction: what the engine's per-type filling cannot know
    def extract_arrival_date(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> dict[str, Any]:
        """'book a suite for two from friday' (no date was asked yet: the first date is the arrival)."""
        requested = tracker.get_slot("requested_slot")
        starting = self.dates_at_start and requested is None and tracker.get_slot("arrival_date") is None
        changing_dates = requested == "change_item" and tracker.get_slot("change_item") == "dates"
        if not (starting or changing_dates):
            return {}
        found = dates_in(latest_text(tracker), parse_ctx(tracker))
        return {"arrival_date": found[0].isoformat()} if found else {}

    def extract_departure_date(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: dict[str, Any]) -> dict[str, Any]:
        """'for three nights' after the arrival; 'from the 4th to the 7th'."""
        text, ctx = latest_text(tracker), parse_ctx(tracker)
        requested = tracker.get_slot("requested_slot")
        arrival = as_date(tracker.get_slot("arrival_date"))
        count = nights_in(text, ctx) or (2 if two_nights_heard(text, ctx, arrival) else None)
        if count:
            if arrival is None:
                return {"stay_nights": count}  # kept until the arrival is known
            return {"departure_date": (arrival + timedelta(days=count)).isoformat(), "stay_nights": None}
        pending = tracker.get_slot("stay_nights")
        if pending and arrival is not None and tracker.get_slot("departure_date") is None:
            return {"departure_date": (arrival + timedelta(days=int(pending))).isoformat(), "stay_nights": None}
        if requested in (None, "arrival_date", "change_item"):
            found = dates_in(text, ctx)
            if len(found) >= 2:
                return {"arrival_date": found[0].isoformat(), "departure_date": found[1].isoformat()}
        return {}

    # ---- validation
    def validate_arrival_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: dict[str, Any]) -> dict[str, Any]:
        day = as_date(value)
        if day is None:
            return {"arrival_date": None}
        today = call_now(tracker).date()
        if day < today:
            dispatcher.utter_message(text="That date has already passed.")
            return {"arrival_date": None}
        if day > today + timedelta(days=inventory().horizon_days):
            dispatcher.utter_message(text="We take reservations up to a year ahead.")
            return {"arrival_date": None}
        out: dict[str, Any] = {"arrival_date": day.isoformat()}
        departure = as_date(tracker.get_slot("departure_date"))
        if departure is not None and departure <= day:
            out["departure_date"] = None  # asked again, after the new arrival
        return out

    def validate_departure_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: dict[str, Any]) -> dict[str, Any]:
        day = as_date(value)
        if day is None:
            return {"departure_date": None}
        arrival = as_date(tracker.get_slot("arrival_date"))
        text = latest_text(tracker)
        if (arrival is not None and 0 <= (arrival - day).days < 7 and _WEEKDAY.search(text)
                and not _EXPLICIT_DAY.search(text)):
            day += timedelta(days=7)  # "arriving saturday, leaving tuesday": the tuesday after
        if arrival is not None:
            if day <= arrival:
                dispatcher.utter_message(
                    text=f"The check-out date has to be after your arrival on {speak_date(arrival)}.")
                return {"departure_date": None}
            if (day - arrival).days > inventory().max_nights:
                # the arrival is said back and both dates taken again: a check-out typed on the
                # keypad is never misheard, so a stay this long most often means an arrival heard
                # wrong ("the 12th on January" taken for December 12), never said back before
                dispatcher.utter_message(
                    text=f"From your arrival on {speak_date(arrival)}, that's more than {inventory().max_nights} "
                         f"nights. I can book up to {inventory().max_nights} nights on the phone; for a longer "
                         "stay, our reservations team can help. Let's take the dates again.")
                return {"departure_date": None, "arrival_date": None}
        return {"departure_date": day.isoformat(), "stay_nights": None}

    def validate_guests(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: dict[str, Any]) -> dict[str, Any]:
        text = latest_text(tracker)
        if tracker.get_slot("requested_slot") != "guests":
            # unasked, only a count of people ("two adults", "for 2") is a party size, never
            # "three nights", "two beds" or the digits of a reservation number
            if not any(v.value == value and (v.extra.get("people") or (text[:v.start].endswith("for ")
                                                                       and not _NOT_GUESTS_AFTER.match(text[v.end:])))
                       for v in extract("number", text, parse_ctx(tracker))):
                current = tracker.get_slot("guests")  # another validator may have set it this turn
                found_now = tracker.get_slot("reservation_ref") not in (None, previous_value(tracker, "reservation_ref"))
                if found_now and getattr(self, "fills_stay", False):
                    # the reservation found this turn gave the party size, even when it equals a
                    # digit of the spoken reservation number ("5 3 j 2 2 f" for 2 guests)
                    return {"guests": current}
                return {"guests": current if current != value else previous_value(tracker, "guests")}
        try:
            guests = int(value)
        except (TypeError, ValueError):
            return {"guests": None}
        largest = max(r.max_guests for r in inventory().room_types.values())
        if not 1 <= guests <= largest:
            dispatcher.utter_message(
                text=f"One room takes up to {largest} guests. For a larger group, our reservations team can help.")
            return {"guests": None}
        out: dict[str, Any] = {"guests": guests}
        room_type = tracker.get_slot("room_type")
        room = inventory().room_types.get(room_type or "")
        if room is not None and guests > room.max_guests:
            dispatcher.utter_message(text=f"A {room.label} takes up to {plural(room.max_guests, 'guest')}, "
                                          "so we'll need a bigger room.")
            out["room_type"] = None
        return out

    def validate_room_type(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: dict[str, Any]) -> dict[str, Any]:
        room = inventory().room_types.get(str(value))
        if room is None:
            return {"room_type": None}
        guests = tracker.get_slot("guests")
        if isinstance(guests, int) and guests > room.max_guests:
            fits = [r for r in sorted(inventory().room_types.values(), key=lambda r: r.price) if r.max_guests >= guests]
            names = " or a ".join(r.label for r in fits[:2])
            dispatcher.utter_message(text=f"A {room.label} takes up to {plural(room.max_guests, 'guest')}. "
                                          f"For {guests} guests I'd suggest a {names}.")
            return {"room_type": None}
        return {"room_type": room.key}

    # ---- after every validation: is the room free, and what does it cost
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        events = await super().run(dispatcher, tracker, domain)  # type: ignore[misc]
        changed = {e.get("name") for e in events if e.get("event") == "slot"}
        return events + self.stay_events(dispatcher, tracker, changed)

    def stay_events(self, dispatcher: CollectingDispatcher, tracker: Tracker, changed: set[Any]) -> list[dict[str, Any]]:
        arrival, departure = as_date(tracker.get_slot("arrival_date")), as_date(tracker.get_slot("departure_date"))
        room_type, guests = tracker.get_slot("room_type"), tracker.get_slot("guests")
        if arrival is None or departure is None or departure <= arrival:
            return [SlotSet("nights_text", None), SlotSet("total_price", None)]
        events = [SlotSet("nights_text", plural((departure - arrival).days, "night"))]
        if room_type in inventory().room_types and changed & set(STAY_SLOTS):
            exclude = self.editing_reservation(tracker)
            with store_for(tracker).session() as s:
                free = hb.rooms_free(s, inventory(), room_type, arrival, departure, exclude)
                others = [] if free else hb.alternatives(s, inventory(), arrival, departure,
                                                         guests if isinstance(guests, int) else 1,
                                                         exclude=room_type, exclude_reservation_id=exclude)
            if not free:
                dispatcher.utter_message(text=f"I'm sorry, the {label(room_type)} is fully booked for those nights. "
                                              + offer_text(others))
                return events + [SlotSet("room_type", None), SlotSet("total_price", None),
                                 SlotSet("offered_rooms", [r.key for r in others])]
        if room_type in inventory().room_types:
            events.append(SlotSet("total_price", money(inventory().price(room_type, arrival, departure))))
        return events


class FindReservation:
    """validate_booking_ref / validate_booked_arrival: find the caller's reservation."""

    fills_stay = False  # the change form also copies the stay into the form's slots

    def found(self, tracker: Tracker, stay: hb.Stay, full_name: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "booking_ref": stay.reference, "full_name": full_name, "booked_arrival": stay.arrival.isoformat(),
            "reservation_ref": stay.reference, "reservation_summary": summary(stay),
            "name_on_file": (full_name or "").split()[0] if full_name else "you",
        }
        if self.fills_stay:
            keep = {"arrival_date": stay.arrival.isoformat(), "departure_date": stay.departure.isoformat(),
                    "guests": stay.guests, "room_type": stay.room_type}
            for slot in CHANGE_CLEARS.get(tracker.get_slot("change_item") or "", ()):
                keep.pop(slot, None)
            out.update(keep)
        return out

    def validate_booking_ref(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> dict[str, Any]:
        if not value:
            return {"booking_ref": None}
        ref = parse_reference(str(value))
        if ref is None:
            text = latest_text(tracker)
            if "full_name" in tracker.slots_to_validate() or tracker.get_slot("full_name"):
                return {"booking_ref": None}  # they gave their name instead
            if re.search(r"\b(don't|dont|do not|no|not)\b", text):
                dispatcher.utter_message(text="No problem, I can look it up by name.")
            else:
                dispatcher.utter_message(text="Sorry, I didn't catch a six-character reservation number.")
            return {"booking_ref": None}
        with store_for(tracker).session() as s:
            stay = hb.get_stay(s, VERTICAL, ref)
            name = s.get(Customer, stay.customer_id).full_name if stay is not None else ""
        if stay is None or stay.status != "booked":
            dispatcher.utter_message(text=f"I couldn't find a reservation with the number {' '.join(ref)}.")
            return {"booking_ref": None}
        return self.found(tracker, stay, name)

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: dict[str, Any]) -> dict[str, Any]:
        """The reservation found by the phone number on file (the booking form keeps its phone as given)."""
        if not value or tracker.active_loop.get("name") == "book_room":
            return {"phone": value} if value else {}
        with store_for(tracker).session() as s:
            customers = repo.customers_with_phone(s, VERTICAL, str(value))
            stays = hb.stays_of_customers(s, VERTICAL, [c.id for c in customers], upcoming_from=call_now(tracker).date())
            names = {c.id: c.full_name for c in customers}
        if not stays:
            dispatcher.utter_message(response="not_found_phone")
            return {"phone": None}
        return {"phone": value, **self.found(tracker, stays[0], names.get(stays[0].customer_id) or "")}

    def validate_owner_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: dict[str, Any]) -> dict[str, Any]:
        if value is False:
            dispatcher.utter_message(response="not_yours")
            return {slot: None for slot in ("booking_ref", "phone", "owner_confirmed", "full_name", "booked_arrival",
                                            "reservation_ref", "reservation_summary", "name_on_file")}
        return {"owner_confirmed": value}

    def _by_name(self, dispatcher: CollectingDispatcher, tracker: Tracker, name: str, day: date) -> dict[str, Any]:
        with store_for(tracker).session() as s:
            stays = hb.find_stays(s, VERTICAL, name, arrival=day)
        if not stays:
            dispatcher.utter_message(response="not_found")
            return {"booked_arrival": None, "full_name": None, "booking_ref": None}
        return self.found(tracker, stays[0], name)

    def validate_booked_arrival(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: dict[str, Any]) -> dict[str, Any]:
        day = as_date(value)
        name = tracker.get_slot("full_name")
        if day is None or not name or tracker.get_slot("booking_ref"):
            return {"booked_arrival": day.isoformat() if day else None}
        return self._by_name(dispatcher, tracker, str(name), day)

    def validate_full_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: dict[str, Any]) -> dict[str, Any]:
        """The arrival date may have come first ("cancel my stay on friday"): search now."""
        if tracker.get_slot("booking_ref"):  # found by its number: the name on the reservation wins
            return {"full_name": tracker.get_slot("full_name")}
        day = as_date(tracker.get_slot("booked_arrival"))
        if not value or day is None:
            return {"full_name": value}
        return self._by_name(dispatcher, tracker, str(value), day)


class ValidateBookRoomForm(NameOnFile, StayChecks, FormValidationAction):
    vertical = VERTICAL

    def name(self) -> str:
        return "validate_book_room"


class ValidateChangeReservationForm(FindReservation, StayChecks, FormValidationAction):
    fills_stay = True
    dates_at_start = False  # "change my booking for friday": friday is the booked arrival

    def name(self) -> str:
        return "validate_change_reservation"

    def editing_reservation(self, tracker: Tracker) -> int | None:
        ref = tracker.get_slot("booking_ref")
        if not ref:
            return None
        with store_for(tracker).session() as s:
            stay = hb.get_stay(s, VERTICAL, str(ref))
        return stay.id if stay else None

    def validate_change_item(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"change_item": value}
        if tracker.get_slot("booking_ref"):  # the reservation was found (set with reservation_ref)
            given_now = tracker.slots_to_validate()
            for slot in CHANGE_CLEARS.get(str(value), ()):
                if slot not in given_now:
                    out[slot] = None
        return out


class ValidateCancelReservationForm(FindReservation, FormValidationAction):
    def name(self) -> str:
        return "validate_cancel_reservation"


# --------------------------------------------------------------------------- #
# actions
# --------------------------------------------------------------------------- #


def reopen_on_room(dispatcher: CollectingDispatcher, tracker: Tracker, form: str, arrival: date, departure: date,
                   guests: int, room_type: str, exclude: int | None = None) -> list[dict[str, Any]]:
    """The room went while the caller was confirming: offer others and ask for the room type again."""
    with store_for(tracker).session() as s:
        others = hb.alternatives(s, inventory(), arrival, departure, guests, exclude=room_type,
                                 exclude_reservation_id=exclude)
    dispatcher.utter_message(text=f"I'm sorry, the last {label(room_type)} for those nights has just been taken. "
                                  + offer_text(others))
    return [SlotSet("room_type", None), SlotSet("total_price", None),
            SlotSet("offered_rooms", [r.key for r in others]), ActiveLoop(form)]


class ActionBookRoom(Action):
    def name(self) -> str:
        return "action_book_room"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        arrival, departure = as_date(tracker.get_slot("arrival_date")), as_date(tracker.get_slot("departure_date"))
        room_type, guests = str(tracker.get_slot("room_type")), int(tracker.get_slot("guests"))
        name, phone = str(tracker.get_slot("full_name")), tracker.get_slot("phone")
        assert arrival is not None and departure is not None
        store = store_for(tracker)
        with store.session() as s:
            matches = repo.find_customers(s, VERTICAL, name, phone=phone)
            customer = matches[0] if matches else repo.add_customer(s, VERTICAL, name, phone=phone)
            customer_id = customer.id
        try:
            stay = hb.book_stay(store, inventory(), customer_id, room_type, arrival, departure, guests,
                                call_id=call_id(tracker), today=call_now(tracker).date(),
                                name_unverified=tracker.get_slot("name_unverified") is True)
        except hb.SoldOut:
            return reopen_on_room(dispatcher, tracker, "book_room", arrival, departure, guests, room_type)
        except hb.BadStay as exc:
            logger.warning("stay refused after validation: %s", exc)
            dispatcher.utter_message(text="I'm sorry, I can't book those dates. Let's go over them again.")
            return [SlotSet("arrival_date", None), SlotSet("departure_date", None), ActiveLoop("book_room")]
        dispatcher.utter_message(response="booked", reservation_ref=" ".join(stay.reference))
        signal(dispatcher, outcome="reservation_booked")
        return [SlotSet("reservation_ref", stay.reference), SlotSet("offered_rooms", None)]


class ActionChangeReservation(Action):
    def name(self) -> str:
        return "action_change_reservation"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        ref = str(tracker.get_slot("reservation_ref") or "")
        arrival, departure = as_date(tracker.get_slot("arrival_date")), as_date(tracker.get_slot("departure_date"))
        room_type, guests = str(tracker.get_slot("room_type")), int(tracker.get_slot("guests"))
        assert arrival is not None and departure is not None
        store = store_for(tracker)
        try:
            stay = hb.change_stay(store, inventory(), ref, arrival=arrival, departure=departure,
                                  room_type=room_type, guests=guests, today=call_now(tracker).date())
        except hb.NotFound:
            dispatcher.utter_message(response="not_found")
            signal(dispatcher, transfer=True)
            return []
        except hb.SoldOut:
            with store.session() as s:
                current = hb.get_stay(s, VERTICAL, ref)
            return reopen_on_room(dispatcher, tracker, "change_reservation", arrival, departure, guests, room_type,
                                  exclude=current.id if current else None)
        except hb.BadStay as exc:
            logger.warning("change refused after validation: %s", exc)
            dispatcher.utter_message(text="I'm sorry, I can't make that change. Let's go over the dates again.")
            return [SlotSet("arrival_date", None), SlotSet("departure_date", None), ActiveLoop("change_reservation")]
        dispatcher.utter_message(response="changed")
        signal(dispatcher, outcome="reservation_changed")
        return [SlotSet("reservation_summary", summary(stay)), SlotSet("offered_rooms", None)]


class ActionCancelReservation(Action):
    def name(self) -> str:
        return "action_cancel_reservation"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        ref = str(tracker.get_slot("reservation_ref") or "")
        try:
            hb.cancel_stay(store_for(tracker), VERTICAL, ref)
        except hb.NotFound:
            dispatcher.utter_message(response="not_found")
            return []
        dispatcher.utter_message(response="cancelled")
        signal(dispatcher, outcome="reservation_cancelled")
        return [SlotSet("reservation_ref", None)]
