"""Shared by the escalation tests: a scripted LLM (the LLM protocol, exact outputs), the bank
vertical's spec with test settings, and a call played line by line (streamed replies drained)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callflows.llm.base import Completion, LLMError

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/Chicago"))
JORDAN = ("jordan ellis", "july fourteenth nineteen eighty eight", "four four one seven")
PRIYA = ("my name is priya raman", "february third nineteen seventy five", "nine zero two three")


class _Stream:
    def __init__(self, text: str, chunk: int = 4, raise_after: Exception | None = None):
        self._chunks = [text[i:i + chunk] for i in range(0, len(text), chunk)]
        self._raise = raise_after
        self.consumed = 0
        self.completion = Completion(text, 120, len(self._chunks), 0.05, "stop")

    def __iter__(self) -> "_Stream":
        return self

    def __next__(self) -> str:
        if self.consumed >= len(self._chunks):
            if self._raise is not None:
                raise self._raise
            raise StopIteration
        self.consumed += 1
        return self._chunks[self.consumed - 1]


class ScriptedLLM:
    """Answers from a script (dicts become JSON; strings go as they are); records every prompt."""

    name = "scripted"

    def __init__(self, *answers: Any, default: Any = None):
        self.answers = list(answers)
        self.default = default if default is not None else {"say": "Is there anything else I can do for you?"}
        self.prompts: list[list[dict]] = []
        self.kwargs: list[dict] = []
        self.streams: list[_Stream] = []

    def _next(self) -> str:
        answer = self.answers.pop(0) if self.answers else self.default
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, str) else json.dumps(answer)

    def complete(self, messages: list[dict], **kwargs: Any) -> Completion:
        self.prompts.append(messages)
        self.kwargs.append(kwargs)
        text = self._next()
        return Completion(text, 120, 10, 0.05, "stop")

    def stream(self, messages: list[dict], **kwargs: Any) -> _Stream:
        self.prompts.append(messages)
        self.kwargs.append(kwargs)
        stream = _Stream(self._next())
        self.streams.append(stream)
        return stream


class NoLLM(ScriptedLLM):
    """Fails the test if the call reaches the LLM."""

    def stream(self, messages: list[dict], **kwargs: Any) -> _Stream:
        raise AssertionError("a routine call reached the LLM")

    complete = stream  # type: ignore[assignment]


class BrokenLLM(ScriptedLLM):
    def stream(self, messages: list[dict], **kwargs: Any) -> _Stream:
        raise LLMError("down")


def bank_spec(bank: Any, **llm: Any) -> Any:
    from callflows.escalation import for_vertical

    spec = for_vertical(bank)
    budget = llm.pop("budget", None)
    spec = dataclasses.replace(spec, llm=dataclasses.replace(spec.llm, **llm))
    return dataclasses.replace(spec, budget=budget) if budget is not None else spec


def play(session: Any, *lines: str) -> list[Any]:
    """Caller lines; streamed replies are drained (their text is complete afterwards)."""
    replies = []
    if session.recorder.seq == 0:
        replies.append(session.start())
    for line in lines:
        reply = session.handle_text(line[6:], source="dtmf") if line.startswith("#dtmf ") else session.handle_text(line)
        if reply.sentences is not None:
            reply.spoken = list(reply.sentences)
        replies.append(reply)
    return replies
