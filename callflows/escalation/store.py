"""The escalation_decisions table: writing a decision, reading a call's and a day's LLM use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.store.models import Call, EscalationDecision


@dataclass(frozen=True)
class Usage:
    seconds: float = 0.0
    tokens: int = 0
    turns: int = 0


def add_decision(session: Session, call_id: str, turn_seq: int, route: str, reasons: list[str],
                 signals: dict[str, Any] | None = None, llm_seconds: float | None = None,
                 llm_tokens: int | None = None, created_at: datetime | None = None) -> None:
    row = EscalationDecision(call_id=call_id, turn_seq=turn_seq, route=route, reasons=list(reasons),
                             signals=signals, llm_seconds=llm_seconds, llm_tokens=llm_tokens)
    if created_at is not None:
        row.created_at = created_at
    session.add(row)


def decisions_of(session: Session, call_id: str) -> list[EscalationDecision]:
    stmt = select(EscalationDecision).where(EscalationDecision.call_id == call_id)
    return list(session.scalars(stmt.order_by(EscalationDecision.turn_seq, EscalationDecision.id)))


def usage_since(session: Session, since: datetime, vertical: str | None = None) -> Usage:
    """LLM seconds, tokens and LLM turns recorded since `since` (of one vertical when given)."""
    stmt = select(func.coalesce(func.sum(EscalationDecision.llm_seconds), 0.0),
                  func.coalesce(func.sum(EscalationDecision.llm_tokens), 0),
                  func.count(EscalationDecision.llm_seconds)).where(EscalationDecision.created_at >= since)
    if vertical:
        stmt = stmt.join(Call, Call.id == EscalationDecision.call_id).where(Call.vertical == vertical)
    seconds, tokens, turns = session.execute(stmt).one()
    return Usage(float(seconds or 0.0), int(tokens or 0), int(turns or 0))


def route_counts(session: Session, since: datetime | None = None, vertical: str | None = None) -> dict[str, int]:
    """Calls per highest route reached (stay / llm / person), for the dashboard."""
    stmt = select(EscalationDecision.call_id, EscalationDecision.route)
    if since is not None:
        stmt = stmt.where(EscalationDecision.created_at >= since)
    if vertical is not None:
        from callflows.store.models import Call

        stmt = stmt.join(Call, Call.id == EscalationDecision.call_id).where(Call.vertical == vertical)
    best: dict[str, int] = {}
    rank = {"stay": 0, "llm": 1, "person": 2}
    for call_id, route in session.execute(stmt):
        best[call_id] = max(best.get(call_id, 0), rank.get(route, 0))
    names = {v: k for k, v in rank.items()}
    out = {"stay": 0, "llm": 0, "person": 0}
    for value in best.values():
        out[names[value]] += 1
    return out
