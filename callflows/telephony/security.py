"""Is this request from Twilio?  ``X-Twilio-Signature`` checks for webhooks and the Media Stream socket.

Twilio signs every request with HMAC-SHA1 (key: the account's auth token) over the URL it
requested followed by the sorted POST parameters (``twilio.request_validator.RequestValidator``).

* Webhooks (``check_webhook``): the URL is the configured public URL (``CALLFLOWS_PUBLIC_URL``,
  what Twilio was told) + the request path + query string, since behind a TLS-terminating
  proxy ``request.url`` says ``http://internal-host``; with no public URL, ``request.url``.
  Parameters: the form fields.
* The WebSocket upgrade (``check_websocket``): Twilio signs the ``wss://`` URL of the
  ``<Stream>`` with no parameters.  We accept the signature over either the ``wss://`` or the
  ``https://`` form of the same URL (public URL with its scheme swapped, or the request host),
  so a proxy or a stand-in that signs the other form still works; both prove the token holder
  signed this host and path.  With no public URL and a plain-HTTP request (development, the
  local simulator), the ``ws://`` and ``http://`` forms are accepted too.
* Replays: with ``replay_protect=True`` (status callbacks), a (signature, CallSid, CallStatus)
  already accepted in the last ``replay_ttl_s`` seconds is refused.  A valid signature never
  expires by itself, so this stops an identical status callback being replayed to, say,
  end a call again.  In memory, bounded, per process: a restart forgets (the store's
  ``finish_call`` is idempotent anyway).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


@dataclass(frozen=True)
class CheckResult:
    """The verdict of a check; true when the request may be served.  ``reason`` says why not."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


OK = CheckResult(True, "ok")


class ReplayCache:
    """Keys seen in the last ``ttl_s`` seconds, at most ``max_entries`` (the oldest go first)."""

    def __init__(self, ttl_s: float = 300.0, max_entries: int = 10_000, clock: Any = time.monotonic):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[tuple[str, ...], float] = OrderedDict()
        self._lock = threading.Lock()

    def seen_before(self, key: tuple[str, ...]) -> bool:
        """True if ``key`` was recorded less than ``ttl_s`` ago; else record it and return False."""
        now = self._clock()
        with self._lock:
            while self._seen:
                _, at = next(iter(self._seen.items()))
                if now - at < self.ttl_s and len(self._seen) < self.max_entries:
                    break
                self._seen.popitem(last=False)
            if key in self._seen:
                return True
            self._seen[key] = now
            return False

    def __len__(self) -> int:
        return len(self._seen)


def _swap_scheme(url: str, scheme: str) -> str:
    _, sep, rest = url.partition("://")
    return f"{scheme}://{rest}" if sep else url


def _query(flask_request: Any) -> str:
    qs = flask_request.query_string.decode("utf-8", "replace") if flask_request.query_string else ""
    return f"?{qs}" if qs else ""


class TwilioSignatureChecker:
    """``check_webhook(request)`` / ``check_websocket(request)``; see the module docstring."""

    def __init__(self, auth_token: str, public_url: str | None = None, *,
                 replay_ttl_s: float = 300.0, replay_max_entries: int = 10_000):
        if not auth_token:
            raise ValueError("an auth token is required to check Twilio signatures")
        self._validator = RequestValidator(auth_token)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.replays = ReplayCache(replay_ttl_s, replay_max_entries)

    # ------------------------------------------------------------------ URLs
    def webhook_url(self, flask_request: Any) -> str:
        """The URL Twilio signed for this webhook."""
        if self.public_url:
            return f"{self.public_url}{flask_request.path}{_query(flask_request)}"
        return flask_request.url

    def websocket_urls(self, flask_request: Any) -> list[str]:
        """The URLs whose signature we accept for this WebSocket upgrade (wss form first)."""
        tail = f"{flask_request.path}{_query(flask_request)}"
        if self.public_url:
            base = self.public_url
            secure = base.startswith("https://")
            urls = [_swap_scheme(base, "wss" if secure else "ws") + tail, base + tail]
        else:
            host = flask_request.host
            urls = [f"wss://{host}{tail}", f"https://{host}{tail}"]
            if not flask_request.is_secure:  # development without TLS: the plain forms too
                urls += [f"ws://{host}{tail}", f"http://{host}{tail}"]
        return list(dict.fromkeys(urls))

    # ------------------------------------------------------------------ checks
    def _valid(self, url: str, params: Any, signature: str) -> bool:
        try:
            return bool(self._validator.validate(url, params, signature))
        except Exception:  # noqa: BLE001 - e.g. a crafted bodySHA256 query parameter
            return False

    def check_webhook(self, flask_request: Any, *, replay_protect: bool = False) -> CheckResult:
        """A webhook (form POST) signed by Twilio; with ``replay_protect``, not seen before."""
        signature = flask_request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return CheckResult(False, "missing signature")
        params = flask_request.form
        if not self._valid(self.webhook_url(flask_request), params, signature):
            return CheckResult(False, "invalid signature")
        if replay_protect:
            key = (signature, params.get("CallSid", ""), params.get("CallStatus", ""))
            if self.replays.seen_before(key):
                return CheckResult(False, "replayed request")
        return OK

    def check_websocket(self, flask_request: Any) -> CheckResult:
        """The WebSocket upgrade of a Media Stream, signed by Twilio (no parameters)."""
        signature = flask_request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return CheckResult(False, "missing signature")
        for url in self.websocket_urls(flask_request):
            if self._valid(url, {}, signature):
                return OK
        return CheckResult(False, "invalid signature")
