"""A flow's ``slots:`` section, loaded and checked: each slot's type, choices, length, keys and
``confirm:`` (read-back, spelling and keypad steps). Errors go to the flow's Checker, naming the
line and field; a slot with a bad part is still defined, so one mistake is reported once."""

from __future__ import annotations

from callflows.flow.checker import Checker
from callflows.flow.spec import MATCH_ON_FILE, PII_BY_DEFAULT, SLOT_TYPES, SlotConfirm, SlotSpec, SpellStep
from callflows.flow.yaml_lines import LineDict

SLOT_KEYS = {"type", "choices", "length", "prefer", "pii", "dtmf", "description", "full", "confirm", "keys"}
SLOT_CONFIRM_KEYS = {"prompt", "spelled", "on_file", "corrections", "unverified_slot", "keypad"}


def slot_specs(c: Checker, node: LineDict) -> dict[str, SlotSpec]:
    """The flow's ``slots:``, each checked (type, choices, length, confirm ...) into a SlotSpec."""
    slots: dict[str, SlotSpec] = {}
    # shorthand: "date_of_birth: date"
    for name, field, body in c.entries(node, "slots", SLOT_KEYS, (str, "type"), "must be a mapping with a type"):
        slot_type = c.string(body, "type", f"{field}.type", required=True)
        if slot_type is not None and slot_type not in SLOT_TYPES:
            c.error(body, "type", f"{field}.type",
                    f"unknown slot type '{slot_type}' (one of: {', '.join(SLOT_TYPES)})")
            slot_type = None  # still defined: no cascade of "undefined slot" errors
        choices: dict[str, tuple[str, ...]] = {}
        raw_choices = body.get("choices")
        if slot_type == "enum":
            if isinstance(raw_choices, list):
                choices = {str(v): () for v in raw_choices}
            elif isinstance(raw_choices, dict) and raw_choices:
                for canonical, synonyms in raw_choices.items():
                    if synonyms is None:
                        synonyms = []
                    if not isinstance(synonyms, list):
                        c.error(raw_choices, canonical, f"{field}.choices.{canonical}", "must be a list of synonyms")
                        continue
                    choices[str(canonical)] = tuple(str(s) for s in synonyms)
            else:
                c.error(body if raw_choices is not None else node, "choices" if raw_choices is not None else name,
                        f"{field}.choices", "an enum slot needs choices (a list, or a mapping of choice to synonyms)")
        length = body.get("length")
        if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 1):
            c.error(body, "length", f"{field}.length", "must be a positive whole number")
            length = None
        prefer = str(body.get("prefer", "future"))
        if prefer not in ("future", "past", "birth"):
            c.error(body, "prefer", f"{field}.prefer", "must be 'future', 'past' or 'birth' (a date of birth)")
        keys = body.get("keys")
        if keys is not None and (keys != MATCH_ON_FILE or slot_type != "person_name"):
            c.error(body, "keys", f"{field}.keys", f"must be '{MATCH_ON_FILE}', on a person_name slot")
            keys = None
        confirm = _slot_confirm(c, body, field)
        if keys is not None and confirm is not None and confirm.keypad:
            c.error(body, "keys", f"{field}.keys", "a name matched on file by its keys is not also decoded "
                    "(confirm.keypad): keep one of the two")
        slots[str(name)] = SlotSpec(
            name=str(name),
            type=slot_type or "text",
            choices=choices,
            length=length,
            prefer=prefer,
            pii=bool(body.get("pii", slot_type in PII_BY_DEFAULT)),
            dtmf=bool(body.get("dtmf", slot_type in ("digits", "phone_number"))),
            description=str(body.get("description", "")),
            full=bool(body.get("full", False)),
            keys=keys,
            confirm=confirm,
        )
    for name, spec in slots.items():
        target = spec.confirm.unverified_slot if spec.confirm else None
        if target and target not in slots:
            c.error(node.get(name), "confirm", f"slots.{name}.confirm.unverified_slot",
                    f"slot '{target}' is not defined in slots")
    return slots


def _slot_confirm(c: Checker, body: LineDict, field: str) -> SlotConfirm | None:
    """A slot's `confirm:` (read the value back before the form goes on), or None."""
    if body.get("confirm") is None:
        return None
    node = c.mapping(body, "confirm", f"{field}.confirm")
    c.unknown_keys(node, SLOT_CONFIRM_KEYS, f"{field}.confirm")
    corrections = _spell_steps(c, node, "corrections", field, ("last", "first", "all"))
    keypad = _spell_steps(c, node, "keypad", field, ("last", "first"))
    return SlotConfirm(
        prompt=c.string(node, "prompt", f"{field}.confirm.prompt", required=True, template=True) or "",
        spelled=c.string(node, "spelled", f"{field}.confirm.spelled", template=True),
        on_file=c.string(node, "on_file", f"{field}.confirm.on_file", template=True),
        corrections=corrections,
        unverified_slot=c.string(node, "unverified_slot", f"{field}.confirm.unverified_slot"),
        keypad=keypad,
    )


def _spell_steps(c: Checker, node: LineDict, key: str, field: str, parts: tuple[str, ...]) -> tuple[SpellStep, ...]:
    """`confirm.corrections` or `confirm.keypad`: prompts, each a string or {prompt, part}."""
    steps: list[SpellStep] = []
    raw = node.get(key) or []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        cfield = f"{field}.confirm.{key}[{i}]"
        if isinstance(item, str):
            item = LineDict({"prompt": item})
            item.line, item.key_lines = node.line_of(key), {}
        if not isinstance(item, LineDict):
            c.error(node, key, cfield, "must be a prompt, or a mapping with prompt and part")
            continue
        c.unknown_keys(item, {"prompt", "part"}, cfield)
        part = str(item.get("part", "last"))
        if part not in parts:
            c.error(item, "part", f"{cfield}.part", "must be " + " or ".join(repr(p) for p in parts))
        steps.append(SpellStep(c.string(item, "prompt", f"{cfield}.prompt", required=True, template=True) or "", part))
    if raw and not isinstance(raw, list):
        c.error(node, key, f"{field}.confirm.{key}", "must be a list")
    return tuple(steps)
