"""The state of one conversation; everything else in a session is derived or shared."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callflows.dialogue.key_menu import KeyMenu

# What a yes/no answer would answer, when the bot has just asked one.
CONFIRM = "confirm"
CHANGE_WHICH = "change_which"
OFFER_HUMAN = "offer_human"
ANYTHING_ELSE = "anything_else"
READBACK = "readback"  # a slot's value read back (callflows.dialogue.readback)


@dataclass
class DialogueState:
    slots: dict[str, Any] = field(default_factory=dict)
    active_form: str | None = None
    requested: str | None = None  # first slot of the step being asked
    pending: str | None = None  # one of the constants above
    misses: int = 0  # turns in a row that did not move the conversation
    silences: int = 0
    last_bot_text: str = ""
    last_prompt: str = ""  # the last question asked, to return to after a digression
    outcomes: list[str] = field(default_factory=list)
    transferred_to: str | None = None
    ended: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # rasa events, for actions
    # Forms completed successfully in this call (a form's `requires` is met once its
    # required form is in here, e.g. identity verification).
    completed_forms: set[str] = field(default_factory=set)
    # A form the caller asked for whose required form runs first, and the values the
    # caller already gave for it (applied when it starts).
    pending_form: str | None = None
    pending_values: dict[str, Any] = field(default_factory=dict)
    # Intents the caller said with confidence (newest last): what the call is about, for
    # escalation rules ("a lost card and a high balance").
    intents_seen: list[str] = field(default_factory=list)
    # Read-backs (callflows.dialogue.readback), per slot: the slot being read back, slots the
    # caller confirmed, where a value came from ("caller", "dtmf", "file"), a first name waiting
    # for its last name, the value and part being spelled, the letters spelled, denied
    # read-backs, a question asked instead of the step's prompt, and times each step was asked.
    readback: str | None = None
    confirmed: set[str] = field(default_factory=set)
    origins: dict[str, str] = field(default_factory=dict)
    first_names: dict[str, str] = field(default_factory=dict)
    spell_base: dict[str, Any] = field(default_factory=dict)
    spell_part: dict[str, str] = field(default_factory=dict)
    spelled: dict[str, str] = field(default_factory=dict)
    denials: dict[str, int] = field(default_factory=dict)
    prompt_override: dict[str, str] = field(default_factory=dict)
    step_asks: dict[str, int] = field(default_factory=dict)
    # Names typed on the keypad (callflows.nlu.keyed_names), per slot: the part awaited on the
    # keys, the keys typed for each part ("" when the caller said it instead), and the other
    # spellings of the last keys typed, read back in turn when the caller says no.
    keying: dict[str, str] = field(default_factory=dict)
    keyed: dict[str, dict[str, str]] = field(default_factory=dict)
    key_spellings: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # slot -> (part, spellings)
    # Offers of a person the caller said no to, and whether the summary has explained once that a
    # name kept unverified will be checked by the team (the caller keeps correcting it otherwise).
    declined_offers: int = 0
    name_check_explained: bool = False
    last_small_talk: str | None = None  # the previous turn's small talk, if it was some (callflows.nlu.smalltalk)
    words_lost: bool = False  # this turn's words were lost on the line (callflows.nlu.thin_transcript)
    goodbye_doubted: bool = False  # a bare goodbye mid-form on the phone was asked about once
    # The caller asked for a moment ("hold on, let me find my card", callflows.dialogue.hold):
    # the question stays pending; the phone waits without re-prompting, checks in once.
    # Choices offered on the keypad after a miss on the phone, per slot (callflows.dialogue.key_menu).
    key_menus: dict[str, KeyMenu] = field(default_factory=dict)
    holding: bool = False
    hold_checked_in: bool = False
