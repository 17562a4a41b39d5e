"""Affirm / deny in its spoken forms.

Phrases are matched as whole words, longest first, left to right. Two strengths:
- clear cues count anywhere: yes, yeah, yep, yup, uh huh, absolutely, definitely, of course,
  sounds good, go ahead, please do, that works, that's right/correct, i think so; nope, nah,
  uh-uh, negative, incorrect, no thanks, not really, not quite, that's wrong, that's not right,
  i don't think so, no way, not at all ...;
- context cues count only as the first words of the utterance or when it has at most three
  words: no, right, correct, wrong, sure, ok, okay, alright, fine, good, great, perfect, exactly,
  i do, i don't ... (so "no idea what time" or "right after lunch" do not answer).
Neutral phrases ("no idea", "not sure", "i don't know", "right now", "maybe") are skipped.
An affirm cue right after a negator (not, don't, isn't, wasn't, doesn't, didn't, never) denies.
Result: True if every counted cue affirms, False if every one denies ("no, wednesday" -> False),
None when there is none or they disagree ("yeah no", "yes no").

With the `question` the bot asked (its last sentence ending in "?" counts), the answer's words that
repeat it are a restatement, not cues: "yes cancel it" to "Do you want me to cancel it?" affirms
("cancel" alone would deny), "no don't book it" denies. An answer that only restates the
question's action ("cancel it", "please book it") affirms, or denies with a negator ("don't
cancel it", "not correct").
"""

from __future__ import annotations

import re

from .normalize import normalize_asr

CLEAR_AFFIRM = (
    "yes", "yeah", "yea", "yep", "yup", "yah", "ya", "uh huh", "absolutely", "definitely",
    "affirmative", "of course", "sounds good", "sounds great", "sounds perfect", "go ahead",
    "please do", "that works", "that would work", "that'd work", "works for me", "that's right",
    "that is right", "that's correct", "that is correct", "that's it", "you got it", "you bet",
    "i think so", "sure thing", "certainly", "no problem", "no worries", "that's fine",
    "that's perfect", "that's good", "that's great", "yes please", "do it", "confirmed",
    "let's do it", "let's do that", "that's me", "i'm fine with that", "i'm good with that",
    "i'm okay with that", "i'm ok with that", "fine by me",
)
CLEAR_DENY = (
    "nope", "nah", "uh-uh", "negative", "incorrect", "no thanks", "no thank you", "not really",
    "not quite", "that's wrong", "that is wrong", "that's not right", "that is not right",
    "that isn't right", "that's not correct", "that is not correct", "that isn't correct",
    "i don't think so", "no way", "not at all", "that's not it", "that's incorrect",
    "that won't work", "that doesn't work", "doesn't work", "won't work", "not that",
)
CONTEXT_AFFIRM = (
    "right", "correct", "sure", "ok", "okay", "alright", "all right", "fine", "good", "great",
    "perfect", "exactly", "i do", "true",
)
CONTEXT_DENY = ("no", "wrong", "false", "never", "i don't", "i do not", "don't", "it's not", "it isn't", "cancel",
                "i'm fine", "i'm good", "i'm okay", "i'm ok", "i'm all right", "i'm alright")
NEUTRAL = (
    "no idea", "not sure", "i'm not sure", "i don't know", "don't know", "no clue", "right after",
    "right before", "right now", "no preference", "doesn't matter", "either", "maybe",
)
NEGATORS = frozenset({"not", "don't", "isn't", "wasn't", "doesn't", "didn't", "never", "won't"})


def _phrase_table() -> list[tuple[tuple[str, ...], bool | None, bool]]:
    """(words, affirms (None: neutral), clear) longest first."""
    table = [(tuple(p.split()), True, True) for p in CLEAR_AFFIRM]
    table += [(tuple(p.split()), False, True) for p in CLEAR_DENY]
    table += [(tuple(p.split()), True, False) for p in CONTEXT_AFFIRM]
    table += [(tuple(p.split()), False, False) for p in CONTEXT_DENY]
    table += [(tuple(p.split()), None, True) for p in NEUTRAL]
    return sorted(table, key=lambda row: -len(row[0]))


PHRASES = tuple(_phrase_table())


# words of a yes/no question that name no action: repeating only these restates nothing
QUESTION_WORDS = frozenset(
    "a an the it its this that these those is are was were be am do does did shall should will would "
    "can could may might i me my we us our you your to for with of on at in and or so want like "
    "there anything else".split()
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_ABBREVIATION = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|No|Mt)\.$")


def last_question(text: str) -> str:
    """The last sentence of `text` that ends with "?" ("Dr. Patel" does not end a sentence);
    the whole text if none does."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    asked = [s for s in sentences if s.rstrip().endswith("?")]
    return asked[-1] if asked else text


def _restatement(words: list[str], question: str) -> tuple[list[str], bool]:
    """The answer without the words that repeat the question, and whether an action word
    (not one of QUESTION_WORDS) was repeated."""
    qwords = set(normalize_asr(last_question(question)).split())
    kept = [w for w in words if w not in qwords]
    return kept, any(w in qwords and w not in QUESTION_WORDS for w in words)


def parse_yes_no(text: str, question: str | None = None) -> bool | None:
    """True for an affirmation, False for a denial or correction, None if unclear or mixed.
    `question`: what the bot asked, so a restatement of it is not read as a cue."""
    words = normalize_asr(text).split()
    restated = False
    if question:
        said = words
        words, restated = _restatement(words, question)
    short = len(words) <= 3
    polarities: set[bool] = set()
    i = 0
    while i < len(words):
        for phrase, affirms, clear in PHRASES:
            if tuple(words[i:i + len(phrase)]) == phrase:
                if affirms is not None and (clear or short or i == 0):
                    negated = affirms and i > 0 and words[i - 1] in NEGATORS
                    polarities.add(affirms and not negated)
                i += len(phrase)
                break
        else:
            i += 1
    if not polarities and restated:
        return not any(w in NEGATORS or w == "no" for w in said)
    return polarities.pop() if len(polarities) == 1 else None
