"""Warm transfer: the caller on hold, the person screened, the caller back with the bot if no one takes it.

Why a ``<Conference>`` and a REST-placed call rather than ``<Dial action=...>``: during a
``<Dial>`` the caller hears ringing, not a message and music, and the person's leg only
exists inside it.  Twilio recommends the conference for contact-centre transfers; here:

1. the caller's call is updated (REST) to the short hold message in the bot's voice (``<Play>``
   of ``/twilio/transfer/hold-message``) and a conference whose ``waitUrl`` plays the hold
   music (that also ends the bot's Media Stream);
2. the person's line is called (REST ``Calls.json``, ring timeout from the vertical, status
   callbacks for initiated, ringing, answered and completed);
3. when they answer, Twilio fetches the screen: the masked handoff summary and
   ``<Gather numDigits=1>``; 1 puts them in the conference (the caller is connected), any
   other key or none declines;
4. no answer, busy, failed, declined, or nothing decided after ``max_wait_s`` (28 s; the
   person's ring timeout of 20 s gets about 5 s more from Twilio): the caller's call is
   redirected (REST ``Url=``) to ``/twilio/transfer/return``, which answers with a fresh
   ``<Connect><Stream>``; the bot apologises and takes a callback request
   (``callflows.telephony.callback``).

Every outcome is decided once, in the store (``callflows.store.transfers.transition``), since
the webhooks and the watchdog may race and may run in different workers.  The call record
says how the transfer ended (``calls.outcome``, ``summary["transfer"]``) in every case.
A failed REST request is logged and the caller is sent back to the bot (or, if even that
fails, the error is on the record).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from callflows.logs import call_logger
from callflows.store import transfers as tx
from callflows.store.db import Store
from callflows.store.models import Call
from callflows.store.types import utcnow
from callflows.telephony import metrics
from callflows.telephony.transfer import TransferError
from callflows.telephony.transfer_settings import TransferSettings
from callflows.telephony.warm_twiml import ACCEPT_KEY, hold_twiml

log = logging.getLogger(__name__)

PREFIX = "/twilio/transfer"
FAILED_AGENT_STATUSES = {"busy": "busy", "no-answer": "no_answer", "failed": "failed", "canceled": "canceled"}


class TwilioLegs(Protocol):
    """The REST requests a warm transfer makes (``callflows.telephony.transfer.TwilioCalls``)."""

    def update_twiml(self, call_sid: str, twiml: str, what: str = ...) -> None: ...

    def redirect(self, call_sid: str, url: str, what: str = ...) -> None: ...

    def dial(self, to: str, from_: str, url: str, status_callback: str, timeout_s: int) -> str: ...

    def end(self, call_sid: str, status: str = ...) -> None: ...


@dataclass(frozen=True)
class WarmStart:
    """What the bot knows when it hands a call over."""

    call_id: str
    caller_sid: str
    number: str  # the business's line to ring
    from_number: str  # our Twilio number the caller dialled: the caller id the person sees


def url(base_url: str, step: str, attempt_id: str) -> str:
    return f"{base_url.rstrip('/')}{PREFIX}/{step}?attempt={attempt_id}"


class WarmTransfers:
    """Starts attempts and applies what Twilio reports about them; one per request or call."""

    def __init__(self, store: Store, twilio: TwilioLegs, base_url: str):
        self.store = store
        self.twilio = twilio
        self.base_url = base_url.rstrip("/")

    # ------------------------------------------------------------------ start
    def start(self, request: WarmStart, settings: TransferSettings) -> str:
        """Put the caller on hold and ring the person; the attempt id.  ``TransferError`` when
        the caller could not even be put on hold (the bot still has the line: it says so)."""
        clog = call_logger(__name__, request.call_id)
        with self.store.session() as s:
            attempt_id = tx.create_attempt(s, request.call_id, request.number, request.caller_sid).id
            self._record(s, request.call_id, "transfer_pending", attempt_id, tx.DIALING)
        try:
            message = url(self.base_url, "hold-message", attempt_id) if settings.hold_message.strip() else None
            self.twilio.update_twiml(request.caller_sid, hold_twiml(message, url(self.base_url, "hold", attempt_id),
                                                                   attempt_id), "hold")
        except TransferError as exc:
            clog.error("warm transfer: the caller could not be put on hold: %s", exc)
            self._decide(attempt_id, "failed", f"hold refused: {exc}"[:200], return_caller=False)
            raise
        clog.info("warm transfer %s: caller on hold, ringing the person", attempt_id)
        timer = threading.Timer(settings.max_wait_s, self.timeout, args=(attempt_id,))
        timer.daemon = True
        timer.start()
        try:
            agent_sid = self.twilio.dial(request.number, request.from_number, url(self.base_url, "screen", attempt_id),
                                         url(self.base_url, "agent-status", attempt_id), settings.ring_timeout_s)
        except TransferError as exc:
            clog.error("warm transfer %s: the person's line could not be called: %s", attempt_id, exc)
            self._decide(attempt_id, "failed", f"dial refused: {exc}"[:200])
            timer.cancel()
            return attempt_id
        with self.store.session() as s:
            tx.set_agent_sid(s, attempt_id, agent_sid)
            attempt = tx.get_attempt(s, attempt_id)
        if attempt is not None and attempt.state not in tx.OPEN_STATES and attempt.state != tx.ACCEPTED:
            # Decided while the dial request was still out (the caller hung up on hold, the watchdog):
            # that decision could not end a leg it had no sid for, so the person's phone would ring on.
            timer.cancel()
            clog.info("warm transfer %s: already %s when the person's line was placed: canceling it",
                      attempt_id, attempt.state)
            try:
                self.twilio.end(agent_sid, "canceled")
            except TransferError as exc:
                clog.warning("warm transfer %s: the person's leg could not be ended: %s", attempt_id, exc)
        return attempt_id

    # ------------------------------------------------------------------ events
    def agent_status(self, attempt_id: str, status: str) -> None:
        """A status callback of the person's leg."""
        with self.store.session() as s:
            attempt = tx.get_attempt(s, attempt_id)
            if attempt is None:
                return
            tx.note_agent_status(s, attempt_id, status)
            if status == "ringing":
                tx.transition(s, attempt_id, (tx.DIALING,), tx.RINGING)
        clog = call_logger(__name__, attempt.call_id)
        clog.info("warm transfer %s: the person's line is %s", attempt_id, status)
        if status in FAILED_AGENT_STATUSES:
            self._decide(attempt_id, FAILED_AGENT_STATUSES[status], f"the person's line: {status}")
        elif status == "completed":  # hung up (or a machine did) before accepting
            self._decide(attempt_id, "declined", "the person hung up before accepting", end_agent=False)

    def screen(self, attempt_id: str) -> tx.AttemptView | None:
        """The person answered: the attempt (for the summary), None when it is already decided."""
        with self.store.session() as s:
            attempt = tx.get_attempt(s, attempt_id)
            if attempt is None:
                return None
            won = tx.transition(s, attempt_id, (tx.DIALING, tx.RINGING), tx.SCREENING, answered_at=utcnow())
        return attempt if won else None

    def decide(self, attempt_id: str, digits: str) -> bool:
        """The person's key: True when they took the call (and the caller is still waiting)."""
        if digits == ACCEPT_KEY:
            with self.store.session() as s:
                won = tx.transition(s, attempt_id, (tx.SCREENING,), tx.ACCEPTED, "accepted with 1")
                attempt = tx.get_attempt(s, attempt_id)
                if won and attempt is not None:
                    self._record(s, attempt.call_id, "transferred", attempt_id, tx.ACCEPTED, transferred=True,
                                 transfer_to=attempt.number)
            if won and attempt is not None:
                call_logger(__name__, attempt.call_id).info("warm transfer %s: accepted, caller connected", attempt_id)
                metrics.transfer("warm", tx.ACCEPTED)
                metrics.call_finished(attempt.vertical, "transferred", escalated=False, transferred=True)
            return won
        why = "no key pressed" if not digits else "declined with a key"
        self._decide(attempt_id, "declined", why, end_agent=False, from_states=(tx.SCREENING,))
        return False

    def timeout(self, attempt_id: str) -> bool:
        """The watchdog: nothing decided in ``max_wait_s``, the caller goes back to the bot.
        False when the attempt was decided already (the race is the store's)."""
        return self._decide(attempt_id, "timeout", "no decision in time")

    def caller_gone(self, caller_sid: str) -> None:
        """The caller hung up while on hold: stop ringing the person."""
        with self.store.session() as s:
            attempt_id = tx.open_attempt_for_caller(s, caller_sid)
        if attempt_id:
            self._decide(attempt_id, tx.ABANDONED, "the caller hung up on hold", return_caller=False)

    # ------------------------------------------------------------------ outcomes
    def _decide(self, attempt_id: str, state: str, detail: str, *, return_caller: bool = True, end_agent: bool = True,
                from_states: tuple[str, ...] = tx.OPEN_STATES) -> bool:
        with self.store.session() as s:
            before = tx.get_attempt(s, attempt_id)  # the state it was decided from
            won = tx.transition(s, attempt_id, from_states, state, detail)
            attempt = tx.get_attempt(s, attempt_id)
            if won and attempt is not None:
                self._record(s, attempt.call_id, f"transfer_{state}", attempt_id, state, transferred=False)
        if not won or attempt is None or before is None:
            return False
        clog = call_logger(__name__, attempt.call_id)
        clog.info("warm transfer %s: %s (%s)", attempt_id, state, detail)
        metrics.transfer("warm", state)
        if not return_caller:  # nobody comes back to the bot: the call is over now
            metrics.call_finished(attempt.vertical, f"transfer_{state}", escalated=False, transferred=False)
        if end_agent and attempt.agent_sid and state not in ("busy", "no_answer", "failed", "canceled"):
            try:  # a line still ringing is canceled; one answered (screening) is hung up
                self.twilio.end(attempt.agent_sid, "canceled" if before.state in (tx.DIALING, tx.RINGING)
                                else "completed")
            except TransferError as exc:
                clog.warning("warm transfer %s: the person's leg could not be ended: %s", attempt_id, exc)
        if return_caller:
            self._return_caller(attempt)
        return True

    def _return_caller(self, attempt: tx.AttemptView) -> None:
        clog = call_logger(__name__, attempt.call_id)
        try:
            self.twilio.redirect(attempt.caller_sid, url(self.base_url, "return", attempt.id), "return to the bot")
        except TransferError as exc:
            clog.error("warm transfer %s: the caller could not be sent back to the bot: %s", attempt.id, exc)
            metrics.error("transfer_refused")
            metrics.call_finished(attempt.vertical, "transfer_return_failed", escalated=False, transferred=False)
            with self.store.session() as s:
                self._record(s, attempt.call_id, "transfer_return_failed", attempt.id, attempt.state)

    @staticmethod
    def _record(s: Session, call_id: str, outcome: str, attempt_id: str, state: str, *,
                transferred: bool | None = None, transfer_to: str | None = None) -> None:
        """The call record says where the transfer stands (it was finished when the bot let go)."""
        call = s.get(Call, call_id)
        if call is None:
            return
        call.outcome = outcome
        if transferred is not None:
            call.transferred = transferred
        if transfer_to is not None:
            call.transfer_to = transfer_to
        summary = dict(call.summary or {})
        summary["transfer"] = {"mode": "warm", "attempt": attempt_id, "state": state}
        call.summary = summary
        if call.ended_at is None and outcome != "transfer_pending":
            call.ended_at = utcnow()
