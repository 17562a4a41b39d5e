"""What the escalation route may ask of the call it serves, as one typed protocol.

The controller, the LLM agent, its tools, its prompt and the handoff summary see the call only
through `CallHost` - the call's facts (flow, state, record) and the few things only the dialogue
can do: say a named response, parse a value as a form would, validate values with the form's
validator, run one of the vertical's actions for the LLM, and check verification. A
DialogueSession is one (callflows/dialogue/llm_route.py); a test double needs nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from callflows.dialogue.recorder import CallRecorder
    from callflows.dialogue.state import DialogueState
    from callflows.flow.spec import FlowSpec, FormSpec
    from callflows.store.db import Store
    from callflows.verticals import Vertical


@dataclass
class ToolRun:
    """What running one of the vertical's actions for the LLM did."""

    spoken: list[str] = field(default_factory=list)
    masked_text: str = ""
    transferred: bool = False
    ended: bool = False


class CallHost(Protocol):
    call_id: str
    flow: FlowSpec
    vertical: Vertical
    state: DialogueState
    recorder: CallRecorder  # its turns are masked already: the prompt's transcript

    @property
    def store(self) -> Store | None: ...

    def goal_intents(self) -> list[str]:
        """What the caller asked for in this call, oldest first."""
        ...

    def is_verified(self, form: str | None = None) -> bool: ...

    def requirement_met(self, form: FormSpec | str) -> bool: ...

    def secrets(self) -> list[str]:
        """Personal values said in the call, to mask wherever they appear."""
        ...

    def say_response(self, name: str, **extra: Any) -> str: ...

    def parse_slot_value(self, slot: str, text: str) -> Any: ...

    def validate_form_values(self, form_name: str, values: dict[str, Any], text: str
                             ) -> tuple[dict[str, Any], list[str], list[str]]:
        """(accepted values, slots rejected, what the validator said - masked)."""
        ...

    def run_tool_action(self, action: str, form_name: str | None, values: dict[str, Any]) -> ToolRun: ...

    def lookup_action(self, action: str) -> dict[str, Any]:
        """The slots an action would set (nothing is set)."""
        ...
