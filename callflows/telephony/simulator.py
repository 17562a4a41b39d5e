"""A stand-in for Twilio's cloud: places a call against a Callflows server exactly as
Twilio would, and plays a caller from a script.

It POSTs the incoming-call webhook (signed when a token is given), reads the TwiML,
opens the Media Streams WebSocket (signed), sends `connected` and `start`, then 20 ms
mu-law `media` frames in real time: the caller's synthesised speech, or line silence.
Bot audio is "played" on a real-time clock; each `mark` is echoed when the audio before
it has played, and `clear` drops what is buffered, as Twilio does. The caller waits for
the bot to finish before speaking, and can barge in or press keys.

Latency per turn: from the caller's last speech frame sent to the first frame of the bot's
reply received after it. Audio that only fills a wait (marks named ``filler-...``: "mm-hm",
progress lines, typing) is not the reply: the simulated caller keeps waiting through it, and
it is reported apart (``TurnResult.fillers``, ``first_audio_ms``).

Everything the caller heard is kept as a timeline (``SimResult.heard``: each 20 ms frame
with when it played, ``clear`` cutting what was buffered, and ``SimResult.segments``: the
audio between marks, labelled by the mark), so ``callflows.telephony.silence`` can tell the
longest stretch of dead air after the caller stopped speaking (``TurnResult.longest_silence_ms``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Callable
from urllib.parse import urlparse

import requests
import websocket
from twilio.request_validator import RequestValidator

from callflows.telephony.silence import HeardFrame, heard_frame, is_audible, longest_silence_ms
from callflows.telephony.simulator_types import BotUtterance, HeardSegment, SimResult, Step, TurnResult

__all__ = ["FRAME", "HeardSegment", "SimResult", "SimulatedCall", "Step", "TurnResult", "answer_incoming_call",
           "dtmf_frames", "local_stream_url"]

FRAME = 160  # 20 ms of 8 kHz mu-law
SILENCE = b"\xff" * FRAME
DTMF_HZ = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
           "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
           "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
           "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633)}
TONE_MS = 100  # a key held this long (the network's minimum is 40 ms)


def dtmf_frames(key: str) -> list[bytes]:
    """A key's two tones as 20 ms mu-law frames, as a phone sends them in the call's audio."""
    import numpy as np

    from callflows.speech import codec

    low, high = DTMF_HZ[key]
    t = np.arange(TONE_MS * 8) / 8000
    tone = 0.25 * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))
    audio = codec.float_to_ulaw(tone.astype(np.float32))
    return [audio[i:i + FRAME] for i in range(0, len(audio), FRAME)]


def answer_incoming_call(base_url: str, auth_token: str | None, *, call_sid: str, account_sid: str,
                         from_number: str, to_number: str, public_url: str | None = None,
                         redirected: list[str] | None = None, max_redirects: int = 5) -> tuple[str, dict[str, str]]:
    """What Twilio does when a call comes in: a signed POST to ``/twilio/voice``; returns the
    ``<Stream>`` URL of the TwiML answer and its ``<Parameter>`` values (sent back in ``start``).
    ``public_url``: the origin Twilio was given (what it signs), when it is not ``base_url``.

    A ``<Redirect>`` answer (a draining replica sends new calls back through the load balancer)
    is followed as Twilio follows it: the same parameters POSTed to the redirect URL, signed for
    that URL, sent to the same path on ``base_url`` when the URL is public; each URL followed is
    appended to ``redirected``."""
    url = f"{base_url.rstrip('/')}/twilio/voice"
    signed = f"{public_url.rstrip('/')}/twilio/voice" if public_url else url
    params = {"CallSid": call_sid, "AccountSid": account_sid, "From": from_number,
              "To": to_number, "CallStatus": "ringing", "Direction": "inbound"}
    for _ in range(max_redirects + 1):
        headers = {"X-Twilio-Signature": RequestValidator(auth_token).compute_signature(signed, params)} if auth_token else {}
        resp = requests.post(url, data=params, headers=headers, timeout=10)
        resp.raise_for_status()
        root = ET.fromstring(resp.text)
        stream = root.find("./Connect/Stream")
        redirect = root.find("./Redirect")
        if stream is None and redirect is not None and (redirect.text or "").strip():
            signed = redirect.text.strip()
            target = urlparse(signed)
            url = signed if target.hostname in ("localhost", "127.0.0.1") else f"{base_url.rstrip('/')}{target.path}"
            if redirected is not None:
                redirected.append(signed)
            continue
        if stream is None:
            raise RuntimeError(f"TwiML without <Connect><Stream>: {resp.text[:200]}")
        parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        return stream.get("url"), parameters
    raise RuntimeError(f"more than {max_redirects} <Redirect>s for one call")


def local_stream_url(base_url: str, stream_url: str) -> str:
    """The URL to open for ``stream_url``: itself on a local host, else the same path on ``base_url``
    (a public wss:// URL in the TwiML while this simulator talks to the local server)."""
    parsed = urlparse(stream_url)
    if parsed.hostname in ("localhost", "127.0.0.1") or not parsed.scheme == "wss":
        return stream_url
    base = urlparse(base_url)
    return f"ws://{base.netloc}{parsed.path}"


class SimulatedCall:
    def __init__(
        self,
        base_url: str,
        *,
        auth_token: str | None = None,
        to_number: str = "+15550100000",
        from_number: str = "+15557654321",
        voice: Callable[[str], bytes] | None = None,
        idle_ms: int = 700,
        log: Callable[[str], None] | None = None,
        keypad_tones: bool = False,
    ):
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self.to_number = to_number
        self.from_number = from_number
        self.voice = voice or _default_voice
        self.idle_s = idle_ms / 1000
        self.keypad_tones = keypad_tones  # keys also sound in the caller's audio, as on a real line
        self.log = log or (lambda _msg: None)
        self.call_sid = "CA" + uuid.uuid4().hex
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.account_sid = "AC" + uuid.uuid4().hex
        self._ws: websocket.WebSocket | None = None
        self._lock = threading.Lock()
        self._outgoing: list[bytes] = []  # caller frames queued to send
        self._speech_end_at: float | None = None  # when the last caller speech frame was sent
        self.last_key_at = 0.0  # when the last keypad key was sent
        self._seq = 0
        self._chunk = 0
        self._closed = threading.Event()
        self._closed_by_server = False
        self._bot: list[BotUtterance] = []
        self._play_until = 0.0
        self._last_bot_frame_at = 0.0
        self._pending_marks: list[tuple[float, str]] = []
        self._clears = 0
        self._first_bot_frame_after_speech: float | None = None
        self._max_gap = 0.0
        self._speech_start_at: float | None = None  # first audible frame of the current utterance
        self._caller_speech: list[tuple[float, float]] = []
        self._heard: list[HeardFrame] = []
        self._segments: list[HeardSegment] = []
        self._open: HeardSegment | None = None  # frames received since the last mark
        self._cut: HeardSegment | None = None  # cut by a clear, its mark not yet received
        self._clear_times: list[float] = []
        self._frames_received = 0
        self._tones: list[bytes] = []  # keypad tone frames queued to send
        self._tone_spans: list[tuple[float, float]] = []
        self._media_origin: float | None = None
        self.redirects: list[str] = []  # <Redirect> URLs the webhook answer sent the call to (followed)

    # ------------------------------------------------------------------ protocol
    def _sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if not self.auth_token:
            return {}
        return {"X-Twilio-Signature": RequestValidator(self.auth_token).compute_signature(url, params)}

    def _answer(self) -> tuple[str, dict[str, str]]:
        return answer_incoming_call(self.base_url, self.auth_token, call_sid=self.call_sid,
                                    account_sid=self.account_sid, from_number=self.from_number,
                                    to_number=self.to_number, redirected=self.redirects)

    def _send(self, obj: dict[str, Any]) -> None:
        if self._ws is None or self._closed.is_set():
            return
        with self._lock:
            self._seq += 1
            obj["sequenceNumber"] = str(self._seq)
            try:
                self._ws.send(json.dumps(obj))
            except (websocket.WebSocketException, OSError):
                self._closed.set()

    def _connect(self) -> None:
        stream_url, parameters = self._answer()
        ws_url = local_stream_url(self.base_url, stream_url)
        headers = [f"{k}: {v}" for k, v in self._sign(stream_url, {}).items()]
        self._ws = websocket.create_connection(ws_url, header=headers, timeout=10)
        self._ws.settimeout(0.05)
        self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self._send({"event": "start", "streamSid": self.stream_sid, "start": {
            "streamSid": self.stream_sid, "accountSid": self.account_sid, "callSid": self.call_sid,
            "tracks": ["inbound"], "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})

    # ------------------------------------------------------------------ threads
    def _sender(self) -> None:
        """Every 20 ms one inbound frame: caller speech if queued, else line silence."""
        next_at = time.perf_counter()
        while not self._closed.is_set():
            with self._lock:
                tone = self._tones.pop(0) if self._tones else None
                frame = self._outgoing.pop(0) if self._outgoing and tone is None else None
                if frame is not None and is_audible(frame):
                    now = time.perf_counter()
                    if self._speech_start_at is None:
                        self._speech_start_at = now
                    self._speech_end_at = now + len(frame) / 8000  # the last audible frame so far
                    self._first_bot_frame_after_speech = None
                if frame is not None and not self._outgoing and self._speech_start_at is not None:
                    self._caller_speech.append((self._speech_start_at, self._speech_end_at or time.perf_counter()))
            self._chunk += 1
            if self._media_origin is None:
                self._media_origin = time.perf_counter() - self._chunk * 0.020
            self._send({"event": "media", "streamSid": self.stream_sid, "media": {
                "track": "inbound", "chunk": str(self._chunk), "timestamp": str(self._chunk * 20),
                "payload": base64.b64encode(tone or frame or SILENCE).decode()}})
            self._echo_marks()
            next_at += 0.020
            time.sleep(max(0.0, next_at - time.perf_counter()))

    def _echo_marks(self) -> None:
        now = time.perf_counter()
        due = [m for m in self._pending_marks if m[0] <= now]
        for item in due:
            self._pending_marks.remove(item)
            self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": item[1]}})

    def _receiver(self) -> None:
        while not self._closed.is_set():
            try:
                raw = self._ws.recv() if self._ws else None
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                self._closed_by_server = True
                self._closed.set()
                return
            if not raw:
                self._closed_by_server = True
                self._closed.set()
                return
            msg = json.loads(raw)
            event = msg.get("event")
            now = time.perf_counter()
            if event == "media":
                audio = base64.b64decode(msg["media"]["payload"])
                if now - self._last_bot_frame_at > self.idle_s or not self._bot:
                    self._bot.append(BotUtterance(started_at=now))
                elif self._play_until > 0 and now > self._play_until + 0.04:
                    self._max_gap = max(self._max_gap, (now - self._play_until) * 1000)
                self._bot[-1].audio += audio
                self._last_bot_frame_at = now
                start = max(self._play_until, now)
                with self._lock:
                    self._heard.append(heard_frame(start, audio))
                    if self._open is None:
                        self._open = HeardSegment(received_at=now, start=start)
                        self._segments.append(self._open)
                        self._cut = None
                    self._open.audio += audio
                    self._open.frames += 1
                    self._frames_received += 1
                self._play_until = start + len(audio) / 8000
                if self._speech_end_at is not None and self._first_bot_frame_after_speech is None:
                    self._first_bot_frame_after_speech = now
            elif event == "mark":
                name = msg["mark"]["name"]
                self._pending_marks.append((max(self._play_until, now), name))
                with self._lock:
                    if self._open is not None:
                        self._open.label = name
                        self._open = None
                    elif self._cut is not None:
                        self._cut.label = name
                        self._cut = None
            elif event == "clear":
                self._clears += 1
                self._play_until = now
                self._pending_marks = [(now, name) for _, name in self._pending_marks]
                with self._lock:
                    self._clear_times.append(now)
                    # what was buffered and not yet played is never heard
                    self._heard = [f if f.end <= now else HeardFrame(f.start, now, f.audible)
                                   for f in self._heard if f.start < now]
                    if self._open is not None:
                        self._open.cleared = True
                        self._cut, self._open = self._open, None

    # ------------------------------------------------------------------ script
    def bot_speaking(self) -> bool:
        return time.perf_counter() < self._play_until

    def _quiet(self) -> bool:
        """The bot has gone quiet, and not just between fillers (a caller who heard "one
        moment" or typing keeps waiting)."""
        if self.bot_speaking() or time.perf_counter() - self._last_bot_frame_at <= self.idle_s:
            return False
        with self._lock:
            last = self._segments[-1] if self._segments else None
            return self._open is None and (last is None or not last.is_filler)

    def _replied_since(self, since: float) -> bool:
        """Reply audio (not a filler, named by its mark) arrived at or after `since`."""
        with self._lock:
            return any(seg.received_at >= since and seg.label is not None and not seg.is_filler
                       for seg in self._segments)

    def wait_for_bot(self, timeout: float = 30.0, require_new: int | None = None) -> None:
        """Until the bot has said something new (if `require_new` utterances exist before) and gone quiet."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and not self._closed.is_set():
            if self._quiet() and (require_new is None or len(self._bot) > require_new):
                return
            time.sleep(0.02)

    def wait_for_reply(self, since: float, timeout: float = 30.0) -> None:
        """Until reply audio (not a filler) that arrived after `since` has played and the bot is quiet."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and not self._closed.is_set():
            if self._quiet() and self._replied_since(since):
                return
            time.sleep(0.02)

    def say(self, text: str) -> None:
        audio = self.voice(text)
        frames = [audio[i:i + FRAME].ljust(FRAME, b"\xff") for i in range(0, len(audio), FRAME)]
        with self._lock:
            self._speech_end_at = None
            self._speech_start_at = None
            self._outgoing.extend(frames)

    def press(self, keys: str) -> None:
        for key in keys:
            if self.keypad_tones:  # the tone first; the network reports the key once it has heard it
                started = time.perf_counter()
                with self._lock:
                    self._tones.extend(dtmf_frames(key))
                while self._tones and not self._closed.is_set():
                    time.sleep(0.005)
                self._tone_spans.append((started, time.perf_counter()))
            self._send({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": key}})
            self.last_key_at = time.perf_counter()  # the reply to the last key may start within the pause below
            time.sleep(0.1)

    def hangup(self) -> None:
        self._send({"event": "stop", "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})
        self._closed.set()

    def run(self, steps: list[Step], transcribe: Callable[[bytes], str] | None = None,
            turn_timeout: float = 30.0, linger_s: float = 0.0) -> SimResult:
        """Play the script. After the last reply the caller stays on the line up to `linger_s`
        (as a person does after "goodbye"), so a server that ends the call itself is seen doing so."""
        self._connect()
        threads = [threading.Thread(target=self._sender, daemon=True), threading.Thread(target=self._receiver, daemon=True)]
        for t in threads:
            t.start()
        turns: list[TurnResult] = []
        starts: list[float] = []  # when each measured step's caller began (audible speech, or keys)
        try:
            self._wait_turn(steps[0] if steps else None, 0, 0.0, turn_timeout)
            for i, step in enumerate(steps):
                if self._closed.is_set():
                    break
                if step.pause_s:
                    time.sleep(step.pause_s)
                frames_before = self._frames_received
                if step.dtmf:
                    starts.append(time.perf_counter())
                    self.press(step.dtmf)
                    with self._lock:
                        self._speech_end_at = time.perf_counter()
                        self._first_bot_frame_after_speech = None
                    label = f"[keys {step.dtmf}]"
                elif step.say:
                    self.say(step.say)
                    label = step.say
                else:
                    label = ""
                if step.hangup:
                    if step.hangup_after_ms:
                        time.sleep(step.hangup_after_ms / 1000)
                    self.hangup()
                    turns.append(TurnResult(label + " [hung up]", None))
                    break
                self._wait_spoken(turn_timeout)
                if step.say:
                    starts.append(self._speech_start_at or time.perf_counter())
                turn = TurnResult(label, None, speech_end_at=self._speech_end_at or time.perf_counter())
                turns.append(turn)
                self._wait_turn(steps[i + 1] if i + 1 < len(steps) else None, frames_before, turn.speech_end_at,
                                turn_timeout)
                self._measure(turn, None)
                self.log(f"caller: {label}  ({turn.latency_ms:.0f} ms)" if turn.latency_ms else f"caller: {label}")
            if linger_s > 0:
                self._closed.wait(linger_s)
        finally:
            if not self._closed.is_set():
                self.hangup()
            for t in threads:
                t.join(timeout=2)
            if self._ws is not None:
                try:
                    self._ws.close()
                except (websocket.WebSocketException, OSError):
                    pass
        ended = time.perf_counter()
        measured = [t for t in turns if t.speech_end_at is not None]
        for n, turn in enumerate(measured):  # each window ends when the caller began again
            later = [s for s in starts if s > turn.speech_end_at]
            self._measure(turn, later[0] if later else ended)
        greeting = ""
        if transcribe is not None:
            bounds = [0.0] + [t.speech_end_at for t in measured]
            nexts = [t.window_end or ended for t in measured]
            greeting_end = min(starts) if starts else ended
            texts = []
            for lo, hi in zip(bounds, [greeting_end] + nexts):
                audio = b"".join(bytes(seg.audio) for seg in self._segments
                                 if not seg.is_filler and lo <= seg.received_at < hi)
                texts.append(transcribe(audio) if audio else "")
            greeting = texts[0]
            for turn, text in zip(measured, texts[1:]):
                turn.bot = text
        with self._lock:
            heard, segments = list(self._heard), list(self._segments)
        return SimResult(self.call_sid, turns, greeting, self._clears, self._closed_by_server, self._max_gap,
                         heard=heard, segments=segments, clear_times=list(self._clear_times),
                         caller_speech=list(self._caller_speech), keypad_tones=list(self._tone_spans),
                         media_origin=self._media_origin)

    def _measure(self, turn: TurnResult, window_end: float | None) -> None:
        """Latency, fillers and the longest silence of a turn, from what was heard up to `window_end`."""
        stopped = turn.speech_end_at
        if stopped is None:
            return
        turn.window_end = window_end
        hi = window_end if window_end is not None else float("inf")
        with self._lock:
            after = [seg for seg in self._segments if stopped <= seg.received_at < hi]
            heard = list(self._heard)
        reply = next((seg for seg in after if seg.label is not None and not seg.is_filler), None)
        turn.latency_ms = (reply.received_at - stopped) * 1000 if reply else None
        turn.first_audio_ms = (after[0].received_at - stopped) * 1000 if after else None
        turn.fillers = [seg.kind for seg in after if seg.is_filler]
        if window_end is None:
            return
        audible_ends = [f.end for f in heard if f.audible and f.end > stopped and f.start < window_end]
        until = min(max(audible_ends), window_end) if audible_ends else window_end
        turn.longest_silence_ms = longest_silence_ms(heard, stopped, until)

    def _wait_turn(self, next_step: Step | None, frames_before: int, since: float, timeout: float) -> None:
        """Wait for the bot's reply (audio after `since`, when the caller stopped): all of it,
        or (if the next step barges in) the start of any bot audio (a filler counts) plus a delay."""
        if next_step is not None and next_step.barge_in_ms is not None:
            deadline = time.perf_counter() + timeout
            while (self._frames_received <= frames_before and time.perf_counter() < deadline
                   and not self._closed.is_set()):
                time.sleep(0.01)
            time.sleep(next_step.barge_in_ms / 1000)
            return
        self.wait_for_reply(since, timeout)

    def _wait_spoken(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self._lock:
                if not self._outgoing:
                    return
            time.sleep(0.01)


def _default_voice(text: str) -> bytes:
    from callflows.speech.caller_voice import caller_audio

    return caller_audio(text)
