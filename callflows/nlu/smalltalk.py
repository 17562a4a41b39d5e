"""Greetings and small talk: an utterance made only of them ("hi", "hello there", "good morning",
"how are you", "are you there?") gets a friendly word back instead of being read as a request.

`small_talk(text)` -> "how_are_you" | "presence" | "hello" | None. Every word of the (normalised)
utterance must belong to a greeting phrase, an address word ("there", "again", "everyone") or
an opener ("oh", "well", "hey"); anything else ("hi i'd like to book a room") is a request and
gives None. "how are you" wins over "are you there", which wins over a plain greeting.
"""

from __future__ import annotations

from callflows.nlu.values import normalize_asr

GREETINGS = (
    "hi", "hello", "hey", "hiya", "howdy", "greetings", "good morning", "good afternoon",
    "good evening", "good day", "hallo", "hullo",
)
HOW_ARE_YOU = (
    "how are you", "how are you doing", "how are you today", "how are you doing today", "how's it going",
    "how is it going", "how do you do", "how are things", "how's your day", "how is your day",
    "how's your day going", "how is your day going", "how have you been", "what's up", "whats up",
    "nice to meet you", "how're you", "how you doing", "you doing well", "are you well",
    "i hope you're well", "hope you're well", "i hope you are well", "hope you are doing well",
)
PRESENCE = ("are you there", "is anyone there", "is anybody there", "is someone there", "can you hear me",
            "anyone there", "anybody there", "is this working", "you there")
FILLER = frozenset({"there", "again", "everyone", "everybody", "all", "oh", "well", "hey", "so", "and", "today"})


def _phrases() -> list[tuple[tuple[str, ...], str]]:
    table = [(tuple(p.split()), "hello") for p in GREETINGS]
    table += [(tuple(p.split()), "how_are_you") for p in HOW_ARE_YOU]
    table += [(tuple(p.split()), "presence") for p in PRESENCE]
    return sorted(table, key=lambda row: -len(row[0]))


_PHRASES = tuple(_phrases())
_RANK = {"how_are_you": 3, "presence": 2, "hello": 1}


def small_talk(text: str) -> str | None:
    """What kind of small talk the whole utterance is, or None if it says anything else."""
    words = normalize_asr(text).split()
    found: set[str] = set()
    i = 0
    while i < len(words):
        for phrase, kind in _PHRASES:
            if tuple(words[i:i + len(phrase)]) == phrase:
                found.add(kind)
                i += len(phrase)
                break
        else:
            if words[i] not in FILLER:
                return None
            i += 1
    return max(found, key=_RANK.__getitem__) if found else None
