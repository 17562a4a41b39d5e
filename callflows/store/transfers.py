"""Warm transfers and callback requests: two tables beside ``calls`` (migration 0008).

Why a table per attempt rather than keys in ``calls.summary``: the attempt is driven by
webhooks that may reach any worker (Twilio's status callbacks, the person's key press, the
watchdog timer of the worker that started it), and several of them can race to decide its
outcome (a "no-answer" callback and the 28 s watchdog, say).  Each outcome is a conditional
``UPDATE ... WHERE state IN (...)``: the database lets exactly one of them win, on SQLite and
PostgreSQL alike, and only the winner moves the caller.

``callback_requests.phone_number`` is kept whole (someone has to dial it); the admin shows it
masked to viewers and whole to editors and admins.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from callflows.logs import call_logger
from callflows.store.models import Base, Call
from callflows.store.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

# states of an attempt; the first four are still open
DIALING, RINGING, SCREENING = "dialing", "ringing", "screening"
OPEN_STATES = (DIALING, RINGING, SCREENING)
ACCEPTED = "accepted"
#: outcomes that send the caller back to the bot
FAILED_STATES = ("no_answer", "busy", "declined", "failed", "timeout", "canceled")
ABANDONED = "caller_hung_up"


def new_id() -> str:
    return uuid.uuid4().hex


class TransferAttempt(Base):
    """One try at handing a call to a person (warm: the caller waits on hold meanwhile)."""

    __tablename__ = "transfer_attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(8), default="warm")
    number: Mapped[str] = mapped_column(String(32))  # the business's line, not the caller's
    caller_sid: Mapped[str] = mapped_column(String(64), index=True)
    agent_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default=DIALING)
    agent_statuses: Mapped[str] = mapped_column(Text, default="")  # Twilio's CallStatus values, in order
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the caller was back with the bot
    detail: Mapped[str | None] = mapped_column(String(200))  # why, short and safe to show

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


class CallbackRequest(Base):
    """A caller no one could take asked to be called back."""

    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[str | None] = mapped_column(ForeignKey("transfer_attempts.id", ondelete="SET NULL"))
    vertical: Mapped[str] = mapped_column(String(64), index=True)
    phone_number: Mapped[str] = mapped_column(String(32))
    preferred_time: Mapped[str] = mapped_column(String(120))  # as understood: "2026-12-04T09:00", "morning", ...
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, done
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class AttemptView:
    """What the webhooks need of an attempt, read in one short transaction."""

    id: str
    call_id: str
    mode: str
    number: str
    caller_sid: str
    agent_sid: str | None
    state: str
    vertical: str
    to_number: str


def create_attempt(session: Session, call_id: str, number: str, caller_sid: str, mode: str = "warm") -> TransferAttempt:
    attempt = TransferAttempt(id=new_id(), call_id=call_id, number=number, caller_sid=caller_sid, mode=mode,
                              state=DIALING, agent_statuses="", started_at=utcnow())
    session.add(attempt)
    session.flush()
    return attempt


def overdue_attempts(session: Session, started_before: datetime) -> list[str]:
    """Warm attempts still undecided that started before ``started_before``: their watchdog
    timer lived in a worker that is gone (callflows.telephony.transfer_watchdog)."""
    stmt = select(TransferAttempt.id).where(TransferAttempt.state.in_(OPEN_STATES), TransferAttempt.mode == "warm",
                                            TransferAttempt.started_at < started_before)
    return list(session.scalars(stmt.order_by(TransferAttempt.started_at)))


def get_attempt(session: Session, attempt_id: str) -> AttemptView | None:
    row = session.execute(
        select(TransferAttempt, Call.vertical, Call.to_number).join(Call, Call.id == TransferAttempt.call_id)
        .where(TransferAttempt.id == attempt_id)
    ).first()
    if row is None:
        return None
    a, vertical, to_number = row
    return AttemptView(a.id, a.call_id, a.mode, a.number, a.caller_sid, a.agent_sid, a.state, vertical or "",
                       to_number or "")


def open_attempt_for_caller(session: Session, caller_sid: str) -> str | None:
    """The id of the caller's transfer still in progress, if any."""
    return session.scalars(select(TransferAttempt.id).where(TransferAttempt.caller_sid == caller_sid,
                                                           TransferAttempt.state.in_(OPEN_STATES))).first()


def set_agent_sid(session: Session, attempt_id: str, agent_sid: str) -> None:
    session.execute(update(TransferAttempt).where(TransferAttempt.id == attempt_id).values(agent_sid=agent_sid))


def note_agent_status(session: Session, attempt_id: str, status: str) -> None:
    attempt = session.get(TransferAttempt, attempt_id)
    if attempt is not None and status not in (attempt.agent_statuses or "").split(","):
        attempt.agent_statuses = ",".join(s for s in ((attempt.agent_statuses or "").split(",") + [status]) if s)


def transition(session: Session, attempt_id: str, from_states: Iterable[str], to_state: str,
               detail: str | None = None, **values: Any) -> bool:
    """Move an attempt to ``to_state`` if it is in one of ``from_states``; True if this call won."""
    fields: dict[str, Any] = {"state": to_state, **values}
    if detail is not None:
        fields["detail"] = detail[:200]
    if to_state not in OPEN_STATES and "decided_at" not in fields:
        fields["decided_at"] = utcnow()
    result = session.execute(update(TransferAttempt)
                             .where(TransferAttempt.id == attempt_id, TransferAttempt.state.in_(list(from_states)))
                             .values(**fields))
    won = bool(result.rowcount)  # type: ignore[attr-defined]
    if won:
        call_logger(__name__, None).debug("transfer %s -> %s", attempt_id, to_state)
    return won


def mark_returned(session: Session, attempt_id: str) -> bool:
    """The caller's stream back to the bot started; True only the first time."""
    result = session.execute(update(TransferAttempt)
                             .where(TransferAttempt.id == attempt_id, TransferAttempt.returned_at.is_(None))
                             .values(returned_at=utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def latest_attempt(session: Session, call_id: str) -> TransferAttempt | None:
    return session.scalars(select(TransferAttempt).where(TransferAttempt.call_id == call_id)
                           .order_by(TransferAttempt.started_at.desc())).first()


def attempts_of(session: Session, call_id: str) -> list[TransferAttempt]:
    return list(session.scalars(select(TransferAttempt).where(TransferAttempt.call_id == call_id)
                                .order_by(TransferAttempt.started_at)))


def add_callback_request(session: Session, call_id: str, vertical: str, phone_number: str, preferred_time: str,
                         attempt_id: str | None = None) -> CallbackRequest:
    request = CallbackRequest(call_id=call_id, attempt_id=attempt_id, vertical=vertical[:64],
                              phone_number=phone_number[:32], preferred_time=preferred_time[:120], status="open",
                              created_at=utcnow())
    session.add(request)
    session.flush()
    return request


def callback_requests(session: Session, *, call_id: str | None = None, status: str | None = None,
                      limit: int = 200) -> list[CallbackRequest]:
    stmt = select(CallbackRequest)
    if call_id is not None:
        stmt = stmt.where(CallbackRequest.call_id == call_id)
    if status:
        stmt = stmt.where(CallbackRequest.status == status)
    return list(session.scalars(stmt.order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc())
                                .limit(limit)))


def mark_callback_done(session: Session, request_id: int, actor: str) -> CallbackRequest | None:
    request = session.get(CallbackRequest, request_id)
    if request is not None and request.status != "done":
        request.status, request.done_at, request.done_by = "done", utcnow(), actor[:64]
    return request
