"""Keypad menus for a choice the phone line lost ("press 1 for cleaning, 2 for filling ...").

A choice is the slot type recognition gets wrong most often on an 8 kHz line: the words are
short, unlike each other only in a consonant or two, and said once ("the dates" is heard "the
maid", "a family room" "assembly room"). Saying it again seldom helps, so the re-prompt after a
miss also offers each choice on a key, as phone menus do. The caller may still say it; a key is
exact. Typed chats never get a menu.

The caller's first request is a menu too on the phone: when it was not understood, the menu of
what the bot does also goes on keys ("press 1 for your balance"), from the intents the flow
labels with `menu:` ("hi, what's the balance on my account" was heard otherwise five times).

The label spoken for a choice is the first synonym the flow lists for it (flow.yaml orders them
so that it reads well aloud: "dr. patel", "room type"). The part of a summary to change is a
menu too, labelled by the first of each slot's change words ("day", "time", "dentist").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from callflows.flow.spec import IntentSpec, SlotSpec

MAX_KEYS = 9  # one key each, 1-9: more choices than that are no menu a caller can hold in mind


@dataclass(frozen=True)
class KeyMenu:
    """The choices of one enum slot, in key order (key 1 is the first)."""

    slot: str
    values: tuple[str, ...]
    labels: tuple[str, ...]

    def offer(self) -> str:
        """"You can also press 1 for cleaning, 2 for filling, or 3 for crown." """
        items = [f"{k} for {label}" for k, label in enumerate(self.labels, start=1)]
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + ", or " + items[-1]
        return f"You can also press {listed}."

    def value_of(self, keys: str) -> str | None:
        """The choice a key names; None for anything but one key of the menu."""
        if len(keys) != 1 or not keys.isdigit():
            return None
        index = int(keys) - 1
        return self.values[index] if 0 <= index < len(self.values) else None


def menu_for(spec: SlotSpec) -> KeyMenu | None:
    """The keypad menu of an enum slot; None for other slots and for more than nine choices."""
    if spec.type != "enum" or not spec.choices or len(spec.choices) > MAX_KEYS:
        return None
    values = tuple(spec.choices)
    labels = tuple((spec.choices[v][0] if spec.choices[v] else v).strip() or v for v in values)
    return KeyMenu(spec.name, values, labels)


def change_menu(change_words: Mapping[str, tuple[str, ...]]) -> KeyMenu | None:
    """The keypad menu of "what would you like to change?": one key per slot a summary can change."""
    slots = [slot for slot, words in change_words.items() if words]
    if not slots or len(slots) > MAX_KEYS:
        return None
    return KeyMenu("change", tuple(slots), tuple(change_words[slot][0] for slot in slots))


# A summary's yes and no ("press 1 if that's right, or 2 to change something"), offered when it
# is read again on the phone (callflows.dialogue.forms).
YES_NO_KEYS = KeyMenu("confirm", ("yes", "no"), ("yes", "no"))

REQUEST = "request"  # the state's key for the menu of requests (no slot is named so: flows validate slot names)


def request_menu(intents: Mapping[str, IntentSpec]) -> KeyMenu | None:
    """The keypad menu of what the bot does, from the intents with a `menu:` label, in their order."""
    labelled = [(name, spec.menu) for name, spec in intents.items() if spec.menu][:MAX_KEYS]
    if not labelled:
        return None
    return KeyMenu(REQUEST, tuple(name for name, _ in labelled), tuple(str(label) for _, label in labelled))
