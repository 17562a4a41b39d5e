"""Per-call grants for the Media Stream: only what the server put in its own TwiML is trusted.

Why: Twilio's signature on the WebSocket upgrade covers the stream URL and nothing else, and
the ``start`` message's ``customParameters`` (vertical, caller number) are not signed at all.
With a fixed URL, one captured upgrade header opened any number of sockets, forever, and any
vertical name could be sent in ``start``.

So ``/twilio/voice`` issues a grant per call:

* the stream URL carries a token, ``/twilio/media/<expires>.<nonce>.<mac>``: an HMAC over the
  expiry and a random nonce, with a key only the server has.  The upgrade is accepted once
  per token and only until it expires, so a captured header cannot be replayed;
* the parameters carry ``sig``, an HMAC over the token, the call SID, the vertical and the two
  numbers.  At ``start`` the parameters must match it, and the call SID in ``start`` must be
  the one the grant was issued for.

The key (``CALLFLOWS_STREAM_SECRET``, else derived from the Twilio auth token, else random per
process in development) must be the same on every replica that answers webhooks or streams.
Used tokens are remembered per process (a replica behind a load balancer remembers its own);
the expiry bounds what another replica could accept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

TOKEN_TTL_S = 120.0  # Twilio opens the stream within a second or two of reading the TwiML
_TOKEN = re.compile(r"^(?P<expires>[0-9]{10,12})\.(?P<nonce>[0-9a-f]{32})\.(?P<mac>[0-9a-f]{64})$")
SIGNED_PARAMETERS = ("call_sid", "vertical", "from", "to", "resume")  # resume: a warm transfer's attempt
SIGNATURE_PARAMETER = "sig"
MAX_REMEMBERED = 50_000


@dataclass(frozen=True)
class StreamGrant:
    """What the server itself decided for a call, read back from a verified ``start``."""

    call_sid: str
    vertical: str
    from_number: str
    to_number: str
    resume: str = ""  # the warm transfer attempt a caller comes back from (callflows.telephony.callback)


@dataclass(frozen=True)
class GrantCheck:
    """A verdict; true when accepted. ``reason`` is short and safe to log."""

    ok: bool
    reason: str = ""
    grant: StreamGrant | None = None

    def __bool__(self) -> bool:
        return self.ok


def derive_key(secret: str | None, auth_token: str | None) -> bytes:
    """The grant key: the configured secret, else one derived from the Twilio auth token (every
    replica has it), else random (one development process)."""
    if secret:
        return hashlib.sha256(b"callflows stream secret\0" + secret.encode()).digest()
    if auth_token:
        return hmac.new(auth_token.encode(), b"callflows media stream grant v1", hashlib.sha256).digest()
    return secrets.token_bytes(32)


class StreamGrants:
    """Issues and checks per-call stream tokens and parameter signatures (see the module docstring)."""

    def __init__(self, key: bytes, ttl_s: float = TOKEN_TTL_S, clock: Callable[[], float] = time.time):
        if len(key) < 16:
            raise ValueError("the stream grant key must be at least 16 bytes")
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock
        self._used: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def _mac(self, *parts: str) -> str:
        return hmac.new(self._key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ issue
    def issue(self, call_sid: str, vertical: str, from_number: str, to_number: str,
              resume: str = "") -> tuple[str, dict[str, str]]:
        """(URL token, TwiML parameters) for one incoming call (``resume``: one back from a transfer)."""
        expires = str(int(self._clock() + self.ttl_s))
        nonce = secrets.token_hex(16)
        token = f"{expires}.{nonce}.{self._mac('url', expires, nonce)}"
        params = {"call_sid": call_sid, "vertical": vertical, "from": from_number, "to": to_number}
        if resume:
            params["resume"] = resume
        params[SIGNATURE_PARAMETER] = self._params_mac(token, params)
        return token, params

    def _params_mac(self, token: str, params: dict[str, str]) -> str:
        return self._mac("start", token, *(params.get(k, "") for k in SIGNED_PARAMETERS))

    # ------------------------------------------------------------------ check
    def check_token(self, token: str) -> GrantCheck:
        """The upgrade's URL token: well-formed, ours, not expired, and not used before."""
        m = _TOKEN.match(token or "")
        if m is None:
            return GrantCheck(False, "no stream token")
        if not hmac.compare_digest(m["mac"], self._mac("url", m["expires"], m["nonce"])):
            return GrantCheck(False, "invalid stream token")
        now = self._clock()
        if int(m["expires"]) < now:
            return GrantCheck(False, "expired stream token")
        with self._lock:
            while self._used and (next(iter(self._used.values())) < now or len(self._used) >= MAX_REMEMBERED):
                self._used.popitem(last=False)
            if m["nonce"] in self._used:
                return GrantCheck(False, "stream token already used")
            self._used[m["nonce"]] = float(m["expires"])
        return GrantCheck(True, "ok")

    def check_start(self, token: str, call_sid: str, params: dict[str, str]) -> GrantCheck:
        """The ``start`` message's parameters: signed by us for this token and this call."""
        sig = params.get(SIGNATURE_PARAMETER, "")
        if not sig or not hmac.compare_digest(str(sig), self._params_mac(token, params)):
            return GrantCheck(False, "stream parameters not signed by this server")
        if params.get("call_sid") != call_sid:
            return GrantCheck(False, "stream parameters are for another call")
        grant = StreamGrant(call_sid=call_sid, vertical=params.get("vertical", ""),
                            from_number=params.get("from", ""), to_number=params.get("to", ""),
                            resume=params.get("resume", ""))
        return GrantCheck(True, "ok", grant)
