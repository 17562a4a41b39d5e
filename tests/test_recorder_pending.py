"""A call that ends while the database is away: its records wait in the process's pending
call records (``callflows.dialogue.recorder.pending_records``) and are written once it is back."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from callflows.dialogue import recorder as recorder_module
from callflows.dialogue.recorder import CallRecorder, PendingRecords, pending_records
from callflows.speech.registry import registry
from callflows.store.models import Call, Turn
from callflows.verticals import load_vertical
from tests.fixtures.db import make_sqlite_store


class FlakyStore:
    """A store whose database can be taken away."""

    def __init__(self, store: Any):
        self.store = store
        self.down = False

    @contextmanager
    def session(self) -> Iterator[Any]:
        if self.down:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        with self.store.session() as s:
            yield s


def test_pending_records_are_one_per_process_and_made_on_first_use() -> None:
    assert not hasattr(recorder_module, "PENDING")  # nothing made at import
    assert pending_records() is pending_records()
    assert isinstance(pending_records(), PendingRecords)
    assert ("pending_call_records",) in registry().loaded()


def test_a_call_ended_while_the_database_is_down_is_written_when_it_returns(tmp_path, monkeypatch) -> None:
    pending = PendingRecords(interval_s=3600)  # no background pass during the test: retried by hand
    monkeypatch.setattr(recorder_module, "pending_records", lambda: pending)
    store = FlakyStore(make_sqlite_store(tmp_path))
    recorder = CallRecorder(store, "pending-call", load_vertical("dental_clinic").flow, channel="phone")
    recorder.caller_turn("hello there", None, secrets=[])
    store.down = True
    recorder.bot_turn("Hi, how can I help?", secrets=[])
    recorder.finish("caller_hung_up")
    assert len(pending) == 1
    assert pending.retry() == 1  # still down: kept
    store.down = False
    assert pending.retry() == 0
    with store.store.session() as s:
        call = s.get(Call, "pending-call")
        texts = [t.text for t in s.scalars(select(Turn).where(Turn.call_id == "pending-call").order_by(Turn.seq))]
    assert call is not None and call.outcome == "caller_hung_up"
    assert texts == ["hello there", "Hi, how can I help?"]
    store.store.engine.dispose()
