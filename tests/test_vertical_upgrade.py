"""A database made before verticals became plugins upgrades to the new layout with every row.

Such a database got the bank's, the hotel's and the clinic's tables from the core's own history
(revisions 0001, 0003, 0004, 0007). tests/fixtures/layout_0010 holds those revisions exactly as
they were; the database is built with them, filled, then upgraded by today's Store.upgrade(),
whose vertical branches must adopt the tables (rows kept) instead of failing to create them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from click.testing import CliRunner
from sqlalchemy import inspect, text

import admin.models  # noqa: F401  (the admin's tables are part of the schema)
import callflows.store.recordings  # noqa: F401
import callflows.store.replicas  # noqa: F401
import callflows.store.transfers  # noqa: F401
from callflows.cli.main import cli
from callflows.store import Store, repo
from callflows_verticals.dental_clinic import repo as clinic_repo
from callflows_verticals.dental_clinic import scheduling
from callflows_verticals.hotel import booking as hb
from callflows_verticals.retail_bank import bank
from tests.fixtures.db import schema_diff

OLD_LAYOUT = Path(__file__).parent / "fixtures" / "layout_0010"
NEW_HEADS = ("0010", "dental_clinic_0001", "hotel_0001", "retail_bank_0001")
START = datetime(2030, 3, 4, 15, 0, tzinfo=timezone.utc)


def old_layout(store: Store, revision: str) -> None:
    """Migrate ``store`` with the frozen pre-plugin revisions up to ``revision``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(OLD_LAYOUT))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def fill(store: Store, with_flags: bool) -> dict[str, int]:
    """One dental appointment (+ its hold), one bank customer with an account and a card, one
    hotel stay (+ its night); raw SQL, as the old code's tables hold them."""
    flag = ", name_unverified" if with_flags else ""
    flag_value = ", :unverified" if with_flags else ""
    with store.session() as s:
        dental = repo.add_customer(s, "dental_clinic", "Old Patient").id
        banker = repo.add_customer(s, "retail_bank", "Old Saver", ssn_last4="1234").id
        guest = repo.add_customer(s, "hotel", "Old Guest").id
        s.execute(text("INSERT INTO providers (vertical, key, name) VALUES ('dental_clinic', 'patel', 'Priya Patel')"))
        pid = s.scalar(text("SELECT id FROM providers"))
        s.execute(text(f"INSERT INTO appointments (vertical, reference, customer_id, provider_id, appointment_type, "
                       f"starts_at, ends_at, status, created_at{flag}) VALUES ('dental_clinic', 'OLD123', :c, :p, "
                       f"'cleaning', :a, :b, 'booked', :a{flag_value})"),
                  {"c": dental, "p": pid, "a": START, "b": START + timedelta(minutes=30), "unverified": True})
        appt = s.scalar(text("SELECT id FROM appointments"))
        for k in range(2):
            s.execute(text("INSERT INTO slot_holds (provider_id, slot_start, appointment_id) VALUES (:p, :t, :a)"),
                      {"p": pid, "t": START + timedelta(minutes=15 * k), "a": appt})
        s.execute(text("INSERT INTO accounts (customer_id, vertical, kind, number_last4, balance_cents, currency) "
                       "VALUES (:c, 'retail_bank', 'checking', '4321', 123456, 'USD')"), {"c": banker})
        s.execute(text("INSERT INTO cards (customer_id, kind, last4, status) VALUES (:c, 'debit', '5521', 'active')"),
                  {"c": banker})
        s.execute(text(f"INSERT INTO reservations (vertical, reference, customer_id, room_type, arrival, departure, "
                       f"guests, status, created_at{flag}) VALUES ('hotel', 'HTL234', :c, 'suite', :a, :d, 2, "
                       f"'booked', :t{flag_value})"),
                  {"c": guest, "a": date(2030, 5, 1), "d": date(2030, 5, 2), "t": START, "unverified": False})
        stay = s.scalar(text("SELECT id FROM reservations"))
        s.execute(text("INSERT INTO room_night_holds (vertical, room_type, night, unit, reservation_id) "
                       "VALUES ('hotel', 'suite', :n, 1, :r)"), {"n": date(2030, 5, 1), "r": stay})
    return {"dental": dental, "banker": banker, "guest": guest, "provider": pid}


def test_a_database_at_0010_upgrades_keeping_bank_hotel_and_dental_rows(empty_store: Store) -> None:
    old_layout(empty_store, "0010")
    assert empty_store.current_revisions() == ("0010",)
    ids = fill(empty_store, with_flags=True)

    empty_store.upgrade()

    assert empty_store.current_revisions() == NEW_HEADS
    with empty_store.session() as s:
        [appt] = clinic_repo.list_appointments(s, "dental_clinic")
        assert (appt.reference, appt.name_unverified, len(appt.holds)) == ("OLD123", True, 2)
        assert [(a.kind, a.balance_cents) for a in bank.accounts_of(s, ids["banker"])] == [("checking", 123456)]
        assert [(c.last4, c.status) for c in bank.cards_of(s, ids["banker"])] == [("5521", "active")]
        stay = hb.get_stay(s, "hotel", "HTL234")
        assert stay is not None and (stay.room_type, stay.nights, stay.name_unverified) == ("suite", 1, False)
    # the adopted tables still refuse a double booking: their UNIQUE constraints came along
    with pytest.raises(scheduling.SlotTaken):
        scheduling.book(empty_store, "dental_clinic", ids["dental"], ids["provider"], "cleaning", START, 30)
    diff = schema_diff(empty_store)
    assert diff == []
    empty_store.upgrade()  # again: nothing to do
    assert empty_store.current_revisions() == NEW_HEADS


def test_a_database_from_before_0007_gets_the_name_flag_and_the_cli_shows_it(
        empty_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    old_layout(empty_store, "0006")
    ids = fill(empty_store, with_flags=False)
    empty_store.upgrade()
    assert empty_store.current_revisions() == NEW_HEADS
    assert "name_unverified" in {c["name"] for c in inspect(empty_store.engine).get_columns("reservations")}
    with empty_store.session() as s:
        cid = repo.add_customer(s, "dental_clinic", "Dmitry Sulla").id
    scheduling.book(empty_store, "dental_clinic", cid, ids["provider"], "cleaning", START + timedelta(hours=1), 30,
                    name_unverified=True)
    with empty_store.session() as s:
        flags = {a.customer.full_name: a.name_unverified for a in clinic_repo.list_appointments(s, "dental_clinic")}
    assert flags == {"Old Patient": False, "Dmitry Sulla": True}

    monkeypatch.setenv("CALLFLOWS_DATABASE_URL", empty_store.url)
    table = CliRunner().invoke(cli, ["dental_clinic", "appointments", "list"])
    assert table.exit_code == 0, table.output
    assert "Dmitry Sulla [name not verified]" in table.output and "Old Patient [" not in table.output
    alias = CliRunner().invoke(cli, ["appointments", "list", "--json"])  # the command from before
    assert alias.exit_code == 0, alias.output
    assert '"name_unverified": true' in alias.output and '"name_unverified": false' in alias.output
