"""Load and validate a vertical's flow.yaml into a FlowSpec.

Every problem is reported as a FlowError naming the file, the line and the field;
all errors of a file are collected before raising FlowErrors, never a traceback.

Flow text comes from editors in the admin, so it is treated as untrusted input:

* at most :data:`MAX_FLOW_BYTES` of text and :data:`MAX_NESTING` levels of nesting (aliases
  included) are parsed (callflows.flow.safe_yaml); deeper text is refused while it is composed, before the YAML library's
  recursion can overflow the stack, and any other exception of the YAML library (a date like
  ``2026-13-45``, a 5,000-digit number) becomes a flow error too;
* ``actions:`` names a module in the vertical's own folder only: a bare file name
  (``actions.py``) or module name (``my_actions``), yielded as a file name (``my_actions.py``);
* ``knowledge:`` names a YAML file inside the vertical's folder (``knowledge.yaml``, or one
  folder down, like the admin's ``knowledge.d/<sha>.yaml``), never ``..``, an absolute path or
  a symbolic link leading out of the folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jinja2.exceptions import TemplateError

from callflows.flow.errors import FlowError, FlowErrors
from callflows.flow.spec import (
    ConfirmSpec,
    FaqEntry,
    FlowSpec,
    FormSpec,
    FormStep,
    IntentSpec,
    Settings,
    SlotSpec,
)
from callflows.flow.templates import unknown_variables
from callflows.flow.checker import Checker
from callflows.flow.slot_loader import slot_specs
from callflows.flow.safe_yaml import MAX_FLOW_BYTES, load_yaml_limited, yaml_error
from callflows.flow.yaml_lines import LineDict, LineList

TOP_KEYS = {
    "vertical", "display_name", "timezone", "transfer_number", "settings", "variables",
    "slots", "intents", "forms", "responses", "knowledge", "actions", "action_server",
}
INTENT_KEYS = {"examples", "keywords", "hints", "response", "transfer", "end_call", "menu"}
FORM_KEYS = {"intent", "steps", "confirm", "action", "validator", "requires", "success_slot"}
STEP_KEYS = {"slot", "one_of", "prompt", "reprompts"}
CONFIRM_KEYS = {"prompt", "on_deny", "change_words"}
SETTINGS_FIELDS = set(Settings.__dataclass_fields__)

_ACTIONS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(?:\.py)?")
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}"
_KNOWLEDGE_NAME = re.compile(rf"(?:{_PART}/)?{_PART}\.ya?ml")
ACTIONS_RULE = ("must name a module in the vertical's folder: a file name like actions.py or a module "
                "name like my_actions (no folder, no '..', no absolute or dotted path)")
KNOWLEDGE_RULE = ("must name a file inside the vertical's folder, like knowledge.yaml (a .yaml file; "
                  "no '..', no absolute path, no link out of the folder)")


def actions_file(value: str) -> str | None:
    """The file an ``actions:`` value names in the vertical's folder (``my_actions`` ->
    ``my_actions.py``); None when it is not a bare module or file name."""
    if not isinstance(value, str) or not _ACTIONS_NAME.fullmatch(value):
        return None
    return value if value.endswith(".py") else value + ".py"


def is_knowledge_name(value: str) -> bool:
    """True for a ``knowledge:`` value that stays inside the vertical's folder by its spelling."""
    return isinstance(value, str) and bool(_KNOWLEDGE_NAME.fullmatch(value))


def _inside(base_dir: Path | None, name: str) -> Path | None:
    """``base_dir / name`` if it resolves (links followed) to a path inside ``base_dir``."""
    root = (base_dir or Path(".")).resolve()
    path = (root / name).resolve()
    return path if path.is_relative_to(root) else None


def load_flow(path: str | Path) -> FlowSpec:
    """Load a flow file from disk (the knowledge file is resolved next to it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowErrors([FlowError(str(path), None, "file", f"cannot be read: {exc.strerror}")]) from None
    return load_flow_text(text, str(path), base_dir=path.parent)


def load_flow_text(text: str, file: str = "<flow>", base_dir: Path | None = None,
                   knowledge_text: str | None = None) -> FlowSpec:
    """Parse and validate flow YAML text; raises FlowErrors listing every problem."""
    try:
        doc = load_yaml_limited(text)
    except yaml.YAMLError as exc:
        raise FlowErrors([yaml_error(file, exc)]) from None
    if not isinstance(doc, LineDict):
        raise FlowErrors([FlowError(file, 1, "file", "must be a mapping with vertical, slots, intents, forms")])

    c = Checker(file)
    c.unknown_keys(doc, TOP_KEYS, "")
    vertical = c.string(doc, "vertical", "vertical", required=True) or "unknown"
    timezone = c.string(doc, "timezone", "timezone") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        c.error(doc, "timezone", "timezone", f"unknown time zone '{timezone}'")
    settings = _settings(c, c.mapping(doc, "settings", "settings"))
    variables = dict(c.mapping(doc, "variables", "variables"))
    slots = slot_specs(c, c.mapping(doc, "slots", "slots", required=True))
    intents = _intents(c, c.mapping(doc, "intents", "intents", required=True))
    responses = _responses(c, c.mapping(doc, "responses", "responses"))
    forms = _forms(c, c.mapping(doc, "forms", "forms"), slots, intents)
    raw_intents = doc.get("intents")
    intent_nodes = {str(k): v for k, v in raw_intents.items()} if isinstance(raw_intents, dict) else {}
    for intent in intents.values():
        if intent.response and intent.response not in responses:
            c.error(intent_nodes.get(intent.name), "response", f"intents.{intent.name}.response",
                    f"response '{intent.response}' is not defined in responses")

    faq: tuple[FaqEntry, ...] = ()
    knowledge = c.string(doc, "knowledge", "knowledge")
    if knowledge is not None and knowledge_text is None and not is_knowledge_name(knowledge):
        c.error(doc, "knowledge", "knowledge", KNOWLEDGE_RULE)
    elif knowledge is not None or knowledge_text is not None:
        faq = _knowledge(c, doc, knowledge, base_dir, knowledge_text)
    actions = _actions(c, doc, base_dir)

    known = set(slots) | set(variables) | {f"{s}_label" for s, spec in slots.items() if spec.type == "enum"}
    known.add("spelling")  # a slot's confirm.spelled: the value spelled out letter by letter
    for tfile, field, line, source in c.templates:
        try:
            unknown = unknown_variables(source, known)
        except TemplateError as exc:
            c.errors.append(FlowError(tfile, line, field, f"bad template: {exc}"))
            continue
        except RecursionError:
            c.errors.append(FlowError(tfile, line, field, "bad template: nested too deeply"))
            continue
        for name in sorted(unknown):
            c.errors.append(FlowError(tfile, line, field, f"bad template variable '{name}' (not a slot or variable)"))

    if c.errors:
        raise FlowErrors(c.errors)
    return FlowSpec(
        vertical=vertical,
        display_name=c.string(doc, "display_name", "display_name") or vertical,
        timezone=timezone,
        transfer_number=c.string(doc, "transfer_number", "transfer_number"),
        settings=settings,
        variables=variables,
        slots=slots,
        intents=intents,
        forms=forms,
        responses=responses,
        faq=faq,
        action_server=c.string(doc, "action_server", "action_server"),
        actions_module=actions,
        source=Path(file) if base_dir else None,
    )


def _actions(c: Checker, doc: LineDict, base_dir: Path | None) -> str | None:
    """The ``actions:`` module as a bare file name in the vertical's folder, else an error."""
    value = c.string(doc, "actions", "actions")
    if value is None:
        return None
    module = actions_file(value)
    if module is None or (base_dir is not None and (base_dir / module).exists()
                          and _inside(base_dir, module) is None):
        c.error(doc, "actions", "actions", ACTIONS_RULE)
        return None
    return module


def _settings(c: Checker, node: LineDict) -> Settings:
    c.unknown_keys(node, SETTINGS_FIELDS, "settings")
    values: dict[str, Any] = {}
    defaults = Settings()
    for key, value in node.items():
        if key not in SETTINGS_FIELDS:
            continue
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
                c.error(node, key, f"settings.{key}", "must be a list of two whole numbers")
                continue
            value = tuple(value)
        elif isinstance(default, (int, float)) and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            c.error(node, key, f"settings.{key}", "must be a number")
            continue
        try:
            values[key] = type(default)(value) if not isinstance(default, tuple) else value
        except (ValueError, OverflowError):  # .inf, .nan, a 400-digit number
            c.error(node, key, f"settings.{key}", "must be a finite number")
    return Settings(**values)


def _intents(c: Checker, node: LineDict) -> dict[str, IntentSpec]:
    intents: dict[str, IntentSpec] = {}
    # shorthand: "greet: [hi, hello]"
    for name, field, body in c.entries(node, "intents", INTENT_KEYS, (list, "examples"), "must be a mapping with examples"):
        examples = c.strings(body, "examples", f"{field}.examples")
        keywords = c.strings(body, "keywords", f"{field}.keywords")
        if not examples and not keywords:
            c.error(node, name, f"{field}.examples", "an intent needs examples (or keywords)")
        intents[str(name)] = IntentSpec(
            name=str(name),
            examples=examples,
            keywords=keywords,
            hints=c.strings(body, "hints", f"{field}.hints"),
            response=c.string(body, "response", f"{field}.response"),
            transfer=bool(body.get("transfer", False)),
            end_call=bool(body.get("end_call", False)),
            menu=c.string(body, "menu", f"{field}.menu"),
        )
    return intents


def _responses(c: Checker, node: LineDict) -> dict[str, tuple[str, ...]]:
    responses: dict[str, tuple[str, ...]] = {}
    for name in node:
        variants = c.strings(node, name, f"responses.{name}", template=True)
        if not variants:
            c.error(node, name, f"responses.{name}", "needs at least one text")
        responses[str(name)] = variants
    return responses


def _forms(c: Checker, node: LineDict, slots: dict[str, SlotSpec],
           intents: dict[str, IntentSpec]) -> dict[str, FormSpec]:
    forms: dict[str, FormSpec] = {}
    for name, body in node.items():
        field = f"forms.{name}"
        if not isinstance(body, LineDict):
            c.error(node, name, field, "must be a mapping")
            continue
        c.unknown_keys(body, FORM_KEYS, field)
        intent = c.string(body, "intent", f"{field}.intent")
        if intent is not None and intent not in intents:
            c.error(body, "intent", f"{field}.intent", f"intent '{intent}' is not defined in intents")
        steps = _steps(c, body, field, slots)
        confirm = None
        raw_confirm = body.get("confirm")
        if raw_confirm is not None:
            if isinstance(raw_confirm, str):
                c.error(body, "confirm", f"{field}.confirm", "must be a mapping with prompt and on_deny")
            elif isinstance(raw_confirm, LineDict):
                c.unknown_keys(raw_confirm, CONFIRM_KEYS, f"{field}.confirm")
                prompt = c.string(raw_confirm, "prompt", f"{field}.confirm.prompt", required=True, template=True)
                on_deny = c.string(raw_confirm, "on_deny", f"{field}.confirm.on_deny", required=True, template=True)
                change_words: dict[str, tuple[str, ...]] = {}
                raw_words = c.mapping(raw_confirm, "change_words", f"{field}.confirm.change_words")
                for slot_name in raw_words:
                    if slot_name not in slots:
                        c.error(raw_words, slot_name, f"{field}.confirm.change_words.{slot_name}",
                                f"slot '{slot_name}' is not defined in slots")
                    change_words[str(slot_name)] = c.strings(raw_words, slot_name,
                                                             f"{field}.confirm.change_words.{slot_name}")
                confirm = ConfirmSpec(prompt or "", on_deny or "", change_words)
        action = c.string(body, "action", f"{field}.action")
        success_slot = c.string(body, "success_slot", f"{field}.success_slot")
        if success_slot is not None:
            if success_slot not in slots:
                c.error(body, "success_slot", f"{field}.success_slot", f"slot '{success_slot}' is not defined in slots")
            elif any(success_slot in step.slots for step in steps):
                c.error(body, "success_slot", f"{field}.success_slot",
                        f"slot '{success_slot}' is asked by the form; it must be set by the form's action only")
            if action is None:
                c.error(body, "success_slot", f"{field}.success_slot", "needs an action that sets the slot")
        forms[str(name)] = FormSpec(
            name=str(name),
            intent=intent,
            steps=tuple(steps),
            confirm=confirm,
            action=action,
            validator=c.string(body, "validator", f"{field}.validator"),
            requires=c.string(body, "requires", f"{field}.requires"),
            success_slot=success_slot,
        )
    _requirements(c, node, forms)
    return forms


def _requirements(c: Checker, node: LineDict, forms: dict[str, FormSpec]) -> None:
    """`requires` names another form, which itself requires nothing (no chains or loops)."""
    bodies = {str(k): v for k, v in node.items()}  # keys as the forms are named (a key may be a number)
    for form in forms.values():
        if form.requires is None:
            continue
        body, field = bodies.get(form.name), f"forms.{form.name}.requires"
        required = forms.get(form.requires)
        if required is None:
            known = ", ".join(sorted(forms)) or "none"
            c.error(body, "requires", field, f"form '{form.requires}' is not defined in forms (defined: {known})")
        elif required.name == form.name:
            c.error(body, "requires", field, "a form cannot require itself")
        elif required.requires is not None:
            c.error(body, "requires", field,
                    f"form '{required.name}' itself requires '{required.requires}'; a required form cannot have requirements")


def _steps(c: Checker, form: LineDict, field: str, slots: dict[str, SlotSpec]) -> list[FormStep]:
    raw = form.get("steps")
    if not isinstance(raw, LineList) or not raw:
        c.error(form, "steps" if "steps" in form else None, f"{field}.steps",
                "is required: a list of slots to ask for, each with a prompt")
        return []
    steps: list[FormStep] = []
    for i, item in enumerate(raw):
        sfield = f"{field}.steps[{i}]"
        if not isinstance(item, LineDict):
            c.error(raw, i, sfield, "must be a mapping with slot and prompt")
            continue
        c.unknown_keys(item, STEP_KEYS, sfield)
        if "slot" in item:
            names = (c.string(item, "slot", f"{sfield}.slot") or "",)
        elif "one_of" in item:
            names = c.strings(item, "one_of", f"{sfield}.one_of")
        else:
            c.error(item, None, sfield, "needs 'slot' (or 'one_of')")
            continue
        for slot_name in names:
            if slot_name not in slots:
                c.error(item, "slot" if "slot" in item else "one_of", f"{sfield}.slot",
                        f"form references undefined slot '{slot_name}'")
        prompt = c.string(item, "prompt", f"{sfield}.prompt", template=True)
        if not prompt:
            c.error(item, None, f"{sfield}.prompt", f"prompt missing for slot '{'/'.join(names)}'")
        reprompts = c.strings(item, "reprompts", f"{sfield}.reprompts", template=True)
        steps.append(FormStep(tuple(names), prompt or "", reprompts))
    return steps


def _knowledge(c: Checker, doc: LineDict, knowledge: str | None, base_dir: Path | None,
               knowledge_text: str | None) -> tuple[FaqEntry, ...]:
    kfile = knowledge or "<knowledge>"
    if knowledge_text is None:
        path = (base_dir or Path(".")) / (knowledge or "")
        kfile = str(path)
        if _inside(base_dir, knowledge or "") is None:  # a link out of the vertical's folder
            c.error(doc, "knowledge", "knowledge", KNOWLEDGE_RULE)
            return ()
        try:
            if path.stat().st_size > MAX_FLOW_BYTES:
                c.error(doc, "knowledge", "knowledge", f"file '{knowledge}' is larger than {MAX_FLOW_BYTES:,} bytes")
                return ()
            knowledge_text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            c.error(doc, "knowledge", "knowledge", f"file '{knowledge}' cannot be read")
            return ()
    kc = Checker(kfile)
    try:
        data = load_yaml_limited(knowledge_text)
    except yaml.YAMLError as exc:
        c.errors.append(yaml_error(kfile, exc))
        return ()
    entries = data.get("faq") if isinstance(data, dict) else None
    if not isinstance(entries, LineList):
        c.errors.append(FlowError(kfile, 1, "faq", "must be a list of entries with id, questions and answer"))
        return ()
    out: list[FaqEntry] = []
    for i, entry in enumerate(entries):
        field = f"faq[{i}]"
        if not isinstance(entry, LineDict):
            kc.error(entries, i, field, "must be a mapping with id, questions and answer")
            continue
        kc.unknown_keys(entry, {"id", "questions", "answer", "keywords"}, field)
        eid = kc.string(entry, "id", f"{field}.id", required=True) or f"faq{i}"
        questions = kc.strings(entry, "questions", f"{field}.questions")
        if not questions:
            kc.error(entry, None, f"{field}.questions", "at least one question is required")
        answer = kc.string(entry, "answer", f"{field}.answer", required=True, template=True)
        out.append(FaqEntry(eid, questions, answer or "", kc.strings(entry, "keywords", f"{field}.keywords")))
    c.errors.extend(kc.errors)
    c.templates.extend(kc.templates)
    return tuple(out)
