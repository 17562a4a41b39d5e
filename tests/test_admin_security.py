"""Issue 12 (admin security): server-side session ends, Secure cookies behind https, no account
discovery through the lockout, no 500s on odd dates or deeply nested flows, and flows that can
only name files in their own vertical's folder (actions and knowledge).

Every test runs the real admin app on a real store (SQLite, and PostgreSQL where it matters)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from admin.security import get_user
from admin.testing import PASSWORD, add_users, copy_verticals, csrf_of, login, make_app, seed_call, token
from callflows.flow import safe_yaml
from callflows.flow.errors import FlowErrors
from callflows.flow.loader import load_flow_text
from callflows.store import flow_versions

ROOT = Path(__file__).resolve().parent.parent
DENTAL = ROOT / "verticals" / "dental_clinic"
COOKIE = "callflows_admin"
MAX_FLOW_BYTES = safe_yaml.MAX_FLOW_BYTES
MAX_NESTING = safe_yaml.MAX_NESTING


def _app(store, tmp_path, monkeypatch, **config):  # noqa: ANN001, ANN003, ANN202
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals", ("dental_clinic",))))
    add_users(store)
    return make_app(store, tmp_path, **config)


@pytest.fixture
def app(store, tmp_path, monkeypatch):  # noqa: ANN001, ANN201 - `store`: SQLite and PostgreSQL
    return _app(store, tmp_path, monkeypatch)


@pytest.fixture
def sqlite_app(sqlite_store, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    return _app(sqlite_store, tmp_path, monkeypatch)


def _client(app, username=None):  # noqa: ANN001, ANN202
    client = app.test_client()
    if username is not None:
        assert login(client, username).status_code == 302
    return client


def _replay(app, cookie: str):  # noqa: ANN001, ANN202
    """A fresh client that only has a copied session cookie."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief


def _logged_out(response) -> bool:  # noqa: ANN001
    return response.status_code in (302, 401) and (response.status_code == 401
                                                  or "/login" in response.headers["Location"])


# =========================================================================== #
# 1. sessions end on the server
# =========================================================================== #


def test_a_cookie_copied_before_logout_no_longer_works(app) -> None:  # noqa: ANN001
    admin = _client(app, "admin")
    assert admin.get("/users").status_code == 200
    copied = admin.get_cookie(COOKIE).value
    assert _replay(app, copied).get("/users").status_code == 200  # the copy works while logged in
    assert admin.post("/logout", data={"csrf_token": token(admin)}).status_code == 302
    thief = _replay(app, copied)
    assert _logged_out(thief.get("/users"))
    csrf = csrf_of(_replay(app, copied).get("/login").get_data(as_text=True))
    refused = _replay(app, copied).post("/users", data={
        "op": "create", "username": "mallory", "password": "long-enough-9", "role": "admin", "csrf_token": csrf})
    assert refused.status_code in (400, 401)  # the old session (and its CSRF token) is gone
    with app.extensions["callflows_store"].session() as s:
        assert get_user(s, "mallory") is None
    # a new login works as before
    assert _client(app, "admin").get("/users").status_code == 200


def test_logout_ends_every_session_of_that_user_only(app) -> None:  # noqa: ANN001
    laptop, phone, other = _client(app, "editor"), _client(app, "editor"), _client(app, "viewer")
    laptop.post("/logout", data={"csrf_token": token(laptop)})
    assert _logged_out(phone.get("/flows/"))
    assert other.get("/flows/").status_code == 200


def test_a_role_change_ends_that_users_sessions(app) -> None:  # noqa: ANN001
    editor = _client(app, "editor")
    copied = editor.get_cookie(COOKIE).value
    admin = _client(app, "admin")
    r = admin.post("/users", data={"op": "role", "username": "editor", "role": "viewer",
                                   "csrf_token": token(admin, "/users")})
    assert r.status_code == 302
    assert _logged_out(editor.get("/testchat/"))
    assert _logged_out(_replay(app, copied).get("/testchat/"))
    assert admin.get("/users").status_code == 200  # the admin who changed it stays logged in
    again = _client(app, "editor")  # logs in again with the new role
    assert again.get("/testchat/").status_code == 403


def test_a_password_change_keeps_only_the_session_that_made_it(app) -> None:  # noqa: ANN001
    here, elsewhere = _client(app, "admin"), _client(app, "admin")
    editor = _client(app, "editor")
    r = here.post("/users", data={"op": "password", "username": "admin", "password": "a-new-password-1",
                                  "csrf_token": token(here, "/users")})
    assert r.status_code == 302
    assert here.get("/users").status_code == 200
    assert _logged_out(elsewhere.get("/users"))
    assert editor.get("/flows/").status_code == 200  # someone else's sessions are left alone
    here.post("/users", data={"op": "password", "username": "editor", "password": "a-new-password-2",
                              "csrf_token": token(here, "/users")})
    assert _logged_out(editor.get("/flows/"))
    assert here.get("/users").status_code == 200


# =========================================================================== #
# 2. Secure cookies when the admin is reached over https
# =========================================================================== #


@pytest.mark.parametrize(("env", "secure"), [
    ({"CALLFLOWS_ADMIN_PUBLIC_URL": "https://admin.example.test"}, True),
    ({"CALLFLOWS_PUBLIC_URL": "https://callflows.example.test"}, True),
    ({"CALLFLOWS_ADMIN_PUBLIC_URL": "HTTPS://admin.example.test/", "CALLFLOWS_ADMIN_SECURE_COOKIES": "0"}, True),
    ({"CALLFLOWS_ADMIN_PUBLIC_URL": "http://127.0.0.1:8050"}, False),
    ({}, False),
])
def test_session_cookie_is_secure_when_the_public_url_is_https(sqlite_store, tmp_path, monkeypatch, env,
                                                                secure) -> None:  # noqa: ANN001
    for name in ("CALLFLOWS_ADMIN_PUBLIC_URL", "CALLFLOWS_PUBLIC_URL", "CALLFLOWS_ADMIN_SECURE_COOKIES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = _app(sqlite_store, tmp_path, monkeypatch)
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    cookie = login(app.test_client(), "viewer").headers["Set-Cookie"]
    assert ("; Secure" in cookie) is secure and "HttpOnly" in cookie


def test_the_public_url_can_be_given_in_the_config(sqlite_store, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("CALLFLOWS_ADMIN_SECURE_COOKIES", raising=False)
    app = _app(sqlite_store, tmp_path, monkeypatch, ADMIN_PUBLIC_URL="https://admin.example.test")
    assert app.config["SESSION_COOKIE_SECURE"] is True


# =========================================================================== #
# 3. the lockout does not tell real accounts from unknown names
# =========================================================================== #


def _normalised(body: str, username: str) -> str:
    body = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value="-"', body)
    return body.replace(f'value="{username}"', 'value="-"')  # the login form keeps what was typed


def test_failed_logins_answer_the_same_for_real_and_unknown_names(app) -> None:  # noqa: ANN001
    real, unknown = _client(app), _client(app)
    answers = []
    for attempt in range(6):
        a = login(real, "editor", f"wrong-password-{attempt}")
        b = login(unknown, "nobody", f"wrong-password-{attempt}")
        assert a.status_code == b.status_code == 401, attempt
        assert _normalised(a.get_data(as_text=True), "editor") == _normalised(b.get_data(as_text=True), "nobody"), \
            attempt
        answers.append(_normalised(a.get_data(as_text=True), "editor"))
    assert "Wrong username or password" in answers[0]
    assert "locked" in answers[-1] and "locked" not in answers[0]
    # the real password of a locked account answers exactly like any password of an unknown name
    a, b = login(real, "editor"), login(unknown, "nobody", PASSWORD)
    assert a.status_code == b.status_code == 401
    assert _normalised(a.get_data(as_text=True), "editor") == _normalised(b.get_data(as_text=True), "nobody")


def test_unknown_names_are_tracked_in_a_bounded_table(sqlite_app, monkeypatch) -> None:  # noqa: ANN001
    from admin import security
    from admin.models import LoginFailure

    monkeypatch.setattr(security, "MAX_TRACKED_NAMES", 20)
    store = sqlite_app.extensions["callflows_store"]
    client = _client(sqlite_app)
    for i in range(40):
        assert login(client, f"guess-{i}", "whatever-1").status_code == 401
    with store.session() as s:
        rows = s.query(LoginFailure).all()
        assert 0 < len(rows) <= 20
        assert all("guess" not in row.name_hash for row in rows)  # names are not kept in clear
    assert login(client, "editor").status_code == 302  # a real account is not affected


# =========================================================================== #
# 4. no 500s: dates in query strings, deeply nested flows
# =========================================================================== #


@pytest.mark.parametrize("query", ["to=9999-12-31", "from=9999-12-31&to=9999-12-31", "from=0001-01-01",
                                   "to=0001-01-01", "from=10000-01-01", "to=2026-02-30", "from=%00",
                                   "to=" + "9" * 5000])
def test_odd_dates_in_the_calls_list_are_not_a_500(app, query) -> None:  # noqa: ANN001
    store = app.extensions["callflows_store"]
    call = seed_call(store)
    viewer = _client(app, "viewer")
    response = viewer.get("/calls/?" + query)
    assert response.status_code in (200, 400), query
    if response.status_code == 200 and query.startswith("to=9999"):
        assert call in response.get_data(as_text=True)  # up to the last day: every call


def test_a_malformed_date_is_ignored_with_a_message(sqlite_app) -> None:  # noqa: ANN001
    viewer = _client(sqlite_app, "viewer")
    html = viewer.get("/calls/?from=2026-13-45").get_data(as_text=True)
    assert "2026-13-45" in html and "ignored" in html


def _deep_flow(depth: int = 50_000) -> str:
    base = DENTAL.joinpath("flow.yaml").read_text(encoding="utf-8")
    return base.replace("variables:\n", "variables:\n  deep: " + "[" * depth + "]" * depth + "\n", 1)


@pytest.mark.parametrize("text", [
    "a: " + "[" * 50_000 + "]" * 50_000,
    "a: " + "{a: " * 50_000 + "1" + "}" * 50_000,
    "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v: 1\n",
    "- " * 20_000 + "x\n",
])
def test_the_loader_refuses_deep_nesting_with_a_flow_error(text) -> None:  # noqa: ANN001
    with pytest.raises(FlowErrors) as err:
        load_flow_text(text, "flow.yaml")
    first = err.value.errors[0]
    assert first.line is not None and first.field and "nested" in first.message


def test_deep_nesting_inside_a_real_flow_names_its_line_and_field() -> None:
    with pytest.raises(FlowErrors) as err:
        load_flow_text(_deep_flow(), "flow.yaml", base_dir=DENTAL)
    line = next(i for i, text in enumerate(_deep_flow().splitlines(), 1) if text.startswith("  deep: "))
    first = err.value.errors[0]
    assert first.line == line and first.field.startswith("variables.deep") and str(MAX_NESTING) in first.message


def test_aliases_cannot_build_a_deep_structure() -> None:
    lines = ["x0: &x0 " + "[" * 40 + "1" + "]" * 40]
    lines += [f"x{i}: &x{i} " + "[" * 40 + f"*x{i - 1}" + "]" * 40 for i in range(1, 80)]
    with pytest.raises(FlowErrors) as err:
        load_flow_text("\n".join(lines) + "\n")
    assert any("nested" in e.message and e.line for e in err.value.errors)


def test_the_loader_refuses_a_huge_flow_before_parsing_it() -> None:
    text = "vertical: x\n" + "# padding\n" * (MAX_FLOW_BYTES // 10 + 10)
    with pytest.raises(FlowErrors) as err:
        load_flow_text(text, "flow.yaml")
    (only,) = err.value.errors
    assert only.field == "file" and only.line and "too large" in only.message


def test_the_loader_still_accepts_the_shipped_flows() -> None:
    for name in ("dental_clinic", "hotel", "retail_bank"):
        root = ROOT / "verticals" / name
        flow = load_flow_text(root.joinpath("flow.yaml").read_text(encoding="utf-8"), "flow.yaml", base_dir=root)
        assert flow.actions_module == "actions.py"


def test_a_deeply_nested_flow_in_the_admin_is_a_422_not_a_500(app) -> None:  # noqa: ANN001
    editor = _client(app, "editor")
    csrf = token(editor)
    r = editor.post("/flows/dental_clinic/yaml", data={"yaml": _deep_flow(), "csrf_token": csrf})
    assert r.status_code == 422
    assert "nested" in r.get_data(as_text=True)
    for path in ("/flows/dental_clinic", "/flows/dental_clinic/yaml", "/flows/dental_clinic/versions",
                 "/flows/dental_clinic/diff", "/flows/", "/numbers/"):
        assert editor.get(path).status_code == 200, path
    store = app.extensions["callflows_store"]
    with store.session() as s:
        draft = max(flow_versions.list_versions(s, "dental_clinic"), key=lambda v: v.version)
    assert editor.get(f"/flows/dental_clinic/versions/{draft.version}").status_code == 200
    r = editor.post("/flows/dental_clinic/publish", data={"version": draft.version, "csrf_token": csrf})
    assert r.status_code == 302
    with store.session() as s:
        assert flow_versions.published(s, "dental_clinic").version != draft.version
    r = editor.post("/testchat/start", data={"vertical": "dental_clinic", "version": "draft", "csrf_token": csrf})
    assert r.status_code == 302 and "/testchat/" not in r.headers["Location"]
    # a deep value typed into one form field
    r = editor.post("/flows/dental_clinic/discard", data={"csrf_token": csrf})
    r = editor.post("/flows/dental_clinic/field", data={"path": '["responses", "greet", 0]', "value": "[" * 50_000,
                                                        "target": "flow", "csrf_token": csrf})
    assert r.status_code in (302, 400)
    r = editor.post("/flows/dental_clinic/field", data={"path": "[" * 50_000 + "]" * 50_000, "value": "x",
                                                        "csrf_token": csrf})
    assert r.status_code == 400


# =========================================================================== #
# 5. actions and knowledge name files in the vertical's own folder only
# =========================================================================== #


def _flow_with(key: str, value: str) -> str:
    text = DENTAL.joinpath("flow.yaml").read_text(encoding="utf-8")
    old = {"actions": "actions: actions.py", "knowledge": "knowledge: knowledge.yaml"}[key]
    assert old in text
    return text.replace(old, f"{key}: {value}", 1)


def _line_of(text: str, prefix: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


@pytest.mark.parametrize("value", ["/tmp/x/evil2.py", "../x.py", "a/b.py", "os.path", "..", "a\\\\b.py",
                                   "'C:\\\\evil.py'", "actions.py/", "./actions.py", "actions.pyc", "'actions .py'",
                                   "1actions", "x" * 70, "'actions.py\\n'", "[actions.py]"])
def test_the_loader_refuses_actions_outside_the_vertical(value) -> None:  # noqa: ANN001
    text = _flow_with("actions", value)
    with pytest.raises(FlowErrors) as err:
        load_flow_text(text, "flow.yaml", base_dir=DENTAL)
    errors = [e for e in err.value.errors if e.field == "actions"]
    assert errors and errors[0].line == _line_of(text, "actions:"), err.value.errors


@pytest.mark.parametrize(("value", "module"), [("actions.py", "actions.py"), ("actions", "actions.py"),
                                               ("my_actions", "my_actions.py"), ("_x9.py", "_x9.py")])
def test_bare_module_names_are_accepted_as_file_names(value, module) -> None:  # noqa: ANN001
    flow = load_flow_text(_flow_with("actions", value), "flow.yaml", base_dir=DENTAL)
    assert flow.actions_module == module


def test_an_actions_symlink_out_of_the_vertical_is_refused(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    root = copy_verticals(tmp_path / "verticals", ("dental_clinic",)) / "dental_clinic"
    outside = tmp_path / "outside.py"
    outside.write_text("x = 1\n")
    (root / "linked.py").symlink_to(outside)
    with pytest.raises(FlowErrors) as err:
        load_flow_text(_flow_with("actions", "linked.py"), "flow.yaml", base_dir=root)
    assert any(e.field == "actions" for e in err.value.errors)


@pytest.mark.parametrize("value", ["/etc/passwd", "../../../../etc/passwd", "knowledge.d/../../x.yaml",
                                   "knowledge.d/../knowledge.yaml", "a/b/c.yaml", "'\\\\etc\\\\passwd'",
                                   "flow.yaml/../knowledge.yaml", "'~/knowledge.yaml'", "knowledge.txt"])
def test_the_loader_refuses_knowledge_outside_the_vertical(value) -> None:  # noqa: ANN001
    text = _flow_with("knowledge", value)
    with pytest.raises(FlowErrors) as err:
        load_flow_text(text, "flow.yaml", base_dir=DENTAL)
    errors = [e for e in err.value.errors if e.field == "knowledge"]
    assert errors and errors[0].line == _line_of(text, "knowledge:") and "inside the vertical" in errors[0].message
    assert "root:x:0:0" not in str(err.value)


def test_a_knowledge_symlink_out_of_the_vertical_is_refused(tmp_path) -> None:  # noqa: ANN001
    root = copy_verticals(tmp_path / "verticals", ("dental_clinic",)) / "dental_clinic"
    (root / "linked.yaml").symlink_to(root / "knowledge.yaml")  # inside: fine
    load_flow_text(_flow_with("knowledge", "linked.yaml"), "flow.yaml", base_dir=root)
    secret = tmp_path / "secret.yaml"
    secret.write_text("faq:\n- id: s\n  questions: [secret]\n  answer: the secret is 42\n")
    (root / "escape.yaml").symlink_to(secret)
    with pytest.raises(FlowErrors) as err:
        load_flow_text(_flow_with("knowledge", "escape.yaml"), "flow.yaml", base_dir=root)
    assert any(e.field == "knowledge" for e in err.value.errors) and "42" not in str(err.value)


def test_the_knowledge_files_the_admin_writes_are_accepted(tmp_path) -> None:  # noqa: ANN001
    root = copy_verticals(tmp_path / "verticals", ("dental_clinic",)) / "dental_clinic"
    (root / "knowledge.d").mkdir()
    (root / "knowledge.d" / "0123abcd.yaml").write_text((root / "knowledge.yaml").read_text())
    flow = load_flow_text(_flow_with("knowledge", "knowledge.d/0123abcd.yaml"), "flow.yaml", base_dir=root)
    assert flow.faq


def _evil_module(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "x"
    folder.mkdir()
    marker = tmp_path / "imported-marker"
    evil = folder / "evil2.py"
    evil.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('pwned')\n")
    return evil, marker


def test_the_admin_never_publishes_nor_imports_actions_from_elsewhere(app, tmp_path) -> None:  # noqa: ANN001
    evil, marker = _evil_module(tmp_path)
    store = app.extensions["callflows_store"]
    editor = _client(app, "editor")
    csrf = token(editor)
    for value in (str(evil), "../../x/evil2.py", "os.path"):
        r = editor.post("/flows/dental_clinic/yaml", data={"yaml": _flow_with("actions", value), "csrf_token": csrf})
        assert r.status_code == 422, value
        assert "actions" in r.get_data(as_text=True)
        with store.session() as s:
            draft = max(flow_versions.list_versions(s, "dental_clinic"), key=lambda v: v.version)
        assert draft.status == "draft"
        editor.post("/flows/dental_clinic/publish", data={"version": draft.version, "csrf_token": csrf})
        with store.session() as s:
            assert flow_versions.published(s, "dental_clinic").version != draft.version
        r = editor.post("/testchat/start", data={"vertical": "dental_clinic", "version": "draft", "csrf_token": csrf})
        assert r.status_code == 302 and "/testchat/" not in r.headers["Location"], value
        editor.get(r.headers["Location"])
        editor.get("/flows/dental_clinic")
        editor.get("/flows/dental_clinic/versions")
        assert not marker.exists(), value


def test_the_admin_refuses_a_knowledge_file_outside_the_vertical(sqlite_app) -> None:  # noqa: ANN001
    editor = _client(sqlite_app, "editor")
    r = editor.post("/flows/dental_clinic/yaml", data={"yaml": _flow_with("knowledge", "/etc/passwd"),
                                                       "csrf_token": token(editor)})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "inside the vertical" in html and "root:x:0:0" not in html
    assert html.count("inside the vertical") == 1  # said once, by the loader
