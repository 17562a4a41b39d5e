"""Piper voice -> 8 kHz mu-law, streaming, prompt cache (real model)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callflows.speech import codec
from callflows.speech.tts import PromptCache

pytestmark = pytest.mark.speech


def _level_dbfs(ulaw: bytes) -> float:
    return codec.rms_dbfs(codec.ulaw_to_pcm16(ulaw))


def test_piper_sentence_is_phone_audio(piper_tts: Any) -> None:
    assert piper_tts.sample_rate == 22050
    audio = piper_tts.synthesize("Thanks for calling. How can I help you today?")
    seconds = len(audio) / codec.PHONE_RATE  # one mu-law byte per 8 kHz sample
    assert 1.5 < seconds < 6
    assert _level_dbfs(audio) > -30  # not silent
    pcm = codec.pcm16_to_float(codec.ulaw_to_pcm16(audio))
    spectrum = np.abs(np.fft.rfft(pcm))
    freqs = np.fft.rfftfreq(len(pcm), 1 / codec.PHONE_RATE)
    assert freqs[np.argmax(spectrum)] < 1500  # speech energy, not aliasing noise


def test_stream_yields_first_sentence_early(piper_tts: Any) -> None:
    text = (
        "Thanks for calling. I can book, move or cancel an appointment for you, and I can also "
        "answer questions about our opening hours and prices. What would you like to do today?"
    )
    started = time.perf_counter()
    stream = piper_tts.synthesize_stream(text)
    first = next(stream)
    first_s = time.perf_counter() - started
    rest = list(stream)
    total_s = time.perf_counter() - started
    assert len(rest) >= 2  # one piece per sentence
    assert len(first) < sum(map(len, rest))
    assert first_s < total_s / 2
    assert _level_dbfs(first) > -30
    # sentences after the first start with a short pause
    assert rest[0][: codec.PHONE_RATE // 10] == b"\xff" * (codec.PHONE_RATE // 10)


def test_prompt_cache_disk_and_memory(piper_tts: Any, tmp_path: Path) -> None:
    cache = PromptCache(piper_tts, tmp_path / "tts-cache")
    text = "Please hold."
    audio = cache.get(text)
    assert _level_dbfs(audio) > -30
    path = cache.path(text)
    assert path.exists() and path.read_bytes() == audio
    assert path.name == f"{cache.key(text)}.ulaw" and len(cache.key(text)) == 64
    assert cache.get(text) is audio  # memory
    path.write_bytes(b"\xff" * 8)  # a fresh cache reads the file, it does not synthesise again
    assert PromptCache(piper_tts, tmp_path / "tts-cache").get(text) == b"\xff" * 8
    assert cache.key("Please hold!") != cache.key(text)
    other_voice = type(piper_tts)(voice_id="other-voice", models=None)
    assert PromptCache(other_voice, tmp_path / "tts-cache").key(text) != cache.key(text)
    assert cache.warm(["Please hold."]) == 1
