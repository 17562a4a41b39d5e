"""Normalise speech-recogniser or typed text, and split it into tokens with spans.

normalize_asr rules, in order:
- lower case; curly quotes and dashes made plain;
- "a.m."/"p.m." -> "am"/"pm"; "o clock", "o"clock" -> "o'clock"; "3pm" -> "3 pm"; "1,200" -> "1200";
  ISO "2026-12-01" -> "2026/12/01";
- "uh huh", "uh-huh", "mm hmm", "mhm" -> "uh huh" (an affirmation, kept); "uh-uh" -> "uh-uh" (a denial, kept);
- words cut off by the recogniser ("tu- tuesday") are dropped;
- punctuation becomes a space, except: ':', '/' and '.' between two digits, '$' before a digit,
  apostrophes between two letters ("o'neil", "that's", "o'clock");
- fillers are dropped: uh, um, umm, uhm, er, erm, ah, hmm, hm; "you know" (unless after
  do/did/does/don't/didn't/would/if/let); "like" unless it follows a word that makes it a verb
  (i, i'd, we, we'd, you, you'd, they, they'd, would, do, don't, does, doesn't, didn't, not, also, really);
- spaces collapsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FILLERS = frozenset({"uh", "um", "umm", "uhm", "uhh", "er", "erm", "ah", "hmm", "hm"})
LIKE_AS_VERB_AFTER = frozenset({
    "i", "i'd", "we", "we'd", "you", "you'd", "they", "they'd", "would", "do", "don't", "does",
    "doesn't", "didn't", "not", "also", "really",
})
YOU_KNOW_KEPT_AFTER = frozenset({"do", "did", "does", "don't", "didn't", "would", "if", "let"})

_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\u2018\u2019\u02bc`´]"), "'"),
    (re.compile(r"[\u2010-\u2015]"), "-"),
    (re.compile(r"\b([ap])\.\s?m\b\.?"), r"\1m"),
    (re.compile(r"\bo\s?[\"'\u201c\u201d]?\s?clock\b"), "o'clock"),
    (re.compile(r"(\d)(am|pm)\b"), r"\1 \2"),
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), r"\1/\2/\3"),
    (re.compile(r"\b(?:uh[\s-]*huh|mm[\s-]*hmm*|m+hm+|mm[\s-]*hm)\b"), "uh huh"),
    (re.compile(r"\b(?:uh-uh|uh-oh-no)\b"), "uh\x00uh"),
    (re.compile(r"(?<![\w'])[a-z]+-(?=\s|$)"), " "),
    (re.compile(r"&"), " and "),
    (re.compile(r"%"), " percent "),
)
_KEEP = re.compile(
    r"(?<=\d)[:/.](?=\d)"      # 3:30, 3/5/1985, 250.50
    r"|\$(?=\d)"               # $250
    r"|(?<=[a-z])'(?=[a-z])"   # o'neil, that's
    r"|[a-z0-9\x00]"
)


@dataclass(frozen=True)
class Token:
    """One whitespace-separated word of normalised text and its character span."""

    text: str
    start: int
    end: int


def _strip_punctuation(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _KEEP.finditer(text):
        if match.start() > pos:
            out.append(" ")
        out.append(match.group())
        pos = match.end()
    return "".join(out)


def _drop_fillers(words: list[str]) -> list[str]:
    kept: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        prev = kept[-1] if kept else ""
        if word == "uh" and i + 1 < len(words) and words[i + 1] == "huh":
            kept += ["uh", "huh"]
            i += 2
            continue
        if word in FILLERS:
            i += 1
            continue
        if word == "like" and prev not in LIKE_AS_VERB_AFTER:
            i += 1
            continue
        if word == "you" and i + 1 < len(words) and words[i + 1] == "know" and prev not in YOU_KNOW_KEPT_AFTER:
            i += 2
            continue
        kept.append(word)
        i += 1
    return kept


def normalize_asr(text: str) -> str:
    """Normalised form of one utterance (see the module docstring for the rules)."""
    text = text.lower()
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    text = _strip_punctuation(text)
    words = _drop_fillers(text.split())
    return " ".join(words).replace("\x00", "-")


def tokenize(text: str) -> list[Token]:
    """Whitespace tokens of (normalised) text with their character spans."""
    return [Token(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
