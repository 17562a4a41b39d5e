"""The one LLM interface every backend implements, its result type and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


class LLMError(RuntimeError):
    """The LLM failed: unreachable, an HTTP error, an unreadable answer, a bad request."""


class LLMTimeout(LLMError):
    """No (complete) answer within the timeout."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str | None = None  # "stop" | "length" | None (unknown)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


@runtime_checkable
class LLM(Protocol):
    """A chat model. ``json_schema`` or ``grammar`` (GBNF) constrain the output where the backend can.

    ``timeout_s`` bounds the whole call (``complete``) or the wait for each next delta and the
    whole stream (``stream``); past it ``LLMTimeout`` is raised. Every failure is an ``LLMError``.
    """

    name: str

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        json_schema: dict | None = None,
        grammar: str | None = None,
        timeout_s: float | None = None,
    ) -> Completion: ...

    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        json_schema: dict | None = None,
        grammar: str | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[str]: ...


def check_messages(messages: list[dict]) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise LLMError("messages must be a non-empty list of {'role', 'content'} dicts")
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise LLMError(f"not a chat message: {m!r}")
    return messages


class TextStream:
    """An iterator of text deltas; after it is exhausted, ``completion`` holds the totals
    (``completion_tokens`` counts the deltas, ``prompt_tokens`` is -1 when unknown)."""

    def __init__(self, deltas: Iterator[str]) -> None:
        self._deltas = deltas
        self.completion: Completion | None = None

    def __iter__(self) -> "TextStream":
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close:
            close()
