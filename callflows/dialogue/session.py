"""One DialogueSession per call: caller text in, bot reply out.

The policy asks for one missing slot at a time, accepts over-informative answers and
corrections, confirms by yes/no, answers a question in the middle of a form and goes
back to it, and offers a person after a bounded number of misses. Custom logic runs in
the vertical's rasa-sdk actions; every turn is recorded in the store with personal data
masked.

This module is the orchestrator of a turn: understand it (the NLU, or the keypad), let the
escalation rules route it (a person, the LLM, or the policy), record it masked and reply. The
parts it puts together, each in its own module of callflows/dialogue/:

    policy.py        the turn policy: returns a Plan (plan.py) - replies, transfer, end, takeover
    forms.py         a form under way: start, fill, ask the next step, complete (run its action)
    confirmation.py  the answer to a form's summary
    readback.py      read-backs, last names and spelling;  hold.py  "hold on, let me find it"
    action_bridge.py the vertical's rasa-sdk actions: tracker, run, slot events, signals
    llm_route.py     the session as the escalation route's CallHost, and the LLM's streamed turn
    wording.py       responses rendered, the question left open, the reply put together
"""

from __future__ import annotations

import random
import re
import time
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callflows.actions.runner import ActionError
from callflows.dialogue.action_bridge import ActionBridge
from callflows.dialogue.confirmation import Confirmation
from callflows.dialogue.filling import fits, pii_spans, yes_no_of
from callflows.dialogue.forms import FormFilling
from callflows.dialogue.hold import Hold
from callflows.dialogue.key_menu import REQUEST
from callflows.dialogue.llm_route import LlmRouteHost
from callflows.dialogue.plan import Plan
from callflows.dialogue.policy import TurnPolicy
from callflows.dialogue.readback import ReadBack
from callflows.dialogue.recorder import CallRecorder
from callflows.dialogue.replies import BotReply
from callflows.dialogue.state import ANYTHING_ELSE, CHANGE_WHICH, CONFIRM, OFFER_HUMAN, READBACK, DialogueState
from callflows.dialogue.wording import Wording
from callflows.flow.spec import FormSpec
from callflows.logs import call_logger
from callflows.nlu.pipeline import NluResult
from callflows.nlu.thin_transcript import too_thin
from callflows.nlu.typed_name import typed_name
from callflows.nlu.values import ParseContext, Value, extract
from callflows.nlu.values.complete import completes_answer
from callflows.nlu.values.date_parts import date_parts
from callflows.nlu.values.dates import plausible_birth_date
from callflows.nlu.values.phone import normalise_phone
from callflows.speech.expectation import Expectation
from callflows.verticals import Vertical

_DIGITS = re.compile(r"\d+")


class DialogueSession(TurnPolicy, FormFilling, Confirmation, ReadBack, Hold, LlmRouteHost, Wording):
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
                                    say=self._say, transfer=lambda: self._transfer(outcome=None), channel=channel)
        self.escalation = self._escalation(escalation, llm)
        self._turn = Plan()
        self._stream_open = False

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
        if not st.active_form and st.pending in (None, OFFER_HUMAN) and REQUEST in st.key_menus:  # a key names a request
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
        self.state.words_lost = False
        if source == "dtmf":
            nlu = self._dtmf_nlu(text)
        else:
            nlu = self._asked_number(self.vertical.nlu.parse(text, self._ctx()))
            self.state.words_lost = source == "speech" and self._lost_words_heard_as_yes(
                text, nlu, (timings or {}).get("speech_ms"))
            if self.state.words_lost:
                nlu = self.vertical.nlu.parse("", self._ctx())  # nothing understood: the question again
        nlu_ms = (time.perf_counter() - t0) * 1000
        asked = self.expectation
        asked_step = self._asked_slots()
        self._note_intent(nlu)
        plan = self._route_turn(nlu, source)
        # mask what the caller said for a personal slot that was asked for or filled
        secrets = self._secrets() + pii_spans(self.flow, nlu, asked_step | self._filled_pii())
        if asked.pii and asked.yes_no and not _bare_yes_no(nlu):  # "no, march the fifth" to a read-back
            secrets.append(text)
        self.recorder.caller_turn(text, nlu, secrets, timings={**(timings or {}), "nlu_ms": nlu_ms},
                                  masked_whole=asked.pii)
        if plan.takeover is not None and not plan.end:
            return self._agent_reply(plan.replies, text, nlu, plan.decision)
        if self.escalation is not None:
            self.escalation.record(self.recorder.seq, plan.decision)
        reply = self._reply(*plan.replies)
        reply.nlu = nlu.to_json()
        if plan.decision is not None and plan.decision.escalates:
            reply.decision = plan.decision.to_json()
        self.recorder.bot_turn(reply.text, self._secrets())
        if reply.end_call or reply.transfer_to:
            self.end(self.final_outcome("goodbye"))
        return reply

    def _route_turn(self, nlu: NluResult, source: str) -> Plan:
        """Who answers the turn: a person (the escalation rules say so before the policy runs),
        the LLM (the call is on its route already), or the policy; an action that fails hands the
        call to a person."""
        esc = self.escalation
        decision = esc.before_turn(nlu, source, self._asks_person(nlu)) if esc is not None else None
        if esc is not None and decision is not None and decision.route == "person":
            plan = Plan([self._say("transfer")], decision=decision)
            by_request = esc.signals.signals.asked_for_person
            self._transfer(outcome="caller_asked_for_person" if by_request else "escalated_to_person")
        elif esc is not None and esc.route == "llm":
            plan = Plan(takeover=decision if decision is not None and decision.escalates else esc.decision,
                        decision=decision)
        else:
            try:
                plan = self.plan_turn(nlu)
            except ActionError as exc:
                self.log.warning("degrading to a person: %s", exc)
                plan = self._turn  # what the policy had decided before the action failed
                plan.replies = [self._say("error_fallback")]
                self._transfer(outcome="action_failed")
            if plan.decision is None:  # none made at a checkpoint: the one before the turn
                plan.decision = decision
        plan.transfer_to, plan.end = self.state.transferred_to, self.state.ended
        return plan

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
        # a pending offer of a person is the question the caller owes an answer to: asked again,
        # so a yes after the silence answers it, and not the question before it
        question = self._say("offer_again") if st.pending == OFFER_HUMAN else st.last_prompt
        reply = self._reply(self._say("still_there"), question)
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

    # ------------------------------------------------------------------ helpers
    def _set_slot(self, name: str, value: Any) -> None:
        self.actions.set_slot(name, value)

    def _ctx(self) -> ParseContext:
        return ParseContext(now=self.now, business_hours=self.flow.settings.business_hours)

    def _dtmf_nlu(self, keys: str) -> NluResult:
        """Keypad entry for the step being asked: digits, a phone number, a date as MMDDYYYY, a name
        one key per letter where the flow matches it on file (`keys:`); before any form, a key of
        the menu of requests names the request; at a summary that offered them, 1 is yes and 2 is no."""
        digits = "".join(_DIGITS.findall(keys))
        menu = self.state.key_menus.get(REQUEST)
        if menu is not None and not self.state.active_form and self.state.pending in (None, OFFER_HUMAN):
            intent = menu.value_of(digits)
            if intent is not None:
                self.state.key_menus.pop(REQUEST, None)
                return NluResult(text=digits, intent=intent, confidence=1.0, ranking=(), values={})
        yes_no = self.state.key_menus.get(CONFIRM)
        answer = yes_no.value_of(digits) if yes_no is not None and self.state.pending == CONFIRM else None
        if answer is not None:
            return NluResult(text=digits, intent="dtmf", confidence=1.0, ranking=(), yes_no=answer == "yes")
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
            if menu:
                value = menu.value_of(digits)
            elif spec.keys:  # a name typed to be matched on file: kept as its keys (callflows.nlu.typed_name)
                value = typed_name(digits)
            else:
                value = _dtmf_value(spec.type, spec.length, digits, self.now.date())
            if value is not None and spec.type == "date" and spec.prefer == "birth" and not plausible_birth_date(
                    date.fromisoformat(value), self.now.date()):
                value = None
            if value is not None and fits(spec, value):
                values[slot] = [Value(spec.type, value, 0, len(digits), digits, {"dtmf": True})]
                break
        return NluResult(text=digits, intent="dtmf", confidence=1.0, ranking=(), values=values)

    def _lost_words_heard_as_yes(self, text: str, nlu: NluResult, speech_ms: float | None) -> bool:
        """A yes heard in a turn whose words the line lost (callflows.nlu.thin_transcript: "it's
        eight four six, six three four ..." came back "That's it's perfect."): it is no yes, or a
        summary the caller was correcting is booked. The turn counts as one not understood."""
        if not too_thin(text, speech_ms):
            return False
        yes = self._answer_yes_no(nlu) is True
        if yes:
            self.log.info("a yes in %d words over %.0f ms of speech: words lost on the line, not taken",
                          len(text.split()), speech_ms)
        return yes

    def _transfer(self, outcome: str | None, reason: str | None = None) -> None:
        st = self.state
        st.transferred_to = self.flow.transfer_number or "operator"
        st.ended = True
        if outcome:
            st.outcomes.append(outcome)
        self._store_handoff(reason)

    def final_outcome(self, default: str) -> str:
        st = self.state
        if st.outcomes:
            return st.outcomes[-1]
        return "transferred" if st.transferred_to else default


def _dtmf_value(slot_type: str, length: int | None, digits: str, today: date | None = None) -> Any:
    """What keypad digits mean for a slot type; None if they cannot fill it. A date is eight
    digits (MMDDYYYY), or four (MMDD: the next such day from ``today`` on); a time is three or
    four on a 24-hour clock (930, 1430)."""
    if not digits:
        return None
    if slot_type == "time" and len(digits) in (3, 4):
        hour, minute = int(digits[:-2]), int(digits[-2:])
        return f"{hour:02d}:{minute:02d}" if hour < 24 and minute < 60 else None
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
