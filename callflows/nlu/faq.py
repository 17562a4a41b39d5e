"""FAQ retrieval over a vertical's knowledge file: sentence embeddings, TF-IDF and keywords.

An entry's score is its best question's: the larger of the TF-IDF cosine and the embedding
similarity (cosine rescaled so that unrelated sentences score 0 and paraphrases near 1), raised
by the share of its keywords the caller said (only when the question already resembles it, so
one shared word does not make an answer). The dialogue answers above the flow's
`faq_threshold` and otherwise says it is not sure and offers a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from callflows.flow.spec import FaqEntry

_STOP = frozenset("a an the is are do does you your i my me we to of for in on at it what how can s t ll re d ve m "
                  "which who there any have has get be if with this that or from about they will would could "
                  "should need want please just like so".split())
#: a keyword raises an entry only if the question is already somewhat like it
KEYWORD_MIN_BASE = 0.15
#: embedding cosine that means "unrelated" (score 0) and "same question" (score 1)
EMB_FLOOR, EMB_CEIL = 0.35, 0.85


@dataclass(frozen=True)
class FaqMatch:
    entry: FaqEntry
    score: float


class FaqIndex:
    def __init__(self, entries: Sequence[FaqEntry], keyword_weight: float = 0.35, embedder: Any = None):
        self.entries = list(entries)
        self.keyword_weight = keyword_weight
        self.embedder = embedder
        self._owner: list[int] = []
        texts: list[str] = []
        for i, entry in enumerate(self.entries):
            for q in entry.questions:
                texts.append(q.lower())
                self._owner.append(i)
        self._owner_arr = np.array(self._owner, dtype=int)
        self._vectorizer: TfidfVectorizer | None = None
        self._emb: np.ndarray | None = None
        if texts:
            self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
                                               stop_words=list(_STOP), token_pattern=r"(?u)\b\w+\b")
            self._matrix = self._vectorizer.fit_transform(texts)
            if embedder is not None:
                emb = np.asarray(embedder.encode(texts), dtype=np.float32)
                self._emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)

    def search(self, text: str, top: int = 3, vector: np.ndarray | None = None) -> list[FaqMatch]:
        """Best entries for `text`; `vector` is its sentence embedding if the caller has it already."""
        if not self._vectorizer or not text.strip():
            return []
        sims = (self._matrix @ self._vectorizer.transform([text.lower()]).T).toarray().ravel()
        if self._emb is not None:
            v = np.asarray(vector if vector is not None else self.embedder.encode([text])[0], dtype=np.float32).ravel()
            cos = self._emb @ (v / max(float(np.linalg.norm(v)), 1e-9))
            sims = np.maximum(sims, np.clip((cos - EMB_FLOOR) / (EMB_CEIL - EMB_FLOOR), 0.0, 1.0))
        best = np.zeros(len(self.entries))
        np.maximum.at(best, self._owner_arr, sims)
        words = set(re.findall(r"[a-z']+", text.lower()))
        for i, entry in enumerate(self.entries):
            if entry.keywords and best[i] >= KEYWORD_MIN_BASE:
                hits = sum(1 for k in entry.keywords if _keyword_in(k.lower(), text.lower(), words))
                if hits:
                    best[i] = min(1.0, best[i] + self.keyword_weight * (0.5 + 0.5 * hits / len(entry.keywords)))
        order = np.argsort(best)[::-1][:top]
        return [FaqMatch(self.entries[i], float(best[i])) for i in order if best[i] > 0]


def _keyword_in(keyword: str, text: str, words: set[str]) -> bool:
    if " " in keyword:
        return re.search(rf"\b{re.escape(keyword)}\b", text) is not None
    return keyword in words
