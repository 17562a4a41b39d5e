"""This process's heartbeat in the store, so the sweeper can tell its calls from a dead replica's.

Why a thread of its own: the beat must go on while every call thread is busy and while the
replica drains (a draining replica is alive: its calls must not be swept); it stops only when
the process exits cleanly (``stop``: the row is marked stopped) or dies (the beat just stops,
and after ``Settings.replica_stale_s`` the sweeper finishes the calls it held).
"""

from __future__ import annotations

import logging
import threading

from callflows.store.db import Store
from callflows.store.replicas import attach_call, beat, mark_stopped, register_replica

log = logging.getLogger(__name__)


class ReplicaHeartbeat:
    """``start()`` registers the replica and beats every ``interval_s``; ``stop()`` on a clean exit."""

    def __init__(self, store: Store, interval_s: float = 10.0) -> None:
        self.store = store
        self.interval_s = interval_s
        self.replica_id: str | None = None
        self.draining = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.replica_id = register_replica(self.store)
        except Exception as exc:  # noqa: BLE001 - no database yet: calls are still answered
            log.error("replica not registered (%s): its calls cannot be swept by heartbeat", type(exc).__name__)
            return
        self._thread = threading.Thread(target=self._loop, name="replica-heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat_now()

    def beat_now(self) -> None:
        if self.replica_id is None:
            return
        try:
            if not beat(self.store, self.replica_id, draining=self.draining):
                log.warning("replica %s: its row is gone or stopped", self.replica_id)
        except Exception as exc:  # noqa: BLE001 - the database may be down: beat again later
            log.warning("heartbeat failed: %s", type(exc).__name__)

    def set_draining(self) -> None:
        self.draining = True
        self.beat_now()

    def attach(self, call_id: str) -> None:
        """Record that this replica holds the call."""
        if self.replica_id is not None:
            attach_call(self.store, self.replica_id, call_id)

    def stop(self) -> None:
        self._stop.set()
        if self.replica_id is not None:
            try:
                mark_stopped(self.store, self.replica_id)
            except Exception as exc:  # noqa: BLE001 - exiting anyway
                log.warning("replica stop not recorded: %s", type(exc).__name__)
