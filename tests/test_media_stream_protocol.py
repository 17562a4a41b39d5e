"""Twilio Media Streams: the parser, the outbound messages, the stream guard, and the
/twilio/media socket under a real server with a real WebSocket client."""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
import websocket

from callflows.config import Settings
from callflows.server import create_app
from callflows.telephony.media_stream import (
    MAX_MEDIA_BYTES,
    MAX_MESSAGE_BYTES,
    Connected,
    Dtmf,
    MarkEcho,
    MediaChunk,
    ProtocolError,
    StreamGuard,
    StreamStart,
    StreamStop,
    clear_message,
    mark_message,
    media_message,
    parse_message,
)
from callflows.telephony.routes import EXTENSION_KEY
from tests.fixtures.twilio import (
    AUTH_TOKEN,
    CALL_SID,
    STREAM_SID,
    LiveServer,
    answer_call,
    connected_msg,
    dtmf_msg,
    mark_msg,
    media_msg,
    sign,
    start_msg,
    stop_msg,
)

PUBLIC_URL = "https://callflows.example.test"

# --------------------------------------------------------------------------- #
# parsing
# --------------------------------------------------------------------------- #


def test_parses_every_inbound_event_with_string_numbers():
    assert parse_message(connected_msg()) == Connected(protocol="Call", version="1.0.0")

    start = parse_message(start_msg(seq=1, params={"vertical": "dental_clinic", "from": "+15551234567"}))
    assert isinstance(start, StreamStart)
    assert (start.stream_sid, start.call_sid, start.sequence_number) == (STREAM_SID, CALL_SID, 1)
    assert start.tracks == ("inbound",)
    assert start.custom_parameters == {"vertical": "dental_clinic", "from": "+15551234567"}
    assert (start.encoding, start.sample_rate, start.channels) == ("audio/x-mulaw", 8000, 1)

    media = parse_message(media_msg(seq=3, chunk=2, payload=b"\x01\x02\x03"))
    assert media == MediaChunk(stream_sid=STREAM_SID, track="inbound", chunk=2, timestamp_ms=40,
                               payload=b"\x01\x02\x03", sequence_number=3)
    assert "payload=<3 bytes>" in repr(media)  # never the audio itself

    assert parse_message(dtmf_msg(seq=4, digit="#")) == Dtmf(STREAM_SID, "#", "inbound_track", 4)
    assert parse_message(mark_msg(seq=5, name="bot-1")) == MarkEcho(STREAM_SID, "bot-1", 5)
    stop = parse_message(stop_msg(seq=6).encode())  # bytes are accepted too
    assert isinstance(stop, StreamStop) and stop.call_sid == CALL_SID and stop.sequence_number == 6


def _media(**media_fields: Any) -> str:
    media = {"track": "inbound", "chunk": "1", "timestamp": "20", "payload": base64.b64encode(b"\xff").decode()}
    media.update(media_fields)
    return json.dumps({"event": "media", "sequenceNumber": "2", "streamSid": STREAM_SID, "media": media})


@pytest.mark.parametrize("raw, reason", [
    ("not json {", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"streamSid": "MZ1"}', "missing field 'event'"),
    ('{"event": "transcription"}', "unknown event"),
    (json.dumps({"event": "media", "sequenceNumber": "2", "streamSid": STREAM_SID}), "missing field 'media'"),
    (_media(payload="***not base64***"), "not valid base64"),
    (_media(payload="AAA"), "not valid base64"),  # bad padding
    (_media(payload=base64.b64encode(b"\xff" * (MAX_MEDIA_BYTES + 1)).decode()), "payload over"),
    (_media(chunk="one"), "'chunk' is not an integer"),
    (_media(chunk="-1"), "'chunk' is not an integer"),
    (json.dumps({"event": "dtmf", "sequenceNumber": "3", "streamSid": STREAM_SID,
                 "dtmf": {"digit": "x"}}), "not a keypad digit"),
    (json.dumps({"event": "stop", "sequenceNumber": "3", "streamSid": STREAM_SID, "stop": {}}),
     "missing field 'callSid'"),
    ("x" * (MAX_MESSAGE_BYTES + 1), "message over"),
    (b"\xff\xfe{}", "not UTF-8"),
    (start_msg(media_format={"encoding": "audio/l16", "sampleRate": 16000, "channels": 1}), "wrong audio encoding"),
    (start_msg(media_format={"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2}), "wrong audio encoding"),
    (start_msg(media_format={"encoding": "audio/x-mulaw", "sampleRate": "fast"}), "wrong audio encoding"),
])
def test_malformed_messages_raise_protocol_error_with_a_short_reason(raw, reason):
    with pytest.raises(ProtocolError) as info:
        parse_message(raw)
    assert reason in str(info.value)
    assert len(str(info.value)) < 80


def test_missing_sequence_number_is_an_error():
    msg = json.loads(media_msg(seq=2, chunk=1))
    del msg["sequenceNumber"]
    with pytest.raises(ProtocolError, match="sequenceNumber"):
        parse_message(json.dumps(msg))


def test_outbound_messages():
    media = json.loads(media_message(STREAM_SID, b"\x00\xff\x7f"))
    assert media == {"event": "media", "streamSid": STREAM_SID,
                     "media": {"payload": base64.b64encode(b"\x00\xff\x7f").decode()}}
    assert json.loads(mark_message(STREAM_SID, "bot-3")) == {"event": "mark", "streamSid": STREAM_SID,
                                                             "mark": {"name": "bot-3"}}
    assert json.loads(clear_message(STREAM_SID)) == {"event": "clear", "streamSid": STREAM_SID}
    with pytest.raises(ValueError):
        mark_message(STREAM_SID, "")
    with pytest.raises(ValueError):
        clear_message("")


# --------------------------------------------------------------------------- #
# the guard
# --------------------------------------------------------------------------- #


def test_guard_skips_replays_out_of_order_and_foreign_streams():
    guard = StreamGuard()
    assert guard.check(parse_message(connected_msg())) is None
    assert "before start" in guard.check(parse_message(media_msg(seq=2, chunk=1)))
    assert guard.check(parse_message(start_msg(seq=1))) is None
    assert guard.check(parse_message(media_msg(seq=2, chunk=1))) is None
    assert "sequenceNumber" in guard.check(parse_message(media_msg(seq=2, chunk=1)))  # replay
    assert guard.check(parse_message(media_msg(seq=4, chunk=3))) is None
    assert "sequenceNumber" in guard.check(parse_message(media_msg(seq=3, chunk=2)))  # late
    assert "chunk" in guard.check(parse_message(media_msg(seq=5, chunk=3)))  # same chunk, new seq
    assert "another stream" in guard.check(parse_message(media_msg(seq=6, chunk=4, stream_sid="MZother")))
    assert "duplicate start" in guard.check(parse_message(start_msg(seq=7)))
    assert "another stream" in guard.check(parse_message(start_msg(seq=7, stream_sid="MZother")))
    assert guard.check(parse_message(dtmf_msg(seq=8, digit="5"))) is None
    assert guard.check(parse_message(stop_msg(seq=9))) is None
    assert guard.skipped == 7


# --------------------------------------------------------------------------- #
# the socket, under a real server
# --------------------------------------------------------------------------- #


class FakeHandler:
    """Stands in for callflows.telephony.call.CallHandler: records what it gets."""

    instances: list[FakeHandler] = []

    def __init__(self, services: Any, send: Any, start: StreamStart):
        self.services = services
        self.send = send
        self.start = start
        self.events: list[Any] = []
        self.closed: list[str] = []
        self.ended = False
        self.changed = threading.Condition()
        self.call_id = "call-" + start.call_sid[-6:]
        FakeHandler.instances.append(self)
        send(mark_message(start.stream_sid, "hello"))  # proves the send path works

    def on_event(self, event: Any) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()
        if isinstance(event, Dtmf) and event.digit == "9":
            self.ended = True  # "goodbye": the route must close the socket

    def close(self, reason: str) -> None:
        with self.changed:
            self.closed.append(reason)
            self.changed.notify_all()

    def wait(self, predicate: Any, timeout: float = 5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout=timeout)


@pytest.fixture
def phone_server(sqlite_store):
    FakeHandler.instances = []
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    app = create_app(settings, sqlite_store, services=SimpleNamespace(settings=settings, store=sqlite_store))
    app.extensions[EXTENSION_KEY].handler_factory = FakeHandler
    app.extensions[EXTENSION_KEY].idle_timeout_s = 5.0
    with LiveServer(app) as server:
        server.app = app
        yield server


def _connect(server: LiveServer, signature: str | None = "wss",
             call_sid: str = CALL_SID) -> tuple[websocket.WebSocket, dict[str, str]]:
    """A socket opened as Twilio opens it after the voice webhook; (socket, the signed start parameters)."""
    invite = answer_call(server.url, public_url=PUBLIC_URL, call_sid=call_sid)
    if signature in ("wss", "https"):
        headers = invite.headers(signature)
    else:
        headers = [f"X-Twilio-Signature: {signature}"] if signature else []
    return websocket.create_connection(invite.ws_url, header=headers, timeout=5), invite.params


def _close_code(ws: websocket.WebSocket) -> int | None:
    """Read until the server's close frame; its status code."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            frame = ws.recv_frame()  # raw frames: no close reply (the server may be gone already)
        except websocket.WebSocketConnectionClosedException:
            return None
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
    raise AssertionError("the server did not close the socket")


def _the_handler() -> FakeHandler:
    deadline = time.monotonic() + 5
    while not FakeHandler.instances and time.monotonic() < deadline:
        time.sleep(0.01)
    assert FakeHandler.instances, "no call handler was created"
    return FakeHandler.instances[0]


@pytest.mark.parametrize("signature", [None, "bm90IGEgc2lnbmF0dXJl", sign("another-token", "wss://callflows.example.test/twilio/media")])
def test_upgrade_without_a_valid_signature_is_closed_with_1008(phone_server, signature):
    ws, _ = _connect(phone_server, signature)
    try:
        assert _close_code(ws) == 1008
    finally:
        ws.close()
    assert FakeHandler.instances == []


@pytest.mark.parametrize("form", ["wss", "https"])
def test_signed_upgrade_is_accepted_and_the_call_runs(phone_server, form):
    ws, params = _connect(phone_server, form)
    try:
        ws.send(connected_msg())
        ws.send(start_msg(seq=1, params=params))
        assert json.loads(ws.recv()) == {"event": "mark", "streamSid": STREAM_SID, "mark": {"name": "hello"}}
        handler = _the_handler()
        assert handler.start.custom_parameters["from"] == "+15551234567"
        ws.send(media_msg(seq=2, chunk=1))
        ws.send(dtmf_msg(seq=3, digit="4"))
        ws.send(mark_msg(seq=4, name="hello"))
        ws.send(stop_msg(seq=5))
        assert handler.wait(lambda h: h.closed)
        assert [type(e) for e in handler.events] == [MediaChunk, Dtmf, MarkEcho, StreamStop]
        assert handler.closed == ["stream_stopped"]
        assert _close_code(ws) == 1000
    finally:
        ws.close()


def test_malformed_frames_are_skipped_and_the_call_goes_on(phone_server):
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params))
        ws.recv()  # the handler's "hello" mark
        handler = _the_handler()
        bad_frames = [
            "this is not json",
            json.dumps(["a", "list"]),
            json.dumps({"event": "recording", "streamSid": STREAM_SID}),
            _media(payload="!!!notbase64!!!"),
            media_msg(seq=2, chunk=1, payload=b"\xff" * (MAX_MEDIA_BYTES + 100)),
            "{" + " " * (MAX_MESSAGE_BYTES + 10) + "}",
            start_msg(seq=2, media_format={"encoding": "audio/l16", "sampleRate": 16000, "channels": 1}),
        ]
        for frame in bad_frames:
            ws.send(frame)
        ws.send(media_msg(seq=3, chunk=1, payload=b"\x11" * 160))
        assert handler.wait(lambda h: h.events)
        assert len(handler.events) == 1 and handler.events[0].payload == b"\x11" * 160
        assert phone_server.app.extensions[EXTENSION_KEY].stats["malformed"] == len(bad_frames)
        assert ws.connected and not handler.closed
    finally:
        ws.close()
    assert handler.wait(lambda h: h.closed)
    assert handler.closed == ["socket_closed"]


def test_replayed_and_out_of_order_media_are_skipped(phone_server):
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params))
        ws.recv()
        handler = _the_handler()
        for seq, chunk in [(2, 1), (3, 2), (3, 2), (2, 1), (5, 4), (4, 3), (6, 4), (7, 5)]:
            ws.send(media_msg(seq=seq, chunk=chunk))
        ws.send(media_msg(seq=8, chunk=6, stream_sid="MZ" + "d" * 32))  # another stream
        ws.send(media_msg(seq=9, chunk=7))
        assert handler.wait(lambda h: len(h.events) >= 5)
        time.sleep(0.1)
        assert [(e.sequence_number, e.chunk) for e in handler.events] == [(2, 1), (3, 2), (5, 4), (7, 5), (9, 7)]
    finally:
        ws.close()


def test_server_closes_the_socket_when_the_dialogue_ends(phone_server):
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params))
        ws.recv()
        handler = _the_handler()
        ws.send(dtmf_msg(seq=2, digit="9"))  # the fake handler's "goodbye"
        assert _close_code(ws) == 1000
        assert handler.wait(lambda h: h.closed)
        assert handler.closed == ["dialogue_ended"]
    finally:
        ws.close()


def test_a_stream_that_falls_silent_is_closed(phone_server):
    phone_server.app.extensions[EXTENSION_KEY].idle_timeout_s = 0.6
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params))
        ws.recv()
        handler = _the_handler()
        assert _close_code(ws) == 1000
        assert handler.wait(lambda h: h.closed)
        assert handler.closed == ["idle_timeout"]
    finally:
        ws.close()


def test_a_handler_that_fails_is_still_closed(phone_server):
    class Exploding(FakeHandler):
        def on_event(self, event: Any) -> None:
            raise RuntimeError("pipeline broke")

    phone_server.app.extensions[EXTENSION_KEY].handler_factory = Exploding
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params))
        ws.recv()
        handler = _the_handler()
        ws.send(media_msg(seq=2, chunk=1))
        assert _close_code(ws) == 1011
        assert handler.wait(lambda h: h.closed)
        assert handler.closed == ["error"]
    finally:
        ws.close()


def test_a_socket_without_a_valid_start_is_closed(phone_server):
    phone_server.app.extensions[EXTENSION_KEY].start_timeout_s = 0.5
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params, media_format={"encoding": "audio/l16", "sampleRate": 16000, "channels": 1}))
        for i in range(1, 60):  # media keeps coming, but no call was ever started
            try:
                ws.send(media_msg(seq=i + 1, chunk=i))
            except (OSError, websocket.WebSocketException):
                break  # closed by the server
            time.sleep(0.02)
        assert _close_code(ws) == 1008
    finally:
        ws.close()
    assert FakeHandler.instances == []


def test_under_gunicorn_gthread(tmp_path):
    """The way `callflows serve` runs it: gunicorn, one gthread worker, flask-sock in a thread."""
    from tests.fixtures.gunicorn import echo_server

    with echo_server(tmp_path, threads=4) as server:
        invite = answer_call(server.base, public_url=PUBLIC_URL)
        ws = websocket.create_connection(invite.ws_url, timeout=5)  # unsigned
        assert _close_code(ws) == 1008
        ws.close()
        ws = websocket.create_connection(invite.ws_url, header=invite.headers(), timeout=5)
        try:
            ws.send(start_msg(seq=1, params=invite.params))
            assert json.loads(ws.recv())["mark"]["name"] == "start"
            ws.send("garbage")
            ws.send(media_msg(seq=2, chunk=1))
            assert json.loads(ws.recv())["mark"]["name"] == "MediaChunk"
            ws.send(stop_msg(seq=3))
            assert json.loads(ws.recv())["mark"]["name"] == "StreamStop"
            assert _close_code(ws) == 1000
        finally:
            ws.close()


# --------------------------------------------------------------------------- #
# per-call grants: only what the server put in its TwiML is trusted
# --------------------------------------------------------------------------- #


def _open(invite: Any) -> websocket.WebSocket:
    return websocket.create_connection(invite.ws_url, header=invite.headers(), timeout=5)


def test_the_fixed_stream_url_without_a_token_is_refused(phone_server):
    url = f"{phone_server.ws_url}/twilio/media"
    ws = websocket.create_connection(url, header=[f"X-Twilio-Signature: {sign(AUTH_TOKEN, 'wss://callflows.example.test/twilio/media')}"], timeout=5)
    try:
        assert _close_code(ws) == 1008
    finally:
        ws.close()
    assert FakeHandler.instances == []


def test_a_captured_upgrade_header_cannot_be_replayed(phone_server):
    invite = answer_call(phone_server.url, public_url=PUBLIC_URL)
    first = _open(invite)
    try:
        first.send(start_msg(seq=1, params=invite.params))
        first.recv()  # the handler's "hello": the real call runs
        for _ in range(3):  # the same URL and signature again, as an eavesdropper would send them
            again = _open(invite)
            try:
                assert _close_code(again) == 1008
            finally:
                again.close()
    finally:
        first.close()
    assert len(FakeHandler.instances) == 1


def test_an_expired_stream_token_is_refused(phone_server):
    grants = phone_server.app.extensions[EXTENSION_KEY].grants
    grants.ttl_s = -1.0  # tokens issued from now on are already expired
    invite = answer_call(phone_server.url, public_url=PUBLIC_URL)
    ws = _open(invite)
    try:
        assert _close_code(ws) == 1008
    finally:
        ws.close()
    assert FakeHandler.instances == []


@pytest.mark.parametrize("tamper", [
    {"vertical": "../../../../tmp/x/evil"},
    {"vertical": "/tmp/x/evil"},
    {"vertical": "retail_bank"},  # a real vertical, but not the one the server chose
    {"from": "+15550001111"},
    {"sig": None},
    {"call_sid": "CA" + "e" * 32},
])
def test_start_parameters_the_server_did_not_sign_are_refused(phone_server, tamper):
    invite = answer_call(phone_server.url, public_url=PUBLIC_URL)
    params = {k: v for k, v in {**invite.params, **tamper}.items() if v is not None}
    ws = _open(invite)
    try:
        ws.send(start_msg(seq=1, params=params))
        assert _close_code(ws) == 1008
    finally:
        ws.close()
    assert FakeHandler.instances == []


def test_a_start_for_another_call_sid_is_refused(phone_server):
    invite = answer_call(phone_server.url, public_url=PUBLIC_URL)
    ws = _open(invite)
    try:
        ws.send(start_msg(seq=1, params=invite.params, call_sid="CA" + "9" * 32))
        assert _close_code(ws) == 1008
    finally:
        ws.close()
    assert FakeHandler.instances == []


def test_sockets_waiting_for_start_are_bounded_and_the_oldest_makes_way(phone_server):
    """Idle sockets (each with a valid grant) cannot lock a real call out: at the bound the
    oldest waiting socket is closed (1013) and the newcomer is served."""
    ctx = phone_server.app.extensions[EXTENSION_KEY]
    ctx.max_pending_streams = 2
    ctx.start_timeout_s = 30.0
    idle = [_open(answer_call(phone_server.url, public_url=PUBLIC_URL, call_sid=f"CA{i:032x}")) for i in range(3)]
    try:
        assert _close_code(idle[0]) == 1013  # the third made the first, the oldest, make way
        invite = answer_call(phone_server.url, public_url=PUBLIC_URL)
        started = time.monotonic()
        ws = _open(invite)
        try:
            ws.send(start_msg(seq=1, params=invite.params))
            assert json.loads(ws.recv())["mark"]["name"] == "hello"
            assert time.monotonic() - started < 1.0
        finally:
            ws.close()
        assert _close_code(idle[1]) == 1013  # the real call made the second one make way
        assert ctx.stats["evicted"] == 2
    finally:
        for ws in idle:
            ws.close()
    assert len(FakeHandler.instances) == 1


def test_a_huge_json_integer_is_skipped_and_the_call_goes_on(phone_server):
    """A 5,000-digit integer raised ValueError out of the parser and ended the call with 1011."""
    ws, params = _connect(phone_server)
    try:
        ws.send(start_msg(seq=1, params=params))
        ws.recv()
        handler = _the_handler()
        ws.send('{"event": "media", "sequenceNumber": ' + "9" * 5000 + "}")
        ws.send('{"event": "start", "sequenceNumber": "2", "streamSid": "MZx", "start": {"accountSid": "AC1", '
                '"callSid": "CA1", "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 1e999}}}')
        ws.send(media_msg(seq=2, chunk=1, payload=b"\x11" * 160))
        assert handler.wait(lambda h: h.events)
        assert ws.connected and not handler.closed
    finally:
        ws.close()
