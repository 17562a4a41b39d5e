"""The LLM's prompt: the vertical's instructions, the call so far (masked), the slots filled
(masked), whether the caller is verified, the tools. Everything passes through
callflows.privacy.mask_text last, so no date of birth, SSN, card or account digits reach it."""

from __future__ import annotations


from callflows.escalation.host import CallHost
from callflows.escalation.spec import EscalationSpec
from callflows.escalation.tools import describe_tools
from callflows.privacy import mask_text, mask_value

RULES = """Reply with one JSON object and nothing else, one of:
{"say": "<what you say to the caller: one to three short spoken sentences>"}
{"tool": "<tool name>", "args": {...}}   (the system runs it and tells you the result)
{"transfer": true, "reason": "<why a colleague must take over>"}
Personal details appear as [redacted]. To use one the caller already said, pass "[redacted]" as the argument.
Never invent account details. Tools marked 'not yet' will be refused: verify the caller first."""


def masked_slots(session: CallHost) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, spec in session.flow.slots.items():
        value = session.state.slots.get(name)
        if value is None or spec.type == "any" and not isinstance(value, (str, int, float)):
            continue
        if spec.pii or spec.type in ("digits", "phone_number", "person_name"):
            out[name] = mask_value(spec.type if spec.type != "date" else "date_of_birth", value)
        elif spec.type == "any":
            continue  # engine bookkeeping (customer ids, attempts)
        else:
            out[name] = str(value)
    return out


def build_messages(spec: EscalationSpec, session: CallHost, decision_reasons: list[str],
                   extra: list[dict[str, str]]) -> list[dict[str, str]]:
    secrets = session.secrets()
    verified = session.is_verified()
    system = "\n\n".join(p for p in [
        f"You are the phone assistant of {session.flow.display_name}, taking over a call from the automated menu.",
        spec.instructions,
        f"Why you have this call: {', '.join(decision_reasons) or 'the caller needs more help'}.",
        f"Caller identity verified: {'yes' if verified else 'no'}.",
        "Known details: " + (", ".join(f"{k}={v}" for k, v in masked_slots(session).items()) or "none"),
        "Tools:\n" + (describe_tools(spec.tools, session) or "- none"),
        RULES,
    ] if p)
    messages = [{"role": "system", "content": system}]
    for turn in session.recorder.turns:  # already masked when recorded
        role = "user" if turn["speaker"] == "caller" else "assistant"
        text = turn["text"]
        if messages[-1]["role"] == role and role != "system":
            messages[-1]["content"] += " " + text
        else:
            messages.append({"role": role, "content": text})
    for m in extra:
        if messages[-1]["role"] == m["role"]:
            messages[-1]["content"] += "\n" + m["content"]
        else:
            messages.append(dict(m))
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "(the caller is waiting)"})
    return [{"role": m["role"], "content": mask_text(m["content"], secrets)} for m in messages]
