"""Health, readiness and the draining replica's answer to new calls.

* ``GET /healthz`` liveness: 200 while the process answers (also while it drains: Kubernetes
  must not restart a replica whose calls are finishing), with the report below.
* ``GET /readyz`` readiness: 200 only when the replica takes new calls (models loaded, database
  reachable, not draining), else 503; the load balancer sends calls to ready replicas only.
* Both report ``{"ok", "ready", "status": "serving"|"draining", "models_loaded", "database":
  "ok"|"unreachable", "calls_in_progress", "replica"}``: counts and states, no personal data.
* ``POST /twilio/voice`` while draining: a signed webhook gets ``<Redirect>`` to the public
  URL's ``/twilio/voice``, which the load balancer sends to a ready replica; the call is never
  answered here (the replica may exit before it ends).

:func:`install_drain` wires a :class:`~callflows.telephony.drain.Drain`, the replica heartbeat
and these routes into the phone server's app (``create_app``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import text
from twilio.twiml.voice_response import VoiceResponse

from callflows.config import Settings
from callflows.logs import call_logger
from callflows.store.db import Store
from callflows.telephony.drain import Drain, DrainSettings, LiveCalls, TrackedFactory, lazy_class
from callflows.telephony.replica import ReplicaHeartbeat
from callflows.telephony.routes import EXTENSION_KEY, TwilioContext, public_base_url

log = logging.getLogger(__name__)

DRAIN_KEY = "callflows.drain"
VOICE_PATH = "/twilio/voice"
DB_CHECK_TTL_S = 2.0  # probes every few seconds from several places share one query

health_bp = Blueprint("health", __name__)


@dataclass(frozen=True)
class HealthReport:
    """The probes' JSON body: states and counts, nothing about any caller."""

    ready: bool
    status: str  # serving | draining
    models_loaded: bool
    database: str  # ok | unreachable
    calls_in_progress: int
    replica: str | None
    ok: bool = True  # the process answers (liveness)


class RedirectedCalls:
    """The CallSids this draining replica sent back through the load balancer (the newest 1000).

    Why: with a single replica, or a load balancer that has not yet taken this one out, the
    redirected webhook comes back here; redirecting it again would loop.  The second time, the
    call is answered here (and wrapped up at the grace limit if it is still going on)."""

    LIMIT = 1000

    def __init__(self) -> None:
        self._sids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, call_sid: str) -> bool:
        with self._lock:
            if call_sid in self._sids:
                return False
            self._sids[call_sid] = None
            if len(self._sids) > self.LIMIT:
                self._sids.popitem(last=False)
            return True


@dataclass
class ReplicaState:
    """What the probes report; ``app.extensions["callflows.drain"]``."""

    drain: Drain
    store: Store
    heartbeat: ReplicaHeartbeat
    models_loaded: bool = False
    _db_checked_at: float = 0.0
    _db_ok: bool = False
    _db_lock: threading.Lock = field(default_factory=threading.Lock)
    redirected: RedirectedCalls = field(default_factory=RedirectedCalls)

    def database_ok(self) -> bool:
        with self._db_lock:
            if time.monotonic() - self._db_checked_at < DB_CHECK_TTL_S:
                return self._db_ok
            try:
                with self.store.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                self._db_ok = True
            except Exception as exc:  # noqa: BLE001 - reported, never raised to the probe
                if self._db_ok or not self._db_checked_at:
                    log.warning("database unreachable: %s", type(exc).__name__)
                self._db_ok = False
            self._db_checked_at = time.monotonic()
            return self._db_ok

    def report(self) -> HealthReport:
        database = self.database_ok()
        draining = self.drain.draining
        return HealthReport(ready=self.models_loaded and database and not draining,
                            status="draining" if draining else "serving", models_loaded=self.models_loaded,
                            database="ok" if database else "unreachable", calls_in_progress=len(self.drain.calls),
                            replica=self.heartbeat.replica_id)


def replica_state(app: Flask) -> ReplicaState | None:
    state = app.extensions.get(DRAIN_KEY)
    return state if isinstance(state, ReplicaState) else None


def start_replica(app: Flask, settings: Settings, sweep_interval_s: float) -> None:
    """The replica is warm (models loaded, prompts cached): report it ready, start its heartbeat
    and its periodic sweep of calls left open by dead replicas (``callflows serve``, per worker)."""
    state = replica_state(app)
    if state is None:
        return
    _cache_last_words(app, state.drain.settings)
    state.models_loaded = True
    state.heartbeat.start()
    if sweep_interval_s > 0:
        from callflows.store.sweeper import start_sweeper

        start_sweeper(state.store, interval_s=sweep_interval_s,
                      replica_stale_after=timedelta(seconds=settings.replica_stale_s))
        _start_transfer_watchdog(app, state.store, settings)  # the same switch: tests that sweep by hand


def _start_transfer_watchdog(app: Flask, store: Store, settings: Settings) -> threading.Event | None:
    """Warm transfers left on hold by a worker that is gone are timed out by this one
    (callflows.telephony.transfer_watchdog); without Twilio credentials there is nothing to redirect with."""
    from callflows.telephony.transfer_watchdog import start_transfer_watchdog
    from callflows.telephony.warm_transfer import WarmTransfers

    services = app.extensions.get("callflows")
    twilio = getattr(services, "twilio", None)
    if twilio is None:
        return None
    if not settings.public_url:  # the return URL comes from each request's host: no request here
        log.info("warm transfer watchdog off: CALLFLOWS_PUBLIC_URL is not set")
        return None
    return start_transfer_watchdog(WarmTransfers(store, twilio, settings.public_url.rstrip("/")))


def _cache_last_words(app: Flask, drain: DrainSettings) -> None:
    """The wrap-up's sentences in the prompt cache: at the grace limit every remaining call says
    one at the same moment, and a cached sentence costs no synthesis then."""
    from callflows.speech.textnorm import split_sentences
    from callflows.telephony.services import PhoneServices

    services = app.extensions.get("callflows")
    if not isinstance(services, PhoneServices):
        return
    for text in (drain.goodbye, drain.handing_over):
        for sentence in split_sentences(text):
            services.prompts.get(sentence)


@health_bp.get("/healthz")
def healthz() -> Response:
    state = replica_state(current_app)
    return jsonify(asdict(state.report()) if state is not None else {"ok": True})


@health_bp.get("/readyz")
def readyz() -> Response:
    state = replica_state(current_app)
    if state is None:
        return jsonify(ok=True, ready=True)
    report = state.report()
    response = jsonify(asdict(report))
    response.status_code = 200 if report.ready else 503
    return response


def redirect_twiml(url: str) -> str:
    response = VoiceResponse()
    response.redirect(url, method="POST")
    return str(response)


def _redirect_new_calls() -> Response | None:
    """Before every request: while draining, a new call goes back through the load balancer."""
    if request.method != "POST" or request.path != VOICE_PATH:
        return None
    state = replica_state(current_app)
    if state is None or not state.drain.draining:
        return None
    ctx: TwilioContext = current_app.extensions[EXTENSION_KEY]
    if ctx.checker is not None and not ctx.checker.check_webhook(request):
        return None  # the voice route refuses it (403) as usual
    call_sid = request.form.get("CallSid", "")[:64]
    clog = call_logger(__name__, call_sid or None)
    if call_sid and not state.redirected.first_time(call_sid):
        clog.warning("draining, but the redirected call came back: no other replica took it, answered here")
        return None
    clog.info("draining: the new call goes back through the load balancer")
    return Response(redirect_twiml(f"{public_base_url(ctx.settings)}{VOICE_PATH}"), mimetype="text/xml")


def install_drain(app: Flask, settings: Settings, store: Store) -> ReplicaState:
    """Track the app's calls, serve the probes and the drain's redirect (the heartbeat starts
    with :func:`start_replica`)."""
    calls = LiveCalls()
    beat = ReplicaHeartbeat(store, settings.replica_heartbeat_s)
    drain = Drain(calls, DrainSettings(grace_s=settings.drain_grace_s), on_begin=beat.set_draining)
    state = ReplicaState(drain=drain, store=store, heartbeat=beat)
    ctx: TwilioContext = app.extensions[EXTENSION_KEY]
    on_call = beat.attach
    ctx.handler_factory = TrackedFactory(lazy_class("callflows.telephony.call", "CallHandler"), calls, on_call)
    # a caller back from a warm transfer nobody took (set only where that route exists)
    ctx.resume_factory = TrackedFactory(lazy_class("callflows.telephony.callback", "CallbackHandler"), calls,
                                        on_call)
    app.extensions[DRAIN_KEY] = state
    app.register_blueprint(health_bp)
    app.before_request(_redirect_new_calls)
    return state
