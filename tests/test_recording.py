"""Call recording (issue 17 item 2): consent, two channels, redaction, encryption, retention, playback.

The calls are whole phone calls: the real server (Flask + flask-sock), a real WebSocket, Piper
and Whisper, and a simulated Twilio speaking the Media Streams protocol with espeak-ng caller
audio, its keypad presses sounding in the audio as a phone's do.  The recording is then read
back from disk, decrypted with the key, decoded, and the caller's date of birth and keypad
tones are shown to be silence while the rest of what the caller said is there.

Retention and playback run on SQLite and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import yaml
from sqlalchemy import select

from admin.testing import add_users, copy_verticals, login, make_app, seed_call
from callflows.config import Settings
from callflows.recordings.plot import plot_recording
from callflows.recordings.tape import BOT, CALLER, CallTape, read_wav, redaction_fill
from callflows.recordings.vault import RecordingKeyError, RecordingVault, file_name, new_key
from callflows.server import create_app
from callflows.store import Store, repo
from callflows.store.models import AuditLog, Call
from callflows.store.recordings import (
    CallRecording, NewRecording, RecordingConsent, add_recording, save_consent, sweep_expired_recordings,
)
from callflows.store.types import utcnow
from callflows.telephony.call_recording import consent_from_words
from callflows.telephony.recording_settings import parse_recording_settings, read_recording_settings
from callflows.telephony.simulator import SimulatedCall, Step
from tests.fixtures.twilio import FakeTwilioApi, LiveServer

TOKEN = "test-auth-token"
ACCOUNT = "AC" + "0" * 32
RATE = 8000


# --------------------------------------------------------------------------- #
# configuration
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("section,field", [
    ({"enabled": "yes"}, "recording.enabled"),
    ({"enabled": True, "retention_days": 0}, "recording.retention_days"),
    ({"enabled": True, "retention_days": "30 days"}, "recording.retention_days"),
    ({"enabled": True, "decline_key": "22"}, "recording.decline_key"),
    ({"enabled": True, "silence_means": "maybe"}, "recording.silence_means"),
    ({"enabled": True, "redact_with": "beep"}, "recording.redact_with"),
    ({"enabled": True, "answer_wait_s": 60}, "recording.answer_wait_s"),
    ({"enabled": True, "consent_prompt": ""}, "recording.consent_prompt"),
    ({"enabled": True, "retention": 30}, "unknown key(s) retention"),
    (["enabled"], "recording: must be a mapping"),
])
def test_a_bad_recording_section_names_the_field(section: object, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("(", r"\(").replace(")", r"\)")):
        parse_recording_settings(section)


def test_recording_is_off_unless_a_vertical_turns_it_on(tmp_path: Path) -> None:
    assert not parse_recording_settings(None).enabled
    assert not read_recording_settings(tmp_path).enabled  # no phone.yaml at all
    on = parse_recording_settings({"enabled": True, "decline_key": 9, "retention_days": 90})
    assert on.enabled and on.decline_key == "9" and on.retention_days == 90 and on.silence_means == "consent"


def _verticals_with(tmp_path: Path, recording: object) -> Path:
    root = copy_verticals(tmp_path / "verticals", ("retail_bank",))
    with (root / "retail_bank" / "phone.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + yaml.safe_dump({"recording": recording}))
    return root


def test_the_server_refuses_to_start_with_a_broken_section_or_without_a_key(
        tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(insecure_dev=True, recordings_dir=tmp_path / "rec")
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(_verticals_with(tmp_path / "a", {"enabled": True,
                                                                                        "retention_days": -3})))
    with pytest.raises(RuntimeError, match=r"retail_bank.*phone\.yaml: recording\.retention_days must be"):
        create_app(settings, sqlite_store, services=None)
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(_verticals_with(tmp_path / "b", {"enabled": True})))
    with pytest.raises(RuntimeError, match="recording is on for retail_bank but CALLFLOWS_RECORDING_KEY is not set"):
        create_app(settings, sqlite_store, services=None)
    with pytest.raises(RuntimeError, match="CALLFLOWS_RECORDING_KEY is not a Fernet key"):
        create_app(replace(settings, recording_keys=("not-a-key",)), sqlite_store, services=None)
    create_app(replace(settings, recording_keys=(new_key(),)), sqlite_store, services=None)  # starts


def test_consent_words() -> None:
    assert consent_from_words("yes that's fine") is True
    assert consent_from_words("no") is False
    assert consent_from_words("i'd rather not") is False
    assert consent_from_words("please don't record me") is False
    assert consent_from_words("i want to check my balance") is None


# --------------------------------------------------------------------------- #
# the tape and the vault
# --------------------------------------------------------------------------- #


def test_the_tape_keeps_both_channels_on_one_clock_and_a_clear_cuts_the_bot() -> None:
    tape = CallTape()
    loud = bytes([0x10]) * 160  # a loud mu-law frame
    for i in range(50):  # one second of caller audio at 0..1 s
        tape.put(CALLER, i * 20, loud)
    tape.put(BOT, 2000, loud * 50)  # a second of bot audio sent ahead, to play at 2..3 s
    tape.cut(BOT, 2500)  # the caller barged in at 2.5 s: the rest never played
    tape.redact(CALLER, 200, 400, "pii_slot")
    tape.redact(CALLER, 350, 600, "keypad")  # overlapping: merged
    caller, bot = read_wav(tape.to_wav("silence"))
    assert len(caller) == len(bot) == int(2.5 * RATE)
    assert not caller[200 * 8:601 * 8].any() and caller[:200 * 8].all() and caller[602 * 8:1000 * 8].all()
    assert not caller[1000 * 8:].any()  # silence where nobody spoke
    assert not bot[:2000 * 8].any() and bot[2000 * 8:].all()
    assert [(r.start_ms, r.end_ms, r.reason) for r in tape.redactions] == [(200, 601, "pii_slot")]
    caller_tone, _ = read_wav(tape.to_wav("tone"))
    assert np.array_equal(caller_tone[1600:4808], redaction_fill(4808 - 1600, 1600, "tone"))


def test_the_vault_encrypts_and_only_its_keys_open_a_file(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    vault = RecordingVault(tmp_path, (old,))
    name = file_name("retail_bank", "3f2a-call")
    vault.write(name, b"RIFF-audio")
    assert b"RIFF" not in (tmp_path / name).read_bytes()
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert RecordingVault(tmp_path, (new, old)).read(name) == b"RIFF-audio"  # rotated: the old key still opens
    with pytest.raises(RecordingKeyError):
        RecordingVault(tmp_path, (new,)).read(name)
    with pytest.raises(RecordingKeyError):
        RecordingVault(tmp_path).read(name)  # no key
    with pytest.raises(ValueError):
        vault.read("../../etc/passwd")


# --------------------------------------------------------------------------- #
# retention (SQLite and PostgreSQL)
# --------------------------------------------------------------------------- #


def _recorded_call(store: Store, vault: RecordingVault, retention_days: int, audio: bytes = b"RIFF") -> str:
    call_id = seed_call(store, vertical="retail_bank")
    name = file_name("retail_bank", call_id)
    size = vault.write(name, audio)
    with store.session() as s:
        save_consent(s, call_id, "given", "speech")
        add_recording(s, NewRecording(call_id, "retail_bank", name, size, 1000, [], retention_days))
    return call_id


def test_the_sweeper_deletes_expired_recordings_and_audits_each(store: Store, tmp_path: Path) -> None:
    vault = RecordingVault(tmp_path / "rec", (new_key(),))
    short, long = _recorded_call(store, vault, 1), _recorded_call(store, vault, 30)
    later = utcnow() + timedelta(days=2)
    assert sweep_expired_recordings(store, RecordingVault(tmp_path / "rec"), now=later) == [short]  # no key needed
    assert not vault.exists(file_name("retail_bank", short)) and vault.exists(file_name("retail_bank", long))
    assert sweep_expired_recordings(store, vault, now=later) == []  # idempotent
    with store.session() as s:
        rows = {r.call_id: r for r in s.scalars(select(CallRecording))}
        assert rows[short].deleted_at is not None and rows[long].deleted_at is None
        audits = list(s.scalars(select(AuditLog).where(AuditLog.action == "recording.deleted")))
    assert [(a.actor, a.target, a.detail["reason"]) for a in audits] == [
        ("system:recording-retention", f"call:{short}", "retention")]


def test_callflows_recordings_sweep_deletes_the_expired_ones(sqlite_store: Store, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from sqlalchemy import update

    from callflows.cli.main import cli

    vault = RecordingVault(tmp_path / "rec", (new_key(),))
    expired, kept = _recorded_call(sqlite_store, vault, 1), _recorded_call(sqlite_store, vault, 1)
    with sqlite_store.session() as s:
        s.execute(update(CallRecording).where(CallRecording.call_id == expired)
                  .values(expires_at=utcnow() - timedelta(minutes=1)))
    monkeypatch.setenv("CALLFLOWS_DATABASE_URL", str(sqlite_store.engine.url))
    monkeypatch.setenv("CALLFLOWS_RECORDINGS_DIR", str(tmp_path / "rec"))
    monkeypatch.delenv("CALLFLOWS_RECORDING_KEY", raising=False)  # deleting needs no key
    result = CliRunner().invoke(cli, ["recordings", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f'{{"deleted": ["{expired}"]}}'
    assert not vault.exists(file_name("retail_bank", expired)) and vault.exists(file_name("retail_bank", kept))


# --------------------------------------------------------------------------- #
# playback in the admin (SQLite and PostgreSQL)
# --------------------------------------------------------------------------- #


@pytest.fixture
def admin_with_recording(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(copy_verticals(tmp_path / "verticals", ("retail_bank",))))
    key = new_key()
    vault = RecordingVault(tmp_path / "rec", (key,))
    tape = CallTape()
    tape.put(CALLER, 0, bytes([0x20]) * 800)
    wav = tape.to_wav()
    call_id = _recorded_call(store, vault, 30, wav)
    add_users(store)
    settings = Settings(recording_keys=(key,), recordings_dir=tmp_path / "rec")
    return make_app(store, tmp_path, ADMIN_SETTINGS=settings), call_id, wav


def _played(store: Store) -> list[tuple[str, str | None]]:
    with store.session() as s:
        return [(a.actor, a.target) for a in s.scalars(select(AuditLog).where(AuditLog.action == "recording.played"))]


def test_viewers_cannot_play_a_recording(admin_with_recording, store: Store) -> None:  # noqa: ANN001
    app, call_id, _ = admin_with_recording
    client = app.test_client()
    login(client, "viewer")
    assert client.get(f"/calls/{call_id}/recording.wav").status_code == 403
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "editors and admins can play recordings" in page and "recording-player" not in page
    assert _played(store) == []


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_editors_and_admins_play_it_and_each_playback_is_audited(admin_with_recording, store: Store,
                                                                 role: str) -> None:  # noqa: ANN001
    app, call_id, wav = admin_with_recording
    client = app.test_client()
    login(client, role)
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "recording-player" in page and "given" in page
    for _ in range(2):
        resp = client.get(f"/calls/{call_id}/recording.wav")
        assert resp.status_code == 200 and resp.mimetype == "audio/wav" and resp.data == wav
        assert resp.headers["Cache-Control"] == "no-store"
    assert _played(store) == [(role, f"call:{call_id}")] * 2
    assert client.get("/calls/no-such-call/recording.wav").status_code == 404


# --------------------------------------------------------------------------- #
# whole calls
# --------------------------------------------------------------------------- #


@pytest.fixture
def recording_phone(sqlite_store: Store, tmp_path: Path, audio_cache_dir: Path,  # noqa: ARG001
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Store, RecordingVault]]:
    monkeypatch.setenv("CALLFLOWS_VERTICALS_DIR", str(_verticals_with(tmp_path, {
        "enabled": True, "retention_days": 7, "answer_wait_s": 4,
        "consent_prompt": "This call may be recorded for quality. If you'd rather not be recorded, say no."})))
    key = new_key()
    with FakeTwilioApi() as api:
        settings = replace(Settings(), twilio_auth_token=TOKEN, twilio_account_sid=ACCOUNT,
                           twilio_api_base=api.base_url, tts_cache_dir=tmp_path / "tts", silence_timeout_s=30.0,
                           default_vertical="retail_bank", recording_keys=(key,), recordings_dir=tmp_path / "rec")
        app = create_app(settings, sqlite_store)
        app.extensions["callflows"].warm_up()
        with LiveServer(app) as server:
            yield server.url, sqlite_store, RecordingVault(tmp_path / "rec", (key,))


def _wait_for(store: Store, call_sid: str, model: type, timeout: float = 20.0):  # noqa: ANN202
    deadline = time.time() + timeout
    while time.time() < deadline:
        with store.session() as s:
            call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
            if call is not None and call.ended_at is not None:
                row = s.scalar(select(model).where(model.call_id == call.id))
                if row is not None:
                    s.expunge(row)
                    return call.id, row
        time.sleep(0.2)
    raise AssertionError(f"no {model.__name__} for the call")


def _ms(t: float, origin: float) -> int:
    return int((t - origin) * 1000)


@pytest.mark.speech
def test_a_recorded_call_has_the_date_of_birth_and_keys_silenced(recording_phone, tmp_path: Path) -> None:  # noqa: ANN001
    url, store, vault = recording_phone
    sim = SimulatedCall(url, auth_token=TOKEN, keypad_tones=True)
    result = sim.run([
        Step(say="yes that's fine"),  # the recording sentence
        Step(say="i want to check my balance"),
        Step(say="my name is priya raman"),  # a person's name: a pii slot
        Step(say="february third 1975"),  # the date of birth: a pii slot
        Step(say="yes"),  # its read-back ("I have your date of birth as February 3, 1975"): personal too
        Step(dtmf="9023#"),  # the last four of the SSN, on the keypad
        Step(say="checking please"),  # which account: not personal
    ])
    call_id, rec = _wait_for(store, sim.call_sid, CallRecording)
    with store.session() as s:
        assert s.get(RecordingConsent, call_id).answer == "given"
        said = [(t.speaker, t.text) for t in repo.get_call(s, call_id).turns]
    raw = (vault.root / rec.file_name).read_bytes()
    assert b"RIFF" not in raw[:64]  # encrypted at rest
    caller, bot = read_wav(vault.read(rec.file_name))
    origin = result.media_origin
    # the last step ("checking please") is only reached when Whisper heard the name and the date
    # right in real time; what is muted must not depend on that, so the spans are checked as said
    assert origin is not None and len(result.caller_speech) >= 5 and len(result.keypad_tones) == 5

    def window(start: float, end: float, inset_ms: int = 40) -> np.ndarray:
        lo, hi = (_ms(start, origin) + inset_ms) * 8, (_ms(end, origin) - inset_ms) * 8
        assert 0 <= lo < hi <= len(caller), (lo, hi, len(caller))
        return caller[lo:hi]

    for i, what in ((2, "name"), (3, "date of birth"), (4, "read-back answer")):
        span = window(*result.caller_speech[i])
        assert not span.any(), f"{np.count_nonzero(span)} of {len(span)} samples of the {what} are not silent"
    for start, end in result.keypad_tones:
        tone = window(start, end, inset_ms=0)
        assert not tone.any(), "a keypad tone is in the recording"
    for i in (0, 1, 5)[:len(result.caller_speech) - 3]:  # the consent, the request (and the account kind): loud
        speech = window(*result.caller_speech[i]).astype(np.float64)
        assert np.sqrt(np.mean(speech ** 2)) > 300, f"caller speech {i} was lost: {rec.redactions} {said}"
    reasons = {r["reason"] for r in rec.redactions}
    assert {"pii_slot", "keypad"} <= reasons, rec.redactions
    assert "bot_readback" in reasons  # "I have your date of birth as March 5, 1985."
    for r in rec.redactions:
        channel = caller if r["channel"] == "caller" else bot
        assert not channel[r["start_ms"] * 8:r["end_ms"] * 8].any()
    assert np.abs(bot).max() > 3000  # the bot's prompts are on their channel
    picture = plot_recording(vault.read(rec.file_name), rec.redactions, tmp_path / "recording.png")
    assert picture.stat().st_size > 10_000  # the waveform with the muted spans shaded (kept in tmp_path)
    assert rec.expires_at - rec.created_at == timedelta(days=7)


@pytest.mark.speech
def test_a_caller_who_says_no_is_not_recorded(recording_phone) -> None:  # noqa: ANN001
    url, store, vault = recording_phone
    sim = SimulatedCall(url, auth_token=TOKEN)
    sim.run([Step(say="no"), Step(say="i want to check my balance")])
    call_id, consent = _wait_for(store, sim.call_sid, RecordingConsent)
    assert (consent.answer, consent.via) == ("refused", "speech")
    with store.session() as s:
        assert s.scalar(select(CallRecording).where(CallRecording.call_id == call_id)) is None
        turns = [t.text for t in repo.get_call(s, call_id).turns]
    assert not vault.exists(file_name("retail_bank", call_id))
    assert not list(vault.root.rglob("*.fernet"))
    assert len(turns) >= 3  # the call went on: greeting, the request, the bot's answer


@pytest.mark.speech
def test_the_decline_key_also_refuses(recording_phone) -> None:  # noqa: ANN001
    url, store, vault = recording_phone
    sim = SimulatedCall(url, auth_token=TOKEN, keypad_tones=True)
    sim.run([Step(dtmf="2"), Step(say="i want to check my balance")])
    call_id, consent = _wait_for(store, sim.call_sid, RecordingConsent)
    assert (consent.answer, consent.via) == ("refused", "keypad")
    with store.session() as s:
        assert s.scalar(select(CallRecording).where(CallRecording.call_id == call_id)) is None
    assert not list(vault.root.rglob("*.fernet"))


@pytest.mark.speech
def test_personal_data_said_unasked_is_muted_once_the_transcript_masking_finds_it(recording_phone) -> None:  # noqa: ANN001
    url, store, vault = recording_phone
    sim = SimulatedCall(url, auth_token=TOKEN)
    result = sim.run([Step(say="yes"), Step(say="i was born on february third 1975")])
    call_id, rec = _wait_for(store, sim.call_sid, CallRecording)
    caller, _ = read_wav(vault.read(rec.file_name))
    origin = result.media_origin
    assert origin is not None
    (yes_start, yes_end), (said_start, said_end) = result.caller_speech
    said = caller[(_ms(said_start, origin) + 40) * 8:(_ms(said_end, origin) - 40) * 8]
    with store.session() as s:
        turns = [(t.speaker, t.text) for t in repo.get_call(s, call_id).turns]
    assert len(said) and not said.any(), (rec.redactions, turns)  # no pii slot asked: muted after recognition
    assert "personal_turn" in {r["reason"] for r in rec.redactions}
    assert caller[_ms(yes_start, origin) * 8:_ms(yes_end, origin) * 8].any()  # the consent answer is kept

