"""What the dialogue expects the caller to say next: drives STT biasing and endpointing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Expectation:
    """Produced by the dialogue layer for the next caller turn.

    ``slot_type`` uses the value-parser names: date, time, datetime, person_name,
    phone_number, digits, money, enum, text. ``spelling``: the caller was asked to spell the
    value letter by letter (recognition then favours single letters).
    """

    slot: str | None = None
    slot_type: str | None = None
    yes_no: bool = False
    digits_length: int | None = None
    choices: tuple[str, ...] = ()
    pii: bool = False
    spelling: bool = False
    # A yes/no question that reads back several facts ("So that's ... Shall I book it?"): the
    # answer is often a correction said in pieces ("no, my number is four one five, five five
    # five ..."), so it gets the default pause, not the short one of a bare yes/no.
    summary: bool = False
