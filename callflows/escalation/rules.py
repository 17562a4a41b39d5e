"""The decision: stay on the small model, go to the LLM, or to a person, with the reasons.

Pure functions of what the call knows at a checkpoint (the call's goal intents, its slots,
the facts looked up from the store, its signals, the caller's words this turn)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callflows.escalation.signals import Signals, said_any
from callflows.escalation.spec import RANK, Condition, Decision, EscalationSpec, Rule


@dataclass
class Context:
    intents: set[str] = field(default_factory=set)
    slots: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    signals: Signals = field(default_factory=Signals)
    text: str = ""  # the caller's words this turn (normalised)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(str(value).replace(",", "").replace("$", ""))
    except ValueError:
        return None


def _value(cond: Condition, ctx: Context) -> Any:
    if cond.kind == "slot":
        return ctx.slots.get(cond.name)
    if cond.kind == "fact":
        lookup, _, key = cond.name.partition(".")
        facts = ctx.facts.get(lookup) or {}
        return facts.get(key) if key else (facts or None)
    if cond.kind == "signal":
        return getattr(ctx.signals, cond.name, 0)
    return None


def holds(cond: Condition, ctx: Context) -> bool:
    if cond.kind == "keywords":
        return said_any(ctx.text, cond.words)
    value = _value(cond, ctx)
    if value is None:
        return False  # not known (yet): never a reason
    op, ref = cond.op, cond.value
    if op is None:
        return bool(value) if cond.kind != "signal" else float(value) >= 1
    if op in ("over", "under", "at_least"):
        number = _number(value)
        if number is None:
            return False
        return number > ref if op == "over" else number < ref if op == "under" else number >= ref
    if op == "equals":
        return str(value).lower() == str(ref).lower()
    if op == "in":
        return str(value).lower() in {str(v).lower() for v in ref}
    return False


def matches(rule: Rule, ctx: Context) -> list[str] | None:
    """The reasons if `rule` applies, else None."""
    hit_intents = [i for i in rule.intents if i in ctx.intents]
    if rule.intents and not hit_intents:
        return None
    if not all(holds(c, ctx) for c in rule.all):
        return None
    held_any = [c for c in rule.any if holds(c, ctx)]
    if rule.any and not held_any:
        return None
    if rule.reason:
        return [rule.reason]
    return hit_intents[:1] + [c.describe() for c in (*rule.all, *held_any)]


def decide(spec: EscalationSpec, ctx: Context) -> Decision:
    """Every rule that applies; the strongest route wins and lists the reasons of its rules."""
    decision = Decision()
    for rule in spec.rules:
        reasons = matches(rule, ctx)
        if reasons is None:
            continue
        if RANK[rule.route] > RANK[decision.route]:
            decision = Decision(rule.route, [], [])
        if rule.route == decision.route:
            decision.rules.append(rule.name)
            decision.reasons += [r for r in reasons if r not in decision.reasons]
    return decision
