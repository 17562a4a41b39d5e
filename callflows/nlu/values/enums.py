"""Choices from a fixed list: choices = {canonical: [synonyms]}.

Each canonical name (also with '_' read as a space) and each synonym is normalised with
normalize_asr and matched as whole words. Overlapping matches: the longest phrase wins (then
the leftmost, then the first listed); values come back in text order, one per occurrence.

When nothing matches exactly, one word heard close to a distinctive one-word choice counts
(rapidfuzz ratio >= FUZZY_MIN, both words at least FUZZY_LEN letters): a phone line turns
"Dr. Garcia" into "Dr. Narcia" and "whitening" into "widening". Short words never do ("twin",
"any"), nor words far in length.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from .model import Value
from .normalize import normalize_asr, tokenize

FUZZY_MIN = 80.0
FUZZY_LEN = 5


def _phrases(choices: dict[str, list[str]]) -> list[tuple[tuple[str, ...], str]]:
    phrases: list[tuple[tuple[str, ...], str]] = []
    for canonical, synonyms in choices.items():
        for phrase in (canonical, canonical.replace("_", " "), *synonyms):
            words = tuple(normalize_asr(phrase).split())
            if words and (words, canonical) not in phrases:
                phrases.append((words, canonical))
    return phrases


def extract_enum(text: str, choices: dict[str, list[str]]) -> list[Value]:
    """Enum values in normalised text."""
    tokens = tokenize(text)
    words = [t.text for t in tokens]
    hits: list[tuple[int, int, int, str]] = []  # (-length, start token, order, canonical)
    for order, (phrase, canonical) in enumerate(_phrases(choices)):
        size = len(phrase)
        for i in range(len(words) - size + 1):
            if tuple(words[i:i + size]) == phrase:
                hits.append((-size, i, order, canonical))
    taken: set[int] = set()
    chosen: list[tuple[int, int, str]] = []
    for neg_size, i, _order, canonical in sorted(hits):
        span = range(i, i - neg_size)
        if not taken.intersection(span):
            taken.update(span)
            chosen.append((i, i - neg_size, canonical))
    near = None if chosen else _near_miss(words, _phrases(choices))
    if near:
        chosen = [near]
    values = []
    for i, j, canonical in sorted(chosen):
        start, end = tokens[i].start, tokens[j - 1].end
        # a near miss is marked: weaker evidence, that never replaces a value a summary holds
        values.append(Value("enum", canonical, start, end, text[start:end], {"near": True} if near else {}))
    return values


def _near_miss(words: list[str], phrases: list[tuple[tuple[str, ...], str]]) -> tuple[int, int, str] | None:
    """The one word closest to a one-word choice, if close enough (see the module docstring)."""
    best: tuple[float, int, str] | None = None
    for phrase, canonical in phrases:
        if len(phrase) != 1 or len(phrase[0]) < FUZZY_LEN:
            continue
        for i, word in enumerate(words):
            if len(word) < FUZZY_LEN or abs(len(word) - len(phrase[0])) > 2:
                continue
            score = fuzz.ratio(word, phrase[0])
            if score >= FUZZY_MIN and (best is None or score > best[0]):
                best = (score, i, canonical)
    return (best[1], best[1] + 1, best[2]) if best else None
