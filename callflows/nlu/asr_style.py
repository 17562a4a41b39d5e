"""Make typed text look like a phone speech recogniser's output.

    to_asr("My card for $25 arrived on March 5th at 3:30pm?")
    -> "my card for twenty five dollars arrived on march fifth at three thirty pm"

Rules (deterministic part, always applied):
- lower case; punctuation dropped (apostrophes inside words kept: "don't", "o'clock");
- money: "$25" / "25$" -> "twenty five dollars", "$25.50" -> "twenty five dollars and fifty cents",
  "£"/"€" and "pounds"/"euros" likewise;
- clock times: "3:30" -> "three thirty", "9:05" -> "nine oh five", "3:00 pm" -> "three pm",
  "16:00" -> "sixteen hundred", "3pm" / "3 p.m." -> "three pm";
- ordinals: "5th" -> "fifth", "21st" -> "twenty first";
- years 1900..2099 (four digits) -> "nineteen eighty five", "twenty twenty two";
- other digit strings: five or more digits, a leading zero, or four digits that are not a year
  and not an amount -> digit by digit ("4567" -> "four five six seven"); otherwise cardinal words
  ("25" -> "twenty five"); decimals -> "two point five";
- "%" -> "percent", "&" -> "and", "@" -> "at".

Optional noise (seeded `random.Random`, never inside a labelled span, so span labels stay true):
- fillers ("uh", "um", "you know", "like", "so", "well", "i mean") at the start or between words;
- recognition errors: near-homophone substitutions (card -> cart, pin -> pen, there -> their ...),
  dropped function words, "want to" -> "wanna", repeated words.

`to_asr_spans(text, spans)` converts text with labelled character spans and returns the new text
with the spans mapped onto it (each span converted on its own).
"""

from __future__ import annotations

import random
import re
from typing import Sequence

from callflows.speech.textnorm import digits_words, number_words, ordinal_words, year_words

Span = tuple[str, int, int]

_CURRENCY_SIGN = {"$": "dollar", "£": "pound", "€": "euro"}
_CURRENCY_WORDS = ("dollar", "dollars", "pound", "pounds", "euro", "euros", "quid", "bucks", "usd", "gbp", "eur")
_MERIDIEM = r"(a\.?\s?m\.?|p\.?\s?m\.?)(?![a-z])"

FILLERS = ("uh", "um", "uh", "um", "you know", "like", "so", "well", "i mean")
CONFUSIONS = {
    "card": ["cart", "car"], "cards": ["carts"], "pin": ["pen", "pim"], "there": ["their"], "their": ["there"],
    "your": ["you're"], "you're": ["your"], "account": ["a count"], "accounts": ["a counts"],
    "the": ["a", "uh"], "a": ["the", "uh"], "and": ["an", "in"], "in": ["and"], "my": ["by", "mine"],
    "check": ["cheque", "chuck"], "would": ["wood"], "i'd": ["i"], "i'm": ["i am", "um"], "it's": ["its", "is"],
    "is": ["his"], "top": ["stop"], "transfer": ["transfers"], "cash": ["catch"], "phone": ["foam"],
    "app": ["up"], "hotel": ["hotels"], "room": ["rooms"], "book": ["look"], "appointment": ["a point meant"],
    "cancel": ["cancer"], "dentist": ["dentists"], "please": ["pleas"], "what": ["what's"], "why": ["y"],
}
DROPPABLE = frozenset({"the", "a", "to", "is", "of", "my", "and", "do", "it", "for", "an", "that"})


def _money_words(amount: str, unit: str) -> str:
    amount = amount.replace(",", "")
    if "." in amount:
        whole, frac = amount.split(".", 1)
        whole_n = int(whole or 0)
        cents = int((frac + "0")[:2])
    else:
        whole_n, cents = int(amount), 0
    plural = "" if whole_n == 1 else "s"
    out = f"{number_words(whole_n)} {unit}{plural}"
    if cents:
        out += f" and {number_words(cents)} cent{'' if cents == 1 else 's'}"
    return out


def _clock(h: int, m: int, mer: str | None) -> str:
    suffix = f" {mer[0]}m" if mer else ""
    if m == 0:
        if mer or h <= 12:
            return f"{number_words(h)}{suffix}" if h else f"zero hundred{suffix}"
        return f"{number_words(h)} hundred"
    mins = f"oh {number_words(m)}" if m < 10 else number_words(m)
    return f"{number_words(h)} {mins}{suffix}"


def _number(digits: str, following: str) -> str:
    if len(digits) == 4 and 1900 <= int(digits) <= 2099 and not _followed_by_currency(following):
        return year_words(int(digits))
    if len(digits) >= 5 or (len(digits) > 1 and digits[0] == "0") or (len(digits) == 4 and not _followed_by_currency(following)):
        return digits_words(digits)
    return number_words(int(digits))


def _followed_by_currency(following: str) -> bool:
    word = following.strip().split(" ", 1)[0].strip(".,!?") if following.strip() else ""
    return word in _CURRENCY_WORDS


def _ordinal(n: int) -> str:
    return ordinal_words(n) if 0 < n < 100 else number_words(n) + "th"


def spoken_form(text: str) -> str:
    """The deterministic conversion only (no fillers, no errors)."""
    t = text.lower()
    t = re.sub(r"[\u2018\u2019\u02bc`´]", "'", t)
    t = re.sub(r"[\u2010-\u2015]", "-", t)
    t = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", t)
    # money with a sign before or after
    t = re.sub(r"([$£€])\s?(\d+(?:\.\d{1,2})?)", lambda m: " " + _money_words(m[2], _CURRENCY_SIGN[m[1]]) + " ", t)
    t = re.sub(r"(\d+(?:\.\d{1,2})?)\s?([$£€])", lambda m: " " + _money_words(m[1], _CURRENCY_SIGN[m[2]]) + " ", t)
    t = re.sub(r"(\d+(?:\.\d{1,2})?)\s?(usd|dollars?|bucks)\b", lambda m: " " + _money_words(m[1], "dollar") + " ", t)
    t = re.sub(r"(\d+(?:\.\d{1,2})?)\s?(gbp|pounds?|quid)\b", lambda m: " " + _money_words(m[1], "pound") + " ", t)
    t = re.sub(r"(\d+(?:\.\d{1,2})?)\s?(eur|euros?)\b", lambda m: " " + _money_words(m[1], "euro") + " ", t)
    # clock times
    t = re.sub(r"\b([01]?\d|2[0-3])[:.]([0-5]\d)\s*" + _MERIDIEM,
               lambda m: " " + _clock(int(m[1]), int(m[2]), m[3].replace(".", "").replace(" ", "")) + " ", t)
    t = re.sub(r"\b([01]?\d|2[0-3]):([0-5]\d)\b", lambda m: " " + _clock(int(m[1]), int(m[2]), None) + " ", t)
    t = re.sub(r"\b(1[0-2]|0?\d)\s*" + _MERIDIEM,
               lambda m: " " + _clock(int(m[1]), 0, m[2].replace(".", "").replace(" ", "")) + " ", t)
    t = t.replace('o"clock', "o'clock")
    t = re.sub(r"\b([01]?\d|2[0-3]) (0\d)\b",
               lambda m: " " + number_words(int(m[1])) + (" o'clock" if m[2] == "00" else " oh " + number_words(int(m[2]))) + " ", t)
    # ordinals, decimals, plain numbers
    t = re.sub(r"\b(\d+)\s?(st|nd|rd|th)\b", lambda m: " " + _ordinal(int(m[1])) + " ", t)
    t = re.sub(r"\b(\d+)\.(\d+)\b", lambda m: " " + number_words(int(m[1])) + " point " + digits_words(m[2]) + " ", t)
    t = re.sub(r"\d+", lambda m: " " + _number(m[0], t[m.end():m.end() + 12]) + " ", t)
    t = t.replace("%", " percent ").replace("&", " and ").replace("@", " at ").replace("+", " plus ")
    t = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", t)
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    return " ".join(t.split())


class AsrStyler:
    """Seeded converter: `styler(text)` -> ASR-like text with optional fillers and errors."""

    def __init__(self, seed: int = 0, fillers: float = 0.0, errors: float = 0.0):
        self.rng = random.Random(seed)
        self.fillers = fillers
        self.errors = errors

    def _noisy(self, words: list[str], at_start: bool) -> list[str]:
        rng = self.rng
        out: list[str] = []
        i = 0
        while i < len(words):
            w = words[i]
            if self.fillers and (i > 0 or at_start) and rng.random() < self.fillers / 2:
                out += rng.choice(FILLERS).split()
            if self.errors and rng.random() < self.errors:
                kind = rng.random()
                if w == "want" and i + 1 < len(words) and words[i + 1] == "to":
                    out.append("wanna")
                    i += 2
                    continue
                if kind < 0.6 and w in CONFUSIONS:
                    out += rng.choice(CONFUSIONS[w]).split()
                    i += 1
                    continue
                if kind < 0.85 and w in DROPPABLE:
                    i += 1
                    continue
                if kind >= 0.85 and len(w) > 2:
                    out += [w, w]
                    i += 1
                    continue
            out.append(w)
            i += 1
        return out

    def __call__(self, text: str) -> str:
        return self.convert_spans(text, [])[0]

    def convert_spans(self, text: str, spans: Sequence[Span]) -> tuple[str, list[Span]]:
        """Convert text whose labelled [start, end) spans must survive; returns (text, new spans)."""
        spans = sorted(spans, key=lambda s: s[1])
        pieces: list[tuple[str | None, str]] = []
        pos = 0
        for label, start, end in spans:
            if start < pos:  # overlapping span: skip it
                continue
            pieces.append((None, text[pos:start]))
            pieces.append((label, text[start:end]))
            pos = end
        pieces.append((None, text[pos:]))
        words: list[str] = []
        new_spans: list[Span] = []
        length = 0
        for label, piece in pieces:
            piece_words = spoken_form(piece).split()
            if label is None:
                piece_words = self._noisy(piece_words, at_start=not words)
            if not piece_words:
                continue
            start = length + (1 if words else 0)
            words += piece_words
            length = start + len(" ".join(piece_words))
            if label is not None:
                new_spans.append((label, start, length))
        if self.fillers and words and self.rng.random() < self.fillers:
            filler = self.rng.choice(FILLERS).split()
            shift = len(" ".join(filler)) + 1
            words = filler + words
            new_spans = [(lab, s + shift, e + shift) for lab, s, e in new_spans]
        return " ".join(words), new_spans


def to_asr(text: str, seed: int | None = None, fillers: float = 0.0, errors: float = 0.0) -> str:
    """ASR-style text; with fillers/errors > 0 the noise is drawn from Random(seed)."""
    if not fillers and not errors:
        return spoken_form(text)
    return AsrStyler(seed or 0, fillers, errors)(text)


def to_asr_spans(text: str, spans: Sequence[Span], seed: int | None = None, fillers: float = 0.0,
                 errors: float = 0.0) -> tuple[str, list[Span]]:
    return AsrStyler(seed or 0, fillers, errors).convert_spans(text, spans)
