"""Admin accounts: login, logout, CSRF, roles, lockout, cookies, the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from admin.models import AdminUser
from admin.security import get_user
from admin.testing import PASSWORD, add_users, copy_verticals, csrf_of, login, make_app, token
from callflows.store import repo
from callflows.store import flow_versions
from callflows.store.types import utcnow


@pytest.fixture
def app(sqlite_store, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals")))
    add_users(sqlite_store)
    return make_app(sqlite_store, tmp_path, ADMIN_MAX_FAILED_LOGINS=3)


@pytest.fixture
def store(app):  # noqa: ANN001, ANN201
    return app.extensions["callflows_store"]


def test_every_page_but_login_needs_a_session(app) -> None:  # noqa: ANN001
    client = app.test_client()
    for path in ("/", "/flows/", "/flows/dental_clinic", "/flows/dental_clinic/yaml", "/calls/", "/numbers/",
                 "/audit", "/testchat/", "/users", "/flows/dental_clinic/versions"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"]
    assert client.get("/login").status_code == 200
    assert client.get("/static/admin.css").status_code == 200


def test_login_logout_and_a_rejected_login(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    bad = login(client, "editor", "wrong password")
    assert bad.status_code == 401
    assert "Wrong username or password" in bad.get_data(as_text=True)
    unknown = login(client, "nobody", "whatever1")
    assert unknown.status_code == 401 and "Wrong username or password" in unknown.get_data(as_text=True)
    ok = login(client, "editor")
    assert ok.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Dashboard" in page and 'data-testid="whoami">editor' in page
    out = client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 302
    assert client.get("/").status_code == 302  # logged out
    with store.session() as s:
        actions = [a.action for a in repo.list_audit(s)]
    assert {"auth.login", "auth.logout", "auth.login_failed"} <= set(actions)


def test_login_redirects_only_to_local_pages(app) -> None:  # noqa: ANN001
    client = app.test_client()
    page = client.get("/login?next=https://evil.example/")
    response = client.post("/login?next=https://evil.example/", data={
        "username": "viewer", "password": PASSWORD, "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/"


def test_csrf_token_is_required_on_every_form(app) -> None:  # noqa: ANN001
    client = app.test_client()
    client.get("/login")
    refused = client.post("/login", data={"username": "editor", "password": PASSWORD})
    assert refused.status_code == 400
    assert login(client, "editor").status_code == 302
    for path, data in (
        ("/flows/dental_clinic/field", {"path": '["responses", "greet", 0]', "value": "Hi"}),
        ("/flows/dental_clinic/yaml", {"yaml": "vertical: x"}),
        ("/flows/dental_clinic/publish", {"version": "1"}),
        ("/numbers/", {"number": "+15550100123", "vertical": "dental_clinic"}),
        ("/logout", {}),
    ):
        assert client.post(path, data=data).status_code == 400, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400, path
    # nothing was changed, and the session is still logged in
    assert client.get("/flows/dental_clinic/versions").status_code == 200
    assert "No versions yet" in client.get("/flows/dental_clinic/versions").get_data(as_text=True)


def test_the_csrf_token_changes_at_login(app) -> None:  # noqa: ANN001
    client = app.test_client()
    before = csrf_of(client.get("/login").get_data(as_text=True))
    login(client, "viewer")
    assert token(client) != before


def test_a_viewer_is_refused_every_edit(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, "viewer")
    csrf = token(client)
    assert client.get("/flows/dental_clinic").status_code == 200  # may read
    page = client.get("/flows/dental_clinic").get_data(as_text=True)
    assert 'data-testid="readonly"' in page and "readonly>" in page
    for path, data in (
        ("/flows/dental_clinic/field", {"path": '["responses", "greet", 0]', "value": "Hi there"}),
        ("/flows/dental_clinic/yaml", {"yaml": "vertical: dental_clinic\n"}),
        ("/flows/dental_clinic/publish", {"version": "1"}),
        ("/flows/dental_clinic/rollback", {"version": "1"}),
        ("/flows/dental_clinic/discard", {}),
        ("/numbers/", {"number": "+15550100123", "vertical": "dental_clinic"}),
        ("/numbers/delete", {"number": "+15550100123"}),
        ("/testchat/start", {"vertical": "dental_clinic"}),
        ("/users", {"op": "create", "username": "x", "password": "12345678", "role": "admin"}),
    ):
        assert client.post(path, data={**data, "csrf_token": csrf}).status_code == 403, path
    assert client.get("/users").status_code == 403
    assert client.get("/testchat/").status_code == 403
    with store.session() as s:
        assert flow_versions.list_versions(s, "dental_clinic") == []
        assert repo.lookup_phone_number(s, "+15550100123") is None


def test_an_editor_cannot_manage_users_but_an_admin_can(app, store) -> None:  # noqa: ANN001
    editor = app.test_client()
    login(editor, "editor")
    assert editor.get("/users").status_code == 403
    admin = app.test_client()
    login(admin, "admin")
    csrf = token(admin, "/users")
    r = admin.post("/users", data={"op": "create", "username": "sam", "password": "s3cret-pass", "role": "editor",
                                   "csrf_token": csrf})
    assert r.status_code == 302
    r = admin.post("/users", data={"op": "role", "username": "sam", "role": "viewer", "csrf_token": csrf})
    with store.session() as s:
        assert get_user(s, "sam").role == "viewer"
        assert any(a.action == "user.role" for a in repo.list_audit(s, target="user:sam"))


def test_a_role_change_applies_to_open_sessions(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, "editor")
    assert client.get("/testchat/").status_code == 200
    with store.session() as s:
        get_user(s, "editor").role = "viewer"
    assert client.get("/testchat/").status_code == 403


def test_lockout_after_repeated_failed_logins(app, store) -> None:  # noqa: ANN001
    client = app.test_client()
    for _ in range(3):
        assert login(client, "editor", "nope-nope").status_code == 401
    locked = login(client, "editor")  # the right password, but locked now
    assert locked.status_code == 401
    assert "locked" in locked.get_data(as_text=True)
    with store.session() as s:
        user = get_user(s, "editor")
        assert user.locked_until is not None
        assert any(a.action == "auth.lockout" for a in repo.list_audit(s))
        user.locked_until = utcnow() - timedelta(seconds=1)  # the lock runs out
    assert login(client, "editor").status_code == 302


def test_an_admin_unlocks_an_account(app, store) -> None:  # noqa: ANN001
    for _ in range(3):
        login(app.test_client(), "viewer", "bad-bad-bad")
    admin = app.test_client()
    login(admin, "admin")
    admin.post("/users", data={"op": "unlock", "username": "viewer", "csrf_token": token(admin, "/users")})
    assert login(app.test_client(), "viewer").status_code == 302


def test_passwords_are_hashed_and_a_new_password_ends_old_sessions(app, store) -> None:  # noqa: ANN001
    with store.session() as s:
        user = s.query(AdminUser).filter_by(username="editor").one()
        assert PASSWORD not in user.password_hash and user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    client = app.test_client()
    login(client, "editor")
    admin = app.test_client()
    login(admin, "admin")
    admin.post("/users", data={"op": "password", "username": "editor", "password": "another-pass-1",
                               "csrf_token": token(admin, "/users")})
    assert client.get("/").status_code == 302


def test_session_cookie_flags(app, sqlite_store, tmp_path) -> None:  # noqa: ANN001
    client = app.test_client()
    response = login(client, "viewer")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = make_app(sqlite_store, tmp_path, ADMIN_SECURE_COOKIES=True)
    c2 = secure.test_client()
    cookie = login(c2, "viewer").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    page = client.get("/")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_cli_create_user(sqlite_store, monkeypatch) -> None:  # noqa: ANN001
    from callflows.cli.admin import admin

    monkeypatch.setenv("CALLFLOWS_DATABASE_URL", sqlite_store.url)
    runner = CliRunner()
    result = runner.invoke(admin, ["create-user", "maria", "--role", "editor", "--password-stdin"],
                           input="a-long-password\n")
    assert result.exit_code == 0, result.output
    assert "created editor maria" in result.output
    again = runner.invoke(admin, ["create-user", "maria", "--password-stdin"], input="a-long-password\n")
    assert again.exit_code != 0 and "exists already" in again.output
    short = runner.invoke(admin, ["create-user", "bob", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 8" in short.output
    prompted = runner.invoke(admin, ["create-user", "lee", "--role", "viewer"], input="pass-word-9\npass-word-9\n")
    assert prompted.exit_code == 0, prompted.output
    with sqlite_store.session() as s:
        assert get_user(s, "maria").role == "editor"
        assert get_user(s, "lee").role == "viewer"
