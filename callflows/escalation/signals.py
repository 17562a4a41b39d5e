"""What the call tells us, turn by turn: an unsure NLU, re-prompts, out-of-scope requests,
a request for a person, frustration. Counts only; no caller text is kept."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from callflows.escalation.spec import SignalSettings
from callflows.nlu.smalltalk import small_talk

OUT_OF_SCOPE = "out_of_scope"
DEFAULT_FRUSTRATION = (
    "ridiculous", "useless", "stupid", "this is crazy", "fed up", "sick of", "frustrated", "frustrating",
    "annoyed", "annoying", "waste of time", "not helping", "unacceptable", "terrible", "worst",
    "you're not listening", "not listening", "are you kidding", "for god's sake", "what the hell",
)
DEFAULT_PERSON = (
    "talk to someone", "speak to someone", "talk to a person", "speak to a person", "real person",
    "a human", "talk to a human", "speak to a human", "an agent", "a representative", "an operator",
    "let me talk to", "put me through", "speak with someone", "talk with someone",
)


def phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    alts = sorted((re.escape(p.lower()).replace(r"\ ", r"\s+") for p in phrases), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alts) + r")\b")


def said_any(text: str, phrases: tuple[str, ...]) -> bool:
    pattern = phrase_pattern(phrases)
    return bool(pattern and pattern.search(text.lower().replace("’", "'")))


@dataclass
class Signals:
    low_confidence_streak: int = 0
    reprompts: int = 0
    out_of_scope: int = 0
    asked_for_person: int = 0
    frustration: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


class SignalTracker:
    """Updated once per caller turn, before the policy answers it."""

    def __init__(self, settings: SignalSettings, default_threshold: float):
        self.threshold = settings.low_confidence if settings.low_confidence is not None else default_threshold
        self._frustration = phrase_pattern(settings.frustration_words or DEFAULT_FRUSTRATION)
        self._person = phrase_pattern(settings.person_phrases or DEFAULT_PERSON)
        self.signals = Signals()

    def observe(self, nlu: object, source: str, misses: int, asks_person: bool, answering: bool = False) -> Signals:
        """`nlu` is the turn's NluResult; `misses` the policy's re-prompt count so far;
        `asks_person` whether the NLU's "human" intent is a request for a person here;
        `answering` whether a form's question was pending (the caller is answering it)."""
        s = self.signals
        text = str(getattr(nlu, "text", "") or "").lower().replace("’", "'")
        intent = getattr(nlu, "intent", None)
        confidence = float(getattr(nlu, "confidence", 1.0) or 0.0)
        understood = bool(getattr(nlu, "values", None)) or getattr(nlu, "yes_no", None) is not None
        # "out of scope" for an answer to the bot's question is a misheard answer ("hold them" for
        # "all of them"), not a request no flow covers: it counts as not understood
        misheard = answering and intent == OUT_OF_SCOPE
        if source != "dtmf" and (confidence < self.threshold or misheard) and not understood:
            s.low_confidence_streak += 1
        else:
            s.low_confidence_streak = 0
        s.reprompts = misses
        if intent == OUT_OF_SCOPE and not understood and not answering:  # an answer is never out of scope
            s.out_of_scope += 1
        # "am i talking to a real person?" asks what is speaking (small talk), not for a person
        if asks_person or (self._person is not None and self._person.search(text) and small_talk(text) is None):
            s.asked_for_person = 1
        if self._frustration is not None and self._frustration.search(text):
            s.frustration += 1
        return s
