"""``GET /metrics`` on the phone server, and what the media route tells the metrics.

The scrape needs ``Authorization: Bearer $CALLFLOWS_METRICS_TOKEN`` when that is set (the
phone server faces Twilio, so the endpoint may be reachable from outside); without it the
endpoint is open, for a scraper on a private network.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Protocol

from flask import Response, request

from callflows.logs import call_logger
from sqlalchemy import select

from callflows.store.models import Call, Turn
from callflows.telephony import metrics
from callflows.telephony.routes import TwilioContext, bp
from callflows.telephony.tracing import CallTrace, TurnTiming, record_call

log = logging.getLogger(__name__)

TOKEN_ENV = "CALLFLOWS_METRICS_TOKEN"
STREAM_ERRORS = frozenset({"error", "unsigned_start", "no_start", "idle_timeout", "evicted", "unknown_vertical"})
PENDING = "transfer_pending"  # counted when the warm transfer is decided (callflows/telephony/warm_transfer.py)


class _Stats(Protocol):
    latencies: list[metrics.Latency]


@bp.get("/metrics")
def scrape() -> Response:
    token = os.environ.get(TOKEN_ENV, "")
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return Response("a bearer token is required", status=401, mimetype="text/plain")
    return Response(metrics.scrape(), mimetype="text/plain; version=0.0.4; charset=utf-8")


def stream_opened(vertical: str) -> None:
    metrics.call_started(vertical)


def stream_closed(ctx: TwilioContext, vertical: str, handler: object, reason: str, skipped: int) -> None:
    """A stream closed: the errors; with a call handler, the call's outcome and turn latencies.
    The handler may be wrapped (``callflows.telephony.drain.TrackedCall``: ``inner``)."""
    inner = getattr(handler, "inner", handler)
    call_id: str | None = getattr(inner, "call_id", None) if inner is not None else None
    stats: _Stats | None = getattr(inner, "stats", None)
    if reason in STREAM_ERRORS:
        metrics.error(f"stream_{reason}")
    if skipped:
        metrics.error("stream_message_skipped", skipped)
    if vertical:  # a handler was made: it was counted in progress
        metrics.call_ended(vertical)
    if call_id is None:
        return
    try:
        with ctx.store.session() as s:
            call = s.get(Call, call_id)
            if call is None:
                return
            outcome, escalated, transferred = call.outcome, bool(call.escalated), bool(call.transferred)
            route = "person" if transferred else "llm" if escalated else "bot"
            turns = [TurnTiming(t.seq, t.started_at, t.endpoint_ms, t.stt_ms, t.nlu_ms, t.tts_first_audio_ms,
                                t.total_ms)
                     for t in s.scalars(select(Turn).where(Turn.call_id == call_id, Turn.speaker == "caller")
                                        .order_by(Turn.seq))]
            trace = CallTrace(call_id, call.vertical, outcome, route, call.started_at, call.ended_at, turns)
    except Exception as exc:  # noqa: BLE001 - metrics never break a call
        call_logger(__name__, call_id).warning("call not counted: %s", type(exc).__name__)
        return
    latencies = stats.latencies if stats is not None else []
    for turn in latencies:
        metrics.observe_turn(turn)
    if outcome != PENDING:  # a warm transfer's call is counted when its outcome is known
        metrics.call_finished(vertical, outcome, escalated, transferred)
        try:
            record_call(trace)
        except Exception as exc:  # noqa: BLE001 - a tracing failure never touches a call
            call_logger(__name__, call_id).warning("trace not recorded: %s", type(exc).__name__)
