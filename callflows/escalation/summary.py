"""The handoff summary stored with a transferred call (recorder.summary): who (masked),
verified or not, what they want, the slots (masked), why the call was escalated, LLM use."""

from __future__ import annotations

from typing import Any

from callflows.escalation.host import CallHost
from callflows.escalation.prompt import masked_slots
from callflows.privacy import mask_text, mask_value


def handoff_summary(session: CallHost, route: str, reasons: list[str], usage: dict[str, Any] | None) -> dict[str, Any]:
    st = session.state
    name = next((st.slots.get(n) for n, s in session.flow.slots.items() if s.type == "person_name" and st.slots.get(n)),
                None)
    wants = [i for i in session.goal_intents() if i]
    return {
        "caller": mask_value("person_name", name) if name else None,
        "verified": session.is_verified() if session.flow.required_forms else None,
        "wants": wants[-1] if wants else None,
        "intents": wants,
        "slots": masked_slots(session),
        "route": route,
        # a reason may be the LLM's own words: masked like any transcript text
        "reasons": [mask_text(str(r), session.secrets()) for r in reasons],
        "outcome": st.outcomes[-1] if st.outcomes else None,
        "llm": usage,
    }
