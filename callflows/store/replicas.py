"""Which phone-server process holds which call, and when each one last showed it was alive.

Why a heartbeat: a replica killed without running Python (``kill -9``, the OOM killer, a node
lost under Kubernetes) leaves its calls ``status='active'`` for ever.  Their last turn's age
cannot tell a dead replica's call from a live caller who is thinking, so each process records
``replicas.heartbeat_at`` every few seconds (``callflows.telephony.replica``) and the calls it
holds in ``replica_calls``; the sweeper (``callflows.store.sweeper``) then finishes, within a
minute, exactly the open calls whose replica stopped beating.  Two tables beside ``calls``
(migration 0009), so the ``Call`` model is untouched.

No personal data here: a replica's ``name`` is its host name and process id.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Boolean, ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from callflows.store.db import Store
from callflows.store.models import Base
from callflows.store.types import UTCDateTime, to_utc, utcnow

log = logging.getLogger(__name__)


class Replica(Base):
    """One phone-server process (a gunicorn worker) for as long as it runs."""

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))  # host:pid, for the operator
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    draining: Mapped[bool] = mapped_column(Boolean, default=False)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReplicaCall(Base):
    """The replica that holds a call's Media Stream (set when the stream starts)."""

    __tablename__ = "replica_calls"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    replica_id: Mapped[str] = mapped_column(ForeignKey("replicas.id", ondelete="CASCADE"), index=True)


def replica_name() -> str:
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


def register_replica(store: Store, name: str | None = None) -> str:
    """A new replica row, beating now; its id."""
    replica_id = uuid.uuid4().hex
    with store.session() as s:
        s.add(Replica(id=replica_id, name=(name or replica_name())[:128], started_at=utcnow(),
                      heartbeat_at=utcnow(), draining=False))
    log.info("replica %s registered", replica_id)
    return replica_id


def beat(store: Store, replica_id: str, *, draining: bool = False) -> bool:
    """Record that the replica is alive (and whether it drains); False if its row is gone."""
    with store.session() as s:
        result = s.execute(update(Replica).where(Replica.id == replica_id, Replica.stopped_at.is_(None))
                           .values(heartbeat_at=utcnow(), draining=draining))
        return bool(result.rowcount)


def mark_stopped(store: Store, replica_id: str) -> None:
    """The replica exited cleanly: not a lost one (its calls were finished by then)."""
    with store.session() as s:
        s.execute(update(Replica).where(Replica.id == replica_id).values(stopped_at=utcnow(), draining=True))
    log.info("replica %s stopped", replica_id)


def attach_call(store: Store, replica_id: str, call_id: str) -> None:
    """Note that this replica holds the call (idempotent)."""
    with store.session() as s:
        row = s.get(ReplicaCall, call_id)
        if row is None:
            s.add(ReplicaCall(call_id=call_id, replica_id=replica_id))
        else:
            row.replica_id = replica_id


def live_replicas(store: Store, stale_after: timedelta, now: datetime | None = None) -> list[Replica]:
    """Replicas that beat within ``stale_after`` and have not stopped (for the CLI's report)."""
    cutoff = to_utc(now or utcnow()) - stale_after
    with store.session() as s:
        rows = s.scalars(select(Replica).where(Replica.heartbeat_at >= cutoff, Replica.stopped_at.is_(None))
                         .order_by(Replica.started_at)).all()
        s.expunge_all()
        return list(rows)
