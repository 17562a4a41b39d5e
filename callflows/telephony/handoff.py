"""What the person taking a transferred call is told: the call's handoff summary.

The session stores a summary with the call (``recorder.summary(...)``: who, verified or not,
what they want, slots, the reasons for the handoff); the store keeps slot values masked.
``load_handoff(store, call_id)`` puts both together as a ``Handoff``, masked again here (a
value that reached the summary unmasked is masked now): it is read aloud to the agent
before the caller is connected (``Handoff.spoken()``, the whisper webhook) and shown on the
admin's call page.

Summary keys understood (the first one present wins): who ``who|caller|customer|name``,
verified ``verified|identity_verified``, what they want ``wants|request|intent|goal|reason``,
slots ``slots`` (a mapping), reasons ``reasons|decision_reasons|escalation_reasons|why``
(a list or a text). Other plain values become notes; ids, Twilio statuses and nested
structures are left out.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callflows.privacy import is_sensitive, mask_text, mask_value

log = logging.getLogger(__name__)

WHO_KEYS = ("who", "caller", "customer", "name")
VERIFIED_KEYS = ("verified", "identity_verified")
WANTS_KEYS = ("wants", "request", "intent", "goal", "reason")
REASON_KEYS = ("reasons", "decision_reasons", "escalation_reasons", "why")
SKIPPED_KEYS = frozenset({"twilio_status", "twilio_statuses", "slots", "customer_id", "cards_frozen", "call_id"})
_ID_KEY = re.compile(r"(^|_)(id|ids|sid)$")


@dataclass(frozen=True)
class Handoff:
    call_id: str
    vertical: str
    who: str = ""  # masked
    phone: str = ""  # masked caller number
    verified: bool | None = None
    wants: str = ""
    slots: tuple[tuple[str, str], ...] = ()  # (name, masked value)
    reasons: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.who or self.wants or self.slots or self.reasons or self.notes or self.verified is not None)

    def spoken(self) -> str:
        """The whisper: a few short sentences for text to speech, nothing unmasked."""
        parts = [f"Transferred call from the {_words(self.vertical)} line."]
        caller = ", ".join(p for p in (_say_masked(self.who, "name"), _say_phone(self.phone)) if p)
        verified = {True: "identity verified", False: "identity not verified", None: ""}[self.verified]
        who = "; ".join(p for p in (f"Caller {caller}" if caller else "", verified) if p)
        if who:
            parts.append(who[0].upper() + who[1:] + ".")
        if self.wants:
            parts.append(f"They want: {_words(self.wants)}.")
        if self.slots:
            parts.append("Details: " + "; ".join(f"{_words(k)}, {_say_masked(v, k)}" for k, v in self.slots) + ".")
        if self.reasons:
            parts.append("Handed over because: " + "; ".join(_words(r) for r in self.reasons) + ".")
        for key, value in self.notes:
            parts.append(f"{_words(key).capitalize()}: {_words(value)}.")
        parts.append("Connecting you now.")
        return mask_text(" ".join(parts))


def build_handoff(call: Any, slot_rows: Iterable[Any] = ()) -> Handoff:
    """From a ``Call`` row and its ``SlotValue`` rows (the latest value of each slot wins)."""
    summary: Mapping[str, Any] = call.summary if isinstance(call.summary, Mapping) else {}
    if isinstance(summary.get("handoff"), Mapping):  # the escalation's handoff block wins over the rest
        summary = {**summary, **summary["handoff"]}
    slots: dict[str, str] = {}
    for row in slot_rows:
        slots[row.name] = _masked_slot(row.name, row.slot_type, row.value_masked)
    for name, value in (summary.get("slots") or {}).items() if isinstance(summary.get("slots"), Mapping) else ():
        if value not in (None, "", [], {}):
            slots[str(name)] = _masked_slot(str(name), "", value)
    verified = next((summary[k] for k in VERIFIED_KEYS if k in summary), None)
    who = next((summary[k] for k in WHO_KEYS if summary.get(k)), "")
    wants = next((summary[k] for k in WANTS_KEYS if summary.get(k)), "")
    reasons = next((summary[k] for k in REASON_KEYS if summary.get(k)), ())
    if isinstance(reasons, str):
        reasons = [reasons]
    used = set(WHO_KEYS + VERIFIED_KEYS + WANTS_KEYS + REASON_KEYS)
    notes = tuple(
        (str(k), mask_text(str(v))) for k, v in summary.items()
        if k not in used and k not in SKIPPED_KEYS and not _ID_KEY.search(str(k))
        and isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip()
    )
    return Handoff(
        call_id=call.id, vertical=call.vertical or "",
        who=_masked_slot("name", "person_name", who) if who else "",
        phone=getattr(call, "from_number_masked", None) or "",
        verified=verified if isinstance(verified, bool) else None,
        wants=mask_text(_text(wants)), slots=tuple(slots.items()),
        reasons=tuple(mask_text(_text(r)) for r in reasons if _text(r)), notes=notes,
    )


def load_handoff(store: Any, call_id: str, wait_s: float = 0.0) -> Handoff | None:
    """The handoff of a call, or None for an unknown call. With ``wait_s``, a call still open
    without a summary is looked at again until then (its record is being finished)."""
    from sqlalchemy import select

    from callflows.store import repo
    from callflows.store.models import SlotValue

    deadline = time.monotonic() + wait_s
    while True:
        with store.session() as s:
            call = repo.get_call(s, call_id)
            if call is None:
                return None
            ready = call.ended_at is not None or bool(call.summary and set(call.summary) - SKIPPED_KEYS)
            if ready or time.monotonic() >= deadline:
                rows = list(s.scalars(select(SlotValue).where(SlotValue.call_id == call_id).order_by(SlotValue.id)))
                return build_handoff(call, rows)
        time.sleep(0.2)


# --------------------------------------------------------------------------- #
# masking and wording
# --------------------------------------------------------------------------- #


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return "" if value is None else str(value).strip()


def _masked_slot(name: str, slot_type: str, value: Any) -> str:
    """A value as it may be shown: personal ones masked (kept if already masked)."""
    text = _text(value)
    if not text:
        return ""
    if "*" in text:
        return text
    if is_sensitive(name, slot_type):
        kind = slot_type or ("person_name" if "name" in name.lower() else "phone_number" if "phone" in name.lower()
                             else "date_of_birth" if "birth" in name.lower() or "dob" in name.lower() else "digits")
        return mask_value(kind, text)
    return mask_text(text)


def _words(text: str) -> str:
    """snake_case and dashes to words, for speech."""
    return re.sub(r"\s+", " ", re.sub(r"[_]+", " ", str(text))).strip()


def _say_masked(value: str, name: str = "") -> str:
    """A masked value read aloud: "J*** S****" -> "initials J. S.", "***-**67" -> "ending in 6 7",
    all hidden -> "on file"."""
    if not value or "*" not in value:
        return value
    visible = re.sub(r"[^A-Za-z0-9]", "", value.replace("*", ""))
    if not visible:
        return "on file"
    words = [w for w in value.split() if w]
    if all(re.match(r"^[A-Za-z]\*+$", w) for w in words):
        return "initials " + " ".join(f"{w[0].upper()}." for w in words)
    tail = re.search(r"([0-9]+)\W*$", value)
    if tail:
        return "ending in " + " ".join(tail.group(1))
    return "on file"


def _say_phone(masked: str) -> str:
    said = _say_masked(masked, "phone")
    return f"calling from a number {said}" if said.startswith("ending") else ""
