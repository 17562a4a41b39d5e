"""What the bot says: the flow's named responses rendered with the call's context, the question
left open for the caller, and the reply put together for the phone or the chat.

Mixed into DialogueSession; every part of the policy speaks through `_say` and `_render`, so a
flow's wording (responses:, variables:, enum labels) applies everywhere alike.
"""

from __future__ import annotations

import random
from typing import Any

from callflows.dialogue.replies import DEFAULT_RESPONSES, BotReply
from callflows.dialogue.state import DialogueState
from callflows.flow.spec import FlowSpec
from callflows.flow.templates import render
from callflows.logs import CallLogger
from callflows.speech.expectation import Expectation


class Wording:
    """The responses of a DialogueSession (see the module docstring)."""

    flow: FlowSpec
    state: DialogueState
    rng: random.Random
    log: CallLogger
    expectation: Expectation

    def _filled_pii(self) -> set[str]:
        return {n for n, spec in self.flow.slots.items() if spec.pii and self.state.slots.get(n) is not None}

    def _secrets(self) -> list[str]:
        """Values of personal-data slots, masked wherever they appear in a transcript."""
        out: list[str] = []
        for name, spec in self.flow.slots.items():
            value = self.state.slots.get(name)
            if spec.pii and value:
                out.append(str(value))
        return out

    def _context(self, **extra: Any) -> dict[str, Any]:
        ctx: dict[str, Any] = {"display_name": self.flow.display_name, "vertical": self.flow.vertical,
                               "transfer_number": self.flow.transfer_number or ""}
        ctx.update(self.flow.variables)
        ctx.update(self.state.slots)
        for name, spec in self.flow.slots.items():
            if spec.type == "enum":
                value = self.state.slots.get(name)
                labels = self.flow.variables.get(f"{name}_labels", {})
                ctx[f"{name}_label"] = labels.get(value, value) if isinstance(labels, dict) else value
        ctx.update(extra)
        return ctx

    def _render(self, template: str, **extra: Any) -> str:
        return render(template, self._context(**extra))

    def _say(self, name: str, **extra: Any) -> str:
        variants = self.flow.responses.get(name)
        if variants is None and name.startswith("utter_"):  # a Rasa action names responses utter_x
            name = name[len("utter_"):]
            variants = self.flow.responses.get(name)
        if variants is None and name not in DEFAULT_RESPONSES:
            self.log.error("response '%s' is not defined", name)
            return ""
        template = self.rng.choice(variants) if variants else DEFAULT_RESPONSES[name]
        return self._render(template, **extra)

    def _prompt(self, text: str) -> str:
        self.state.last_prompt = text
        return text

    def _ask_free(self, text: str, pending: str | None = None) -> str:
        """A question outside any form ("anything else?")."""
        self.state.pending = pending
        self.state.last_prompt = text
        return text

    def _reply(self, *parts: str) -> BotReply:
        text = " ".join(p.strip() for p in parts if p and p.strip())
        st = self.state
        st.last_bot_text = text
        return BotReply(
            text=text,
            end_call=st.ended and not st.transferred_to,
            transfer_to=st.transferred_to,
            expectation=self.expectation,
            outcome=st.outcomes[-1] if st.outcomes else None,
        )
