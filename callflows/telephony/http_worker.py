"""The phone server's gunicorn worker: slow clients cannot hold the threads that calls need.

gunicorn's ``gthread`` worker (written against gunicorn 27.0.1) gives each accepted connection
to a pool thread, which waits up to 5 s for a first byte, then reads the request head from a
blocking socket with no timeout: a client that sends half a header and stops holds that thread
until it goes away, and ``--threads`` such clients stop every webhook and call.
``SlowClientWorker`` is that worker with these changes:

1. **The request head is read in the worker's event loop** (its selector, non-blocking sockets),
   not in a pool thread.  A connection goes to a thread only once its whole head (up to the
   blank line) has arrived; the bytes read are handed to gunicorn's parser (``unreader.unread``),
   which then parses them as usual.  Kept-alive connections that come back get the same.
2. **Header timeout** (default 5 s, from the accept or a kept-alive connection's next byte to the
   blank line) and a **maximum head size** (32 KiB); past either the connection is closed.
3. **Body timeout** (default 10 s): in the thread the socket gets that timeout, and the whole
   body must arrive within it of the head; the app then sees werkzeug's "client went away" (a
   400, no traceback in the log), a body it did not read is drained until the same deadline,
   and the connection is closed.  A WebSocket upgrade
   (``Upgrade: websocket``) gets ``websocket_timeout_s`` (35 s) instead: Twilio sends 50 messages
   a second and the route closes a stream idle for 30 s, so only a dead peer reaches it; it also
   ends simple-websocket's reader thread, which reads ``environ["gunicorn.socket"]`` itself.
4. **Per-address limit** on concurrent connections (default 64, 0 = none; IPv6 counted per /64):
   connections beyond it are closed at accept.  Twilio's requests all come from Twilio's
   addresses, and behind a reverse proxy every connection comes from the proxy's: see
   docs/deploy.md ("Slow clients and the reverse proxy").
5. **Closing does not block the event loop**: gunicorn's graceful close (half-close, then read
   for up to 2 s until the peer closes) runs in ``finish_request`` on the main loop, so each peer
   that does not close (an idle WebSocket an attacker opened, say) froze the whole worker for 2 s;
   here the half-closed socket waits in the selector instead (a WebSocket's own descriptor is
   left to simple-websocket's reader thread, see ``_Conn.close``).  Running out of file
   descriptors pauses accepting briefly instead of killing the worker.

Refused and timed-out connections are logged a few times per reason, then counted (a summary at
most once a minute).  TLS in gunicorn itself, HTTP/2 prior knowledge and the uwsgi protocol keep
gunicorn's own way of reading (TLS ends at the proxy here).  The limits come from
``callflows serve`` (``callflows.cli.serve``) on the gunicorn application object; a plain
``gunicorn -k callflows.telephony.http_worker.SlowClientWorker`` uses the defaults.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import resource
import selectors
import socket
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import gunicorn
from gunicorn import http, util
from gunicorn.http.unreader import SocketUnreader
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker
from werkzeug.exceptions import ClientDisconnected

log = logging.getLogger(__name__)

HEAD_END = b"\r\n\r\n"
HEAD_RECV_BYTES = 16 * 1024
LINGER_S = 2.0  # gunicorn's close_graceful: how long a closing socket waits for the peer's FIN
LINGER_MAX_BYTES = 64 * 1024
ACCEPT_BATCH = 16  # connections accepted per wake-up of the listener
ACCEPT_PAUSE_S = 0.5  # out of file descriptors: stop accepting this long
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True)
class SlowClientLimits:
    header_timeout_s: float = 5.0
    body_timeout_s: float = 10.0
    max_conn_per_ip: int = 64  # 0: no limit
    max_header_bytes: int = 32 * 1024
    websocket_timeout_s: float | None = 35.0  # above the media route's 30 s idle timeout


class BodyTimeout(ClientDisconnected):
    """The request body did not arrive in time (werkzeug's "client went away": a 400 that Flask
    does not log as an error)."""

    description = "The request body did not arrive in time."


class _DeadlineUnreader(SocketUnreader):
    """gunicorn's socket reader with a deadline for the request body (None: none)."""

    def __init__(self, sock: Any) -> None:
        super().__init__(sock)
        self.deadline: float | None = None
        self.timed_out = False

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self.deadline is None:
            return super().chunk(size_hint)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.timed_out = True
            raise BodyTimeout()
        prior = self.sock.gettimeout()
        self.sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return super().chunk(size_hint)
        except TimeoutError:
            self.timed_out = True
            raise BodyTimeout() from None
        finally:
            self.sock.settimeout(prior)


class _Conn(TConn):
    """A gthread connection, with its head bytes read so far and its per-address slot."""

    def __init__(self, cfg: Any, sock: Any, client: Any, server: Any, *, key: str | None,
                 parse_timeout_s: float, on_close: Callable[[_Conn], None],
                 linger: Callable[[socket.socket], None]) -> None:
        super().__init__(cfg, sock, client, server)
        self.key = key
        self.head = bytearray()
        self.scanned = 0  # how far `head` has been searched for the blank line
        self.deadline = 0.0
        self.closed = False
        self.websocket = False  # the last request was an upgrade: simple-websocket reads the socket
        self._parse_timeout_s = parse_timeout_s
        self._on_close = on_close
        self._linger = linger

    def init(self) -> None:
        super().init()
        # The head is in the parser's buffer already; should the parser still read, it must not
        # wait forever (the handler sets the body or WebSocket timeout next).
        self.sock.settimeout(self._parse_timeout_s)

    def close(self, graceful: bool = False) -> None:
        """Close without blocking: gunicorn's graceful close (half-close, then read until the peer
        closes, up to 2 s) blocked the event loop; here a duplicate of the half-closed socket
        lingers in it.  A WebSocket's socket is left to simple-websocket's reader thread, which
        may still be blocked on it (closing it here could hand its number to the next connection
        under that thread): the shutdown at the end of the linger wakes the thread, which closes it."""
        if not self.closed:
            self.closed = True
            lingering = False
            if graceful:
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                    self._linger(self.sock.dup())
                    lingering = True
                except (OSError, NotImplementedError):  # closed already; a TLS socket
                    pass
            if not self.websocket:
                util.close(self.sock)
            elif not lingering:
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._on_close(self)


class _RateLimitedLog:
    """The first ``FIRST`` events of each reason logged, then counted; the counts logged at most
    once every ``SUMMARY_S`` (an attacker must not be able to flood the log)."""

    FIRST = 3
    SUMMARY_S = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._unlogged: Counter[str] = Counter()
        self._next_summary = 0.0

    def note(self, reason: str, client: Any = None) -> None:
        with self._lock:
            self._seen[reason] += 1
            n = self._seen[reason]
            if n > self.FIRST:
                self._unlogged[reason] += 1
                return
        more = "; further ones are counted" if n == self.FIRST else ""
        if client is None:
            log.warning("%s%s", reason, more)
        else:
            log.warning("connection from %s closed: %s%s", _address(client), reason, more)

    def flush(self, now: float) -> None:
        if not self._unlogged or now < self._next_summary:
            return
        with self._lock:
            counts, self._unlogged = dict(self._unlogged), Counter()
            self._next_summary = now + self.SUMMARY_S
        log.warning("connections closed since the last report: %s",
                    ", ".join(f"{n} x {reason}" for reason, n in sorted(counts.items())))


def _address(client: Any) -> str:
    return str(client[0]) if isinstance(client, tuple) and client else str(client or "a unix socket")


def client_key(client: Any) -> str | None:
    """What the per-address limit counts: the IPv4 address, an IPv6 /64; None for a unix socket."""
    if not isinstance(client, tuple) or not client:
        return None
    try:
        ip = ipaddress.ip_address(str(client[0]).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _is_websocket(req: Any) -> bool:
    return any(name == "UPGRADE" and value.strip().lower() == "websocket" for name, value in req.headers)


class SlowClientWorker(ThreadWorker):
    """gunicorn's gthread worker that reads request heads in its event loop (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits: SlowClientLimits = getattr(self.app, "slow_client_limits", None) or SlowClientLimits()
        self._heads: OrderedDict[_Conn, None] = OrderedDict()  # oldest deadline first
        self._lingering: OrderedDict[socket.socket, list[float]] = OrderedDict()  # [deadline, bytes read]
        self._per_ip: Counter[str] = Counter()
        self._per_ip_lock = threading.Lock()
        self._events = _RateLimitedLog()
        self._accept_paused_until = 0.0
        self._plain_http = not self.cfg.is_ssl and getattr(self.cfg, "protocol", "http") == "http"
        self._head_timeout_reason = f"no complete request head within {self.limits.header_timeout_s:g} s"
        self._head_size_reason = f"request head over {self.limits.max_header_bytes} bytes"
        self._body_timeout_reason = f"request body not received within {self.limits.body_timeout_s:g} s"
        self._per_ip_reason = f"over {self.limits.max_conn_per_ip} connections from one address"

    def init_process(self) -> None:
        _check_gunicorn()
        _raise_fd_limit(self.worker_connections + 64)
        limits = self.limits
        log.info("request heads read in the event loop: header timeout %g s, body timeout %g s, "
                 "at most %s connections per address, %d threads", limits.header_timeout_s,
                 limits.body_timeout_s, limits.max_conn_per_ip or "any number of", self.cfg.threads)
        if not self._plain_http:
            log.warning("TLS or uwsgi in gunicorn: request heads are read in the threads (no header timeout)")
        super().init_process()

    # ------------------------------------------------------------------ accepting
    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and time.monotonic() < self._accept_paused_until:
            enabled = False
        super().set_accept_enabled(enabled)

    def accept(self, listener: Any) -> None:
        server = listener.getsockname()
        for _ in range(ACCEPT_BATCH):
            if self.nr_conns >= self.worker_connections:
                return
            try:
                client_sock, client = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in OUT_OF_RESOURCES:
                    raise
                self._events.note("out of file descriptors or memory: accepting paused")
                self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE_S
                super().set_accept_enabled(False)
                return
            key = client_key(client)
            if not self._take_slot(key):
                self._events.note(self._per_ip_reason, client)
                util.close(client_sock)
                continue
            self.nr_conns += 1
            conn = _Conn(self.cfg, client_sock, client, server, key=key,
                         parse_timeout_s=self.limits.header_timeout_s, on_close=self._give_slot_back,
                         linger=self._linger)
            self.enqueue_req(conn)

    def _take_slot(self, key: str | None) -> bool:
        limit = self.limits.max_conn_per_ip
        if key is None or limit <= 0:
            return True
        with self._per_ip_lock:
            if self._per_ip[key] >= limit:
                return False
            self._per_ip[key] += 1
        return True

    def _give_slot_back(self, conn: _Conn) -> None:
        key, conn.key = conn.key, None  # once per connection, however often it is closed
        if key is None or self.limits.max_conn_per_ip <= 0:
            return
        with self._per_ip_lock:
            self._per_ip[key] -= 1
            if self._per_ip[key] <= 0:
                del self._per_ip[key]

    # ------------------------------------------------------------------ the request head
    def enqueue_req(self, conn: Any) -> None:
        """Every way into a thread (accepted, kept alive, pipelined) reads its head here first."""
        if not isinstance(conn, _Conn) or not self._plain_http or negotiation.prior_knowledge_allowed(
                self.cfg, conn.client):
            super().enqueue_req(conn)
            return
        if conn.parser is not None:  # what the previous request's reads left over
            conn.head[:] = conn.parser.unreader.take_buffered()
            conn.scanned = 0
        conn.sock.setblocking(False)
        if self._advance_head(conn, read=False) or self._advance_head(conn, read=True):
            return
        conn.deadline = time.monotonic() + self.limits.header_timeout_s
        self._heads[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_readable, conn))

    def _on_head_readable(self, conn: _Conn, _sock: Any) -> None:
        self._advance_head(conn, read=True)

    def _advance_head(self, conn: _Conn, *, read: bool) -> bool:
        """True when the connection left the head phase (to a thread, or closed)."""
        if read:
            try:
                data = conn.sock.recv(HEAD_RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                data = b""
            if not data:  # the client went away: nothing to log
                self._close_head(conn, None)
                return True
            conn.head += data
        end = conn.head.find(HEAD_END, max(0, conn.scanned - len(HEAD_END) + 1))
        conn.scanned = len(conn.head)
        limit = self.limits.max_header_bytes
        if end < 0 and len(conn.head) <= limit:
            return False
        if end < 0 or end + len(HEAD_END) > limit:
            self._close_head(conn, self._head_size_reason)
            return True
        self._leave_head_phase(conn)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.parser.unreader = _DeadlineUnreader(conn.sock)
        unreader = conn.parser.unreader
        if isinstance(unreader, _DeadlineUnreader):
            unreader.deadline = None  # the previous request's; handle_request sets this one's
        unreader.unread(bytes(conn.head))
        conn.head.clear()
        conn.scanned = 0
        conn.data_ready = True  # gunicorn's handle() must not wait for the bytes read here
        super().enqueue_req(conn)
        return True

    def _leave_head_phase(self, conn: _Conn) -> None:
        if conn in self._heads:
            del self._heads[conn]
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass

    def _close_head(self, conn: _Conn, reason: str | None) -> None:
        self._leave_head_phase(conn)
        if reason:
            self._events.note(reason, conn.client)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """gunicorn's per-loop clean-up, plus the heads and lingering sockets past their deadline."""
        super().murder_pending()
        now = time.monotonic()
        while self._heads:
            conn = next(iter(self._heads))
            if conn.deadline > now:
                break
            self._close_head(conn, self._head_timeout_reason)
        while self._lingering:
            sock, (deadline, _) = next(iter(self._lingering.items()))
            if deadline > now:
                break
            self._end_linger(sock)
        self._events.flush(now)

    # ------------------------------------------------------------------ closing
    def _linger(self, sock: socket.socket) -> None:
        """A half-closed socket (a duplicate) read and discarded until the peer closes it, at most
        LINGER_S, so the last response is not cut off by a reset (what gunicorn's close_graceful
        does, in the event loop instead of blocking it)."""
        sock.setblocking(False)
        self._lingering[sock] = [time.monotonic() + LINGER_S, 0]
        self.poller.register(sock, selectors.EVENT_READ, self._on_linger_readable)

    def _on_linger_readable(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(HEAD_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        state = self._lingering[sock]
        state[1] += len(data)
        if not data or state[1] >= LINGER_MAX_BYTES:
            self._end_linger(sock)

    def _end_linger(self, sock: socket.socket) -> None:
        del self._lingering[sock]
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)  # the connection, not this descriptor: wakes a WebSocket reader
        except OSError:
            pass
        util.close(sock)

    # ------------------------------------------------------------------ in the pool thread
    def handle(self, conn: Any) -> Any:
        result = super().handle(conn)
        unreader = getattr(conn.parser, "unreader", None)
        if isinstance(unreader, _DeadlineUnreader) and unreader.timed_out:
            unreader.timed_out = False
            self._events.note(self._body_timeout_reason, conn.client)
        return result

    def handle_request(self, req: Any, conn: Any) -> bool:
        websocket = _is_websocket(req)
        if isinstance(conn, _Conn):
            conn.websocket = websocket
        conn.sock.settimeout(self.limits.websocket_timeout_s if websocket else self.limits.body_timeout_s)
        unreader = conn.parser.unreader
        if isinstance(unreader, _DeadlineUnreader):
            unreader.deadline = None if websocket else time.monotonic() + self.limits.body_timeout_s
        return bool(super().handle_request(req, conn))

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        try:
            return bool(super()._keepalive_after(conn, keepalive))
        except BodyTimeout:  # the unread rest of a body did not come in time: close
            return False


def _check_gunicorn() -> None:
    """This worker overrides gthread internals of gunicorn 27 (``ThreadWorker``, ``TConn``)."""
    missing = [name for name in ("enqueue_req", "murder_pending", "_keepalive_after", "handle_request",
                                 "set_accept_enabled", "finish_request") if not hasattr(ThreadWorker, name)]
    if missing or not hasattr(TConn, "wait_for_data"):
        raise RuntimeError(f"gunicorn {gunicorn.__version__}'s gthread worker lacks {missing or 'TConn.wait_for_data'}: "
                           "callflows' SlowClientWorker needs gunicorn 27")
    if gunicorn.version_info[0] != 27:
        log.warning("SlowClientWorker was written for gunicorn 27, this is %s", gunicorn.__version__)


def _raise_fd_limit(wanted: int) -> None:
    """The soft limit on open files up to ``wanted`` (at most the hard limit): one per connection."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            if new < wanted:
                log.warning("open files limited to %d (wanted %d for the worker's connections)", new, wanted)
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open files limit: %s", exc)
