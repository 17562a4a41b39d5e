"""Turn-taking over the real WebSocket, with the real models (see test_phone_calls.py): holding
while the caller finds something, backchannels and interruptions over the bot, and a phone
number said with pauses in the middle (1,400 ms: longer than the slot rules' wait, kept whole by
the default end-of-turn decision, the rules plus the classifier and guards, speech/turn_end.py).

The silence timeout is the default one (6 s) here, so a hold that re-prompted would show.
"""

from __future__ import annotations

import pytest

from callflows.speech import codec
from callflows.speech.caller_voice import caller_audio, silence_pcm16, silence_ulaw
from callflows.speech.expectation import Expectation
from callflows.speech.vad import EndpointConfig, Endpointer, SpeechEnded, is_interruption
from callflows.telephony.simulator import SimulatedCall, Step
from tests.test_phone_calls import TOKEN, serving, twilio_api, wait_closed  # noqa: F401 - the fixture

pytestmark = pytest.mark.speech

TO_PHONE = [  # the booking questions, up to the phone number's
    Step(say="i would like to book a cleaning"),
    Step(say="doctor patel please"),
    Step(say="next tuesday"),
    Step(say="at ten thirty in the morning"),
    Step(say="my name is jane smith"),
]
PHONE_QUESTION = "best phone number"


@pytest.fixture
def phone(sqlite_store, twilio_api, tmp_path, audio_cache_dir):  # noqa: F811
    # rules + guards + the classifier (CALLFLOWS_TURN_END=classifier; the rules are the default)
    with serving(sqlite_store, twilio_api, tmp_path, silence_timeout_s=6.0, turn_end="classifier") as (server, services):
        yield server, sqlite_store, services


def paused_voice(text: str, pause_ms: int = 900) -> bytes:
    """Caller audio where " | " is a pause ("five five five | one two three four")."""
    return silence_ulaw(pause_ms).join(caller_audio(part.strip()) for part in text.split("|"))


def bot_lines(turns) -> list[str]:
    return [t.text for t in turns if t.speaker == "bot"]


def hold_call(phone, *steps: Step):
    """A booking call put on hold at the phone number's question: (call, turns, said, index of
    the bot's "Sure, take your time.")."""
    server, store, _ = phone
    sim = SimulatedCall(server.url, auth_token=TOKEN)
    sim.run([*TO_PHONE, *steps], linger_s=3.0)
    call, turns = wait_closed(store, sim.call_sid)
    said = [(t.speaker, t.text) for t in turns]
    holds = [i for i, t in enumerate(turns) if t.speaker == "bot" and "take your time" in t.text.lower()]
    assert holds, said
    return call, turns, said, holds[0]


def test_hold_on_waits_checks_in_once_and_takes_the_keypad_answer(phone):
    call, turns, said, hold_at = hold_call(phone, Step(say="hold on let me find my card"),
                                           Step(dtmf="5551234567#", pause_s=16.0))
    assert PHONE_QUESTION in turns[hold_at - 2].text, said  # the question the caller put on hold
    keys_at = next(i for i, t in enumerate(turns) if t.speaker == "caller" and i > hold_at)
    between = [t.text for t in turns[hold_at + 1:keys_at]]
    assert between == ["Take your time."], said  # one check-in; no "are you still there", no re-ask
    after = turns[keys_at + 1].text
    assert "heard" not in after and PHONE_QUESTION not in after, said  # the number was taken
    assert call.outcome not in ("no_input",)


def test_hold_on_then_spoken_answer_fills_the_slot(phone):
    _, turns, said, hold_at = hold_call(phone, Step(say="one moment please"),
                                        Step(say="five five five one two three four five six seven", pause_s=8.0))
    assert turns[hold_at + 1].speaker == "caller", said  # nothing said over the 8 s wait
    reply = turns[hold_at + 2].text  # to the phone number: the next question, or its length check
    assert "take your time" not in reply.lower() and "still there" not in reply, said
    assert PHONE_QUESTION not in reply or "a phone number has 10" in reply, said


@pytest.mark.parametrize("backchannel", ["uh-huh", "okay"])
def test_backchannel_over_a_bot_sentence_does_not_stop_it(phone, backchannel):
    server, store, _ = phone
    sim = SimulatedCall(server.url, auth_token=TOKEN)
    result = sim.run([Step(say=backchannel, barge_in_ms=1500), Step(say="goodbye")])
    assert result.clears == 0
    _, turns = wait_closed(store, sim.call_sid)
    assert not any(t.speaker == "caller" and t.text.lower().strip(" .!,") == backchannel for t in turns)


def test_no_wait_over_the_bot_stops_it_and_is_the_callers_turn(phone):
    server, store, _ = phone
    sim = SimulatedCall(server.url, auth_token=TOKEN)
    result = sim.run([Step(say="no wait", barge_in_ms=1500), Step(say="goodbye")])
    assert result.clears >= 1
    _, turns = wait_closed(store, sim.call_sid)
    callers = [t.text.lower() for t in turns if t.speaker == "caller"]
    assert callers and "wait" in callers[0], callers


def test_phone_number_with_pauses_longer_than_the_rules_wait_is_taken_whole(phone):
    """1,400 ms between the groups: the slot rules (1,200 ms) cut it; the combined decision's
    digit-group guard waits (callflows/speech/turn_end.py, in_a_digit_group_pause)."""
    server, store, services = phone
    assert services.settings.turn_end == "classifier"
    assert services.turn_end_model is not None, "no end-of-turn classifier: bash scripts/install.sh turn_end"
    pause_ms = 1400
    assert pause_ms > EndpointConfig().long_silence_ms
    sim = SimulatedCall(server.url, auth_token=TOKEN, voice=lambda text: paused_voice(text, pause_ms))
    sim.run([*TO_PHONE, Step(say="five five five | one two three | four five six seven")])
    _, turns = wait_closed(store, sim.call_sid)
    said = [(t.speaker, t.text) for t in turns]
    answer = max(i for i, t in enumerate(turns) if t.speaker == "caller")
    assert PHONE_QUESTION in turns[answer - 1].text, said
    reply = turns[answer + 1].text  # all 10 digits in one turn: the number is taken, the form goes on
    assert PHONE_QUESTION not in reply and "digits" not in reply and "phone number" not in reply, said


def test_endpointer_keeps_a_phone_number_said_with_a_pause_in_one_turn():
    """"five five five" [900 ms] "one two three four" for a phone slot: one turn, not two."""
    pcm = codec.ulaw_to_pcm16(paused_voice("five five five | one two three four")) + silence_pcm16(2000)
    endpointer = Endpointer(EndpointConfig(), Expectation(slot="phone", slot_type="phone_number", digits_length=10))
    ended = [e for e in endpointer.feed_audio(pcm) if isinstance(e, SpeechEnded)]
    assert len(ended) == 1 and codec.duration_ms(ended[0].audio) >= codec.duration_ms(pcm) - 2000


@pytest.mark.parametrize(("heard", "speech_ms", "stops"), [
    ("Uh-huh.", 500, False), ("Uh-uh.", 500, False), ("Mm-hmm.", 600, False), ("Okay, okay.", 1200, False),
    ("Right.", 500, False), ("Yeah.", 500, False), ("the", 500, False), ("", 1500, False),
    ("Stop.", 500, True), ("No, wait.", 700, True), ("No, no.", 600, True), ("Hold on.", 600, True),
    ("That's wrong.", 800, True), ("What are your opening hours?", 1500, True), ("Tuesday", 1000, True),
])
def test_what_stops_the_bot(heard, speech_ms, stops):
    assert is_interruption(heard, speech_ms) is stops
