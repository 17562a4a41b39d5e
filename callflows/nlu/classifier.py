"""First intent classifier: TF-IDF word and character n-grams + logistic regression.

Good enough for one vertical's handful of intents; the distilled per-vertical student
models sit behind the same `IntentClassifier` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline


@dataclass(frozen=True)
class IntentScore:
    intent: str
    confidence: float


class IntentClassifier(Protocol):
    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "IntentClassifier": ...

    def rank(self, text: str, top: int = 5) -> list[IntentScore]: ...


class TfidfIntentClassifier:
    """Word (1-2) and character (2-5, word-bounded) TF-IDF features into a linear model."""

    def __init__(self, c: float = 8.0):
        self.c = c
        self._pipeline: Pipeline | None = None
        self._labels: np.ndarray | None = None

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "TfidfIntentClassifier":
        if len(set(labels)) < 2:
            raise ValueError("an intent classifier needs examples of at least two intents")
        features = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
        ])
        self._pipeline = Pipeline([
            ("features", features),
            ("model", LogisticRegression(C=self.c, max_iter=2000, class_weight="balanced")),
        ])
        self._pipeline.fit(list(texts), list(labels))
        self._labels = self._pipeline.classes_
        return self

    def rank(self, text: str, top: int = 5) -> list[IntentScore]:
        if self._pipeline is None or self._labels is None:
            raise RuntimeError("classifier is not trained")
        probs = self._pipeline.predict_proba([text])[0]
        order = np.argsort(probs)[::-1][:top]
        return [IntentScore(str(self._labels[i]), float(probs[i])) for i in order]
