"""Prometheus metrics of the phone server (``prometheus_client``), scraped at ``GET /metrics``.

* ``callflows_calls_in_progress{vertical}``            media streams with a call handler now
* ``callflows_calls_total{vertical,outcome,route}``     finished calls; ``route`` is where the
  call ended up: ``bot``, ``llm`` (escalated, kept by the larger model) or ``person``
* ``callflows_turn_latency_seconds{part}``             per caller turn: ``endpoint``, ``stt``,
  ``nlu``, ``tts_first_audio``, ``total`` (``callflows.telephony.call.TurnLatency``), observed
  when the call's stream closes
* ``callflows_errors_total{kind}``                     stream errors, refused streams, skipped
  messages, transfer requests Twilio refused
* ``callflows_transfers_total{mode,state}``           how hand-overs ended

Why labels are closed sets: a label value is stored for ever by every scraper, so none may
carry personal data or grow without bound.  Every value goes through ``safe_label`` (lower-case
letters and underscores, at most 40; anything else becomes ``other``); verticals must be
installed ones.  With several gunicorn workers set ``PROMETHEUS_MULTIPROC_DIR`` (an empty
folder, wiped at start) so that a scrape adds up every worker.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from callflows.verticals import is_known_vertical

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
PARTS = ("endpoint", "stt", "nlu", "tts_first_audio", "total")
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_LABEL = re.compile(r"^[a-z][a-z_]{0,39}$")

CALLS_IN_PROGRESS = Gauge("callflows_calls_in_progress", "Calls whose media stream is open", ["vertical"],
                          registry=REGISTRY, multiprocess_mode="livesum")
CALLS = Counter("callflows_calls", "Finished calls by outcome and where they ended up",
                ["vertical", "outcome", "route"], registry=REGISTRY)
TURN_LATENCY = Histogram("callflows_turn_latency_seconds", "Caller turn latency by part", ["part"],
                         buckets=LATENCY_BUCKETS, registry=REGISTRY)
for _part in PARTS:  # every part's series exists (at zero) before the first turn, so that rate() and
    TURN_LATENCY.labels(_part)  # increase() over a window count the first turns too
ERRORS = Counter("callflows_errors", "Errors by kind", ["kind"], registry=REGISTRY)
TRANSFERS = Counter("callflows_transfers", "Hand-overs to a person by mode and how they ended", ["mode", "state"],
                    registry=REGISTRY)


class Latency(Protocol):
    """``callflows.telephony.call.TurnLatency`` (milliseconds)."""

    endpoint_ms: float
    stt_ms: float
    nlu_ms: float
    tts_first_audio_ms: float | None
    total_ms: float | None


def safe_label(value: object) -> str:
    """A label value from a closed set: lower-case letters and underscores, else ``other``."""
    text = str(value or "").strip().lower().replace("-", "_")
    return text if _LABEL.match(text) else "other"


def safe_vertical(name: object) -> str:
    """An installed vertical's name, else ``other``."""
    return name if isinstance(name, str) and is_known_vertical(name) and _LABEL.match(name) else "other"




def call_started(vertical: str) -> None:
    CALLS_IN_PROGRESS.labels(safe_vertical(vertical)).inc()


def call_ended(vertical: str) -> None:
    CALLS_IN_PROGRESS.labels(safe_vertical(vertical)).dec()


def call_finished(vertical: str, outcome: str | None, escalated: bool, transferred: bool) -> None:
    route = "person" if transferred else "llm" if escalated else "bot"
    CALLS.labels(safe_vertical(vertical), safe_label(outcome or "unknown"), route).inc()


def observe_turn(turn: Latency) -> None:
    for part, ms in (("endpoint", turn.endpoint_ms), ("stt", turn.stt_ms), ("nlu", turn.nlu_ms),
                     ("tts_first_audio", turn.tts_first_audio_ms), ("total", turn.total_ms)):
        if isinstance(ms, (int, float)) and ms >= 0:
            TURN_LATENCY.labels(part).observe(ms / 1000)


def error(kind: str, count: int = 1) -> None:
    ERRORS.labels(safe_label(kind)).inc(count)


def transfer(mode: str, state: str) -> None:
    TRANSFERS.labels(safe_label(mode), safe_label(state)).inc()


def scrape() -> bytes:
    """The text exposition of every worker (multiprocess mode) or of this process."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
