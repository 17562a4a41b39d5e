"""OpenTelemetry traces of phone calls: one trace per call, a span per caller turn and per part.

Off by default.  On when ``CALLFLOWS_OTLP_ENDPOINT`` (or the standard
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``) is set: spans go
over OTLP/HTTP (``opentelemetry-exporter-otlp-proto-http``) in batches.

Why the spans are written when the call's stream closes, from the store: the turn timings
(``turns.started_at`` and the parts in milliseconds) are measured on the call's threads and
written to the store already; building the trace from them keeps the call path free of
tracing code and gives the same numbers as the admin and the metrics.  Each turn's parts are
laid end to end from the turn's start: ``endpoint``, ``stt``, ``nlu``, ``tts_first_audio``.

Attributes are ids, counts, milliseconds and closed names only (the vertical, the outcome
through the metrics' label filter, the route): never a transcript, a number or a slot value.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from callflows.telephony.metrics import safe_label, safe_vertical

log = logging.getLogger(__name__)

ENDPOINT_ENVS = ("CALLFLOWS_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
SERVICE_NAME = "callflows-phone"
PARTS = ("endpoint", "stt", "nlu", "tts_first_audio")

_lock = threading.Lock()
_provider: TracerProvider | None = None
_configured = False


@dataclass(frozen=True)
class TurnTiming:
    seq: int
    started_at: datetime
    endpoint_ms: float | None
    stt_ms: float | None
    nlu_ms: float | None
    tts_first_audio_ms: float | None
    total_ms: float | None


@dataclass(frozen=True)
class CallTrace:
    call_id: str
    vertical: str
    outcome: str | None
    route: str
    started_at: datetime
    ended_at: datetime | None
    turns: Sequence[TurnTiming]


def use_provider(provider: TracerProvider | None) -> None:
    """Tests (and embedders) give their own provider; None turns tracing off again."""
    global _provider, _configured
    with _lock:
        _provider, _configured = provider, True


def _tracer() -> Tracer | None:
    global _provider, _configured
    with _lock:
        if not _configured:
            _configured = True
            endpoint = next((os.environ[e] for e in ENDPOINT_ENVS if os.environ.get(e)), None)
            if endpoint:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                if os.environ.get("CALLFLOWS_OTLP_ENDPOINT"):
                    endpoint = endpoint.rstrip("/") + ("" if endpoint.rstrip("/").endswith("/v1/traces")
                                                       else "/v1/traces")
                _provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
                _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
                log.info("traces exported over OTLP/HTTP")
        return _provider.get_tracer(__name__) if _provider is not None else None


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1e9)


def record_call(call: CallTrace) -> None:
    """One trace: the call's span, a child per caller turn, a grandchild per measured part."""
    tracer = _tracer()
    if tracer is None:
        return
    end = call.ended_at or call.started_at
    root = tracer.start_span("call", start_time=_ns(call.started_at), attributes={
        "callflows.call_id": call.call_id, "callflows.vertical": safe_vertical(call.vertical),
        "callflows.outcome": safe_label(call.outcome or "unknown"), "callflows.route": safe_label(call.route),
        "callflows.turns": len(call.turns),
    })
    context = trace.set_span_in_context(root)
    for turn in call.turns:
        start = _ns(turn.started_at)
        parts = [(name, getattr(turn, f"{name}_ms")) for name in PARTS]
        measured = [(name, ms) for name, ms in parts if isinstance(ms, (int, float)) and ms >= 0]
        length_ns = int((turn.total_ms if turn.total_ms is not None else sum(ms for _, ms in measured)) * 1e6)
        span = tracer.start_span("turn", context=context, start_time=start, attributes={
            "callflows.turn.seq": turn.seq, **{f"callflows.{name}_ms": float(ms) for name, ms in measured}})
        child_context = trace.set_span_in_context(span)
        at = start
        for name, ms in measured:
            tracer.start_span(name, context=child_context, start_time=at).end(end_time=at + int(ms * 1e6))
            at += int(ms * 1e6)
        span.end(end_time=max(at, start + length_ns))
    root.end(end_time=max(_ns(end), _ns(call.started_at)))
