"""Bad input the existing tests did not try (see bench/faults.md for the full table, with the
tests that already cover the rest): Media Streams messages, audio encodings, webhooks, form
sizes, injection in the admin and in flow files, and templates that reach for what they should
not.  Nothing here needs the speech models."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import websocket
from jinja2.exceptions import SecurityError
from sqlalchemy import func, inspect, select

from admin.testing import add_users, copy_verticals, login, make_app, seed_call, token
from callflows.config import Settings
from callflows.flow.errors import FlowErrors
from callflows.flow.loader import load_flow_text
from callflows.flow.templates import render
from callflows.server import create_app
from callflows.speech import codec
from callflows.speech.vad import EndpointConfig, Endpointer
from callflows.store import repo
from callflows.store import flow_versions
from callflows.store.models import Call
from callflows.telephony.media_stream import (
    MAX_MESSAGE_BYTES,
    MediaChunk,
    ProtocolError,
    StreamGuard,
    parse_message,
)
from callflows.telephony.routes import EXTENSION_KEY
from tests.fixtures.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALL_SID,
    STREAM_SID,
    LiveServer,
    connected_msg,
    dtmf_msg,
    mark_msg,
    media_msg,
    sign,
    start_msg,
    stop_msg,
)
from tests.test_media_stream_protocol import FakeHandler, _close_code, _connect, _the_handler, phone_server  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
DENTAL = ROOT / "verticals" / "dental_clinic"
PUBLIC_URL = "https://callflows.example.test"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


# =========================================================================== #
# Media Streams messages
# =========================================================================== #


def _media(payload=None, **media_fields):
    media = {"track": "inbound", "chunk": "1", "timestamp": "20",
             "payload": base64.b64encode(b"\xff" * 160).decode() if payload is None else payload}
    media.update(media_fields)
    return {"event": "media", "sequenceNumber": "2", "streamSid": STREAM_SID, "media": media}


def _start(**start_fields):
    msg = json.loads(start_msg())
    msg["start"].update(start_fields)
    return msg


def _with(msg, **fields):
    return {**msg, **fields}


MALFORMED = [
    # wrong audio encoding declared at start (L16 at the right rate, mu-law at the wrong rate, none)
    ("l16_at_8k", _start(mediaFormat={"encoding": "audio/x-l16", "sampleRate": 8000, "channels": 1}),
     "wrong audio encoding"),
    ("mulaw_16k", _start(mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1}),
     "wrong audio encoding"),
    ("no_encoding", _start(mediaFormat={"sampleRate": 8000, "channels": 1}), "wrong audio encoding"),
    ("media_format_not_object", _start(mediaFormat="audio/x-mulaw"), "'mediaFormat' is not an object"),
    ("inner_stream_sid_differs", _start(streamSid="MZ" + "e" * 32), "streamSid differs"),
    ("too_many_params", _start(customParameters={f"p{i}": "v" for i in range(40)}), "too many customParameters"),
    ("param_not_string", _start(customParameters={"vertical": {"$ne": 1}}), "customParameter is not a string"),
    ("param_too_long", _start(customParameters={"vertical": "x" * 600}), "customParameter is too long"),
    ("tracks_not_list", _start(tracks="inbound"), "'tracks' is not a list"),
    # payloads that are not (standard, strict) base64
    ("payload_whitespace", _media("//// ////"), "not valid base64"),
    ("payload_urlsafe", _media("-_-_"), "not valid base64"),
    ("payload_newline", _media("/w==\n"), "not valid base64"),
    ("payload_number", _media(12345), "'payload' is not a string"),
    ("payload_list", _media(["/w=="]), "'payload' is not a string"),
    ("payload_missing", {"event": "media", "sequenceNumber": "2", "streamSid": STREAM_SID,
                         "media": {"track": "inbound", "chunk": "1", "timestamp": "20"}}, "missing field 'payload'"),
    # numbers
    ("seq_exponent", _with(_media(), sequenceNumber="1e3"), "'sequenceNumber' is not an integer"),
    ("seq_20_digits", _with(_media(), sequenceNumber="9" * 20), "'sequenceNumber' is not an integer"),
    ("seq_bool", _with(_media(), sequenceNumber=True), "'sequenceNumber' is not an integer"),
    ("seq_float", _with(_media(), sequenceNumber=2.5), "'sequenceNumber' is not an integer"),
    ("seq_negative_number", _with(_media(), sequenceNumber=-4), "'sequenceNumber' is negative"),
    ("seq_unicode_digits", _with(_media(), sequenceNumber="\u0663"), "'sequenceNumber' is not an integer"),
    ("timestamp_missing", {"event": "media", "sequenceNumber": "2", "streamSid": STREAM_SID,
                           "media": {"chunk": "1", "payload": "/w=="}}, "missing field 'timestamp'"),
    # identifiers, digits, marks
    ("stream_sid_too_long", _with(_media(), streamSid="MZ" + "a" * 100), "'streamSid' is too long"),
    ("stream_sid_number", _with(_media(), streamSid=7), "'streamSid' is not a non-empty string"),
    ("dtmf_two_digits", {"event": "dtmf", "sequenceNumber": "3", "streamSid": STREAM_SID,
                         "dtmf": {"digit": "12"}}, "'digit' is too long"),
    ("dtmf_number", {"event": "dtmf", "sequenceNumber": "3", "streamSid": STREAM_SID,
                     "dtmf": {"digit": 5}}, "'digit' is not a non-empty string"),
    ("mark_name_too_long", {"event": "mark", "sequenceNumber": "3", "streamSid": STREAM_SID,
                            "mark": {"name": "m" * 300}}, "'name' is too long"),
    ("mark_missing", {"event": "mark", "sequenceNumber": "3", "streamSid": STREAM_SID}, "missing field 'mark'"),
    ("event_not_string", {"event": 5}, "unknown event"),
    ("connected_no_protocol", {"event": "connected", "version": "1.0.0"}, "missing field 'protocol'"),
]


@pytest.mark.parametrize("msg, reason", [(m, r) for _, m, r in MALFORMED], ids=[i for i, _, _ in MALFORMED])
def test_more_malformed_messages_are_protocol_errors(msg, reason):
    with pytest.raises(ProtocolError) as info:
        parse_message(json.dumps(msg))
    assert reason in str(info.value)
    assert len(str(info.value)) < 80 and "\xff" not in str(info.value)


@pytest.mark.parametrize("raw, reason", [
    ("[" * 60_000, "not JSON"),  # nesting past the recursion limit, under the size limit
    ('{"event": "media", "media": ' * 2000 + "1" + "}" * 2000, "not JSON"),
    ("\u00e9" * 40_000, "message over"),  # 40 000 characters, 80 000 bytes: the byte bound counts
    (b'{"event": "connected", "protocol": "Call", "version": "1.0.0"}' + b"\x00" * 70_000, "message over"),
    ("", "not JSON"),
    ('{"event": "media", "sequenceNumber": NaN}', "not an integer"),
    (12345, "not text"),
])
def test_pathological_raw_messages(raw, reason):
    with pytest.raises(ProtocolError, match=reason):
        parse_message(raw)


def test_a_binary_frame_with_a_valid_message_is_parsed_like_text():
    event = parse_message(media_msg(seq=2, chunk=1).encode())
    assert isinstance(event, MediaChunk)


@pytest.mark.parametrize("size", [0, 1, 159, 161, 8000])
def test_odd_sized_audio_payloads_reach_the_endpointer_without_error(size):
    event = parse_message(media_msg(seq=2, chunk=1, payload=b"\x7f" * size))
    pcm = codec.ulaw_to_pcm16(event.payload)
    assert len(pcm) == 2 * size
    ep = Endpointer(EndpointConfig(), None)
    list(ep.feed_audio(pcm))
    list(ep.feed_audio(codec.ulaw_to_pcm16(b"\xff" * 160)))


def test_guard_skips_events_before_start_and_replays_after_it():
    guard = StreamGuard()
    for raw in (stop_msg(seq=5), dtmf_msg(seq=3, digit="1"), mark_msg(seq=4, name="x")):
        assert "before start" in guard.check(parse_message(raw))
    assert guard.check(parse_message(start_msg(seq=1))) is None
    assert guard.check(parse_message(connected_msg())) == "connected after start"
    assert guard.check(parse_message(media_msg(seq=2, chunk=1))) is None
    assert guard.check(parse_message(media_msg(seq=3, chunk=2))) is None
    # a replayed stop (old sequence number) must not end the call
    assert "sequenceNumber" in guard.check(parse_message(stop_msg(seq=2)))
    assert "sequenceNumber" in guard.check(parse_message(dtmf_msg(seq=1, digit="9")))
    assert "sequenceNumber" in guard.check(parse_message(mark_msg(seq=3, name="bot-1")))
    assert guard.check(parse_message(stop_msg(seq=4))) is None


def test_guard_skips_media_on_a_track_the_start_did_not_declare():
    guard = StreamGuard()
    assert guard.check(parse_message(start_msg(seq=1))) is None  # tracks: ["inbound"]
    assert guard.check(parse_message(media_msg(seq=2, chunk=1, track="outbound"))) is not None


# --------------------------------------------------------------------------- over a real socket


def test_a_message_over_the_websocket_limit_closes_the_socket_and_the_call(phone_server):  # noqa: F811
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params))
        ws.recv()
        handler = _the_handler()
        try:
            ws.send("x" * (2 * 1024 * 1024))  # over simple-websocket's 1 MiB: closed with 1009
        except (OSError, websocket.WebSocketException):
            pass
        assert _close_code(ws) in (1009, None)
    finally:
        ws.close()
    assert handler.wait(lambda h: h.closed)
    assert handler.closed in (["socket_closed"], ["error"])
    # the server is fine: the next call is answered
    ws, params = _connect(phone_server, call_sid="CA" + "f" * 32)
    try:
        ws.send(start_msg(seq=1, call_sid="CA" + "f" * 32, params=params))
        assert json.loads(ws.recv())["event"] == "mark"
    finally:
        ws.close()


def test_a_flood_of_bad_messages_is_skipped_logged_briefly_and_the_call_goes_on(phone_server, caplog):  # noqa: F811
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params))
        ws.recv()
        handler = _the_handler()
        for i in range(300):
            ws.send("garbage %d" % i)
            ws.send_binary(b"\x00\xff" * 40)
            ws.send(json.dumps(_media("!!!")))
        # replays of what came before start, a replayed start and an old stop: all skipped
        ws.send(start_msg(seq=1, params=params))
        ws.send(stop_msg(seq=1))
        ws.send(media_msg(seq=2, chunk=1, payload=b"\x22" * 160))
        assert handler.wait(lambda h: h.events)
        time.sleep(0.2)
        assert len(handler.events) == 1 and not handler.closed
        stats = phone_server.app.extensions[EXTENSION_KEY].stats
        assert stats["malformed"] >= 900 and stats["skipped"] >= 2
    finally:
        ws.close()
    assert handler.wait(lambda h: h.closed)
    lines = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) <= 20, len(lines)  # the first few of each kind, then a count


def test_a_start_declaring_l16_audio_starts_no_call(phone_server):  # noqa: F811
    phone_server.app.extensions[EXTENSION_KEY].start_timeout_s = 0.5
    ws, params = _connect(phone_server)
    try:
        ws.send(json.dumps(_start(customParameters=params, mediaFormat={"encoding": "audio/x-l16", "sampleRate": 8000, "channels": 1})))
        ws.send(json.dumps(_media()))
        assert _close_code(ws) == 1008
    finally:
        ws.close()
    assert FakeHandler.instances == []


# =========================================================================== #
# webhooks
# =========================================================================== #


def _twilio_app(store):
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    return create_app(settings, store, services=SimpleNamespace(settings=settings, store=store))


def _voice_params():
    return {"CallSid": CALL_SID, "AccountSid": ACCOUNT_SID, "From": "+15557654321", "To": "+15550001111",
            "CallStatus": "ringing", "Direction": "inbound"}


@pytest.mark.parametrize("signature", ["", " ", "\u00e9\u00e9", "A" * 8000, "====", "bm9wZQ"])
def test_garbage_signatures_are_403_not_500(sqlite_store, signature):
    client = _twilio_app(sqlite_store).test_client()
    for path in ("/twilio/voice", "/twilio/status"):
        resp = client.post(path, data=_voice_params(), headers={"X-Twilio-Signature": signature})
        assert resp.status_code == 403, (path, signature, resp.status_code)


def test_crafted_body_sha256_query_is_not_a_500(sqlite_store):
    """``bodySHA256`` in the query makes Twilio's validator hash the body: junk there is refused (403)
    unless the whole URL was signed with the token (then it is simply a signed request)."""
    client = _twilio_app(sqlite_store).test_client()
    for query in ("bodySHA256=zz", "bodySHA256=", "bodySHA256=%00%ff"):
        resp = client.post(f"/twilio/status?{query}", data=_voice_params(), headers={"X-Twilio-Signature": "abc="})
        assert resp.status_code == 403, query
    url = f"{PUBLIC_URL}/twilio/status?bodySHA256=zz"
    resp = client.post("/twilio/status?bodySHA256=zz", data=_voice_params(),
                       headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, _voice_params())})
    assert resp.status_code in (204, 403)


def test_a_replayed_voice_webhook_only_answers_the_same_twiml(sqlite_store):
    """The voice webhook has no replay cache: a replay is harmless. No state changes, and the
    same TwiML but for a new stream token, which only opens a socket with Twilio's signature
    over that exact URL (one the replayer cannot make)."""
    client = _twilio_app(sqlite_store).test_client()
    params = _voice_params()
    headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, f"{PUBLIC_URL}/twilio/voice", params)}
    first = client.post("/twilio/voice", data=params, headers=headers)
    second = client.post("/twilio/voice", data=params, headers=headers)
    assert first.status_code == second.status_code == 200

    def answer(resp):
        stream = ET.fromstring(resp.get_data(as_text=True)).find("./Connect/Stream")
        values = {p.get("name"): p.get("value") for p in stream.findall("Parameter") if p.get("name") != "sig"}
        return stream.get("url").rsplit("/", 1)[0], values

    assert answer(first) == answer(second)
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Call)) == 0


def test_a_replayed_final_status_cannot_end_a_new_call_twice(sqlite_store):
    client = _twilio_app(sqlite_store).test_client()
    with sqlite_store.session() as s:
        call_id = repo.start_call(s, "dental_clinic", "phone", twilio_call_sid=CALL_SID).id
    params = {"CallSid": CALL_SID, "CallStatus": "completed", "AccountSid": ACCOUNT_SID}
    headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, f"{PUBLIC_URL}/twilio/status", params)}
    assert client.post("/twilio/status", data=params, headers=headers).status_code == 204
    with sqlite_store.session() as s:
        ended = repo.get_call(s, call_id).ended_at if hasattr(repo, "get_call") else s.get(Call, call_id).ended_at
    for _ in range(3):
        assert client.post("/twilio/status", data=params, headers=headers).status_code == 409
    with sqlite_store.session() as s:
        assert s.get(Call, call_id).ended_at == ended


@pytest.fixture
def live_twilio(sqlite_store):
    with LiveServer(_twilio_app(sqlite_store)) as server:
        yield server


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/status"])
def test_oversized_webhooks_over_a_real_server_are_413(live_twilio, path):
    url = live_twilio.url + path
    big = dict(_voice_params(), Junk="x" * 200_000)
    resp = requests.post(url, data=big, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + path, big)},
                         timeout=10)
    assert resp.status_code == 413
    many = "&".join(f"f{i}=1" for i in range(3000))  # 3000 tiny fields, under 64 KiB
    resp = requests.post(url, data=many, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"})
    assert resp.status_code in (403, 413)
    files = {"upload": ("a.bin", b"\0" * 300_000)}
    resp = requests.post(url, files=files, timeout=10, headers={"X-Twilio-Signature": "x"})
    assert resp.status_code == 413
    resp = requests.post(url, data=b"CallSid=%ZZ%\xff\xfe&CallStatus=\xc3(", timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"})
    assert resp.status_code == 403
    assert requests.get(live_twilio.url + "/healthz", timeout=5).json()["ok"] is True


# =========================================================================== #
# the admin
# =========================================================================== #


@pytest.fixture
def admin_app(sqlite_store, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals")))
    add_users(sqlite_store)
    return make_app(sqlite_store, tmp_path)


@pytest.fixture
def editor(admin_app):
    client = admin_app.test_client()
    login(client, "editor")
    client.csrf = token(client)
    return client


def test_oversized_admin_posts_are_413(admin_app, editor):
    anon = admin_app.test_client()
    page = anon.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = anon.post("/login", data={"username": "x" * (3 * 1024 * 1024), "password": "p", "csrf_token": csrf})
    assert resp.status_code == 413
    # under MAX_CONTENT_LENGTH (2 MiB): a 750 kB flow is read and validated (refused, not a crash)
    resp = editor.post("/flows/dental_clinic/yaml", data={"yaml": "a: b\n" * 150_000, "csrf_token": editor.csrf})
    assert resp.status_code in (413, 422)
    resp = editor.post("/flows/dental_clinic/yaml", data={"yaml": "x" * (3 * 1024 * 1024), "csrf_token": editor.csrf})
    assert resp.status_code == 413
    assert editor.get("/flows/dental_clinic").status_code == 200


def test_oversized_admin_post_over_a_real_server(admin_app):
    with LiveServer(admin_app) as server:
        resp = requests.post(server.url + "/login", data={"username": "x" * (3 * 1024 * 1024), "password": "p"},
                             timeout=20)
        assert resp.status_code == 413
        assert requests.get(server.url + "/login", timeout=5).status_code == 200


SQLI = ["' OR '1'='1", "admin'--", "' OR 1=1 --", "\"; DROP TABLE admin_users; --",
        "editor' /*", "' UNION SELECT id, username, password_hash FROM admin_users --", "editor\x00"]


@pytest.mark.parametrize("username", SQLI)
def test_sql_injection_in_the_login_form_is_just_a_wrong_login(admin_app, sqlite_store, username):
    client = admin_app.test_client()
    resp = login(client, username, password="' OR '1'='1")
    assert resp.status_code == 401
    assert client.get("/calls/").status_code == 302  # not logged in
    resp = login(client, "editor", password=username)
    assert resp.status_code == 401
    insp = inspect(sqlite_store.engine)
    assert "admin_users" in insp.get_table_names()
    with sqlite_store.session() as s:
        assert sorted(u for (u,) in s.execute(select(__import__("admin.models", fromlist=["AdminUser"])
                                                          .AdminUser.username))) == ["admin", "editor", "viewer"]


def test_sql_injection_and_junk_in_search_filters(admin_app, sqlite_store):
    seed_call(sqlite_store)
    seed_call(sqlite_store, outcome="transferred", transferred=True)
    client = admin_app.test_client()
    login(client, "viewer")
    all_rows = client.get("/calls/").get_data(as_text=True).count('href="/calls/')
    assert all_rows >= 2
    for query in ("vertical=' OR '1'='1", "outcome=booked' OR 1=1 --", "vertical=dental_clinic'; DROP TABLE calls; --",
                  "outcome=x' UNION SELECT * FROM admin_users --"):
        resp = client.get("/calls/?" + query)
        assert resp.status_code == 200
        assert resp.get_data(as_text=True).count('href="/calls/') < all_rows, query  # no rows matched
    for query in ("page=-5", "page=abc", "page=0", "from=2026-13-45&to=yesterday",
                  "escalated=maybe", "tests=%00", "from=" + "9" * 5000):
        assert client.get("/calls/?" + query).status_code == 200, query
    for query in ("days=abc", "days=-1", "days=100000", "vertical=' OR 1=1 --"):
        assert client.get("/?" + query).status_code == 200, query
    resp = client.get("/audit?target=' OR '1'='1")
    assert resp.status_code == 200 and "auth.login" not in resp.get_data(as_text=True)
    for call_id in ("' OR 1=1 --", "..%2F..%2Fetc%2Fpasswd", "x" * 500):
        assert client.get("/calls/" + call_id).status_code == 404
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Call)) == 2


def test_a_huge_page_number_in_the_calls_list_is_not_a_500(admin_app, sqlite_store):
    seed_call(sqlite_store)
    client = admin_app.test_client()
    login(client, "viewer")
    assert client.get("/calls/?page=99999999999999999999").status_code in (200, 400, 404)


def test_html_in_a_flow_prompt_is_shown_escaped_everywhere(admin_app, editor):
    r = editor.post("/flows/dental_clinic/field", data={
        "path": json.dumps(["responses", "greet", 0]), "value": "Hello " + XSS, "target": "flow",
        "csrf_token": editor.csrf})
    assert r.status_code == 302
    pages = ["/flows/dental_clinic", "/flows/dental_clinic/yaml", "/flows/dental_clinic/versions",
             "/flows/dental_clinic/diff?a=1&b=2", "/flows/dental_clinic/versions/2", "/audit"]
    for path in pages:
        resp = editor.get(path)
        if resp.status_code == 404:
            continue
        html = resp.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
    assert "&lt;script&gt;" in editor.get("/flows/dental_clinic").get_data(as_text=True)
    # the test chat says the draft's greeting: escaped there too
    r = editor.post("/testchat/start", data={"vertical": "dental_clinic", "version": "draft",
                                             "csrf_token": editor.csrf})
    assert r.status_code == 302
    html = editor.get(r.headers["Location"]).get_data(as_text=True)
    assert "&lt;script&gt;" in html and "<script>alert" not in html
    r2 = editor.post(r.headers["Location"] + "/say", data={"text": XSS, "csrf_token": editor.csrf})
    assert r2.status_code in (200, 302)
    html = editor.get(r.headers["Location"]).get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html


def test_html_in_a_transcript_and_a_login_name_is_escaped(admin_app, sqlite_store):
    call_id = seed_call(sqlite_store)
    with sqlite_store.session() as s:
        repo.add_turn(s, call_id, "caller", XSS, intent="<b>intent</b>")
    client = admin_app.test_client()
    login(client, "viewer")
    html = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>intent</b>" not in html
    anon = admin_app.test_client()
    resp = login(anon, XSS)
    assert resp.status_code == 401 and "<script>alert" not in resp.get_data(as_text=True)
    admin = admin_app.test_client()
    login(admin, "admin")
    html = admin.get("/audit").get_data(as_text=True)
    assert "<script>alert" not in html


PYTHON_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    "!!python/object/new:subprocess.Popen [[touch, {marker}]]",
    "!!python/name:os.system",
    "!!python/module:os",
]


@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_python_yaml_tags_in_an_uploaded_flow_are_refused(admin_app, editor, sqlite_store, tmp_path, tag):
    marker = tmp_path / "pwned"
    text = (DENTAL / "flow.yaml").read_text().replace(
        "display_name: Bright Smile Dental", "display_name: " + tag.format(marker=marker))
    assert text != (DENTAL / "flow.yaml").read_text()
    resp = editor.post("/flows/dental_clinic/yaml", data={"yaml": text, "csrf_token": editor.csrf})
    assert resp.status_code == 422  # saved as a draft with an error, never run
    html = resp.get_data(as_text=True)
    assert "constructor" in html or "tag" in html
    assert not marker.exists()
    with sqlite_store.session() as s:
        draft = max(flow_versions.list_versions(s, "dental_clinic"), key=lambda v: v.version)
    resp = editor.post("/flows/dental_clinic/publish", data={"version": draft.version, "csrf_token": editor.csrf})
    with sqlite_store.session() as s:
        assert flow_versions.published(s, "dental_clinic").version != draft.version
    assert not marker.exists()
    # and the loader alone refuses it too
    with pytest.raises(FlowErrors, match="yaml"):
        load_flow_text(text, base_dir=DENTAL)


def test_a_python_tag_typed_into_a_form_field_stays_plain_text(admin_app, editor, sqlite_store, tmp_path):
    marker = tmp_path / "pwned"
    value = PYTHON_TAGS[0].format(marker=marker)
    editor.post("/flows/dental_clinic/field", data={
        "path": json.dumps(["responses", "greet", 0]), "value": value, "target": "flow", "csrf_token": editor.csrf})
    with sqlite_store.session() as s:
        draft = max(flow_versions.list_versions(s, "dental_clinic"), key=lambda v: v.version)
    flow = load_flow_text(draft.yaml_text, base_dir=DENTAL)
    assert flow.responses["greet"][0] == value and not marker.exists()


def test_a_knowledge_path_outside_the_vertical_is_refused_and_not_shown(admin_app, editor):
    text = (DENTAL / "flow.yaml").read_text().replace("knowledge: knowledge.yaml",
                                                      "knowledge: ../../../../../../etc/passwd")
    resp = editor.post("/flows/dental_clinic/yaml", data={"yaml": text, "csrf_token": editor.csrf})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "inside the vertical" in html and "root:x:0:0" not in html
    assert "root:x:0:0" not in editor.get("/flows/dental_clinic").get_data(as_text=True)


def test_a_billion_laughs_flow_is_refused_quickly():
    base = (DENTAL / "flow.yaml").read_text()
    lol = ["x0: &x0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    lol += [f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = base.replace("variables:\n", "\n".join(lol) + "\nvariables:\n  laughs: *x8\n", 1)
    t0 = time.monotonic()
    with pytest.raises(FlowErrors):
        load_flow_text(text, base_dir=DENTAL)
    assert time.monotonic() - t0 < 5


# =========================================================================== #
# templates that reach for what they should not
# =========================================================================== #


def _flow_with_greeting(greeting: str) -> str:
    text = (DENTAL / "flow.yaml").read_text()
    old = "    - Thank you for calling Bright Smile Dental, this is the virtual assistant."
    assert old in text
    return text.replace(old, "    - " + json.dumps("Hi. " + greeting) + "\n    - Thank you for calling.", 1)


@pytest.mark.parametrize("template", ["{{ config }}", "{{ request }}", "{{ settings.SECRET_KEY }}",
                                      "{{ os.environ }}", "{{ __builtins__ }}", "{{ g.user }}"])
def test_templates_naming_app_objects_are_flow_errors(template):
    with pytest.raises(FlowErrors, match="bad template"):
        load_flow_text(_flow_with_greeting(template), base_dir=DENTAL)


SSTI = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ ''|attr('__class__') }}",
    "{{ self }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ dict }}",
    "{{ 'x' * 1000000000 }}",
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
]


BOMBS = ("1000000000", "range(99999)")  # rendering these would really allocate 1 GB / loop 10^10 times


@pytest.mark.parametrize("template", [t for t in SSTI if not any(b in t for b in BOMBS)])
def test_sandbox_escapes_are_never_evaluated(template):
    """Render-time: the sandbox refuses dunder access (SecurityError); nothing leaks."""
    try:
        text = render(template, {})
    except SecurityError:
        return
    assert "__globals__" not in text and "os" not in text.split() and "subclasses" not in text
    assert not re.search(r"uid=\d+", text)


@pytest.mark.parametrize("template", SSTI)
def test_sandbox_escapes_are_flow_errors(template):
    with pytest.raises(FlowErrors, match="template"):
        load_flow_text(_flow_with_greeting(template), base_dir=DENTAL)


def test_shipped_templates_still_validate():
    """Whatever a stricter template check does, the constructs the shipped flows use must stay valid."""
    for flow in ROOT.glob("verticals/*/flow.yaml"):
        load_flow_text(flow.read_text(), str(flow), base_dir=flow.parent)
    assert render("{{ '' if guests == 1 else 's' }}", {"guests": 2}) == "s"
