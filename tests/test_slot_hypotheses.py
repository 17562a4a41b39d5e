"""A slot turn is decoded as a small beam, and the hypothesis that answers the slot asked wins
over a top guess that does not ("and in the morning" for "ten in the morning")."""

from __future__ import annotations

import logging
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from callflows.dialogue import DialogueSession
from callflows.speech import Expectation
from callflows.speech.stt import Transcript, WhisperRecognizer
from callflows.speech.stt.cleanup import drop_repeats as _drop_repeats
from callflows.speech.stt.cleanup import drop_unspoken_repeat
from callflows.telephony.call import CallHandler
from callflows.verticals import load_vertical

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=TZ)


def test_a_digit_said_four_times_is_not_cut_as_a_decoder_loop():
    """"four one five five five five zero one nine two" was cut after the third five."""
    said = "Four one five five five five zero one nine two."
    assert _drop_repeats(said) == said
    assert _drop_repeats("5 5 5 5 0 1 9 2") == "5 5 5 5 0 1 9 2"
    loop = " ".join(["five"] * 40)
    assert len(_drop_repeats(loop).split()) < 40  # a real loop is still cut
    assert _drop_repeats("yeah yeah yeah yeah yeah") == "yeah yeah yeah"


def test_an_utterance_written_twice_in_less_voice_than_it_takes_is_kept_once():
    """CI: 1.5 s of "four five six seven" came back "Four five six seven four five six seven."."""
    assert drop_unspoken_repeat("Four five six seven four five six seven.", 1540) == "Four five six seven."
    assert drop_unspoken_repeat("yes yes yes", 300) == "yes"
    # said twice, at a caller's pace: kept
    assert drop_unspoken_repeat("one two one two", 1600) == "one two one two"
    assert drop_unspoken_repeat("Four five six seven four five six seven.", 2600) == (
        "Four five six seven four five six seven.")
    # fast but no repeat: kept; no voice measured: kept
    assert drop_unspoken_repeat("four one five five five zero one nine", 1000) == "four one five five five zero one nine"
    assert drop_unspoken_repeat("one two one two", 0) == "one two one two"


@pytest.mark.speech
def test_a_slot_turn_decodes_several_hypotheses(whisper_recognizer: WhisperRecognizer, caller_pcm16):
    audio = caller_pcm16("ten in the morning")
    single = whisper_recognizer.decode(audio, None, hypotheses=1)
    beam = whisper_recognizer.decode(audio, None, hypotheses=3)
    assert single.alternatives == ()
    assert beam.text and beam.text not in beam.alternatives
    assert 1 <= len(beam.alternatives) <= 2
    stream = whisper_recognizer.start(Expectation(slot="time", slot_type="time"))
    stream.accept(audio)
    assert stream._hypotheses == whisper_recognizer.slot_hypotheses == 3
    assert whisper_recognizer.start(None)._hypotheses == 1  # free speech: one hypothesis


def test_the_hypothesis_that_answers_the_slot_asked_wins(store):
    dental = load_vertical("dental_clinic")
    session = DialogueSession(dental, store, now=NOW)
    session.start()
    for line in ("i'd like to book a cleaning", "doctor patel", "next tuesday"):
        session.handle_text(line)
    assert session.expectation.slot_type == "time", session.expectation
    call = SimpleNamespace(session=session, log=logging.getLogger(__name__))
    heard = Transcript("And in the morning.", 0.4, 1500, ("Ten in the morning.", "Then in the morning."))
    assert CallHandler._best_hypothesis(call, heard) == "Ten in the morning."
    top_is_right = Transcript("At two in the afternoon.", 0.8, 1500, ("At to in the afternoon.",))
    assert CallHandler._best_hypothesis(call, top_is_right) == "At two in the afternoon."
    nothing_fits = Transcript("And in the morning.", 0.4, 1500, ("In the morning.",))
    assert CallHandler._best_hypothesis(call, nothing_fits) == "And in the morning."
    session.end("test")
