"""Intent keywords (flow.yaml `keywords:`): phrases that force an intent, said or misheard.

- A keyword matches as whole words, except that its last word is a stem: "bleed" matches
  "bleeding", "swoll" matches "swollen" (and "knocked out" matches "knocked out").
- Parts joined by " + " must all be said, anywhere and in any order, each as a stem:
  "stole + card" matches "i think somebody stole my debit card" and "my card, someone stole it".
  Such a keyword, looser than a phrase, counts only where near misses do (below).
- `sounds_like` also accepts a word the speech recogniser may have put in a keyword's place:
  the same consonant skeleton (first letter, then the consonants: "swollen" -> swln) for keyword
  words of four consonant sounds, or one edit apart after the same first two for five or more
  ("believing" blvng for "bleeding" bldng); shorter words must be said exactly. The
  pipeline uses it only when the classifier did not place the utterance (out of scope or low
  confidence), so a request the model understood is never taken over by a near miss.
"""

from __future__ import annotations

import re
from functools import lru_cache

_VOWELS = frozenset("aeiouy")
_SOUNDS = str.maketrans({"c": "k", "q": "k", "z": "s"})
_WORD = re.compile(r"[a-z0-9']+")
MIN_SKELETON = 4  # consonant sounds a keyword word needs before a near miss can stand for it


def _pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    phrases = [k.lower().strip() for k in keywords if k.strip() and "+" not in k]
    if not phrases:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(p) for p in phrases) + r")")


@lru_cache(maxsize=4096)
def skeleton(word: str) -> str:
    """The first letter and the following consonants, repeats collapsed: bleeding -> bldng."""
    word = word.lower().replace("ph", "f").replace("ck", "k").translate(_SOUNDS)
    if not word:
        return ""
    out = [word[0]]
    for ch in word[1:]:
        if ch in _VOWELS or not ch.isalpha() or ch == out[-1]:
            continue
        out.append(ch)
    return "".join(out)


def _within_one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) <= 1
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def _word_sounds_like(heard: str, word: str) -> bool:
    if heard == word or heard.startswith(word):
        return True
    key = skeleton(word)
    if len(key) < MIN_SKELETON:
        return False
    other = skeleton(heard)
    if len(key) == MIN_SKELETON:
        return other == key
    return other[:2] == key[:2] and _within_one_edit(other, key)


class KeywordMatcher:
    """The keywords of one intent."""

    def __init__(self, keywords: tuple[str, ...]):
        self.keywords = tuple(k.lower().strip() for k in keywords if k.strip())
        self._exact = _pattern(self.keywords)
        self._together = [[_pattern((part,)) for part in k.split("+")] for k in self.keywords if "+" in k]
        self._words = [tuple(_WORD.findall(k)) for k in self.keywords]

    def __bool__(self) -> bool:
        return bool(self.keywords)

    def said(self, text: str) -> bool:
        """A phrase keyword is in the (normalised) text, its last word possibly longer (a stem)."""
        return self._exact is not None and self._exact.search(text.lower()) is not None

    def sounds_like(self, text: str) -> str | None:
        """The keyword said, all parts of a " + " keyword said, or a phrase misheard word for
        word (see the module docstring); None if none."""
        if self.said(text):
            return next(k for k in self.keywords if "+" not in k and KeywordMatcher((k,)).said(text))
        text = text.lower()
        for keyword, parts in zip([k for k in self.keywords if "+" in k], self._together):
            if all(p is not None and p.search(text) for p in parts):
                return keyword
        heard = _WORD.findall(text)
        for keyword, words in zip(self.keywords, self._words):
            if "+" in keyword:
                continue
            n = len(words)
            for i in range(len(heard) - n + 1):
                if all(_word_sounds_like(h, w) for h, w in zip(heard[i:i + n], words)):
                    return keyword
        return None


def keywords_said(keywords: tuple[str, ...], text: str) -> bool:
    return KeywordMatcher(keywords).said(text)
