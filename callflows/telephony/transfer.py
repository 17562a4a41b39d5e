"""Change a live call through Twilio's REST API: transfer it to a person, or hang it up.

``POST {api_base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with ``Twiml=<Dial>``
(transfer) or ``Status=completed`` (hang-up), HTTP basic auth (account SID, auth token).
Updating the call's TwiML ends its ``<Connect><Stream>``: Twilio closes the Media Stream socket
and runs the new TwiML.  The ``twilio`` library's ``Client`` does the request; its API domain
is pointed at ``api_base`` so tests (and a regional or mock endpoint) can stand in for Twilio.
"""

from __future__ import annotations

import logging
import re

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from callflows.telephony.twiml import dial_twiml

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.twilio.com"
_SID = re.compile(r"^[A-Za-z]{2}[0-9a-fA-F]{32}$")
_LOOSE_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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

    def _update(self, call_sid: str, what: str, **fields: str) -> None:
        call_sid = _check_sid(call_sid, "call SID")
        try:
            self._client.api.v2010.accounts(self.account_sid).calls(call_sid).update(**fields)
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

    def transfer(self, call_sid: str, number: str, say: str | None = None, whisper_url: str | None = None) -> None:
        """Replace the call's TwiML with ``<Say>say</Say><Dial>number</Dial>``; with
        ``whisper_url``, the person hears that URL's TwiML (the call's summary) first."""
        try:
            twiml = dial_twiml(number, say, whisper_url)
        except ValueError as exc:
            raise TransferError(str(exc)) from None
        self._update(call_sid, "transfer", twiml=twiml)
        log.info("call %s transferred", call_sid)

    def hangup(self, call_sid: str) -> None:
        """End the call (``Status=completed``)."""
        self._update(call_sid, "hang-up", status="completed")
        log.info("call %s hung up", call_sid)
