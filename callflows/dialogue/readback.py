"""Values that end up right: read-backs, last names, spelling, and no endless loops.

Mixed into DialogueSession. Driven by flow.yaml slot options:

- `confirm:` on a slot: once the slot is filled, before the form goes on, its value is read
  back ("I have your name as Jane Smith. Is that right?"). A value an action found on file
  (the caller did not say it) is read back with `on_file` ("I have this number on file for
  Marguerite Conquale. Is the appointment for her?"); a denial then just asks the slot's
  question. A spelled value is read back letter by letter (`spelled`, variable `spelling`).
  Each denial of a value the caller gave asks the next of `corrections` (spell the last name,
  then the first); a spelled answer (callflows.nlu.values.spelled) or one word replaces that
  part of the name, a whole name ("no, my name is Priya Raghunathan") replaces it all. On a
  phone line spelled letters are first repaired from known names (`_spelled`). Past
  the last correction the value is kept and `unverified_slot` is set to true.
- `full: true` on a person_name slot: a first name alone is kept and the last name asked for.
- `keypad:` on a person_name slot, phone calls only: before a name the caller said is read
  back, each step's part is typed, one key per letter (callflows.nlu.keyed_names), and the
  name is read back with the last part typed spelled. A "no"
  reads back the next spelling of the same keys (two at most), and letters said aloud choose
  among those spellings, before the corrections go on.
- Keypad entries count as confirmed (no read-back of their own).
- No step is asked more than twice without offering the keypad (for keypad slots) or a
  person: the third time a step would be asked, the caller hears the offer instead.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

from callflows.dialogue.filling import candidates_for_form, yes_no_of
from callflows.dialogue.state import READBACK
from callflows.flow.spec import FormSpec, FormStep, SpellStep
from callflows.nlu.keyed_names import keyed_names, name_keys
from callflows.nlu.name_lexicon import name_lexicon
from callflows.nlu.pipeline import NluResult
from callflows.nlu.values import Value, extract
from callflows.nlu.values.date_parts import date_correction, date_parts
from callflows.nlu.values.dates import plausible_birth_date
from callflows.nlu.values.names import title_case
from callflows.nlu.values.spelled import spell_out

MAX_SAME_QUESTION = 2  # times a step may be asked before the keypad or a person is offered


# words around a last name said alone ("it's ...", "my last name is ...")
_SURNAME_CARRIERS = frozenset(
    "it's its it is my last name surname family the um uh er oh so and please well yes yeah that's thats".split())


def heard_surname(text: str) -> str | None:
    """The words of an answer to "and your last name?" that no name parser took, joined into one
    word: on a phone line an unfamiliar surname comes out as ordinary words ("Adeyemi" heard "a
    day, Amy"), and asking again only hears other words. Taken, it goes through the read-back,
    its corrections and, past them, the team's check, like any name heard (None: no such words)."""
    words = [w for w in re.findall(r"[a-z']+", text.lower()) if w not in _SURNAME_CARRIERS]
    if not words or len(words) > 3:
        return None
    return "".join(words).replace("'", "").capitalize() or None


def with_part(name: str, part: str, word: str) -> str:
    """``name`` with its first name or its last name (all after the first word) replaced by ``word``."""
    words = name.split()
    if not words:
        return word
    return " ".join([word] + words[1:]) if part == "first" else f"{words[0]} {word}"


class ReadBack:
    """The read-back policy of a DialogueSession (see the module docstring)."""

    state: Any
    flow: Any

    # ------------------------------------------------------------------ after a fill
    def _note_filled(self, form: FormSpec, nlu: NluResult, updates: dict[str, Any], before: dict[str, Any]) -> None:
        """Where each changed slot of `form` came from; a lone first name waits for its last name."""
        st = self.state
        for slot in form.required_slots:
            value = st.slots.get(slot)
            if value == before.get(slot) and slot not in updates:
                continue
            st.confirmed.discard(slot)
            if value is None:
                continue
            if slot not in updates:
                origin = "file"
            elif nlu.intent == "dtmf" and self.flow.slots[slot].type != "person_name":  # typed names: read back
                origin = "dtmf"
                st.confirmed.add(slot)
            else:
                origin = "caller"
                unverified = self.flow.slots[slot].confirm and self.flow.slots[slot].confirm.unverified_slot
                if unverified and st.slots.get(unverified):  # already kept for the team to check: reading
                    st.confirmed.add(slot)                   # it back again would only go round
            st.origins[slot] = origin
            letters = st.spelled.get(slot)
            if letters and letters.lower() not in str(value).lower().replace(" ", ""):
                st.spelled.pop(slot, None)
            spec = self.flow.slots[slot]
            typed_last = bool(st.keyed.get(slot, {}).get("last"))  # a last name typed alone: the first is typed next
            if (spec.type == "person_name" and spec.full and origin == "caller" and len(str(value).split()) < 2
                    and not typed_last):
                st.first_names[slot] = str(value)
                st.slots[slot] = None
                keys = self.channel == "phone" and any(k.part == "last" for k in (spec.confirm.keypad if spec.confirm else ()))  # type: ignore[attr-defined]
                if keys:  # typed, or said instead (then not asked for on the keys again: _take_name)
                    st.keying[slot] = "last"
                st.prompt_override[slot] = self._say("ask_last_name_keys" if keys else "ask_last_name",  # type: ignore[attr-defined]
                                                     first_name=str(value))

    def _forget_readback(self, slots: list[str]) -> None:
        st = self.state
        for slot in slots:
            st.confirmed.discard(slot)
            for store in (st.origins, st.first_names, st.spell_base, st.spell_part, st.spelled, st.denials,
                          st.prompt_override, st.keying, st.keyed, st.key_spellings):
                store.pop(slot, None)
            for key in [k for k in st.step_asks if k.split(":", 1)[0] == slot]:
                del st.step_asks[key]
        if st.readback in slots:
            st.readback = None

    # ------------------------------------------------------------------ answers to a name question
    def _name_answer(self, step: FormStep | None, nlu: NluResult) -> dict[str, Any] | None:
        """The answer to "and your last name?" or "could you spell it?", as slot updates."""
        st = self.state
        slot = step.slot if step else None
        if slot is None or self.flow.slots[slot].type != "person_name":
            return None
        first, base = st.first_names.get(slot), st.spell_base.get(slot)
        part = st.keying.get(slot)
        if part and nlu.intent == "dtmf":  # typed: the part asked for, the last name after a first alone or a miss
            return self._keyed_name(slot, part, str(base or first or ""), nlu.text)
        if first is None and base is None:
            return None
        names = [v for v in nlu.values.get(slot, []) if v.value]
        whole = next((v.value for v in names if len(str(v.value).split()) >= 2
                      and (first is None or str(v.value).split()[0].lower() == first.lower())), None)
        if whole and not self._spelled(nlu):
            return self._take_name(slot, whole, None)
        word, letters = self._word(nlu, names)
        if word is None and first is not None and base is None and self.channel == "phone":  # type: ignore[attr-defined]
            word = heard_surname(nlu.text)
        if word is None:
            if base is not None and yes_no_of(nlu) is True:  # "it was right": keep it
                st.confirmed.add(slot)
                return self._take_name(slot, base, None, keep=True)
            return None
        if first is not None and base is None:
            return self._take_name(slot, f"{first} {word}", letters)
        parts = str(base).split()
        part = st.spell_part.get(slot, "last")
        if part == "all" or not parts:
            value = word
        elif part == "first":
            value = self._with_first(slot, str(base), word)
        else:
            value = " ".join(parts[:-1] + [word]) if len(parts) > 1 else f"{parts[0]} {word}"
        return self._take_name(slot, value, letters)

    def _spelled(self, nlu: NluResult) -> Value | None:
        """The name the caller spelled. On a phone line the letters heard are repaired from
        known names first (callflows.nlu.name_lexicon: "movak" -> "Novak"), since sound-alike
        letters ("N"/"M", "S"/"F", "Z"/"T") are the line's usual errors; a typed spelling is
        exactly what the caller meant."""
        found = extract("spelled_name", nlu.text, self._ctx())  # type: ignore[attr-defined]
        if not found:
            return None
        spelled = found[0]
        letters = str(spelled.extra.get("letters") or "")
        if self.channel != "phone" or not letters.isalpha():  # type: ignore[attr-defined]
            return spelled
        slot = self.state.readback or self.state.requested or ""
        if slot in self.state.spell_base:  # a correction asked for one part ("spell your last name")
            part = self.state.spell_part.get(slot, "last")
        elif slot in self.state.key_spellings:  # the part typed last, being read back
            part = self.state.key_spellings[slot][0]
        else:
            part = self.state.spell_part.get(slot, "last")
        keys = self.state.keyed.get(slot, {}).get(part)
        if keys:  # the keys typed for this part: the letters said choose among their spellings
            found = keyed_names().decode(keys, heard=[letters], part=part, n=12)
            if found:
                best = found[0].spelling.replace(" ", "")
                return replace(spelled, value=title_case(best), extra={**spelled.extra, "letters": best.upper(),
                                                                      "heard_letters": letters})
        repaired = name_lexicon().repair(letters, part if part in ("first", "last") else None)
        if repaired == letters.lower():
            return spelled
        return replace(spelled, value=title_case(repaired), extra={**spelled.extra, "letters": repaired.upper(),
                                                                   "heard_letters": letters})

    def _word(self, nlu: NluResult, names: list[Any]) -> tuple[str | None, str | None]:
        """One spelled word (with its letters), else one name word the caller said."""
        spelled = self._spelled(nlu)
        if spelled is not None:
            return str(spelled.value), str(spelled.extra.get("letters") or "")
        if names:
            return str(names[-1].value).split()[-1], None
        return None, None

    def _keyed_name(self, slot: str, part: str, base: str, keys: str) -> dict[str, Any] | None:
        """The name with ``part`` typed on the keypad: the likeliest spelling of the keys, with what
        was heard of that part by voice as a hint; the next two are kept for a "no"."""
        words = base.split()
        lone_last = part == "first" and len(words) == 1 and bool(self.state.keyed.get(slot, {}).get("last"))
        # what the line made of the part: a two-word first name ("Minh Anh", heard "Min And") is all
        # but the last word
        heard = [] if lone_last else [words[0], "".join(words[:-1])] if part == "first" and words \
            else [" ".join(words[1:])]
        found = keyed_names().decode(keys, heard=[h for h in heard if h], part=part)
        if not found:
            return None
        self.state.keyed.setdefault(slot, {})[part] = name_keys(keys)
        self.state.key_spellings[slot] = (part, tuple(title_case(f.spelling) for f in found[1:3]))
        best = title_case(found[0].spelling)
        value = self._with_first(slot, base, best) if part == "first" else with_part(base, part, best)
        return self._take_name(slot, value, best.replace(" ", "").upper())

    def _with_first(self, slot: str, base: str, first: str) -> str:
        """``base`` with its first name ``first``; a base that is only a last name typed (the name
        was never heard) gets it in front."""
        words = base.split()
        if len(words) == 1 and self.state.keyed.get(slot, {}).get("last"):
            return f"{first} {words[0]}"
        return with_part(base, "first", first)

    def _take_name(self, slot: str, value: str, letters: str | None, keep: bool = False) -> dict[str, Any]:
        st = self.state
        keyed_part = st.keying.pop(slot, None)
        if keyed_part:  # answered by voice instead of keys: not asked again
            st.keyed.setdefault(slot, {}).setdefault(keyed_part, "")
        st.first_names.pop(slot, None)
        st.spell_base.pop(slot, None)
        st.prompt_override.pop(slot, None)
        if letters:
            st.spelled[slot] = letters
        elif not keep and not any(st.keyed.get(slot, {}).values()):  # a typed part stays spelled
            st.spelled.pop(slot, None)
        return {slot: value}

    # ------------------------------------------------------------------ asking
    def _readback_due(self, form: FormSpec) -> str | None:
        """Read back the first filled, unconfirmed slot with `confirm:` up to the first missing step."""
        st = self.state
        for step in form.steps:
            if all(st.slots.get(s) is None for s in step.slots):
                return None
            for slot in step.slots:
                spec = self.flow.slots[slot]
                if spec.confirm is None or st.slots.get(slot) is None or slot in st.confirmed:
                    continue
                keys = self._keypad_due(slot)
                if keys is not None:
                    return self._ask_keys(form, slot, keys)
                st.pending, st.readback, st.requested = READBACK, slot, slot
                return self._prompt(self._readback_text(slot))  # type: ignore[attr-defined]
        return None

    def _keypad_due(self, slot: str) -> SpellStep | None:
        """The part of a name the caller said that is to be typed next on the keypad, if any."""
        st = self.state
        spec = self.flow.slots[slot]
        if (spec.type != "person_name" or not spec.confirm.keypad or self.channel != "phone"  # type: ignore[attr-defined]
                or st.origins.get(slot) != "caller"):
            return None
        keyed = st.keyed.get(slot, {})
        if st.spelled.get(slot) and not keyed:  # spelled aloud already
            return None
        # every part, known names too: "Karim" was heard "Cara", "Minh Anh" "Manan", both names
        return next((step for step in spec.confirm.keypad if step.part not in keyed), None)

    def _ask_keys(self, form: FormSpec, slot: str, step: SpellStep) -> str:
        st = self.state
        st.keying[slot] = step.part
        st.spell_base[slot], st.spell_part[slot] = st.slots.get(slot), step.part
        st.prompt_override[slot] = self._render(step.prompt)  # type: ignore[attr-defined]
        self._set_slot(slot, None)  # type: ignore[attr-defined]
        return self._next(form)  # type: ignore[attr-defined]

    def _next_key_spelling(self, slot: str, value: Any) -> str | None:
        """After a "no" to a typed name: the name with the next spelling of the same keys."""
        part, spellings = self.state.key_spellings.get(slot, ("", ()))
        if not spellings or not value:
            return None
        self.state.key_spellings[slot] = (part, spellings[1:])
        self.state.spelled[slot] = spellings[0].replace(" ", "").upper()
        return with_part(str(value), part, spellings[0])

    def _readback_text(self, slot: str) -> str:
        st = self.state
        confirm = self.flow.slots[slot].confirm
        if st.origins.get(slot) == "file" and confirm.on_file:
            return self._render(confirm.on_file)  # type: ignore[attr-defined]
        letters = st.spelled.get(slot)
        if letters and confirm.spelled:
            return self._render(confirm.spelled, spelling=spell_out(letters))  # type: ignore[attr-defined]
        return self._render(confirm.prompt)  # type: ignore[attr-defined]

    def _typed_and_confirmed(self, slot: str) -> bool:
        """Whether ``slot`` holds a name typed on the keypad (keys, not words said at the keypad's
        question) that the caller confirmed at its read-back: one more hearing of a name over the
        line never replaces it (callflows.dialogue.confirmation spells it back instead)."""
        st = self.state
        return (self.flow.slots[slot].type == "person_name" and any(st.keyed.get(slot, {}).values())
                and slot in st.confirmed and bool(st.slots.get(slot)))

    def _read_back_typed_name(self, slot: str) -> str:
        """A typed name the caller disputes at the summary, spelled back whole, part by part, as a
        read-back: a yes returns to the summary; a no goes on as at the first read-back (the keys'
        other spellings, then the corrections)."""
        st = self.state
        st.confirmed.discard(slot)
        st.pending, st.readback, st.requested = READBACK, slot, slot
        confirm = self.flow.slots[slot].confirm
        spelling = "; ".join(spell_out(part) for part in str(st.slots[slot]).split())
        template = confirm.spelled or confirm.prompt  # type: ignore[union-attr]
        return self._prompt(self._render(template, spelling=spelling))  # type: ignore[attr-defined]

    def _step_prompt(self, step: FormStep) -> str:
        """The step's question; the last-name or spelling question while one is under way."""
        override = self.state.prompt_override.get(step.slot)
        return override if override else self._render(step.prompt)  # type: ignore[attr-defined]

    def _asked_too_often(self, step: FormStep) -> str | None:
        """The offer of the keypad or a person, instead of asking `step` a third time."""
        st = self.state
        key = f"{step.slot}:{st.prompt_override.get(step.slot) or ''}"  # the same question, not its follow-ups
        asks = st.step_asks[key] = st.step_asks.get(key, 0) + 1
        if asks <= MAX_SAME_QUESTION:
            return None
        keypad = any(self.flow.slots[s].dtmf for s in step.slots)
        # through the session's offer, so a caller who has declined a person twice is put through
        # (a failed lookup by phone number went round this offer ten times in one phone call)
        return self._offer_person(self._say("offer_keypad_or_human" if keypad else "offer_human"))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ the caller's answer
    def _on_readback(self, nlu: NluResult) -> list[str]:
        st = self.state
        form = self.flow.forms[st.active_form]
        slot = st.readback
        if slot is None:
            st.pending = None
            return [self._next(form)]  # type: ignore[attr-defined]
        spec = self.flow.slots[slot]
        yes = yes_no_of(nlu)
        value = st.slots.get(slot)
        new = self._correction(slot, value, nlu)
        if yes and new is None:
            st.confirmed.add(slot)
            st.pending = st.readback = None
            return [self._next(form)]  # type: ignore[attr-defined]
        if new is None and yes is None:
            moved_on = self._next_step_answer(form, slot, nlu)
            if moved_on:  # the caller answered the next question: the value read back stands
                st.confirmed.add(slot)
                st.pending = st.readback = None
                return self._apply_and_continue(form, nlu, moved_on)  # type: ignore[attr-defined]
            st.misses += 1
            if st.misses > self.flow.settings.max_reprompts:
                return [self._offer_person(self._say("offer_human"))]  # type: ignore[attr-defined]
            return [self._say("not_understood"), self._prompt(self._readback_text(slot))]  # type: ignore[attr-defined]
        if new is None:
            other = self._next_key_spelling(slot, value)
            if other is not None:  # typed: the keys stand, their next spelling is read back
                self._set_slot(slot, other)  # type: ignore[attr-defined]
                st.misses = 0
                return [self._say("next_spelling"), self._prompt(self._readback_text(slot))]  # type: ignore[attr-defined]
        st.pending = st.readback = None
        st.misses = 0
        if st.origins.get(slot) == "file":  # not the caller's name after all: ask it
            self._set_slot(slot, None)  # type: ignore[attr-defined]
            st.origins.pop(slot, None)
            if new is not None:
                return self._apply_and_continue(form, nlu, {slot: new})  # type: ignore[attr-defined]
            return [self._next(form)]  # type: ignore[attr-defined]
        denials = st.denials[slot] = st.denials.get(slot, 0) + 1
        corrections = spec.confirm.corrections
        if new is not None:
            if denials > max(1, len(corrections)):  # corrected again and again: keep the latest
                return self._keep_unverified(form, slot, new)
            return self._apply_and_continue(form, nlu, {slot: new})  # type: ignore[attr-defined]
        if denials > len(corrections):
            if corrections or denials > MAX_SAME_QUESTION:
                return self._keep_unverified(form, slot, value)
            self._set_slot(slot, None)  # type: ignore[attr-defined]
            return [self._next(form)]  # type: ignore[attr-defined]
        correction = corrections[denials - 1]
        st.spell_base[slot], st.spell_part[slot] = value, correction.part
        st.prompt_override[slot] = self._render(correction.prompt)  # type: ignore[attr-defined]
        self._set_slot(slot, None)  # type: ignore[attr-defined]
        return [self._next(form)]  # type: ignore[attr-defined]

    def _step_after(self, form: FormSpec, slot: str | None) -> FormStep | None:
        """The first unfilled step after `slot`'s: what the caller may answer instead of a yes."""
        st = self.state
        steps = list(form.steps)
        at = next((k for k, step in enumerate(steps) if slot in step.slots), None)
        if at is None:
            return None
        return next((step for step in steps[at + 1:] if all(st.slots.get(s) is None for s in step.slots)), None)

    def _next_step_answer(self, form: FormSpec, slot: str, nlu: NluResult) -> dict[str, Any]:
        """Values for the step after the one read back, when the reply to the read-back is the
        answer to that next question ("four four one seven" after the date of birth was read
        back): callers who hear nothing wrong often just go on."""
        following = self._step_after(form, slot)
        if following is None:
            return {}
        parts = date_parts(nlu.text)
        if self.flow.slots[slot].type == "date" and (parts.month or parts.day):
            return {}  # "August 1962" to a date of birth read back is about that date, not the next step
        updates = candidates_for_form(self.flow, form, nlu, following.slots)
        return {s: v for s, v in updates.items() if s in following.slots}

    def _correction(self, slot: str, value: Any, nlu: NluResult) -> Any:
        """A new value in the reply to a read-back ("no, my name is Priya Raghunathan", "no,
        it's spelled r a g h u"), or None."""
        spec = self.flow.slots[slot]
        if spec.type == "person_name":
            spelled = self._spelled(nlu)
            if spelled is not None and value:
                parts = str(value).split()
                self.state.spelled[slot] = str(spelled.extra.get("letters") or "")
                if self.state.key_spellings.get(slot, ("",))[0] == "first":  # the part typed last, and spelled
                    return with_part(str(value), "first", str(spelled.value))
                return " ".join(parts[:-1] + [str(spelled.value)]) if len(parts) > 1 else str(spelled.value)
            names = [v for v in nlu.values.get(slot, []) if v.value and len(str(v.value).split()) >= 2]
            if names and str(names[-1].value) != value:
                return self._whole_name_correction(slot, str(value or ""), str(names[-1].value))
            return None
        found = [v for v in nlu.values.get(slot, []) if v.value is not None and v.value != value]
        if found:
            return found[-1].value
        if spec.type == "date" and value:
            return self._date_part_correction(slot, str(value), nlu.text)
        return None

    def _whole_name_correction(self, slot: str, value: str, said: str) -> str | None:
        """"No, my name is Meera Raghunathan": a part typed on the keypad stays as typed (the line
        hears the name no better the second time), the rest is taken as said, and a part said
        differently that was not typed is asked for on the keypad."""
        st = self.state
        keyed = {part for part, keys in st.keyed.get(slot, {}).items() if keys}
        if not keyed or not value:
            st.spelled.pop(slot, None)
            return said
        words = said.split()
        new = value
        if "first" not in keyed:
            new = with_part(new, "first", words[0])
            st.keyed.get(slot, {}).pop("first", None)
        if "last" not in keyed:
            new = with_part(new, "last", " ".join(words[1:]))
        return new if new != value else None

    def _date_part_correction(self, slot: str, value: str, text: str) -> str | None:
        """"No, nineteen eighty five": the part of the date read back that the caller corrected
        (a date of birth has no meaning without its year, so the parser alone cannot place it)."""
        try:
            new = date_correction(date.fromisoformat(value[:10]), text)
        except ValueError:
            return None
        if new is None:
            return None
        if self.flow.slots[slot].prefer == "birth" and not plausible_birth_date(new, self.now.date()):  # type: ignore[attr-defined]
            return None
        return new.isoformat()

    def _keep_unverified(self, form: FormSpec, slot: str, value: Any) -> list[str]:
        st = self.state
        spec = self.flow.slots[slot]
        self._set_slot(slot, value)  # type: ignore[attr-defined]
        st.confirmed.add(slot)
        st.origins[slot] = "caller"
        if spec.confirm and spec.confirm.unverified_slot:
            self._set_slot(spec.confirm.unverified_slot, True)  # type: ignore[attr-defined]
        return [self._say("readback_kept"), self._next(form)]  # type: ignore[attr-defined]
