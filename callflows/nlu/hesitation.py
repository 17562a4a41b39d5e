"""Hesitations and explicit goodbyes.

`hesitation(text)`: the whole (normalised) utterance only thinks aloud: "um what was it",
"uh", "hmm", "what was it again", "let me think", "good question". A classifier trained on
short goodbyes can score such an utterance as `goodbye` ("um what was it" came out at 0.52 in
the bank's model): it is never one; while a question waits, the bot asks it again gently.

`explicit_goodbye(text)`: the utterance says a goodbye word or phrase ("bye", "that's all",
"i have to go"). The dialogue ends a call on a `goodbye` intent only with such a word or a
high confidence (`GOODBYE_CONFIDENCE`).
"""

from __future__ import annotations

import re

from callflows.nlu.values import normalize_asr

GOODBYE_CONFIDENCE = 0.9  # a goodbye intent without a goodbye word ends the call only above this

HESITATIONS = (
    "what was it", "what was it again", "what is it again", "what's it again", "whats it again", "what is it",
    "let me think", "let me see", "let me remember", "let me recall", "let me think about it", "i'm thinking",
    "i am thinking", "just thinking", "thinking", "how does it go", "what's the word", "good question",
    "where was i", "now what was it", "oh what was it", "how did it go",
)
EXTRA_FILLERS = frozenset({"uh", "um", "umm", "uhm", "er", "erm", "hmm", "hm", "mm", "mmm", "ah", "eh", "oh", "well",
                           "so", "now", "again", "gosh", "jeez", "ooh", "okay", "ok"})
_PHRASES = sorted((tuple(p.split()) for p in HESITATIONS), key=lambda p: -len(p))

GOODBYE_WORDS = re.compile(
    r"\b(bye|goodbye|good bye|bye bye|that's all|that is all|that's it|that is it|that's everything|"
    r"that will be all|that'll be all|nothing else|i'm done|i am done|we're done|have a (nice|good|great) (day|one|evening)|"
    r"see you|see ya|take care|talk (to you )?later|hang up)\b"
    r"|\b(i|i've|i have|i've got|i got|i gotta|i need|i must) (to )?go( now)?( thanks| thank you| sorry| bye)*$")


def hesitation(text: str) -> bool:
    """Whether the utterance is only a hesitation (fillers alone count: "um", "hmm")."""
    words = normalize_asr(text).replace("-", " ").split()
    i = 0
    while i < len(words):
        phrase = next((p for p in _PHRASES if tuple(words[i:i + len(p)]) == p), None)
        if phrase:
            i += len(phrase)
        elif words[i] in EXTRA_FILLERS:
            i += 1
        else:
            return False
    return True


def explicit_goodbye(text: str) -> bool:
    """Whether the utterance says a goodbye word or phrase."""
    return bool(GOODBYE_WORDS.search(normalize_asr(text)))
