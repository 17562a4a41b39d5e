"""Twilio bidirectional Media Streams wire format: the only module that knows it.

Inbound (Twilio -> us), one JSON text message per event::

    connected  {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start      {"event": "start", "sequenceNumber": "1", "streamSid": "MZ..",
                "start": {"streamSid", "accountSid", "callSid", "tracks": ["inbound"],
                          "customParameters": {..},
                          "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}
    media      {"event": "media", "sequenceNumber": "3", "streamSid": "MZ..",
                "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "<base64 mu-law>"}}
    dtmf       {"event": "dtmf", "sequenceNumber": "5", "streamSid": "MZ..",
                "dtmf": {"track": "inbound_track", "digit": "1"}}
    mark       {"event": "mark", "sequenceNumber": "4", "streamSid": "MZ..", "mark": {"name": "..."}}
    stop       {"event": "stop", "sequenceNumber": "5", "streamSid": "MZ..",
                "stop": {"accountSid", "callSid"}}

Twilio sends ``sequenceNumber``, ``chunk`` and ``timestamp`` as strings of digits; they are
parsed to ``int`` here.  Outbound (us -> Twilio): ``media`` (base64 mu-law 8 kHz, no file
header), ``mark`` (echoed back when the audio before it has played) and ``clear`` (drop the
audio buffered at Twilio, for barge-in).

:func:`parse_message` turns one raw message into a typed, frozen event or raises
:class:`ProtocolError` with a short reason (never the payload, which is caller audio).
:class:`StreamGuard` says which well-formed events to skip (another stream, replays,
out-of-order media).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Union

MAX_MESSAGE_BYTES = 64 * 1024
"""A raw WebSocket message larger than this is refused (Twilio's are ~300 bytes: 20 ms of audio)."""
MAX_MEDIA_BYTES = 8000
"""Decoded audio per media message: at most 1 s of 8 kHz mu-law."""
EXPECTED_ENCODING = "audio/x-mulaw"
EXPECTED_SAMPLE_RATE = 8000
EXPECTED_CHANNELS = 1
DTMF_DIGITS = frozenset("0123456789*#ABCD")
_MAX_ID_LEN = 64
_MAX_PARAMS = 32
_MAX_PARAM_LEN = 512


class ProtocolError(ValueError):
    """A message that does not follow the Media Streams protocol; ``reason`` is short and payload-free."""

    def __init__(self, reason: str, event: str | None = None):
        super().__init__(reason if event is None else f"{event}: {reason}")
        self.reason = reason
        self.event = event


# --------------------------------------------------------------------------- #
# inbound events
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True)
class StreamStart:
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    custom_parameters: dict[str, str] = field(hash=False)
    encoding: str
    sample_rate: int
    channels: int
    sequence_number: int


@dataclass(frozen=True)
class MediaChunk:
    stream_sid: str
    track: str
    chunk: int
    timestamp_ms: int
    payload: bytes  # raw mu-law, base64-decoded
    sequence_number: int

    def __repr__(self) -> str:  # never print caller audio
        return (f"MediaChunk(stream_sid={self.stream_sid!r}, track={self.track!r}, chunk={self.chunk}, "
                f"timestamp_ms={self.timestamp_ms}, payload=<{len(self.payload)} bytes>, "
                f"sequence_number={self.sequence_number})")


@dataclass(frozen=True)
class Dtmf:
    stream_sid: str
    digit: str
    track: str
    sequence_number: int


@dataclass(frozen=True)
class MarkEcho:
    stream_sid: str
    name: str
    sequence_number: int


@dataclass(frozen=True)
class StreamStop:
    stream_sid: str
    call_sid: str
    account_sid: str
    sequence_number: int


InboundEvent = Union[Connected, StreamStart, MediaChunk, Dtmf, MarkEcho, StreamStop]


# --------------------------------------------------------------------------- #
# parsing
# --------------------------------------------------------------------------- #


def _obj(container: dict[str, Any], key: str, event: str) -> dict[str, Any]:
    value = container.get(key)
    if value is None:
        raise ProtocolError(f"missing field '{key}'", event)
    if not isinstance(value, dict):
        raise ProtocolError(f"field '{key}' is not an object", event)
    return value


def _str(container: dict[str, Any], key: str, event: str, *, max_len: int = _MAX_ID_LEN,
         default: str | None = None) -> str:
    value = container.get(key)
    if value is None:
        if default is not None:
            return default
        raise ProtocolError(f"missing field '{key}'", event)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"field '{key}' is not a non-empty string", event)
    if len(value) > max_len:
        raise ProtocolError(f"field '{key}' is too long", event)
    return value


def _int(container: dict[str, Any], key: str, event: str) -> int:
    """A non-negative integer sent as a string of digits (Twilio's way) or as a JSON number."""
    value = container.get(key)
    if value is None:
        raise ProtocolError(f"missing field '{key}'", event)
    if isinstance(value, bool):
        raise ProtocolError(f"field '{key}' is not an integer", event)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        number = int(value)
    else:
        raise ProtocolError(f"field '{key}' is not an integer", event)
    if number < 0:
        raise ProtocolError(f"field '{key}' is negative", event)
    return number


def _stream_sid(msg: dict[str, Any], event: str) -> str:
    return _str(msg, "streamSid", event)


def _parse_start(msg: dict[str, Any]) -> StreamStart:
    ev = "start"
    seq = _int(msg, "sequenceNumber", ev)
    start = _obj(msg, "start", ev)
    stream_sid = msg.get("streamSid") or start.get("streamSid")
    if not isinstance(stream_sid, str) or not stream_sid or len(stream_sid) > _MAX_ID_LEN:
        raise ProtocolError("missing field 'streamSid'", ev)
    inner_sid = start.get("streamSid")
    if inner_sid is not None and inner_sid != stream_sid:
        raise ProtocolError("streamSid differs inside 'start'", ev)
    account_sid = _str(start, "accountSid", ev)
    call_sid = _str(start, "callSid", ev)
    tracks_raw = start.get("tracks", ["inbound"])
    if not isinstance(tracks_raw, list) or not all(isinstance(t, str) and t for t in tracks_raw):
        raise ProtocolError("field 'tracks' is not a list of strings", ev)
    params_raw = start.get("customParameters") or {}
    if not isinstance(params_raw, dict):
        raise ProtocolError("field 'customParameters' is not an object", ev)
    if len(params_raw) > _MAX_PARAMS:
        raise ProtocolError("too many customParameters", ev)
    params: dict[str, str] = {}
    for key, value in params_raw.items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ProtocolError("a customParameter is not a string", ev)
        text = str(value)
        if len(key) > _MAX_PARAM_LEN or len(text) > _MAX_PARAM_LEN:
            raise ProtocolError("a customParameter is too long", ev)
        params[key] = text
    fmt = _obj(start, "mediaFormat", ev)
    encoding = fmt.get("encoding")
    try:
        sample_rate = int(fmt.get("sampleRate"))  # type: ignore[arg-type]
        channels = int(fmt.get("channels", 1))
    except (TypeError, ValueError, OverflowError):
        raise ProtocolError("wrong audio encoding", ev) from None
    if (encoding != EXPECTED_ENCODING or sample_rate != EXPECTED_SAMPLE_RATE
            or channels != EXPECTED_CHANNELS):
        raise ProtocolError("wrong audio encoding", ev)
    return StreamStart(
        stream_sid=stream_sid, account_sid=account_sid, call_sid=call_sid, tracks=tuple(tracks_raw),
        custom_parameters=params, encoding=encoding, sample_rate=sample_rate, channels=channels,
        sequence_number=seq,
    )


def _parse_media(msg: dict[str, Any]) -> MediaChunk:
    ev = "media"
    seq = _int(msg, "sequenceNumber", ev)
    stream_sid = _stream_sid(msg, ev)
    media = _obj(msg, "media", ev)
    track = _str(media, "track", ev, default="inbound")
    chunk = _int(media, "chunk", ev)
    timestamp = _int(media, "timestamp", ev)
    payload_b64 = media.get("payload")
    if payload_b64 is None:
        raise ProtocolError("missing field 'payload'", ev)
    if not isinstance(payload_b64, str):
        raise ProtocolError("field 'payload' is not a string", ev)
    if len(payload_b64) > (MAX_MEDIA_BYTES + 2) // 3 * 4:
        raise ProtocolError(f"payload over {MAX_MEDIA_BYTES} bytes", ev)
    try:
        payload = base64.b64decode(payload_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("payload is not valid base64", ev) from None
    if len(payload) > MAX_MEDIA_BYTES:  # pragma: no cover - the length check above catches it
        raise ProtocolError(f"payload over {MAX_MEDIA_BYTES} bytes", ev)
    return MediaChunk(stream_sid=stream_sid, track=track, chunk=chunk, timestamp_ms=timestamp,
                      payload=payload, sequence_number=seq)


def _parse_dtmf(msg: dict[str, Any]) -> Dtmf:
    ev = "dtmf"
    seq = _int(msg, "sequenceNumber", ev)
    stream_sid = _stream_sid(msg, ev)
    dtmf = _obj(msg, "dtmf", ev)
    digit = _str(dtmf, "digit", ev, max_len=1)
    if digit not in DTMF_DIGITS:
        raise ProtocolError("field 'digit' is not a keypad digit", ev)
    track = _str(dtmf, "track", ev, default="inbound_track")
    return Dtmf(stream_sid=stream_sid, digit=digit, track=track, sequence_number=seq)


def _parse_mark(msg: dict[str, Any]) -> MarkEcho:
    ev = "mark"
    seq = _int(msg, "sequenceNumber", ev)
    stream_sid = _stream_sid(msg, ev)
    mark = _obj(msg, "mark", ev)
    return MarkEcho(stream_sid=stream_sid, name=_str(mark, "name", ev, max_len=256), sequence_number=seq)


def _parse_stop(msg: dict[str, Any]) -> StreamStop:
    ev = "stop"
    seq = _int(msg, "sequenceNumber", ev)
    stream_sid = _stream_sid(msg, ev)
    stop = _obj(msg, "stop", ev)
    return StreamStop(stream_sid=stream_sid, call_sid=_str(stop, "callSid", ev),
                      account_sid=_str(stop, "accountSid", ev), sequence_number=seq)


def _parse_connected(msg: dict[str, Any]) -> Connected:
    ev = "connected"
    return Connected(protocol=_str(msg, "protocol", ev), version=_str(msg, "version", ev))


_PARSERS = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "dtmf": _parse_dtmf,
    "mark": _parse_mark,
    "stop": _parse_stop,
}


def parse_message(raw: str | bytes) -> InboundEvent:
    """One Media Streams message -> a typed event; :class:`ProtocolError` if it is not one."""
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"message over {MAX_MESSAGE_BYTES} bytes")
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("message is not UTF-8 text") from None
    elif not isinstance(raw, str):
        raise ProtocolError("message is not text")
    # len(str) <= len(utf-8 bytes): a cheap bound first, the exact one only when needed
    if len(raw) > MAX_MESSAGE_BYTES or (len(raw) * 4 > MAX_MESSAGE_BYTES
                                        and len(raw.encode("utf-8")) > MAX_MESSAGE_BYTES):
        raise ProtocolError(f"message over {MAX_MESSAGE_BYTES} bytes")
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError, and an integer over Python's digit limit
        raise ProtocolError("message is not JSON") from None
    if not isinstance(msg, dict):
        raise ProtocolError("message is not a JSON object")
    event = msg.get("event")
    if event is None:
        raise ProtocolError("missing field 'event'")
    if not isinstance(event, str) or event not in _PARSERS:
        raise ProtocolError("unknown event")
    try:
        return _PARSERS[event](msg)
    except ProtocolError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # a field no check above foresaw
        raise ProtocolError(f"malformed field ({type(exc).__name__})", event) from None


# --------------------------------------------------------------------------- #
# outbound messages
# --------------------------------------------------------------------------- #


def _check_sid(stream_sid: str) -> None:
    if not isinstance(stream_sid, str) or not stream_sid:
        raise ValueError("stream_sid must be a non-empty string")


def media_message(stream_sid: str, mulaw: bytes) -> str:
    """Audio for the caller: raw 8 kHz mu-law bytes (no header), base64 in a ``media`` message."""
    _check_sid(stream_sid)
    if not isinstance(mulaw, (bytes, bytearray, memoryview)):
        raise TypeError("mulaw must be bytes")
    payload = base64.b64encode(bytes(mulaw)).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    """A ``mark``: Twilio echoes it back once the audio sent before it has played."""
    _check_sid(stream_sid)
    if not isinstance(name, str) or not name:
        raise ValueError("mark name must be a non-empty string")
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """A ``clear``: Twilio drops the audio it has buffered (marks pending are echoed back)."""
    _check_sid(stream_sid)
    return json.dumps({"event": "clear", "streamSid": stream_sid})


# --------------------------------------------------------------------------- #
# stream guard
# --------------------------------------------------------------------------- #


class StreamGuard:
    """Which well-formed events to skip on one WebSocket (one stream).

    ``guard.check(event)`` returns ``None`` to accept the event, or a short reason to skip it:
    events before ``start`` or for another ``streamSid``; a second ``start``; a
    ``sequenceNumber`` not above the last accepted one (a replay or a message out of order);
    media whose ``chunk`` is not above the last accepted chunk of its track.
    Not thread-safe: one guard per socket, used by the socket's thread.
    """

    def __init__(self) -> None:
        self.stream_sid: str | None = None
        self.last_sequence: int | None = None
        self.last_chunk: dict[str, int] = {}
        self.tracks: tuple[str, ...] = ()
        self.skipped = 0

    def check(self, event: InboundEvent) -> str | None:
        reason = self._check(event)
        if reason is not None:
            self.skipped += 1
        return reason

    def accept(self, event: InboundEvent) -> bool:
        """True if the event should be processed (``check`` returned no reason)."""
        return self.check(event) is None

    def _check(self, event: InboundEvent) -> str | None:
        if isinstance(event, Connected):
            return None if self.stream_sid is None else "connected after start"
        if isinstance(event, StreamStart):
            if self.stream_sid is not None:
                return "duplicate start" if event.stream_sid == self.stream_sid else "start of another stream"
            self.stream_sid = event.stream_sid
            self.last_sequence = event.sequence_number
            self.tracks = event.tracks
            return None
        if self.stream_sid is None:
            return f"{type(event).__name__} before start"
        if event.stream_sid != self.stream_sid:
            return "event for another stream"
        seq = event.sequence_number
        if self.last_sequence is not None and seq <= self.last_sequence:
            return "replayed or out-of-order sequenceNumber"
        if isinstance(event, MediaChunk):
            if self.tracks and event.track not in self.tracks:  # e.g. outbound audio: never the caller's
                return f"media on a track the stream did not start ({event.track})"
            last = self.last_chunk.get(event.track)
            if last is not None and event.chunk <= last:
                return "replayed or out-of-order media chunk"
            self.last_chunk[event.track] = event.chunk
        self.last_sequence = seq
        return None
