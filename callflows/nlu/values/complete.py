"""Whether a parsed slot value is a whole answer, so the phone layer may end the turn early.

A value can parse before the caller is done: "four one five" is a phone number's start, "jane"
a name's. The dialogue (``DialogueSession.is_complete_answer``) and the end-of-turn benchmark
both ask this one rule.
"""

from __future__ import annotations

from .model import Value


def completes_answer(slot_type: str, value: Value | None, length: int | None = None) -> bool:
    """A phone number needs ten digits, a name two words, digits of no fixed ``length`` are
    never known to be complete; any other parsed value is whole."""
    if value is None or value.value is None:
        return False
    if slot_type == "phone_number":
        return sum(ch.isdigit() for ch in str(value.value)) >= 10
    if slot_type == "person_name":
        return len(str(value.value).split()) >= 2
    if slot_type == "digits" and length is None:
        return False
    return True
