"""Whether a caller's words are shaped as a question ("where can i park", "is there parking").

Inside a form, the bot has just asked for a value. On a phone line an answer the recogniser
garbled ("six two seven, nine three six" heard as "six group and we're now in the free pick")
can still land near a knowledge-file question, and answering that FAQ instead of asking again
derails the form. A caller who really asks something mid-form asks it as a question, so the
form answers an FAQ only when the words are shaped as one, and never when they carry the digits
the form asked for."""

from __future__ import annotations

# words a caller puts before the question itself ("oh, and where do i park")
_LEAD_INS = frozenset(
    "um uh er erm oh ah and so also but well okay ok hi hello hey sorry actually just quick "
    "yes yeah no".split()
)
_OPENERS = frozenset(
    "what what's whats where where's wheres when when's how how's which who who's why whose "
    "is isn't are aren't was were do does doesn't did can can't could will would should may "
    "might any anything have has tell".split()
)
_ASKING_PHRASES = (
    ("i", "was", "wondering"), ("i'm", "wondering"), ("i", "want", "to", "know"),
    ("i'd", "like", "to", "know"), ("i", "need", "to", "know"), ("a", "question"),
)
_DIGIT_WORDS = frozenset("zero oh one two three four five six seven eight nine".split())


def asks_a_question(text: str) -> bool:
    """True when `text` (normalised words) opens like a question, after any lead-in words, or
    says it asks one ("i was wondering ...", "a question about ...")."""
    words = text.lower().replace("?", " ").replace(",", " ").split()
    for i in range(len(words)):
        for phrase in _ASKING_PHRASES:
            if tuple(words[i:i + len(phrase)]) == phrase:
                return True
    content = [w for w in words if w not in _LEAD_INS]
    return bool(content) and content[0] in _OPENERS


def carries_digits(text: str, at_least: int = 3) -> bool:
    """True when `text` holds `at_least` digits, as figures or spoken digit words."""
    count = 0
    for word in text.lower().replace(",", " ").split():
        count += sum(ch.isdigit() for ch in word) or (word in _DIGIT_WORDS)
    return count >= at_least
