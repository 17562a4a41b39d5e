"""Dashboard: calls per day, containment, escalation and transfer rates, handling time,
latency p50/p95 per day, as server-side SVG charts.

Containment = calls that ended without a person: neither transferred nor escalated
(among ended calls). Test-chat calls (channel ``admin_test``) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from flask import Blueprint, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import charts
from admin.views import db_text, store
from callflows.store.models import Call, Turn
from callflows.store.types import to_utc
from callflows.verticals import list_verticals

bp = Blueprint("dashboard", __name__)

TEST_CHANNEL = "admin_test"


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of a list; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))  # ceil(q/100 * n)
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Stats:
    days: list[date]
    calls: list[int]
    contained: list[int]
    to_person: list[int]
    not_ended: list[int]
    escalated: list[int]
    transferred: list[int]
    containment_by_day: list[float | None]
    p50_by_day: list[float | None]
    p95_by_day: list[float | None]
    totals: dict[str, Any] = field(default_factory=dict)


def compute(s: Session, days: int = 14, vertical: str | None = None, today: date | None = None) -> Stats:
    today = today or datetime.now(timezone.utc).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(), timezone.utc)
    until = datetime.combine(today + timedelta(days=1), time(), timezone.utc)
    day_list = [first + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(day_list)}

    stmt = select(Call.started_at, Call.ended_at, Call.escalated, Call.transferred).where(
        Call.started_at >= since, Call.started_at < until, Call.channel != TEST_CHANNEL)
    if vertical:
        stmt = stmt.where(Call.vertical == vertical)
    calls = [0] * days
    contained = [0] * days
    to_person = [0] * days
    not_ended = [0] * days
    escalated_by_day = [0] * days
    transferred_by_day = [0] * days
    escalated_n = transferred_n = ended_n = contained_n = 0
    handling: list[float] = []
    for started, ended, escalated, transferred in s.execute(stmt):
        i = index.get(to_utc(started).date())
        if i is None:
            continue
        calls[i] += 1
        if ended is None:
            not_ended[i] += 1
            continue
        ended_n += 1
        handling.append((to_utc(ended) - to_utc(started)).total_seconds())
        escalated_n += bool(escalated)
        transferred_n += bool(transferred)
        escalated_by_day[i] += bool(escalated)
        transferred_by_day[i] += bool(transferred)
        if escalated or transferred:
            to_person[i] += 1
        else:
            contained[i] += 1
            contained_n += 1

    lat_stmt = (select(Turn.started_at, Turn.total_ms).join(Call, Call.id == Turn.call_id)
                .where(Turn.total_ms.is_not(None), Turn.started_at >= since, Turn.started_at < until,
                       Call.channel != TEST_CHANNEL))
    if vertical:
        lat_stmt = lat_stmt.where(Call.vertical == vertical)
    per_day: list[list[float]] = [[] for _ in day_list]
    all_lat: list[float] = []
    for started, total_ms in s.execute(lat_stmt):
        i = index.get(to_utc(started).date())
        if i is not None:
            per_day[i].append(float(total_ms))
            all_lat.append(float(total_ms))

    def rate(n: int) -> float | None:
        return n / ended_n if ended_n else None

    from callflows.escalation.store import route_counts

    routes = route_counts(s, since, vertical)  # calls per highest route reached: stay / llm / person
    totals = {
        "routes": routes,
        "calls": sum(calls),
        "ended": ended_n,
        "containment": rate(contained_n),
        "escalation": rate(escalated_n),
        "transfer": rate(transferred_n),
        "aht": sum(handling) / len(handling) if handling else None,
        "p50": percentile(all_lat, 50),
        "p95": percentile(all_lat, 95),
        "turns_timed": len(all_lat),
    }
    return Stats(
        days=day_list, calls=calls, contained=contained, to_person=to_person, not_ended=not_ended,
        escalated=escalated_by_day, transferred=transferred_by_day,
        containment_by_day=[(c / (c + p)) * 100 if c + p else None for c, p in zip(contained, to_person)],
        p50_by_day=[percentile(v, 50) for v in per_day],
        p95_by_day=[percentile(v, 95) for v in per_day],
        totals=totals,
    )


@bp.route("/")
def index():  # noqa: ANN201
    days = min(max(request.args.get("days", 14, type=int) or 14, 1), 90)
    vertical = db_text(request.args.get("vertical") or "") or None
    with store().session() as s:
        st = compute(s, days, vertical)
    labels = [d.strftime("%b %d") for d in st.days]
    volume = charts.stacked_bars(labels, [
        ("finished by the bot", st.contained, "s-ok"),
        ("to a person", st.to_person, "s-person"),
        ("still open", st.not_ended, "s-open"),
    ], "Calls per day")
    containment = charts.lines(labels, [("containment", st.containment_by_day, "s-ok")],
                               "Containment per day (finished without a person)", unit="%", ymax=100)
    ended = [c + p for c, p in zip(st.contained, st.to_person)]
    rates = charts.lines(labels, [
        ("escalated", [e / n * 100 if n else None for e, n in zip(st.escalated, ended)], "s-p95"),
        ("transferred", [t / n * 100 if n else None for t, n in zip(st.transferred, ended)], "s-person"),
    ], "Escalation and transfer rates per day", unit="%", ymax=100)
    latency = charts.lines(labels, [("p50", st.p50_by_day, "s-p50"), ("p95", st.p95_by_day, "s-p95")],
                           "Turn latency (total, ms)", unit="")
    return render_template("dashboard.html", st=st, days=days, vertical=vertical, verticals=list_verticals(),
                           volume=volume, containment=containment, rates=rates, latency=latency)
