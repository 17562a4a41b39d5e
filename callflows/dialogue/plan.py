"""What the dialogue policy decided for one caller turn.

The policy returns a `Plan` (callflows/dialogue/policy.py: `plan_turn`) and the session turns it
into the reply: the words, whether the call is transferred or ends, and whether the LLM route
takes the turn over (a form's completion may hand its task to the LLM before the action runs, and
what was said up to then is the start of the LLM's reply).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callflows.escalation.spec import Decision


@dataclass
class Plan:
    replies: list[str] = field(default_factory=list)
    transfer_to: str | None = None  # the number the call goes to
    end: bool = False  # the call ends (or is transferred) after this turn
    takeover: Decision | None = None  # the LLM route answers this turn, after `replies`
    decision: Decision | None = None  # the escalation decision made on this turn, recorded and shown
