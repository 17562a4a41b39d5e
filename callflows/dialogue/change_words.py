"""Which slot a correction names ("no, we arrive on saturday", "the nights are wrong").

A form's confirmation lists `change_words` per slot (flow.yaml). A phrase of several words
must be said as it is written; a single word matches any word of the same stem, so "arrive",
"arrived" and "arrival" all name the slot whose change word is "arriving", and "nights" the
one of "night". Callers say the word their own way; the flow lists one form of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_WORD = re.compile(r"[a-z']+")
_SUFFIXES = ("ing", "al", "ed", "es", "s", "e")
MIN_STEM = 3  # letters a stem keeps: "day" is never cut to "da"


def stem(word: str) -> str:
    """"arriving", "arrive", "arrival" -> "arriv"; "nights" -> "night"; short words unchanged."""
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def change_target(change_words: Mapping[str, tuple[str, ...]], text: str) -> str | None:
    """The slot whose change word `text` says first (on a tie, the first in the flow's order):
    "no, my number is six one five ... at that time" names the phone number, not the time. A
    word followed by "of" names nothing itself ("the number of guests")."""
    low = text.lower()
    words = list(_WORD.finditer(low))
    starts: dict[str, int] = {}  # stem -> where it is first said
    for k, m in enumerate(words):
        if k + 1 < len(words) and words[k + 1].group() == "of":
            continue  # "the number of guests" names the guests
        starts.setdefault(stem(m.group()), m.start())
    best: tuple[int, int, str] | None = None
    for order, (slot, phrases) in enumerate(change_words.items()):
        for phrase in phrases:
            phrase = phrase.lower().strip()
            if " " in phrase:
                found = re.search(rf"\b{re.escape(phrase)}\b", low)
                at = found.start() if found else None
            else:
                at = starts.get(stem(phrase)) if phrase else None
            if at is not None and (best is None or (at, order) < best[:2]):
                best = (at, order, slot)
    return best[2] if best else None
