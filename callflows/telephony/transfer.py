"""Change live calls through Twilio's REST API: transfer, redirect, place and end them.

``POST {api_base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with ``Twiml=<Dial>``
(cold transfer), ``Twiml=...`` (any new TwiML: the warm transfer's hold), ``Url=`` (fetch the
next TwiML from us: the way back to the bot) or ``Status=completed|canceled`` (hang-up),
HTTP basic auth (account SID, auth token); ``POST .../Calls.json`` places a new call (the
warm transfer's leg to the person, with status callbacks).
Updating the call's TwiML ends its ``<Connect><Stream>``: Twilio closes the Media Stream socket
and runs the new TwiML.  The ``twilio`` library's ``Client`` does the request; its API domain
is pointed at ``api_base`` so tests (and a regional or mock endpoint) can stand in for Twilio.
"""

from __future__ import annotations

import logging
import re
from typing import Callable, TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from callflows.telephony.twiml import dial_twiml

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.twilio.com"
_SID = re.compile(r"^[A-Za-z]{2}[0-9a-fA-F]{32}$")
_LOOSE_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_T = TypeVar("_T")
AGENT_EVENTS = ("initiated", "ringing", "answered", "completed")


class TransferError(RuntimeError):
    """Twilio refused or could not be reached; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


def _check_sid(sid: str, what: str) -> str:
    # CallSids are "CA" + 32 hex digits; anything URL-safe is let through for stand-ins,
    # nothing that could change the request path.
    if not isinstance(sid, str) or not (_SID.match(sid) or _LOOSE_SID.match(sid)):
        raise TransferError(f"invalid {what}")
    return sid


class TwilioCalls:
    """``transfer(call_sid, number, say=None)`` and ``hangup(call_sid)`` on live calls."""

    def __init__(self, account_sid: str, auth_token: str, api_base: str = DEFAULT_API_BASE,
                 timeout: float = 10.0):
        if not account_sid or not auth_token:
            raise ValueError("TwilioCalls needs an account SID and an auth token")
        self.account_sid = _check_sid(account_sid, "account SID")
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.timeout = timeout
        # A non-empty environment: the Client must not pick TWILIO_EDGE / TWILIO_REGION up
        # from os.environ (they rewrite the host name and would bypass api_base).
        self._client = Client(
            account_sid, auth_token, account_sid=account_sid,
            http_client=TwilioHttpClient(timeout=timeout),
            environment={"CALLFLOWS": "1"},
        )
        self._client.api.base_url = self.api_base

    def _rest(self, what: str, request: Callable[[], _T]) -> _T:
        """One REST request; every failure becomes a ``TransferError`` that says what failed."""
        try:
            return request()
        except TwilioRestException as exc:
            raise TransferError(
                f"Twilio refused the {what} (HTTP {exc.status}"
                + (f", error {exc.code}" if exc.code else "") + ")",
                status=exc.status, code=exc.code,
            ) from None
        except requests.Timeout:
            raise TransferError(f"Twilio did not answer the {what} within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise TransferError(f"Twilio not reachable for the {what}: {type(exc).__name__}") from None
        except TwilioException as exc:
            raise TransferError(f"the {what} failed: {exc}") from None
        except ValueError as exc:  # an answer that is not JSON
            raise TransferError(f"unreadable answer from Twilio to the {what}: {type(exc).__name__}") from None

    def _update(self, call_sid: str, what: str, **fields: str) -> None:
        call_sid = _check_sid(call_sid, "call SID")
        self._rest(what, lambda: self._client.api.v2010.accounts(self.account_sid).calls(call_sid).update(**fields))

    def transfer(self, call_sid: str, number: str, say: str | None = None, whisper_url: str | None = None) -> None:
        """Replace the call's TwiML with ``<Say>say</Say><Dial>number</Dial>``; with
        ``whisper_url``, the person hears that URL's TwiML (the call's summary) first."""
        try:
            twiml = dial_twiml(number, say, whisper_url)
        except ValueError as exc:
            raise TransferError(str(exc)) from None
        self._update(call_sid, "transfer", twiml=twiml)
        log.info("call %s transferred", call_sid)

    def update_twiml(self, call_sid: str, twiml: str, what: str = "call update") -> None:
        """Replace what a live call is doing with ``twiml``."""
        self._update(call_sid, what, twiml=twiml)

    def redirect(self, call_sid: str, url: str, what: str = "redirect") -> None:
        """Make a live call fetch its next TwiML from ``url`` (POST, signed by Twilio)."""
        self._update(call_sid, what, url=url, method="POST")

    def dial(self, to: str, from_: str, url: str, status_callback: str, timeout_s: int) -> str:
        """Place a call to ``to`` (the person taking a transfer): Twilio fetches ``url`` when it
        is answered and posts every progress event to ``status_callback``; the new CallSid."""
        created = self._rest("call to the person", lambda: self._client.api.v2010.accounts(self.account_sid).calls.create(
            to=to, from_=from_, url=url, method="POST", status_callback=status_callback,
            status_callback_method="POST", status_callback_event=list(AGENT_EVENTS), timeout=timeout_s,
        ))
        sid = getattr(created, "sid", None)
        if not isinstance(sid, str) or not _SID.match(sid):
            raise TransferError("Twilio's answer to the call to the person has no CallSid")
        return sid

    def end(self, call_sid: str, status: str = "completed") -> None:
        """End a call: ``canceled`` while it is queued or ringing, ``completed`` once answered."""
        if status not in ("completed", "canceled"):
            raise TransferError("a call is ended with completed or canceled")
        self._update(call_sid, "hang-up", status=status)

    def hangup(self, call_sid: str) -> None:
        """End the call (``Status=completed``)."""
        self._update(call_sid, "hang-up", status="completed")
        log.info("call %s hung up", call_sid)
