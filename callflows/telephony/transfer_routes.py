"""The warm transfer's webhooks, on the ``twilio`` blueprint (each one signed like the others).

* ``POST /twilio/transfer/hold?attempt=<id>``   the conference's ``waitUrl``: ``<Play loop=0>``
  of the vertical's hold music.
* ``GET /twilio/transfer/hold-message?attempt=<id>`` the hold message in the bot's voice, a WAV
  for the caller's ``<Play>`` (Twilio fetches media with a plain GET, so it is not signature-checked:
  it answers only while the attempt is undecided, and serves only the vertical's configured
  sentence from the prompt cache, never anything about the call).
* ``POST /twilio/transfer/screen?attempt=<id>`` the person answered: the masked handoff
  summary and ``<Gather numDigits=1>`` (1 accepts).
* ``POST /twilio/transfer/decide?attempt=<id>`` their key (``Digits``, empty when none):
  into the conference, or a goodbye (and the caller goes back to the bot).
* ``POST /twilio/transfer/agent-status?attempt=<id>`` the person's leg's status callbacks
  (replays refused like ``/twilio/status``).
* ``POST /twilio/transfer/return?attempt=<id>`` the caller's call, redirected back: a fresh
  ``<Connect><Stream>`` whose signed ``resume`` parameter makes the media route start a
  ``CallbackHandler`` (callflows/telephony/callback.py).

Bad input (no attempt, an unknown one) gets a 400 or a polite TwiML goodbye, never a crash.
"""

from __future__ import annotations

import io
import logging
import re
import wave
from functools import wraps
from typing import Callable

from flask import Response, current_app, request

from callflows.logs import call_logger
from callflows.speech.codec import PHONE_RATE, ulaw_to_pcm16
from callflows.speech.textnorm import split_sentences
from callflows.store import transfers as tx
from callflows.telephony.handoff import load_handoff
from callflows.telephony.routes import (
    WHISPER_WAIT_S, TwilioContext, _check_webhook, _ctx, bp, public_base_url, stream_url,
)
from callflows.telephony.transfer import TwilioCalls
from callflows.telephony.transfer_settings import TransferSettings, load_transfer_settings
from callflows.telephony.twiml import connect_stream_twiml, hangup_twiml
from callflows.telephony.warm_transfer import PREFIX, TwilioLegs, WarmTransfers, url
from callflows.telephony.warm_twiml import (
    ACCEPT_KEY, DECLINED_TEXT, GONE_TEXT, goodbye_twiml, join_twiml, music_twiml, screen_twiml,
)
from callflows.verticals import UnknownVertical, vertical_root

log = logging.getLogger(__name__)

_ATTEMPT = re.compile(r"^[0-9a-f]{32}$")
NO_SUMMARY = "Transferred call. No summary is available."
RETURN_FAILED = "Sorry, we could not connect you. Please call us again later. Goodbye."


def _xml(twiml: str) -> Response:
    return Response(twiml, mimetype="text/xml")


def _attempt_id() -> str | None:
    value = request.args.get("attempt", "")
    return value if _ATTEMPT.match(value) else None


def _twilio(ctx: TwilioContext) -> TwilioLegs | None:
    services = current_app.extensions.get("callflows")
    client = getattr(services, "twilio", None)
    if isinstance(client, TwilioCalls):
        return client
    s = ctx.settings
    if s.twilio_account_sid and s.twilio_auth_token:
        return TwilioCalls(s.twilio_account_sid, s.twilio_auth_token, s.twilio_api_base)
    return None


def _transfers(ctx: TwilioContext) -> WarmTransfers | None:
    twilio = _twilio(ctx)
    if twilio is None:
        log.error("warm transfer webhook, but no Twilio credentials are configured")
        return None
    return WarmTransfers(ctx.store, twilio, public_base_url(ctx.settings))


def _webhook(replay_protect: bool = False) -> Callable[[Callable[[TwilioContext, str], Response]],
                                                      Callable[[], Response]]:
    """A transfer webhook: signed (else 403), with a well-formed ``attempt`` (else 400)."""

    def wrap(view: Callable[[TwilioContext, str], Response]) -> Callable[[], Response]:
        @wraps(view)
        def checked() -> Response:
            ctx = _ctx()
            refused = _check_webhook(ctx, replay_protect=replay_protect)
            if refused is not None:
                return refused
            attempt_id = _attempt_id()
            if attempt_id is None:
                return Response("an attempt id is required", status=400, mimetype="text/plain")
            return view(ctx, attempt_id)

        return checked

    return wrap


def _attempt(ctx: TwilioContext, attempt_id: str) -> tx.AttemptView | None:
    with ctx.store.session() as s:
        return tx.get_attempt(s, attempt_id)


@bp.post(f"{PREFIX}/hold")
@_webhook()
def transfer_hold(ctx: TwilioContext, attempt_id: str) -> Response:
    attempt = _attempt(ctx, attempt_id)
    if attempt is None:
        return _xml(hangup_twiml())
    try:
        settings = load_transfer_settings(vertical_root(attempt.vertical))
    except UnknownVertical:  # uninstalled since: the default music
        settings = TransferSettings()
    return _xml(music_twiml(settings.hold_music_url))


def _wav(ulaw: bytes) -> bytes:
    """8 kHz mono PCM16 WAV of phone audio (a format every Twilio ``<Play>`` takes)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(PHONE_RATE)
        wav.writeframes(ulaw_to_pcm16(ulaw))
    return out.getvalue()


@bp.get(f"{PREFIX}/hold-message")
def transfer_hold_message() -> Response:
    attempt_id = _attempt_id()
    ctx = _ctx()
    attempt = _attempt(ctx, attempt_id) if attempt_id is not None else None
    if attempt is None or attempt.state not in tx.OPEN_STATES:
        return Response("no such transfer on hold", status=404, mimetype="text/plain")
    prompts = getattr(current_app.extensions.get("callflows"), "prompts", None)
    if prompts is None:
        return Response("no voice on this server", status=503, mimetype="text/plain")
    try:
        settings = load_transfer_settings(vertical_root(attempt.vertical))
    except UnknownVertical:
        settings = TransferSettings()
    clog = call_logger(__name__, attempt.call_id)
    try:  # cached at warm-up (Services.warm_up), so normally no synthesis here
        audio = b"".join(prompts.get(sentence) for sentence in split_sentences(settings.hold_message))
    except Exception as exc:  # noqa: BLE001 - Twilio skips a <Play> it cannot fetch and goes on to the music
        clog.error("warm transfer %s: the hold message could not be voiced (%s)", attempt_id, type(exc).__name__)
        return Response("the hold message could not be voiced", status=503, mimetype="text/plain")
    clog.info("warm transfer %s: the caller hears the hold message", attempt_id)
    return Response(_wav(audio), mimetype="audio/wav", headers={"Cache-Control": "no-store"})


@bp.post(f"{PREFIX}/screen")
@_webhook()
def transfer_screen(ctx: TwilioContext, attempt_id: str) -> Response:
    transfers = _transfers(ctx)
    attempt = transfers.screen(attempt_id) if transfers is not None else None
    if attempt is None:  # decided already (timeout, caller gone) or unknown
        return _xml(goodbye_twiml(GONE_TEXT))
    try:
        handoff = load_handoff(ctx.store, attempt.call_id, wait_s=WHISPER_WAIT_S)
    except Exception as exc:  # noqa: BLE001 - the person still gets to decide
        call_logger(__name__, attempt.call_id).error("screen: the summary could not be read (%s)",
                                                     type(exc).__name__)
        handoff = None
    summary = handoff.spoken() if handoff is not None and not handoff.empty else NO_SUMMARY
    summary = summary.removesuffix(" Connecting you now.")
    call_logger(__name__, attempt.call_id).info("warm transfer %s: the person hears the summary", attempt_id)
    return _xml(screen_twiml(summary, url(public_base_url(ctx.settings), "decide", attempt_id)))


@bp.post(f"{PREFIX}/decide")
@_webhook()
def transfer_decide(ctx: TwilioContext, attempt_id: str) -> Response:
    digits = request.form.get("Digits", "")[:8]
    transfers = _transfers(ctx)
    if transfers is not None and transfers.decide(attempt_id, digits):
        return _xml(join_twiml(attempt_id))
    # 1 pressed too late (the caller hung up, or is back with the bot): say so
    return _xml(goodbye_twiml(GONE_TEXT if digits == ACCEPT_KEY else DECLINED_TEXT))


@bp.post(f"{PREFIX}/agent-status")
@_webhook(replay_protect=True)
def transfer_agent_status(ctx: TwilioContext, attempt_id: str) -> Response:
    status = request.form.get("CallStatus", "")
    if not status:
        return Response("CallStatus is required", status=400, mimetype="text/plain")
    transfers = _transfers(ctx)
    if transfers is not None:
        transfers.agent_status(attempt_id, status[:32])
    return Response(status=204)


@bp.post(f"{PREFIX}/return")
@_webhook()
def transfer_return(ctx: TwilioContext, attempt_id: str) -> Response:
    attempt = _attempt(ctx, attempt_id)
    call_sid = request.form.get("CallSid", "")
    if attempt is None or call_sid != attempt.caller_sid or attempt.state not in tx.FAILED_STATES:
        log.warning("return to the bot refused for attempt %s", attempt_id)
        return _xml(hangup_twiml(RETURN_FAILED))
    assert ctx.grants is not None
    token, params = ctx.grants.issue(call_sid, attempt.vertical, request.form.get("From", "")[:32],
                                     request.form.get("To", "")[:32], resume=attempt_id)
    call_logger(__name__, attempt.call_id).info("warm transfer %s: the caller is back with the bot", attempt_id)
    return _xml(connect_stream_twiml(f"{stream_url(ctx.settings)}/{token}", params))


def note_caller_status(ctx: TwilioContext, call_sid: str, status: str) -> None:
    """``/twilio/status`` for a caller: one who hung up on hold stops the person's phone ringing."""
    if status not in ("completed", "canceled", "failed"):
        return
    transfers = _transfers(ctx)
    if transfers is not None:
        transfers.caller_gone(call_sid)
