"""Load and validate a vertical's escalation.yaml into an EscalationSpec.

Every problem is a FlowError naming the file, the line and the field (as the flow loader
does), all collected before raising FlowErrors. Environment variables override the LLM
settings and budgets (see `apply_env`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

import yaml

from callflows.escalation.spec import (
    OPS, ROUTES, SIGNALS, Budget, Condition, EscalationSpec, LLMSettings, Lookup, Rule, SignalSettings, Tool,
    ToolArg,
)
from callflows.flow.errors import FlowError, FlowErrors
from callflows.flow.checker import Checker as FlowChecker
from callflows.flow.spec import FlowSpec
from callflows.flow.yaml_lines import LineDict, LineList, load_yaml_with_lines
from callflows.plugins import VerticalPluginError, find_lookup

FILE = "escalation.yaml"
TOP_KEYS = {"instructions", "llm", "budget", "signals", "holding_line", "lookups", "rules", "tools",
            "transfer"}  # transfer: read by callflows/telephony/transfer_settings.py
RULE_KEYS = {"name", "route", "intent", "when", "any", "reason"}
COND_KEYS = {"slot", "fact", "signal", "keywords", "label", *OPS}
LOOKUP_KEYS = {"function", "action", "needs", "options"}
TOOL_KEYS = {"description", "action", "form", "requires", "args"}
ARG_KEYS = {"slot", "required", "description"}
BUILTIN_INTENTS = {"human", "out_of_scope", "faq"}
# environment overrides: variable -> (section, field, type)
ENV = {
    "CALLFLOWS_ESCALATION_ROLE": ("llm", "role", str),
    "CALLFLOWS_ESCALATION_TIMEOUT_S": ("llm", "timeout_s", float),
    "CALLFLOWS_ESCALATION_CALL_SECONDS": ("budget", "call_seconds", float),
    "CALLFLOWS_ESCALATION_CALL_TOKENS": ("budget", "call_tokens", int),
    "CALLFLOWS_ESCALATION_DAY_SECONDS": ("budget", "day_seconds", float),
    "CALLFLOWS_ESCALATION_DAY_TOKENS": ("budget", "day_tokens", int),
}


class _Checker(FlowChecker):
    """The flow loader's error collector (file, line, field), with escalation.yaml's own helpers."""

    def unknown(self, node: Any, allowed: set[str], field: str) -> None:
        if isinstance(node, dict):
            self.unknown_keys(node, allowed, field)  # type: ignore[arg-type]

    def mapping(self, node: Any, key: str, field: str) -> dict:
        value = node.get(key) if isinstance(node, dict) else None
        if value is None:
            return LineDict()
        if not isinstance(value, dict):
            self.error(node, key, field, "must be a mapping")
            return LineDict()
        return value

    def strings(self, node: Any, key: str, field: str) -> tuple[str, ...]:
        value = node.get(key) if isinstance(node, dict) else None
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.error(node, key, field, "must be a string or a list of strings")
            return ()
        return tuple(str(v) for v in value)

    def number(self, node: Any, key: str, field: str, default: Any, kind: type) -> Any:
        value = node.get(key) if isinstance(node, dict) else None
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            self.error(node, key, field, "must be a number >= 0")
            return default
        return kind(value)


def escalation_path(root: Path) -> Path:
    return Path(root) / FILE


def load_escalation(root: Path, flow: FlowSpec | None = None, has_action: Callable[[str], bool] | None = None,
                    env: bool = True) -> EscalationSpec | None:
    """The vertical's escalation.yaml (None if it has none), checked against its flow and actions."""
    path = escalation_path(root)
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowErrors([FlowError(str(path), None, "file", f"cannot be read: {exc.strerror}")]) from None
    spec = load_escalation_text(text, str(path), flow, has_action)
    return apply_env(spec) if env else spec


def apply_env(spec: EscalationSpec, environ: dict[str, str] | None = None) -> EscalationSpec:
    """CALLFLOWS_ESCALATION_ROLE / _TIMEOUT_S / _CALL_SECONDS / _CALL_TOKENS / _DAY_SECONDS /
    _DAY_TOKENS win over the file."""
    environ = os.environ if environ is None else environ
    sections: dict[str, dict[str, Any]] = {"llm": {}, "budget": {}}
    for name, (section, fld, kind) in ENV.items():
        raw = environ.get(name)
        if raw:
            try:
                sections[section][fld] = kind(raw)
            except ValueError:
                raise FlowErrors([FlowError(name, None, fld, f"must be a {kind.__name__}, not {raw!r}")]) from None
    return dataclasses.replace(spec, llm=dataclasses.replace(spec.llm, **sections["llm"]),
                               budget=dataclasses.replace(spec.budget, **sections["budget"]))


def load_escalation_text(text: str, file: str = "<escalation>", flow: FlowSpec | None = None,
                         has_action: Callable[[str], bool] | None = None) -> EscalationSpec:
    try:
        doc = load_yaml_with_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FlowErrors([FlowError(file, mark.line + 1 if mark else None, "yaml", f"syntax error: {problem}")]) from None
    if doc is None:
        doc = LineDict()
    if not isinstance(doc, dict):
        raise FlowErrors([FlowError(file, 1, "file", "must be a mapping with rules, tools, instructions")])
    c = _Checker(file)
    c.unknown(doc, TOP_KEYS, "")
    instructions = doc.get("instructions") or ""
    if not isinstance(instructions, str):
        c.error(doc, "instructions", "instructions", "must be a string")
        instructions = ""

    node = c.mapping(doc, "llm", "llm")
    c.unknown(node, set(LLMSettings.__dataclass_fields__), "llm")
    d = LLMSettings()
    role = node.get("role", d.role)
    if not isinstance(role, str) or not role:
        c.error(node, "role", "llm.role", "must be an LLM role name (escalation, small...)")
        role = d.role
    llm = LLMSettings(role=role, timeout_s=c.number(node, "timeout_s", "llm.timeout_s", d.timeout_s, float),
                      max_tokens=c.number(node, "max_tokens", "llm.max_tokens", d.max_tokens, int),
                      max_tool_retries=c.number(node, "max_tool_retries", "llm.max_tool_retries", d.max_tool_retries, int),
                      max_steps=max(1, c.number(node, "max_steps", "llm.max_steps", d.max_steps, int)))

    node = c.mapping(doc, "budget", "budget")
    c.unknown(node, set(Budget.__dataclass_fields__), "budget")
    budget = Budget(**{f: c.number(node, f, f"budget.{f}", 0, float if f.endswith("seconds") else int)
                       for f in Budget.__dataclass_fields__})

    node = c.mapping(doc, "signals", "signals")
    c.unknown(node, set(SignalSettings.__dataclass_fields__), "signals")
    low = node.get("low_confidence")
    if low is not None and (isinstance(low, bool) or not isinstance(low, (int, float)) or not 0 <= low <= 1):
        c.error(node, "low_confidence", "signals.low_confidence", "must be a number between 0 and 1")
        low = None
    signals = SignalSettings(low_confidence=low,
                             frustration_words=tuple(w.lower() for w in c.strings(node, "frustration_words", "signals.frustration_words")),
                             person_phrases=tuple(w.lower() for w in c.strings(node, "person_phrases", "signals.person_phrases")))

    lookups = _lookups(c, c.mapping(doc, "lookups", "lookups"), flow, has_action)
    rules = _rules(c, doc.get("rules"), doc, flow, lookups)
    tools = _tools(c, c.mapping(doc, "tools", "tools"), flow, has_action)
    holding = doc.get("holding_line", EscalationSpec.__dataclass_fields__["holding_line"].default)
    if not isinstance(holding, str) or not holding.strip():
        c.error(doc, "holding_line", "holding_line", "must be a sentence")
        holding = EscalationSpec.__dataclass_fields__["holding_line"].default
    if c.errors:
        raise FlowErrors(c.errors)
    return EscalationSpec(vertical=flow.vertical if flow else "", instructions=instructions.strip(), rules=rules,
                          lookups=lookups, tools=tools, llm=llm, budget=budget, signals=signals,
                          holding_line=holding.strip(), source=file)


def _unregistered(function: str, vertical: str) -> str | None:
    """Why the lookup ``function`` cannot be found by name, or None when a vertical registers it."""
    try:
        if find_lookup(function, vertical) is not None:
            return None
    except VerticalPluginError as exc:
        return str(exc)
    return f"'{function}' is not a lookup any installed vertical registers (nor 'module.path:function')"


def _lookups(c: _Checker, node: dict, flow: FlowSpec | None, has_action: Callable[[str], bool] | None) -> dict[str, Lookup]:
    out: dict[str, Lookup] = {}
    for name, entry in node.items():
        field = f"lookups.{name}"
        if not isinstance(entry, dict):
            c.error(node, name, field, "must be a mapping with function or action, and needs")
            continue
        c.unknown(entry, LOOKUP_KEYS, field)
        function, action = entry.get("function"), entry.get("action")
        if bool(function) == bool(action):
            c.error(node, name, field, "give exactly one of function (a registered lookup or module:function) or action")
        if function is not None and not isinstance(function, str):
            c.error(entry, "function", f"{field}.function",
                    "must be a lookup the vertical registers (its plugin's lookups) or 'module.path:function'")
        elif isinstance(function, str) and ":" not in function and flow is not None:
            problem = _unregistered(function, flow.vertical)
            if problem:
                c.error(entry, "function", f"{field}.function", problem)
        if action is not None and has_action is not None and not has_action(str(action)):
            c.error(entry, "action", f"{field}.action", f"the vertical has no action '{action}'")
        needs = c.strings(entry, "needs", f"{field}.needs")
        for slot in needs:
            if flow is not None and slot not in flow.slots:
                c.error(entry, "needs", f"{field}.needs", f"'{slot}' is not a slot of the flow")
        options = entry.get("options") or {}
        if not isinstance(options, dict):
            c.error(entry, "options", f"{field}.options", "must be a mapping")
            options = {}
        out[str(name)] = Lookup(str(name), needs, function=function, action=action, options=dict(options))
    return out


def _condition(c: _Checker, parent: Any, key: Any, node: Any, field: str, flow: FlowSpec | None,
               lookups: dict[str, Lookup]) -> Condition | None:
    if not isinstance(node, dict):
        c.error(parent, key, field, "must be a mapping: {slot|fact|signal: name, over|under|at_least|equals|in: value} or {keywords: [...]}")
        return None
    c.unknown(node, COND_KEYS, field)
    kinds = [k for k in ("slot", "fact", "signal", "keywords") if k in node]
    if len(kinds) != 1:
        c.error(parent, key, field, "give exactly one of slot, fact, signal, keywords")
        return None
    kind = kinds[0]
    ops = [k for k in OPS if k in node]
    if len(ops) > 1:
        c.error(parent, key, field, f"give at most one operator ({', '.join(OPS)})")
        return None
    op = ops[0] if ops else None
    value = node.get(op) if op else None
    label = str(node.get("label") or "")
    if kind == "keywords":
        words = tuple(w.lower() for w in c.strings(node, "keywords", f"{field}.keywords"))
        if not words:
            c.error(node, "keywords", f"{field}.keywords", "must list at least one phrase")
        return Condition("keywords", "", words=words, label=label)
    name = node.get(kind)
    if not isinstance(name, str) or not name:
        c.error(node, kind, f"{field}.{kind}", "must be a name")
        return None
    if op in ("over", "under", "at_least") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        c.error(node, op, f"{field}.{op}", "must be a number")
    if op == "in" and not isinstance(value, list):
        c.error(node, op, f"{field}.in", "must be a list")
    if kind == "slot" and flow is not None and name not in flow.slots:
        c.error(node, kind, f"{field}.slot", f"'{name}' is not a slot of the flow")
    if kind == "fact" and name.split(".")[0] not in lookups:
        c.error(node, kind, f"{field}.fact", f"'{name}': no lookup named '{name.split('.')[0]}' (facts are lookup.field)")
    if kind == "signal" and name not in SIGNALS:
        c.error(node, kind, f"{field}.signal", f"unknown signal '{name}' (known: {', '.join(SIGNALS)})")
    return Condition(kind, name, op, value, label=label)


def _rules(c: _Checker, node: Any, doc: Any, flow: FlowSpec | None, lookups: dict[str, Lookup]) -> tuple[Rule, ...]:
    if node is None:
        return ()
    if not isinstance(node, list):
        c.error(doc, "rules", "rules", "must be a list of rules")
        return ()
    rules: list[Rule] = []
    for i, entry in enumerate(node):
        field = f"rules[{i}]"
        if not isinstance(entry, dict):
            c.error(node, i, field, "must be a mapping with name, route and conditions")
            continue
        c.unknown(entry, RULE_KEYS, field)
        name = str(entry.get("name") or f"rule_{i + 1}")
        field = f"rules[{i}] ({name})"
        route = entry.get("route")
        if route not in ROUTES or route == "stay":
            c.error(entry, "route" if "route" in entry else None, f"{field}.route", "must be llm or person")
            route = "llm"
        intents = c.strings(entry, "intent", f"{field}.intent")
        for intent in intents:
            if flow is not None and intent not in flow.intents and intent not in BUILTIN_INTENTS:
                c.error(entry, "intent", f"{field}.intent", f"'{intent}' is not an intent of the flow")
        groups: dict[str, list[Condition]] = {"when": [], "any": []}
        for key in groups:
            conds = entry.get(key)
            if conds is None:
                continue
            if isinstance(conds, dict):
                conds = [conds]
            if not isinstance(conds, list):
                c.error(entry, key, f"{field}.{key}", "must be a list of conditions")
                continue
            for j, cond in enumerate(conds):
                parsed = _condition(c, conds, j, cond, f"{field}.{key}[{j}]", flow, lookups)
                if parsed is not None:
                    groups[key].append(parsed)
        if not intents and not groups["when"] and not groups["any"]:
            c.error(node, i, field, "needs an intent or at least one condition (when/any)")
        reason = entry.get("reason") or ""
        rules.append(Rule(name, route, intents, tuple(groups["when"]), tuple(groups["any"]), str(reason)))
    return tuple(rules)


def _tools(c: _Checker, node: dict, flow: FlowSpec | None, has_action: Callable[[str], bool] | None) -> dict[str, Tool]:
    tools: dict[str, Tool] = {}
    for name, entry in node.items():
        field = f"tools.{name}"
        if not isinstance(entry, dict):
            c.error(node, name, field, "must be a mapping with description, action and args")
            continue
        c.unknown(entry, TOOL_KEYS, field)
        description = str(entry.get("description") or "")
        if not description:
            c.error(node, name, f"{field}.description", "is required (the LLM reads it)")
        action = entry.get("action")
        if not isinstance(action, str) or not action:
            c.error(node, name, f"{field}.action", "is required (the vertical's action the tool runs)")
            action = ""
        elif has_action is not None and not has_action(action):
            c.error(entry, "action", f"{field}.action", f"the vertical has no action '{action}'")
        form = entry.get("form")
        requires = entry.get("requires")
        if flow is not None:
            if form is not None and form not in flow.forms:
                c.error(entry, "form", f"{field}.form", f"'{form}' is not a form of the flow")
            if requires is not None and requires not in flow.forms:
                c.error(entry, "requires", f"{field}.requires", f"'{requires}' is not a form of the flow")
            flow_requires = flow.forms[form].requires if form in flow.forms else None
            if flow_requires and requires != flow_requires:
                c.error(entry, "requires" if "requires" in entry else "form", f"{field}.requires",
                        f"form '{form}' requires '{flow_requires}': the tool must say requires: {flow_requires}")
        args: list[ToolArg] = []
        arg_node = c.mapping(entry, "args", f"{field}.args")
        for arg, spec in arg_node.items():
            afield = f"{field}.args.{arg}"
            if isinstance(spec, str):
                spec = {"slot": spec}
            if not isinstance(spec, dict):
                c.error(arg_node, arg, afield, "must be a slot name or {slot, required, description}")
                continue
            c.unknown(spec, ARG_KEYS, afield)
            slot = str(spec.get("slot") or arg)
            if flow is not None and slot not in flow.slots:
                c.error(arg_node, arg, afield, f"'{slot}' is not a slot of the flow")
            elif flow is not None and flow.slots[slot].type == "any":
                c.error(arg_node, arg, afield, f"slot '{slot}' has type any: no parser can validate it")
            args.append(ToolArg(str(arg), slot, bool(spec.get("required", True)), str(spec.get("description") or "")))
        tools[str(name)] = Tool(str(name), description, action, tuple(args), form, requires)
    return tools
