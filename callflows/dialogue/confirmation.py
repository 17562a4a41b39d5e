"""The caller's answer to a form's summary ("... Is that all right?"): a yes runs the form's
action, a correction changes the values it names and reads the summary again, a no asks what to
change (on the phone with the parts on the keypad), and a request for another task at that
point starts it with the values both share.

Mixed into DialogueSession.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from callflows.dialogue.change_words import change_target
from callflows.dialogue.filling import candidates_for_form
from callflows.dialogue.key_menu import change_menu
from callflows.dialogue.state import ANYTHING_ELSE, CHANGE_WHICH, CONFIRM, DialogueState
from callflows.flow.spec import FlowSpec, FormSpec
from callflows.flow.templates import speak_date, speak_phone, speak_time
from callflows.logs import CallLogger
from callflows.nlu.pipeline import NluResult
from callflows.nlu.values.yesno import last_question


def _same(current: Any, said: Any) -> bool:
    return current is not None and str(current).strip().lower() == str(said).strip().lower()


class Confirmation:
    """The summary answers of a DialogueSession (see the module docstring)."""

    flow: FlowSpec
    state: DialogueState
    channel: str
    log: CallLogger

    def _on_confirm(self, nlu: NluResult) -> list[str]:
        st = self.state
        form = self.flow.forms[st.active_form]  # type: ignore[index]
        yes = self._answer_yes_no(nlu)
        # the part the caller names ("no, arriving december eighteenth for one night") goes with
        # whatever else was heard (the "one" there is read as guests, which the vertical refuses)
        named = self._named_value(form, nlu)
        heard = {slot: value for slot, value in candidates_for_form(self.flow, form, nlu, ()).items()
                 if not any(_same(value, v) for v in named.values())}  # the named value read as another slot
        updates = self._firm(form, nlu, {**heard, **named})
        if yes is not True and self._retypes_a_typed_name(form, nlu, updates):
            return [self._read_back_typed_name(self._typed_name_slot(form))]  # type: ignore[arg-type]
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
            # under that name): nothing to correct, so the value and the question again, not
            # another read-back of the whole summary
            return self._as_held(form, updates) if yes is None else [self._reask(form)]
        if updates:  # "no, wednesday": a correction, then confirm again
            before = dict(st.slots)
            st.pending = None
            said = self._apply_and_continue(form, nlu, updates)
            if (st.slots == before and st.pending == CONFIRM and all(_same(before.get(k), v) for k, v in updates.items())):
                return self._as_held(form, updates)  # "no, january thirteenth" to a summary on the 13th
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
            question = self._render(form.confirm.on_deny if form.confirm else "")
            if nlu.intent == "dtmf":  # a no on the keypad: the part to change on keys as well
                question = self._with_change_menu(form, question)
            return [self._prompt(question)]
        return [self._miss_in_form(form, nlu)]

    def _firm(self, form: FormSpec, nlu: NluResult, updates: dict[str, Any]) -> dict[str, Any]:
        """The updates that may change a summary: a value only heard *near* a choice word ("check"
        for "checkup": callflows.nlu.values.enums) does not replace one the summary holds unless
        the caller named the part to change ("and then i'll check ..." made an extraction a
        cleaning)."""
        named = self._change_target(form, nlu)
        st = self.state
        return {slot: value for slot, value in updates.items()
                if st.slots.get(slot) is None or slot == named
                or not all(v.extra.get("near") for v in nlu.values.get(slot, []) if v.value == value)}

    def _as_held(self, form: FormSpec, updates: dict[str, Any]) -> list[str]:
        """"No, january thirteenth" to a summary on January 13: the caller heard the summary wrong
        (thirteen and thirty sound alike on the line), so the value is said once more on its own,
        then the summary's question, instead of the summary again (heard wrong again) or "what
        would you like to change?" (nothing). The same values said a second time agree with the
        record twice: the caller has confirmed them in their own words, and the form goes ahead
        (a caller whose ear kept mishearing a right phone number read back was otherwise offered
        a person, and hung up with nothing booked)."""
        st = self.state
        said = ", ".join(self._spoken(slot, value) for slot, value in updates.items())
        key = f"as_held:{form.name}:{','.join(sorted(updates))}"
        st.step_asks[key] = st.step_asks.get(key, 0) + 1
        if st.step_asks[key] > 1:
            self.log.info("form %s: the values held said again by the caller, taken as confirmed", form.name)
            st.pending = None
            return [self._say("as_held_again", value=said)] + self._complete(form)
        st.misses += 1
        if st.misses > self.flow.settings.max_reprompts or not form.confirm:
            return [self._offer_person(self._say("offer_human"))]
        question = self._with_yes_no_keys(last_question(self._render(form.confirm.prompt)))  # type: ignore[attr-defined]
        return [self._prompt(f"{self._say('as_held', value=said)} {question}")]

    def _spoken(self, slot: str, value: Any) -> str:
        """A value as the bot says it on its own."""
        kind = self.flow.slots[slot].type
        if kind == "date":
            return speak_date(value)
        if kind == "time":
            return speak_time(value)
        if kind == "phone_number":
            return speak_phone(value)
        return str(value).replace("_", " ")

    def _typed_name_slot(self, form: FormSpec) -> str | None:
        """The form's name slot when the name was typed on the keypad and confirmed at its read-back."""
        return next((slot for slot in form.required_slots if self._typed_and_confirmed(slot)), None)  # type: ignore[attr-defined]

    def _retypes_a_typed_name(self, form: FormSpec, nlu: NluResult, updates: dict[str, Any]) -> bool:
        """"No, my name is Oksana Yilmaz" to a summary whose name was typed on the keypad and
        confirmed letter by letter: the caller heard the summary wrong, or the line garbled what
        they said; either way the keys are better evidence than one more hearing of the name. So
        the typed name is spelled back whole (callflows.dialogue.readback) rather than replaced by
        what was heard (a right typed name was lost that way, and the booking with it)."""
        slot = self._typed_name_slot(form)
        if slot is None or self.channel != "phone" or set(updates) - {slot}:
            return False
        return slot in updates or self._change_target(form, nlu) == slot

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
        updates = self._firm(form, nlu, candidates_for_form(self.flow, form, nlu, ()))
        if self._retypes_a_typed_name(form, nlu, updates):  # "the name" / "my name is ...": spelled back
            return [self._read_back_typed_name(self._typed_name_slot(form))]  # type: ignore[arg-type]
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
        question = self._with_change_menu(form, last_question(self._render(form.confirm.on_deny)))
        return [self._say("not_caught"), self._prompt(question)]

    def _with_change_menu(self, form: FormSpec, question: str) -> str:
        """"What would you like to change?" with, on the phone, the parts on keys as well."""
        menu = change_menu(form.confirm.change_words) if self.channel == "phone" and form.confirm else None
        if menu is None:
            return question
        self.state.key_menus[CHANGE_WHICH] = menu
        return f"{question} {menu.offer()}"

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
