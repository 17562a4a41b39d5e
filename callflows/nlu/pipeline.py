"""Vertical NLU: intent ranking, slot-value candidates and FAQ matches for one utterance.

The intent model is the vertical's distilled student when one is built (callflows distill;
it also recognises out-of-scope requests and tags slot spans), else a TF-IDF classifier
trained on the flow's own examples. FAQ retrieval uses sentence embeddings when an embedder
is given (the student's own, so an utterance is encoded once).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from callflows.flow.spec import FlowSpec, SlotSpec
from callflows.nlu.builtin_intents import BUILTIN_INTENTS
from callflows.nlu.classifier import IntentClassifier, IntentScore, TfidfIntentClassifier
from callflows.nlu.faq import FaqIndex, FaqMatch
from callflows.nlu.keywords import KeywordMatcher
from callflows.nlu.smalltalk import small_talk
from callflows.nlu.values import ParseContext, Value, extract, normalize_asr, parse_yes_no

FAQ_INTENT = "faq"
OUT_OF_SCOPE = "out_of_scope"
GREET = "greet"  # greetings and small talk (callflows.nlu.smalltalk), never out of scope


@dataclass(frozen=True)
class NluResult:
    text: str  # normalised
    intent: str
    confidence: float
    ranking: tuple[IntentScore, ...]
    values: dict[str, list[Value]] = field(default_factory=dict)  # slot name -> candidates
    faq: FaqMatch | None = None
    yes_no: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 3),
            "ranking": [{"intent": s.intent, "confidence": round(s.confidence, 3)} for s in self.ranking],
            "slots": {name: [{"value": v.value, "text": v.text} for v in vals] for name, vals in self.values.items() if vals},
            "faq": {"id": self.faq.entry.id, "score": round(self.faq.score, 3)} if self.faq else None,
            "yes_no": self.yes_no,
        }


def slot_options(slot: SlotSpec) -> dict[str, Any]:
    """Keyword options the value parser takes for a slot."""
    if slot.type == "enum":
        return {"choices": {k: list(v) for k, v in slot.choices.items()}}
    if slot.type in ("digits", "reference") and slot.length:
        return {"length": slot.length}
    return {}


CLEAR_FAQ_SCORE = 0.8  # an FAQ match this close is taken even from words shaped as no question


def clear_faq_score(faq_threshold: float) -> float:
    """The FAQ retrieval score an utterance the student put out of scope needs to be answered from
    the knowledge file: a clear match (CLEAR_FAQ_SCORE, or the strict mid-form level of
    DialogueSession._is_faq if the flow's threshold makes that higher). Why 0.8 and not the
    mid-form 0.6: retrieval scores "how much food should i feed my cat" 0.69 against a dental
    clinic's prices and "how much do i owe on my bills" too (callflows/eval/vertical_oos.py)."""
    return max(CLEAR_FAQ_SCORE, faq_threshold * 1.5)


class VerticalNLU:
    """Built once per flow version (see callflows.verticals), shared by every call.

    `gate_faq`: when the student puts an utterance out of scope, keep only a clear FAQ match
    (`clear_faq_score`). Why: FAQ retrieval always finds a nearest entry, and a loose one ("how
    does a democracy work" -> the hotel gym's hours, 0.49) answered a quarter of the other-domain
    requests the hotel's student had rejected (callflows/eval/vertical_oos.py). Off only to measure
    the dialogue as it was."""

    def __init__(self, flow: FlowSpec, classifier: IntentClassifier | None = None, student: Any = None,
                 embedder: Any = None, gate_faq: bool = True):
        self.flow = flow
        self.student = student
        self.gate_faq = gate_faq
        if student is not None and embedder is None and getattr(student, "use_embeddings", False):
            embedder = student.embedder
        self.embedder = embedder
        self.faq_index = FaqIndex(flow.faq, embedder=embedder)
        self._keywords = [(intent.name, KeywordMatcher(intent.keywords))
                          for intent in flow.intents.values() if intent.keywords]
        self._hints = [(intent.name, KeywordMatcher(intent.hints)) for intent in flow.intents.values() if intent.hints]
        if student is not None:
            self.classifier: IntentClassifier = student
            return
        texts: list[str] = []
        labels: list[str] = []
        for name, examples in BUILTIN_INTENTS.items():
            texts += list(examples)
            labels += [name] * len(examples)
        for intent in flow.intents.values():
            examples = intent.examples or intent.keywords
            texts += [normalize_asr(e) for e in examples]
            labels += [intent.name] * len(examples)
        for entry in flow.faq:
            texts += [normalize_asr(q) for q in entry.questions]
            labels += [FAQ_INTENT] * len(entry.questions)
        self.classifier = (classifier or TfidfIntentClassifier()).fit(texts, labels)

    def _keyword_intent(self, norm: str, intent: str, confidence: float) -> tuple[str, float]:
        """A keyword said forces its intent; one misheard only when the classifier could not
        place the utterance (see callflows.nlu.keywords)."""
        for name, keywords in self._keywords:
            if keywords.said(norm):
                return name, 1.0
        if intent == OUT_OF_SCOPE or confidence < self.flow.settings.confidence_threshold:
            for name, keywords in self._keywords:
                if keywords.sounds_like(norm):
                    return name, max(confidence, self.flow.settings.confidence_threshold)
            hinted = {name for name, hints in self._hints if hints.said(norm)}
            if len(hinted) == 1:  # "i'd like to book a <misheard words>": the one task it can be
                return hinted.pop(), max(confidence, self.flow.settings.confidence_threshold)
        return intent, confidence

    def parse(self, text: str, ctx: ParseContext, slots: list[str] | None = None) -> NluResult:
        """Parse one caller utterance. `slots` limits value extraction (default: every slot)."""
        norm = normalize_asr(text)
        ranking = tuple(self.classifier.rank(norm)) if norm else (IntentScore("none", 0.0),)
        intent, confidence = ranking[0].intent, ranking[0].confidence
        intent, confidence = self._keyword_intent(norm, intent, confidence)
        chat = small_talk(norm)
        # "hi", "how are you"; a bare "thank you" the classifier hears as a goodbye stays one (the
        # dialogue ends the call on it at "anything else?", and answers it in a form)
        if intent not in self.flow.intents and chat is not None and not (chat == "thanks" and intent == "goodbye"):
            intent, confidence = GREET, 1.0
        values: dict[str, list[Value]] = {}
        for name in slots if slots is not None else list(self.flow.slots):
            spec = self.flow.slots.get(name)
            if spec is None or spec.type in ("any", "text", "yes_no"):
                continue
            slot_ctx = replace(ctx, prefer=spec.prefer) if spec.type in ("date", "datetime") else ctx
            found = extract(spec.type, norm, slot_ctx, **slot_options(spec))
            if found:
                values[name] = found
        if values and self.student is not None and getattr(self.student, "tagger", None):
            values = _prefer_tagged(values, self.student.tag(norm))
        vector = None
        if self.embedder is not None and self.faq_index.entries and norm:
            vector = (self.student._sentence_vectors([norm])[0] if self.student is not None
                      else self.embedder.encode([norm])[0])
        faq_hits = self.faq_index.search(norm, top=1, vector=vector)
        faq = faq_hits[0] if faq_hits else None
        if (faq is not None and self.gate_faq and self.student is not None and intent == OUT_OF_SCOPE
                and faq.score < clear_faq_score(self.flow.settings.faq_threshold)):
            faq = None  # rejected by the student and only loosely like an FAQ entry
        return NluResult(
            text=norm,
            intent=intent,
            confidence=confidence,
            ranking=ranking[:5],
            values=values,
            faq=faq,
            yes_no=parse_yes_no(norm),
        )


def _prefer_tagged(values: dict[str, list[Value]], spans: list[tuple[str, int, int]]) -> dict[str, list[Value]]:
    """Put first the candidates the student tagged as that slot (arrival vs departure date)."""
    if not spans:
        return values
    out = {}
    for name, found in values.items():
        mine = [(s, e) for slot, s, e in spans if slot == name]
        hit = lambda v: any(v.start < e and s < v.end for s, e in mine)  # noqa: E731
        out[name] = sorted(found, key=lambda v: not hit(v)) if mine else found
    return out
