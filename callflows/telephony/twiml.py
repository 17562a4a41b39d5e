"""TwiML answers, built with the ``twilio`` library (it escapes every value)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from twilio.twiml.voice_response import Connect, Parameter, Stream, VoiceResponse

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


def dial_twiml(number: str, say: str | None = None) -> str:
    """An optional ``<Say>`` then ``<Dial>number</Dial>`` (a transfer to a person)."""
    cleaned = re.sub(r"[\s\-().]", "", number) if isinstance(number, str) else ""
    if not _NUMBER.match(cleaned):
        raise ValueError("the transfer number must be a phone number like +15551234567")
    response = VoiceResponse()
    if say:
        response.say(say)
    response.dial(cleaned)
    return str(response)


def hangup_twiml(say: str | None = None) -> str:
    """An optional ``<Say>`` then ``<Hangup/>``."""
    response = VoiceResponse()
    if say:
        response.say(say)
    response.hangup()
    return str(response)
