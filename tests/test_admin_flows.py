"""Flow editing in the admin: import, drafts, validation, publish, roll back, diff, audit,
and a published change used by the next call."""

from __future__ import annotations

import json
import re

import pytest

from admin import flowsvc
from admin.testing import add_users, copy_verticals, login, make_app, token
from admin.yamledit import flow_editables, get_scalar, knowledge_editables, set_scalar
from callflows.dialogue.session import DialogueSession
from callflows.store import repo
from callflows.store import flow_versions
from callflows.verticals import load_vertical

GREET = ("responses", "greet", 0)
NEW_GREETING = "Good morning from Bright Smile Dental! How can I help?"


@pytest.fixture
def app(sqlite_store, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals")))
    add_users(sqlite_store)
    return make_app(sqlite_store, tmp_path)


@pytest.fixture
def store(app):  # noqa: ANN001, ANN201
    return app.extensions["callflows_store"]


@pytest.fixture
def editor(app):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, "editor")
    client.csrf = token(client)
    return client


def edit(client, path, value, target="flow"):  # noqa: ANN001, ANN201
    return client.post("/flows/dental_clinic/field", data={
        "path": json.dumps(list(path)), "value": value, "target": target, "csrf_token": client.csrf})


def publish(client, version):  # noqa: ANN001, ANN201
    return client.post("/flows/dental_clinic/publish", data={"version": version, "csrf_token": client.csrf})


def test_first_edit_imports_the_file_as_version_1_then_drafts(editor, store) -> None:  # noqa: ANN001
    assert edit(editor, GREET, NEW_GREETING).status_code == 302
    with store.session() as s:
        versions = {v.version: v for v in flow_versions.list_versions(s, "dental_clinic")}
        assert versions[1].status == "published" and versions[1].yaml_text == flowsvc.disk_text("dental_clinic")
        assert versions[2].status == "draft" and versions[2].created_by == "editor"
        assert get_scalar(versions[2].yaml_text, GREET) == NEW_GREETING
        actions = [a.action for a in repo.list_audit(s, target="dental_clinic")]
    assert "flow.import" in actions and "flow.save_draft" in actions
    # only the greeting line changed: comments and layout are kept
    diff = [l for l in flowsvc.diff_lines(versions[1].yaml_text, versions[2].yaml_text, "a", "b")
            if l[0] in ("add", "del")]
    assert len(diff) == 2
    # a second edit updates the same draft
    edit(editor, ("forms", "book_appointment", "steps", 2, "prompt"), "Which day suits you?")
    with store.session() as s:
        assert [v.version for v in flow_versions.list_versions(s, "dental_clinic")] == [2, 1]


def test_published_greeting_is_used_by_the_next_call_and_rollback_restores_it(editor, store) -> None:  # noqa: ANN001
    old = DialogueSession(load_vertical("dental_clinic", store), store).start().text
    edit(editor, GREET, NEW_GREETING)
    # a draft is not live
    assert DialogueSession(load_vertical("dental_clinic", store), store).start().text == old
    response = publish(editor, 2)
    assert response.status_code == 302
    assert DialogueSession(load_vertical("dental_clinic", store), store).start().text == NEW_GREETING
    # roll back to version 1: its text is published again as version 3
    r = editor.post("/flows/dental_clinic/rollback", data={"version": 1, "csrf_token": editor.csrf})
    assert r.status_code == 302
    with store.session() as s:
        pub = flow_versions.published(s, "dental_clinic")
        assert pub.version == 3 and pub.yaml_text == flow_versions.get_version(s, "dental_clinic", 1).yaml_text
        assert flow_versions.get_version(s, "dental_clinic", 2).status == "archived"
        audit = {(a.action, a.actor) for a in repo.list_audit(s, target="dental_clinic")}
    assert DialogueSession(load_vertical("dental_clinic", store), store).start().text == old
    assert {("flow.publish", "editor"), ("flow.rollback", "editor")} <= audit
    page = editor.get("/flows/dental_clinic/versions").get_data(as_text=True)
    assert "roll-back to version 1" in page and "flow.rollback" in page


def test_a_call_starting_while_the_database_is_down_gets_the_version_served_last(editor, store) -> None:  # noqa: ANN001
    from callflows.store.db import Store

    edit(editor, GREET, NEW_GREETING)
    assert publish(editor, 2).status_code == 302
    assert load_vertical("dental_clinic", store).flow.responses["greet"][0] == NEW_GREETING
    down = Store("postgresql+psycopg://postgres@127.0.0.1:9/none", connect_args={"connect_timeout": 2})
    try:
        vertical = load_vertical("dental_clinic", down)  # no exception: the call is answered
    finally:
        down.dispose()
    assert vertical.version == 2
    assert DialogueSession(vertical, None).start().text == NEW_GREETING


def test_the_database_down_fallback_never_serves_another_folders_copy(editor, store, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from callflows.store.db import Store

    edit(editor, GREET, NEW_GREETING)
    assert publish(editor, 2).status_code == 302
    assert load_vertical("dental_clinic", store).version == 2  # served last from this test's folder
    other = copy_verticals(tmp_path / "other", ("dental_clinic",))
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(other))
    down = Store("postgresql+psycopg://postgres@127.0.0.1:9/none", connect_args={"connect_timeout": 2})
    try:
        vertical = load_vertical("dental_clinic", down)
    finally:
        down.dispose()
    assert vertical.root == other / "dental_clinic" and vertical.version is None  # that folder's own flow file
    assert DialogueSession(vertical, None).start().text != NEW_GREETING


def test_an_invalid_flow_is_saved_as_a_draft_but_never_published(editor, store) -> None:  # noqa: ANN001
    bad = "And what time on {{ dat | speak_date }}?"
    r = edit(editor, ("forms", "book_appointment", "steps", 3, "prompt"), bad)
    assert r.status_code == 302
    page = editor.get("/flows/dental_clinic").get_data(as_text=True)
    assert "bad template variable &#39;dat&#39;" in page  # next to its field
    assert 'data-testid="field-error"' in page
    assert publish(editor, 2).status_code == 302
    with store.session() as s:
        assert flow_versions.published(s, "dental_clinic").version == 1
        assert flow_versions.get_version(s, "dental_clinic", 2).status == "draft"
        assert any(a.action == "flow.publish_refused" for a in repo.list_audit(s))
    assert "was not published" in editor.get("/flows/dental_clinic/versions").get_data(as_text=True)
    # the next call still uses version 1's text
    step = load_vertical("dental_clinic", store).flow.forms["book_appointment"].steps[3]
    assert step.prompt == "And what time on {{ date | speak_date }}?"
    # and it cannot be rolled back into production either
    with store.session() as s:
        with pytest.raises(flowsvc.NotPublishable):
            flowsvc.publish(s, "dental_clinic", 2, "someone")


def test_yaml_editor_shows_errors_by_line(editor, store) -> None:  # noqa: ANN001
    text = flowsvc.disk_text("dental_clinic").replace("    type: date\n", "    type: datee\n", 1)
    line = text.split("\n").index("    type: datee") + 1
    r = editor.post("/flows/dental_clinic/yaml", data={"yaml": text, "csrf_token": editor.csrf})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert f'data-line="{line}"' in page and "unknown slot type" in page
    assert f'<span id="L{line}" class="err">' in page
    with store.session() as s:
        assert flow_versions.get_version(s, "dental_clinic", 2).yaml_text == text  # saved as a draft
    broken = "vertical: dental_clinic\nslots: [\n"
    r = editor.post("/flows/dental_clinic/yaml", data={"yaml": broken, "csrf_token": editor.csrf})
    assert r.status_code == 422 and "syntax error" in r.get_data(as_text=True)


def test_yaml_editor_refuses_to_overwrite_a_newer_draft(app, editor) -> None:  # noqa: ANN001
    page = editor.get("/flows/dental_clinic/yaml").get_data(as_text=True)
    base = page.split('name="base" value="')[1].split('"')[0]
    other = app.test_client()
    login(other, "admin")
    other.csrf = token(other)
    edit(other, GREET, "Hello from the other editor.")
    text = flowsvc.disk_text("dental_clinic").replace("Thank you for calling", "Thanks for calling", 1)
    r = editor.post("/flows/dental_clinic/yaml", data={"yaml": text, "base": base, "csrf_token": editor.csrf})
    assert r.status_code == 409


def test_the_vertical_name_cannot_change(editor) -> None:  # noqa: ANN001
    text = flowsvc.disk_text("dental_clinic").replace("vertical: dental_clinic", "vertical: other", 1)
    r = editor.post("/flows/dental_clinic/yaml", data={"yaml": text, "csrf_token": editor.csrf})
    assert r.status_code == 422 and "must stay" in r.get_data(as_text=True)


def test_faq_answer_edit_is_versioned_with_the_flow(editor, store) -> None:  # noqa: ANN001
    page = editor.get("/flows/dental_clinic").get_data(as_text=True)
    assert "FAQ" in page and "We&#39;re open Monday to Friday" in page
    answer = "We're open every weekday from 7 AM to 7 PM."
    assert edit(editor, ("faq", 0, "answer"), answer, target="knowledge").status_code == 302
    with store.session() as s:
        draft = flowsvc.open_draft(s, "dental_clinic")
    ref, ktext = flowsvc.read_knowledge("dental_clinic", draft.yaml_text)
    assert ref.startswith("knowledge.d/") and get_scalar(ktext, ("faq", 0, "answer")) == answer
    publish(editor, draft.version)
    vertical = load_vertical("dental_clinic", store)
    assert vertical.flow.faq[0].answer == answer
    session = DialogueSession(vertical, store)
    session.start()
    assert answer in session.handle_text("what are your opening hours").text
    diff = editor.get(f"/flows/dental_clinic/diff?a=1&b={draft.version}").get_data(as_text=True)
    assert "FAQ knowledge" in diff and "every weekday" in diff


def test_diff_between_versions(editor) -> None:  # noqa: ANN001
    edit(editor, GREET, NEW_GREETING)
    page = editor.get("/flows/dental_clinic/diff?a=1&b=2").get_data(as_text=True)
    assert re.search(r'class="d-add">\+\s+- Good morning from Bright Smile Dental! How can I help\?<', page)
    assert re.search(r'class="d-del">-\s+- Thank you for calling', page)


def test_discard_draft(editor, store) -> None:  # noqa: ANN001
    edit(editor, GREET, NEW_GREETING)
    editor.post("/flows/dental_clinic/discard", data={"csrf_token": editor.csrf})
    with store.session() as s:
        assert flowsvc.open_draft(s, "dental_clinic") is None
        assert any(a.action == "flow.discard_draft" for a in repo.list_audit(s))


def test_unknown_vertical_is_404(editor) -> None:  # noqa: ANN001
    assert editor.get("/flows/nope").status_code == 404
    assert editor.get("/flows/dental_clinic/versions/99").status_code == 404


def test_yamledit_keeps_comments_and_quotes_when_needed(app) -> None:  # noqa: ANN001
    text = "# top\nresponses:\n  greet:\n    - Hello there  # says hi\n  bye: \"Bye\"\n"
    out = set_scalar(text, ("responses", "greet", 0), "Hi: you # not a comment")
    assert out.startswith("# top\n") and "# says hi" in out
    assert get_scalar(out, ("responses", "greet", 0)) == "Hi: you # not a comment"
    out = set_scalar(out, ("responses", "bye"), "See you {{ name }}")
    assert get_scalar(out, ("responses", "bye")) == "See you {{ name }}"
    eds = flow_editables(flowsvc.disk_text("dental_clinic"))
    fields = {e.field for e in eds}
    assert {"responses.greet[0]", "forms.book_appointment.steps[0].prompt",
            "forms.book_appointment.steps[0].reprompts[0]", "forms.book_appointment.confirm.prompt",
            "transfer_number"} <= fields
    faq = knowledge_editables("faq:\n  - id: a\n    questions: [q]\n    answer: A\n")
    assert faq[0].field == "faq[0].answer" and faq[0].value == "A"
