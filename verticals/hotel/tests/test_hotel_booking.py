"""Hotel room inventory: bookings, changes, cancellations, and no overbooking under
concurrent calls. Runs on SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from callflows_verticals.hotel import booking as hb
from callflows.store import repo
from callflows_verticals.hotel.models import Reservation, RoomNightHold
from tests.fixtures.db import schema_diff

V = "hotel"
FRI, SAT, SUN, MON, TUE = (date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30),
                           date(2026, 12, 1))


def inventory(suites: int = 2) -> hb.Inventory:
    return hb.Inventory.from_dict(V, {"room_types": {
        "double": {"rooms": 3, "price": 149, "max_guests": 2, "label": "double room"},
        "family": {"rooms": 1, "price": 219, "max_guests": 5, "label": "family room"},
        "suite": {"rooms": suites, "price": 329, "max_guests": 4, "label": "suite"},
    }, "max_nights": 30})


def guest(store, name: str = "Ana Ruiz") -> int:
    with store.session() as s:
        return repo.add_customer(s, V, name, phone="+15550001111").id


def holds(store, reference: str) -> list[tuple[str, date, int]]:
    with store.session() as s:
        rows = s.execute(select(RoomNightHold.room_type, RoomNightHold.night, RoomNightHold.unit)
                         .join(Reservation).where(Reservation.reference == reference)
                         .order_by(RoomNightHold.night)).all()
    return [tuple(r) for r in rows]


def test_migration_matches_the_hotel_models(store):
    diff = schema_diff(store)
    mine = [d for d in diff if "reservation" in repr(d) or "room_night" in repr(d)]
    assert mine == []


def test_book_takes_one_unit_per_night(store):
    inv = inventory()
    stay = hb.book_stay(store, inv, guest(store), "suite", FRI, MON, 2, call_id=None, today=date(2026, 11, 22))
    assert (stay.status, stay.nights, len(stay.reference)) == ("booked", 3, 6)
    assert holds(store, stay.reference) == [("suite", FRI, 1), ("suite", SAT, 1), ("suite", SUN, 1)]
    with store.session() as s:
        assert hb.rooms_free(s, inv, "suite", FRI, MON) == 1
        assert hb.rooms_free(s, inv, "suite", MON, TUE) == 2  # checkout day is not a night
        assert hb.get_stay(s, V, stay.reference.lower()) == stay
        assert [x.reference for x in hb.find_stays(s, V, "ana  RUIZ", arrival=FRI)] == [stay.reference]
    assert inv.price("suite", FRI, MON) == 3 * 329


@pytest.mark.parametrize("arrival,departure,guests,room,why", [
    (SAT, FRI, 2, "suite", "after arrival"),
    (FRI, FRI, 2, "suite", "after arrival"),
    (FRI, date(2027, 1, 1), 2, "suite", "30 nights"),
    (FRI, MON, 3, "double", "1 to 2 guests"),
    (FRI, MON, 2, "castle", "unknown room type"),
    (date(2026, 11, 1), FRI, 2, "suite", "past"),
])
def test_bad_stays_are_refused(store, arrival, departure, guests, room, why):
    with pytest.raises(hb.BadStay, match=why):
        hb.book_stay(store, inventory(), guest(store), room, arrival, departure, guests, today=date(2026, 11, 22))


def test_sold_out_offers_other_room_types(store):
    inv = inventory()
    cid = guest(store)
    hb.book_stay(store, inv, cid, "suite", FRI, MON, 2)
    hb.book_stay(store, inv, cid, "suite", SAT, SUN, 2)
    with pytest.raises(hb.SoldOut):
        hb.book_stay(store, inv, cid, "suite", SAT, MON, 2)
    hb.book_stay(store, inv, cid, "suite", MON, TUE, 2)  # the nights around are still free
    with store.session() as s:
        assert [r.key for r in hb.alternatives(s, inv, SAT, MON, 2, exclude="suite")] == ["double", "family"]
        assert [r.key for r in hb.alternatives(s, inv, SAT, MON, 3, exclude="suite")] == ["family"]


def test_change_dates_moves_the_nights_and_keeps_the_old_ones_on_failure(store):
    inv = inventory(suites=1)
    cid = guest(store)
    stay = hb.book_stay(store, inv, cid, "suite", FRI, SUN, 2)
    moved = hb.change_stay(store, inv, stay.reference, arrival=SAT, departure=MON)  # overlaps itself: fine
    assert (moved.arrival, moved.departure) == (SAT, MON)
    assert [h[1] for h in holds(store, stay.reference)] == [SAT, SUN]
    other = hb.book_stay(store, inv, cid, "suite", MON, TUE, 2)
    with pytest.raises(hb.SoldOut):
        hb.change_stay(store, inv, stay.reference, departure=TUE)
    assert [h[1] for h in holds(store, stay.reference)] == [SAT, SUN]
    with store.session() as s:
        assert hb.get_stay(s, V, stay.reference).departure == MON
    upgraded = hb.change_stay(store, inv, other.reference, room_type="family", guests=4)
    assert (upgraded.room_type, upgraded.guests) == ("family", 4)
    assert holds(store, other.reference) == [("family", MON, 1)]


def test_cancel_frees_the_nights(store):
    inv = inventory(suites=1)
    cid = guest(store)
    stay = hb.book_stay(store, inv, cid, "suite", FRI, MON, 2)
    assert hb.cancel_stay(store, V, stay.reference).status == "cancelled"
    assert hb.cancel_stay(store, V, stay.reference).status == "cancelled"  # idempotent
    assert holds(store, stay.reference) == []
    hb.book_stay(store, inv, cid, "suite", FRI, MON, 2)
    with pytest.raises(hb.NotFound):
        hb.change_stay(store, inv, stay.reference, departure=TUE)


def _race(store, inv, cid, stays: list[tuple[date, date]]) -> tuple[list[hb.Stay], list[Exception]]:
    barrier = threading.Barrier(len(stays))
    won: list[hb.Stay] = []
    lost: list[Exception] = []
    lock = threading.Lock()

    def caller(arrival: date, departure: date) -> None:
        barrier.wait()
        try:
            stay = hb.book_stay(store, inv, cid, "suite", arrival, departure, 2)
            with lock:
                won.append(stay)
        except Exception as exc:  # noqa: BLE001 - collected and checked below
            with lock:
                lost.append(exc)

    threads = [threading.Thread(target=caller, args=s) for s in stays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return won, lost


def test_concurrent_calls_for_the_last_room_make_exactly_one_reservation(store):
    inv = inventory(suites=1)
    cid = guest(store)
    won, lost = _race(store, inv, cid, [(FRI, MON)] * 8)
    assert len(won) == 1 and len(lost) == 7
    assert all(isinstance(e, hb.SoldOut) for e in lost), lost
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Reservation)) == 1
        assert s.scalar(select(func.count()).select_from(RoomNightHold)) == 3


def test_concurrent_overlapping_stays_never_oversell_a_night(store):
    inv = inventory(suites=2)
    cid = guest(store)
    stays = [(FRI, SUN), (SAT, MON), (FRI, MON), (SUN, TUE), (SAT, SUN), (FRI, SAT)]
    won, lost = _race(store, inv, cid, stays)
    assert all(isinstance(e, hb.SoldOut) for e in lost), lost
    assert won
    with store.session() as s:
        per_night = dict(s.execute(select(RoomNightHold.night, func.count()).group_by(RoomNightHold.night)).all())
    assert max(per_night.values()) <= 2
