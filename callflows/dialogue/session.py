"""One DialogueSession per call: caller text in, bot reply out.

The policy asks for one missing slot at a time, accepts over-informative answers and
corrections, confirms by yes/no, answers a question in the middle of a form and goes
back to it, and offers a person after a bounded number of misses. Custom logic runs in
the vertical's rasa-sdk actions; every turn is recorded in the store with personal data
masked.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callflows.actions.runner import ActionError
from callflows.dialogue.action_bridge import ActionBridge, reopens
from callflows.dialogue.change_words import change_target
from callflows.dialogue.filling import candidates_for_form, fits, national_digits, pii_spans, yes_no_of
from callflows.dialogue.hold import Hold
from callflows.dialogue.key_menu import change_menu, menu_for
from callflows.dialogue.readback import ReadBack
from callflows.dialogue.recorder import CallRecorder
from callflows.dialogue.replies import DEFAULT_RESPONSES, BotReply
from callflows.dialogue.state import ANYTHING_ELSE, CHANGE_WHICH, CONFIRM, OFFER_HUMAN, READBACK, DialogueState
from callflows.flow.spec import FormSpec, FormStep
from callflows.flow.templates import render
from callflows.logs import call_logger
from callflows.nlu.pipeline import CLEAR_FAQ_SCORE, FAQ_INTENT, OUT_OF_SCOPE, NluResult, slot_options
from callflows.nlu.builtin_intents import has_required_words
from callflows.nlu.keywords import keywords_said
from callflows.nlu.hesitation import GOODBYE_CONFIDENCE, explicit_goodbye, hesitation
from callflows.nlu.smalltalk import META_TURNS, small_talk
from callflows.nlu.question_shape import asks_a_question, carries_digits
from callflows.nlu.values import ParseContext, Value, extract, parse_yes_no
from callflows.nlu.values.complete import completes_answer
from callflows.nlu.values.counts import homophone_counts
from callflows.nlu.values.date_parts import date_parts
from callflows.nlu.values.dates import plausible_birth_date
from callflows.nlu.values.phone import normalise_phone
from callflows.nlu.values.yesno import last_question
from callflows.speech.expectation import Expectation
from callflows.verticals import Vertical

_DIGITS = re.compile(r"\d+")
MAX_HESITATIONS = 2  # hesitations in a row answered gently; then the turn is handled as any other
MAX_SUMMARIES = 3  # a form's summary read this often (each after a correction) before a person is offered
MAX_DECLINED_OFFERS = 2  # a person declined this often: the next time the call is stuck, it goes to one
# intents that say nothing about what the caller wants (not a goal for escalation rules)
_NOT_GOALS = {"affirm", "deny", "goodbye", "greet", "help", "repeat", "start_over", "thanks", "dtmf", "form",
              FAQ_INTENT, OUT_OF_SCOPE}


@dataclass
class ToolRun:
    """What running one of the vertical's actions for the LLM did."""

    spoken: list[str] = field(default_factory=list)
    masked_text: str = ""
    transferred: bool = False
    ended: bool = False


# to "would you like me to connect you with a person?": carrying on with the bot is a no
KEEP_GOING = re.compile(r"\b(keep going|carry on|go on|let's continue|continue with you|try again|"
                        r"keep trying|stay with you|with you is fine)\b")


def _same(current: Any, said: Any) -> bool:
    return current is not None and str(current).strip().lower() == str(said).strip().lower()


class DialogueSession(ReadBack, Hold):
    def __init__(
        self,
        vertical: Vertical,
        store: Any = None,
        call_id: str | None = None,
        now: datetime | None = None,
        channel: str = "text",
        rng: random.Random | None = None,
        caller_number: str | None = None,
        to_number: str | None = None,
        twilio_call_sid: str | None = None,
        escalation: Any = "auto",
        llm: Any = None,
    ):
        """`escalation`: "auto" (the vertical's escalation.yaml, unless CALLFLOWS_ESCALATION=off),
        an EscalationSpec, or None (never escalate). `llm`: the LLM for the escalation route
        (default: get_llm(spec.llm.role), loaded the first time a call needs it)."""
        self.vertical = vertical
        self.flow = vertical.flow
        self.channel = channel  # "phone": what the caller says arrived through speech recognition
        self.call_id = call_id or uuid.uuid4().hex
        self.tz = ZoneInfo(self.flow.timezone)
        self._fixed_now = now.astimezone(self.tz) if now and now.tzinfo else (now.replace(tzinfo=self.tz) if now else None)
        self.state = DialogueState(slots={name: None for name in self.flow.slots})
        self.rng = rng or random.Random(0)
        self.log = call_logger(__name__, self.call_id)
        self._store = store
        self.recorder = CallRecorder(
            store, self.call_id, self.flow, channel=channel, caller_number=caller_number,
            to_number=to_number, twilio_call_sid=twilio_call_sid, flow_version=vertical.version,
        )
        self.actions = ActionBridge(vertical, self.state, self.recorder, self.call_id, lambda: self.now, store,
                                    say=self._say, transfer=lambda: self._transfer(outcome=None))
        self.escalation = self._escalation(escalation, llm)
        self._takeover: Any = None  # a decision for the LLM made inside the policy (before a form's action)
        self._checkpoint_decision: Any = None
        self._stream_open = False

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

    @property
    def store(self) -> Any:
        return self._store

    # ------------------------------------------------------------------ public API
    @property
    def now(self) -> datetime:
        return self._fixed_now or datetime.now(self.tz)

    @property
    def expectation(self) -> Expectation:
        st = self.state
        if st.pending == READBACK and st.readback in self.flow.slots:  # a date of birth read back is personal
            return Expectation(yes_no=True, pii=self.flow.slots[st.readback].pii)
        if st.pending == CONFIRM:
            return Expectation(yes_no=True, summary=True)
        if st.pending in (OFFER_HUMAN, ANYTHING_ELSE, READBACK):
            return Expectation(yes_no=True)
        if st.pending == CHANGE_WHICH and CHANGE_WHICH in st.key_menus:
            return Expectation(digits_length=1)
        if st.active_form and st.requested:
            spec = self.flow.slots[st.requested]
            if spec.type == "yes_no":
                return Expectation(slot=spec.name, yes_no=True)
            return Expectation(
                slot=spec.name,
                slot_type=spec.type,
                digits_length=1 if spec.name in st.key_menus else self._keypad_length(spec.name),
                choices=tuple(spec.choices),
                pii=spec.pii,
                spelling=spec.type == "person_name" and st.spell_base.get(spec.name) is not None,
            )
        return Expectation()

    def _keypad_length(self, slot: str) -> int | None:
        """How many keys end a keypad entry for the slot asked: its length, or, when its step
        takes one of several slots ("your reservation number, or the phone number on it"), the
        longest of theirs, so ten keys of a phone number are not cut after the six of a reference."""
        form = self.flow.forms.get(self.state.active_form or "")
        step = next((s for s in form.steps if slot in s.slots), None) if form else None
        lengths = [self.flow.slots[s].length for s in (step.slots if step else (slot,))]
        known = [n for n in lengths if n]
        return max(known) if known else None

    def is_complete_answer(self, text: str) -> bool:
        """Whether `text` already answers what the bot asked (a whole date of birth, all
        the digits, a yes or no): the phone layer then ends the turn at a short pause instead
        of waiting out the long one meant for callers who pause mid-answer."""
        if not text.strip():
            return False
        st = self.state
        if st.pending in (CONFIRM, OFFER_HUMAN, ANYTHING_ELSE, READBACK):
            return self.vertical.nlu.parse(text, self._ctx(), slots=[]).yes_no is not None
        if not (st.active_form and st.requested):
            return False
        spec = self.flow.slots[st.requested]
        if spec.type == "person_name" and st.spell_base.get(spec.name) is not None:  # "could you spell it?"
            return bool(extract("spelled_name", text, self._ctx()))
        nlu = self._asked_number(self.vertical.nlu.parse(text, self._ctx(), slots=[spec.name]))
        values = nlu.values.get(spec.name, [])
        value = next((v for v in values if v.value is not None), None)
        return completes_answer(spec.type, value, spec.length)

    def requirement_met(self, form: FormSpec | str) -> bool:
        """Whether `form` may run now: the form it `requires` (identity verification, say)
        has completed successfully in this call. Every way into a form goes through this,
        and so should anything else that acts for a verified caller (LLM tool calls)."""
        spec = self.flow.forms.get(form) if isinstance(form, str) else form
        if spec is None:
            raise KeyError(f"no form '{form}' in the {self.flow.vertical} flow")
        return spec.requires is None or spec.requires in self.state.completed_forms

    def is_verified(self, form: str | None = None) -> bool:
        """Whether the caller passed verification in this call: the form `form`, or (without
        it) every form that other forms require. False when the flow has none."""
        if form is not None:
            return form in self.state.completed_forms
        required = self.flow.required_forms
        return bool(required) and required <= self.state.completed_forms

    def start(self) -> BotReply:
        reply = self._reply(self._say("greet"))
        self.recorder.bot_turn(reply.text, self._secrets())
        return reply

    def handle_text(self, text: str, source: str = "text", timings: dict[str, float] | None = None) -> BotReply:
        """One caller turn. `source` is "text", "speech" or "dtmf"."""
        if self.state.ended:
            return BotReply("", end_call=True, outcome=self.final_outcome("ended"))
        t0 = time.perf_counter()
        self.state.silences = 0
        self.state.holding = False  # any turn ends a hold ("hold on" starts a new one)
        if source == "dtmf":
            nlu = self._dtmf_nlu(text)
        else:
            nlu = self._asked_number(self.vertical.nlu.parse(text, self._ctx()))
        nlu_ms = (time.perf_counter() - t0) * 1000
        asked = self.expectation
        asked_step = self._asked_slots()
        self._note_intent(nlu)
        esc = self.escalation
        decision = None
        self._takeover = self._checkpoint_decision = None
        parts: list[str] = []
        if esc is not None:
            decision = esc.before_turn(nlu, source, self._asks_person(nlu))
        if esc is not None and decision is not None and decision.route == "person":
            parts = [self._say("transfer")]
            by_request = esc.signals.signals.asked_for_person
            self._transfer(outcome="caller_asked_for_person" if by_request else "escalated_to_person")
        elif esc is not None and esc.route == "llm":
            self._takeover = decision if decision is not None and decision.escalates else esc.decision
        else:
            try:
                parts = self._respond(nlu)
            except ActionError as exc:
                self.log.warning("degrading to a person: %s", exc)
                parts = [self._say("error_fallback")]
                self._transfer(outcome="action_failed")
            if self._checkpoint_decision is not None:
                decision = self._checkpoint_decision
        # mask what the caller said for a personal slot that was asked for or filled
        secrets = self._secrets() + pii_spans(self.flow, nlu, asked_step | self._filled_pii())
        if asked.pii and asked.yes_no and not _bare_yes_no(nlu):  # "no, march the fifth" to a read-back
            secrets.append(text)
        self.recorder.caller_turn(text, nlu, secrets, timings={**(timings or {}), "nlu_ms": nlu_ms},
                                  masked_whole=asked.pii)
        if self._takeover is not None and not self.state.ended:
            return self._agent_reply(parts, text, nlu, decision)
        if esc is not None:
            esc.record(self.recorder.seq, decision)
        reply = self._reply(*parts)
        reply.nlu = nlu.to_json()
        if decision is not None and decision.escalates:
            reply.decision = decision.to_json()
        self.recorder.bot_turn(reply.text, self._secrets())
        if reply.end_call or reply.transfer_to:
            self.end(self.final_outcome("goodbye"))
        return reply

    def handle_silence(self) -> BotReply:
        st = self.state
        st.silences += 1
        if st.silences > self.flow.settings.max_silence_prompts:
            st.ended = True
            reply = self._reply(self._say("silence_goodbye"))
            reply.end_call = True
            self.recorder.bot_turn(reply.text, self._secrets())
            self.end(self.final_outcome("no_input"))
            return reply
        reply = self._reply(self._say("still_there"), st.last_prompt)
        self.recorder.bot_turn(reply.text, self._secrets())
        return reply

    def end(self, outcome: str | None = None) -> None:
        """Finish the call record; safe to call more than once (hang-up after goodbye)."""
        self.state.ended = True
        if self.escalation is not None and self.escalation.budget.call.llm_turns:
            self.recorder.summary({"llm_usage": self.escalation.usage()})
        self.recorder.finish(
            outcome or self.final_outcome("hangup"),
            transferred_to=self.state.transferred_to,
            slots=self.state.slots,
            escalated=self.escalation is not None and self.escalation.budget.call.llm_turns > 0,
        )

    # ------------------------------------------------------------------ escalation (LLM route)
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
        esc = self.escalation
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

    # ------------------------------------------------------------------ policy
    def _respond(self, nlu: NluResult) -> list[str]:
        st = self.state
        settings = self.flow.settings
        confident = nlu.confidence >= settings.confidence_threshold
        intent = nlu.intent if confident else None
        ispec = self.flow.intents.get(intent) if intent else None

        # 1. intents that always win: emergencies and the like go to a person (unless the
        #    caller is answering the question asked and only the classifier thought so)
        if ispec is not None and (ispec.transfer or ispec.end_call) and not self._answers_step(nlu, ispec):
            parts = [self._say(ispec.response)] if ispec.response else []
            if ispec.transfer:
                parts.append(self._say("transfer"))
                self._transfer(outcome=f"{ispec.name}_transferred")
            else:
                st.ended = True
            return parts

        # 2. greetings, small talk and meta-turns ("hi", "thank you", "sorry, what?": never a yes or
        #    no, so the offer of a person stays open); then a yes or no to the offer of a person,
        #    before anything it may sound like ("no thanks, let's keep going" is no goodbye)
        chat = small_talk(nlu.text)
        said_again = chat is not None and chat == st.last_small_talk
        st.last_small_talk = chat
        # the same word again, mid-question ("Good day." for "the day", ten times over): an answer
        # lost on the line, handled as one not understood (a re-prompt, then the keypad or a person)
        answer = None if chat is None or (said_again and (st.active_form or st.pending)) else \
            self._small_talk(chat, nlu, intent)
        if answer is not None:
            return answer
        if st.pending == OFFER_HUMAN:
            answered = self._on_offer_human(nlu, intent)
            if answered is not None:
                return answered
        held = self._hold(nlu, intent) if not self._answers_step(nlu, None) else None
        if held is not None:  # "hold on, let me find my card": the question stays pending
            return held

        # 3. global handlers
        has_values = bool(nlu.values)
        if intent == "human" and not self._answers_step(nlu, None):  # "anyone" answers "which dentist?"
            self._transfer(outcome="caller_asked_for_person")
            return [self._say("transfer")]
        hesitating = self._hesitating(nlu)
        if hesitating is not None:
            return hesitating
        if intent == "goodbye" and not has_values and st.pending != CONFIRM and self._says_goodbye(nlu):
            if self._doubt_goodbye(nlu):
                st.goodbye_doubted = True
                return [self._say("not_caught"), st.last_prompt or self._reask(self.flow.forms[st.active_form])]  # type: ignore[index]
            st.ended = True
            return [self._say("goodbye")]
        if intent == "help" and not has_values:
            return [self._say("help"), st.last_prompt] if st.last_prompt else [self._say("help")]
        if intent == "repeat" and not has_values:
            return [st.last_bot_text or self._say("greet")]
        if intent == "start_over" and has_required_words(intent, nlu.text) and not self._answers_step(nlu, None):  # the slot asked wins
            self._reset()
            return [self._say("start_over")]

        # 4. an answer to a yes/no question the bot just asked
        if st.pending == READBACK and st.active_form:
            return self._on_readback(nlu)
        if st.pending == CONFIRM and st.active_form:
            return self._on_confirm(nlu)
        if st.pending == CHANGE_WHICH and st.active_form:
            return self._on_change_which(nlu)
        if st.pending == ANYTHING_ELSE:
            yes = self._yes_no(nlu)
            # "yes, and what about parking": the yes comes with a question for the knowledge file
            asks = self._is_faq(nlu, None)
            nothing_more = not has_values and not asks and (intent in (None, "affirm", "deny", "goodbye"))
            if yes is False and nothing_more:
                st.ended = True
                return [self._say("goodbye")]
            st.pending = None
            if yes and nothing_more:
                return [self._ask_free(self._say("how_can_help"))]
            if asks and intent in (None, "affirm", "deny"):
                return [self._faq_answer(nlu), self._ask_free(self._say("anything_else"), ANYTHING_ELSE)]

        # 5. inside a form
        if st.active_form:
            return self._in_form(nlu, intent)

        # 6. no form yet: start one, answer a question, or say we did not understand
        form = self.flow.form_for_intent(intent) if intent else None
        if form is not None:
            return self._start_form(form, nlu)
        # the intent's own answer, unless the knowledge file matches the question outright
        if ispec is not None and ispec.response and not self._is_faq(nlu, intent, strict=True):
            self.state.outcomes.append("intent_answered")
            return [self._say(ispec.response), self._ask_free(self._say("anything_else"), ANYTHING_ELSE)]
        if self._is_faq(nlu, intent) and not self._misheard_statement(nlu, intent):
            return [self._faq_answer(nlu), self._ask_free(self._say("anything_else"), ANYTHING_ELSE)]
        if intent in ("affirm", "deny"):
            return [self._ask_free(self._say("how_can_help"))]
        if intent == OUT_OF_SCOPE or (intent is None and nlu.faq is not None):
            # a request no flow covers (the student says so) or a question with no good FAQ match
            if self.channel == "phone" and st.misses == 0:
                # over the line such a request is most often one misheard ("hi, what's the balance
                # on my account" heard "No, thank."): say what the bot does before offering a person
                st.misses += 1
                return [self._say("not_caught"), self._ask_free(self._say("menu"))]
            return [self._miss(self._say("faq_unknown"), offer=True)]
        return [self._miss(self._say("not_understood"))]

    def _in_form(self, nlu: NluResult, intent: str | None) -> list[str]:
        st = self.state
        form = self.flow.forms[st.active_form]  # type: ignore[index]
        step = self._step(form, st.requested)
        updates = self._name_answer(step, nlu) or candidates_for_form(self.flow, form, nlu, step.slots if step else ())
        if updates:
            return self._apply_and_continue(form, nlu, updates)
        short = self._short_phone(step, nlu)
        if short:
            return [short]
        if self.actions.has_validator(form):  # the vertical's extract_<slot> may understand it
            before = dict(self.state.slots)
            messages = self.actions.validate(form, nlu, {})
            if self.state.slots != before:
                self.state.misses = 0
                return messages + [self._next(form)]
        other = self.flow.form_for_intent(intent) if intent else None
        if other is not None and other.name != form.name:
            return self._start_form(other, nlu)
        if other is not None:  # "i need to move my appointment" again: carry on with it
            return [self._say("carry_on"), self._reask(form)]
        if self._is_faq(nlu, intent, strict=True) and asks_a_question(nlu.text) and not carries_digits(nlu.text):
            return [self._faq_answer(nlu), self._say("resume"), self._reask(form)]
        return [self._miss_in_form(form, nlu)]

    def _start_form(self, form: FormSpec, nlu: NluResult, known: dict[str, Any] | None = None) -> list[str]:
        """Start `form` with what the caller said and the values `known` already in the call."""
        if not self.requirement_met(form):
            return self._require_first(form, nlu)
        st = self.state
        if st.pending_form and form.name != self.flow.forms[st.pending_form].requires:
            st.pending_form, st.pending_values = None, {}  # the caller moved on to something else
        return self._open_form(form, nlu, {**(known or {}), **candidates_for_form(self.flow, form, nlu, ())})

    def _open_form(self, form: FormSpec, nlu: NluResult, updates: dict[str, Any]) -> list[str]:
        """Make `form` the active form (its requirement met) and fill what the caller gave."""
        if not self.requirement_met(form):
            return self._require_first(form, nlu)
        st = self.state
        st.active_form, st.pending, st.requested, st.misses = form.name, None, None, 0
        for slot in form.required_slots:
            st.slots[slot] = None
        self._forget_readback(form.required_slots)
        st.history.append({"event": "active_loop", "name": form.name})
        if updates or self.actions.has_validator(form):  # the validator's extract_<slot> may read more
            return self._apply_and_continue(form, nlu, updates)
        return [self._next(form)]

    def _require_first(self, form: FormSpec, nlu: NluResult) -> list[str]:
        """Run the form `form` requires first; `form` waits, with the values already given."""
        st = self.state
        required = self.flow.forms[form.requires]  # type: ignore[index]
        st.pending_form = form.name
        st.pending_values = candidates_for_form(self.flow, form, nlu, ())
        self.log.info("form %s waits for %s", form.name, required.name)
        if st.active_form == required.name:  # already under way: carry on with it
            return [self._reask(required)]
        return self._open_form(required, nlu, candidates_for_form(self.flow, required, nlu, ()))

    def _start_pending(self) -> list[str] | None:
        """After a required form: start the form that waited for it, if it may run now."""
        st = self.state
        name, values = st.pending_form, st.pending_values
        st.pending_form, st.pending_values = None, {}
        form = self.flow.forms.get(name or "")
        if form is None or not self.requirement_met(form):
            return None
        nlu = NluResult(text="", intent=form.intent or "form", confidence=1.0, ranking=())
        return self._open_form(form, nlu, dict(values))

    def _apply_and_continue(self, form: FormSpec, nlu: NluResult, updates: dict[str, Any]) -> list[str]:
        before = dict(self.state.slots)
        messages = self.actions.validate(form, nlu, updates)
        self._note_filled(form, nlu, updates, before)
        self.state.misses = 0
        return messages + [self._next(form)]

    def _on_confirm(self, nlu: NluResult) -> list[str]:
        st = self.state
        form = self.flow.forms[st.active_form]  # type: ignore[index]
        yes = self._answer_yes_no(nlu)
        updates = candidates_for_form(self.flow, form, nlu, ()) or self._named_value(form, nlu)
        if yes is not True and self._corrects_a_kept_name(form, nlu, updates):
            if not st.name_check_explained:
                st.name_check_explained = True
                return [self._prompt(self._say("name_check_at_summary"))]
            st.misses += 1  # the name once more: noted for the team, the rest asked about again
            if st.misses > self.flow.settings.max_reprompts:
                return [self._offer_person(self._say("offer_human"))]
            for slot, value in updates.items():  # a full name heard anew is kept, still flagged
                if isinstance(value, str) and len(value.split()) >= 2:
                    st.slots[slot] = value
            return [self._prompt(self._say("name_noted_at_summary"))]
        if updates and yes is not False and all(_same(st.slots.get(k), v) for k, v in updates.items()):
            # the values already in the summary said again ("my name is Leila Huang" to a summary
            # under that name): nothing to correct, so the question again, not another read-back
            return [self._reask(form)]
        if updates:  # "no, wednesday": a correction, then confirm again
            before = dict(st.slots)
            st.pending = None
            said = self._apply_and_continue(form, nlu, updates)
            if (yes is False and st.slots == before and st.pending == CONFIRM and form.confirm
                    and form.confirm.change_words):  # "no, four": nothing it could change; ask what
                st.pending = CHANGE_WHICH
                return [self._prompt(self._render(form.confirm.on_deny))]
            return said
        if yes:
            st.pending = None
            return self._complete(form)
        instead = self._form_instead(form, nlu)
        if instead is not None:  # "no, i'd rather move it": the other task, with what is known
            return instead
        if yes is False:
            if form.confirm and not form.confirm.change_words:  # "do you want me to cancel it?" "no"
                st.active_form, st.requested, st.pending = None, None, None
                return [self._render(form.confirm.on_deny), self._ask_free(self._say("anything_else"), ANYTHING_ELSE)]
            slot = self._change_target(form, nlu)
            if slot is not None:
                return [self._clear_and_ask(form, slot)]
            st.pending = CHANGE_WHICH
            return [self._prompt(self._render(form.confirm.on_deny if form.confirm else ""))]
        return [self._miss_in_form(form, nlu)]

    def _corrects_a_kept_name(self, form: FormSpec, nlu: NluResult, updates: dict[str, Any]) -> bool:
        """"No, my name is ..." to the summary of a phone call, when that name was already kept
        unverified after the read-back's corrections ran out: hearing it once more over the line
        will not get it right, and taking each new hearing reads the summary round and round. So
        the summary says that the team will check the spelling and asks about the rest (true
        then); said again, the name is noted for the team and the same question asked. Typed, or
        with other changes in the same answer, it is a correction as usual."""
        st = self.state
        if self.channel != "phone":
            return False
        for slot in form.required_slots:
            spec = self.flow.slots[slot]
            flag = spec.confirm.unverified_slot if spec.confirm else None
            if (spec.type == "person_name" and flag and st.slots.get(flag) and set(updates) <= {slot}
                    and (slot in updates or nlu.values.get(slot) or re.search(r"\bname\b", nlu.text.lower()))):
                return True
        return False

    def _form_instead(self, form: FormSpec, nlu: NluResult) -> list[str] | None:
        """At a form's confirmation, a confident request for another form ("no, move it to another
        day instead" to "shall I cancel it?") starts that form; the slots both forms share keep
        their values (the booking found, the phone number), so nothing is asked twice."""
        if nlu.confidence < self.flow.settings.confidence_threshold:
            return None
        other = self.flow.form_for_intent(nlu.intent)
        if other is None or other.name == form.name:
            return None
        st = self.state
        shared = {s: st.slots[s] for s in other.required_slots
                  if s in form.required_slots and st.slots.get(s) is not None}
        st.active_form = st.requested = st.pending = None
        self.log.info("form %s left at its confirmation for %s", form.name, other.name)
        return self._start_form(other, replace(nlu, values={}), shared)

    def _on_change_which(self, nlu: NluResult) -> list[str]:
        st = self.state
        form = self.flow.forms[st.active_form]  # type: ignore[index]
        updates = candidates_for_form(self.flow, form, nlu, ())
        if updates:
            st.pending = None
            return self._apply_and_continue(form, nlu, updates)
        menu = st.key_menus.get(CHANGE_WHICH)
        slot = menu.value_of(nlu.text) if menu and nlu.intent == "dtmf" else self._change_target(form, nlu)
        if slot is not None:
            st.pending = None
            return [self._clear_and_ask(form, slot)]
        if self._yes_no(nlu) is False:  # nothing to change after all
            st.pending = None
            return [self._next(form)]
        # not understood: the same question, not the whole summary again ("the day" heard "I'll be."
        # read the summary back, and the caller was asked to correct it from the start)
        st.misses += 1
        if st.misses > self.flow.settings.max_reprompts or not form.confirm:
            return [self._offer_person(self._say("offer_human"))]
        question = last_question(self._render(form.confirm.on_deny))
        menu = change_menu(form.confirm.change_words) if self.channel == "phone" else None
        if menu is not None:  # the part to change, on a key as well
            st.key_menus[CHANGE_WHICH] = menu
            question = f"{question} {menu.offer()}"
        return [self._say("not_caught"), self._prompt(question)]

    def _hesitating(self, nlu: NluResult) -> list[str] | None:
        """"Um, what was it", "hmm": no goodbye and no miss; the question waiting is asked again,
        gently (MAX_HESITATIONS times in a row: then the turn is handled as any other)."""
        if not hesitation(nlu.text) or self._answers_step(nlu, None):
            self._hesitations = 0
            return None
        self._hesitations = getattr(self, "_hesitations", 0) + 1  # in a row
        if self._hesitations > MAX_HESITATIONS:
            return None
        st = self.state
        if (st.pending or (st.active_form and st.requested)) and st.last_prompt:
            return [self._say("hesitation"), st.last_prompt]
        return [self._say("hesitation"), self._ask_free(self._say("how_can_help"))]

    def _doubt_goodbye(self, nlu: NluResult) -> bool:
        """A bare "bye" in the middle of a form on a phone call is asked about once instead of
        ending the call: Whisper makes "Bye bye." of short unclear audio (a caller's "the day",
        answering "what would you like to change?", hung the booking up). A caller who means
        it says it again, or hangs up."""
        st = self.state
        return (self.channel == "phone" and st.active_form is not None and not st.goodbye_doubted
                and len(nlu.text.split()) <= 3)

    @staticmethod
    def _says_goodbye(nlu: NluResult) -> bool:
        """A goodbye ends the call only with a goodbye word or a high confidence, never on a hesitation."""
        if hesitation(nlu.text):
            return False
        return explicit_goodbye(nlu.text) or nlu.confidence >= GOODBYE_CONFIDENCE

    def _named_value(self, form: FormSpec, nlu: NluResult) -> dict[str, Any]:
        """"No, arriving saturday": a value for the slot the correction names by its change
        word, when its type alone could not say which slot it is (two dates in the form)."""
        slot = self._change_target(form, nlu)
        found = [v.value for v in nlu.values.get(slot or "", []) if v.value is not None]
        return {slot: found[-1]} if slot and found else {}

    def _change_target(self, form: FormSpec, nlu: NluResult) -> str | None:
        if not form.confirm:
            return None
        return change_target(form.confirm.change_words, nlu.text)

    def _clear_and_ask(self, form: FormSpec, slot: str) -> str:
        self.state.slots[slot] = None
        self.state.pending = None
        return self._next(form)

    def _complete(self, form: FormSpec) -> list[str]:
        """Run the form's action; it may re-open the form (a taken slot) or end the call."""
        st = self.state
        if not self.requirement_met(form):  # never run a protected form's action unverified
            self.log.error("form %s reached its action without %s", form.name, form.requires)
            st.active_form, st.requested, st.pending = None, None, None
            return self._require_first(form, NluResult(text="", intent="form", confidence=1.0, ranking=()))
        messages: list[str] = []
        reopen = False
        esc = self.escalation
        if form.action and esc is not None and esc.route == "stay":
            decision = esc.before_action(form.intent)
            if decision.route == "llm":  # the LLM takes the task over before the action runs
                self._takeover = self._checkpoint_decision = decision
                st.active_form, st.requested, st.pending = None, None, None
                return []
            if decision.route == "person":
                self._checkpoint_decision = decision
                self._transfer(outcome="escalated_to_person")
                return [self._say("transfer")]
        if form.action:
            result = self.actions.run_and_apply(form.action, self.actions.tracker("/form_complete", 1.0, form))
            reopen = reopens(result, form.name)
            messages += self.actions.messages(result.responses)
        if st.transferred_to or st.ended:
            return messages
        if reopen and any(st.slots.get(s) is None for s in self._missing_or_empty(form)):
            st.active_form, st.pending = form.name, None
            return messages + [self._next(form)]
        st.active_form, st.requested, st.pending = None, None, None
        st.history.append({"event": "active_loop", "name": None})
        if form.success_slot is None or st.slots.get(form.success_slot):
            st.completed_forms.add(form.name)
        if st.pending_form:
            resumed = self._start_pending()
            if resumed is not None:
                return messages + resumed
        return messages + [self._ask_free(self._say("anything_else"), ANYTHING_ELSE)]

    def _missing_or_empty(self, form: FormSpec) -> list[str]:
        return [step.slot for step in form.steps if all(self.state.slots.get(s) is None for s in step.slots)]

    def _next(self, form: FormSpec) -> str:
        """Ask for the first unfilled step, or confirm when every step is filled."""
        st = self.state
        readback = self._readback_due(form)
        if readback is not None:
            return readback
        for step in form.steps:
            if all(st.slots.get(s) is None for s in step.slots):
                if st.requested != step.slot:
                    st.misses = 0
                st.requested = step.slot
                st.history.append({"event": "slot", "name": "requested_slot", "value": step.slot})
                offer = self._asked_too_often(step)
                return offer if offer is not None else self._prompt(self._step_prompt(step))
        st.requested = None
        if form.confirm:
            key = f"confirm:{form.name}"  # corrections at the summary, round and round: offer a person
            asks = st.step_asks[key] = st.step_asks.get(key, 0) + 1
            if asks % (MAX_SUMMARIES + 1) == 0:  # once; declined, the summary is read again
                return self._offer_person(self._say("offer_human"))
            st.pending = CONFIRM
            return self._prompt(self._render(form.confirm.prompt))
        return " ".join(self._complete(form))

    def _reask(self, form: FormSpec) -> str:
        if self.state.pending == CONFIRM and form.confirm:
            return self._prompt(self._render(form.confirm.prompt))
        step = self._step(form, self.state.requested)
        return self._prompt(self._step_prompt(step)) if step else self._next(form)

    def _miss_in_form(self, form: FormSpec, nlu: NluResult) -> str:
        st = self.state
        st.misses += 1
        if st.misses > self.flow.settings.max_reprompts:
            return self._offer_person(self._say("offer_human"))
        step = self._step(form, st.requested)
        if st.pending == CONFIRM or step is None:
            return self._reask(form)
        if st.prompt_override.get(step.slot):  # the last name, or a spelling, is being asked
            return self._say("not_understood") + " " + self._prompt(self._step_prompt(step))
        if step.reprompts:
            text = self._render(step.reprompts[min(st.misses, len(step.reprompts)) - 1])
        else:
            text = self._say("not_understood") + " " + self._render(step.prompt)
        return self._prompt(self._with_key_menu(step, text))

    def _with_key_menu(self, step: FormStep, text: str) -> str:
        """On the phone, a choice asked again also goes on the keypad (callflows.dialogue.key_menu),
        and so does a day to come: four keys, month and day."""
        if self.channel != "phone":
            return text
        spec = self.flow.slots[step.slot]
        if spec.type == "date" and spec.prefer == "future" and len(step.slots) == 1:
            return f"{text} {self._say('date_keys')}"
        menu = menu_for(spec)
        if menu is None:
            return text
        self.state.key_menus[step.slot] = menu
        return f"{text} {menu.offer()}"

    def _answers_step(self, nlu: NluResult, ispec: Any) -> bool:
        """Whether the utterance answers the step being asked (and no keyword of `ispec` was said)."""
        st = self.state
        form = self.flow.forms.get(st.active_form or "")
        step = self._step(form, st.requested) if form else None
        if form is None or step is None or st.pending is not None:
            return False
        if ispec is not None and keywords_said(ispec.keywords, nlu.text):
            return False
        updates = candidates_for_form(self.flow, form, nlu, step.slots)
        return any(slot in updates for slot in step.slots)

    def _on_offer_human(self, nlu: NluResult, intent: str | None) -> list[str] | None:
        """The answer to "shall I connect you with someone?": yes transfers; a plain no goes on
        with the form in progress (its question again) or asks what else the caller needs; None
        when the turn is something else (a no with a request: "no, i want to book") to handle as usual."""
        st = self.state
        yes = self._answer_yes_no(nlu)
        if yes is None and KEEP_GOING.search(nlu.text):  # "let's keep going", the "no" lost on the line
            yes = False
        if yes:
            self._transfer(outcome="offered_person_accepted")
            return [self._say("transfer")]
        st.pending, st.misses = None, 0
        form = self.flow.forms.get(st.active_form or "")
        asks_more = ((intent is not None and self.flow.form_for_intent(intent) is not None)
                     or self._is_faq(nlu, intent, strict=True) or self._answers_step(nlu, None))
        if yes is False and not asks_more:  # a plain no (one that asks something else is not counted)
            st.declined_offers += 1
            if form is not None:
                return [self._say("no_transfer"), self._reask(form)]
            return [self._say("no_transfer"), self._ask_free(self._say("menu"))]  # what it can do, not "what else?"
        return None

    def _small_talk(self, kind: str, nlu: NluResult, intent: str | None) -> list[str] | None:
        """A friendly word back, then the question pending (a form's, "anything else?") or the menu;
        no slot is filled and no miss counted. "Sorry, what?" gets the bot's last words again; "are
        you a robot?" who is speaking and that a person is there for the asking, without putting
        the caller through (one who wants a person says so). None: the turn is handled as usual.
        A greeting gives way to an answer to the slot asked ("hi, today"), the rest (META_TURNS) do
        not: a name step takes "Pardon" or "Cheers" for a name. A bare thanks to "anything else?" that
        the classifier is sure is a goodbye ends the call, as before (in a form it never does)."""
        st = self.state
        if kind not in META_TURNS and self._answers_step(nlu, None):
            return None
        form = self.flow.forms.get(st.active_form or "")
        if kind not in META_TURNS and st.pending == CHANGE_WHICH and form and self._change_target(form, nlu):
            return None  # "Good day." for "the day": it names what to change
        if kind == "repeat":
            return [st.last_bot_text or st.last_prompt or self._say("greet")]
        if kind == "thanks" and st.pending == ANYTHING_ELSE and intent == "goodbye" and self._says_goodbye(nlu):
            return None
        said = self._say(f"small_talk_{kind}")
        if st.pending == OFFER_HUMAN:  # still open: its question, not the form's
            return [said, self._say("offer_again")]
        if st.active_form or st.pending:
            return [said, st.last_prompt or self._say("menu")]
        return [said, self._ask_free(self._say("menu"))]

    def _answer_yes_no(self, nlu: NluResult) -> bool | None:
        """The caller's yes or no to the bot's last question, restating it allowed ("yes cancel it")."""
        if nlu.text and self.state.last_bot_text:
            yes = parse_yes_no(nlu.text, question=self.state.last_bot_text)
            if yes is not None:
                return yes
        return self._yes_no(nlu)

    def _asked_number(self, nlu: NluResult) -> NluResult:
        """When a number slot is asked and none was heard: its homophones count ("to", "for")."""
        form = self.flow.forms.get(self.state.active_form or "")
        step = self._step(form, self.state.requested) if form is not None and self.state.pending is None else None
        for slot in step.slots if step else ():
            heard = any(v.value is not None for v in nlu.values.get(slot, []))
            if self.flow.slots[slot].type == "number" and not heard:
                found = homophone_counts(nlu.text, self._ctx())
                if found:
                    return replace(nlu, values={**nlu.values, slot: found})
        return nlu

    def _miss(self, text: str, offer: bool = False) -> str:
        st = self.state
        st.misses += 1
        if offer or st.misses > self.flow.settings.max_reprompts:
            return self._offer_person(text if offer else self._say("offer_human"))
        return self._ask_free(text)

    def _offer_person(self, offer: str) -> str:
        """Offer a person (``offer`` asks "would you like me to connect you?"). A caller who has
        said no MAX_DECLINED_OFFERS times and is stuck again is put through instead: asking a
        third time, round and round, helps no one and only ends when the caller hangs up."""
        st = self.state
        if st.declined_offers >= MAX_DECLINED_OFFERS:
            self.log.info("stuck after %d declined offers of a person: transferring", st.declined_offers)
            self._transfer(outcome="stuck_transferred", reason="stuck after declining a person")
            return self._say("stuck_transfer")
        st.pending = OFFER_HUMAN
        return offer

    # ------------------------------------------------------------------ slots
    def _set_slot(self, name: str, value: Any) -> None:
        self.actions.set_slot(name, value)

    # ------------------------------------------------------------------ helpers
    def _ctx(self) -> ParseContext:
        return ParseContext(now=self.now, business_hours=self.flow.settings.business_hours)

    def _dtmf_nlu(self, keys: str) -> NluResult:
        """Keypad entry for the step being asked: digits, a phone number, a date as MMDDYYYY."""
        digits = "".join(_DIGITS.findall(keys))
        values: dict[str, list[Value]] = {}
        form = self.flow.forms.get(self.state.active_form or "")
        step = self._step(form, self.state.requested) if form else None
        if form is not None and self.state.pending == READBACK:  # keys after a read-back answer the next step
            step = self._step_after(form, self.state.readback)
        if self.state.pending == CHANGE_WHICH:  # a key names the part to change (key_menu.change_menu), no value
            step = None
        for slot in step.slots if step else ():
            spec = self.flow.slots[slot]
            menu = self.state.key_menus.get(slot)
            value = menu.value_of(digits) if menu else _dtmf_value(spec.type, spec.length, digits, self.now.date())
            if value is not None and spec.type == "date" and spec.prefer == "birth" and not plausible_birth_date(
                    date.fromisoformat(value), self.now.date()):
                value = None
            if value is not None and fits(spec, value):
                values[slot] = [Value(spec.type, value, 0, len(digits), digits, {"dtmf": True})]
                break
        return NluResult(text=digits, intent="dtmf", confidence=1.0, ranking=(), values=values)

    def _yes_no(self, nlu: NluResult) -> bool | None:
        return yes_no_of(nlu)

    def _short_phone(self, step: FormStep | None, nlu: NluResult) -> str | None:
        """What to say when the caller gave a phone number of the wrong length for the step."""
        for slot in step.slots if step else ():
            spec = self.flow.slots[slot]
            if spec.type != "phone_number" or not spec.length:
                continue
            text = nlu.text if nlu.intent == "dtmf" else ""
            heard = [national_digits(v.value) for v in nlu.values.get(slot, []) if v.value]
            count = len(heard[-1]) if heard else len(text)
            if 0 < count != spec.length:
                self.state.misses += 1
                return self._prompt(self._say("phone_length", count=count, length=spec.length))
        return None

    def _is_faq(self, nlu: NluResult, intent: str | None, strict: bool = False) -> bool:
        """A question for the knowledge file. Inside a form (`strict`) the classifier must
        agree, so a stray word shared with an FAQ question does not derail the form."""
        if nlu.faq is None:
            return False
        threshold = self.flow.settings.faq_threshold
        if intent == FAQ_INTENT:
            return nlu.faq.score >= threshold * 0.5
        if strict:
            return nlu.faq.score >= max(0.6, threshold * 1.5)
        return nlu.faq.score >= threshold and intent not in ("affirm", "deny")

    def _misheard_statement(self, nlu: NluResult, intent: str | None) -> bool:
        """On a phone call, words the classifier puts out of scope, shaped as no question and only
        loosely like an FAQ are most often a request the line garbled: a booking's opening heard
        "I'd like to welcome you ... when did I have a well-in-the-after ..." got the opening hours
        (FAQ score 0.63) and the call never got to its booking. They are handled as not understood."""
        assert nlu.faq is not None
        return (self.channel == "phone" and intent == OUT_OF_SCOPE and not asks_a_question(nlu.text)
                and nlu.faq.score < CLEAR_FAQ_SCORE)

    def _faq_answer(self, nlu: NluResult) -> str:
        assert nlu.faq is not None
        self.state.outcomes.append("faq_answered")
        return self._render(nlu.faq.entry.answer)

    def _step(self, form: FormSpec, slot: str | None) -> FormStep | None:
        return next((s for s in form.steps if slot in s.slots), None)

    def _transfer(self, outcome: str | None, reason: str | None = None) -> None:
        st = self.state
        st.transferred_to = self.flow.transfer_number or "operator"
        st.ended = True
        if outcome:
            st.outcomes.append(outcome)
        self._store_handoff(reason)

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

    def _reset(self) -> None:
        st = self.state
        st.slots = {name: None for name in self.flow.slots}
        st.active_form = st.requested = st.pending = None
        st.misses = 0
        st.completed_forms.clear()  # the slots that said who the caller is are gone too
        self._forget_readback(list(self.flow.slots))
        st.pending_form, st.pending_values = None, {}
        st.history.append({"event": "restart"})

    def final_outcome(self, default: str) -> str:
        st = self.state
        if st.outcomes:
            return st.outcomes[-1]
        return "transferred" if st.transferred_to else default

    def _asked_slots(self) -> set[str]:
        form = self.flow.forms.get(self.state.active_form or "")
        step = self._step(form, self.state.requested) if form else None
        return set(step.slots) if step else set()

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


def _dtmf_value(slot_type: str, length: int | None, digits: str, today: date | None = None) -> Any:
    """What keypad digits mean for a slot type; None if they cannot fill it. A date is eight
    digits (MMDDYYYY), or four (MMDD: the next such day from ``today`` on)."""
    if not digits:
        return None
    if slot_type == "digits":
        return digits if length is None or len(digits) == length else None
    if slot_type == "phone_number":
        return normalise_phone(digits)
    if slot_type == "number":
        return int(digits) if len(digits) <= 3 else None
    if slot_type == "date" and len(digits) == 8:
        try:
            return datetime(int(digits[4:]), int(digits[:2]), int(digits[2:4])).date().isoformat()
        except ValueError:
            return None
    if slot_type == "date" and len(digits) == 4 and today is not None:
        for year in (today.year, today.year + 1):
            try:
                day = date(year, int(digits[:2]), int(digits[2:]))
            except ValueError:
                continue  # no such day (0230), or 29 February in a year without it
            if day >= today:
                return day.isoformat()
    return None


def _bare_yes_no(nlu: NluResult) -> bool:
    """A yes or no that says nothing more: the answer to a personal read-back that may be kept
    readable in the record ("no, march the fifth" is masked whole)."""
    return yes_no_of(nlu) is not None and not nlu.values and date_parts(nlu.text).empty


def st_outcome(state: DialogueState) -> str | None:
    return state.outcomes[-1] if state.outcomes else None
