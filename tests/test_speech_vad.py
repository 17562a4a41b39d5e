"""Voice activity, slot-aware endpointing and backchannels, on espeak caller audio."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("webrtcvad")

from callflows.speech import Expectation  # noqa: E402
from callflows.speech.vad import (  # noqa: E402
    EndpointConfig,
    Endpointer,
    NoInput,
    SpeechEnded,
    SpeechStarted,
    VoiceActivity,
    is_backchannel,
)
from tests.fixtures.audio import silence_pcm16, tone_pcm16  # noqa: E402

YES_NO = Expectation(slot="confirm", yes_no=True)
DIGITS = Expectation(slot="last4", slot_type="digits", digits_length=4)


def _types(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def test_voice_activity(caller_pcm16: Callable[..., bytes]) -> None:
    vad = VoiceActivity(aggressiveness=2)
    speech = caller_pcm16("yes")
    frames = [speech[i : i + 320] for i in range(0, len(speech) - 319, 320)]
    assert sum(vad.is_speech(f) for f in frames) >= len(frames) // 2
    assert not vad.is_speech(silence_pcm16(20))
    assert not vad.is_speech(tone_pcm16(20, dbfs=-60))  # under the energy floor
    with pytest.raises(ValueError):
        vad.is_speech(b"\x00" * 100)


def test_yes_no_turn_ends_after_400ms(caller_pcm16: Callable[..., bytes]) -> None:
    ep = Endpointer(expectation=YES_NO)
    speech = caller_pcm16("yes")
    events = ep.feed_audio(silence_pcm16(300) + speech + silence_pcm16(400))
    assert _types(events) == ["SpeechStarted", "SpeechEnded"]
    started, ended = events
    assert isinstance(started, SpeechStarted) and 200 <= started.at_ms <= 400
    assert 400 <= len(started.audio) // 16 <= 500  # 200 ms pre-roll + >= 200 ms of voiced onset
    assert isinstance(ended, SpeechEnded) and ended.trailing_silence_ms >= 350
    assert len(ended.audio) >= len(speech)  # pre-roll + speech + trailing silence
    assert not ep.in_speech


def test_digits_turn_waits_through_400ms_pause(caller_pcm16: Callable[..., bytes]) -> None:
    ep = Endpointer(expectation=DIGITS)
    events = ep.feed_audio(silence_pcm16(300) + caller_pcm16("four five") + silence_pcm16(400))
    assert _types(events) == ["SpeechStarted"]
    assert ep.in_speech
    events = ep.feed_audio(caller_pcm16("six seven") + silence_pcm16(1300))
    assert _types(events) == ["SpeechEnded"]  # one turn across the pause


def test_default_silence_and_set_expectation(caller_pcm16: Callable[..., bytes]) -> None:
    ep = Endpointer()
    assert _types(ep.feed_audio(caller_pcm16("hello") + silence_pcm16(400))) == ["SpeechStarted"]
    assert _types(ep.feed_audio(silence_pcm16(300))) == ["SpeechEnded"]  # 600 ms default
    ep.set_expectation(YES_NO)
    assert _types(ep.feed_audio(caller_pcm16("no") + silence_pcm16(400))) == ["SpeechStarted", "SpeechEnded"]


def test_short_burst_is_not_speech() -> None:
    ep = Endpointer(expectation=YES_NO)
    assert ep.feed_audio(silence_pcm16(200) + tone_pcm16(100, freq=300) + silence_pcm16(1000)) == []
    assert not ep.in_speech
    assert _types(ep.feed_audio(tone_pcm16(400, freq=300) + silence_pcm16(400))) == ["SpeechStarted", "SpeechEnded"]


def test_slot_aware_silence() -> None:
    cfg = EndpointConfig()
    assert cfg.end_silence_ms(YES_NO) == 350
    assert cfg.end_silence_ms(DIGITS) == 1200
    assert cfg.end_silence_ms(Expectation(slot="dob", slot_type="date")) == 1200
    assert cfg.end_silence_ms(Expectation(slot="ssn", slot_type="text", pii=True)) == 1200
    assert cfg.end_silence_ms(Expectation(slot="reason", slot_type="text")) == 600
    assert cfg.end_silence_ms(None) == 600


def test_no_input_and_max_turn() -> None:
    ep = Endpointer(EndpointConfig(no_input_ms=1000))
    events = ep.feed_audio(silence_pcm16(1500))
    assert len(events) == 1 and isinstance(events[0], NoInput) and events[0].waited_ms == 1000
    ep = Endpointer(EndpointConfig(max_turn_ms=1000))
    events = ep.feed_audio(tone_pcm16(1500, freq=300))
    assert _types(events) == ["SpeechStarted", "SpeechEnded", "SpeechStarted"]  # cut, and a new turn
    assert events[1].trailing_silence_ms == 0


@pytest.mark.parametrize("text", ["uh-huh", "Okay.", "mm-hmm", "Right.", "yeah", "Yeah, yeah.", "uh huh", "I see."])
def test_backchannel(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize("text", ["", "no", "wait", "yeah tuesday works", "okay so I need to cancel", "right now"])
def test_not_backchannel(text: str) -> None:
    assert not is_backchannel(text)
