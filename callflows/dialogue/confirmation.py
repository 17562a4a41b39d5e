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
