"""A form under way: starting it (after the form it requires, such as identity verification),
filling it from what the caller said, asking for the next missing step, re-asking after a miss
(on the phone with the keypad offered), and completing it by running its action - where the
escalation rules may first hand the task to the LLM or a person (`_complete`).

Mixed into DialogueSession.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from callflows.dialogue.action_bridge import ActionBridge, reopens
from callflows.dialogue.filling import candidates_for_form, national_digits
from callflows.dialogue.key_menu import YES_NO_KEYS, menu_for
from callflows.dialogue.plan import Plan
from callflows.dialogue.state import ANYTHING_ELSE, CONFIRM, DialogueState
from callflows.flow.spec import FlowSpec, FormSpec, FormStep
from callflows.logs import CallLogger
from callflows.nlu.pipeline import NluResult
from callflows.nlu.question_shape import asks_a_question, carries_digits
from callflows.nlu.values.counts import homophone_counts

MAX_SUMMARIES = 3  # a form's summary read this often (each after a correction) before a person is offered


class FormFilling:
    """The forms of a DialogueSession (see the module docstring)."""

    flow: FlowSpec
    state: DialogueState
    channel: str
    log: CallLogger
    actions: ActionBridge
    escalation: Any  # an EscalationController, or None
    _turn: Plan

    def _in_form(self, nlu: NluResult, intent: str | None) -> list[str]:
        st = self.state
        form = self.flow.forms[st.active_form]  # type: ignore[index]
        step = self._step(form, st.requested)
        updates = self._name_answer(step, nlu) or candidates_for_form(self.flow, form, nlu, step.slots if step else ())
        # "... name is ..." heard in an answer to another question never replaces a typed name
        updates = {slot: value for slot, value in updates.items()
                   if not (self._typed_and_confirmed(slot) and (step is None or slot not in step.slots))}
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
        if other is not None and self.state.misses == 0:  # "i need to move my appointment" again: carry on
            self.state.misses += 1  # said again in answer to the same question: a miss ("four two nights")
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
                self._turn.takeover = self._turn.decision = decision
                st.active_form, st.requested, st.pending = None, None, None
                return []
            if decision.route == "person":
                self._turn.decision = decision
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
            # the slots the action emptied are asked afresh: a second attempt at a check is no
            # third asking of the same question (the keypad-or-person offer came after one name)
            self._forget_readback(self._missing_or_empty(form))
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
            return self._prompt(self._summary(form))
        return " ".join(self._complete(form))

    def _summary(self, form: FormSpec) -> str:
        """The form's summary and question; on the phone, read a second time or after a turn not
        understood, with yes and no on keys too (a caller's "it's eight four six ..." came back
        "That's it's perfect.", and a summary heard round and round never offered a way out)."""
        assert form.confirm is not None
        st = self.state
        summary = self._render(form.confirm.prompt)
        again = st.step_asks.get(f"confirm:{form.name}", 0) > 1 or st.misses > 0
        return self._with_yes_no_keys(summary) if again else summary

    def _with_yes_no_keys(self, question: str) -> str:
        """A summary's question with, on the phone, yes and no on keys as well."""
        if self.channel != "phone":
            return question
        self.state.key_menus[CONFIRM] = YES_NO_KEYS
        return f"{question} {self._say('confirm_keys')}"

    def _reask(self, form: FormSpec) -> str:
        if self.state.pending == CONFIRM and form.confirm:
            return self._prompt(self._summary(form))
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
        and so does a day to come (four keys, month and day), a time (four keys, 24-hour clock:
        "three in the afternoon" was heard "thirteen in the morning" again and again) and a name
        (the last name, one key per letter: decoded, or matched on file as keys, flow.yaml `keys:`)."""
        if self.channel != "phone":
            return text
        spec = self.flow.slots[step.slot]
        if spec.type == "date" and spec.prefer == "future" and len(step.slots) == 1:
            return f"{text} {self._say('date_keys')}"
        if spec.type == "time" and len(step.slots) == 1:
            return f"{text} {self._say('time_keys')}"
        if spec.type == "person_name" and spec.keys and len(step.slots) == 1:  # matched on file by its keys
            return f"{text} {self._say('name_keys_on_file')}"
        keypad = spec.confirm.keypad if spec.type == "person_name" and spec.confirm else ()
        if any(k.part == "last" for k in keypad) and len(step.slots) == 1 and step.slot not in self.state.first_names:
            self.state.keying[step.slot] = "last"  # no name heard at all: typed, last name first
            return f"{text} {self._say('name_keys')}"
        menu = menu_for(spec)
        if menu is None:
            return text
        self.state.key_menus[step.slot] = menu
        return f"{text} {menu.offer()}"

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
                key = f"short:{slot}"
                short = self.state.step_asks[key] = self.state.step_asks.get(key, 0) + 1
                if short > 1 and self.channel == "phone":  # the line drops a digit again: keys only
                    return self._prompt(self._say("phone_keys", count=count))
                return self._prompt(self._say("phone_length", count=count, length=spec.length))
        return None

    def _step(self, form: FormSpec, slot: str | None) -> FormStep | None:
        return next((s for s in form.steps if slot in s.slots), None)

    def _asked_slots(self) -> set[str]:
        form = self.flow.forms.get(self.state.active_form or "")
        step = self._step(form, self.state.requested) if form else None
        return set(step.slots) if step else set()
