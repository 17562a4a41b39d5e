"""Which slots an utterance fills: the asked one first, then any other slot of the
form whose value type is unambiguous (over-informative answers and corrections)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from callflows.flow.spec import FlowSpec, FormSpec
from callflows.nlu.pipeline import NluResult
from callflows.nlu.values import Value


_CORRECTION = re.compile(r"\b(no|not|actually|i mean|sorry|instead|rather|make it|change it to)\b")


def _ordered(values: list[Value], text: str) -> list[Value]:
    """Candidates in the order to try: the last one first after a correction
    ("tuesday no wednesday"), else in the order they were said."""
    return list(reversed(values)) if len(values) > 1 and _CORRECTION.search(text) else values


def _overlaps(a: Value, b: Value) -> bool:
    return a.start < b.end and b.start < a.end


def candidates_for_form(
    flow: FlowSpec,
    form: FormSpec,
    nlu: NluResult,
    requested: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Slot values the utterance gives for `form`, as {slot: normalised value}.

    - the requested step's slots take any value of their type;
    - another slot of the form is filled only if its type appears once among the form's
      slots (enums always: their synonyms are specific), so "tuesday at three with dr patel"
      fills date, time and provider at once and "no, wednesday" corrects the date;
    - a person name is taken outside its own question only after a cue ("my name is ...");
    - digits never fill another slot while a date or a time is asked;
    - a span of text is used for one slot only, the requested slot first.
    """
    updates: dict[str, Any] = {}
    used: list[Value] = []
    type_counts = Counter(flow.slots[s].type for s in form.required_slots if s in flow.slots)

    def take(slot: str, value: Value) -> None:
        updates[slot] = value.value
        used.append(value)

    for slot in requested:
        spec = flow.slots.get(slot)
        if spec is None:
            continue
        if spec.type == "text" and nlu.text:
            updates[slot] = nlu.text
            continue
        if spec.type == "yes_no":
            answer = yes_no_of(nlu)
            if answer is not None:
                updates[slot] = answer
            continue
        for value in _ordered(nlu.values.get(slot, []), nlu.text):
            if value.value is not None and fits(spec, value.value) and not any(_overlaps(value, u) for u in used):
                take(slot, value)
                break
    # the digits of an answer to a date or a time are that answer, even when it did not parse
    # ("8 15 1962" for a date of birth is not the last four of a Social Security number)
    asked_when = any(flow.slots[s].type in ("date", "time") for s in requested if s in flow.slots)
    for slot in form.required_slots:
        if slot in updates or slot in requested:
            continue
        spec = flow.slots.get(slot)
        if spec is None or spec.type in ("text", "any", "yes_no") or (asked_when and spec.type == "digits"):
            continue
        if spec.type != "enum" and type_counts[spec.type] > 1:
            continue
        for value in _ordered(nlu.values.get(slot, []), nlu.text):
            if value.value is None or not fits(spec, value.value) or any(_overlaps(value, u) for u in used):
                continue
            if spec.type == "person_name" and not value.extra.get("cue"):
                continue
            take(slot, value)
            break
    return updates


def yes_no_of(nlu: NluResult) -> bool | None:
    """The caller's yes or no: the value parser's, else a confident affirm/deny intent."""
    if nlu.yes_no is not None:
        return nlu.yes_no
    if nlu.intent in ("affirm", "deny") and nlu.confidence >= 0.5:
        return nlu.intent == "affirm"
    return None


def national_digits(phone: Any) -> str:
    """The digits of a phone number without the +1 country code."""
    digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def fits(spec: Any, value: Any) -> bool:
    """Whether a parsed value may fill the slot: a phone number with `length` needs exactly that
    many digits (the country code aside): a 9-digit number is never stored."""
    if spec.type == "phone_number" and spec.length:
        return len(national_digits(value)) == spec.length
    return True


def pii_spans(flow: FlowSpec, nlu: NluResult, slots: set[str]) -> list[str]:
    """The words of the personal-data values the utterance gave for `slots`, to mask in the transcript."""
    spans: list[str] = []
    for slot, values in nlu.values.items():
        spec = flow.slots.get(slot)
        if spec is not None and spec.pii and slot in slots:
            spans += [v.text for v in values if v.text]
    return spans
