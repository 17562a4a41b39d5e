"""Typed escalation specification: what a vertical's escalation.yaml becomes once validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROUTES = ("stay", "llm", "person")
RANK = {"stay": 0, "llm": 1, "person": 2}

#: Signals the engine measures on every caller turn (see callflows.escalation.signals).
SIGNALS = (
    "low_confidence_streak",  # caller turns in a row the NLU was unsure of and nothing was understood
    "reprompts",              # re-prompts in a row for the same question (the policy's misses)
    "out_of_scope",           # out-of-scope requests in the call
    "asked_for_person",       # the caller asked for a person (1 once asked)
    "frustration",            # caller turns with frustration words
)
OPS = ("over", "under", "at_least", "equals", "in")


@dataclass(frozen=True)
class Condition:
    """One test: a slot, a looked-up fact, a signal or caller words, against an operator."""

    kind: str  # "slot" | "fact" | "signal" | "keywords"
    name: str  # slot name, "lookup.field", signal name; "" for keywords
    op: str | None = None  # one of OPS (None: the value is present and true)
    value: Any = None
    words: tuple[str, ...] = ()  # keywords: any of these phrases said in this turn
    label: str = ""  # how the reason reads ("balance over 5000")

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.kind == "keywords":
            return "caller said " + "/".join(self.words[:3])
        short = self.name.split(".")[-1]
        if self.op is None:
            return short
        if self.op == "in":
            return f"{short} in {'/'.join(str(v) for v in self.value)}"
        word = {"over": "over", "under": "under", "at_least": ">=", "equals": "="}[self.op]
        return f"{short} {word} {self.value}"


@dataclass(frozen=True)
class Rule:
    name: str
    route: str  # "llm" | "person"
    intents: tuple[str, ...] = ()  # any of these is the call's goal (empty: any intent)
    all: tuple[Condition, ...] = ()  # every one holds
    any: tuple[Condition, ...] = ()  # at least one holds (empty: no such test)
    reason: str = ""  # the reason's text; default: the intent and the conditions that held


@dataclass(frozen=True)
class Lookup:
    """Facts read from the store once the slots in `needs` are filled: a Python function
    ("module:function", called with (store, slots, options)) or one of the vertical's actions
    (its SlotSet events become the facts)."""

    name: str
    needs: tuple[str, ...]
    function: str | None = None
    action: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolArg:
    name: str
    slot: str  # the flow slot whose type and parser validate it
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    action: str
    args: tuple[ToolArg, ...] = ()
    form: str | None = None  # the flow form whose validator and `requires` apply
    requires: str | None = None  # a form that must have completed (identity verification)


@dataclass(frozen=True)
class LLMSettings:
    role: str = "escalation"
    timeout_s: float = 20.0  # per LLM turn (one answer to the caller, tool calls included)
    max_tokens: int = 200
    max_tool_retries: int = 2  # rejected tool calls per caller turn before a person takes over
    max_steps: int = 4  # LLM calls per caller turn


@dataclass(frozen=True)
class Budget:
    """Limits on LLM use; 0 = no limit. Over a limit, calls go to a person instead."""

    call_seconds: float = 0.0
    call_tokens: int = 0
    day_seconds: float = 0.0
    day_tokens: int = 0


@dataclass(frozen=True)
class SignalSettings:
    low_confidence: float | None = None  # below this the NLU is unsure (default: the flow's threshold)
    frustration_words: tuple[str, ...] = ()
    person_phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscalationSpec:
    vertical: str
    instructions: str
    rules: tuple[Rule, ...]
    lookups: dict[str, Lookup]
    tools: dict[str, Tool]
    llm: LLMSettings = LLMSettings()
    budget: Budget = Budget()
    signals: SignalSettings = SignalSettings()
    holding_line: str = "I'm sorry, let me get a colleague to help you with this."
    source: str | None = None


@dataclass
class Decision:
    route: str = "stay"
    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)

    @property
    def escalates(self) -> bool:
        return self.route != "stay"

    def line(self) -> str:
        """`[route: llm — lost_or_stolen_card, balance over 5000]`"""
        return f"[route: {self.route} — {', '.join(self.reasons) or 'routine'}]"

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "reasons": list(self.reasons), "rules": list(self.rules)}
