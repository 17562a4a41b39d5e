"""Store, models, migrations and repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

import admin.models  # noqa: F401  (the admin's tables are part of the schema)
import callflows.store.recordings  # noqa: F401  (call recordings and recording consent)
import callflows.store.replicas  # noqa: F401  (replicas and the calls they hold)
import callflows.store.transfers  # noqa: F401  (transfer attempts and callback requests too)
from callflows.store import Store
from callflows.store import repo
from callflows.store import flow_versions
from callflows.store.db import MIGRATIONS_DIR, normalize_url
from callflows.store.models import Call, Customer, FlowVersion, PhoneNumber, Turn
from callflows_verticals.dental_clinic.models import Provider
from callflows_verticals.dental_clinic import repo as clinic_repo
from tests.fixtures.db import schema_diff

HEAD = "0010"  # the newest migration (callflows/store/migrations/versions)

TABLES = {  # the engine's own; each vertical's come from its branch (tests/test_vertical_upgrade.py)
    "customers", "calls", "turns", "slot_values", "flow_versions", "phone_numbers", "audit_log",
    "alembic_version",
}


def test_upgrade_creates_every_table_and_matches_models(store: Store) -> None:
    assert TABLES <= set(inspect(store.engine).get_table_names())
    assert store.current_revision() == HEAD
    diff = schema_diff(store)
    assert diff == []


def test_downgrade_and_upgrade_again(store: Store) -> None:
    store.downgrade("base")
    assert store.current_revision() is None
    assert "calls" not in inspect(store.engine).get_table_names()
    store.upgrade()
    store.upgrade()  # idempotent
    assert store.current_revision() == HEAD


def test_migrations_are_located_next_to_the_module() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    assert (MIGRATIONS_DIR.parent / "alembic.ini").is_file()


def test_from_env_defaults_to_sqlite_under_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLFLOWS_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    s = Store.from_env()
    assert s.is_sqlite and s.url == f"sqlite:///{tmp_path / 'var' / 'callflows.db'}"
    assert (tmp_path / "var").is_dir()
    s.upgrade()
    assert (tmp_path / "var" / "callflows.db").is_file()
    s.dispose()
    monkeypatch.setenv("CALLFLOWS_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert Store.from_env().url.endswith("other.db")


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_pragmas(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_session_commits_and_rolls_back(store: Store) -> None:
    with store.session() as s:
        clinic_repo.upsert_provider(s, "clinic", "dr_a", "Dr. A")
    with pytest.raises(RuntimeError):
        with store.session() as s:
            clinic_repo.upsert_provider(s, "clinic", "dr_b", "Dr. B")
            raise RuntimeError("boom")
    with store.session() as s:
        assert [p.key for p in clinic_repo.list_providers(s, "clinic")] == ["dr_a"]


def test_foreign_keys_enforced(store: Store) -> None:
    with pytest.raises(IntegrityError):
        with store.session() as s:
            s.add(Turn(call_id="does-not-exist", seq=1, speaker="bot", text="hi"))


def test_models_round_trip(store: Store) -> None:
    ny = ZoneInfo("America/New_York")
    started = datetime(2026, 11, 22, 10, 0, tzinfo=ny)
    with store.session() as s:
        c = repo.add_customer(
            s, "clinic", "  Jane   Smith ", date_of_birth="1985-03-05", phone="(555) 123-4567",
            email="jane@example.com", ssn_last4="6789", account_number="AC-1", zip_code="02139", tier="gold",
        )
        call = repo.start_call(s, "clinic", "phone", twilio_call_sid="CA123", from_number="+15551234567",
                               to_number="+15550000000", flow_version=3, started_at=started)
        call_id, cust_id = call.id, c.id
        repo.finish_call(s, call.id, "booked", summary={"intent": "book", "n": [1, 2]})
        s.add(PhoneNumber(number="+15550000000", vertical="clinic", transfer_number="+15559999999"))
    with store.session() as s:
        c2 = s.get(Customer, cust_id)
        assert c2 is not None
        assert c2.full_name == "Jane Smith" and c2.date_of_birth == date(1985, 3, 5)
        assert c2.failed_verifications == 0 and c2.locked_until is None
        call2 = s.get(Call, call_id)
        assert call2 is not None
        assert len(call2.id) == 36
        assert call2.started_at == started and call2.started_at.tzinfo is not None
        assert call2.started_at.utcoffset() == timedelta(0)
        assert call2.summary == {"intent": "book", "n": [1, 2]}
        assert call2.from_number_masked is not None and "1234567" not in call2.from_number_masked
        assert call2.status == "completed" and call2.escalated is False
        assert repo.get_call_by_sid(s, "CA123") is call2
        assert repo.lookup_phone_number(s, "1 (555) 000-0000").transfer_number == "+15559999999"  # type: ignore[union-attr]


def test_provider_key_unique_per_vertical(store: Store) -> None:
    with store.session() as s:
        a = clinic_repo.upsert_provider(s, "clinic", "dr_a", "Dr. A", "GP")
        b = clinic_repo.upsert_provider(s, "clinic", "dr_a", "Dr. Alice", "GP")
        other = clinic_repo.upsert_provider(s, "dental", "dr_a", "Dr. A")
        assert a.id == b.id and b.name == "Dr. Alice" and other.id != a.id
    with pytest.raises(IntegrityError):
        with store.session() as s:
            s.add(Provider(vertical="clinic", key="dr_a", name="dup"))


def test_turns_slots_and_masking(store: Store) -> None:
    with store.session() as s:
        call = repo.start_call(s, "clinic")
        t1 = repo.add_turn(s, call.id, "bot", "Hello, how can I help?", total_ms=12.5)
        t2 = repo.add_turn(s, call.id, "caller", "I'm Jane Smith, born march fifth nineteen eighty five",
                           intent="book", confidence=0.91, stt_ms=210, nlu_ms=3, endpoint_ms=400,
                           secrets=["Jane Smith"], extra={"asr": "whisper"})
        repo.set_slot(s, call.id, "date_of_birth", "date", "1985-03-05", turn_seq=t2.seq)
        repo.set_slot(s, call.id, "last4", "digits", "6789", turn_seq=t2.seq)
        repo.set_slot(s, call.id, "appointment_type", "enum", "checkup")
        repo.set_slot(s, call.id, "callback", "phone_number", "+15551234567")
        call_id = call.id
        assert (t1.seq, t2.seq) == (1, 2)
    with store.session() as s:
        call = repo.get_call(s, call_id)
        assert call is not None
        texts = [t.text for t in call.turns]
        assert texts[0] == "Hello, how can I help?"
        assert "Jane" not in texts[1] and "nineteen" not in texts[1] and "[redacted]" in texts[1]
        assert call.turns[1].extra == {"asr": "whisper"} and call.turns[1].stt_ms == 210
        slots = repo.get_slots(s, call_id)
        assert slots["date_of_birth"] == "****-**-**"
        assert slots["last4"] == "****"
        assert slots["appointment_type"] == "checkup"
        assert slots["callback"] is not None and "1234567" not in slots["callback"]


def test_finish_call_is_idempotent(store: Store) -> None:
    with store.session() as s:
        call = repo.start_call(s, "bank", "phone")
        first = repo.finish_call(s, call.id, "transferred", transfer_to="+15550001111", escalated=True)
        ended = first.ended_at
        again = repo.finish_call(s, call.id, "hangup")
        assert again.outcome == "transferred" and again.ended_at == ended
        assert again.transferred and again.escalated and again.transfer_to == "+15550001111"
    with pytest.raises(LookupError):
        with store.session() as s:
            repo.finish_call(s, "nope", "hangup")


def test_list_calls_filters(store: Store) -> None:
    base = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    with store.session() as s:
        for i in range(6):
            c = repo.start_call(s, "clinic" if i % 2 else "bank", "phone" if i < 3 else "text",
                                started_at=base + timedelta(hours=i))
            if i == 4:
                repo.finish_call(s, c.id, "booked", escalated=True)
    with store.session() as s:
        everything = repo.list_calls(s)
        assert len(everything) == 6
        assert everything[0].started_at > everything[-1].started_at
        assert len(repo.list_calls(s, vertical="clinic")) == 3
        assert len(repo.list_calls(s, channel="text", vertical="bank")) == 1
        assert [c.outcome for c in repo.list_calls(s, outcome="booked")] == ["booked"]
        assert len(repo.list_calls(s, escalated=True)) == 1
        assert len(repo.list_calls(s, status="active")) == 5
        assert len(repo.list_calls(s, since=base + timedelta(hours=2), until=base + timedelta(hours=4))) == 2
        assert len(repo.list_calls(s, limit=2, offset=1)) == 2


def test_find_customers(store: Store) -> None:
    with store.session() as s:
        a = repo.add_customer(s, "clinic", "Jane Smith", date_of_birth=date(1985, 3, 5), phone="+1 555-123-4567")
        b = repo.add_customer(s, "clinic", "Jane Smith", date_of_birth=date(1990, 1, 1), phone="555 999 0000")
        repo.add_customer(s, "bank", "Jane Smith", date_of_birth=date(1985, 3, 5))
        ids = (a.id, b.id)
    with store.session() as s:
        assert [c.id for c in repo.find_customers(s, "clinic", "jane  SMITH")] == list(ids)
        assert [c.id for c in repo.find_customers(s, "clinic", "Jane Smith", date_of_birth="1985-03-05")] == [ids[0]]
        assert [c.id for c in repo.find_customers(s, "clinic", "Jane Smith", phone="(555) 123-4567")] == [ids[0]]
        assert [c.id for c in repo.find_customers(s, "clinic", "Jane Smith", phone="5559990000")] == [ids[1]]
        assert repo.find_customers(s, "clinic", "Jane Smith", date(1985, 3, 5), "5559990000") == []
        assert repo.find_customers(s, "clinic", "John Smith") == []


def test_verification_lockout(store: Store) -> None:
    with store.session() as s:
        c = repo.add_customer(s, "bank", "Al Jones")
        for _ in range(3):
            repo.record_failed_verification(s, c.id, max_failures=3)
        assert c.failed_verifications == 3 and repo.is_locked(c)
        repo.reset_verification(s, c.id)
        assert not repo.is_locked(c) and c.failed_verifications == 0


def test_audit_log(store: Store) -> None:
    with store.session() as s:
        repo.audit(s, "admin@x", "customer.view", "customer:1", {"why": "support"})
        repo.audit(s, "admin@x", "flow.edit", "clinic")
    with store.session() as s:
        rows = repo.list_audit(s)
        assert [r.action for r in rows] == ["flow.edit", "customer.view"]
        assert rows[1].detail == {"why": "support"} and rows[1].at.tzinfo is not None
        assert len(repo.list_audit(s, target="clinic")) == 1


def test_flow_versions(store: Store) -> None:
    with store.session() as s:
        d1 = flow_versions.save_draft(s, "clinic", "v: 1", "alice", "first")
        d1b = flow_versions.save_draft(s, "clinic", "v: 1b", "alice")
        assert d1b.id == d1.id and d1b.version == 1 and d1b.yaml_text == "v: 1b"
        assert flow_versions.published(s, "clinic") is None
        flow_versions.publish(s, "clinic", 1, actor="alice")
        d2 = flow_versions.save_draft(s, "clinic", "v: 2", "bob")
        assert d2.version == 2 and d2.status == "draft"
        flow_versions.publish(s, "clinic", 2)
        pub = flow_versions.published(s, "clinic")
        assert pub is not None and pub.version == 2 and pub.published_at is not None
        assert [(v.version, v.status) for v in flow_versions.list_versions(s, "clinic")] == [(2, "published"), (1, "archived")]
        flow_versions.publish(s, "clinic", 1)  # roll back
        assert flow_versions.published(s, "clinic").version == 1  # type: ignore[union-attr]
        assert flow_versions.save_draft(s, "bank", "x").version == 1
        with pytest.raises(LookupError):
            flow_versions.publish(s, "clinic", 9)
        assert any(a.action == "flow.publish" for a in repo.list_audit(s))
    with pytest.raises(IntegrityError):
        with store.session() as s:
            s.add(FlowVersion(vertical="clinic", version=1, status="draft", yaml_text=""))


def test_cascade_delete_call(store: Store) -> None:
    with store.session() as s:
        call = repo.start_call(s, "clinic")
        repo.add_turn(s, call.id, "bot", "hi")
        repo.set_slot(s, call.id, "x", "text", "y")
        call_id = call.id
    with store.session() as s:
        s.delete(s.get(Call, call_id))
    with store.session() as s:
        assert s.scalars(select(Turn)).all() == []


def test_concurrent_upgrades_run_once(store: Store) -> None:
    """Several workers starting at once all end at head without errors."""
    import threading

    store.downgrade("base")
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def up() -> None:
        other = Store(store.url)
        try:
            barrier.wait()
            other.upgrade()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=up) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and store.current_revision() == HEAD
