"""Shared steps of the scripted dialogue tests."""

from __future__ import annotations

from typing import Any


def correct_at_summary(session: Any, correction: str, slot: str, value: Any, derived: set[str]) -> dict[str, Any]:
    """Say `correction` to the booking summary; assert that only `slot` (and the `derived` slots
    computed from it) changed, to `value`, and that the summary is asked again. Returns the slots."""
    before = dict(session.state.slots)
    session.handle_text(correction)
    if session.state.pending == "readback":  # a new name is read back on its own first
        session.handle_text("yes")
    assert session.state.pending == "confirm"
    after = dict(session.state.slots)
    assert after[slot] == value
    changed = {k for k in after if after[k] != before[k]} - {slot} - derived
    assert not changed, changed
    return after
