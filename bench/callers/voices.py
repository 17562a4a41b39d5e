"""Caller voices: text -> 8 kHz mu-law as it arrives over a phone line.

Families: espeak-ng (four accents at two speeds), CMU flite (slt, rms, awb) and Piper. Only
the Piper "joe" voice is installed, and it is the bot's own voice, so the Piper callers use
joe slowed or sped up (length_scale 1.2 / 0.9) and pitch-shifted with sox (-300 / +250 cents),
which makes them sound like different people but is the same timbre underneath (said in
bench/README.md). Every utterance is band-passed to 300-3400 Hz and resampled to 8 kHz with
sox, then gets a random level change (uniform, +-6 dB) and light line noise (white, about
-62 dBFS) before G.711 mu-law encoding. Numbers can instead be said by a real person:
FSDD recordings (Free Spoken Digit Dataset, CC BY-SA 4.0, 4 speakers), one recording per digit
concatenated with 150-400 ms pauses.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from callflows.speech import codec

FSDD_DIR = Path("/work/shared/data/audio/fsdd")
VOICES: dict[str, list[str]] = {
    "espeak": ["espeak/en-us/150", "espeak/en-gb/125", "espeak/en-gb-scotland/150", "espeak/en-029/125",
               "espeak/en-us/125", "espeak/en-gb/150", "espeak/en-gb-scotland/125", "espeak/en-029/150"],
    "flite": ["flite/slt", "flite/rms", "flite/awb"],
    "piper": ["piper/joe/1.2/-300", "piper/joe/0.9/250"],
}
FAMILIES = list(VOICES)
NOISE_DBFS = -62.0
_piper: dict[float, object] = {}


def family_of(voice: str) -> str:
    return voice.split("/")[0]


def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "callflows-caller-voices"
    path.mkdir(exist_ok=True)
    return path


def _synth_wav(text: str, voice: str, wav: Path) -> list[str]:
    """Write ``text`` in ``voice`` to ``wav``; returns extra sox effects for the voice."""
    parts = voice.split("/")
    if parts[0] == "espeak":
        subprocess.run(["espeak-ng", "-v", parts[1], "-s", parts[2], "-w", str(wav), text], check=True,
                       capture_output=True)
        return []
    if parts[0] == "flite":
        subprocess.run(["flite", "-voice", parts[1], "-t", text, "-o", str(wav)], check=True, capture_output=True)
        return []
    from callflows.speech.tts import PiperTTS

    scale = float(parts[2])
    tts = _piper.setdefault(scale, PiperTTS(length_scale=scale))
    audio = codec.ulaw_to_float(tts.synthesize(text, normalize=False))  # type: ignore[attr-defined]
    pcm = codec.float_to_pcm16(codec.resample(audio, codec.PHONE_RATE, 16000))  # sox's pitch wants room above 4 kHz
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    return ["pitch", parts[3]]


def clean_speech(text: str, voice: str) -> np.ndarray:
    """The voice saying ``text``, band-passed, 8 kHz float, trimmed (cached on disk)."""
    key = hashlib.sha256(f"v1|{voice}|{text}".encode()).hexdigest()[:24]
    out = _cache_dir() / f"{key}.f32"
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "v.wav"
            effects = _synth_wav(text, voice, wav)
            part = out.with_suffix(".part")
            subprocess.run(["sox", "-q", str(wav), "-t", "raw", "-r", "8000", "-c", "1", "-e", "floating-point",
                            "-b", "32", str(part), *effects, "silence", "1", "0.02", "-50d", "reverse", "silence",
                            "1", "0.02", "-50d", "reverse", "sinc", "300-3400", "norm", "-3"], check=True)
            part.replace(out)
    return np.fromfile(out, dtype=np.float32)


def phone_line(samples: np.ndarray, rng: random.Random) -> bytes:
    """A random level change (+-6 dB) and light line noise, then mu-law."""
    gain = 10 ** (rng.uniform(-6.0, 6.0) / 20)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0.0, 10 ** (NOISE_DBFS / 20), samples.shape)
    return codec.float_to_ulaw(np.clip(samples * gain + noise, -1.0, 1.0).astype(np.float32))


def speak(text: str, voice: str, rng: random.Random) -> bytes:
    """``text`` in ``voice`` as it arrives from the phone line (8 kHz mu-law)."""
    return phone_line(clean_speech(text, voice), rng)


def _fsdd(digit: str, speaker: str, index: int) -> np.ndarray:
    with wave.open(str(FSDD_DIR / f"{digit}_{speaker}_{index}.wav")) as w:
        pcm = w.readframes(w.getnframes())
        rate = w.getframerate()
    samples = codec.pcm16_to_float(pcm)
    if rate != codec.PHONE_RATE:
        samples = codec.resample(samples, rate, codec.PHONE_RATE)
    peak = float(np.max(np.abs(samples))) or 1.0
    return samples * (0.7 / peak)


def human_digits(digits: str, speaker: str, rng: random.Random) -> bytes:
    """``digits`` said one by one by an FSDD speaker, 150-400 ms apart, over the phone line."""
    pieces: list[np.ndarray] = []
    for n, d in enumerate(digits):
        if n:
            pieces.append(np.zeros(int(codec.PHONE_RATE * rng.uniform(0.15, 0.40)), dtype=np.float32))
        pieces.append(_fsdd(d, speaker, rng.randrange(15)))
    return phone_line(np.concatenate(pieces).astype(np.float32), rng)


def available() -> dict[str, bool]:
    """Which engines this machine has (flite: apt-get install flite)."""
    import shutil

    ok = {"espeak": bool(shutil.which("espeak-ng")), "flite": bool(shutil.which("flite"))}
    try:
        import piper  # noqa: F401

        ok["piper"] = True
    except ImportError:
        ok["piper"] = False
    return ok
