"""The teacher: a larger LLM that writes and labels caller utterances, with JSON-schema output."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Sequence

from callflows.llm.base import LLM, LLMError

logger = logging.getLogger(__name__)

SYSTEM = ("You write realistic things callers say on the phone to a {business} call center. "
          "Callers speak casually and briefly, sometimes with filler words, sometimes politely, "
          "sometimes abruptly. Answer with JSON only.")

_META = re.compile(r"^(sure|here (are|is)|as an ai|i cannot|example|utterance)\b", re.I)


@dataclass(frozen=True)
class TeacherStats:
    calls: int = 0
    seconds: float = 0.0
    completion_tokens: int = 0


def _list_schema(n: int) -> dict[str, Any]:
    return {"type": "object", "properties": {"utterances": {
        "type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 160},
        "minItems": max(1, n // 2), "maxItems": n}}, "required": ["utterances"]}


class Teacher:
    """Prompts for expansion and labelling; every call goes through one LLM (get_llm(role))."""

    def __init__(self, llm: LLM, business: str, temperature: float = 0.9, max_tokens: int = 400,
                 timeout_s: float | None = 300.0):
        self.llm = llm
        self.business = business
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.calls = 0
        self.seconds = 0.0
        self.completion_tokens = 0

    def _ask(self, user: str, schema: dict[str, Any], temperature: float | None = None,
             max_tokens: int | None = None) -> Any:
        messages = [{"role": "system", "content": SYSTEM.format(business=self.business)},
                    {"role": "user", "content": user}]
        done = self.llm.complete(messages, max_tokens=max_tokens or self.max_tokens,
                                 temperature=self.temperature if temperature is None else temperature,
                                 json_schema=schema, timeout_s=self.timeout_s)
        self.calls += 1
        self.seconds += done.seconds
        self.completion_tokens += done.completion_tokens
        text = done.text.strip()
        try:
            return json.loads(text)
        except ValueError:
            # cut off by the token budget: keep the complete strings of a partial list
            return {"utterances": re.findall(r'"((?:[^"\\]|\\.){3,160})"', text.split("[", 1)[-1])}

    def expand(self, intent: str, description: str, examples: Sequence[str], n: int) -> list[str]:
        """Up to n new caller utterances meaning `intent`."""
        shown = "\n".join(f"- {e}" for e in list(examples)[:8])
        user = (f"The caller's goal: {description or intent.replace('_', ' ')}.\n"
                f"Examples of callers with this goal:\n{shown}\n\n"
                f"Write {n} NEW, different things a caller with exactly this goal might say "
                f"as their first sentence. Vary wording and length; no names of real people; "
                f"do not repeat the examples.")
        return _clean(self._ask(user, _list_schema(n)).get("utterances", []))

    def answer(self, question: str, phrase: str, n: int) -> list[str]:
        """Up to n caller answers to the agent's `question`, each containing `phrase` verbatim."""
        user = (f'The agent asked: "{question}"\n'
                f'Write {n} different short answers a caller might give. Every answer must contain '
                f'the exact words "{phrase}" unchanged. Some answers are just the words, some a short '
                f"sentence around them.")
        return _clean(self._ask(user, _list_schema(n), max_tokens=min(self.max_tokens, 60 + 30 * n)).get("utterances", []))

    def label(self, text: str, intents: dict[str, str]) -> str:
        """The one intent of `intents` (name -> description) that `text` means, or 'none'."""
        names = list(intents) + ["none"]
        listing = "\n".join(f"- {name}: {desc}" for name, desc in intents.items())
        user = (f'A caller said: "{text}"\nWhich goal is it? Choose one:\n{listing}\n'
                f"- none: none of these\nAnswer with the goal's name.")
        schema = {"type": "object", "properties": {"intent": {"type": "string", "enum": names}},
                  "required": ["intent"]}
        try:
            out = self._ask(user, schema, temperature=0.0, max_tokens=40)
        except LLMError as exc:
            logger.warning("teacher could not label an utterance: %s", exc)
            return "none"
        value = out.get("intent") if isinstance(out, dict) else None
        return value if value in names else "none"


def _clean(items: Any) -> list[str]:
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, str):
            continue
        text = " ".join(item.replace("\n", " ").split()).strip(" -\"'")
        if 3 <= len(text) <= 160 and not _META.match(text):
            out.append(text)
    return out
