"""Whisper tiny.en on espeak caller audio through a simulated phone line (real model).

Checks are loose (word error rate under a threshold), since the synthetic caller voice is
robotic and tiny.en at 8 kHz is error-prone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from callflows.speech import Expectation
from callflows.speech.bias import vosk_vocabulary, whisper_prompt
from callflows.speech.stt import SpeechRecognizer, Transcript, WhisperRecognizer
from callflows.speech.wer import wer, words
from tests.fixtures.audio import silence_pcm16

YES_NO = Expectation(slot="confirm", yes_no=True)
DIGITS = Expectation(slot="last4", slot_type="digits", digits_length=4)
DATE = Expectation(slot="date", slot_type="date")


def test_wer_helper() -> None:
    assert words("4567, January 15th at 3 p.m.") == "four five six seven january fifteenth at three p m".split()
    assert wer("four five six seven", "4.5.6.7.") == 0
    assert wer("a b c d", "a x c") == 0.5


pytestmark = pytest.mark.speech


@pytest.mark.parametrize(
    ("spoken", "expectation", "max_wer"),
    [
        ("i would like to book an appointment", None, 0.35),
        ("yes", YES_NO, 0.0),
        ("no", YES_NO, 0.0),
        ("next wednesday", DATE, 0.5),
        ("next tuesday", DATE, 0.5),
        ("four five six seven", DIGITS, 0.25),
    ],
)
def test_transcribes_phone_audio(
    whisper_recognizer: WhisperRecognizer,
    caller_pcm16: Callable[..., bytes],
    spoken: str,
    expectation: Expectation | None,
    max_wer: float,
) -> None:
    audio = caller_pcm16(spoken, before_ms=200, after_ms=200)
    started = time.perf_counter()
    transcript = whisper_recognizer.transcribe(audio, expectation)
    elapsed = time.perf_counter() - started
    assert wer(spoken, transcript.text) <= max_wer, transcript
    assert 0.0 < transcript.confidence <= 1.0
    assert transcript.duration_ms == len(audio) // 16
    assert elapsed < 5  # ~0.45 s on a quiet 2-core machine; generous for a busy one


def _feed(stream: Any, pcm: bytes, chunk: int = 320) -> None:
    for i in range(0, len(pcm), chunk):
        stream.accept(pcm[i : i + chunk])


def test_stream_decodes_in_background(whisper_recognizer: WhisperRecognizer, caller_pcm16: Callable[..., bytes]) -> None:
    assert isinstance(whisper_recognizer, SpeechRecognizer)
    assert whisper_recognizer.incremental and whisper_recognizer.pause_trigger_ms
    stream = whisper_recognizer.start(DIGITS)
    _feed(stream, caller_pcm16("four five six seven", before_ms=100) + silence_pcm16(400))
    deadline = time.monotonic() + 10
    while not stream.partial() and time.monotonic() < deadline:  # the pause-triggered decode
        time.sleep(0.05)
    assert wer("four five six seven", stream.partial()) <= 0.25
    started = time.perf_counter()
    transcript = stream.finish()
    assert time.perf_counter() - started < 0.2  # nothing new to decode (loose: a shared machine)
    assert stream.background_decodes >= 1 and stream.reused_background
    assert wer("four five six seven", transcript.text) <= 0.25
    assert transcript.duration_ms == 100 + len(caller_pcm16("four five six seven")) // 16 + 400


def test_stream_decodes_again_when_speech_follows(
    whisper_recognizer: WhisperRecognizer, caller_pcm16: Callable[..., bytes]
) -> None:
    stream = whisper_recognizer.start(None)
    _feed(stream, caller_pcm16("i would like") + silence_pcm16(300))
    _feed(stream, caller_pcm16("to book an appointment"))  # no pause after it: finish() must decode
    transcript = stream.finish()
    assert not stream.reused_background
    assert wer("i would like to book an appointment", transcript.text) <= 0.35


def test_non_incremental_and_silence(whisper_recognizer: WhisperRecognizer, caller_pcm16: Callable[..., bytes]) -> None:
    plain = WhisperRecognizer(incremental=False)  # same model from the registry
    assert plain.model is whisper_recognizer.model
    stream = plain.start(YES_NO)
    _feed(stream, caller_pcm16("yes") + silence_pcm16(300))
    assert stream.partial() == ""
    assert words(stream.finish().text) == ["yes"]
    assert stream.background_decodes == 0
    quiet = whisper_recognizer.start(None)
    _feed(quiet, silence_pcm16(1000))
    assert quiet.finish() == Transcript("", 0.0, 1000)  # no hallucinated "thank you"


def test_bias_from_expectation() -> None:
    assert "four five six seven" in (whisper_prompt(DIGITS) or "").lower()
    date_prompt = whisper_prompt(DATE) or ""
    assert "January" in date_prompt and "Tuesday" in date_prompt
    choice = Expectation(slot="visit", slot_type="enum", choices=("cleaning", "checkup"))
    assert "cleaning" in (whisper_prompt(choice) or "") and "checkup" in (whisper_prompt(choice) or "")
    assert whisper_prompt(None, base_prompt="Hi.") == "Hi."
    assert vosk_vocabulary(None) is None
    assert vosk_vocabulary(Expectation(slot="reason", slot_type="text")) is None
    assert vosk_vocabulary(YES_NO)[:2] == ["yes", "no"]
    assert set(vosk_vocabulary(DIGITS)) >= {"zero", "nine", "oh", "[unk]"}
    assert vosk_vocabulary(choice) == ["cleaning", "checkup", "[unk]"]


def test_constrained_vocabulary_per_slot() -> None:
    from callflows.speech.bias import constrained_words

    assert constrained_words(None) is None
    assert constrained_words(Expectation(slot="name", slot_type="person_name")) is None
    assert constrained_words(Expectation(slot="reason", slot_type="text")) is None
    time_words = constrained_words(Expectation(slot="time", slot_type="time")) or ()
    assert {"ten", "morning", "o'clock"} <= set(time_words) and "and" not in time_words
    assert {"double", "oh", "my", "number"} <= set(constrained_words(DIGITS) or ())
    choice = constrained_words(Expectation(slot="room", slot_type="enum", choices=("family_room", "double")))
    assert {"family", "room", "double"} <= set(choice or ())


def test_token_constraint_allows_only_the_slot_words(whisper_recognizer: WhisperRecognizer) -> None:
    from callflows.speech.token_constraint import allowed_ids

    tok = whisper_recognizer.model.hf_tokenizer
    allowed = allowed_ids(tok, ("ten", "morning", "in", "the"))
    for text in (" Ten in the morning.", " 10 in the morning", " 555-1234"):
        assert set(tok.encode(text, add_special_tokens=False).ids) <= allowed, text
    for text in (" And", " and", " dentist", "<|startoftranscript|>"):
        assert not set(tok.encode(text, add_special_tokens=False).ids) <= allowed, text


def test_constrained_decode_reads_the_slot_words(whisper_recognizer: WhisperRecognizer,
                                                  caller_pcm16: Callable[..., bytes]) -> None:
    """The restricted reading is the last alternative and uses only the slot's words; a free
    decode of the same audio is unchanged by it."""
    from callflows.speech.bias import constrained_words
    from callflows.speech.token_constraint import allowed_ids

    time_slot = Expectation(slot="time", slot_type="time")
    audio = caller_pcm16("ten in the morning", before_ms=200, after_ms=200)
    free = whisper_recognizer.decode(audio, whisper_prompt(time_slot), hypotheses=3)
    both = whisper_recognizer.decode(audio, whisper_prompt(time_slot), hypotheses=3,
                                     words=constrained_words(time_slot))
    assert both.text == free.text
    tok = whisper_recognizer.model.hf_tokenizer
    allowed = allowed_ids(tok, constrained_words(time_slot) or ())
    in_vocabulary = [h for h in (both.text, *both.alternatives)
                     if set(tok.encode(" " + h, add_special_tokens=False).ids) <= allowed]
    assert in_vocabulary and "morning" in in_vocabulary[-1].lower()  # the restricted reading (or a free one equal to it)
    assert both.alternatives[:len(free.alternatives)] == free.alternatives
    assert whisper_recognizer.words_for(time_slot) is None  # off by default (Settings.stt_constrained)
    constrained = WhisperRecognizer(whisper_recognizer.model_dir, incremental=False, constrained_slots=True)
    try:
        stream = constrained.start(time_slot)
        stream.accept(audio)
        heard = stream.finish()
        assert (heard.text, *heard.alternatives) == (both.text, *both.alternatives)  # the stream passes the words on
    finally:
        constrained.close()
