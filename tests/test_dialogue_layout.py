"""The boundary between the dialogue and the escalation route: the escalation package reaches into
the call only through the CallHost protocol (callflows/escalation/host.py), and a DialogueSession
provides every member of it, so renaming a method on either side fails here, not mid-call."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import callflows.escalation as escalation_pkg
from callflows.dialogue import DialogueSession
from callflows.dialogue.plan import Plan
from callflows.escalation.host import CallHost
from callflows.verticals import load_vertical

# the modules that are handed the call (store.py's `session` is a database session)
HANDED_THE_CALL = ("agent.py", "controller.py", "prompt.py", "summary.py", "tools.py")


def host_members() -> set[str]:
    names = set(CallHost.__annotations__)
    names |= {n for n, v in vars(CallHost).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))}
    return names


def members_used(source: str, names: tuple[str, ...] = ("session",)) -> set[str]:
    """Attributes read on `names` (the call, under the names a module gives it) and `self.session`."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in names:
            used.add(node.attr)
        elif isinstance(base, ast.Attribute) and base.attr == "session" and isinstance(base.value, ast.Name):
            used.add(node.attr)
    return used


def test_the_escalation_route_reaches_the_call_only_through_its_protocol():
    folder = Path(inspect.getfile(escalation_pkg)).parent
    used = set().union(*(members_used((folder / name).read_text()) for name in HANDED_THE_CALL))
    used |= members_used((folder / "controller.py").read_text(), ("s",))  # s = self.session
    assert {"state", "flow", "run_tool_action", "validate_form_values"} <= used  # the walk sees the calls
    assert used - {"session"} <= host_members(), f"not in CallHost: {sorted(used - host_members())}"


def test_a_dialogue_session_is_a_call_host():
    session = DialogueSession(load_vertical("retail_bank"), None, escalation=None)
    for name in sorted(host_members()):
        assert hasattr(session, name), name
        if callable(getattr(CallHost, name, None)):
            assert callable(getattr(session, name)), name
    assert isinstance(session.plan_turn(session.vertical.nlu.parse("what are your opening hours", session._ctx())),
                      Plan)
