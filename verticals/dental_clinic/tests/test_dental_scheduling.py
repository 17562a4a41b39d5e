"""Opening hours, free-slot search, booking, rescheduling and cancelling."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from callflows_verticals.dental_clinic.scheduling import (
    OutsideHours,
    Schedule,
    SchedulingError,
    SlotInPast,
    SlotTaken,
    book,
    cancel,
    find_customer_appointments,
    free_slots,
    hold_starts,
    is_free,
    reschedule,
)
from callflows.store import Store, repo
from callflows_verticals.dental_clinic.models import Appointment, SlotHold
from callflows_verticals.dental_clinic import repo as clinic_repo

NY = ZoneInfo("America/New_York")
# Monday 2030-01-07, 07:00 in New York: before opening.
NOW = datetime(2030, 1, 7, 7, 0, tzinfo=NY)
MON = date(2030, 1, 7)
SCHEDULE = Schedule(
    timezone="America/New_York",
    opening_hours={
        "mon": [("08:00", "12:00"), ("13:00", "17:00")],
        "tue": [("08:00", "12:00"), ("13:00", "17:00")],
        "wed": [("08:00", "12:00")],
        "thu": [("08:00", "12:00"), ("13:00", "17:00")],
        "fri": [("08:00", "12:00"), ("13:00", "17:00")],
    },
)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=NY)


@pytest.fixture
def clinic(store: Store) -> tuple[Store, int, int, int]:
    with store.session() as s:
        a = clinic_repo.upsert_provider(s, "clinic", "dr_a", "Dr. A")
        b = clinic_repo.upsert_provider(s, "clinic", "dr_b", "Dr. B")
        c = repo.add_customer(s, "clinic", "Jane Smith", date_of_birth="1985-03-05")
        return store, a.id, b.id, c.id


# --------------------------------------------------------------------------- Schedule


def test_schedule_windows_and_contains() -> None:
    assert [(w[0].hour, w[1].hour) for w in SCHEDULE.windows(MON)] == [(8, 12), (13, 17)]
    assert SCHEDULE.windows(date(2030, 1, 12)) == []  # saturday
    assert SCHEDULE.contains(at(MON, 8), 30)
    assert SCHEDULE.contains(at(MON, 11, 30), 30)
    assert not SCHEDULE.contains(at(MON, 11, 45), 30)  # runs into lunch
    assert not SCHEDULE.contains(at(MON, 7, 45), 30)
    assert not SCHEDULE.contains(at(MON, 17), 15)
    assert SCHEDULE.contains(at(MON, 13).astimezone(timezone.utc), 60)  # any zone in


def test_schedule_from_yaml_like_dict_and_merging() -> None:
    s = Schedule.from_dict({
        "timezone": "Europe/London",
        "opening_hours": {"Monday": ["09:00-12:00", ["12:00", "17:00"]], "sat": [["10:00", "12:00"]]},
        "slot_minutes": 30,
        "closed_dates": ["2030-01-07"],
    })
    assert set(s.opening_hours) == {"mon", "sat"}
    assert s.windows(MON) == []  # closed date
    nxt = date(2030, 1, 14)
    assert [(w[0].hour, w[1].hour) for w in s.windows(nxt)] == [(9, 17)]  # contiguous merged
    starts = list(s.starts(nxt, 60))
    assert starts[0].hour == 9 and starts[1].minute == 30 and starts[-1].hour == 16
    with pytest.raises(ValueError):
        Schedule("UTC", {"funday": [("08:00", "09:00")]})
    with pytest.raises(ValueError):
        Schedule("UTC", {"mon": [("09:00", "08:00")]})


def test_hold_starts_cover_every_quarter_touched() -> None:
    utc = timezone.utc
    assert hold_starts(datetime(2030, 1, 1, 9, 0, tzinfo=utc), datetime(2030, 1, 1, 9, 45, tzinfo=utc)) == [
        datetime(2030, 1, 1, 9, m, tzinfo=utc) for m in (0, 15, 30)
    ]
    assert len(hold_starts(datetime(2030, 1, 1, 9, 5, tzinfo=utc), datetime(2030, 1, 1, 9, 20, tzinfo=utc))) == 2
    with pytest.raises(ValueError):
        hold_starts(datetime(2030, 1, 1, 9), datetime(2030, 1, 1, 10))


# --------------------------------------------------------------------------- booking


def test_book_creates_holds_and_reference(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, cust = clinic
    with store.session() as s:
        call = repo.start_call(s, "clinic", "phone")
        appt = book(s, "clinic", cust, a, "checkup", at(MON, 9), 45, call.id, schedule=SCHEDULE, now=NOW)
        appt_id, ref = appt.id, appt.reference
    assert len(ref) == 6 and ref.isalnum() and ref.isupper()
    with store.session() as s:
        got = s.get(Appointment, appt_id)
        assert got is not None
        assert got.starts_at == at(MON, 9) and got.ends_at == at(MON, 9, 45)
        assert got.starts_at.tzinfo is not None and got.duration_minutes == 45
        assert got.status == "booked" and got.call_id is not None
        assert sorted(h.slot_start for h in got.holds) == hold_starts(at(MON, 9), at(MON, 9, 45))
        assert clinic_repo.get_appointment_by_reference(s, ref.lower()) is got
        assert [x.id for x in clinic_repo.list_appointments(s, "clinic")] == [appt_id]


def test_book_with_store_commits(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, cust = clinic
    appt = book(store, "clinic", cust, a, "checkup", at(MON, 10), 30, now=NOW)
    assert appt.reference and appt.starts_at == at(MON, 10)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(SlotHold)) == 2


def test_overlaps_refused_adjacent_allowed(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, b, cust = clinic
    book(store, "clinic", cust, a, "checkup", at(MON, 9), 60, now=NOW)
    for start, minutes in [(at(MON, 9), 15), (at(MON, 8, 30), 45), (at(MON, 9, 45), 30), (at(MON, 8), 120)]:
        with pytest.raises(SlotTaken):
            book(store, "clinic", cust, a, "checkup", start, minutes, now=NOW)
    book(store, "clinic", cust, a, "checkup", at(MON, 8), 60, now=NOW)  # ends when the other starts
    book(store, "clinic", cust, a, "checkup", at(MON, 10), 15, now=NOW)  # starts when it ends
    book(store, "clinic", cust, b, "checkup", at(MON, 9), 60, now=NOW)  # other provider
    with store.session() as s:
        assert len(clinic_repo.list_appointments(s, "clinic")) == 4


def test_slot_taken_inside_a_session_keeps_the_transaction_usable(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, cust = clinic
    with store.session() as s:
        book(s, "clinic", cust, a, "checkup", at(MON, 9), 30, now=NOW)
        with pytest.raises(SlotTaken):
            book(s, "clinic", cust, a, "checkup", at(MON, 9, 15), 30, now=NOW)
        repo.audit(s, "bot", "booking.failed", "dr_a")
    with store.session() as s:
        assert len(clinic_repo.list_appointments(s)) == 1 and len(repo.list_audit(s)) == 1


def test_database_constraint_blocks_double_holds_without_the_precheck(store: Store) -> None:
    with store.session() as s:
        p = clinic_repo.upsert_provider(s, "clinic", "dr_a", "Dr. A")
        c = repo.add_customer(s, "clinic", "X")
        a1 = Appointment(vertical="clinic", reference="AAAAAA", customer_id=c.id, provider_id=p.id,
                         appointment_type="t", starts_at=at(MON, 9), ends_at=at(MON, 9, 15))
        a2 = Appointment(vertical="clinic", reference="BBBBBB", customer_id=c.id, provider_id=p.id,
                         appointment_type="t", starts_at=at(MON, 9), ends_at=at(MON, 9, 15))
        s.add_all([a1, a2])
        s.flush()
        s.add(SlotHold(provider_id=p.id, slot_start=at(MON, 9), appointment_id=a1.id))
        s.flush()
        # same instant written from another zone must collide too
        s.add(SlotHold(provider_id=p.id, slot_start=at(MON, 9).astimezone(ZoneInfo("Asia/Tokyo")),
                       appointment_id=a2.id))
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()


def test_book_rejects_bad_times(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, cust = clinic
    with pytest.raises(OutsideHours):
        book(store, "clinic", cust, a, "checkup", at(MON, 11, 45), 30, schedule=SCHEDULE, now=NOW)
    with pytest.raises(OutsideHours):
        book(store, "clinic", cust, a, "checkup", at(date(2030, 1, 12), 9), 30, schedule=SCHEDULE, now=NOW)
    with pytest.raises(SlotInPast):
        book(store, "clinic", cust, a, "checkup", at(MON, 6), 30, now=NOW)
    with pytest.raises(ValueError):
        book(store, "clinic", cust, a, "checkup", datetime(2030, 1, 7, 9), 30, now=NOW)
    with pytest.raises(LookupError):
        book(store, "dental", cust, a, "checkup", at(MON, 9), 30, now=NOW)
    assert issubclass(SlotTaken, SchedulingError) and issubclass(OutsideHours, SchedulingError)
    # a past booking is possible when asked for (e.g. importing history)
    book(store, "clinic", cust, a, "checkup", at(MON, 6), 30, now=NOW, allow_past=True)


# --------------------------------------------------------------------------- reschedule / cancel


def test_reschedule_moves_holds(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, b, cust = clinic
    appt = book(store, "clinic", cust, a, "checkup", at(MON, 9), 30, now=NOW)
    moved = reschedule(store, appt.id, at(MON, 9, 15), SCHEDULE, now=NOW)  # overlaps its own old time
    assert moved.starts_at == at(MON, 9, 15) and moved.ends_at == at(MON, 9, 45)
    with store.session() as s:
        assert is_free(s, a, at(MON, 9), 15)
        assert not is_free(s, a, at(MON, 9, 30), 15)
        assert sorted(h.slot_start for h in s.get(Appointment, appt.id).holds) == hold_starts(  # type: ignore[union-attr]
            at(MON, 9, 15), at(MON, 9, 45))
    with store.session() as s:
        moved = reschedule(s, appt.id, at(MON, 14), duration_minutes=60, provider_id=b, now=NOW)
        assert moved.provider_id == b and moved.duration_minutes == 60
    with store.session() as s:
        assert is_free(s, a, at(MON, 9, 15), 30) and not is_free(s, b, at(MON, 14, 45), 15)
        assert s.scalar(select(func.count()).select_from(SlotHold)) == 4


def test_reschedule_onto_a_taken_slot_leaves_the_old_booking(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, cust = clinic
    mine = book(store, "clinic", cust, a, "checkup", at(MON, 9), 30, now=NOW)
    book(store, "clinic", cust, a, "checkup", at(MON, 10), 30, now=NOW)
    with store.session() as s:
        with pytest.raises(SlotTaken):
            reschedule(s, mine.id, at(MON, 9, 45), now=NOW)
        again = s.get(Appointment, mine.id)
        assert again is not None and again.starts_at == at(MON, 9) and len(again.holds) == 2
    with pytest.raises(OutsideHours):
        reschedule(store, mine.id, at(MON, 12), SCHEDULE, now=NOW)
    with store.session() as s:
        again = s.get(Appointment, mine.id)
        assert again is not None and again.starts_at == at(MON, 9) and again.status == "booked"
        assert sorted(h.slot_start for h in again.holds) == hold_starts(at(MON, 9), at(MON, 9, 30))
        assert not is_free(s, a, at(MON, 9), 15)


def test_reschedule_slot_taken_when_the_precheck_is_bypassed(clinic, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The unique index alone must protect the old booking (the race case)."""
    import callflows_verticals.dental_clinic.scheduling as sched

    store, a, _b, cust = clinic
    mine = book(store, "clinic", cust, a, "checkup", at(MON, 9), 30, now=NOW)
    book(store, "clinic", cust, a, "checkup", at(MON, 10), 30, now=NOW)
    monkeypatch.setattr(sched, "is_free", lambda *args, **kw: True)
    with store.session() as s:
        with pytest.raises(SlotTaken):
            reschedule(s, mine.id, at(MON, 9, 45), now=NOW)
        with pytest.raises(SlotTaken):
            book(s, "clinic", cust, a, "checkup", at(MON, 10, 15), 15, now=NOW)
        again = s.get(Appointment, mine.id)
        assert again is not None and again.starts_at == at(MON, 9) and len(again.holds) == 2
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(SlotHold)) == 4
        assert len(clinic_repo.list_appointments(s)) == 2


def test_cancel_frees_the_slot(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, cust = clinic
    appt = book(store, "clinic", cust, a, "checkup", at(MON, 9), 30, now=NOW)
    with pytest.raises(SlotTaken):
        book(store, "clinic", cust, a, "checkup", at(MON, 9), 30, now=NOW)
    cancelled = cancel(store, appt.id)
    assert cancelled.status == "cancelled"
    assert cancel(store, appt.id).status == "cancelled"  # idempotent
    again = book(store, "clinic", cust, a, "checkup", at(MON, 9), 30, now=NOW)
    with store.session() as s:
        assert [x.id for x in clinic_repo.list_appointments(s)] == [again.id]
        assert len(clinic_repo.list_appointments(s, include_cancelled=True)) == 2
        with pytest.raises(SchedulingError):
            reschedule(s, appt.id, at(MON, 10), now=NOW)


def test_find_customer_appointments(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, b, cust = clinic
    first = book(store, "clinic", cust, a, "checkup", at(MON, 9), 30, now=NOW)
    second = book(store, "clinic", cust, b, "x-ray", at(MON + timedelta(days=1), 9), 30, now=NOW)
    gone = book(store, "clinic", cust, b, "x-ray", at(MON + timedelta(days=2), 9), 30, now=NOW)
    cancel(store, gone.id)
    with store.session() as s:
        assert [x.id for x in find_customer_appointments(s, "clinic", cust)] == [first.id, second.id]
        assert [x.id for x in find_customer_appointments(s, "clinic", cust, at(MON, 12))] == [second.id]
        assert find_customer_appointments(s, "dental", cust) == []


# --------------------------------------------------------------------------- free slots


def test_free_slots_nearest_first(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, _cust = clinic
    with store.session() as s:
        got = free_slots(s, "clinic", SCHEDULE, 30, [a], near=at(MON, 10), limit=3, now=NOW)
        assert [t for t, _p in got] == [at(MON, 10), at(MON, 9, 45), at(MON, 10, 15)]
        assert all(p.id == a for _t, p in got)
        assert all(t.tzinfo is not None and t.utcoffset() == at(MON, 10).utcoffset() for t, _p in got)


def test_free_slots_skip_holds_and_respect_hours(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, cust = clinic
    book(store, "clinic", cust, a, "checkup", at(MON, 9, 30), 60, now=NOW)  # 9:30-10:30
    with store.session() as s:
        got = [t for t, _p in free_slots(s, "clinic", SCHEDULE, 30, [a], near=at(MON, 10), limit=4, now=NOW)]
        assert got == [at(MON, 10, 30), at(MON, 10, 45), at(MON, 9), at(MON, 11)]  # ties: earlier first
        # lunch: a 60-minute visit near 12:00 must fit in a window
        lunch = [t for t, _p in free_slots(s, "clinic", SCHEDULE, 60, [a], near=at(MON, 12), limit=2, now=NOW)]
        assert lunch == [at(MON, 11), at(MON, 13)]
        # saturday request: nearest is friday afternoon / next monday morning
        sat = [t for t, _p in free_slots(s, "clinic", SCHEDULE, 30, [a], near=at(date(2030, 1, 12), 12), limit=2, now=NOW)]
        assert sat == [at(date(2030, 1, 11), 16, 30), at(date(2030, 1, 11), 16, 15)]


def test_free_slots_not_in_the_past_and_earliest(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, _cust = clinic
    now = at(MON, 10, 5)
    with store.session() as s:
        got = [t for t, _p in free_slots(s, "clinic", SCHEDULE, 30, [a], near=at(MON, 9), limit=3, now=now)]
        assert got == [at(MON, 10, 15), at(MON, 10, 30), at(MON, 10, 45)]
        later = [t for t, _p in free_slots(s, "clinic", SCHEDULE, 30, [a], near=at(MON, 9), limit=1,
                                           earliest=at(MON + timedelta(days=1), 0), now=now)]
        assert later == [at(MON + timedelta(days=1), 8)]


def test_free_slots_providers_in_preference_order(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, b, cust = clinic
    book(store, "clinic", cust, b, "checkup", at(MON, 10), 30, now=NOW)
    with store.session() as s:
        got = free_slots(s, "clinic", SCHEDULE, 30, [b, a], near=at(MON, 10), limit=3, now=NOW)
        assert [(t, p.id) for t, p in got] == [(at(MON, 10), a), (at(MON, 9, 45), a), (at(MON, 10, 15), a)]
        later = free_slots(s, "clinic", SCHEDULE, 30, [b, a], near=at(MON, 11), limit=2, now=NOW)
        assert [(t, p.id) for t, p in later] == [(at(MON, 11), b), (at(MON, 10, 45), b)]
        everyone = free_slots(s, "clinic", SCHEDULE, 30, None, near=at(MON, 10), limit=4, now=NOW,
                              distinct_times=False)
        assert [(t, p.id) for t, p in everyone][:2] == [(at(MON, 10), a), (at(MON, 9, 45), a)]
        assert free_slots(s, "dental", SCHEDULE, 30, None, near=at(MON, 10), now=NOW) == []


def test_free_slots_finds_far_days_when_fully_booked(clinic) -> None:  # type: ignore[no-untyped-def]
    store, a, _b, cust = clinic
    # fill the whole Monday and Tuesday
    for day in (MON, MON + timedelta(days=1)):
        book(store, "clinic", cust, a, "block", at(day, 8), 240, now=NOW)
        book(store, "clinic", cust, a, "block", at(day, 13), 240, now=NOW)
    with store.session() as s:
        got = [t for t, _p in free_slots(s, "clinic", SCHEDULE, 30, [a], near=at(MON, 10), limit=2, now=NOW)]
        assert got == [at(MON + timedelta(days=2), 8), at(MON + timedelta(days=2), 8, 15)]
        assert is_free(s, a, got[0], 30, SCHEDULE, now=NOW)
        assert not is_free(s, a, at(MON, 10), 30)
        assert not is_free(s, a, at(MON + timedelta(days=2), 12), 30, SCHEDULE)


def test_the_clock_is_explicit(clinic) -> None:  # type: ignore[no-untyped-def]
    """Simulated calls pass their own clock; with none, book() does not check the past."""
    store, a, _b, cust = clinic
    long_ago = datetime(2001, 1, 8, 9, 0, tzinfo=NY)  # a Monday
    book(store, "clinic", cust, a, "import", long_ago, 30)  # no clock: no past check
    with pytest.raises(SlotInPast):
        book(store, "clinic", cust, a, "checkup", long_ago + timedelta(hours=1), 30, now=NOW)
    with store.session() as s:
        got = free_slots(s, "clinic", SCHEDULE, 30, [a], near=long_ago, limit=2, earliest=long_ago)
        assert [t for t, _p in got] == [long_ago + timedelta(minutes=30), long_ago + timedelta(minutes=45)]
        assert free_slots(s, "clinic", SCHEDULE, 30, [a], near=long_ago, limit=2) == []  # real clock
