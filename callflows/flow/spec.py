"""Typed flow specification (what a vertical's flow.yaml becomes once validated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SLOT_TYPES = (
    "date",
    "time",
    "datetime",
    "person_name",
    "phone_number",
    "digits",
    "money",
    "number",
    "enum",
    "text",
    "reference",  # a booking reference spelled letter by letter ("k seven m as in mike"); option length
    "yes_no",  # a yes/no question as a form step ("I found an appointment for Marguerite. Is that yours?")
    "any",  # set only by actions, never asked
)

# Types whose values are personal data unless the flow says otherwise.
PII_BY_DEFAULT = ("digits", "phone_number", "person_name")
MATCH_ON_FILE = "match_on_file"  # a person_name slot's `keys:`: typed names matched on file (SlotSpec.keys)


@dataclass(frozen=True)
class SpellStep:
    """One correction after a denied read-back: what to say, and which part of a person
    name spelled letters (or a single word) replace ("last" or "first"; "all": the whole value)."""

    prompt: str
    part: str = "last"


@dataclass(frozen=True)
class SlotConfirm:
    """Read a slot's value back before the form goes on (callflows.dialogue.readback).

    `prompt` reads it back; `spelled` (optional) when the caller spelled it (variable
    `spelling`: the letters one by one); `on_file` when an action found it on file (the
    caller did not say it). Each denial asks the next of `corrections`; past the last one
    the value is kept, and `unverified_slot` (if any) is set to true. `keypad` (person names,
    phone calls only): before a name the caller said is read back, each step's part is typed
    on the keypad, one key per letter (callflows.nlu.keyed_names), in the order given."""

    prompt: str
    spelled: str | None = None
    on_file: str | None = None
    corrections: tuple[SpellStep, ...] = ()
    unverified_slot: str | None = None
    keypad: tuple[SpellStep, ...] = ()


@dataclass(frozen=True)
class SlotSpec:
    name: str
    type: str
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # enum: canonical -> synonyms
    length: int | None = None  # digits: exact length
    prefer: str = "future"  # date: "future" (appointments), "past", or "birth" (a plausible date of birth)
    pii: bool = False
    dtmf: bool = False  # keypad entry accepted
    description: str = ""
    full: bool = False  # person_name: a first name alone is not enough, the last name is asked for
    # person_name: "match_on_file" (callflows.nlu.typed_name): on the phone the name may be typed on the
    # keypad, kept as its keys and matched against the names on file by the vertical, never decoded
    keys: str | None = None
    confirm: SlotConfirm | None = None  # read back before the form goes on


@dataclass(frozen=True)
class FormStep:
    """One thing a form asks for: a slot, or one of several slots."""

    slots: tuple[str, ...]
    prompt: str
    reprompts: tuple[str, ...] = ()

    @property
    def slot(self) -> str:
        return self.slots[0]


@dataclass(frozen=True)
class ConfirmSpec:
    prompt: str
    on_deny: str
    change_words: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class FormSpec:
    name: str
    intent: str | None
    steps: tuple[FormStep, ...]
    confirm: ConfirmSpec | None
    action: str | None
    validator: str | None = None  # FormValidationAction name, default validate_<form>
    # Another form (e.g. identity verification) that must have completed successfully in
    # this call before this one may start; the session runs it first, then this one.
    requires: str | None = None
    # A slot the form's action sets to a true value on success (e.g. `verified`); without it
    # the form counts as completed once its action ran without re-opening it.
    success_slot: str | None = None

    @property
    def required_slots(self) -> list[str]:
        return [s for step in self.steps for s in step.slots]


@dataclass(frozen=True)
class IntentSpec:
    name: str
    examples: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()  # phrases that force the intent (emergencies)
    # phrases that place an utterance the classifier could not ("i'd like to book a <misheard>"):
    # used only when the classifier finds it out of scope or is unsure, and only when one intent's hints match
    hints: tuple[str, ...] = ()
    response: str | None = None  # response to say when no form handles it
    transfer: bool = False  # hand the call to a person after the response
    end_call: bool = False
    # on a phone call whose request was not understood, offered on a key ("1 for your balance"), in
    # the order of the intents (callflows.dialogue.key_menu.request_menu)
    menu: str | None = None


@dataclass(frozen=True)
class FaqEntry:
    id: str
    questions: tuple[str, ...]
    answer: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    max_reprompts: int = 2
    confidence_threshold: float = 0.45
    faq_threshold: float = 0.35
    silence_timeout_s: float = 6.0
    max_silence_prompts: int = 2
    business_hours: tuple[int, int] = (8, 18)


@dataclass(frozen=True)
class FlowSpec:
    vertical: str
    display_name: str
    timezone: str
    transfer_number: str | None
    settings: Settings
    variables: dict[str, Any]
    slots: dict[str, SlotSpec]
    intents: dict[str, IntentSpec]
    forms: dict[str, FormSpec]
    responses: dict[str, tuple[str, ...]]
    faq: tuple[FaqEntry, ...]
    action_server: str | None = None  # remote rasa-sdk action server URL; None = in process
    # The vertical's actions: a bare file name in its own folder ("actions.py", "my_actions.py");
    # the loader yields nothing else (no folder, "..", absolute or dotted path).
    actions_module: str | None = None
    source: Path | None = None

    @property
    def required_forms(self) -> frozenset[str]:
        """Forms some other form `requires` (the verification forms)."""
        return frozenset(f.requires for f in self.forms.values() if f.requires)

    def form_for_intent(self, intent: str) -> FormSpec | None:
        for form in self.forms.values():
            if form.intent == intent:
                return form
        return None
