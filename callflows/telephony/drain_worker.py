"""The phone server's gunicorn worker with a graceful drain on SIGTERM.

gunicorn's own SIGTERM handling stops the worker's loop at once: the listening socket closes
(so a readiness probe and a new call's webhook get "connection refused", not an answer) and the
calls in progress get ``graceful_timeout`` before they are killed mid-sentence.  Here SIGTERM
starts the app's :class:`~callflows.telephony.drain.Drain` instead: the worker keeps accepting,
``/readyz`` answers 503, new calls are redirected, calls in progress finish (or are wrapped up
politely at the grace limit), and only then does the loop stop and the worker exit.

The gunicorn master closes its own copies of the listening sockets on SIGTERM; the worker's
inherited copies keep the port open until it exits.  ``callflows serve`` sets the master's
``graceful_timeout`` above the grace period plus the wrap-up, so the master never kills a
draining worker first.  SIGINT and SIGQUIT still stop at once.
"""

from __future__ import annotations

import logging
import threading
from types import FrameType

from flask import Flask

from callflows.telephony.drain_routes import ReplicaState, replica_state
from callflows.telephony.http_worker import SlowClientWorker

log = logging.getLogger(__name__)


class DrainingWorker(SlowClientWorker):
    """``SlowClientWorker`` whose SIGTERM drains the calls first (module docstring)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = getattr(self, "wsgi", None)
        state = replica_state(app) if isinstance(app, Flask) else None
        if state is None or not self.alive:
            super().handle_exit(sig, frame)
            return
        # not in the signal handler itself: begin() logs and writes to the store
        threading.Thread(target=self._begin, args=(state,), name="drain-begin", daemon=True).start()

    def _begin(self, state: ReplicaState) -> None:
        if state.drain.begin(on_done=lambda: self._drained(state)):
            log.warning("SIGTERM: draining")

    def _drained(self, state: ReplicaState) -> None:
        state.heartbeat.stop()
        log.warning("drain over: the worker exits")
        self.alive = False
