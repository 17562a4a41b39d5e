"""Rasa tracker and domain dictionaries, as rasa-sdk actions expect them."""

from __future__ import annotations

from typing import Any

from callflows.flow.spec import FlowSpec

_RASA_SLOT_TYPES = {"enum": "categorical", "any": "any"}


def build_domain(flow: FlowSpec) -> dict[str, Any]:
    slots: dict[str, Any] = {}
    for name, spec in flow.slots.items():
        entry: dict[str, Any] = {"type": _RASA_SLOT_TYPES.get(spec.type, "text"), "influence_conversation": False,
                                 "mappings": [{"type": "custom"}]}
        if spec.type == "enum":
            entry["values"] = list(spec.choices)
        slots[name] = entry
    slots["requested_slot"] = {"type": "any", "influence_conversation": False, "mappings": [{"type": "custom"}]}
    return {
        "version": "3.1",
        "intents": list(flow.intents),
        "entities": [],
        "slots": slots,
        "responses": {name: [{"text": t} for t in texts] for name, texts in flow.responses.items()},
        "forms": {name: {"required_slots": form.required_slots} for name, form in flow.forms.items()},
        "actions": sorted({f.action for f in flow.forms.values() if f.action}),
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    }


def build_tracker(
    sender_id: str,
    slots: dict[str, Any],
    latest_text: str,
    intent: str,
    confidence: float,
    metadata: dict[str, Any],
    active_form: str | None,
    candidates: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A tracker whose last events are SlotSet for `candidates`, as rasa-sdk's
    `Tracker.slots_to_validate()` expects when a form validator runs."""
    latest_message = {
        "text": latest_text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "metadata": metadata,
    }
    events: list[dict[str, Any]] = list(history or [])
    events.append({"event": "user", "text": latest_text, "parse_data": latest_message, "metadata": metadata})
    for name, value in (candidates or {}).items():
        events.append({"event": "slot", "name": name, "value": value})
    merged = dict(slots)
    merged.update(candidates or {})
    return {
        "sender_id": sender_id,
        "slots": merged,
        "latest_message": latest_message,
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_form} if active_form else {},
        "latest_action_name": "action_listen",
    }
