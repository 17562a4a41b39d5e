"""Property-based fuzzing of the phone server's input boundaries (Hypothesis).

* the Media Streams frame parser: any text, bytes or JSON either parses into an event or is
  refused with ``ProtocolError`` (the route skips it); nothing else escapes;
* the Twilio webhooks (voice, status, whisper), signed so that the handlers' own logic runs:
  never a 500, and every call record they write is complete;
* a real call over the real WebSocket, with the real speech models and dialogue, fed fuzzed
  frames between its audio: the call goes on, and its record is complete when it ends.

The budget is ``CALLFLOWS_FUZZ_EXAMPLES`` examples per property (CI keeps the default);
``bench/fuzz.py`` runs the same properties much longer.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from callflows.config import Settings
from callflows.server import create_app
from callflows.store.models import Call, Turn
from callflows.telephony.media_stream import ProtocolError, parse_message
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN, LiveServer, answer_call, media_msg, sign, start_msg, stop_msg

EXAMPLES = int(os.environ.get("CALLFLOWS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("CALLFLOWS_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
PUBLIC_URL = "https://callflows.example.test"

# --------------------------------------------------------------------------- strategies

_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
            | st.text(max_size=40) | st.sampled_from(["", "1", "-1", "1e999", "9" * 40, "CA" + "0" * 32]))
json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
EVENTS = ["connected", "start", "media", "dtmf", "mark", "stop", "clear", "", None, 1]


def _valid_messages() -> list[dict[str, Any]]:
    start = json.loads(start_msg(params={"vertical": "dental_clinic"}))
    media = json.loads(media_msg(seq=2, chunk=1))
    return [start, media,
            {"event": "dtmf", "sequenceNumber": "3", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": "5"}},
            {"event": "mark", "sequenceNumber": "4", "streamSid": "MZ1", "mark": {"name": "m"}},
            {"event": "stop", "sequenceNumber": "5", "streamSid": "MZ1", "stop": {"accountSid": "AC1", "callSid": "CA1"}},
            {"event": "connected", "protocol": "Call", "version": "1.0.0"}]


@st.composite
def mutated_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A valid message with some fields (top level or one level down) replaced by anything."""
    msg = json.loads(json.dumps(draw(st.sampled_from(_valid_messages()))))
    for _ in range(draw(st.integers(1, 4))):
        target = msg
        inner = [k for k, v in msg.items() if isinstance(v, dict)]
        if inner and draw(st.booleans()):
            target = msg[draw(st.sampled_from(inner))]
        keys = list(target) + ["extra"]
        key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        msg["event"] = draw(st.sampled_from(EVENTS))
    return msg


raw_frames = (st.text(max_size=300) | st.binary(max_size=300)
              | json_values.map(json.dumps)
              | mutated_messages().map(json.dumps)
              | st.integers(1, 60_000).map(lambda n: '{"event": "media", "sequenceNumber": ' + "9" * n + "}")
              | st.integers(1, 3000).map(lambda n: "[" * n + "]" * n))


# --------------------------------------------------------------------------- the frame parser


@FUZZ
@given(raw_frames)
def test_the_frame_parser_parses_or_refuses_and_nothing_else_escapes(raw):
    try:
        event = parse_message(raw)
    except ProtocolError as exc:
        assert exc.reason and len(str(exc)) < 200  # short, and never the payload
        return
    assert type(event).__name__ in {"Connected", "StreamStart", "MediaChunk", "Dtmf", "MarkEcho", "StreamStop"}


# --------------------------------------------------------------------------- the webhooks


@pytest.fixture(scope="module")
def webhook_app(tmp_path_factory):
    from callflows.store import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz-webhooks')}/fuzz.db")
    store.upgrade()
    settings_ = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    app = create_app(settings_, store, services=SimpleNamespace(settings=settings_, store=store))
    app.config["TESTING"] = False  # errors become 500s, as in production
    return app, store


form_values = st.text(max_size=80) | st.sampled_from(["", "CA" + "1" * 32, "+15551234567", "completed", "ringing",
                                                       "no-answer", "../../etc/passwd", "9999-12-31", "\x00"])
forms = st.dictionaries(st.sampled_from(["CallSid", "AccountSid", "From", "To", "CallStatus", "Direction",
                                         "Digits", "bodySHA256", "x"]) | st.text(max_size=10),
                        form_values, max_size=8)
paths = st.sampled_from(["/twilio/voice", "/twilio/status", "/twilio/whisper"])
queries = st.sampled_from(["", "?call=", "?call=../../x", "?call=" + "a" * 100, "?call=12345678-aaaa",
                           "?bodySHA256=zz", "?x=%ff%fe"]) | st.text(max_size=30).map(lambda t: "?call=" + t)


@FUZZ
@given(path=paths, query=queries, form=forms, signed=st.booleans())
def test_the_webhooks_never_answer_500_and_leave_complete_records(webhook_app, path, query, form, signed):
    app, store = webhook_app
    headers = {}
    if signed:
        headers["X-Twilio-Signature"] = sign(AUTH_TOKEN, f"{PUBLIC_URL}{path}{query}", form)
    with app.test_client() as client:
        resp = client.post(f"{path}{query}", data=form, headers=headers)
    assert resp.status_code < 500, (path, query, form)
    if not signed:
        assert resp.status_code == 403
    with store.session() as s:
        calls = list(s.scalars(select(Call)))
        assert all(c.ended_at is not None and c.outcome for c in calls if c.status != "active")


# --------------------------------------------------------------------------- a real call


@pytest.fixture(scope="module")
def phone_server(tmp_path_factory, audio_cache_dir):
    from callflows.store import Store

    tmp = tmp_path_factory.mktemp("fuzz-phone")
    store = Store(f"sqlite:///{tmp}/phone.db")
    store.upgrade()
    settings_ = replace(Settings(), twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC_URL,
                        tts_cache_dir=tmp_path_factory.getbasetemp() / "phone-tts-cache",  # shared with other phone tests
                        silence_timeout_s=30.0)
    app = create_app(settings_, store)
    app.extensions["callflows"].warm_up()
    with LiveServer(app) as server:
        yield server, store


def _wait_ended(store: Any, call_sid: str, timeout: float = 20.0) -> Call:
    deadline = time.monotonic() + timeout
    while True:
        with store.session() as s:
            call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
            if call is not None and call.ended_at is not None:
                s.expunge(call)
                return call
        assert time.monotonic() < deadline, f"call {call_sid} has no complete record"
        time.sleep(0.2)


@pytest.mark.speech
@settings(max_examples=max(3, EXAMPLES // 30), deadline=None, derandomize=not os.environ.get("CALLFLOWS_FUZZ_RANDOM"),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(frames=st.lists(raw_frames, min_size=1, max_size=40), end=st.sampled_from(["stop", "drop"]))
def test_a_real_call_survives_fuzzed_frames_and_its_record_is_complete(phone_server, frames, end):
    server, store = phone_server
    call_sid = "CA" + os.urandom(16).hex()
    invite = answer_call(server.url, call_sid=call_sid, public_url=PUBLIC_URL)
    ws = websocket.create_connection(invite.ws_url, header=invite.headers(), timeout=5)
    stream_sid = "MZ" + os.urandom(16).hex()
    try:
        ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid, "start": {
            "streamSid": stream_sid, "accountSid": ACCOUNT_SID, "callSid": call_sid, "tracks": ["inbound"],
            "customParameters": invite.params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
        seq = 1
        for i, frame in enumerate(frames):
            if isinstance(frame, bytes):
                ws.send_binary(frame)
            else:
                ws.send(frame)
            seq += 1
            payload = base64.b64encode(b"\xff" * 160).decode()
            ws.send(json.dumps({"event": "media", "sequenceNumber": str(seq), "streamSid": stream_sid,
                                "media": {"track": "inbound", "chunk": str(i + 1), "timestamp": str(20 * i),
                                          "payload": payload}}))
        assert ws.connected  # every fuzzed frame was skipped, none ended the call
        if end == "stop":
            ws.send(stop_msg(seq=seq + 1, stream_sid=stream_sid, call_sid=call_sid))
    finally:
        ws.close()
    call = _wait_ended(store, call_sid)
    assert call.outcome and call.outcome != "error", call.outcome
    with store.session() as s:
        turns = list(s.scalars(select(Turn).where(Turn.call_id == call.id)))
    assert turns and turns[0].speaker == "bot"  # the greeting was recorded
