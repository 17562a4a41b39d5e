"""What to keep of the teacher's output.

- intent utterances: not a copy of a seed or of one another (normalised), plausible length, and
  the seed classifier (TF-IDF on the flow's own examples) ranks the intended intent in its top k,
  or, when asked (`verify_with_teacher`), the teacher labels it the same way again;
- slot answers: the phrase is in the answer and the value parser reads the intended value back
  from it (round-trip parse); the span is where the parser found it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any, Sequence

from callflows.flow.spec import FlowSpec
from callflows.nlu.classifier import TfidfIntentClassifier
from callflows.nlu.pipeline import slot_options
from callflows.nlu.values import ParseContext, extract, normalize_asr

_WORDS = re.compile(r"[a-z0-9']+")


def key(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


class IntentFilter:
    def __init__(self, seed_texts: Sequence[str], seed_labels: Sequence[str], top_k: int = 3):
        self.classifier = TfidfIntentClassifier().fit([normalize_asr(t) for t in seed_texts], list(seed_labels))
        self.top_k = top_k
        self.seen = {key(t) for t in seed_texts}

    def keep(self, text: str, intent: str) -> tuple[bool, str]:
        k = key(text)
        words = k.split()
        if not 2 <= len(words) <= 30:
            return False, "length"
        if k in self.seen:
            return False, "duplicate"
        ranked = [s.intent for s in self.classifier.rank(normalize_asr(text), top=self.top_k)]
        if intent not in ranked:
            return False, "seed_classifier_disagrees"
        self.seen.add(k)
        return True, "ok"


def parse_back(flow: FlowSpec, slot: str, text: str, expected: Any, now: datetime) -> tuple[int, int] | None:
    """The span (in normalise_asr(text)) where the slot's parser finds `expected`, else None."""
    spec = flow.slots[slot]
    ctx = ParseContext(now=now, business_hours=flow.settings.business_hours)
    if spec.type in ("date", "datetime"):
        ctx = replace(ctx, prefer=spec.prefer)
    try:
        values = extract(spec.type, normalize_asr(text), ctx, **slot_options(spec))
    except (ValueError, TypeError):
        return None
    for v in values:
        if _same(v.value, expected):
            return v.start, v.end
    return None


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, str) and isinstance(got, str):
        return got.lower() == expected.lower()
    return got == expected
