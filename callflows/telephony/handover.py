"""The bot lets go of a call: a cold ``<Dial>`` or a warm transfer, per the vertical's setting.

Why its own module: the call handler (``callflows/telephony/call.py``) only knows that a
person must take the call; which way, and what to do when Twilio refuses, is decided here.
A refused REST request degrades to a spoken apology over the still-open Media Stream (the
only way left to reach the caller), and the call record says the transfer failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from callflows.logs import call_logger
from callflows.store.models import Call
from callflows.telephony import metrics
from callflows.telephony.outbound import OutboundAudio
from callflows.telephony.transfer import TransferError
from callflows.telephony.transfer_settings import load_transfer_settings
from callflows.telephony.warm_transfer import WarmStart, WarmTransfers

if TYPE_CHECKING:
    from callflows.telephony.services import PhoneServices

log = logging.getLogger(__name__)

TRANSFER_FAILED = ("I'm sorry, I can't connect you to a colleague right now. "
                   "Please call us again a little later. Goodbye.")


@dataclass(frozen=True)
class HandOverRequest:
    call_id: str
    caller_sid: str
    stream_sid: str
    number: str  # the business's line
    vertical_root: Path
    base_url: str | None  # how Twilio reaches us (webhooks of the warm transfer)
    whisper_url: str | None  # the cold transfer's whisper
    to_number: str  # the Twilio number the caller dialled


@dataclass(frozen=True)
class HandOver:
    ok: bool
    mode: str


def hand_over(services: "PhoneServices", request: HandOverRequest, send: Callable[[str], None]) -> HandOver:
    """Transfer the call; on a refused request, say sorry on the stream and note it on the call."""
    clog = call_logger(__name__, request.call_id)
    twilio = services.twilio
    settings = load_transfer_settings(request.vertical_root)
    warm = settings.warm and bool(request.base_url) and bool(request.to_number)
    if settings.warm and not warm:
        clog.warning("warm transfer needs the public URL and the called number: a cold transfer instead")
    try:
        if twilio is None:
            raise TransferError("no Twilio credentials are configured")
        if warm:
            WarmTransfers(services.store, twilio, request.base_url or "").start(
                WarmStart(request.call_id, request.caller_sid, request.number, request.to_number), settings)
        else:
            twilio.transfer(request.caller_sid, request.number, whisper_url=request.whisper_url)
    except TransferError as exc:
        clog.error("transfer failed (%s): %s", "warm" if warm else "cold", exc)
        metrics.error("transfer_refused")
        if not warm:  # a warm one counts its own outcome (warm_transfer.py)
            metrics.transfer("cold", "failed")
        _note_failure(services, request.call_id, "warm" if warm else "cold")
        _say(services, send, request.stream_sid, TRANSFER_FAILED, clog)
        return HandOver(False, "warm" if warm else "cold")
    clog.info("handed over (%s transfer)", "warm" if warm else "cold")
    if not warm:
        metrics.transfer("cold", "dialed")
    return HandOver(True, "warm" if warm else "cold")


def _note_failure(services: "PhoneServices", call_id: str, mode: str) -> None:
    try:
        with services.store.session() as s:
            call = s.get(Call, call_id)
            if call is not None:
                call.outcome, call.transferred = "transfer_failed", False
                call.summary = {**(call.summary or {}), "transfer": {"mode": mode, "state": "failed"}}
    except Exception as exc:  # noqa: BLE001 - the caller still hears the apology
        call_logger(__name__, call_id).error("transfer failure not recorded: %s", type(exc).__name__)


def _say(services: "PhoneServices", send: Callable[[str], None], stream_sid: str, text: str,
         clog: logging.LoggerAdapter) -> None:  # type: ignore[type-arg]
    try:
        out = OutboundAudio(send, stream_sid)
        out.play(services.speech(text), "transfer-failed")
        out.wait_played(timeout=15)
    except Exception as exc:  # noqa: BLE001 - the socket may be gone too
        clog.warning("the apology could not be spoken: %s", type(exc).__name__)
