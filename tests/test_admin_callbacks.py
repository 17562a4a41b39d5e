"""Callback requests and warm transfer attempts in the admin, on SQLite and PostgreSQL: the list
and the call page (numbers masked for viewers, whole for editors), marking one done (editors
and admins only, audited), bad input answered with a message or a 404."""

from __future__ import annotations

import pytest

from admin.testing import add_users, copy_verticals, login, make_app, seed_call, token
from callflows.store import Store, repo
from callflows.store import transfers as tx

NUMBER = "+15559876543"


@pytest.fixture
def admin(store: Store, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals", ("dental_clinic",))))
    add_users(store)
    call_id = seed_call(store, outcome="callback_requested")
    with store.session() as s:
        attempt = tx.create_attempt(s, call_id, "+15550100199", "CA" + "d" * 32)
        assert tx.transition(s, attempt.id, tx.OPEN_STATES, "no_answer", "the person's line: no-answer")
        tx.note_agent_status(s, attempt.id, "ringing")
        request_id = tx.add_callback_request(s, call_id, "dental_clinic", NUMBER, "2026-12-04 morning", attempt.id).id
    return make_app(store, tmp_path), call_id, request_id


def _client(app, role: str):  # noqa: ANN001, ANN202
    client = app.test_client()
    login(client, role)
    return client


def test_viewers_see_masked_numbers_and_cannot_mark_done(admin) -> None:  # noqa: ANN001
    app, call_id, request_id = admin
    viewer = _client(app, "viewer")
    page = viewer.get("/callbacks/").get_data(as_text=True)
    assert 'data-testid="callbacks"' in page and "***-***-**43" in page and NUMBER not in page
    assert "2026-12-04 morning" in page and "Called back" not in page
    call_page = viewer.get(f"/calls/{call_id}").get_data(as_text=True)
    assert 'data-testid="transfers"' in call_page and "no_answer" in call_page and "ringing" in call_page
    assert 'data-testid="call-callbacks"' in call_page and NUMBER not in call_page
    resp = viewer.post(f"/callbacks/{request_id}/done", data={"csrf_token": token(viewer, "/callbacks/")})
    assert resp.status_code == 403
    assert "Callbacks" in viewer.get("/calls/").get_data(as_text=True)  # in the menu


def test_editors_see_the_number_and_mark_a_request_done(admin, store: Store) -> None:  # noqa: ANN001
    app, call_id, request_id = admin
    editor = _client(app, "editor")
    assert NUMBER in editor.get("/callbacks/").get_data(as_text=True)
    assert NUMBER in editor.get(f"/calls/{call_id}").get_data(as_text=True)
    assert editor.post(f"/callbacks/{request_id}/done", data={}).status_code == 400  # no CSRF token
    resp = editor.post(f"/callbacks/{request_id}/done", data={"csrf_token": token(editor, "/callbacks/")})
    assert resp.status_code == 302
    with store.session() as s:
        (row,) = tx.callback_requests(s, call_id=call_id)
        assert row.status == "done" and row.done_by == "editor"
        assert [a.action for a in repo.list_audit(s, target=f"call:{call_id}")] == ["callback.done"]
    assert "No open callback requests" in editor.get("/callbacks/").get_data(as_text=True)
    assert NUMBER in editor.get("/callbacks/?status=done").get_data(as_text=True)


def test_bad_input_gets_a_message_or_a_404(admin) -> None:  # noqa: ANN001
    app, _, _ = admin
    editor = _client(app, "editor")
    page = editor.get("/callbacks/?status=%00drop").get_data(as_text=True)
    assert "Unknown status" in page
    csrf = token(editor, "/callbacks/")
    assert editor.post("/callbacks/999999/done", data={"csrf_token": csrf}).status_code == 404
    assert editor.post("/callbacks/abc/done", data={"csrf_token": csrf}).status_code == 404
    assert app.test_client().get("/callbacks/").status_code == 302  # not logged in: to the login page
