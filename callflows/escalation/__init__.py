"""Escalation: which calls go to a larger LLM or to a person, and the LLM in the call.

    verticals/<v>/escalation.yaml  -> load_escalation(root, flow, has_action) -> EscalationSpec
    DialogueSession(vertical, store, escalation="auto" | spec | None, llm=None)

Deciding (rules.py) is pure; signals.py measures the call; lookups.py reads facts from the
store; agent.py is the LLM with the vertical's actions as validated tools (tools.py), its
answer streamed sentence by sentence (streaming.py); budget.py caps LLM use; store.py writes
the escalation_decisions rows; summary.py builds the handoff summary. All of them see the call
only through host.py's CallHost protocol (a DialogueSession is one).
"""

from __future__ import annotations

from callflows.escalation.loader import apply_env, escalation_path, load_escalation, load_escalation_text
from callflows.escalation.spec import Decision, EscalationSpec

__all__ = ["Decision", "EscalationSpec", "apply_env", "escalation_path", "load_escalation", "load_escalation_text",
           "for_vertical"]


def for_vertical(vertical: object) -> EscalationSpec | None:
    """The vertical's escalation spec (cached on the vertical object), None if it has none
    or CALLFLOWS_ESCALATION=off."""
    import os

    if (os.environ.get("CALLFLOWS_ESCALATION") or "on").lower() in ("off", "0", "false", "no"):
        return None
    cached = getattr(vertical, "_escalation_spec", False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    spec = load_escalation(vertical.root, vertical.flow, vertical.actions.has)  # type: ignore[attr-defined]
    try:
        setattr(vertical, "_escalation_spec", spec)
    except AttributeError:
        pass
    return spec
