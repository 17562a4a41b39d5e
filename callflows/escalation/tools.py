"""The vertical's actions as the LLM's tools: the JSON schema of one LLM turn, and each tool
call validated exactly as a form validates a caller's answer.

1. the tool's form `requires` verification (or the tool says `requires:`): refused unless
   ``session.requirement_met(form)`` - the LLM cannot skip identity verification;
2. every argument is parsed by its slot's value parser (``callflows.nlu.values.extract`` with
   the slot's options: a date of birth "banana" is no date, "12" is not four digits);
3. then the form's FormValidationAction (``validate_<slot>``) runs on the parsed values, if the
   vertical has one; a value it clears is rejected with what it said.

Personal details are masked in the prompt, so the model passes "[redacted]" (or nothing) for
a personal argument the caller already said: the value is then taken from the caller's own
words (parsed the same way), never from the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callflows.escalation.host import CallHost
from callflows.escalation.spec import Tool
from callflows.privacy import REDACTED

PLACEHOLDERS = {"", REDACTED.lower(), "redacted", "[masked]", "masked", "<redacted>", "filled", "the caller said"}


@dataclass
class ToolOutcome:
    ok: bool
    feedback: str  # what the model is told (never personal data)
    spoken: list[str] = field(default_factory=list)  # what the action said to the caller
    transferred: bool = False
    ended: bool = False


def turn_schema(tools: dict[str, Tool]) -> dict[str, Any]:
    """One LLM turn: {"say": ...} | {"tool": name, "args": {...}} | {"transfer": true, "reason": ...}."""
    variants: list[dict[str, Any]] = [
        {"type": "object", "properties": {"say": {"type": "string"}}, "required": ["say"],
         "additionalProperties": False},
    ]
    for tool in tools.values():
        props = {a.name: {"type": "string"} for a in tool.args}
        variants.append({
            "type": "object",
            "properties": {
                "tool": {"type": "string", "enum": [tool.name]},
                "args": {"type": "object", "properties": props, "required": [a.name for a in tool.args],
                         "additionalProperties": False},
            },
            "required": ["tool", "args"],
            "additionalProperties": False,
        })
    variants.append({"type": "object", "properties": {"transfer": {"type": "boolean"}, "reason": {"type": "string"}},
                     "required": ["transfer", "reason"], "additionalProperties": False})
    return {"anyOf": variants}


def describe_tools(tools: dict[str, Tool], session: CallHost) -> str:
    lines = []
    for tool in tools.values():
        args = ", ".join(f"{a.name}: {session.flow.slots[a.slot].type}" + ("" if a.required else " (optional)")
                         for a in tool.args)
        locked = ""
        if not tool_allowed(tool, session):
            locked = f" [only after {tool.requires or 'verification'} succeeded: not yet]"
        lines.append(f"- {tool.name}({args}): {tool.description}{locked}")
    return "\n".join(lines)


def tool_allowed(tool: Tool, session: CallHost) -> bool:
    if tool.form and not session.requirement_met(tool.form):
        return False
    if tool.requires and not session.is_verified(tool.requires):
        return False
    return True


def _from_caller(session: CallHost, slot: str, caller_texts: list[str]) -> Any:
    """A personal value the caller said (newest first), parsed by the slot's parser; or the filled slot."""
    for text in reversed(caller_texts):
        value = session.parse_slot_value(slot, text)
        if value is not None:
            return value
    return session.state.slots.get(slot)


def validate(tool: Tool, args: Any, session: CallHost, caller_texts: list[str]) -> tuple[dict[str, Any] | None, str]:
    """(values by slot, "") when the call may run, else (None, why) for the model."""
    if not tool_allowed(tool, session):
        need = tool.requires or session.flow.forms[tool.form].requires
        return None, (f"refused: {tool.name} needs the caller to pass {need} first, and they have not. "
                      f"Ask for the verification details, or use the verification tool if there is one.")
    if not isinstance(args, dict):
        return None, "rejected: args must be an object"
    unknown = sorted(set(args) - {a.name for a in tool.args})
    if unknown:
        return None, f"rejected: unknown argument(s) {', '.join(unknown)}"
    values: dict[str, Any] = {}
    problems: list[str] = []
    for arg in tool.args:
        spec = session.flow.slots[arg.slot]
        raw = args.get(arg.name)
        raw_text = "" if raw is None else str(raw).strip()
        if spec.pii and raw_text.lower() in PLACEHOLDERS:
            value = _from_caller(session, arg.slot, caller_texts)
        elif not raw_text:
            value = None
        else:
            value = session.parse_slot_value(arg.slot, raw_text)
            if value is None and raw_text.lower() not in PLACEHOLDERS:
                problems.append(f"{arg.name}: '{raw_text if not spec.pii else 'that value'}' is not a valid "
                                f"{spec.type}" + (f" of {spec.length} digits" if spec.length else ""))
                continue
        if value is None:
            if arg.required:
                problems.append(f"{arg.name}: missing; ask the caller for it")
            continue
        values[arg.slot] = value
    if problems:
        return None, "rejected: " + "; ".join(problems)
    if tool.form:
        # the validator reads the tool's own arguments as "what was said", never other words of the caller
        said_text = " ".join(str(v) for v in args.values() if v is not None and str(v).lower() not in PLACEHOLDERS)
        accepted, rejected, said = session.validate_form_values(tool.form, values, said_text)
        if rejected:
            why = "; ".join(f"{slot}: not accepted" for slot in rejected)
            return None, f"rejected by the form's validation: {why}" + (f" (it said: {' '.join(said)})" if said else "")
        values = accepted
    return values, ""


def run(tool: Tool, values: dict[str, Any], session: CallHost) -> ToolOutcome:
    result = session.run_tool_action(tool.action, tool.form, values)
    feedback = f"{tool.name} done." + (f" It told the caller: {result.masked_text}" if result.masked_text else "")
    if result.transferred:
        feedback += " The call is being transferred."
    return ToolOutcome(True, feedback, result.spoken, result.transferred, result.ended)
