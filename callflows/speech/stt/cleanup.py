"""Clean-up of a decoder's text: loops ("yeah yeah yeah ...") and repeated sentences that a
short decoding window makes Whisper write."""

from __future__ import annotations

import re

_DIGIT_WORDS = frozenset("zero oh one two three four five six seven eight nine".split()) | frozenset("0123456789")
MAX_DIGIT_REPEATS = 9
"""A digit may be said many times in a row ("five five five five" in 555-5019, "1111"): a loop
of one digit is cut only past this many (a decoder loop runs for dozens)."""


def drop_repeats(text: str, max_repeats: int = 3) -> str:
    """Cut a decoder loop ("yeah yeah yeah yeah ...", a phrase said over and over) after
    `max_repeats` copies (`MAX_DIGIT_REPEATS` for a single digit)."""
    original = text.split()
    words = [w.strip(".,!?;:").lower() for w in original]
    for size in range(1, 9):
        if len(words) < size * (max_repeats + 1):
            break
        for start in range(0, len(words) - size * (max_repeats + 1) + 1):
            unit = words[start:start + size]
            reps = 1
            while words[start + reps * size:start + (reps + 1) * size] == unit:
                reps += 1
            limit = MAX_DIGIT_REPEATS if size == 1 and unit[0] in _DIGIT_WORDS else max_repeats
            if reps > limit:
                return " ".join(original[: start + size * limit])
    return text


MAX_WORDS_PER_VOICED_SECOND = 4.5
"""Faster than callers speak, counted over the voiced 20 ms frames only (pauses excluded): a
quick caller reads digits at about 3 a second of voice, Whisper's doubled phrase comes out at 5+."""


def drop_unspoken_repeat(text: str, voiced_ms: int, max_rate: float = MAX_WORDS_PER_VOICED_SECOND) -> str:
    """"Four five six seven four five six seven" from 1.5 s of voice -> "Four five six seven".

    A short decoding window sometimes makes Whisper write the whole utterance twice (or more)
    in one sentence, which ``drop_repeats`` keeps (two copies are not a loop) and
    ``collapse_sentences`` does not see (no full stop between them). A real repeat ("one two
    one two") is kept: only a text with more words than the voiced audio can hold is cut back
    to one copy.
    """
    original = text.split()
    words = [w.strip(".,!?;:").lower() for w in original]
    if voiced_ms <= 0 or len(words) / (voiced_ms / 1000.0) <= max_rate:
        return text
    for size in range(1, len(words) // 2 + 1):
        if len(words) % size:
            continue
        if all(words[i:i + size] == words[:size] for i in range(size, len(words), size)):
            kept = " ".join(original[:size]).rstrip(",;:")
            return kept + text.rstrip()[-1] if text.rstrip()[-1:] in ".!?" and kept[-1:] not in ".!?" else kept
    return text


def collapse_sentences(text: str) -> str:
    """"Yeah. Yeah. Yeah." -> "Yeah.": a short decoding window makes Whisper repeat a sentence."""
    parts = re.findall(r"[^.!?]+[.!?]?", text)
    out: list[str] = []
    for part in parts:
        key = re.sub(r"[^a-z0-9 ]", "", part.lower()).strip()
        last = re.sub(r"[^a-z0-9 ]", "", out[-1].lower()).strip() if out else ""
        if out and key and (key == last or (last.startswith(key + " ") or last == key)):
            continue  # the same sentence again, or its beginning cut off by the token budget
        out.append(part)
    return " ".join(p.strip() for p in out if p.strip())
