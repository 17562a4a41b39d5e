"""Phone audio codec: G.711 mu-law <-> PCM16, PCM16 <-> float, resampling, 20 ms framing.

The mu-law tables reproduce CPython's (removed) ``audioop.lin2ulaw`` / ``audioop.ulaw2lin``
bit for bit (Sun's g711.c: 14-bit magnitude, bias 0x84, clip 8159).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)

PHONE_RATE = 8000
"""Twilio Media Streams sample rate (Hz)."""
WHISPER_RATE = 16000
MULAW_SILENCE = 0xFF
"""The mu-law byte for digital silence (PCM 0)."""

_BIAS = 0x84
_CLIP = 8159
_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)


def _build_decode_table() -> np.ndarray:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    t = ((u & 0x0F) << 3) + _BIAS
    t = t << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _BIAS - t, t - _BIAS).astype(np.int16)


def _build_encode_table() -> np.ndarray:
    """mu-law byte for every int16 value, indexed by ``sample + 32768``."""
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # audioop feeds 14-bit values
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _CLIP) + (_BIAS >> 2)
    seg = np.searchsorted(_SEG_END, mag, side="left")  # first segment whose end >= mag
    uval = (seg << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8)


_ULAW_TO_PCM: np.ndarray = _build_decode_table()
_PCM_TO_ULAW: np.ndarray = _build_encode_table()


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 mu-law bytes to little-endian PCM16 bytes (same sample rate)."""
    return _ULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def pcm16_to_ulaw(data: bytes) -> bytes:
    """Encode little-endian PCM16 bytes to G.711 mu-law bytes (an odd trailing byte is dropped)."""
    samples = np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.int32)
    return _PCM_TO_ULAW[samples + 32768].tobytes()


def pcm16_to_float(data: bytes) -> np.ndarray:
    """PCM16 bytes -> float32 array in [-1, 1)."""
    return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float array in [-1, 1] -> PCM16 bytes (clipped, rounded)."""
    scaled = np.clip(np.rint(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    return scaled.astype("<i2").tobytes()


def float_to_ulaw(samples: np.ndarray) -> bytes:
    """float array in [-1, 1] -> mu-law bytes."""
    return pcm16_to_ulaw(float_to_pcm16(samples))


def ulaw_to_float(data: bytes) -> np.ndarray:
    """mu-law bytes -> float32 array in [-1, 1)."""
    return _ULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)].astype(np.float32) / 32768.0


def resample(samples: np.ndarray, in_rate: int, out_rate: int, quality: str = "HQ") -> np.ndarray:
    """Resample a mono float32/int16 array with soxr (e.g. 22050 -> 8000, 8000 -> 16000)."""
    if in_rate == out_rate or len(samples) == 0:
        return np.asarray(samples)
    import soxr  # the speech extra; imported here so codec itself needs only numpy

    return soxr.resample(samples, in_rate, out_rate, quality=quality)


def resample_pcm16(data: bytes, in_rate: int, out_rate: int) -> bytes:
    """Resample PCM16 bytes."""
    return float_to_pcm16(resample(pcm16_to_float(data), in_rate, out_rate))


def frames(
    pcm8k_bytes: bytes, ms: int = 20, *, encoding: Literal["mulaw", "pcm16"] = "mulaw"
) -> Iterator[bytes]:
    """Split 8 kHz audio into phone frames of ``ms`` milliseconds of mu-law (160 bytes for 20 ms).

    ``encoding`` says what the input is: mu-law bytes (default, passed through) or PCM16
    (encoded first). The last frame is padded with mu-law silence.
    """
    ulaw = pcm16_to_ulaw(pcm8k_bytes) if encoding == "pcm16" else pcm8k_bytes
    size = PHONE_RATE * ms // 1000
    for start in range(0, len(ulaw), size):
        chunk = ulaw[start : start + size]
        if len(chunk) < size:
            chunk = chunk + bytes([MULAW_SILENCE]) * (size - len(chunk))
        yield chunk


def pcm16_frames(pcm: bytes, ms: int = 20, rate: int = PHONE_RATE) -> Iterator[bytes]:
    """Split PCM16 audio into frames of ``ms`` milliseconds (zero-padding the last), e.g. for the VAD."""
    size = rate * ms // 1000 * 2
    for start in range(0, len(pcm), size):
        chunk = pcm[start : start + size]
        if len(chunk) < size:
            chunk = chunk + b"\x00" * (size - len(chunk))
        yield chunk


def duration_ms(pcm16: bytes, rate: int = PHONE_RATE) -> int:
    """Duration of PCM16 mono audio in milliseconds."""
    return len(pcm16) // 2 * 1000 // rate


def rms_dbfs(pcm16: bytes) -> float:
    """RMS level of PCM16 audio in dBFS (-120 for digital silence or empty input)."""
    x = pcm16_to_float(pcm16)
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 1e-6 else -120.0
