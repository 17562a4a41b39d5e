"""How a vertical's action tells the engine about the call, through rasa-sdk's dispatcher.

Actions stay plain rasa-sdk actions: they send a custom JSON message, which an ordinary
Rasa assistant would ignore and Callflows reads.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher

KEY = "callflows"


def signal(
    dispatcher: CollectingDispatcher,
    *,
    outcome: str | None = None,
    transfer: bool = False,
    end_call: bool = False,
    summary: dict[str, Any] | None = None,
) -> None:
    """Record the call's outcome ("appointment_booked"), ask for a transfer or an end of call."""
    body: dict[str, Any] = {}
    if outcome:
        body["outcome"] = outcome
    if transfer:
        body["transfer"] = True
    if end_call:
        body["end_call"] = True
    if summary:
        body["summary"] = summary
    dispatcher.utter_message(json_message={KEY: body})


def read_signal(message: dict[str, Any]) -> dict[str, Any]:
    custom = message.get("custom") or message.get("json_message") or {}
    return custom.get(KEY, {}) if isinstance(custom, dict) else {}
