"""Calls, dashboard, phone numbers and test chat in the admin; only masked data is shown."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from admin.dashboard import compute, percentile
from admin.testing import add_users, copy_verticals, login, make_app, seed_call, token
from callflows.store import repo
from callflows_verticals.dental_clinic import repo as clinic_repo

SECRETS = ("Jane Smith", "555 123 4567", "5551234567", "1985-03-05", "6789", "1985")


@pytest.fixture
def app(sqlite_store, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals")))
    add_users(sqlite_store)
    return make_app(sqlite_store, tmp_path)


@pytest.fixture
def store(app):  # noqa: ANN001, ANN201
    return app.extensions["callflows_store"]


@pytest.fixture
def viewer(app):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, "viewer")
    return client


def test_calls_list_filters_and_call_page_show_masked_data_only(viewer, store) -> None:  # noqa: ANN001
    now = datetime.now(timezone.utc)
    with store.session() as s:
        repo.add_customer(s, "dental_clinic", "Jane Smith", date_of_birth="1985-03-05", phone="+15551234567",
                          ssn_last4="6789")
    booked = seed_call(store, started=now - timedelta(hours=2))
    escalated = seed_call(store, started=now - timedelta(days=3), outcome="escalated", escalated=True,
                          transferred=True)
    page = viewer.get("/calls/").get_data(as_text=True)
    assert booked in page and escalated in page
    only = viewer.get("/calls/?escalated=yes").get_data(as_text=True)
    assert escalated in only and booked not in only
    assert booked in viewer.get("/calls/?outcome=booked").get_data(as_text=True)
    assert escalated not in viewer.get("/calls/?outcome=booked").get_data(as_text=True)
    day = (now - timedelta(days=3)).date().isoformat()
    ranged = viewer.get(f"/calls/?from={day}&to={day}").get_data(as_text=True)
    assert escalated in ranged and booked not in ranged
    assert "No calls match" in viewer.get("/calls/?vertical=other").get_data(as_text=True)

    call = viewer.get(f"/calls/{booked}").get_data(as_text=True)
    assert "book a cleaning with doctor patel" in call  # the transcript
    assert "cleaning" in call and 'data-testid="call-slots"' in call
    assert "booked" in call
    for part in ("240", "280", "18", "210", "700"):  # endpoint, stt, nlu, tts first audio, total
        assert f'<td class="num">{part}</td>' in call or f"<b>{part}</b>" in call, part
    for secret in SECRETS:
        assert secret not in call, secret
        assert secret not in page, secret
    assert viewer.get("/calls/nope").status_code == 404


def test_a_personal_slot_stored_unmasked_is_still_masked_on_the_page(viewer, store) -> None:  # noqa: ANN001
    call_id = seed_call(store)
    with store.session() as s:
        repo.set_slot(s, call_id, "full_name", "person_name", "Maria Lopez", pii=False)  # a flow without pii: true
    page = viewer.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "Maria Lopez" not in page and "M**** L****" in page


def test_a_booking_with_an_unverified_name_has_a_badge_on_the_call_page(viewer, store) -> None:  # noqa: ANN001
    from callflows_verticals.hotel import booking as hb
    from callflows_verticals.dental_clinic import scheduling

    unsure, sure = seed_call(store), seed_call(store, vertical="hotel", outcome="reservation_booked")
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
    with store.session() as s:
        cid = repo.add_customer(s, "dental_clinic", "Dmitry Sulla", phone="+15552223333").id
        pid = clinic_repo.upsert_provider(s, "dental_clinic", "patel", "Priya Patel").id
        guest = repo.add_customer(s, "hotel", "Ann Lee", phone="+15554441212").id
    appt = scheduling.book(store, "dental_clinic", cid, pid, "cleaning", start, 30, call_id=unsure, name_unverified=True)
    inv = hb.Inventory.from_dict("hotel", {"room_types": {"double": {"rooms": 2, "price": 149}}})
    stay = hb.book_stay(store, inv, guest, "double", start.date(), start.date() + timedelta(days=2), 2, call_id=sure)
    page = viewer.get(f"/calls/{unsure}").get_data(as_text=True)
    assert 'data-testid="bookings"' in page and appt.reference in page
    assert 'data-testid="name-unverified"' in page and "name not verified" in page
    assert "Dmitry" not in page  # the customer record is not read
    page = viewer.get(f"/calls/{sure}").get_data(as_text=True)
    assert stay.reference in page and "name not verified" not in page


def test_test_chat_calls_are_hidden_unless_asked(viewer, store) -> None:  # noqa: ANN001
    test_call = seed_call(store, channel="admin_test")
    assert test_call not in viewer.get("/calls/").get_data(as_text=True)
    assert test_call in viewer.get("/calls/?tests=1").get_data(as_text=True)


def test_dashboard_numbers(viewer, store) -> None:  # noqa: ANN001
    today = datetime.now(timezone.utc).replace(hour=12, minute=0)
    seed_call(store, started=today - timedelta(days=1), latency=500)
    seed_call(store, started=today - timedelta(days=1), outcome="transferred", transferred=True, latency=900)
    seed_call(store, started=today - timedelta(days=2), outcome="escalated", escalated=True, transferred=True)
    seed_call(store, started=today - timedelta(days=2), latency=1000)
    seed_call(store, started=today - timedelta(days=40))  # outside the window
    seed_call(store, started=today - timedelta(days=1), channel="admin_test")  # left out
    with store.session() as s:
        st = compute(s, days=14, today=today.date())
    assert st.totals["calls"] == 4 and st.totals["ended"] == 4
    assert st.totals["containment"] == pytest.approx(0.5)
    assert st.totals["escalation"] == pytest.approx(0.25)
    assert st.totals["transfer"] == pytest.approx(0.5)
    assert st.totals["aht"] == pytest.approx(6 * 7 + 5)
    assert st.calls[-2] == 2 and st.contained[-2] == 1 and st.to_person[-2] == 1
    assert st.p50_by_day[-2] in (500, 900) and st.p95_by_day[-2] == 900
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10 and percentile([], 50) is None
    page = viewer.get("/").get_data(as_text=True)
    assert 'data-testid="kpi-calls">4<' in page and 'data-testid="kpi-containment">50%<' in page
    assert page.count("<svg") == 4 and "Calls per day" in page and "p95" in page


def test_dashboard_shows_calls_by_escalation_route(viewer, store) -> None:  # noqa: ANN001
    from callflows.escalation.store import add_decision

    calls = [seed_call(store) for _ in range(4)]
    with store.session() as s:
        for call_id, routes in zip(calls, (["stay", "stay"], ["stay", "llm"], ["llm", "person"], ["person"])):
            for seq, route in enumerate(routes, 1):
                add_decision(s, call_id, seq, route, [f"test {route}"])
        st = compute(s, days=14)
    assert st.totals["routes"] == {"stay": 1, "llm": 1, "person": 2}  # each call counted at its highest route
    page = viewer.get("/").get_data(as_text=True)
    assert "small model 1, LLM 1, person 2" in page


def test_dashboard_with_no_calls(viewer) -> None:  # noqa: ANN001
    page = viewer.get("/?days=7").get_data(as_text=True)
    assert "no calls in this period" in page


def test_phone_numbers(app, store) -> None:  # noqa: ANN001
    editor = app.test_client()
    login(editor, "editor")
    csrf = token(editor)
    r = editor.post("/numbers/", data={"number": "+1 (555) 010-0123", "vertical": "dental_clinic",
                                       "transfer_number": "+15550100999", "csrf_token": csrf})
    assert r.status_code == 302
    with store.session() as s:
        row = repo.lookup_phone_number(s, "+15550100123")
        assert row.vertical == "dental_clinic" and row.transfer_number == "+15550100999"
    editor.post("/numbers/", data={"number": "+15550100123", "vertical": "dental_clinic", "transfer_number": "",
                                   "csrf_token": csrf})
    with store.session() as s:
        assert repo.lookup_phone_number(s, "+15550100123").transfer_number is None
    page = editor.get("/numbers/").get_data(as_text=True)
    assert "+15550100123" in page and "+15550100199" in page  # the flow's transfer number
    bad = editor.post("/numbers/", data={"number": "call me", "vertical": "dental_clinic", "csrf_token": csrf},
                      follow_redirects=True)
    assert "must be digits" in bad.get_data(as_text=True)
    editor.post("/numbers/delete", data={"number": "+15550100123", "csrf_token": csrf})
    with store.session() as s:
        assert repo.lookup_phone_number(s, "+15550100123") is None
        assert {"number.save", "number.delete"} <= {a.action for a in repo.list_audit(s)}


def test_test_chat_talks_to_the_draft_and_shows_slots_and_nlu(app, store, tmp_path) -> None:  # noqa: ANN001
    editor = app.test_client()
    login(editor, "editor")
    csrf = token(editor)
    editor.post("/flows/dental_clinic/field", data={
        "path": '["forms", "book_appointment", "steps", 1, "prompt"]',
        "value": "Which dentist would you like: Patel, Nguyen or Garcia?", "csrf_token": csrf})
    r = editor.post("/testchat/start", data={"vertical": "dental_clinic", "version": "draft",
                                             "now": "2026-11-23T09:00", "csrf_token": csrf})
    assert r.status_code == 302
    chat_url = r.headers["Location"]
    page = editor.get(chat_url).get_data(as_text=True)
    assert "draft v2" in page and "Thank you for calling Bright Smile Dental" in page
    r = editor.post(chat_url + "/say", data={"text": "i'd like to book a cleaning", "csrf_token": csrf})
    page = editor.get(chat_url).get_data(as_text=True)
    assert "Which dentist would you like: Patel, Nguyen or Garcia?" in page  # the draft's prompt
    assert "book_appointment" in page and 'data-testid="nlu"' in page
    assert "<th>appointment_type</th><td>cleaning</td>" in page
    editor.post(chat_url + "/say", data={"text": "doctor patel next tuesday", "csrf_token": csrf})
    editor.post(chat_url + "/say", data={"text": "at ten in the morning", "csrf_token": csrf})
    editor.post(chat_url + "/say", data={"text": "my name is Jane Smith", "csrf_token": csrf})
    editor.post(chat_url + "/say", data={"text": "555 123 4567", "csrf_token": csrf})
    page = editor.get(chat_url).get_data(as_text=True)
    assert "<th>provider</th><td>patel</td>" in page
    assert "<th>full_name</th><td>J*** S****</td>" in page
    for secret in ("555 123 4567", "5551234567", "Jane Smith", "Smith"):
        assert secret not in page
    # recorded apart from real calls, as admin_test
    with store.session() as s:
        assert repo.list_calls(s) == []
    assert (tmp_path / "admin-testchat.db").exists() or any(tmp_path.rglob("admin-testchat.db"))
    # someone else cannot read it
    other = app.test_client()
    login(other, "admin")
    assert other.get(chat_url).status_code == 403
    editor.post(chat_url + "/end", data={"csrf_token": csrf})
    assert editor.get(chat_url).status_code == 404


def test_test_chat_refuses_an_invalid_draft(app) -> None:  # noqa: ANN001
    editor = app.test_client()
    login(editor, "editor")
    csrf = token(editor)
    editor.post("/flows/dental_clinic/field", data={
        "path": '["responses", "greet", 0]', "value": "Hello {{ nobody }}", "csrf_token": csrf})
    r = editor.post("/testchat/start", data={"vertical": "dental_clinic", "version": "draft", "csrf_token": csrf},
                    follow_redirects=True)
    assert "does not validate" in r.get_data(as_text=True)


def test_test_chats_are_bounded(app) -> None:  # noqa: ANN001
    from admin.testchat import TestChat, TestChats

    class _Session:
        class state:  # noqa: N801
            ended = True

    chats = TestChats(max_sessions=3)
    for i in range(5):
        chats.add(TestChat(id=str(i), owner="x", vertical="v", label="", session=_Session()))  # type: ignore[arg-type]
    assert len(chats) == 3 and chats.get("0") is None and chats.get("4") is not None
