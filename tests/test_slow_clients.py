"""Slow clients must not starve calls (security issue 12).

The phone server's app (``create_app`` with the real routes, ``EchoHandler`` calls) runs the way
`callflows serve` runs it: gunicorn in a subprocess, ``gunicorn_options`` (so the
``SlowClientWorker`` of callflows/telephony/http_worker.py and the default thread count), short
limits from the environment.  Attackers connect from 127.0.0.2 and up, 50 per address (Linux
routes all of 127/8 to loopback; under the per-address limit, so what is tested is the worker's
handling, not the limit), the real call from 127.0.0.1.
"""

from __future__ import annotations

import base64
import os
import selectors
import socket
import struct
import time
from typing import Iterator
from urllib.parse import urlparse

import pytest
import requests
import websocket

from callflows.telephony.http_worker import client_key
from tests.fixtures.gunicorn import EchoServer, echo_server
from tests.fixtures.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALL_SID,
    PUBLIC_URL,
    StreamInvite,
    answer_call,
    sign,
    start_msg,
    stop_msg,
)

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0
MAX_CONN_PER_IP = 64
ATTACKERS = 200  # stalled request heads, and as many idle WebSockets
PER_SOURCE = 50  # attackers per source address: under the per-address limit, so the heads reach the worker
PARTIAL_HEAD = b"GET /twilio/voice HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoServer]:
    env = {"CALLFLOWS_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S), "CALLFLOWS_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
           "CALLFLOWS_MAX_CONN_PER_IP": str(MAX_CONN_PER_IP)}
    with echo_server(tmp_path_factory.mktemp("slow-clients"), env=env) as running:
        yield running


def _connect(source: str, port: int) -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def _sources(first: int, count: int) -> list[str]:
    """``count`` attacker addresses, 127.0.0.<first> on, each used PER_SOURCE times."""
    return [f"127.0.0.{first + i // PER_SOURCE}" for i in range(count)]


def _timed_answer(base: str, call_sid: str = CALL_SID) -> tuple[float, StreamInvite]:
    """Twilio's signed POST to /twilio/voice, and how long the answer took."""
    started = time.perf_counter()
    invite = answer_call(base, call_sid=call_sid, public_url=PUBLIC_URL)
    return time.perf_counter() - started, invite


def _open_idle_stream(source: str, port: int, invite: StreamInvite) -> socket.socket:
    """A signed Media Stream upgrade that never sends a message (no ``start``)."""
    target = urlparse(invite.ws_url)
    path = target.path + (f"?{target.query}" if target.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    s = _connect(source, port)
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               + "".join(f"{h}\r\n" for h in invite.headers()) + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, f"the upgrade was closed: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    return s


def _real_call(invite: StreamInvite) -> int | None:
    """A call's stream: signed upgrade, start, stop, each answered (EchoHandler's marks); None
    when it went through, else the code of the close frame the server sent instead."""
    ws = websocket.create_connection(invite.ws_url, header=invite.headers(), timeout=5)
    try:
        ws.send(start_msg(seq=1, params=invite.params, call_sid=invite.params["call_sid"]))
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else -1
        assert b'"start"' in frame.data, frame.data
        ws.send(stop_msg(seq=2))
        assert b"StreamStop" in ws.recv_frame().data
        return None
    finally:
        ws.close()


def _signed_status(base: str) -> int:
    params = {"CallSid": CALL_SID, "AccountSid": ACCOUNT_SID, "CallStatus": "in-progress",
              "Timestamp": str(time.time())}
    signature = sign(AUTH_TOKEN, f"{PUBLIC_URL}/twilio/status", params)
    return requests.post(f"{base}/twilio/status", data=params, headers={"X-Twilio-Signature": signature},
                         timeout=5).status_code


def _read_until_closed(socks: list[socket.socket], timeout: float) -> tuple[float, dict[socket.socket, bytes]]:
    """Read each socket until end-of-file (the server closed it), all within ``timeout`` seconds:
    when the last one closed (monotonic clock), and what each received."""
    started = time.monotonic()
    received = {s: b"" for s in socks}
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as sel:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        while len(closed) < len(socks):
            left = started + timeout - time.monotonic()
            assert left > 0, f"{len(socks) - len(closed)} of {len(socks)} sockets still open after {timeout} s"
            for key, _ in sel.select(min(left, 0.5)):
                try:
                    data = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    data = b""
                received[key.fileobj] += data
                if not data:
                    closed[key.fileobj] = time.monotonic()
                    sel.unregister(key.fileobj)
    return max(closed.values(), default=started), received


def _close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


def _stall_heads(port: int, stalled: list[socket.socket]) -> None:
    """ATTACKERS connections from 127.0.0.2-5 that send half a request head and stop."""
    for source in _sources(2, ATTACKERS):
        s = _connect(source, port)
        s.sendall(PARTIAL_HEAD)
        stalled.append(s)


def test_stalled_request_heads_do_not_starve_a_call(server):
    base, port = server.base, server.port
    _timed_answer(base)  # warm: the first request of a process pays for lazy imports
    stalled: list[socket.socket] = []
    try:
        _stall_heads(port, stalled)
        sent_at = time.monotonic()

        answers = [_timed_answer(base) for _ in range(5)]
        took = [t for t, _ in answers]
        print(f"\nsigned POST /twilio/voice during {ATTACKERS} stalled heads: "
              + ", ".join(f"{t * 1000:.0f}" for t in took) + " ms")
        assert max(took) < 1.0
        assert _real_call(answers[-1][1]) is None
        assert _signed_status(base) == 204

        after = _read_until_closed(stalled, HEADER_TIMEOUT_S + 3)[0] - sent_at
        print(f"stalled heads closed by the server, the last {after:.1f} s after it was sent")
        assert after < HEADER_TIMEOUT_S + 2
    finally:
        _close_all(stalled)

    deadline = time.monotonic() + 3  # the counts are logged by the worker's next round (about 1 s)
    while "x no complete request head within" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = server.log.read_text().splitlines()
    logged = [line for line in lines if "closed: no complete request head within" in line]
    assert 1 <= len(logged) <= 3, logged  # a few logged, the rest counted
    assert any("x no complete request head within" in line for line in lines), lines[-20:]


def test_stalled_heads_and_idle_streams_do_not_starve_a_call(server):
    """200 stalled request heads and 200 upgraded, signed sockets, each with its own valid
    stream grant and never a message; then a real call is answered and greeted within 1 s.

    The media route lets at most 16 sockets wait for their ``start`` (3 s each); at the bound the
    oldest makes way (1013), so idle sockets cannot lock a real call out.  Webhooks are unaffected."""
    base, port = server.base, server.port
    invites = [answer_call(base, call_sid=f"CA{i:032d}", public_url=PUBLIC_URL) for i in range(ATTACKERS)]
    stalled: list[socket.socket] = []
    idle: list[socket.socket] = []
    try:
        _stall_heads(port, stalled)
        opened_at = time.monotonic()
        for source, invite in zip(_sources(6, ATTACKERS), invites):  # 127.0.0.6-9
            idle.append(_open_idle_stream(source, port, invite))
        started = time.perf_counter()
        took, real = _timed_answer(base, call_sid="CA" + "d" * 32)
        code = _real_call(real)
        greeted = time.perf_counter() - started
        print(f"\nduring {ATTACKERS} stalled heads and {ATTACKERS} idle streams: voice webhook {took * 1000:.0f} ms, "
              f"webhook to the stream's first answer {greeted * 1000:.0f} ms")
        assert code is None, f"the real call's stream was closed with {code}"
        assert greeted < 1.0
        assert _signed_status(base) == 204

        after = _read_until_closed(idle, 15)[0] - opened_at
        print(f"idle streams closed by the server, the last {after:.1f} s after the first opened")
    finally:
        _close_all(idle)
        _close_all(stalled)
    _, invite = _timed_answer(base, call_sid="CA" + "e" * 32)
    assert _real_call(invite) is None


def test_a_slow_body_is_cut_off_after_the_body_timeout(server):
    base, port = server.base, server.port
    slow = []
    for i in range(20):
        # signed: the app reads the body (and gets a 400); unsigned: refused at once (403), and
        # the unread body is drained (until the same deadline) before the connection is reused
        signature = b"X-Twilio-Signature: c2lnbmVk\r\n" if i % 2 else b""
        s = _connect("127.0.0.11", port)
        s.sendall(b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  + signature + b"Content-Length: 1000\r\n\r\nCallSid=CA")
        slow.append(s)
    sent_at = time.monotonic()
    try:
        took, _ = _timed_answer(base)
        assert took < 1.0
        closed_at, replies = _read_until_closed(slow, BODY_TIMEOUT_S + 5)
        after = closed_at - sent_at
        print(f"\nslow bodies closed by the server, the last {after:.1f} s after it was sent")
        assert BODY_TIMEOUT_S - 0.5 < after < BODY_TIMEOUT_S + 2
        statuses = [replies[s][:12] for s in slow]
        assert statuses == [b"HTTP/1.1 403", b"HTTP/1.1 400"] * 10, statuses
    finally:
        _close_all(slow)
    took, _ = _timed_answer(base)
    assert took < 1.0


def test_kept_alive_and_pipelined_requests_get_the_same_head_rules(server):
    port = server.port
    healthz = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    kept = _connect("127.0.0.13", port)  # two requests in one segment, then half of a third
    oversized = _connect("127.0.0.13", port)
    try:
        kept.sendall(healthz + healthz + PARTIAL_HEAD)
        sent_at = time.monotonic()
        oversized.sendall(b"GET /healthz HTTP/1.1\r\n" + b"X-Filler: " + b"a" * 40_000 + b"\r\n")
        closed_at, received = _read_until_closed([kept, oversized], HEADER_TIMEOUT_S + 3)
        assert received[kept].count(b"HTTP/1.1 200") == 2, received[kept]
        assert received[oversized] == b""  # over 32 KiB without the blank line: closed
        assert HEADER_TIMEOUT_S - 0.5 < closed_at - sent_at < HEADER_TIMEOUT_S + 2
    finally:
        _close_all([kept, oversized])


def test_the_per_address_limit_refuses_the_65th_connection(server):
    base, port = server.base, server.port
    held = []
    try:
        for _ in range(MAX_CONN_PER_IP):  # kept alive after a request: open, not stalled
            s = _connect("127.0.0.12", port)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            held.append(s)
        extra = _connect("127.0.0.12", port)
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.recv(4096) == b""  # closed at accept
        except ConnectionResetError:
            pass
        finally:
            extra.close()
        assert requests.get(f"{base}/healthz", timeout=1).status_code == 200  # another address
        for s in held[:4]:
            s.close()
        time.sleep(0.3)
        again = _connect("127.0.0.12", port)  # the slots were given back
        try:
            again.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert again.recv(4096).startswith(b"HTTP/1.1 200")
        finally:
            again.close()
    finally:
        _close_all(held)


def test_client_keys():
    assert client_key(("203.0.113.7", 5060)) == "203.0.113.7"
    assert client_key(("::ffff:203.0.113.7", 5060, 0, 0)) == "203.0.113.7"
    assert client_key(("2001:db8:1:2:aaaa::1", 5060, 0, 0)) == client_key(("2001:db8:1:2:bbbb::9", 1, 0, 0))
    assert client_key(("2001:db8:1:3::1", 5060, 0, 0)) != client_key(("2001:db8:1:2::1", 5060, 0, 0))
    assert client_key("") is None


def test_serve_selects_the_slow_client_worker(monkeypatch):
    from callflows.cli.serve import DEFAULT_THREADS, gunicorn_options, make_gunicorn_app, slow_client_limits

    monkeypatch.setenv("CALLFLOWS_HEADER_TIMEOUT_S", "2.5")
    monkeypatch.setenv("CALLFLOWS_MAX_CONN_PER_IP", "0")
    app = make_gunicorn_app(lambda: None, gunicorn_options("127.0.0.1", 8099, 1, DEFAULT_THREADS))
    assert "SlowClientWorker" in [cls.__name__ for cls in app.cfg.worker_class.__mro__]  # DrainingWorker's base
    assert app.cfg.threads == DEFAULT_THREADS
    limits = app.slow_client_limits
    assert (limits.header_timeout_s, limits.body_timeout_s, limits.max_conn_per_ip) == (2.5, 10.0, 0)
    assert slow_client_limits(header_timeout_s=7).header_timeout_s == 7
    monkeypatch.setenv("CALLFLOWS_BODY_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="CALLFLOWS_BODY_TIMEOUT_S"):
        slow_client_limits()
