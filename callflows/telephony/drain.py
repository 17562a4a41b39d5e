"""Graceful drain of a phone replica: stop taking calls, let the calls in progress finish.

Why: a deployment (or Kubernetes moving a pod) stops replicas in the middle of the day, and a
caller must never be cut off in silence.  On SIGTERM (``callflows.telephony.drain_worker``):

1. :meth:`Drain.begin`: the replica turns unready (``/readyz`` answers 503, so the load balancer
   takes it out) and the voice webhook answers new calls with a ``<Redirect>`` to the public
   URL, which the load balancer sends to another replica (``callflows.telephony.drain_routes``).
   Streams of calls already answered, status callbacks and whispers are still served.
2. The calls in progress go on normally until they end, or until the grace period
   (``Settings.drain_grace_s``, default 10 minutes) is over.
3. At the grace limit each call still in progress is wrapped up (``CallHandler.wrap_up``): one
   last sentence in the call's own voice, then a cold transfer to the vertical's number, or
   goodbye; its record is completed (``drained_transferred`` / ``drained``).
4. Then the worker exits (gunicorn's ``graceful_timeout`` is set above grace + wrap-up by
   ``callflows serve``).

Every call of the replica passes through :class:`TrackedFactory`, which keeps the live calls
(:class:`LiveCalls`) and tells the store which replica holds each one (``replica_calls``: the
sweeper's key for calls of a replica that dies without draining).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

from callflows.logs import call_logger
from callflows.telephony.media_stream import StreamStart

log = logging.getLogger(__name__)

GOODBYE = ("I'm sorry, I have to end our call now because of maintenance on our side. "
           "Please call us back at the same number and we will pick up right away. Goodbye.")
HANDING_OVER = "I'm sorry, I have to pass you to a colleague now because of maintenance on our side. One moment."
WRAP_UP_S = 30.0  # the last sentence, the transfer request and the record, for every call at once
POLL_S = 0.25


class CallHandlerLike(Protocol):
    """What the media route calls on a handler (``callflows.telephony.routes.media``)."""

    @property
    def ended(self) -> bool: ...

    def on_event(self, event: object) -> None: ...

    def close(self, reason: str) -> None: ...


@runtime_checkable
class Drainable(Protocol):
    """A handler that can end its call politely (``CallHandler.wrap_up``)."""

    def wrap_up(self, goodbye: str, handing_over: str) -> str: ...


HandlerFactory = Callable[..., CallHandlerLike]


@dataclass(frozen=True)
class DrainSettings:
    grace_s: float = 600.0  # calls in progress may go on this long after SIGTERM
    wrap_up_s: float = WRAP_UP_S
    goodbye: str = GOODBYE
    handing_over: str = HANDING_OVER


class TrackedCall:
    """The handler the media route sees: the real one, counted in :class:`LiveCalls` while open."""

    def __init__(self, inner: CallHandlerLike, calls: LiveCalls, key: str) -> None:
        self.inner = inner
        self._calls = calls
        self._key = key
        self.call_id: str | None = getattr(inner, "call_id", None)

    @property
    def ended(self) -> bool:
        return bool(self.inner.ended)

    def on_event(self, event: object) -> None:
        self.inner.on_event(event)

    def close(self, reason: str) -> None:
        try:
            self.inner.close(reason)
        finally:
            self._calls.remove(self._key)


class LiveCalls:
    """The calls this process holds right now (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, TrackedCall] = {}
        self._next = 0

    def add(self, inner: CallHandlerLike) -> TrackedCall:
        with self._lock:
            self._next += 1
            key = f"{self._next}"
            tracked = TrackedCall(inner, self, key)
            self._calls[key] = tracked
        return tracked

    def remove(self, key: str) -> None:
        with self._lock:
            self._calls.pop(key, None)

    def snapshot(self) -> list[TrackedCall]:
        with self._lock:
            return list(self._calls.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)


def lazy_class(module: str, name: str) -> Callable[[], HandlerFactory]:
    """The handler class, imported when the first call starts (the models' modules are heavy)."""
    def resolve() -> HandlerFactory:
        factory: HandlerFactory = getattr(importlib.import_module(module), name)
        return factory

    return resolve


class TrackedFactory:
    """``factory(services, send=..., start=...)`` as the media route calls it: builds the real
    handler, counts it, and records which replica holds the call."""

    def __init__(self, resolve: Callable[[], HandlerFactory], calls: LiveCalls,
                 on_call: Callable[[str], None] | None = None) -> None:
        self._resolve = resolve
        self._calls = calls
        self._on_call = on_call

    @property
    def accepts_base_url(self) -> bool:
        return bool(getattr(self._resolve(), "accepts_base_url", False))

    def __call__(self, services: object, *, send: Callable[[str], None], start: StreamStart,
                 **extra: str) -> TrackedCall:
        tracked = self._calls.add(self._resolve()(services, send=send, start=start, **extra))
        if tracked.call_id and self._on_call is not None:
            try:
                self._on_call(tracked.call_id)
            except Exception as exc:  # noqa: BLE001 - the store may be down: the call goes on
                call_logger(__name__, tracked.call_id).warning("replica of the call not recorded: %s",
                                                               type(exc).__name__)
        return tracked


class Drain:
    """The replica's drain state; :meth:`begin` on SIGTERM, ``on_done`` once every call is over."""

    def __init__(self, calls: LiveCalls, settings: DrainSettings,
                 on_begin: Callable[[], None] | None = None) -> None:
        self.calls = calls
        self.settings = settings
        self._on_begin = on_begin
        self._began_at: float | None = None
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.wrapped: dict[str, str] = {}  # call id -> outcome of the calls wrapped up at the limit

    @property
    def draining(self) -> bool:
        return self._began_at is not None

    def begin(self, on_done: Callable[[], None]) -> bool:
        """Start draining (idempotent: False if it had begun); ``on_done`` runs on the drain's thread."""
        with self._lock:
            if self._began_at is not None:
                return False
            self._began_at = time.monotonic()
        log.warning("draining: no new calls; %d call(s) in progress get up to %.0f s",
                    len(self.calls), self.settings.grace_s)
        if self._on_begin is not None:
            try:
                self._on_begin()
            except Exception as exc:  # noqa: BLE001 - the heartbeat's flag only; the drain goes on
                log.warning("drain start not recorded: %s", type(exc).__name__)
        threading.Thread(target=self._run, args=(on_done,), name="drain", daemon=True).start()
        return True

    def _run(self, on_done: Callable[[], None]) -> None:
        try:
            assert self._began_at is not None
            deadline = self._began_at + self.settings.grace_s
            while len(self.calls) and time.monotonic() < deadline:
                time.sleep(POLL_S)
            left = self.calls.snapshot()
            if left:
                log.warning("grace period over: wrapping up %d call(s)", len(left))
                self._wrap_up(left)
            else:
                log.info("drained: every call ended within the grace period")
        finally:
            self.done.set()
            on_done()

    def _wrap_up(self, left: list[TrackedCall]) -> None:
        threads = [threading.Thread(target=self._wrap_one, args=(call,), name="drain-wrap-up", daemon=True)
                   for call in left]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.settings.wrap_up_s
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        while len(self.calls) and time.monotonic() < deadline:  # the media route closes each socket
            time.sleep(POLL_S)
        still = len(self.calls)
        if still:
            log.error("%d call(s) still open after the wrap-up: the sweeper will finish their records", still)

    def _wrap_one(self, call: TrackedCall) -> None:
        clog = call_logger(__name__, call.call_id)
        inner = call.inner
        if not isinstance(inner, Drainable):
            clog.error("this call's handler (%s) cannot be wrapped up: it ends with the replica",
                       type(inner).__name__)
            return
        try:
            outcome = inner.wrap_up(self.settings.goodbye, self.settings.handing_over)
            self.wrapped[call.call_id or "?"] = outcome
            clog.info("wrapped up at the grace limit: %s", outcome)
        except Exception:  # noqa: BLE001 - the record is completed by the handler's close
            clog.exception("wrap-up failed")

