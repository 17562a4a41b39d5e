"""G.711 mu-law, PCM conversions, resampling and framing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from callflows.speech import codec


def _tone(freq: float, rate: int, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def test_mulaw_known_values() -> None:
    # values from the G.711 tables as produced by CPython's audioop
    pcm = np.array([0, -1, 1, 1000, -1000, 32767, -32768, 8159 * 4, 100], dtype="<i2").tobytes()
    assert list(codec.pcm16_to_ulaw(pcm)) == [0xFF, 0x7E, 0xFF, 0xCE, 0x4E, 0x80, 0x00, 0x80, 0xF2]
    decoded = np.frombuffer(codec.ulaw_to_pcm16(bytes([0x00, 0x7F, 0x80, 0xFF, 0xCE, 0x4E])), dtype="<i2")
    assert decoded.tolist() == [-32124, 0, 32124, 0, 988, -988]


def test_mulaw_matches_audioop_for_every_value() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # gone in Python 3.13
    every_pcm = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert codec.pcm16_to_ulaw(every_pcm) == audioop.lin2ulaw(every_pcm, 2)
    every_ulaw = bytes(range(256))
    assert codec.ulaw_to_pcm16(every_ulaw) == audioop.ulaw2lin(every_ulaw, 2)


def test_mulaw_round_trip() -> None:
    every_ulaw = bytes(range(256))
    assert codec.pcm16_to_ulaw(codec.ulaw_to_pcm16(every_ulaw)).replace(b"\x7f", b"\xff") == every_ulaw.replace(
        b"\x7f", b"\xff"
    )  # 0x7F and 0xFF are both zero
    x = _tone(440, 8000)
    back = codec.ulaw_to_float(codec.float_to_ulaw(x))
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - back) ** 2))
    assert snr > 30  # mu-law keeps ~38 dB SNR on a loud tone


def test_pcm16_float_conversion() -> None:
    pcm = np.array([0, 16384, -16384, 32767, -32768], dtype="<i2").tobytes()
    x = codec.pcm16_to_float(pcm)
    assert x.dtype == np.float32
    assert x.tolist() == pytest.approx([0, 0.5, -0.5, 32767 / 32768, -1.0])
    assert codec.float_to_pcm16(x) == pcm
    assert np.frombuffer(codec.float_to_pcm16(np.array([2.0, -2.0])), dtype="<i2").tolist() == [32767, -32768]


@pytest.mark.parametrize(("rate_in", "rate_out"), [(22050, 8000), (8000, 16000)])
def test_resample_keeps_length_and_pitch(rate_in: int, rate_out: int) -> None:
    pytest.importorskip("soxr")
    x = _tone(1000, rate_in)
    y = codec.resample(x, rate_in, rate_out)
    assert abs(len(y) - len(x) * rate_out / rate_in) <= 2
    assert _peak_hz(y, rate_out) == pytest.approx(1000, abs=5)
    pcm = codec.resample_pcm16(codec.float_to_pcm16(x), rate_in, rate_out)
    assert abs(len(pcm) // 2 - len(y)) <= 2


def test_frames_are_20ms_and_padded() -> None:
    ulaw = bytes(b for b in range(256) if b != 0x7F)[:200] * 2  # 400 bytes = 50 ms (0x7F would decode as 0xFF)
    out = list(codec.frames(ulaw))
    assert [len(f) for f in out] == [160, 160, 160]
    assert b"".join(out)[:400] == ulaw
    assert out[-1][80:] == b"\xff" * 80
    pcm = codec.ulaw_to_pcm16(ulaw)
    assert list(codec.frames(pcm, encoding="pcm16")) == out
    assert [len(f) for f in codec.frames(ulaw, ms=10)] == [80] * 5
    assert [len(f) for f in codec.pcm16_frames(pcm)] == [320, 320, 320]


def test_levels_and_duration() -> None:
    assert codec.rms_dbfs(b"\x00\x00" * 160) == -120.0
    assert codec.rms_dbfs(codec.float_to_pcm16(_tone(440, 8000, amp=1.0))) == pytest.approx(-3.0, abs=0.1)
    assert codec.duration_ms(b"\x00\x00" * 8000) == 1000
