"""Warm transfer end to end: the real phone server, real WebSockets, Piper, the store on SQLite
and PostgreSQL; only Twilio's cloud is simulated (``tests.fixtures.twilio.TwilioCloud``: the
REST API, signed status callbacks, the person's leg and the caller's leg).

Outcomes: answered (1 pressed: into the caller's conference), no answer, busy, failed,
declined (2 pressed), no key, and nobody deciding before the watchdog; in every failure the
caller is back with the bot within 30 s, hears the apology, and leaves a callback request that
is stored with the call.  The cold transfer is still a plain ``<Dial>``.
"""

from __future__ import annotations

import io
import re
import time
import wave
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from admin.testing import copy_verticals
from callflows.config import Settings
from callflows.dialogue import BotReply, DialogueSession
from callflows.server import create_app
from callflows.store import Store
from callflows.store import transfers as tx
from callflows.store.models import Call, Turn
from callflows.telephony import call as call_module
from callflows.telephony.simulator import local_stream_url
from callflows.telephony.transfer_settings import parse_transfer_settings
from tests.fixtures.db import _pg_store, make_sqlite_store
from tests.fixtures.twilio import (
    ACCOUNT_SID, AUTH_TOKEN, CallerLeg, LiveServer, StreamInvite, StreamLeg, TwilioCloud, answer_call, sign,
)

CLINIC = "+15550100000"  # the Twilio number the caller dialled
DESK = "+15550100199"  # the dental clinic's transfer number (flow.yaml)
CALLER = "+15557654321"
HOLD_MUSIC = "https://music.example.test/hold.mp3"
SUMMARY = {
    "who": "Jane Smith", "verified": True, "wants": "talk about a bill",
    "slots": {"date_of_birth": "1985-03-05", "ssn_last4": "6789"},
    "reasons": ["caller asked for a person"],
}
PERSONAL = ("Jane", "Smith", "1985", "6789", "7654321")


class TransferAtOnce(DialogueSession):
    """A session that hands the call over as soon as it starts (after storing a summary)."""

    def start(self):  # noqa: ANN201
        super().start()
        self.recorder.summary(SUMMARY)
        self.state.transferred_to = self.flow.transfer_number
        return BotReply(text="Let me connect you.", transfer_to=self.flow.transfer_number)


@pytest.fixture(scope="module")
def verticals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = copy_verticals(tmp_path_factory.mktemp("verticals"))
    clinic = root / "dental_clinic"
    with (clinic / "escalation.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\ntransfer:\n  mode: warm\n  ring_timeout_s: 5\n  max_wait_s: 6\n")
    with (clinic / "phone.yaml").open("a", encoding="utf-8") as fh:
        fh.write(f"\nhold:\n  message: Please hold while I find a colleague.\n  music_url: {HOLD_MUSIC}\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CALLFLOWS_VERTICALS_DIR", str(root))
        yield root


@pytest.fixture(scope="module")
def cloud() -> Iterator[TwilioCloud]:
    with TwilioCloud() as c:
        yield c


def _phone(store: Store, cloud: TwilioCloud, cache: Path) -> tuple[LiveServer, Store]:
    settings = replace(Settings(), twilio_auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID,
                       twilio_api_base=cloud.base_url, tts_cache_dir=cache, silence_timeout_s=30.0)
    return LiveServer(create_app(settings, store)), store


@pytest.fixture(scope="module")
def sqlite_phone(tmp_path_factory, verticals, cloud) -> Iterator[tuple[str, Store]]:  # noqa: ANN001
    store = make_sqlite_store(tmp_path_factory.mktemp("warm-db"))
    server, _ = _phone(store, cloud, tmp_path_factory.getbasetemp() / "phone-tts-cache")
    with server:
        yield server.url, store
    store.dispose()


@pytest.fixture(scope="module")
def pg_phone(tmp_path_factory, verticals, cloud, _pg_available) -> Iterator[tuple[str, Store]]:  # noqa: ANN001
    for store in _pg_store(_pg_available):
        server, _ = _phone(store, cloud, tmp_path_factory.getbasetemp() / "phone-tts-cache")
        with server:
            yield server.url, store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def phone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Store]:
    monkeypatch.setattr(call_module, "DialogueSession", TransferAtOnce)
    return request.getfixturevalue("sqlite_phone" if request.param == "sqlite" else "pg_phone")


@pytest.fixture
def sqlite_only(sqlite_phone, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Store]:  # noqa: ANN001
    monkeypatch.setattr(call_module, "DialogueSession", TransferAtOnce)
    return sqlite_phone


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def _new_call_sid() -> str:
    import secrets

    return "CA" + secrets.token_hex(16)


def _hand_over(url: str, cloud: TwilioCloud, agent: str, digits: str = "1") -> tuple[CallerLeg, float]:
    """A call comes in; the bot hands it over at once; returns the caller's leg once on hold."""
    cloud.agent_outcome, cloud.digits = agent, digits
    sid = _new_call_sid()
    caller = cloud.add_caller(sid, CALLER, CLINIC)
    invite = answer_call(url, AUTH_TOKEN, call_sid=sid, to_number=CLINIC, from_number=CALLER)
    caller.stream = StreamLeg(invite.ws_url, invite.params, sid, invite.headers())
    assert caller.on_hold.wait(60), f"the caller was never put on hold: {cloud.errors}"
    return caller, caller.twiml_updates[0][0]


def _call_of(store: Store, caller: CallerLeg) -> Call:
    with store.session() as s:
        call = s.query(Call).filter(Call.twilio_call_sid == caller.sid).one()
        s.expunge(call)
        return call


def _attempt(store: Store, call_id: str) -> tx.TransferAttempt:
    with store.session() as s:
        attempt = tx.latest_attempt(s, call_id)
        assert attempt is not None
        s.expunge(attempt)
        return attempt


def _wait(predicate, timeout: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _back_with_the_bot(url: str, store: Store, caller: CallerLeg, on_hold_at: float,
                       answers: tuple[str, ...] = ("1", "1", "1")) -> StreamLeg:
    """The caller is redirected within 30 s; the new stream; the keypad answers the bot."""
    assert caller.redirected.wait(35), "the caller was never sent back to the bot"
    at, redirect_url, twiml = caller.redirects[0]
    assert at - on_hold_at < 30.0
    assert redirect_url.startswith(url) and "/twilio/transfer/return?attempt=" in redirect_url
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None, twiml
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params.get("resume") and params["from"] == CALLER
    invite = StreamInvite(stream.get("url"), local_stream_url(url, stream.get("url")), params, AUTH_TOKEN)
    leg = StreamLeg(invite.ws_url, params, caller.sid, invite.headers())
    for digit in answers:
        heard = leg.audio_ms
        assert _wait(lambda: leg.audio_ms > heard + 400, 60), "the bot said nothing"
        leg.press(digit)
    assert leg.closed.wait(60), "the bot did not end the call"
    # the callback conversation writes its outcome as it finishes, which may land just after the
    # socket closed: wait for it (the warm transfer's own "transfer_<state>" comes first)
    assert _wait(lambda: (_call_of(store, caller).outcome or "").startswith("callback_")
                 and _call_of(store, caller).ended_at is not None, 20), _call_of(store, caller).outcome
    return leg


# --------------------------------------------------------------------------- #
# outcomes
# --------------------------------------------------------------------------- #


def _heard_hold_message(url: str, caller: CallerLeg, recognizer) -> str:  # noqa: ANN001
    """The caller's hold TwiML plays the message in the bot's voice (a WAV from the phone server, as
    Twilio fetched it), then the conference; what Whisper hears in that WAV."""
    hold = ET.fromstring(caller.twiml_updates[0][1])
    assert [verb.tag for verb in hold] == ["Play", "Dial"]  # the message first, no <Say> (Twilio's voice)
    assert caller.hold_said == []
    ((played_url, kind, body),) = caller.hold_played
    assert played_url == hold.find("./Play").text and played_url.startswith(f"{url}/twilio/transfer/hold-message?attempt=")
    assert kind == "audio/wav"
    with wave.open(io.BytesIO(body), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        pcm = wav.readframes(wav.getnframes())
    assert 1.0 < len(pcm) / 16000 < 8.0  # one short sentence
    return recognizer.transcribe(pcm).text.lower()


def test_answered_the_person_hears_the_masked_summary_and_joins_the_callers_conference(
        phone, cloud, whisper_recognizer) -> None:  # noqa: ANN001
    url, store = phone
    caller, _ = _hand_over(url, cloud, "answer")
    # the caller: the vertical's short message in the bot's voice, then the conference's music (looped)
    heard = _heard_hold_message(url, caller, whisper_recognizer)
    assert "hold" in heard and "colleague" in heard, heard
    music = ET.fromstring(caller.hold_music).find("./Play")
    assert music is not None and music.text == HOLD_MUSIC and music.get("loop") == "0"
    agent = cloud.agents[-1]
    assert agent.to == DESK and agent.from_ == CLINIC and agent.timeout == 5
    assert set(agent.events) == {"initiated", "ringing", "answered", "completed"}
    assert agent.done.wait(30), cloud.errors
    said = " ".join(agent.heard)
    assert "talk about a bill" in said and "Press 1 to take the call" in said
    assert not [p for p in PERSONAL if p in said], said
    assert agent.conference == caller.hold_conference and caller.hold_conference.startswith("callflows-")
    call = _call_of(store, caller)
    assert _wait(lambda: _attempt(store, call.id).state == tx.ACCEPTED)
    call = _call_of(store, caller)
    assert call.outcome == "transferred" and call.transferred and call.transfer_to == DESK
    assert call.ended_at is not None and call.summary["transfer"]["state"] == "accepted"
    cloud.hang_up_agent(agent)
    time.sleep(0.5)
    assert not caller.redirects and _attempt(store, call.id).state == tx.ACCEPTED
    assert _attempt(store, call.id).agent_statuses.split(",")[:3] == ["initiated", "ringing", "in-progress"]
    assert not cloud.errors
    # the message's URL (unsigned: Twilio fetches media with a plain GET) answers only while on hold
    import requests

    played_url = caller.hold_played[0][0]
    assert requests.get(played_url, timeout=10).status_code == 404  # decided: accepted
    for attempt in ("0" * 32, "not-an-attempt", ""):
        assert requests.get(f"{url}/twilio/transfer/hold-message?attempt={attempt}", timeout=10).status_code == 404


@pytest.mark.parametrize("agent, state", [("no-answer", "no_answer"), ("busy", "busy")])
def test_no_answer_or_busy_brings_the_caller_back_for_a_callback(phone, cloud, agent, state) -> None:
    url, store = phone
    caller, on_hold_at = _hand_over(url, cloud, agent)
    leg = _back_with_the_bot(url, store, caller, on_hold_at)
    call = _call_of(store, caller)
    attempt = _attempt(store, call.id)
    assert attempt.state == state and attempt.returned_at is not None
    assert call.outcome == "callback_requested" and not call.transferred and call.ended_at is not None
    assert call.summary["transfer"]["state"] == state and call.summary["callback"] == "callback_requested"
    with store.session() as s:
        (request,) = tx.callback_requests(s, call_id=call.id)
        assert request.phone_number == CALLER and request.preferred_time == "as soon as possible"
        assert request.attempt_id == attempt.id and request.vertical == "dental_clinic"
        texts = [t.text for t in s.query(Turn).filter(Turn.call_id == call.id).order_by(Turn.seq)]
    assert any("none of my colleagues could take your call" in t for t in texts)
    assert not [t for t in texts if "7654321" in t]
    assert leg.marks and not cloud.errors


@pytest.mark.parametrize("agent, digits, state", [("decline", "2", "declined"), ("silent", "", "declined"),
                                                  ("failed", "", "failed")])
def test_declined_no_key_or_failed_line_brings_the_caller_back(sqlite_only, cloud, agent, digits, state) -> None:
    url, store = sqlite_only
    caller, on_hold_at = _hand_over(url, cloud, agent, digits)
    _back_with_the_bot(url, store, caller, on_hold_at, answers=("2",))  # no callback, thanks
    call = _call_of(store, caller)
    assert _attempt(store, call.id).state == state
    assert call.outcome == "callback_declined" and call.ended_at is not None
    if agent != "failed":
        assert "Goodbye" in ET.fromstring(cloud.agents[-1].decision_twiml).find("./Say").text
    with store.session() as s:
        assert tx.callback_requests(s, call_id=call.id) == []
    assert not cloud.errors


def test_nobody_decides_in_time_the_watchdog_cancels_the_ringing_line(sqlite_only, cloud) -> None:
    url, store = sqlite_only
    caller, on_hold_at = _hand_over(url, cloud, "ring")
    _back_with_the_bot(url, store, caller, on_hold_at, answers=("1", "5559876543#", "1"))
    call = _call_of(store, caller)
    attempt = _attempt(store, call.id)
    assert attempt.state == "timeout" and caller.redirects[0][0] - on_hold_at >= 5.5
    assert cloud.agents[-1].ended_by_api == "canceled"  # a ringing line is canceled, not left ringing
    with store.session() as s:
        (request,) = tx.callback_requests(s, call_id=call.id)
        assert request.phone_number == "+15559876543"
    assert not cloud.errors


def test_the_caller_hanging_up_on_hold_stops_the_persons_phone(sqlite_only, cloud) -> None:
    url, store = sqlite_only
    caller, _ = _hand_over(url, cloud, "ring")
    params = {"CallSid": caller.sid, "AccountSid": ACCOUNT_SID, "From": CALLER, "To": CLINIC,
              "CallStatus": "completed", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    import requests

    resp = requests.post(f"{url}/twilio/status", data=params,
                         headers={"X-Twilio-Signature": sign(AUTH_TOKEN, f"{url}/twilio/status", params)}, timeout=10)
    assert resp.status_code == 204
    call = _call_of(store, caller)
    assert _wait(lambda: _attempt(store, call.id).state == tx.ABANDONED)
    assert _wait(lambda: cloud.agents[-1].ended_by_api == "canceled")
    time.sleep(6.5)  # past the watchdog: nothing sends a caller who left back to the bot
    assert not caller.redirects and _call_of(store, caller).outcome == "transfer_caller_hung_up"


def test_the_caller_hanging_up_while_the_persons_line_is_placed_still_stops_it(sqlite_only, cloud) -> None:
    """The caller leaves before Twilio has answered the request that rings the person: the
    attempt is decided without the person's call sid, and the leg is canceled once the sid comes."""
    url, store = sqlite_only
    cloud.create_delay_s = 3.0
    caller, _ = _hand_over(url, cloud, "ring")
    params = {"CallSid": caller.sid, "AccountSid": ACCOUNT_SID, "From": CALLER, "To": CLINIC,
              "CallStatus": "completed", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    import requests

    resp = requests.post(f"{url}/twilio/status", data=params,
                         headers={"X-Twilio-Signature": sign(AUTH_TOKEN, f"{url}/twilio/status", params)}, timeout=10)
    assert resp.status_code == 204
    call = _call_of(store, caller)
    assert _wait(lambda: _attempt(store, call.id).state == tx.ABANDONED)
    assert _attempt(store, call.id).agent_sid is None  # decided while the dial request was still out
    assert _wait(lambda: cloud.agents[-1].ended_by_api == "canceled")
    assert not caller.redirects and _call_of(store, caller).outcome == "transfer_caller_hung_up"


# --------------------------------------------------------------------------- #
# webhooks and settings
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("path", ["hold", "screen", "decide", "agent-status", "return"])
def test_transfer_webhooks_are_signed_and_check_their_input(sqlite_only, path) -> None:
    import requests

    url, _ = sqlite_only
    target = f"{url}/twilio/transfer/{path}?attempt={'0' * 32}"
    params = {"CallSid": _new_call_sid(), "AccountSid": ACCOUNT_SID, "CallStatus": "in-progress"}
    assert requests.post(target, data=params, timeout=10).status_code == 403
    forged = sign(AUTH_TOKEN, f"{url}/twilio/transfer/{path}?attempt={'1' * 32}", params)
    assert requests.post(target, data=params, headers={"X-Twilio-Signature": forged}, timeout=10).status_code == 403
    signed = requests.post(target, data=params, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, target, params)},
                           timeout=10)
    assert signed.status_code in (200, 204)  # an unknown attempt: a polite answer, no crash
    if signed.status_code == 200:
        assert ET.fromstring(signed.text).tag == "Response"
    bad = f"{url}/twilio/transfer/{path}?attempt=not-an-attempt"
    resp = requests.post(bad, data=params, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, bad, params)}, timeout=10)
    assert resp.status_code == 400


class _CountingVoice:
    """A stand-in voice for the warm-up check: counts what it is asked to say (no Piper)."""

    voice_id = "counting-voice"

    def __init__(self) -> None:
        self.said: list[str] = []

    def load(self) -> None:
        pass

    def synthesize(self, text: str, **_kw: object) -> bytes:
        self.said.append(text)
        return b"\xff" * 160

    def synthesize_stream(self, text: str, **kw: object) -> Iterator[bytes]:
        yield self.synthesize(text, **kw)


def test_warm_up_voices_the_hold_message_of_a_warm_vertical(verticals, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The hold message is in the prompt cache before the first call, so the caller's <Play> never
    waits for a synthesis (the models themselves are stood in: this checks what warm_up caches)."""
    from types import SimpleNamespace

    from callflows.telephony import services as services_module
    from callflows.telephony.services import PhoneServices

    monkeypatch.setattr(services_module, "name_lexicon", lambda: None)
    services = PhoneServices(replace(Settings(), tts_cache_dir=tmp_path / "tts"), make_sqlite_store(tmp_path))
    voice = _CountingVoice()
    services.__dict__.update(recognizer=SimpleNamespace(load=lambda: None), tts=voice, turn_end_model=None)
    services.warm_up()
    assert "Please hold while I find a colleague." in voice.said  # the warm dental clinic's message
    assert services.prompts.has("Please hold while I find a colleague.")


def test_transfer_settings_are_validated_with_clear_errors() -> None:
    assert parse_transfer_settings({}, {}).mode == "cold"  # nothing said: the transfer there was
    warm = parse_transfer_settings({"mode": "warm"}, {}, env_music=HOLD_MUSIC)
    assert warm.warm and warm.hold_music_url == HOLD_MUSIC and warm.max_wait_s <= 30
    for transfer, hold, message in [({"mode": "lukewarm"}, {}, "warm or cold"),
                                    ({"max_wait_s": 45}, {}, "max_wait_s"),
                                    ({"ring_timeout_s": "x"}, {}, "ring_timeout_s"),
                                    ({}, {"music_url": "javascript:x"}, "music_url"),
                                    ({"colour": 1}, {}, "unknown key")]:
        with pytest.raises(ValueError, match=message):
            parse_transfer_settings(transfer, hold)


def test_escalation_yaml_accepts_the_transfer_block(verticals: Path) -> None:
    from callflows.escalation.loader import load_escalation

    doc = yaml.safe_load((verticals / "dental_clinic" / "escalation.yaml").read_text())
    assert doc["transfer"]["mode"] == "warm"
    assert load_escalation(verticals / "dental_clinic") is not None


def test_cold_mode_keeps_the_plain_dial(sqlite_only, cloud, verticals, monkeypatch) -> None:
    url, store = sqlite_only
    hotel_like = verticals / "dental_clinic" / "escalation.yaml"
    text = hotel_like.read_text()
    hotel_like.write_text(re.sub(r"mode: warm", "mode: cold", text))
    try:
        sid = _new_call_sid()
        caller = cloud.add_caller(sid, CALLER, CLINIC)
        invite = answer_call(url, AUTH_TOKEN, call_sid=sid, to_number=CLINIC, from_number=CALLER)
        caller.stream = StreamLeg(invite.ws_url, invite.params, sid, invite.headers())
        assert _wait(lambda: bool(caller.twiml_updates), 60)
        number = ET.fromstring(caller.twiml_updates[0][1]).find("./Dial/Number")
        assert number is not None and number.text == DESK and "/twilio/whisper?call=" in number.get("url")
    finally:
        hotel_like.write_text(text)
