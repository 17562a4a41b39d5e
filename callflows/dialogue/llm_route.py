"""The dialogue's side of the escalation route (callflows/escalation): the session as the
`CallHost` the controller and the LLM agent work through - what the caller wants, values parsed
and validated as a form would, the vertical's actions run as the LLM's tools - and the LLM's
turn itself, streamed sentence by sentence, recorded when the stream ends.

Mixed into DialogueSession.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from callflows.dialogue.action_bridge import ActionBridge
from callflows.dialogue.recorder import CallRecorder
from callflows.dialogue.replies import BotReply
from callflows.dialogue.state import DialogueState
from callflows.escalation.host import ToolRun
from callflows.flow.spec import FlowSpec
from callflows.logs import CallLogger
from callflows.nlu.pipeline import FAQ_INTENT, OUT_OF_SCOPE, NluResult, slot_options
from callflows.nlu.values import extract
from callflows.speech.expectation import Expectation
from callflows.verticals import Vertical

# intents that say nothing about what the caller wants (not a goal for escalation rules)
_NOT_GOALS = {"affirm", "deny", "goodbye", "greet", "help", "repeat", "start_over", "thanks", "dtmf", "form",
              FAQ_INTENT, OUT_OF_SCOPE}


def st_outcome(state: DialogueState) -> str | None:
    return state.outcomes[-1] if state.outcomes else None


class LlmRouteHost:
    """The LLM route's host in a DialogueSession (see the module docstring)."""

    flow: FlowSpec
    vertical: Vertical
    state: DialogueState
    recorder: CallRecorder
    log: CallLogger
    actions: ActionBridge
    escalation: Any  # an EscalationController, or None

    def _escalation(self, escalation: Any, llm: Any) -> Any:
        if escalation is None:
            return None
        from callflows.escalation import for_vertical
        from callflows.escalation.controller import EscalationController
        from callflows.flow.errors import FlowErrors

        spec = escalation
        if isinstance(escalation, str):
            try:
                spec = for_vertical(self.vertical)
            except FlowErrors as exc:
                self.log.error("escalation.yaml of %s not usable, no escalation: %s", self.flow.vertical, exc)
                return None
        return EscalationController(spec, self, llm) if spec is not None else None

    def goal_intents(self) -> list[str]:
        """What the caller asked for in this call (oldest first): the intents the caller said
        with confidence, and the forms active or waiting."""
        st = self.state
        out = list(st.intents_seen)
        for name in (st.active_form, st.pending_form):
            form = self.flow.forms.get(name or "")
            if form is not None and form.intent and form.intent not in out:
                out.append(form.intent)
        return out

    def _note_intent(self, nlu: NluResult) -> None:
        if nlu.confidence >= self.flow.settings.confidence_threshold and nlu.intent not in _NOT_GOALS:
            seen = self.state.intents_seen
            if nlu.intent in seen:
                seen.remove(nlu.intent)
            seen.append(nlu.intent)

    def _asks_person(self, nlu: NluResult) -> bool:
        return (nlu.intent == "human" and nlu.confidence >= self.flow.settings.confidence_threshold
                and not self._answers_step(nlu, None))

    def secrets(self) -> list[str]:
        return self._secrets()

    def say_response(self, name: str, **extra: Any) -> str:
        return self._say(name, **extra)

    def parse_slot_value(self, slot: str, text: str) -> Any:
        """`text` parsed by `slot`'s value parser exactly as a form parses an answer
        (callflows.nlu.values.extract with the slot's options); None if it is no such value."""
        spec = self.flow.slots[slot]
        if spec.type == "any":
            return None
        ctx = self._ctx()
        if spec.type in ("date", "datetime"):
            ctx = replace(ctx, prefer=spec.prefer)
        values = [v for v in extract(spec.type, text, ctx, **slot_options(spec)) if v.value is not None]
        if not values:
            return None
        value = values[0].value
        if spec.type == "digits" and spec.length and len(str(value)) != spec.length:
            return None
        return value

    def validate_form_values(self, form_name: str, values: dict[str, Any], text: str
                             ) -> tuple[dict[str, Any], list[str], list[str]]:
        """Run `form_name`'s FormValidationAction on `values` as if the caller had said them:
        (accepted values incl. slots the validator set, slots it rejected, what it said - masked)."""
        form = self.flow.forms[form_name]
        if not values or not self.actions.has_validator(form):
            return dict(values), [], []
        tracker = self.actions.tracker(text, 1.0, form, "llm_tool", candidates=values)
        validated, result = self.actions.validated(form, tracker, values)
        rejected = [slot for slot in values if validated.get(slot) is None]
        said = []
        for message in result.responses:
            name_ = message.get("response") or message.get("template")
            said.append(self._say(name_) if name_ else str(message.get("text") or ""))
        from callflows.privacy import mask_text

        return ({k: v for k, v in validated.items() if v is not None or k not in values}, rejected,
                [mask_text(t, self._secrets()) for t in said if t])

    def run_tool_action(self, action: str, form_name: str | None, values: dict[str, Any]) -> ToolRun:
        """Run one of the vertical's actions for the LLM with validated `values` (the checks
        are the caller's job: callflows.escalation.tools). A form counts as completed as it
        does in the policy (its success slot set)."""
        from callflows.privacy import mask_text

        st = self.state
        form = self.flow.forms.get(form_name or "")
        if form is not None and not self.requirement_met(form):  # the second lock on the door
            raise PermissionError(f"{form.name} requires {form.requires}")
        for slot, value in values.items():
            if slot in st.slots:
                self._set_slot(slot, value)
        result = self.actions.run_and_apply(action, self.actions.tracker("/llm_tool", 1.0, form))
        transferred_before = bool(st.transferred_to)
        spoken = [m for m in self.actions.messages(result.responses) if m]
        if form is not None and (form.success_slot is None or st.slots.get(form.success_slot)):
            st.completed_forms.add(form.name)
        return ToolRun(spoken, mask_text(" ".join(spoken), self._secrets()),
                       transferred=bool(st.transferred_to) and not transferred_before,
                       ended=st.ended and not st.transferred_to)

    def lookup_action(self, action: str) -> dict[str, Any]:
        """Facts from one of the vertical's actions: the slots it would set (nothing is set)."""
        return self.actions.lookup(action)

    def _agent_reply(self, parts: list[str], text: str, nlu: NluResult, decision: Any) -> BotReply:
        """The LLM answers this turn: a reply whose sentences stream (BotReply.sentences)."""
        prefix = " ".join(p.strip() for p in parts if p and p.strip())
        st = self.state
        st.active_form = st.requested = None
        st.pending = None
        shown = decision if decision is not None and decision.escalates else None
        reply = BotReply(text=prefix, expectation=Expectation(), nlu=nlu.to_json(),
                         decision=shown.to_json() if shown is not None else None)
        reply.sentences = self._agent_sentences(reply, prefix, text, shown)
        return reply

    def _agent_sentences(self, reply: BotReply, prefix: str, text: str, decision: Any) -> Iterator[str]:
        from callflows.escalation.streaming import split_sentences

        esc = self.escalation
        turn_seq = self.recorder.seq
        agent = esc.agent
        holding = esc.spec.holding_line
        self._stream_open = True
        try:
            for sentence in split_sentences(prefix):
                yield sentence
            for sentence in agent.respond(text, said=prefix):
                reply.text = f"{reply.text} {sentence}".strip()
                yield sentence
        except Exception:  # noqa: BLE001 - never raises: a person takes the call
            self.log.exception("LLM reply failed")
            agent.result.transfer, agent.result.failure = True, "agent_error"
            reply.text = f"{reply.text} {holding}".strip()
            yield holding
        finally:
            self._stream_open = False
            self._finish_agent_turn(reply, turn_seq, decision)

    def _finish_agent_turn(self, reply: BotReply, turn_seq: int, decision: Any) -> None:
        esc = self.escalation
        st = self.state
        r = esc.agent.result
        try:
            reason = r.transfer_reason or None
            if r.transfer and not st.transferred_to:
                self._transfer(outcome=f"llm_{r.failure}" if r.failure else "llm_transferred", reason=reason)
            elif st.transferred_to:
                self._store_handoff(reason)
            extra = [f"LLM {r.failure}"] if r.failure else []
            extra += [f"tool rejected: {t.split(':')[0]}" for t in r.tools_rejected]
            esc.record(turn_seq, decision, llm_seconds=round(r.seconds, 3) if r.llm_calls else None,
                       llm_tokens=r.tokens if r.llm_calls else None,
                       route="person" if st.transferred_to else "llm", extra_reasons=extra)
            st.last_bot_text = reply.text
            self.recorder.bot_turn(reply.text, self._secrets())
            reply.transfer_to = st.transferred_to
            reply.end_call = st.ended and not st.transferred_to
            reply.outcome = st.outcomes[-1] if st.outcomes else None
            if reply.end_call or reply.transfer_to:
                self.end(self.final_outcome("goodbye"))
        except Exception:  # noqa: BLE001
            self.log.exception("finishing the LLM turn failed")

    def _store_handoff(self, reason: str | None = None) -> None:
        """The handoff summary for whoever takes the call (any route), masked."""
        from callflows.escalation.summary import handoff_summary

        esc = self.escalation
        reasons = list(esc.decision.reasons) if esc is not None else []
        if reason and reason not in reasons:
            reasons.append(reason)
        if not reasons and st_outcome(self.state):
            reasons.append(st_outcome(self.state))
        try:
            summary = handoff_summary(self, esc.route if esc is not None else "stay", reasons,
                                      esc.usage() if esc is not None else None)
            self.recorder.summary({"handoff": summary})
        except Exception:  # noqa: BLE001 - a summary must never break a transfer
            self.log.exception("handoff summary failed")
