"""The warm transfer's watchdog that outlives a worker.

Each attempt has a timer in the worker that started it (``WarmTransfers.start``): nothing
decided in ``max_wait_s`` (28 s), the caller goes back to the bot. A timer is a thread in one
process. If that worker is killed, restarted or drained away while its caller is on hold, the
caller hears hold music until they give up. So every replica also looks in the store, every few
seconds, for attempts still undecided well past the longest wait a vertical may set
(``MAX_WAIT_CEILING_S``), and decides them as timed out: the caller is redirected to the bot
through Twilio's REST API like any other timeout. The decision is the store's conditional
transition, so a replica's timer, a status callback and several replicas' watchdogs racing for
the same attempt decide it once.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from callflows.store.transfers import overdue_attempts
from callflows.store.types import utcnow
from callflows.telephony.transfer_settings import MAX_WAIT_CEILING_S
from callflows.telephony.warm_transfer import WarmTransfers

log = logging.getLogger(__name__)

#: past the ceiling, what a worker's own timer gets before another replica steps in
GRACE_S = 10.0
DEFAULT_INTERVAL_S = 5.0


def time_out_orphans(transfers: WarmTransfers, now: datetime | None = None,
                     limit_s: float = MAX_WAIT_CEILING_S + GRACE_S) -> list[str]:
    """Decide every attempt left undecided for more than ``limit_s`` as timed out; their ids."""
    started_before = (now or utcnow()) - timedelta(seconds=limit_s)
    with transfers.store.session() as s:
        overdue = overdue_attempts(s, started_before)
    decided = []
    for attempt_id in overdue:
        if transfers.timeout(attempt_id):
            decided.append(attempt_id)
    if decided:
        log.warning("warm transfer watchdog: %d attempt(s) left on hold by a worker that is gone: timed out",
                    len(decided))
    return decided


def start_transfer_watchdog(transfers: WarmTransfers, interval_s: float = DEFAULT_INTERVAL_S) -> threading.Event:
    """Run ``time_out_orphans`` every ``interval_s`` in a daemon thread; set the event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                time_out_orphans(transfers)
            except Exception as exc:  # noqa: BLE001 - the database or Twilio may be down: next round
                log.warning("warm transfer watchdog failed: %s", type(exc).__name__)

    threading.Thread(target=loop, name="transfer-watchdog", daemon=True).start()
    return stop

