"""Filling the wait on the phone: whole calls against the real server (Flask + flask-sock, a real
WebSocket), the real Piper voice and Whisper, and the simulated Twilio, with the dialogue made
slow (or streamed, or hung) by a DialogueSession subclass put where CallHandler makes its session.

What is measured is what the simulated caller heard: the fillers (marks ``filler-<kind>``), the
reply, and the longest dead air after they stopped speaking (``callflows.telephony.silence``).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import select

from callflows.config import Settings
from callflows.dialogue import BotReply, DialogueSession
from callflows.server import create_app
from callflows.speech import codec
from callflows.speech.fillers import KEYBOARD_VARIANTS, keyboard_sound
from callflows.speech.tts import PiperTTS, PromptCache
from callflows.store.models import Call, Turn
from callflows.telephony import call as call_module
from callflows.telephony.silence import HeardFrame, heard_frame, longest_silence_ms
from callflows.telephony.simulator import SimulatedCall, Step
from callflows.telephony.waiting import WaitingConfig, load_waiting_config
from callflows.verticals import list_verticals, vertical_root
from tests.fixtures.db import make_sqlite_store
from tests.fixtures.twilio import FakeTwilioApi, LiveServer

TOKEN = "test-auth-token"
ACCOUNT = "AC" + "0" * 32
MAX_SILENCE_MS = 2200
PATIENT_MS = 2500  # the simulated caller takes this much quiet as "the bot is done"


# --------------------------------------------------------------------------- #
# pieces, without a call
# --------------------------------------------------------------------------- #


def _frames(spans: list[tuple[float, float]], quiet: list[tuple[float, float]] = ()) -> list[HeardFrame]:
    return [HeardFrame(a, b, True) for a, b in spans] + [HeardFrame(a, b, False) for a, b in quiet]


def test_longest_silence_from_heard_frames() -> None:
    frames = _frames([(1.0, 1.5), (2.0, 3.0), (4.5, 5.0)], quiet=[(3.0, 4.5)])  # an inaudible pause is silence
    assert longest_silence_ms(frames, stopped_at=0.5) == pytest.approx(1500)
    assert longest_silence_ms(frames, stopped_at=0.5, until=3.0) == pytest.approx(500)
    assert longest_silence_ms(frames, stopped_at=1.2, until=2.2) == pytest.approx(500)  # playing when they stopped
    assert longest_silence_ms([], stopped_at=1.0, until=3.5) == pytest.approx(2500)
    assert math.isinf(longest_silence_ms([], stopped_at=1.0))
    silent = heard_frame(0.0, b"\xff" * 160)
    assert not silent.audible and silent.end == pytest.approx(0.02)
    assert heard_frame(0.0, codec.float_to_ulaw(np.full(160, 0.2, dtype=np.float32))).audible


def test_waiting_config_defaults_files_and_errors(tmp_path) -> None:
    assert load_waiting_config(tmp_path) == WaitingConfig()  # no phone.yaml: the defaults
    for name in list_verticals():
        config = load_waiting_config(vertical_root(name))
        assert config.enabled and config.acknowledgements and config.progress and config.keyboard
        assert config.acknowledge_after_ms <= 1000 and config.progress_after_ms <= 2000 and config.repeat_after_ms <= 1500
    assert "I'm looking at your account now." in load_waiting_config(vertical_root("retail_bank")).progress
    assert WaitingConfig.from_mapping({"progress": ["One sec."], "keyboard": False}).progress == ("One sec.",)
    for bad in ({"acknowledge_after": 5}, {"keyboard": "yes"}, {"progress": "One sec."}, {"repeat_after_ms": -1},
                {"progress": []}):
        with pytest.raises(ValueError):
            WaitingConfig.from_mapping(bad)
    (tmp_path / "phone.yaml").write_text("waiting: {progress_after_ms: nope}\n")
    assert load_waiting_config(tmp_path) == WaitingConfig()  # broken: logged, defaults used


def test_keyboard_sound_is_soft_typing() -> None:
    audio = keyboard_sound(1600, seed=2)
    assert len(audio) == 1600 * 8 and audio == keyboard_sound(1600, seed=2) != keyboard_sound(1600, seed=3)
    x = codec.ulaw_to_float(audio)
    assert 0.02 < np.max(np.abs(x)) < 0.15  # soft: about -22 dBFS at the loudest click
    frames = [x[i:i + 160] for i in range(0, len(x), 160)]
    loud = [bool(np.sqrt(np.mean(f ** 2)) > 10 ** (-55 / 20)) for f in frames]
    assert 8 <= sum(loud) <= len(frames) * 0.6  # clicks, with quiet between them
    assert not loud[0] and not loud[-1]  # clean joins
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    assert spectrum[(freqs > 800) & (freqs < 3400)].sum() > spectrum[freqs < 300].sum() * 3  # clicks, not thuds


def test_fillers_are_built_without_any_download(tmp_path) -> None:
    """`callflows fillers build` in a process whose sockets cannot connect anywhere."""
    cache = tmp_path / "tts"
    code = textwrap.dedent(f"""
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network access attempted while building fillers")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from callflows.cli.main import cli
        cli(["fillers", "build", "--vertical", "retail_bank", "--cache-dir", {str(cache)!r}], prog_name="callflows")
    """)
    env = {**os.environ, "CALLFLOWS_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "retail_bank:" in done.stdout and "phrase(s) synthesised" in done.stdout
    config = load_waiting_config(vertical_root("retail_bank"))
    prompts = PromptCache(PiperTTS(), cache)
    for phrase in config.phrases:
        assert prompts.path(phrase).stat().st_size > 2000, phrase  # Piper audio, 8 kHz mu-law
    clips = sorted((cache / "fillers").glob("keyboard-*.ulaw"))
    assert len(clips) == KEYBOARD_VARIANTS and all(c.stat().st_size == config.keyboard_ms * 8 for c in clips)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0 and "0 phrase(s) synthesised" in again.stdout  # cached: nothing redone


# --------------------------------------------------------------------------- #
# whole calls
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def twilio_api():
    with FakeTwilioApi() as api:
        yield api


@pytest.fixture(scope="module")
def phone(tmp_path_factory, twilio_api, audio_cache_dir):
    store = make_sqlite_store(tmp_path_factory.mktemp("wait-fillers-db"))
    settings = replace(
        Settings(), twilio_auth_token=TOKEN, twilio_account_sid=ACCOUNT, twilio_api_base=twilio_api.base_url,
        tts_cache_dir=tmp_path_factory.getbasetemp() / "phone-tts-cache", silence_timeout_s=30.0,
    )
    app = create_app(settings, store)
    services = app.extensions["callflows"]
    services.warm_up()  # renders every vertical's fillers too
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, store=store, services=services)


def _session_class(handle):
    """A DialogueSession whose caller turns go through ``handle(session, reply) -> BotReply``."""

    class Session(DialogueSession):
        def handle_text(self, text, source="text", timings=None):  # noqa: ANN001, ANN201
            return handle(self, super().handle_text(text, source=source, timings=timings))

    return Session


def slow(delay_s: float):
    def handle(session, reply):  # noqa: ANN001, ANN202
        time.sleep(delay_s)
        return reply

    return _session_class(handle)


def streamed(sentences):  # noqa: ANN001, ANN201
    """Replies whose sentences come from ``sentences(session, reply)`` (a generator)."""

    def handle(session, reply):  # noqa: ANN001, ANN202
        out = BotReply(text="", expectation=reply.expectation)
        out.sentences = sentences(session, out)  # the field BotReply gets for streamed replies
        return out

    return _session_class(handle)


def records(store, call_sid, timeout=20.0):  # noqa: ANN001, ANN201
    deadline = time.time() + timeout
    while True:
        with store.session() as s:
            call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
            turns = list(s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)))
            if call.ended_at is not None or time.time() > deadline:
                return call, turns
        time.sleep(0.2)


def report(name, result, turn):  # noqa: ANN001, ANN201
    """One line per call (``pytest -s`` shows it): what the caller heard and the longest dead air."""
    print(f"\nMEASURED {name}: longest silence {turn.longest_silence_ms:.0f} ms, first audio "
          f"{turn.first_audio_ms or 0:.0f} ms, reply {turn.latency_ms or 0:.0f} ms, heard {kinds_after(result, turn)}")


def kinds_after(result, turn):  # noqa: ANN001, ANN201
    """What the caller heard after they stopped speaking: "reply" or a filler kind, in order."""
    return [seg.kind for seg in result.segments if seg.received_at >= turn.speech_end_at]


def test_warm_up_rendered_every_verticals_fillers(phone) -> None:
    for name in list_verticals():
        config = load_waiting_config(vertical_root(name))
        assert phone.services.fillers.missing(config.phrases, [config.keyboard_ms]) == [], name


def test_slow_dialogue_gets_an_acknowledgement_then_a_progress_line(phone, monkeypatch) -> None:
    monkeypatch.setattr(call_module, "DialogueSession", slow(3.0))
    sim = SimulatedCall(phone.url, auth_token=TOKEN, idle_ms=PATIENT_MS)
    result = sim.run([Step(say="what are your opening hours")])
    turn = result.turns[0]
    heard = kinds_after(result, turn)
    report("slow dialogue (3 s)", result, turn)
    assert turn.fillers[:2] == ["ack", "progress"], heard
    assert heard.index("progress") < heard.index("reply"), heard
    assert turn.latency_ms is not None and turn.latency_ms > 3000  # the reply itself was slow
    assert turn.first_audio_ms is not None and turn.first_audio_ms < 2000
    assert turn.longest_silence_ms < MAX_SILENCE_MS, (turn.longest_silence_ms, heard)
    # the acknowledgement the caller heard is the phrase rendered in the bot's voice
    config = load_waiting_config(vertical_root("dental_clinic"))
    ack = next(seg for seg in result.segments if seg.kind == "ack")
    clips = [phone.services.fillers.phrase(p) for p in config.acknowledgements]
    assert any(bytes(ack.audio)[:len(c)] == c for c in clips)
    # filler audio is not a bot turn
    call, turns = records(phone.store, sim.call_sid)
    said = " ".join(t.text for t in turns if t.speaker == "bot")
    assert "Monday to Friday" in said
    assert not any(p in said for p in config.phrases), said


def test_streamed_sentences_are_spoken_as_they_come_with_a_filler_between(phone, monkeypatch,
                                                                         whisper_recognizer) -> None:
    times: dict[str, float] = {}

    def sentences(session, reply):  # noqa: ANN001, ANN202
        times["first"] = time.perf_counter()
        yield "Let me check that for you."
        time.sleep(2.5)
        yield "We are open Monday to Friday, from eight to five."
        yield "Is there anything else?"
        reply.text = "Let me check that for you. We are open Monday to Friday, from eight to five. Is there anything else?"

    monkeypatch.setattr(call_module, "DialogueSession", streamed(sentences))
    sim = SimulatedCall(phone.url, auth_token=TOKEN, idle_ms=PATIENT_MS)
    transcribe = lambda ulaw: whisper_recognizer.transcribe(codec.ulaw_to_pcm16(ulaw)).text  # noqa: E731
    result = sim.run([Step(say="what are your opening hours")], transcribe=transcribe)
    turn = result.turns[0]
    heard = kinds_after(result, turn)
    report("streamed reply, 2.5 s between sentences", result, turn)
    first_reply = heard.index("reply")
    later_reply = len(heard) - 1 - heard[::-1].index("reply")
    assert any(k != "reply" for k in heard[first_reply:later_reply]), heard  # filled between the sentences
    assert turn.longest_silence_ms < MAX_SILENCE_MS, (turn.longest_silence_ms, heard)
    # the first sentence went out as soon as it existed, long before the second
    first = next(seg for seg in result.segments if seg.received_at >= turn.speech_end_at and seg.kind == "reply")
    assert first.received_at - times["first"] < 1.5
    words = turn.bot.lower()
    assert words.index("check") < words.index("monday") < words.index("anything"), turn.bot


def test_hung_reply_keeps_progress_lines_coming_then_transfers(phone, monkeypatch, twilio_api) -> None:
    def sentences(session, reply):  # noqa: ANN001, ANN202
        time.sleep(10.0)  # a backend that hangs, then gives up
        yield "I'm sorry, this is taking longer than it should. Let me connect you with a colleague."
        number = session.flow.transfer_number
        session.state.transferred_to = number
        reply.transfer_to = number

    monkeypatch.setattr(call_module, "DialogueSession", streamed(sentences))
    sim = SimulatedCall(phone.url, auth_token=TOKEN, idle_ms=PATIENT_MS)
    result = sim.run([Step(say="what are your opening hours")], turn_timeout=40)
    turn = result.turns[0]
    heard = kinds_after(result, turn)
    report("hung reply (10 s), then a transfer", result, turn)
    assert heard[0] == "ack" and heard.count("progress") >= 2, heard
    assert turn.longest_silence_ms < MAX_SILENCE_MS, (turn.longest_silence_ms, heard)
    progress = [seg.received_at for seg in result.segments if seg.kind == "progress"]
    assert progress[-1] - turn.speech_end_at > 6.0  # still coming well into the wait
    deadline = time.time() + 10
    hits = []
    while not hits and time.time() < deadline:
        hits = [r for r in twilio_api.requests if sim.call_sid in r.path]
        time.sleep(0.2)
    assert hits and "<Dial" in hits[-1].form["Twiml"]


def test_barge_in_during_a_filler_stops_it(phone, monkeypatch) -> None:
    long_line = ("Thanks for holding. I am still looking through the schedule for you, "
                 "and this will only take a moment longer.")
    config = WaitingConfig(progress=(long_line,))
    phone.services.fillers.phrase(long_line)  # rendered ahead, as the build would
    monkeypatch.setattr(phone.services, "waiting_config", lambda vertical: config)
    monkeypatch.setattr(call_module, "DialogueSession", slow(6.0))
    sim = SimulatedCall(phone.url, auth_token=TOKEN, idle_ms=PATIENT_MS)
    result = sim.run([Step(say="what are your opening hours"),
                      Step(say="and where exactly are you located", barge_in_ms=1500)], turn_timeout=40)
    report("barge-in over a filler", result, result.turns[0])
    assert result.clears >= 1, [seg.kind for seg in result.segments]
    cleared_at = result.clear_times[0]
    first = result.turns[0]
    before = [seg for seg in result.segments if first.speech_end_at <= seg.received_at < cleared_at]
    assert "reply" not in [seg.kind for seg in before]  # the dialogue was still busy: only fillers so far
    cut = before[-1]  # the long line, still being sent when the caller cut in (so no mark closed it)
    assert cut.kind in ("progress", "cleared") and cut.received_at - first.speech_end_at > 1.5, \
        [seg.kind for seg in result.segments]
    full = len(phone.services.fillers.phrase(long_line)) / 8000
    played = sum(f.end - f.start for f in result.heard if cut.start <= f.start < cleared_at + 0.001)
    assert played < full - 1.0  # the long line was cut short
    _, spoke_until = result.caller_speech[1]
    assert not [f for f in result.heard if f.audible and cleared_at < f.start < spoke_until], \
        "bot audio while the caller was talking"
    after = [seg.kind for seg in result.segments if seg.received_at > spoke_until]
    assert "reply" in after  # the answer still came
