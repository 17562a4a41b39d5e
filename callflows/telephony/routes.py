"""The Twilio-facing routes (Flask blueprint ``twilio``).

* ``POST /twilio/voice``  incoming call (a ``CallSid`` is required): TwiML
  ``<Connect><Stream url="wss://HOST/twilio/media/<token>">`` with Parameters ``vertical`` (from
  the called number's mapping, else the default vertical), ``from``, ``to``, ``call_sid`` and
  ``sig``: a per-call grant (``callflows.telephony.stream_grant``).  A vertical that is not
  installed gets a spoken apology and a call record that says why.
* ``POST /twilio/status`` call status callbacks: noted on the call; a final status
  (completed, failed, busy, no-answer, canceled) finishes a call still open.
* ``POST /twilio/whisper?call=<id>`` the person a call is transferred to answers: TwiML
  ``<Say>`` of the call's handoff summary (masked), played to them before the caller is
  connected (``<Dial><Number url=...>``, see ``twiml.dial_twiml``).
* ``GET /healthz``, ``GET /readyz``: ``callflows.telephony.drain_routes`` (liveness, readiness, the drain).
* ``WS /twilio/media/<token>`` the bidirectional Media Stream: the token must be one this
  server issued, unexpired and unused; each message is parsed (``media_stream.parse_message``);
  malformed ones are logged and skipped; ``start`` must carry the parameters this server signed
  for that token and call; from then on a ``CallHandler`` (``callflows.telephony.call``) gets
  every event, and is always closed.  At most ``max_pending_streams`` sockets may wait for
  their ``start`` at once (a newcomer closes the oldest with 1013), each for ``start_timeout_s``.

Webhooks need a valid ``X-Twilio-Signature`` when an auth token is configured (403 otherwise;
an identical replayed status callback gets 409).  The socket closes with 1008 (policy
violation) when the upgrade is not signed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Blueprint, Response, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from callflows.config import Settings
from callflows.logs import call_logger
from callflows.telephony.media_stream import (
    ProtocolError,
    StreamGuard,
    StreamStart,
    StreamStop,
    parse_message,
)
from callflows.telephony.security import TwilioSignatureChecker
from callflows.telephony.stream_grant import StreamGrant, StreamGrants
from callflows.telephony.twiml import connect_stream_twiml, hangup_twiml, whisper_twiml
from callflows.verticals import is_known_vertical

log = logging.getLogger(__name__)

bp = Blueprint("twilio", __name__)
sock = Sock()

MEDIA_PATH = "/twilio/media"
EXTENSION_KEY = "callflows.twilio"
FINAL_STATUSES = frozenset({"completed", "failed", "busy", "no-answer", "canceled"})
WS_POLICY_VIOLATION = 1008
WS_INTERNAL_ERROR = 1011
WS_TRY_AGAIN_LATER = 1013
DEFAULT_IDLE_TIMEOUT_S = 30.0  # Twilio sends 50 media messages a second: silence this long = dead stream
DEFAULT_START_TIMEOUT_S = 3.0  # Twilio sends "start" right after the upgrade; a socket without one is closed (1008)
DEFAULT_MAX_PENDING_STREAMS = 16  # sockets waiting for "start" at once: each holds a server thread
UNKNOWN_VERTICAL_APOLOGY = ("Sorry, this number is not set up to take calls right now. "
                            "Please try again later. Goodbye.")
_CALL_SID = re.compile(r"^CA[0-9A-Za-z]{10,62}$")
POLL_S = 0.5
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})  # how often the socket loop looks at the handler between messages
WHISPER_WAIT_S = 3.0  # a call still being finished gets this long to store its summary
_CALL_ID = re.compile(r"^[0-9A-Za-z-]{8,64}$")
GENERIC_WHISPER = "Transferred call. No summary is available. Connecting you now."


@dataclass
class TwilioContext:
    """What the routes need, kept in ``app.extensions["callflows.twilio"]``."""

    settings: Settings
    store: Any
    checker: TwilioSignatureChecker | None
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    handler_factory: Callable[..., Any] | None = None  # default: callflows.telephony.call.CallHandler
    grants: StreamGrants | None = None  # per-call stream tokens and parameter signatures (create_app sets it)
    max_pending_streams: int = DEFAULT_MAX_PENDING_STREAMS
    resume_factory: Callable[..., Any] | None = None  # default: callflows.telephony.callback.CallbackHandler
    pending: "PendingStreams" = field(default_factory=lambda: PendingStreams())
    stats: dict[str, int] = field(default_factory=lambda: {"sockets": 0, "malformed": 0, "skipped": 0, "refused": 0,
                                                                  "evicted": 0})


class PendingStreams:
    """The sockets that are open but have not sent a valid ``start`` yet (each holds a thread).

    Why evict rather than refuse: at the bound, refusing newcomers would let idle sockets lock
    real calls out; Twilio sends ``start`` within milliseconds of the upgrade, so the oldest
    waiting socket is the one least likely to be a call, and it makes way."""

    def __init__(self) -> None:
        self._waiting: OrderedDict[str, threading.Event] = OrderedDict()
        self._lock = threading.Lock()

    def enter(self, key: str, limit: int) -> tuple[threading.Event, bool]:
        """Count a socket as waiting: (the event that tells its own thread to close it, whether
        another socket was told so to make room). A socket is closed by its own thread only: its
        reader thread may still be using it."""
        evict = threading.Event()
        with self._lock:
            evicted = len(self._waiting) >= max(1, limit)
            if evicted:
                self._waiting.popitem(last=False)[1].set()
            self._waiting[key] = evict
        return evict, evicted

    def leave(self, key: str) -> None:
        with self._lock:
            self._waiting.pop(key, None)

    def __len__(self) -> int:
        return len(self._waiting)


def _ctx() -> TwilioContext:
    return current_app.extensions[EXTENSION_KEY]


def _refuse(reason: str, status: int = 403) -> Response:
    log.warning("refused %s %s: %s", request.method, request.path, reason)
    return Response(reason, status=status, mimetype="text/plain")


def _check_webhook(ctx: TwilioContext, *, replay_protect: bool = False) -> Response | None:
    if ctx.checker is None:  # insecure development mode (create_app allows it only when asked)
        return None
    verdict = ctx.checker.check_webhook(request, replay_protect=replay_protect)
    if verdict:
        return None
    return _refuse(verdict.reason, 409 if verdict.reason == "replayed request" else 403)


def public_base_url(settings: Settings) -> str:
    """``https://<public host>`` as Twilio reaches us (the request's host when no public URL is set)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if not request.is_secure and request.host.split(":")[0].strip("[]") in LOOPBACK_HOSTS:
        return f"http://{request.host}"
    return f"https://{request.host}"


def stream_url(settings: Settings) -> str:
    """``wss://<public host>/twilio/media``; from the request's host when no public URL is set."""
    if settings.public_url:
        base = settings.public_url.rstrip("/")
        scheme, _, rest = base.partition("://")
        return f"{'ws' if scheme == 'http' else 'wss'}://{rest}{MEDIA_PATH}"
    # Twilio only connects to wss://, even when TLS ends at a proxy in front of us.  A loopback
    # host (local simulator, tests) that Twilio could never reach gets the request's own scheme.
    if not request.is_secure and request.host.split(":")[0].strip("[]") in LOOPBACK_HOSTS:
        return f"ws://{request.host}{MEDIA_PATH}"
    return f"wss://{request.host}{MEDIA_PATH}"


# --------------------------------------------------------------------------- #
# webhooks
# --------------------------------------------------------------------------- #


@bp.post("/twilio/voice")
def voice() -> Response:
    ctx = _ctx()
    refused = _check_webhook(ctx)
    if refused is not None:
        return refused
    form = request.form
    to_number = form.get("To", "")[:32]
    from_number = form.get("From", "")[:32]
    call_sid = form.get("CallSid", "")
    if not _CALL_SID.match(call_sid):
        return Response("a CallSid is required", status=400, mimetype="text/plain")
    from callflows.store import repo

    vertical = ctx.settings.default_vertical
    if to_number:
        with ctx.store.session() as s:
            mapping = repo.lookup_phone_number(s, to_number)
            if mapping is not None:
                vertical = mapping.vertical
    if not is_known_vertical(vertical):
        _record_refused_call(ctx, call_sid, vertical, from_number, to_number, "unknown_vertical")
        return Response(hangup_twiml(UNKNOWN_VERTICAL_APOLOGY), mimetype="text/xml")
    assert ctx.grants is not None
    token, params = ctx.grants.issue(call_sid, vertical, from_number, to_number)
    twiml = connect_stream_twiml(f"{stream_url(ctx.settings)}/{token}", params)
    log.info("incoming call %s for vertical %s", call_sid, vertical)
    return Response(twiml, mimetype="text/xml")


def _record_refused_call(ctx: TwilioContext, call_sid: str, vertical: str, from_number: str, to_number: str,
                         reason: str) -> None:
    """A call that could not be served still gets a complete record saying why."""
    from callflows.store import repo

    shown = vertical[:64] if isinstance(vertical, str) else "?"
    with ctx.store.session() as s:
        if repo.get_call_by_sid(s, call_sid) is not None:
            return
        call = repo.start_call(s, shown or "?", "phone", twilio_call_sid=call_sid,
                               from_number=from_number or None, to_number=to_number or None)
        repo.finish_call(s, call.id, f"refused_{reason}", status="failed", summary={"refused": reason})
    call_logger(__name__, call.id).error("call refused: %s (vertical %r is not installed)", reason, shown)


@bp.post("/twilio/status")
def status() -> Response:
    ctx = _ctx()
    refused = _check_webhook(ctx, replay_protect=True)
    if refused is not None:
        return refused
    call_sid = request.form.get("CallSid", "")
    call_status = request.form.get("CallStatus", "")
    if not call_sid or not call_status:
        return Response("CallSid and CallStatus are required", status=400, mimetype="text/plain")
    from callflows.store import repo

    with ctx.store.session() as s:
        call = repo.get_call_by_sid(s, call_sid)
        if call is None:
            log.info("status %s for unknown call %s", call_status, call_sid)
            return Response(status=204)
        history = list((call.summary or {}).get("twilio_statuses", []))
        if call_status not in history:
            history.append(call_status)
        call.summary = {**(call.summary or {}), "twilio_status": call_status, "twilio_statuses": history}
        if call_status in FINAL_STATUSES and call.ended_at is None:
            outcome = "caller_hung_up" if call_status == "completed" else f"call_{call_status.replace('-', '_')}"
            repo.finish_call(s, call.id, outcome, status="completed" if call_status == "completed" else "failed")
        log.info("call %s: twilio status %s", call.id, call_status)
    transfer_routes.note_caller_status(ctx, call_sid, call_status)  # hung up on hold: stop ringing the person
    return Response(status=204)


@bp.route("/twilio/whisper", methods=["POST", "GET"])
def whisper() -> Response:
    """What the person taking a transfer hears first: the call's summary, masked."""
    ctx = _ctx()
    refused = _check_webhook(ctx)
    if refused is not None:
        return refused
    call_id = request.args.get("call", "")
    if not _CALL_ID.match(call_id):
        return Response("a call id is required", status=400, mimetype="text/plain")
    from callflows.telephony.handoff import load_handoff

    try:
        handoff = load_handoff(ctx.store, call_id, wait_s=WHISPER_WAIT_S)
    except Exception as exc:  # noqa: BLE001 - the agent is connected anyway
        log.error("whisper for call %s: the summary could not be read (%s)", call_id, type(exc).__name__)
        handoff = None
    text = handoff.spoken() if handoff is not None and not handoff.empty else GENERIC_WHISPER
    call_logger(__name__, call_id).info("whisper played to the agent (%s)",
                                        "summary" if text != GENERIC_WHISPER else "no summary")
    return Response(whisper_twiml(text), mimetype="text/xml")


# --------------------------------------------------------------------------- #
# the media stream
# --------------------------------------------------------------------------- #


def _handler_factory(ctx: TwilioContext) -> Callable[..., Any]:
    if ctx.handler_factory is not None:
        return ctx.handler_factory
    from callflows.telephony.call import CallHandler  # the lead's pipeline; imported when a call starts

    return CallHandler


def _resume_factory() -> Callable[..., Any]:
    """A caller back from a warm transfer nobody took (a signed ``resume`` parameter)."""
    from callflows.telephony.callback import CallbackHandler

    return CallbackHandler


class _LockedSend:
    """``ws.send`` for several threads (the handler's speech thread and this one)."""

    def __init__(self, ws: Any):
        self._ws = ws
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            self._ws.send(message)


class _SkipLog:
    """Skipped messages: the first few of each kind logged, the rest counted (50 messages/s)."""

    FIRST = 3

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def note(self, clog: Any, reason: str) -> None:
        n = self.counts[reason] = self.counts.get(reason, 0) + 1
        if n <= self.FIRST:
            clog.warning("skipped a stream message: %s", reason)

    def summary(self, clog: Any) -> None:
        quiet = {r: n for r, n in self.counts.items() if n > self.FIRST}
        for reason, n in quiet.items():
            clog.warning("skipped %d stream messages in all: %s", n, reason)


def _close(ws: Any, code: int, message: str) -> None:
    try:
        ws.close(reason=code, message=message)
    except ConnectionClosed:
        pass
    except Exception:  # noqa: BLE001 - the socket may already be gone
        pass


@sock.route(MEDIA_PATH, bp=bp)
def media_without_token(ws: Any) -> None:
    """The old fixed stream URL: refused, since one captured header would open any number of sockets."""
    log.warning("media stream refused: no stream token")
    _close(ws, WS_POLICY_VIOLATION, "no stream token")


@sock.route(f"{MEDIA_PATH}/<token>", bp=bp)
def media(ws: Any, token: str) -> None:
    ctx = _ctx()
    if ctx.checker is not None:
        verdict = ctx.checker.check_websocket(request)
        if not verdict:
            log.warning("media stream refused: %s", verdict.reason)
            _close(ws, WS_POLICY_VIOLATION, verdict.reason)
            return
    assert ctx.grants is not None
    granted = ctx.grants.check_token(token)
    if not granted:
        ctx.stats["refused"] += 1
        log.warning("media stream refused: %s", granted.reason)
        _close(ws, WS_POLICY_VIOLATION, granted.reason)
        return
    evict, evicted = ctx.pending.enter(token, ctx.max_pending_streams)
    if evicted:
        ctx.stats["evicted"] += 1
        log.warning("%d sockets wait for their start: the oldest is closed", ctx.max_pending_streams)
    pending = True
    services = current_app.extensions.get("callflows")
    ctx.stats["sockets"] += 1
    guard = StreamGuard()
    skips = _SkipLog()
    send = _LockedSend(ws)
    handler: Any = None
    vertical = ""
    clog: Any = log
    reason = "socket_closed"
    opened = last_message = time.monotonic()
    try:
        while True:
            raw = ws.receive(timeout=POLL_S)
            if handler is not None and getattr(handler, "ended", False):
                reason = "dialogue_ended"
                _close(ws, 1000, "call ended")
                break
            if handler is None and evict.is_set():
                reason = "evicted"
                _close(ws, WS_TRY_AGAIN_LATER, "busy")
                break
            if handler is None and time.monotonic() - opened > ctx.start_timeout_s:
                reason = "no_start"
                log.warning("no valid start message in %.0f s: closing the stream", ctx.start_timeout_s)
                _close(ws, WS_POLICY_VIOLATION, "no valid start message")
                break
            if raw is None:
                if time.monotonic() - last_message > ctx.idle_timeout_s:
                    reason = "idle_timeout"
                    clog.warning("no message from Twilio for %.0f s: closing the stream", ctx.idle_timeout_s)
                    _close(ws, 1000, "idle")
                    break
                continue
            last_message = time.monotonic()
            try:
                event = parse_message(raw)
            except ProtocolError as exc:
                ctx.stats["malformed"] += 1
                skips.note(clog, f"malformed message: {exc}")
                continue
            skip = guard.check(event)
            if skip is not None:
                ctx.stats["skipped"] += 1
                skips.note(clog, skip)
                continue
            if isinstance(event, StreamStart):
                clog = call_logger(__name__, event.call_sid)
                verdict = ctx.grants.check_start(token, event.call_sid, event.custom_parameters)
                if not verdict or verdict.grant is None:
                    reason = "unsigned_start"
                    ctx.stats["refused"] += 1
                    clog.warning("start refused: %s", verdict.reason)
                    _close(ws, WS_POLICY_VIOLATION, verdict.reason)
                    break
                pending = False
                ctx.pending.leave(token)
                if not is_known_vertical(verdict.grant.vertical):  # uninstalled since the webhook answered
                    reason = "unknown_vertical"
                    _refuse_stream(ctx, services, send, event, verdict.grant)
                    break
                factory = ctx.resume_factory or _resume_factory() if verdict.grant.resume else _handler_factory(ctx)
                extra = {"base_url": public_base_url(ctx.settings)} if getattr(factory, "accepts_base_url", False) else {}
                handler = factory(services, send=send, start=event, **extra)
                metrics_routes.stream_opened(verdict.grant.vertical)
                vertical = verdict.grant.vertical
                call_id = getattr(handler, "call_id", None)
                if call_id:
                    clog = call_logger(__name__, call_id)
                clog.info("media stream started (%s)", event.stream_sid)
                continue
            if handler is None:  # "connected": nothing to do until "start"
                continue
            handler.on_event(event)
            if isinstance(event, StreamStop):
                reason = "stream_stopped"
                break
    except ConnectionClosed:
        reason = "socket_closed"
    except Exception:  # noqa: BLE001 - log, close the socket; the handler is closed below
        reason = "error"
        clog.exception("media stream failed")
        _close(ws, WS_INTERNAL_ERROR, "server error")
    finally:
        if pending:
            ctx.pending.leave(token)
        if handler is not None:
            try:
                handler.close(reason)
            except Exception:  # noqa: BLE001
                clog.exception("call handler failed to close")
        skips.summary(clog)
        metrics_routes.stream_closed(ctx, vertical, handler, reason, sum(skips.counts.values()))
        clog.info("media stream closed (%s)", reason)


def _refuse_stream(ctx: TwilioContext, services: Any, send: Callable[[str], None], start: StreamStart,
                   grant: StreamGrant) -> None:
    """A stream for a vertical that is not installed: a spoken apology, a call record, then close."""
    _record_refused_call(ctx, start.call_sid, grant.vertical, grant.from_number, grant.to_number, "unknown_vertical")
    speech = getattr(services, "speech", None)
    if callable(speech):
        from callflows.telephony.outbound import OutboundAudio

        try:
            out = OutboundAudio(send, start.stream_sid)
            out.play(speech(UNKNOWN_VERTICAL_APOLOGY), "apology")
            time.sleep(out.lead_s)  # what is still buffered at Twilio plays before the socket closes
        except Exception:  # noqa: BLE001 - the record is written; the caller hears silence
            log.exception("the apology could not be spoken")


from callflows.telephony import metrics_routes, transfer_routes  # noqa: E402 - more routes on this blueprint
