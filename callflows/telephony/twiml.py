"""TwiML answers, built with the ``twilio`` library (it escapes every value): the stream,
the transfer (``<Dial>``, with a whisper to the person), the whisper, the hang-up."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from twilio.twiml.voice_response import Connect, Dial, Parameter, Stream, VoiceResponse

_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")


def connect_stream_twiml(stream_url: str, parameters: dict[str, str]) -> str:
    """``<Connect><Stream url=..>`` (a bidirectional Media Stream) with one ``<Parameter>`` per item.

    Twilio refuses query strings in the Stream URL: values travel as Parameters and come back
    in the stream's ``start`` message (``customParameters``).  ``None`` values are left out.
    """
    parts = urlsplit(stream_url)
    if parts.scheme not in ("wss", "ws") or not parts.netloc:
        raise ValueError("the stream URL must be a wss:// URL")
    if parts.query or parts.fragment:
        raise ValueError("the stream URL must not have a query string (use parameters)")
    response = VoiceResponse()
    connect = Connect()
    stream = Stream(url=stream_url)
    for name, value in parameters.items():
        if value is None:
            continue
        stream.append(Parameter(name=str(name), value=str(value)))
    connect.append(stream)
    response.append(connect)
    return str(response)


def dial_twiml(number: str, say: str | None = None, whisper_url: str | None = None) -> str:
    """An optional ``<Say>`` then ``<Dial>number</Dial>`` (a transfer to a person).

    With ``whisper_url``: ``<Dial><Number url=whisper_url>number</Number></Dial>``; Twilio
    fetches that URL (POST, signed) when the person answers and plays its TwiML to them
    alone before connecting the caller (the call's summary, see ``whisper_twiml``)."""
    cleaned = re.sub(r"[\s\-().]", "", number) if isinstance(number, str) else ""
    if not _NUMBER.match(cleaned):
        raise ValueError("the transfer number must be a phone number like +15551234567")
    response = VoiceResponse()
    if say:
        response.say(say)
    if whisper_url:
        parts = urlsplit(whisper_url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("the whisper URL must be an http(s) URL")
        dial = Dial()
        dial.number(cleaned, url=whisper_url, method="POST")
        response.append(dial)
    else:
        response.dial(cleaned)
    return str(response)


def whisper_twiml(text: str) -> str:
    """What the person taking a transfer hears before the caller is connected: ``<Say>``."""
    response = VoiceResponse()
    response.say(text)
    return str(response)


def hangup_twiml(say: str | None = None) -> str:
    """An optional ``<Say>`` then ``<Hangup/>``."""
    response = VoiceResponse()
    if say:
        response.say(say)
    response.hangup()
    return str(response)
