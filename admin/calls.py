"""Calls: a filtered list and a call page (masked transcript, slots, outcome, latencies, the
handoff summary a person taking the call is given: ``callflows.telephony.handoff``, and the
warm transfer's attempts and callback requests: ``callflows.store.transfers``).

Only what the store keeps masked is shown: ``turns.text``, ``slot_values.value_masked``
and ``calls.from_number_masked``. Customer records (names, dates of birth, SSN digits)
are never read here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from flask import Blueprint, abort, flash, render_template, request
from sqlalchemy import func, select

from admin.callbacks import shown_number
from admin.recordings import recording_facts
from admin.views import db_text, store
from callflows.privacy import is_sensitive, mask_value
from callflows.store import repo
from callflows.store import transfers as tx
from callflows.store.models import Call, SlotValue, Turn
from callflows.telephony.handoff import SKIPPED_KEYS, build_handoff
from callflows.verticals import list_verticals

bp = Blueprint("calls", __name__, url_prefix="/calls")

PAGE_SIZE = 50
TEST_CHANNEL = "admin_test"


def _day(name: str) -> date | None:
    """The date in query field ``name``; a malformed one is ignored, with a message."""
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        shown = value[:40] + ("..." if len(value) > 40 else "")
        flash(f"The {name!r} date {shown!r} is not a date like 2026-11-22; it was ignored.", "error")
        return None


@bp.route("/")
def index():  # noqa: ANN201
    args = request.args
    since, until = _day("from"), _day("to")
    vertical = db_text(args.get("vertical") or "") or None
    outcome = db_text(args.get("outcome") or "") or None
    escalated = {"yes": True, "no": False}.get(args.get("escalated", ""))
    include_tests = args.get("tests") == "1"
    page = min(max(1, args.get("page", 1, type=int) or 1), 1_000_000)  # an offset the database can hold
    stmt = select(Call)
    count = select(func.count()).select_from(Call)
    conds = []
    if since:
        conds.append(Call.started_at >= datetime.combine(since, time(), timezone.utc))
    if until and until < date.max:  # up to the last day there is: no upper bound
        conds.append(Call.started_at < datetime.combine(until + timedelta(days=1), time(), timezone.utc))
    if vertical:
        conds.append(Call.vertical == vertical)
    if outcome:
        conds.append(Call.outcome == outcome)
    if escalated is not None:
        conds.append(Call.escalated == escalated)
    if not include_tests:
        conds.append(Call.channel != TEST_CHANNEL)
    for cond in conds:
        stmt, count = stmt.where(cond), count.where(cond)
    with store().session() as s:
        total = s.scalar(count) or 0
        rows = list(s.scalars(stmt.order_by(Call.started_at.desc(), Call.id)
                              .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        turns = dict(s.execute(select(Turn.call_id, func.count()).where(Turn.call_id.in_([c.id for c in rows]))
                               .group_by(Turn.call_id)).all()) if rows else {}
        outcomes = sorted(o for o in s.scalars(select(Call.outcome).distinct()) if o)
        verticals = sorted(set(list_verticals()) | {v for v in s.scalars(select(Call.vertical).distinct()) if v})
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    query = {k: v for k, v in args.items() if k != "page" and v}
    return render_template("calls/index.html", calls=rows, turns=turns, total=total, page=page, pages=pages,
                           query=query, outcomes=outcomes, verticals=verticals, args=args)


def shown_value(row: SlotValue) -> str:
    """A stored slot value for display; a personal one that somehow reached the store
    unmasked is masked here too (stored masked values contain '*')."""
    value = row.value_masked or ""
    if value and "*" not in value and is_sensitive(row.name, row.slot_type):
        return mask_value(row.slot_type, value)
    return value


def call_bookings(s, call_id: str) -> list[dict[str, object]]:  # noqa: ANN001
    """What the installed verticals booked on the call (each vertical's plugin says: kind,
    reference, status and whether the caller's name was left unverified; no customer data)."""
    from callflows.plugins import usable_plugins

    out: list[dict[str, object]] = []
    for plugin in usable_plugins():
        if plugin.bookings is not None:
            out += [{"kind": b.kind, "reference": b.reference, "status": b.status,
                     "name_unverified": b.name_unverified} for b in plugin.bookings(s, call_id)]
    return out


@bp.route("/<call_id>")
def show(call_id: str):  # noqa: ANN201
    with store().session() as s:
        call = repo.get_call(s, call_id)
        if call is None:
            abort(404)
        turns = list(s.scalars(select(Turn).where(Turn.call_id == call_id).order_by(Turn.seq)))
        slot_rows = list(s.scalars(select(SlotValue).where(SlotValue.call_id == call_id).order_by(SlotValue.id)))
        bookings = call_bookings(s, call_id)
        transfers, callbacks = tx.attempts_of(s, call_id), tx.callback_requests(s, call_id=call_id)
        recording = recording_facts(s, call_id)
        for row in (*transfers, *callbacks):
            s.expunge(row)
    latest: dict[str, SlotValue] = {}
    for row in slot_rows:
        latest[row.name] = row
    duration = (call.ended_at - call.started_at).total_seconds() if call.ended_at else None
    handoff = None
    if (call.summary and set(call.summary) - SKIPPED_KEYS) or call.transferred or call.escalated:
        handoff = build_handoff(call, slot_rows)
    return render_template("calls/show.html", call=call, turns=turns, slots=list(latest.values()),
                           slot_history=slot_rows, duration=duration, shown_value=shown_value, handoff=handoff,
                           bookings=bookings, transfers=transfers, callbacks=callbacks,
                           shown_number=shown_number, **recording)
