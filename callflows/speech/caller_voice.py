"""A simulated caller's voice: text -> 8 kHz mu-law as it arrives from a phone line.

Caller speech is synthesised with espeak-ng (a different voice from the bot's Piper voice)
or optionally Piper, then made to sound like a phone line with sox: band-passed to
300-3400 Hz, 8 kHz, G.711 mu-law. Results are cached on disk by content hash.
Used by the call simulator, the benchmarks and the tests.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from callflows.speech import codec

PHONE_RATE = 8000
_cache_dir: list[Path] = []  # at most one entry: the directory in use


def set_audio_cache_dir(path: str | Path) -> Path:
    """Use ``path`` for the synthesised-audio cache (the session fixture points it at a tmp dir)."""
    _cache_dir[:] = [Path(path)]
    _cache_dir[0].mkdir(parents=True, exist_ok=True)
    return _cache_dir[0]


def audio_cache() -> Path:
    """The cache directory: $CALLFLOWS_TEST_AUDIO_CACHE, the one set, or a fresh temp dir."""
    if not _cache_dir:
        env = os.environ.get("CALLFLOWS_TEST_AUDIO_CACHE")
        set_audio_cache_dir(env or tempfile.mkdtemp(prefix="callflows-audio-"))
    return _cache_dir[0]


def _phone_line(wav: Path, out: Path) -> None:
    subprocess.run(
        ["sox", "-q", str(wav), "-t", "raw", "-r", str(PHONE_RATE), "-c", "1", "-e", "u-law",
         str(out), "silence", "1", "0.02", "-50d", "reverse", "silence", "1", "0.02", "-50d", "reverse",
         "sinc", "300-3400", "norm", "-3"],
        check=True,
    )


def caller_audio(
    text: str,
    *,
    engine: Literal["espeak", "piper"] = "espeak",
    voice: str = "en-us",
    speed: int = 130,
    before_ms: int = 0,
    after_ms: int = 0,
) -> bytes:
    """``text`` spoken by a caller as 8 kHz mu-law bytes, as it arrives from the phone line
    (leading and trailing silence trimmed).

    espeak-ng (``voice``, ``speed`` in words per minute) by default; ``engine="piper"`` uses
    the bot's Piper voice instead. ``before_ms``/``after_ms`` add line silence around it.
    """
    key = hashlib.sha256(f"v2|{engine}|{voice}|{speed}|{text}".encode()).hexdigest()[:24]
    out = audio_cache() / f"{key}.ulaw"
    if not out.exists():
        tmp = out.with_suffix(".part")
        if engine == "espeak":
            wav = out.with_suffix(".wav")
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
                check=True, capture_output=True,
            )
            _phone_line(wav, tmp)
            wav.unlink()
        else:
            from callflows.speech.tts import PiperTTS

            tmp.write_bytes(PiperTTS().synthesize(text, normalize=False))
        tmp.replace(out)
    return with_silence(out.read_bytes(), before_ms, after_ms)


def caller_pcm16(text: str, **kwargs: Any) -> bytes:
    """Like ``caller_audio`` but decoded to 8 kHz PCM16 (what the VAD and STT take)."""
    return codec.ulaw_to_pcm16(caller_audio(text, **kwargs))


def silence_ulaw(ms: int) -> bytes:
    """``ms`` of mu-law line silence."""
    return bytes([codec.MULAW_SILENCE]) * (PHONE_RATE * ms // 1000)


def silence_pcm16(ms: int) -> bytes:
    """``ms`` of 8 kHz PCM16 silence."""
    return b"\x00\x00" * (PHONE_RATE * ms // 1000)


def with_silence(ulaw: bytes, before_ms: int = 0, after_ms: int = 0) -> bytes:
    """mu-law audio with line silence before and after."""
    return silence_ulaw(before_ms) + ulaw + silence_ulaw(after_ms)


def tone_pcm16(ms: int, freq: float = 440.0, dbfs: float = -10.0) -> bytes:
    """A sine burst (a click/cough stand-in) as 8 kHz PCM16."""
    t = np.arange(PHONE_RATE * ms // 1000) / PHONE_RATE
    return codec.float_to_pcm16(10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t))


