"""Recognition bias from an Expectation: Whisper prompts and Vosk grammars for the expected slot."""

from __future__ import annotations

import logging

from .expectation import Expectation

log = logging.getLogger(__name__)

DIGIT_WORDS: tuple[str, ...] = tuple("zero one two three four five six seven eight nine".split())
MONTHS: tuple[str, ...] = tuple(
    "january february march april may june july august september october november december".split()
)
WEEKDAYS: tuple[str, ...] = tuple("monday tuesday wednesday thursday friday saturday sunday".split())
ORDINALS: tuple[str, ...] = tuple(
    (
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
        "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth "
        "thirtieth"
    ).split()
)
YES_NO_WORDS: tuple[str, ...] = (
    "yes", "no", "yeah", "yep", "nope", "correct", "right", "that's right", "sure", "okay", "not",
)
NUMBER_WORDS: tuple[str, ...] = DIGIT_WORDS + tuple(
    (
        "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty "
        "thirty forty fifty sixty seventy eighty ninety hundred thousand oh"
    ).split()
)
DATE_SLOTS = frozenset({"date", "datetime"})
DIGIT_SLOTS = frozenset({"digits", "phone_number"})

DEFAULT_BASE_PROMPT = (
    "Hello. I'd like to book an appointment, please. Can I reschedule or cancel my appointment?"
)


def _is_digits(e: Expectation) -> bool:
    return e.digits_length is not None or e.slot_type in DIGIT_SLOTS


def whisper_prompt(expectation: Expectation | None, base_prompt: str | None = DEFAULT_BASE_PROMPT) -> str | None:
    """The ``initial_prompt`` that biases Whisper toward the expected slot (``base_prompt`` for
    free speech). Digits are written as words, which keeps Whisper from writing "4.5.6.7"."""
    e = expectation
    if e is None:
        return base_prompt
    if e.yes_no:
        return "Yes. No. Yeah, that's right. No, thank you."
    if e.spelling:
        return "It's spelled S, M, I, T, H. D, M, I, T, R, I."
    if e.choices:
        spoken = [c.replace("_", " ") for c in e.choices[:8]]
        return "I'd like " + ", or ".join(spoken) + ", please."
    if _is_digits(e):
        if e.slot_type == "phone_number":
            return "My number is five five five, one two three, four five six seven."
        return "Digits: zero one two three four five six seven eight nine. Four five six seven."
    # natural sentences: a bare list of month and day names makes Whisper stop at once
    if e.slot_type in DATE_SLOTS:
        return "Next Tuesday. Or Friday, January fifteenth."
    if e.slot_type == "time":
        return "At nine in the morning, or three thirty in the afternoon."
    if e.slot_type == "money":
        return "Three hundred twenty five dollars and fifty cents."
    if e.slot_type == "person_name":
        return "My name is Jane Smith."
    if e.slot_type == "number":  # bench/slot_recognition.py: 35 -> 46 % parse-exact over the base prompt
        return "The caller says how many."
    return base_prompt


def vosk_vocabulary(expectation: Expectation | None) -> list[str] | None:
    """Phrases for a Vosk grammar restricted to the expected slot, or None for free speech.

    Returns words/phrases as given (the recogniser drops the ones its model lacks) plus
    "[unk]" so out-of-grammar speech does not get forced onto a slot word."""
    e = expectation
    if e is None:
        return None
    words: list[str]
    if e.choices:
        words = [c.lower() for c in e.choices]
        if e.yes_no:
            words += list(YES_NO_WORDS)
    elif e.yes_no:
        words = list(YES_NO_WORDS)
    elif _is_digits(e):
        words = list(DIGIT_WORDS) + ["oh", "double", "triple"]
    elif e.slot_type in DATE_SLOTS:
        words = list(MONTHS + WEEKDAYS + ORDINALS + NUMBER_WORDS) + [
            "today", "tomorrow", "next", "this", "week", "the", "of", "on", "at", "a m", "p m",
        ]
    elif e.slot_type == "time":
        words = list(NUMBER_WORDS) + ["a m", "p m", "noon", "morning", "afternoon", "at", "o'clock"]
    else:
        return None
    seen: dict[str, None] = dict.fromkeys(words)
    return [*seen, "[unk]"]



# Words a caller wraps around a slot value ("my number is ...", "it's ...", "um, at ...").
CARRIER_WORDS: tuple[str, ...] = tuple(
    "my it's it is that's at on the a please".split()
)
_SLOT_WORDS: dict[str, tuple[str, ...]] = {
    "digits": DIGIT_WORDS + ("oh", "double", "triple", "number", "area", "code", "last", "digits", "are"),
    "date": MONTHS + WEEKDAYS + ORDINALS + NUMBER_WORDS + (
        "today", "tomorrow", "next", "this", "week", "of", "day", "after", "how", "about", "maybe", "would", "be",
        "great", "good", "fine", "works", "in", "morning", "afternoon"),
    "time": NUMBER_WORDS + ("a.m.", "p.m.", "am", "pm", "noon", "midday", "morning", "afternoon", "evening",
                            "in", "o'clock", "half", "past", "quarter", "to", "around", "about", "maybe", "would", "be",
                            "great", "good", "fine", "works"),
    "number": NUMBER_WORDS + ("of", "us", "people", "person", "guests", "guest", "adults", "children", "kids",
                              "night", "nights", "just", "only", "we", "are", "there", "will", "be", "me", "myself",
                              "couple", "room", "rooms", "total", "in"),
    "spelling": tuple("abcdefghijklmnopqrstuvwxyz") + (
        "double", "as", "in", "for", "apostrophe", "hyphen", "dash", "spelled", "spell", "name", "last", "first",
        "is", "that's", "it's"),
    "yes_no": YES_NO_WORDS + ("thank", "thanks", "you", "that's", "go", "ahead", "wrong", "exactly",
                              "absolutely", "of", "course", "definitely", "really", "keep", "cancel", "do", "fine",
                              "good", "perfect", "please"),
}


def constrained_words(expectation: Expectation | None) -> tuple[str, ...] | None:
    """The words a constrained decode may write for the expected slot, or None (free speech,
    names, free text). Unlike a Vosk grammar there is no "[unk]": the constrained decode is one
    more hypothesis next to the free ones, taken only when the free ones do not answer the slot
    (bench/slot_recognition.py measures both the gain and the answers it invents)."""
    e = expectation
    if e is None:
        return None
    if e.spelling:
        return _SLOT_WORDS["spelling"]  # no carrier words: "a" and "the" would read as letters
    if e.yes_no:
        words = _SLOT_WORDS["yes_no"]
    elif e.choices:
        words = tuple(w for c in e.choices for w in c.lower().replace("_", " ").split()) + (
            "an", "with", "want", "need", "doctor", "dr", "room", "visit", "appointment")
    elif _is_digits(e):
        words = _SLOT_WORDS["digits"]
    elif e.slot_type in DATE_SLOTS:
        words = _SLOT_WORDS["date"]
    elif e.slot_type in ("time", "number"):
        words = _SLOT_WORDS[e.slot_type]
    else:
        return None
    return tuple(dict.fromkeys(words + CARRIER_WORDS))


def needs_full_window(expectation: Expectation | None, slot_types: frozenset[str] | set[str]) -> bool:
    """Whether this turn is decoded with Whisper's full 30 s window: for the slot types
    configured (CALLFLOWS_STT_FULL_WINDOW_SLOTS). Dates, names and phone numbers come out far
    better that way (bench/speech_quality.py: date WER 0.10 vs 0.32, names 0.11 vs 0.50) but
    each decode costs about 3 times more CPU, which at 8 simultaneous calls pushed p95 latency
    from 0.6 s to 2.7 s here when every date, name and number turn used it; so the default
    (``Settings``) is phone numbers only: their turns wait long for the caller anyway, and the
    full window took parse-exact numbers from 27 to 47 % (bench/slot_recognition.py, 2026-12-03)."""
    return expectation is not None and expectation.slot_type in slot_types
