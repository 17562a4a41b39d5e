"""Writes the call record: the call, every turn (masked), slot values (masked), the outcome.

Writes are queued and flushed in order; if the database is unavailable they stay queued
and are retried on the next write and at the end of the call, so a database hiccup never
ends a call and never loses what was said.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy.exc import InterfaceError, OperationalError

from callflows.flow.spec import FlowSpec
from callflows.logs import call_logger
from callflows.privacy import mask_text
from callflows.speech.registry import registry

Op = Callable[[Any], None]


class CallRecorder:
    def __init__(
        self,
        store: Any,
        call_id: str,
        flow: FlowSpec,
        channel: str = "text",
        caller_number: str | None = None,
        to_number: str | None = None,
        twilio_call_sid: str | None = None,
        flow_version: int | None = None,
    ):
        self.store = store
        self.call_id = call_id
        self.flow = flow
        self.log = call_logger(__name__, call_id)
        self.seq = 0
        self.finished = False
        self._queue: deque[Op] = deque()
        self._lock = threading.RLock()  # the dialogue thread writes turns; the socket thread may end the call
        self.turns: list[dict[str, Any]] = []  # what was recorded, masked (for the CLI and tests)
        self.decisions: list[dict[str, Any]] = []  # escalation decisions recorded (for the CLI and tests)
        from callflows.store import repo

        self._repo = repo
        started = datetime.now(timezone.utc)
        self._summary: dict[str, Any] | None = None
        self._enqueue(lambda s: repo.start_call(
            s, flow.vertical, channel, call_id=call_id, from_number=caller_number,
            to_number=to_number, twilio_call_sid=twilio_call_sid, flow_version=flow_version,
            started_at=started,
        ))

    # ----------------------------------------------------------------- records
    def caller_turn(self, text: str, nlu: Any, secrets: list[str], timings: dict[str, float] | None = None,
                    masked_whole: bool = False) -> None:
        masked = mask_text(text, secrets)
        if masked_whole and any(ch.isdigit() for ch in text):
            masked = "[redacted]"
        self._turn("caller", masked, getattr(nlu, "intent", None), getattr(nlu, "confidence", None), timings)

    def bot_turn(self, text: str, secrets: list[str], timings: dict[str, float] | None = None) -> None:
        self._turn("bot", mask_text(text, secrets), None, None, timings)

    def slot(self, name: str, slot_type: str, value: Any, pii: bool) -> None:
        seq = self.seq
        self._enqueue(lambda s: self._repo.set_slot(
            s, self.call_id, name, slot_type, value, turn_seq=seq, pii=pii))
        if pii and value:
            self._remask(str(value))

    def _remask(self, secret: str) -> None:
        """A personal value just became known (a name said before it was asked for): mask it in
        the turns already recorded, in memory and in the database."""
        for turn in self.turns:
            masked = mask_text(turn["text"], [secret])
            if masked != turn["text"]:
                turn["text"] = masked
                seq = turn["seq"]
                self._enqueue(lambda s, seq=seq, text=masked: self._repo.update_turn_text(s, self.call_id, seq, text))

    def summary(self, summary: dict[str, Any]) -> None:
        """Kept for the end of the call (a handoff summary for the person who takes it)."""
        self._summary = {**(self._summary or {}), **summary}

    def escalation(self, turn_seq: int, route: str, reasons: list[str], signals: dict[str, Any] | None = None,
                   llm_seconds: float | None = None, llm_tokens: int | None = None) -> None:
        """One escalation_decisions row: the route of a caller turn, why, the signals, LLM use."""
        from callflows.escalation.store import add_decision

        at = datetime.now(timezone.utc)
        self.decisions.append({"turn_seq": turn_seq, "route": route, "reasons": list(reasons),
                               "signals": dict(signals or {}), "llm_seconds": llm_seconds, "llm_tokens": llm_tokens})
        self._enqueue(lambda s: add_decision(s, self.call_id, turn_seq, route, list(reasons), signals,
                                             llm_seconds, llm_tokens, created_at=at))

    def finish(self, outcome: str, transferred_to: str | None = None, slots: dict[str, Any] | None = None,
               escalated: bool = False) -> None:
        """Queue the call's end; `escalated`: the larger LLM took part in the call."""
        if self.finished:
            self.flush()
            return
        self.finished = True
        ended = datetime.now(timezone.utc)
        summary = self._summary
        self._enqueue(lambda s: self._repo.finish_call(
            s, self.call_id, outcome, ended_at=ended, summary=summary,
            transferred=bool(transferred_to), transfer_to=transferred_to, escalated=escalated))
        self.log.info("call finished: outcome=%s turns=%d", outcome, self.seq)
        if self.store is not None and self._queue:  # the database is away: keep trying after the call
            pending_records().adopt(self)

    # ----------------------------------------------------------------- queue
    def _turn(self, speaker: str, text: str, intent: str | None, confidence: float | None,
              timings: dict[str, float] | None) -> None:
        self.seq += 1
        seq = self.seq
        at = datetime.now(timezone.utc)
        t = dict(timings or {})
        self.turns.append({"seq": seq, "speaker": speaker, "text": text, "intent": intent, **t})
        known = {"endpoint_ms", "stt_ms", "nlu_ms", "tts_first_audio_ms", "total_ms"}
        self._enqueue(lambda s: self._repo.add_turn(
            s, self.call_id, speaker, text, intent=intent, confidence=confidence, started_at=at, seq=seq,
            **{k: v for k, v in t.items() if k in known},
            extra={k: v for k, v in t.items() if k not in known} or None))

    def update_last_caller_turn(self, **timings: float | None) -> None:
        """Latency parts known only once the reply's audio went out (TTS first audio, total)."""
        seq = max((t["seq"] for t in self.turns if t["speaker"] == "caller"), default=None)
        if seq is None:
            return
        for turn in self.turns:
            if turn["seq"] == seq:
                turn.update(timings)
        self._enqueue(lambda s: self._repo.update_turn_timings(s, self.call_id, seq, **timings))

    def _enqueue(self, op: Op) -> None:
        if self.store is None:
            return
        with self._lock:
            self._queue.append(op)
            self.flush()

    def flush(self, attempts: int = 1) -> bool:
        """Write queued records in order, in one transaction; returns True when nothing is left.

        If the database is unreachable the records stay queued (retried later). A record
        the database refuses for another reason is logged and dropped, so one bad record
        cannot hold back the rest of the call."""
        if self.store is None:
            return True
        with self._lock:
            return self._flush(attempts)

    def _flush(self, attempts: int) -> bool:
        for attempt in range(attempts):
            while self._queue:
                done = 0
                try:
                    with self.store.session() as s:
                        for op in list(self._queue):
                            op(s)
                            s.flush()
                            done += 1
                except (OperationalError, InterfaceError) as exc:
                    self.log.warning("call record not written yet (%d queued): %s", len(self._queue), type(exc).__name__)
                    break
                except Exception as exc:  # noqa: BLE001 - a refused record: drop it, keep the others
                    self.log.error("dropping a call record the database refused: %s", type(exc).__name__)
                    if done >= len(self._queue):  # the commit itself failed: retry later
                        break
                    del self._queue[done]  # the others were rolled back with it: they go again
                    continue
                for _ in range(done):
                    self._queue.popleft()
            if not self._queue:
                return True
            if attempt + 1 < attempts:
                time.sleep(min(2.0, 0.2 * 2 ** attempt))
        return not self._queue


class PendingRecords:
    """Recorders of ended calls whose records could not be written yet (the database was
    down when the call ended). One per process (``pending_records()``): a daemon thread
    retries them every few seconds, oldest first, and once more at interpreter exit; at most
    `limit` calls are kept (beyond that the oldest is dropped with an error, so memory stays
    bounded)."""

    def __init__(self, interval_s: float = 2.0, limit: int = 10_000):
        self.interval_s = interval_s
        self.limit = limit
        self._recorders: deque[CallRecorder] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def adopt(self, recorder: "CallRecorder") -> None:
        with self._lock:
            if recorder in self._recorders:
                return
            self._recorders.append(recorder)
            if len(self._recorders) > self.limit:
                lost = self._recorders.popleft()
                lost.log.error("call record dropped: %d records still queued after the call and the pending list "
                               "is full", len(lost._queue))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pending-call-records", daemon=True)
                self._thread.start()

    def __len__(self) -> int:
        return len(self._recorders)

    def retry(self) -> int:
        """One pass over the pending calls; how many are still pending."""
        with self._lock:
            recorders = list(self._recorders)
        for recorder in recorders:
            if recorder.flush():
                recorder.log.info("call record written after the database came back")
                with self._lock:
                    if recorder in self._recorders:
                        self._recorders.remove(recorder)
        return len(self._recorders)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval_s)
            if self.retry() == 0:
                with self._lock:
                    if not self._recorders:
                        self._thread = None
                        return


def pending_records() -> PendingRecords:
    """The process's pending call records, made on first use (kept in the process registry,
    ``callflows.speech.registry``); they are retried once more at interpreter exit."""
    return registry().get_or_load(("pending_call_records",), _new_pending_records)


def _new_pending_records() -> PendingRecords:
    pending = PendingRecords()
    atexit.register(pending.retry)
    return pending
