"""Whole phone calls: the real server (Flask + flask-sock, threaded), a real WebSocket, the
real speech models (Piper joe, Whisper tiny.en), and a simulated Twilio that speaks the
exact Media Streams protocol with espeak-ng caller audio at 8 kHz mu-law.

The call's clock is the real one, so dates are said relatively ("next tuesday").
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import replace

import pytest
import websocket
from sqlalchemy import select

from callflows.config import Settings
from callflows.server import create_app
from callflows.speech.caller_voice import caller_audio
from callflows.store import repo
from callflows.store.models import Call, Turn
from callflows.telephony.simulator import SimulatedCall, Step
from callflows_verticals.dental_clinic import repo as clinic_repo
from tests.fixtures.twilio import FakeTwilioApi, LiveServer, answer_call

pytestmark = pytest.mark.speech

TOKEN = "test-auth-token"
ACCOUNT = "AC" + "0" * 32


@pytest.fixture(scope="module")
def twilio_api():
    with FakeTwilioApi() as api:
        yield api


@contextmanager
def serving(store, twilio_api, tmp_path, silence_timeout_s=30.0, turn_end="rules"):
    """The real server on a free port, its models warm: (server, services)."""
    settings = replace(
        Settings(), twilio_auth_token=TOKEN, twilio_account_sid=ACCOUNT, twilio_api_base=twilio_api.base_url,
        tts_cache_dir=tmp_path / "tts", silence_timeout_s=silence_timeout_s, turn_end=turn_end,
    )
    app = create_app(settings, store)
    app.extensions["callflows"].warm_up()
    with LiveServer(app) as server:
        yield server, app.extensions["callflows"]


@pytest.fixture
def phone(sqlite_store, twilio_api, tmp_path, audio_cache_dir):
    with serving(sqlite_store, twilio_api, tmp_path) as (server, services):
        yield server, sqlite_store, services


def call_record(store, call_sid):
    with store.session() as s:
        call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
        turns = list(s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)))
        return call, turns


def wait_closed(store, call_sid, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        call, turns = call_record(store, call_sid)
        if call.ended_at is not None:
            return call, turns
        time.sleep(0.2)
    return call_record(store, call_sid)


def test_booking_call_by_voice_and_keypad(phone):
    server, store, _ = phone
    sim = SimulatedCall(server.url, auth_token=TOKEN)
    result = sim.run([
        Step(say="i would like to book a cleaning"),
        Step(say="doctor patel please"),
        Step(say="next tuesday"),
        Step(say="at ten thirty in the morning"),
        Step(dtmf="5551234567#"),  # the phone number first (a name on file would be confirmed)
        Step(say="my name is jane smith"),
        Step(dtmf="76484#"),  # asked to type the last name, one key per letter
        Step(dtmf="5263#"),  # and the first name
        Step(say="yes"),  # the name read back, spelled
        Step(say="yes please"),  # the summary: book it
        Step(say="no thanks"),
    ], linger_s=15.0)
    call, turns = wait_closed(store, sim.call_sid)
    with store.session() as s:
        booked = clinic_repo.list_appointments(s, vertical="dental_clinic")
        assert len(booked) == 1, [(t.speaker, t.text) for t in turns]
        appt = booked[0]
        assert appt.appointment_type == "cleaning" and appt.provider.key == "patel"
        assert appt.starts_at.astimezone().weekday() in range(7)
    assert call.outcome == "appointment_booked" and call.ended_at is not None
    caller_turns = [t for t in turns if t.speaker == "caller"]
    assert len(caller_turns) >= 8
    assert all("5551234567" not in t.text and "1234567" not in t.text for t in turns)
    timed = [t for t in caller_turns if t.total_ms is not None]
    assert timed and all(t.stt_ms is not None and t.endpoint_ms is not None for t in timed)
    assert result.latencies() and result.closed_by_server  # goodbye ends the call from our side


def test_barge_in_clears_the_bot_audio(phone):
    server, store, _ = phone
    sim = SimulatedCall(server.url, auth_token=TOKEN)
    # the greeting is long: speak over it after 1.5 s
    result = sim.run([Step(say="what are your opening hours", barge_in_ms=1500), Step(say="no thanks")])
    assert result.clears >= 1
    call, turns = wait_closed(store, sim.call_sid)
    bot_texts = " ".join(t.text for t in turns if t.speaker == "bot")
    assert "Monday to Friday" in bot_texts


def test_backchannel_does_not_interrupt(phone):
    server, store, services = phone
    sim = SimulatedCall(server.url, auth_token=TOKEN)
    result = sim.run([Step(say="okay", barge_in_ms=1500), Step(say="goodbye")])
    assert result.clears == 0


def test_transfer_to_a_person_uses_the_twilio_api(phone, twilio_api):
    server, store, _ = phone
    sim = SimulatedCall(server.url, auth_token=TOKEN)
    sim.run([Step(say="i want to talk to a real person")])
    call, _ = wait_closed(store, sim.call_sid)
    assert call.transferred and call.transfer_to == "+15550100199"
    deadline = time.time() + 10
    hits = []
    while not hits and time.time() < deadline:
        hits = [r for r in twilio_api.requests if sim.call_sid in r.path]
        time.sleep(0.2)
    assert hits, "no REST call reached the Twilio stand-in"
    assert "<Dial" in hits[-1].form.get("Twiml", "") and "+15550100199" in hits[-1].form["Twiml"]


def test_hang_up_mid_sentence_leaves_a_complete_record(phone):
    server, store, _ = phone
    sim = SimulatedCall(server.url, auth_token=TOKEN)
    sim.run([Step(say="i would like to book a cleaning"), Step(say="doctor patel please", hangup=True, hangup_after_ms=400)])
    call, turns = wait_closed(store, sim.call_sid)
    assert call.ended_at is not None and call.outcome
    assert [t.speaker for t in turns][:3] == ["bot", "caller", "bot"]


def test_socket_drop_finalises_the_record(phone):
    server, store, _ = phone
    call_sid = "CA" + "d" * 32
    ws = _open_stream(server, call_sid)
    ws.send(json.dumps({"event": "media", "sequenceNumber": "3", "streamSid": "MZ1",
                        "media": {"track": "inbound", "chunk": "1", "timestamp": "20",
                                  "payload": "/////w=="}}))
    time.sleep(1.0)
    ws.sock.close()  # no stop event, no close frame: the line just dies
    call, turns = wait_closed(store, call_sid)
    assert call.ended_at is not None
    assert turns and turns[0].speaker == "bot"


def test_malformed_frames_are_skipped_and_the_call_goes_on(phone):
    server, store, _ = phone
    call_sid = "CA" + "e" * 32
    ws = _open_stream(server, call_sid)
    for bad in ["not json", json.dumps({"event": "media", "media": {"payload": "!!!"}}),
                json.dumps({"event": "teleport"}), json.dumps([1, 2, 3])]:
        ws.send(bad)
    # the call is still alive: say something real and get an answer
    seq = 10
    audio = caller_audio("what are your opening hours") + b"\xff" * 8000
    for i in range(0, len(audio), 160):
        seq += 1
        ws.send(json.dumps({"event": "media", "sequenceNumber": str(seq), "streamSid": "MZ1",
                            "media": {"track": "inbound", "chunk": str(seq), "timestamp": str(seq * 20),
                                      "payload": __import__("base64").b64encode(audio[i:i + 160].ljust(160, b"\xff")).decode()}}))
        time.sleep(0.02)
    deadline = time.time() + 20
    while time.time() < deadline:
        _, turns = call_record(store, call_sid)
        if any(t.speaker == "bot" and "Monday to Friday" in t.text for t in turns):
            break
        time.sleep(0.3)
    ws.close()
    _, turns = call_record(store, call_sid)
    assert any("Monday to Friday" in t.text for t in turns), [t.text for t in turns]


def test_unsigned_stream_is_refused(phone):
    server, _, _ = phone
    invite = answer_call(server.url, auth_token=TOKEN, call_sid="CA" + "a" * 32)
    ws = websocket.create_connection(invite.ws_url, timeout=5)  # no signature header
    ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    with pytest.raises((websocket.WebSocketConnectionClosedException, websocket.WebSocketException, ConnectionError)):
        for _ in range(5):
            if not ws.recv():
                raise websocket.WebSocketConnectionClosedException()
    assert ws.status == 101 or ws.close_status in (1008, None)


def _open_stream(server, call_sid):
    invite = answer_call(server.url, auth_token=TOKEN, call_sid=call_sid, from_number="+15557654321")
    ws = websocket.create_connection(invite.ws_url, header=invite.headers(), timeout=5)
    ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "accountSid": ACCOUNT, "callSid": call_sid, "tracks": ["inbound"],
        "customParameters": invite.params,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
    return ws
