"""A call's two-channel recording while the call goes on: caller and bot on one clock.

Why its own clock rather than appending audio as it comes: the caller's audio arrives as a
steady 20 ms stream (placed by the stream's own timestamps), but the bot's is sent up to
1.5 s ahead of playback, in bursts, and a barge-in (``clear``) drops what was buffered and
never played.  Each bot frame is placed where the caller heard it (the outbound pacer knows
when each frame starts playing) and a clear cuts the bot channel at the moment of the clear,
so the two channels line up with what was actually said, with silence where nobody spoke.

Kept in memory as mu-law (8 kB/s per channel: a 30-minute call is under 30 MB) so nothing
personal touches the disk unencrypted; :meth:`CallTape.to_wav` applies the redactions and
gives a PCM16 stereo WAV (left: caller, right: bot) for the vault.
"""

from __future__ import annotations

import io
import threading
import wave
from dataclasses import dataclass

import numpy as np

from callflows.speech import codec

RATE = 8000
SAMPLES_PER_MS = RATE // 1000
ULAW_SILENCE = 0xFF
CALLER, BOT = "caller", "bot"
TONE_HZ = 1000.0
TONE_LEVEL = 0.1  # -20 dBFS: audible as "something was removed here", not loud
MAX_SECONDS = 4 * 3600  # a longer call keeps its first four hours

RedactionJson = dict[str, str | int]
"""A redaction as stored with the recording: channel, start_ms, end_ms, reason."""


@dataclass(frozen=True)
class Redaction:
    """A span replaced by silence or the tone; no content, only where and why."""

    channel: str  # caller | bot
    start_ms: int
    end_ms: int
    reason: str  # pii_slot, personal_turn, keypad, bot_readback

    def to_json(self) -> RedactionJson:
        return {"channel": self.channel, "start_ms": self.start_ms, "end_ms": self.end_ms, "reason": self.reason}


class CallTape:
    """Thread-safe: the socket thread writes the caller, the dialogue and filler threads the bot."""

    def __init__(self, max_seconds: int = MAX_SECONDS):
        self._tracks = {CALLER: bytearray(), BOT: bytearray()}
        self._redactions: list[Redaction] = []
        self._lock = threading.Lock()
        self._max = max_seconds * RATE
        self.truncated = False

    # ---------------------------------------------------------------- writing
    def put(self, channel: str, at_ms: float, mulaw: bytes) -> None:
        """``mulaw`` starting ``at_ms`` after the call's origin (gaps become silence)."""
        start = max(int(round(at_ms * SAMPLES_PER_MS)), 0)
        with self._lock:
            track = self._tracks[channel]
            if start + len(mulaw) > self._max:
                self.truncated = True
                mulaw = mulaw[:max(self._max - start, 0)]
                if not mulaw:
                    return
            if start > len(track):
                track.extend(b"\xff" * (start - len(track)))
            track[start:start + len(mulaw)] = mulaw

    def cut(self, channel: str, at_ms: float) -> None:
        """Drop what was placed after ``at_ms`` (bot audio a clear removed before it played)."""
        with self._lock:
            del self._tracks[channel][max(int(at_ms * SAMPLES_PER_MS), 0):]

    def end_ms(self, channel: str) -> float:
        """Where the channel's audio ends now (for the caller: the position of "now")."""
        with self._lock:
            return len(self._tracks[channel]) / SAMPLES_PER_MS

    def redact(self, channel: str, start_ms: float, end_ms: float, reason: str) -> None:
        if end_ms <= start_ms:
            return
        with self._lock:
            self._redactions.append(Redaction(channel, max(int(start_ms), 0), int(end_ms) + 1, reason))

    @property
    def redactions(self) -> list[Redaction]:
        """The spans, per channel, overlapping ones merged (the first reason kept)."""
        with self._lock:
            spans = sorted(self._redactions, key=lambda r: (r.channel, r.start_ms))
        merged: list[Redaction] = []
        for span in spans:
            last = merged[-1] if merged else None
            if last is not None and last.channel == span.channel and span.start_ms <= last.end_ms:
                merged[-1] = Redaction(last.channel, last.start_ms, max(last.end_ms, span.end_ms), last.reason)
            else:
                merged.append(span)
        return merged

    # ---------------------------------------------------------------- output
    @property
    def duration_ms(self) -> int:
        with self._lock:
            return max(len(t) for t in self._tracks.values()) // SAMPLES_PER_MS

    def to_wav(self, redact_with: str = "silence") -> bytes:
        """PCM16 stereo WAV at 8 kHz, left the caller, right the bot, every redaction applied."""
        with self._lock:
            caller, bot = bytes(self._tracks[CALLER]), bytes(self._tracks[BOT])
        length = max(len(caller), len(bot))
        channels = {}
        for name, track in ((CALLER, caller), (BOT, bot)):
            pcm = np.frombuffer(codec.ulaw_to_pcm16(track.ljust(length, b"\xff")), dtype="<i2").copy()
            channels[name] = pcm
        for span in self.redactions:
            lo, hi = span.start_ms * SAMPLES_PER_MS, min(span.end_ms * SAMPLES_PER_MS, length)
            if hi <= lo:
                continue
            channels[span.channel][lo:hi] = _fill(hi - lo, lo, redact_with)
        stereo = np.column_stack((channels[CALLER], channels[BOT])).astype("<i2")
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            wav.writeframes(stereo.tobytes())
        return out.getvalue()


def _fill(count: int, offset: int, redact_with: str) -> np.ndarray:
    if redact_with != "tone":
        return np.zeros(count, dtype="<i2")
    t = (np.arange(count) + offset) / RATE
    return (np.sin(2 * np.pi * TONE_HZ * t) * TONE_LEVEL * 32767).astype("<i2")


def redaction_fill(count: int, offset: int, redact_with: str) -> np.ndarray:
    """What a redacted span holds (for tests and tools checking a decoded recording)."""
    return _fill(count, offset, redact_with)


def read_wav(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A recording's two channels as int16 arrays (caller, bot)."""
    with wave.open(io.BytesIO(data), "rb") as wav:
        if wav.getnchannels() != 2 or wav.getsampwidth() != 2:
            raise ValueError("not a two-channel 16-bit recording")
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0].copy(), frames[:, 1].copy()
