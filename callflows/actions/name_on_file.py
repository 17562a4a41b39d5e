"""A new booking's phone number on file gives the name to confirm (not to recognise).

Mixed into a vertical's booking FormValidationAction (set `vertical`): when the caller gives
the phone number before the name and exactly one name is on file for it, the name slot is
filled from the file; the dialogue then reads it back with the slot's `confirm.on_file`."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from callflows.actions.context import store_for
from callflows.store import repo


class NameOnFile:
    """validate_phone of a new booking (`vertical` and `name_slot` say where to look and what to fill)."""

    vertical: str = ""
    name_slot: str = "full_name"

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: dict[str, Any]) -> dict[str, Any]:
        if not value:
            return {}
        out: dict[str, Any] = {"phone": value}
        if tracker.get_slot(self.name_slot) is None and self.name_slot not in tracker.slots_to_validate():
            with store_for(tracker).session() as s:
                names = {c.full_name for c in repo.customers_with_phone(s, self.vertical, str(value)) if c.full_name}
            if len(names) == 1:
                out[self.name_slot] = names.pop()
        return out
