"""FAQ retrieval over a vertical's knowledge file: TF-IDF cosine plus keyword hits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from callflows.flow.spec import FaqEntry

_STOP = frozenset("a an the is are do does you your i my me we to of for in on at it what how can".split())


@dataclass(frozen=True)
class FaqMatch:
    entry: FaqEntry
    score: float


class FaqIndex:
    """Scores every question of every entry; an entry's score is its best question's,
    raised by the share of its keywords the caller said."""

    def __init__(self, entries: Sequence[FaqEntry], keyword_weight: float = 0.35):
        self.entries = list(entries)
        self.keyword_weight = keyword_weight
        self._owner: list[int] = []
        texts: list[str] = []
        for i, entry in enumerate(self.entries):
            for q in entry.questions:
                texts.append(q.lower())
                self._owner.append(i)
        self._vectorizer: TfidfVectorizer | None = None
        if texts:
            self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
                                               stop_words=list(_STOP), token_pattern=r"(?u)\b\w+\b")
            self._matrix = self._vectorizer.fit_transform(texts)

    def search(self, text: str, top: int = 3) -> list[FaqMatch]:
        if not self._vectorizer or not text.strip():
            return []
        sims = (self._matrix @ self._vectorizer.transform([text.lower()]).T).toarray().ravel()
        best = np.zeros(len(self.entries))
        for row, owner in enumerate(self._owner):
            best[owner] = max(best[owner], sims[row])
        words = set(re.findall(r"[a-z']+", text.lower()))
        for i, entry in enumerate(self.entries):
            if entry.keywords:
                hits = sum(1 for k in entry.keywords if _keyword_in(k.lower(), text.lower(), words))
                if hits:
                    best[i] = min(1.0, best[i] + self.keyword_weight * (0.5 + 0.5 * hits / len(entry.keywords)))
        order = np.argsort(best)[::-1][:top]
        return [FaqMatch(self.entries[i], float(best[i])) for i in order if best[i] > 0]


def _keyword_in(keyword: str, text: str, words: set[str]) -> bool:
    if " " in keyword:
        return re.search(rf"\b{re.escape(keyword)}\b", text) is not None
    return keyword in words
