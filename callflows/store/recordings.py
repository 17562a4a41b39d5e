"""Call recordings and recording consent: two tables beside ``calls`` (migration 0010).

``recording_consents``: what the caller answered to the recording sentence (given, implied
by staying silent, refused) and how (speech, keypad, silence), one row per call that was
asked; a refusal leaves this row and nothing else.  ``call_recordings``: one encrypted file
per recorded call (``callflows.recordings.vault``), when it expires, and where the personal
data was redacted (channel, milliseconds, reason: never what was said).

Retention: ``expires_at`` is fixed when the recording is written (the vertical's
``retention_days`` then); :func:`sweep_expired_recordings` deletes the files past it, keeps
the row with ``deleted_at`` (the call page says the recording was deleted, and when), and
writes one ``recording.deleted`` audit entry per file.  Idempotent and safe from several
processes: a row is claimed with a conditional ``UPDATE ... WHERE deleted_at IS NULL``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from callflows.logs import call_logger
from callflows.recordings.vault import RecordingVault
from callflows.store.db import Store
from callflows.store.models import Base
from callflows.store.repo import audit
from callflows.recordings.tape import RedactionJson
from callflows.store.types import JSONType, UTCDateTime, to_utc, utcnow

log = logging.getLogger(__name__)

SWEEPER_ACTOR = "system:recording-retention"
CONSENT_ANSWERS = ("given", "implied", "refused")
DEFAULT_SWEEP_INTERVAL_S = 3600.0


class RecordingConsent(Base):
    """The caller's answer to the recording sentence."""

    __tablename__ = "recording_consents"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    answer: Mapped[str] = mapped_column(String(16))  # given, implied, refused
    via: Mapped[str] = mapped_column(String(16))  # speech, keypad, silence, hangup
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CallRecording(Base):
    """One encrypted two-channel recording (left: caller, right: bot)."""

    __tablename__ = "call_recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), unique=True)
    vertical: Mapped[str] = mapped_column(String(64), index=True)
    file_name: Mapped[str] = mapped_column(String(200))  # relative to CALLFLOWS_RECORDINGS_DIR
    size_bytes: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    redactions: Mapped[list[RedactionJson] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class RecordingView:
    """What the admin shows of a recording (no file contents)."""

    call_id: str
    vertical: str
    file_name: str
    duration_ms: int
    redactions: list[RedactionJson]
    created_at: datetime
    expires_at: datetime
    deleted_at: datetime | None

    @property
    def playable(self) -> bool:
        return self.deleted_at is None


@dataclass(frozen=True)
class NewRecording:
    call_id: str
    vertical: str
    file_name: str
    size_bytes: int
    duration_ms: int
    redactions: list[RedactionJson]
    retention_days: int


def save_consent(session: Session, call_id: str, answer: str, via: str, asked_at: datetime | None = None) -> None:
    if answer not in CONSENT_ANSWERS:
        raise ValueError(f"unknown consent answer {answer!r}")
    row = session.get(RecordingConsent, call_id)
    if row is None:
        session.add(RecordingConsent(call_id=call_id, answer=answer, via=via, asked_at=asked_at or utcnow()))
    else:
        row.answer, row.via = answer, via
    session.flush()


def consent_of(session: Session, call_id: str) -> str | None:
    row = session.get(RecordingConsent, call_id)
    return row.answer if row is not None else None


def add_recording(session: Session, new: NewRecording) -> CallRecording:
    now = utcnow()
    row = CallRecording(call_id=new.call_id, vertical=new.vertical, file_name=new.file_name,
                        size_bytes=new.size_bytes, duration_ms=new.duration_ms, redactions=new.redactions,
                        created_at=now, expires_at=now + timedelta(days=new.retention_days))
    session.add(row)
    session.flush()
    return row


def recording_of(session: Session, call_id: str) -> RecordingView | None:
    row = session.scalars(select(CallRecording).where(CallRecording.call_id == call_id)).first()
    if row is None:
        return None
    return RecordingView(row.call_id, row.vertical, row.file_name, row.duration_ms, list(row.redactions or []),
                         row.created_at, row.expires_at, row.deleted_at)


def sweep_expired_recordings(store: Store, vault: RecordingVault, now: datetime | None = None) -> list[str]:
    """Delete every recording past its ``expires_at``; the call ids whose file this run deleted.

    Each recording in its own transaction: claim the row (only one sweeper wins), delete the
    file, write the audit entry; a file that cannot be deleted (a permission error) gives the
    row back so the next sweep tries again, and is logged."""
    now = to_utc(now) if now is not None else utcnow()
    with store.session() as s:
        due = list(s.execute(select(CallRecording.id, CallRecording.call_id, CallRecording.file_name)
                             .where(CallRecording.deleted_at.is_(None), CallRecording.expires_at <= now)
                             .order_by(CallRecording.expires_at)).all())
    deleted: list[str] = []
    for rec_id, call_id, name in due:
        clog = call_logger(__name__, call_id)
        try:
            with store.session() as s:
                claimed = s.execute(update(CallRecording)
                                    .where(CallRecording.id == rec_id, CallRecording.deleted_at.is_(None))
                                    .values(deleted_at=now)).rowcount
                if not claimed:
                    continue
                existed = vault.delete(name)  # inside the transaction: a failure rolls the claim back
                audit(s, SWEEPER_ACTOR, "recording.deleted", f"call:{call_id}",
                      {"reason": "retention", "file_existed": existed})
            deleted.append(call_id)
            clog.info("recording deleted: retention period over%s", "" if existed else " (file already gone)")
        except OSError as exc:
            clog.error("recording not deleted, retried at the next sweep: %s", type(exc).__name__)
    return deleted


def start_recording_sweeper(store: Store, vault: RecordingVault,
                            interval_s: float = DEFAULT_SWEEP_INTERVAL_S) -> threading.Event:
    """Sweep now and every ``interval_s`` on a daemon thread (each phone worker; harmless in
    parallel); set the returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                sweep_expired_recordings(store, vault)
            except Exception as exc:  # noqa: BLE001 - the database may be away: try again later
                log.warning("recording retention sweep failed: %s", type(exc).__name__)
            stop.wait(interval_s)

    threading.Thread(target=loop, name="recording-sweeper", daemon=True).start()
    return stop
