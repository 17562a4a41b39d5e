"""Calls a dead process left open: found and finished with outcome ``worker_lost``.

A call's record is finished by the process that holds its WebSocket (``CallHandler.close``).
When that process dies without running Python (``kill -9``, the OOM killer, a segfault in a
native model library), the record stays ``status='active'`` with no ``ended_at`` for ever, and
the admin's Calls page, the dashboard (average handling time, containment) and any "calls
in progress" count are wrong.  (When Twilio's status callback is configured, the
``completed`` callback that follows the dropped stream finishes it as ``caller_hung_up``;
without one, nothing does.)

:func:`sweep_lost_calls` finishes every call still open whose last sign of life (its start,
or its newest turn) is older than ``stale_after``: ``status='failed'``,
``outcome='worker_lost'``, ``ended_at`` = that last sign of life, and the summary says who
ended it.  A live call is never touched: a call in progress records a turn at least every
silence timeout (6 s: the bot reprompts), and a socket with no traffic is closed after 30 s.
It is idempotent and safe to run from several processes at once (``finish_call`` leaves an
ended call alone; each call is finished in its own short transaction).

Calls whose replica is known (``replica_calls``, callflows/store/replicas.py) are judged by
that replica's heartbeat instead, which is much quicker: :func:`sweep_replica_lost` finishes
an open call as ``status='failed'``, ``outcome='replica_lost'`` once its replica has not beaten
for ``replica_stale_after`` (default 60 s; a live replica beats every 10 s), so a caller of a
killed replica who calls back finds no call of theirs left "in progress".  Every replica sweeps
every minute; ``callflows calls sweep`` does the same once, by hand or from a CronJob.

Hooks (one line each, in code this module does not own):

* on server start, in ``callflows/cli/serve.py`` ``serve()``: ``open_store(upgrade=True)`` becomes
  ``sweep_lost_calls(open_store(upgrade=True))`` (the gunicorn master, once, before any worker).
* periodically, in ``callflows/server.py`` ``create_app`` after ``store`` is resolved
  (each worker; harmless in parallel)::

      start_sweeper(store)   # from callflows.store.sweeper import start_sweeper
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Subquery, func, select

from callflows.logs import call_logger
from callflows.store.db import Store
from callflows.store.models import Call, Turn
from callflows.store.replicas import Replica, ReplicaCall
from callflows.store.types import to_utc, utcnow

log = logging.getLogger(__name__)

LOST_OUTCOME = "worker_lost"
REPLICA_LOST_OUTCOME = "replica_lost"
LOST_STATUS = "failed"
DEFAULT_STALE_AFTER = timedelta(minutes=10)
DEFAULT_REPLICA_STALE_AFTER = timedelta(seconds=60)
DEFAULT_INTERVAL_S = 60.0


def _last_turns() -> Subquery:
    return (select(Turn.call_id, func.max(Turn.started_at).label("last_at"))
            .group_by(Turn.call_id).subquery())


def _last_seen(started_at: datetime, last_at: datetime | str | None, *also: datetime) -> datetime:
    """The latest of the call's start, its newest turn and ``also`` (aware, UTC)."""
    if isinstance(last_at, str):  # func.max() loses the column type on some backends: text on SQLite
        last_at = datetime.fromisoformat(last_at)
    times = [to_utc(started_at), *(to_utc(t) for t in also)]
    if last_at is not None:
        times.append(to_utc(last_at))
    return max(times)


def find_lost_calls(store: Any, stale_after: timedelta = DEFAULT_STALE_AFTER,
                    now: datetime | None = None) -> list[tuple[str, datetime]]:
    """``(call id, last sign of life)`` of every open call silent for longer than ``stale_after``."""
    cutoff = to_utc(now or utcnow()) - stale_after
    last_turn = _last_turns()
    stmt = (select(Call.id, Call.started_at, last_turn.c.last_at)
            .outerjoin(last_turn, last_turn.c.call_id == Call.id)
            .where(Call.ended_at.is_(None)))
    lost: list[tuple[str, datetime]] = []
    with store.session() as s:
        for call_id, started_at, last_at in s.execute(stmt):
            seen = _last_seen(started_at, last_at)
            if seen < cutoff:
                lost.append((call_id, seen))
    return lost


@dataclass(frozen=True)
class LostCall:
    """An open call whose replica is dead, and when it was last known alive (the replica's last
    heartbeat, or the call's newest turn if later)."""

    call_id: str
    replica_id: str
    last_seen: datetime


def find_replica_lost_calls(store: Store, stale_after: timedelta = DEFAULT_REPLICA_STALE_AFTER,
                            now: datetime | None = None) -> list[LostCall]:
    """Open calls whose replica has not beaten for ``stale_after`` (or stopped with them open)."""
    cutoff = to_utc(now or utcnow()) - stale_after
    last_turn = _last_turns()
    stmt = (select(Call.id, Call.started_at, last_turn.c.last_at, Replica.id, Replica.heartbeat_at,
                   Replica.stopped_at)
            .join(ReplicaCall, ReplicaCall.call_id == Call.id)
            .join(Replica, Replica.id == ReplicaCall.replica_id)
            .outerjoin(last_turn, last_turn.c.call_id == Call.id)
            .where(Call.ended_at.is_(None))
            .where((Replica.heartbeat_at < cutoff) | Replica.stopped_at.is_not(None)))
    with store.session() as s:
        return [LostCall(call_id, replica_id, _last_seen(started_at, last_at, stopped_at or heartbeat_at))
                for call_id, started_at, last_at, replica_id, heartbeat_at, stopped_at in s.execute(stmt)]


def sweep_replica_lost(store: Store, stale_after: timedelta = DEFAULT_REPLICA_STALE_AFTER,
                       now: datetime | None = None) -> list[str]:
    """Finish the open calls of replicas that stopped beating (``replica_lost``); their ids."""
    from callflows.store import repo

    swept_at = to_utc(now or utcnow())
    done: list[str] = []
    for lost in find_replica_lost_calls(store, stale_after, swept_at):
        try:
            with store.session() as s:
                call = repo.finish_call(
                    s, lost.call_id, REPLICA_LOST_OUTCOME, status=LOST_STATUS, ended_at=lost.last_seen,
                    summary={"ended_by": "sweeper", "swept_at": swept_at.isoformat(), "replica": lost.replica_id,
                             "reason": f"its replica sent no heartbeat for over {int(stale_after.total_seconds())} s"},
                )
                if call.outcome == REPLICA_LOST_OUTCOME:
                    done.append(lost.call_id)
                    call_logger(__name__, lost.call_id).warning("finished: replica %s is gone (%s)",
                                                                lost.replica_id, REPLICA_LOST_OUTCOME)
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the sweep
            call_logger(__name__, lost.call_id).error("could not finish the lost call: %s", type(exc).__name__)
    return done


def sweep_lost_calls(store: Any, stale_after: timedelta = DEFAULT_STALE_AFTER,
                     now: datetime | None = None,
                     replica_stale_after: timedelta = DEFAULT_REPLICA_STALE_AFTER) -> list[str]:
    """Finish the calls a dead replica or worker left open (see the module docstring); their ids."""
    from callflows.store import repo

    swept_at = to_utc(now or utcnow())
    done: list[str] = sweep_replica_lost(store, replica_stale_after, swept_at)
    for call_id, seen in find_lost_calls(store, stale_after, swept_at):
        try:
            with store.session() as s:
                call = repo.finish_call(
                    s, call_id, LOST_OUTCOME, status=LOST_STATUS, ended_at=seen,
                    summary={"ended_by": "sweeper", "swept_at": swept_at.isoformat(),
                             "reason": f"no activity for over {int(stale_after.total_seconds())} s "
                                       "and no process holding the call"},
                )
                if call.outcome == LOST_OUTCOME:
                    done.append(call_id)
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the sweep
            log.error("could not finish lost call %s: %s", call_id, type(exc).__name__)
    if done:
        log.warning("finished %d call(s) left open by a dead worker: outcome=%s", len(done), LOST_OUTCOME)
    return done


def start_sweeper(store: Any, interval_s: float = DEFAULT_INTERVAL_S,
                  stale_after: timedelta = DEFAULT_STALE_AFTER,
                  replica_stale_after: timedelta = DEFAULT_REPLICA_STALE_AFTER) -> threading.Event:
    """Sweep now and then every ``interval_s`` in a daemon thread; set the returned event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                sweep_lost_calls(store, stale_after, replica_stale_after=replica_stale_after)
            except Exception as exc:  # noqa: BLE001 - the database may be down: try again later
                log.warning("lost-call sweep failed: %s", type(exc).__name__)
            if stop.wait(interval_s):
                return

    threading.Thread(target=loop, name="lost-call-sweeper", daemon=True).start()
    return stop
