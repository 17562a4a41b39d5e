"""Concurrent callers racing for one slot: the database lets exactly one win."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from callflows_verticals.dental_clinic.scheduling import SlotTaken, book, free_slots, reschedule
from callflows.store import Store, repo
from callflows_verticals.dental_clinic.models import Appointment, SlotHold
from callflows_verticals.dental_clinic import repo as clinic_repo
from test_dental_scheduling import NOW, SCHEDULE  # beside this file (pytest puts its folder on the path)

NY = ZoneInfo("America/New_York")
DAY = date(2030, 1, 8)
THREADS = 8


def at(hh: int, mm: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hh, mm, tzinfo=NY)


def _race(jobs: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run the jobs in threads released together; collect results and errors."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            out = job()
            with lock:
                results.append(out)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a booking thread hung"
    return results, errors


def _setup(store: Store) -> tuple[int, list[int]]:
    with store.session() as s:
        provider = clinic_repo.upsert_provider(s, "clinic", "dr_a", "Dr. A")
        customers = [repo.add_customer(s, "clinic", f"Caller {i}").id for i in range(THREADS)]
        return provider.id, customers


def _book_in_own_session(store: Store, customer: int, provider: int, start: datetime, minutes: int) -> int:
    session = store.new_session()
    try:
        appt = book(session, "clinic", customer, provider, "checkup", start, minutes, schedule=SCHEDULE, now=NOW)
        session.commit()
        return appt.id
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _assert_one_winner(store: Store, results: list[Any], errors: list[BaseException]) -> None:
    assert len(results) == 1, f"winners: {results}, errors: {errors!r}"
    assert len(errors) == THREADS - 1
    assert all(isinstance(e, SlotTaken) for e in errors), [repr(e) for e in errors]
    with store.session() as s:
        booked = clinic_repo.list_appointments(s, "clinic")
        assert [a.id for a in booked] == results
        holds = s.scalar(select(func.count()).select_from(SlotHold))
        assert holds == len(booked[0].holds)


def test_eight_callers_same_slot_exactly_one_wins(store: Store) -> None:
    provider, customers = _setup(store)
    jobs = [
        (lambda c=c: _book_in_own_session(store, c, provider, at(10), 30)) for c in customers
    ]
    results, errors = _race(jobs)
    _assert_one_winner(store, results, errors)


def test_eight_callers_overlapping_times_exactly_one_wins(store: Store) -> None:
    """Different starts and lengths, all covering 10:00-10:15."""
    provider, customers = _setup(store)
    shapes = [(at(10), 15), (at(9, 45), 30), (at(9, 30), 45), (at(9), 75),
              (at(10), 60), (at(9, 50), 20), (at(10, 5), 10), (at(8, 30), 120)]
    jobs = [
        (lambda c=c, st=st, m=m: _book_in_own_session(store, c, provider, st, m))
        for c, (st, m) in zip(customers, shapes, strict=True)
    ]
    results, errors = _race(jobs)
    _assert_one_winner(store, results, errors)
    with store.session() as s:
        winner = s.get(Appointment, results[0])
        assert winner is not None
        # whatever won, the rest of the morning around it is still bookable
        offered = free_slots(s, "clinic", SCHEDULE, 15, [provider], near=at(10), limit=3, now=NOW)
        assert len(offered) == 3
        for start, _p in offered:
            assert not (start < winner.ends_at and winner.starts_at < start + timedelta(minutes=15))


def test_concurrent_bookings_via_store(store: Store) -> None:
    provider, customers = _setup(store)
    jobs = [
        (lambda c=c: book(store, "clinic", c, provider, "checkup", at(14), 30, now=NOW).id) for c in customers
    ]
    results, errors = _race(jobs)
    _assert_one_winner(store, results, errors)


def test_concurrent_reschedules_into_one_slot(store: Store) -> None:
    provider, customers = _setup(store)
    originals = [
        book(store, "clinic", c, provider, "checkup", at(8 + i // 4, (i % 4) * 15), 15, now=NOW).id
        for i, c in enumerate(customers)
    ]  # 08:00 .. 09:45, one per caller
    jobs = [(lambda a=a: reschedule(store, a, at(15), SCHEDULE, now=NOW).id) for a in originals]
    results, errors = _race(jobs)
    assert len(results) == 1 and all(isinstance(e, SlotTaken) for e in errors), errors
    with store.session() as s:
        for i, appt_id in enumerate(originals):
            appt = s.get(Appointment, appt_id)
            assert appt is not None and appt.status == "booked" and len(appt.holds) == 1
            if appt_id == results[0]:
                assert appt.starts_at == at(15)
            else:
                assert appt.starts_at == at(8 + i // 4, (i % 4) * 15)  # untouched


def test_concurrent_call_logging(store: Store) -> None:
    """Many threads writing calls and turns at once: no 'database is locked'."""

    def one_call(n: int) -> str:
        with store.session() as s:
            call = repo.start_call(s, "clinic", "phone")
            call_id = call.id
        for k in range(5):
            with store.session() as s:
                repo.add_turn(s, call_id, "caller" if k % 2 else "bot", f"turn {k} of {n}", total_ms=k)
        with store.session() as s:
            repo.finish_call(s, call_id, "done")
        return call_id

    results, errors = _race([(lambda n=n: one_call(n)) for n in range(THREADS)])
    assert errors == [] and len(results) == THREADS
    with store.session() as s:
        calls = repo.list_calls(s, status="completed")
        assert len(calls) == THREADS and all(len(c.turns) == 5 for c in calls)
