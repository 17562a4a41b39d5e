"""LLM budgets: seconds and tokens per call and per day (per vertical). Over any limit, the
call goes to a person instead of the LLM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from callflows.escalation.spec import Budget
from callflows.escalation.store import Usage


@dataclass
class CallUsage:
    seconds: float = 0.0
    tokens: int = 0
    llm_turns: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"llm_seconds": round(self.seconds, 3), "llm_tokens": self.tokens, "llm_turns": self.llm_turns}


class BudgetKeeper:
    """`day_usage()` reads what the store recorded today (other calls included), at most every
    `refresh_s` seconds; this call's own use since then is added in memory."""

    def __init__(self, budget: Budget, day_usage: Callable[[datetime], Usage] | None = None, refresh_s: float = 30.0):
        self.budget = budget
        self.call = CallUsage()
        self._day_usage = day_usage
        self._refresh_s = refresh_s
        self._day: Usage | None = None
        self._day_read_at: datetime | None = None
        self._since_read = CallUsage()

    def add(self, seconds: float, tokens: int) -> None:
        self.call.seconds += seconds
        self.call.tokens += tokens
        self.call.llm_turns += 1
        self._since_read.seconds += seconds
        self._since_read.tokens += tokens

    def _today(self) -> Usage:
        now = datetime.now(timezone.utc)
        if self._day_usage is None:
            return Usage()
        if self._day is None or self._day_read_at is None or (now - self._day_read_at) > timedelta(seconds=self._refresh_s):
            start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            try:
                self._day = self._day_usage(start)
            except Exception:  # noqa: BLE001 - the database may be down: the call's own use still counts
                self._day = self._day or Usage()
            self._day_read_at = now
            self._since_read = CallUsage()
        return Usage(self._day.seconds + self._since_read.seconds, self._day.tokens + self._since_read.tokens)

    def exceeded(self) -> str | None:
        """Why the LLM may not be used now (a reason for the decision), or None."""
        b = self.budget
        if b.call_seconds and self.call.seconds >= b.call_seconds:
            return f"LLM budget per call used ({self.call.seconds:.0f} of {b.call_seconds:.0f} s)"
        if b.call_tokens and self.call.tokens >= b.call_tokens:
            return f"LLM budget per call used ({self.call.tokens} of {b.call_tokens} tokens)"
        if b.day_seconds or b.day_tokens:
            day = self._today()
            if b.day_seconds and day.seconds >= b.day_seconds:
                return f"LLM budget per day used ({day.seconds:.0f} of {b.day_seconds:.0f} s)"
            if b.day_tokens and day.tokens >= b.day_tokens:
                return f"LLM budget per day used ({day.tokens} of {b.day_tokens} tokens)"
        return None
