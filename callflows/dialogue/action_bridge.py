"""The bridge between a call and the vertical's rasa-sdk actions: it builds the tracker an action
reads, runs the action, and applies what comes back - slot events, a form re-opened, responses
and the engine's signals (outcome, summary, transfer, end of call).

Every way an action runs in a call goes through here (a form's validator, a form's action, the
LLM route's tools and lookups), so an action's events are read in one place (`slot_events`) and
a slot is set in one place (`set_slot`: the rasa history and the call record follow it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterator
from datetime import datetime
from typing import Any

from callflows.actions.context import register_store
from callflows.actions.runner import ActionResult
from callflows.actions.signals import read_signal
from callflows.actions.tracker import build_domain, build_tracker
from callflows.dialogue.recorder import CallRecorder
from callflows.dialogue.state import DialogueState
from callflows.flow.spec import FormSpec
from callflows.nlu.pipeline import NluResult
from callflows.verticals import Vertical


def slot_events(events: list[dict[str, Any]], known: Container[str] | None = None) -> Iterator[tuple[str, Any]]:
    """Each slot an action set (name, value), in order; with `known`, only the flow's slots."""
    for event in events:
        name = event.get("name")
        if event.get("event") == "slot" and name and (known is None or name in known):
            yield name, event.get("value")


def reopens(result: ActionResult, form: str) -> bool:
    """Whether the action put its form back in charge (a slot taken meanwhile: ask again)."""
    reopen = False
    for event in result.events:
        if event.get("event") == "active_loop":
            reopen = event.get("name") == form
    return reopen


class ActionBridge:
    """Runs one call's actions. `say` renders a named response; `transfer` hands the call to a
    person when an action signals it (the session's transfer, with its handoff summary)."""

    def __init__(self, vertical: Vertical, state: DialogueState, recorder: CallRecorder, call_id: str,
                 now: Callable[[], datetime], store: Any, say: Callable[..., str], transfer: Callable[[], None],
                 channel: str = "text"):
        self.channel = channel
        self.actions = vertical.actions
        self.flow = vertical.flow
        self.state = state
        self.recorder = recorder
        self.call_id = call_id
        self._now = now
        self._say = say
        self._transfer = transfer
        self.domain = build_domain(self.flow)
        # flow variables for the actions (lockout_minutes...), as JSON for a remote action server
        self._variables = json.loads(json.dumps(self.flow.variables, default=str))
        self._store = store  # kept alive for in-process actions (see callflows.actions.context)
        self._store_key = register_store(store) if store is not None else None

    # ------------------------------------------------------------------ running
    def tracker(self, text: str, confidence: float, form: FormSpec | None, intent: str = "form",
                candidates: dict[str, Any] | None = None) -> dict[str, Any]:
        metadata = {"call_id": self.call_id, "now": self._now().isoformat(), "timezone": self.flow.timezone,
                    "vertical": self.flow.vertical, "store_key": self._store_key,
                    "variables": self._variables, "channel": self.channel,
                    # where each slot's value came from ("caller", "dtmf", "file"): an action may trust a
                    # typed value more than a heard one (a bank's check of a factor heard wrong)
                    "sources": dict(self.state.origins)}
        slots = {**self.state.slots, "requested_slot": self.state.requested}
        return build_tracker(self.call_id, slots, text, intent, confidence, metadata,
                             form.name if form else None, candidates, self.state.history[-50:])

    def run(self, action: str, tracker: dict[str, Any]) -> ActionResult:
        return self.actions.run(action, tracker, self.domain)

    def has(self, action: str) -> bool:
        return self.actions.has(action)

    def run_and_apply(self, action: str, tracker: dict[str, Any]) -> ActionResult:
        """Run `action` as a step of the call (recorded in the rasa history) and set the slots it set."""
        result = self.run(action, tracker)
        self.state.history.append({"event": "action", "name": action})
        for name, value in slot_events(result.events, self.state.slots):
            self.set_slot(name, value)
        return result

    def lookup(self, action: str) -> dict[str, Any]:
        """Facts from an action: the slots it would set (nothing is set)."""
        return dict(slot_events(self.run(action, self.tracker("/lookup", 1.0, None)).events))

    # ------------------------------------------------------------------ validating
    def validator_name(self, form: FormSpec) -> str:
        return form.validator or f"validate_{form.name}"

    def has_validator(self, form: FormSpec) -> bool:
        return self.actions.has(self.validator_name(form))

    def validated(self, form: FormSpec, tracker: dict[str, Any], values: dict[str, Any]) -> tuple[dict[str, Any], ActionResult]:
        """`values` as the form's FormValidationAction leaves them, with the slots it set itself."""
        result = self.run(self.validator_name(form), tracker)
        return {**values, **dict(slot_events(result.events, self.state.slots))}, result

    def validate(self, form: FormSpec, nlu: NluResult, updates: dict[str, Any]) -> list[str]:
        """Run the form's FormValidationAction (validate_<slot>, extract_<slot>) if the vertical has
        one, and set what it accepted; what it said back."""
        if not self.has_validator(form):
            for slot, value in updates.items():
                self.set_slot(slot, value)
            return []
        tracker = self.tracker(nlu.text, nlu.confidence, form, nlu.intent, candidates=updates)
        validated, result = self.validated(form, tracker, updates)
        for slot, value in validated.items():
            if self.state.slots.get(slot) != value or slot in updates:
                self.set_slot(slot, value)
        return self.messages(result.responses)

    # ------------------------------------------------------------------ applying
    def set_slot(self, name: str, value: Any) -> None:
        self.state.slots[name] = value
        self.state.history.append({"event": "slot", "name": name, "value": value})
        spec = self.flow.slots.get(name)
        if value is not None and spec is not None:
            self.recorder.slot(name, spec.type, value, spec.pii)

    def messages(self, responses: list[dict[str, Any]]) -> list[str]:
        """What the action said, rendered; its signals applied to the call."""
        out: list[str] = []
        for message in responses:
            sig = read_signal(message)
            if sig:
                if sig.get("outcome"):
                    self.state.outcomes.append(sig["outcome"])
                if sig.get("summary"):
                    self.recorder.summary(sig["summary"])
                if sig.get("transfer"):
                    self._transfer()
                if sig.get("end_call"):
                    self.state.ended = True
            name = message.get("response") or message.get("template")
            if name:
                extra = {k: v for k, v in message.items() if k not in ("response", "template", "text", "custom")}
                out.append(self._say(name, **extra))
            elif message.get("text"):
                out.append(str(message["text"]))
        return out
