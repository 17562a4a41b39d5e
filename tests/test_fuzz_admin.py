"""Fuzzing (Hypothesis) of the admin's query strings and forms and of the flow loader.

What must hold for any input: the admin answers below 500 (a bad request is 400/404/413/422,
never a crash), and ``load_flow_text`` returns a FlowSpec or raises FlowErrors, nothing else.

The budget is small for CI: ``CALLFLOWS_FUZZ_EXAMPLES`` examples per test (default 20);
raise it for a longer run, e.g. ``CALLFLOWS_FUZZ_EXAMPLES=2000``. The admin runs on a real
SQLite store, and on PostgreSQL too (which refuses NUL characters and integers past 32 bits).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from admin.testing import add_users, copy_verticals, csrf_of, login, make_app, seed_call, token
from callflows.flow.errors import FlowErrors
from callflows.flow.loader import load_flow_text
from callflows.flow.spec import FlowSpec

ROOT = Path(__file__).resolve().parent.parent
DENTAL = ROOT / "verticals" / "dental_clinic"
FLOW_TEXT = (DENTAL / "flow.yaml").read_text(encoding="utf-8")
KNOWLEDGE_TEXT = (DENTAL / "knowledge.yaml").read_text(encoding="utf-8")

EXAMPLES = int(os.environ.get("CALLFLOWS_FUZZ_EXAMPLES", "20"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)

# --------------------------------------------------------------------------- strategies

# Text a browser can send (no lone surrogates: they cannot be encoded in a URL or a form).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
ODD = st.sampled_from([
    "", " ", "\x00", "%00", "9999-12-31", "0001-01-01", "0000-00-00", "10000-01-01", "2026-02-30", "2026-13-45",
    "-1", "0", "1e9", "99999999999999999999", "2147483648", "-2147483649", "9" * 5000, "NaN", "inf",
    "' OR '1'='1", "../../etc/passwd", "<script>", "\u202e\u0646\u0635", "\U0001f600" * 10, "dental_clinic",
    "draft", "published", "file", "yes", "no", "1",
])
HUGE = st.integers(min_value=1_000, max_value=60_000).map(lambda n: "x" * n)
VALUE = st.one_of(TEXT, ODD, HUGE, st.integers().map(str), st.dates().map(lambda d: d.isoformat()))
KEYS = ["from", "to", "vertical", "outcome", "escalated", "tests", "page", "days", "a", "b", "target", "version",
        "next"]
KEY = st.one_of(st.sampled_from(KEYS), TEXT)
QUERY = st.lists(st.tuples(KEY, VALUE), max_size=6)
# every known key at once, plus random ones: each example tries many filters on every page
QUERIES = st.builds(lambda known, extra: list(known.items()) + extra, st.dictionaries(st.sampled_from(KEYS), VALUE),
                    QUERY)
PAGES = ["/calls/", "/", "/flows/", "/flows/dental_clinic/diff", "/flows/dental_clinic/versions", "/audit",
         "/testchat/", "/login"]  # the pages that read their query string
# Inputs that once gave a 500, always tried first (then the random ones).
KNOWN_BAD = ["\x00", "9999-12-31", "99999999999"]


def _deep(n: int, kind: str) -> str:
    if kind == "flow":
        return "a: " + "[" * n + "]" * n + "\n"
    if kind == "map":
        return "a: " + "{a: " * n + "1" + "}" * n + "\n"
    if kind == "block":
        return "".join("  " * i + f"k{i}:\n" for i in range(min(n, 400))) + "  " * min(n, 400) + "v: 1\n"
    return "- " * n + "x\n"


DEEP = st.builds(_deep, st.integers(min_value=1, max_value=60_000), st.sampled_from(["flow", "map", "block", "seq"]))
# big texts: up to ~100 kB (parsed), or past the loader's 1 MB limit (refused unparsed; past 2 MB a 413)
BIG = st.builds(lambda n, line: line * n, st.one_of(st.integers(min_value=1, max_value=8_000),
                                                    st.integers(min_value=270_000, max_value=400_000)),
                st.sampled_from(["a: b\n", "# c\n", "- x\n", "k: [1, 2, 3]\n"]))
DATA = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT, st.dates()),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(TEXT, st.integers()), children, max_size=4)),
    max_leaves=20,
)


@st.composite
def mutated_flow(draw: st.DrawFn, base: str = FLOW_TEXT) -> str:
    """The real dental flow (or ``base``) with a line replaced, a text inserted, or a value swapped."""
    lines = base.split("\n")
    how = draw(st.sampled_from(["replace", "insert", "value", "truncate"]))
    i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    if how == "replace":
        lines[i] = draw(st.one_of(TEXT, ODD, DEEP))
    elif how == "insert":
        lines.insert(i, draw(st.one_of(TEXT, ODD)))
    elif how == "value" and ":" in lines[i]:
        key = lines[i].split(":", 1)[0]
        lines[i] = key + ": " + draw(st.one_of(ODD, TEXT, DATA.map(lambda d: json.dumps(d, default=str))))
    else:
        lines = lines[:i]
    return "\n".join(lines)


@st.composite
def mutated_doc(draw: st.DrawFn) -> str:
    """The real flow as data with one value replaced by random data, dumped again."""
    doc = yaml.safe_load(FLOW_TEXT)
    node = doc
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        if not isinstance(node, (dict, list)) or not node:
            break
        key = draw(st.sampled_from(sorted(node, key=str) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[key], (dict, list)):
            break
        node = node[key]
    if isinstance(node, dict):
        node[draw(st.one_of(st.sampled_from(sorted(node, key=str) or ["x"]), TEXT))] = draw(DATA)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


FLOW_TEXTS = st.one_of(TEXT, ODD, DEEP, BIG, mutated_flow(), mutated_doc(), DATA.map(
    lambda d: yaml.safe_dump(d, allow_unicode=True)), st.text(max_size=400))

# --------------------------------------------------------------------------- the admin


@pytest.fixture
def app(store, tmp_path, monkeypatch):  # noqa: ANN001, ANN201 - `store`: SQLite and PostgreSQL
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals", ("dental_clinic",))))
    add_users(store)
    seed_call(store)
    return make_app(store, tmp_path)


def _logged_in(app, username: str):  # noqa: ANN001, ANN202
    client = app.test_client()
    assert login(client, username).status_code == 302
    client.csrf = token(client)
    return client


def _ok(response, what: object) -> None:  # noqa: ANN001
    assert response.status_code < 500, (response.status_code, what)


def test_fuzz_query_strings(app) -> None:  # noqa: ANN001
    admin = _logged_in(app, "admin")

    @FUZZ
    @given(query=QUERIES)
    @example(query=[(key, bad) for key in KEYS for bad in KNOWN_BAD])
    def run(query: list[tuple[str, str]]) -> None:
        for page in PAGES:
            _ok(admin.get(page, query_string=query), (page, query))
        for key, value in query:  # each field alone too (with a repeated key only the first one counts)
            for page in ("/calls/", "/", "/audit"):
                _ok(admin.get(page, query_string={key: value}), (page, key, value))

    run()
    assert admin.get("/users").status_code == 200  # still logged in, the app still answers


def test_fuzz_the_login_form(app) -> None:  # noqa: ANN001
    anon = app.test_client()
    csrf = csrf_of(anon.get("/login").get_data(as_text=True))

    @FUZZ
    @given(username=st.one_of(VALUE, st.sampled_from(["admin", "editor", "viewer"])), password=VALUE,
           extra=QUERY, next_page=VALUE)
    @example(username="editor\x00", password="\x00", extra=[], next_page="\x00")
    def run(username: str, password: str, extra: list[tuple[str, str]], next_page: str) -> None:
        data = dict(extra)
        data.update(username=username, password=password, csrf_token=csrf)
        response = anon.post("/login", data=data, query_string={"next": next_page})
        _ok(response, (username, password))
        if response.status_code == 302:  # a right password: log out again for the next example
            anon.post("/logout", data={"csrf_token": token(anon)})

    run()


def test_fuzz_the_flow_editor(app) -> None:  # noqa: ANN001
    editor = _logged_in(app, "editor")

    @FUZZ
    @given(text=FLOW_TEXTS, base=st.one_of(st.just(""), VALUE), note=st.one_of(st.just(""), VALUE))
    @example(text=_deep(50_000, "flow"), base="", note="")
    @example(text="vertical: dental_clinic\x00", base="", note="\x00")
    @example(text=FLOW_TEXT.replace("actions: actions.py", "actions: /tmp/x/evil2.py"), base="", note="")
    def run(text: str, base: str, note: str) -> None:
        response = editor.post("/flows/dental_clinic/yaml", data={"yaml": text, "base": base, "note": note,
                                                                  "csrf_token": editor.csrf})
        _ok(response, text[:200])
        for page in ("/flows/dental_clinic", "/flows/dental_clinic/versions"):
            _ok(editor.get(page), page)

    run()


def test_fuzz_the_form_editor_and_test_chat(app) -> None:  # noqa: ANN001
    editor = _logged_in(app, "editor")
    paths = st.one_of(
        st.sampled_from(['["responses", "greet", 0]', '["display_name"]', '["forms"]', "[]", "{}", "null", "",
                         "[" * 5000 + "]" * 5000, '["faq", 0, "answer"]']),
        st.lists(st.one_of(TEXT, st.integers()), max_size=4).map(json.dumps), VALUE)

    @FUZZ
    @given(path=paths, value=st.one_of(VALUE, DEEP), target=st.sampled_from(["flow", "knowledge", "x"]),
           version=VALUE, say=VALUE, now=VALUE)
    @example(path="[" * 50_000 + "]" * 50_000, value="x", target="flow", version="file", say="hi", now="")
    @example(path='["responses", "greet", 0]', value="[" * 50_000, target="flow", version="99999999999",
             say="tomorrow", now="9999-12-31")
    @example(path="[]", value="", target="knowledge", version="file", say="tomorrow", now="0001-01-01T00:00+14:00")
    def run(path: str, value: str, target: str, version: str, say: str, now: str) -> None:
        _ok(editor.post("/flows/dental_clinic/field", data={"path": path, "value": value, "target": target,
                                                            "csrf_token": editor.csrf}), (path, value))
        for action in ("publish", "rollback"):
            _ok(editor.post(f"/flows/dental_clinic/{action}", data={"version": version, "csrf_token": editor.csrf}),
                (action, version))
        started = editor.post("/testchat/start", data={"vertical": "dental_clinic", "version": version, "now": now,
                                                       "csrf_token": editor.csrf})
        _ok(started, ("testchat", version, now))
        if started.status_code == 302 and "/testchat/" in started.headers["Location"]:
            chat = started.headers["Location"]
            _ok(editor.post(chat + "/say", data={"text": say, "csrf_token": editor.csrf}), say)
            _ok(editor.get(chat), chat)
            _ok(editor.post(chat + "/end", data={"csrf_token": editor.csrf}), chat)

    run()


def test_fuzz_the_numbers_and_users_forms(app) -> None:  # noqa: ANN001
    admin = _logged_in(app, "admin")
    number = st.one_of(VALUE, st.from_regex(r"\+?[0-9 ()-]{4,20}", fullmatch=True))

    @FUZZ
    @given(number=number, vertical=st.one_of(VALUE, st.just("dental_clinic")), transfer=number,
           op=st.sampled_from(["create", "role", "unlock", "password", "x"]), username=VALUE,
           password=VALUE, role=st.one_of(VALUE, st.sampled_from(["viewer", "editor"])))
    @example(number="\x00", vertical="\x00", transfer="\x00", op="role", username="\x00", password="\x00",
             role="viewer")
    @example(number="+1555", vertical="dental_clinic", transfer="", op="create", username="x\x00y",
             password="long-enough-1", role="viewer")
    def run(number: str, vertical: str, transfer: str, op: str, username: str, password: str, role: str) -> None:
        _ok(admin.post("/numbers/", data={"number": number, "vertical": vertical, "transfer_number": transfer,
                                          "csrf_token": admin.csrf}), (number, vertical, transfer))
        _ok(admin.post("/numbers/delete", data={"number": number, "csrf_token": admin.csrf}), number)
        _ok(admin.get("/numbers/"), "numbers")
        if username != "admin":  # the fuzzer must not lock itself out
            _ok(admin.post("/users", data={"op": op, "username": username, "password": password, "role": role,
                                           "csrf_token": admin.csrf}), (op, username, role))

    run()
    assert admin.get("/users").status_code == 200


# --------------------------------------------------------------------------- the loader


@FUZZ
@given(text=FLOW_TEXTS, with_dir=st.booleans())
@example(text=_deep(50_000, "flow"), with_dir=False)
@example(text="a: 2026-13-45\nb: " + "1" * 5000 + "\n", with_dir=False)
@example(text=FLOW_TEXT.replace("timezone: America/New_York", "timezone: " + "a" * 300), with_dir=True)
@example(text=FLOW_TEXT.replace("max_reprompts: 2", "max_reprompts: .inf"), with_dir=True)
def test_fuzz_load_flow_text(text: str, with_dir: bool) -> None:
    try:
        flow = load_flow_text(text, "flow.yaml", base_dir=DENTAL if with_dir else None)
    except FlowErrors as exc:
        assert exc.errors and all(e.file and isinstance(e.field, str) and e.message for e in exc.errors)
    else:
        assert isinstance(flow, FlowSpec)
        assert flow.actions_module is None or "/" not in flow.actions_module


@FUZZ
@given(flow=st.one_of(TEXT, ODD, DEEP, BIG, DATA.map(lambda d: yaml.safe_dump(d, allow_unicode=True))),
       knowledge=st.one_of(TEXT, DEEP, BIG, mutated_flow(KNOWLEDGE_TEXT),
                           DATA.map(lambda d: yaml.safe_dump({"faq": d}, allow_unicode=True))))
def test_fuzz_load_flow_text_with_knowledge(flow: str, knowledge: str) -> None:
    try:
        result = load_flow_text(FLOW_TEXT, "flow.yaml", knowledge_text=knowledge)
    except FlowErrors:
        pass
    else:
        assert isinstance(result, FlowSpec)
    try:
        load_flow_text(flow, "flow.yaml", knowledge_text=knowledge)
    except FlowErrors:
        pass
