"""TwiML of the warm transfer, built with the ``twilio`` library (it escapes every value).

The caller and the person meet in a ``<Conference>`` named after the attempt (never after
anyone's number or name, as Twilio asks).  The caller joins it first with
``startConferenceOnEnter=false``: they hear ``waitUrl`` (our hold music TwiML) until the person
joins with ``startConferenceOnEnter=true`` after accepting.  ``endConferenceOnExit`` on both:
whoever leaves ends it, so a caller sent back to the bot leaves nobody in an empty room.
"""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

ACCEPT_KEY = "1"
SCREEN_TIMEOUT_S = 6  # seconds the person has to press a key after the summary
ACCEPT_PROMPT = "Press 1 to take the call, or any other key to decline."
DECLINED_TEXT = "Okay, the caller will be offered a call back. Goodbye."
GONE_TEXT = "Sorry, the caller is no longer waiting. Goodbye."


def room_name(attempt_id: str) -> str:
    return f"callflows-{attempt_id}"


def hold_twiml(message_url: str | None, wait_url: str, attempt_id: str) -> str:
    """The caller's side while the person's line rings: a short message, then hold music.

    The message is ``<Play>`` of ``message_url``, the sentence in the bot's own voice (served by
    ``/twilio/transfer/hold-message``), not ``<Say>``: the caller heard Piper until now, and a
    second, different voice for one sentence sounds like another party on the line."""
    response = VoiceResponse()
    if message_url:
        response.play(message_url)
    dial = Dial()
    dial.conference(room_name(attempt_id), start_conference_on_enter=False, end_conference_on_exit=True,
                    beep=False, wait_url=wait_url, wait_method="POST")
    response.append(dial)
    return str(response)


def music_twiml(music_url: str) -> str:
    """The conference's ``waitUrl``: the music, looped (an audio URL given directly plays once)."""
    response = VoiceResponse()
    response.play(music_url, loop=0)
    return str(response)


def screen_twiml(summary: str, action_url: str) -> str:
    """What the person hears when they answer: the masked summary, then one key to accept.

    ``actionOnEmptyResult``: no key at all also reaches ``action_url`` (as a decline), so the
    caller is not kept waiting on a person who put the phone down."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=action_url, method="POST", timeout=SCREEN_TIMEOUT_S,
                    action_on_empty_result=True)
    gather.say(summary)
    gather.say(ACCEPT_PROMPT)
    response.append(gather)
    return str(response)


def join_twiml(attempt_id: str) -> str:
    """The person accepted: into the caller's conference, which starts now."""
    response = VoiceResponse()
    dial = Dial()
    dial.conference(room_name(attempt_id), start_conference_on_enter=True, end_conference_on_exit=True, beep=False)
    response.append(dial)
    return str(response)


def goodbye_twiml(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)
