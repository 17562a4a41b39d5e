"""A stand-in for Twilio's cloud: places a call against a Callflows server exactly as
Twilio would, and plays a caller from a script.

It POSTs the incoming-call webhook (signed when a token is given), reads the TwiML,
opens the Media Streams WebSocket (signed), sends `connected` and `start`, then 20 ms
mu-law `media` frames in real time: the caller's synthesised speech, or line silence.
Bot audio is "played" on a real-time clock; each `mark` is echoed when the audio before
it has played, and `clear` drops what is buffered, as Twilio does. The caller waits for
the bot to finish before speaking, and can barge in or press keys.

Latency per turn: from the caller's last speech frame sent to the first bot audio frame
received after it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import requests
import websocket
import yaml
from twilio.request_validator import RequestValidator

FRAME = 160  # 20 ms of 8 kHz mu-law
SILENCE = b"\xff" * FRAME


@dataclass
class Step:
    say: str | None = None
    dtmf: str | None = None
    barge_in_ms: int | None = None  # start speaking this long after the bot starts talking
    pause_s: float = 0.0  # silence before this step
    hangup: bool = False  # hang up (possibly mid-sentence: with `say`, after `hangup_after_ms`)
    hangup_after_ms: int | None = None
    expect: str | None = None  # a word the bot's next reply should contain (checked by the caller of run)


@dataclass
class BotUtterance:
    started_at: float
    audio: bytearray = field(default_factory=bytearray)
    text: str = ""


@dataclass
class TurnResult:
    caller: str
    latency_ms: float | None
    bot: str = ""


@dataclass
class SimResult:
    call_sid: str
    turns: list[TurnResult]
    greeting: str
    clears: int
    closed_by_server: bool
    max_gap_ms: float  # longest silence inside one bot utterance while it was streaming

    def latencies(self) -> list[float]:
        return [t.latency_ms for t in self.turns if t.latency_ms is not None]


def load_script(path: str | Path) -> tuple[str | None, list[Step]]:
    """A YAML script: {vertical: ..., caller: [ {say: ...}, {dtmf: "1234#"}, {say: ..., barge_in_ms: 800}, ...]}"""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        data = {"caller": data}
    steps = []
    for item in data.get("caller", []):
        if isinstance(item, str):
            steps.append(Step(say=item))
        elif isinstance(item, dict):
            steps.append(Step(**{k: v for k, v in item.items() if k in Step.__dataclass_fields__}))
        else:
            raise ValueError(f"script step {item!r} is neither text nor a mapping")
    return data.get("vertical"), steps


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
    ):
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self.to_number = to_number
        self.from_number = from_number
        self.voice = voice or _default_voice
        self.idle_s = idle_ms / 1000
        self.log = log or (lambda _msg: None)
        self.call_sid = "CA" + uuid.uuid4().hex
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.account_sid = "AC" + uuid.uuid4().hex
        self._ws: websocket.WebSocket | None = None
        self._lock = threading.Lock()
        self._outgoing: list[bytes] = []  # caller frames queued to send
        self._speech_end_at: float | None = None  # when the last caller speech frame was sent
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

    # ------------------------------------------------------------------ protocol
    def _sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if not self.auth_token:
            return {}
        return {"X-Twilio-Signature": RequestValidator(self.auth_token).compute_signature(url, params)}

    def _answer(self) -> tuple[str, dict[str, str]]:
        url = f"{self.base_url}/twilio/voice"
        params = {"CallSid": self.call_sid, "AccountSid": self.account_sid, "From": self.from_number,
                  "To": self.to_number, "CallStatus": "ringing", "Direction": "inbound"}
        resp = requests.post(url, data=params, headers=self._sign(url, params), timeout=10)
        resp.raise_for_status()
        root = ET.fromstring(resp.text)
        stream = root.find("./Connect/Stream")
        if stream is None:
            raise RuntimeError(f"TwiML without <Connect><Stream>: {resp.text[:200]}")
        parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        return stream.get("url"), parameters

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
        parsed = urlparse(stream_url)
        if parsed.hostname in ("localhost", "127.0.0.1") or not parsed.scheme == "wss":
            ws_url = stream_url
        else:  # a public wss URL in the TwiML: this simulator still talks to the local server
            base = urlparse(self.base_url)
            ws_url = f"ws://{base.netloc}{parsed.path}"
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
                frame = self._outgoing.pop(0) if self._outgoing else None
                if frame is not None and not self._outgoing:
                    self._speech_end_at = time.perf_counter()
                    self._first_bot_frame_after_speech = None
            self._chunk += 1
            self._send({"event": "media", "streamSid": self.stream_sid, "media": {
                "track": "inbound", "chunk": str(self._chunk), "timestamp": str(self._chunk * 20),
                "payload": base64.b64encode(frame or SILENCE).decode()}})
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
                self._play_until = max(self._play_until, now) + len(audio) / 8000
                if self._speech_end_at is not None and self._first_bot_frame_after_speech is None:
                    self._first_bot_frame_after_speech = now
            elif event == "mark":
                self._pending_marks.append((max(self._play_until, now), msg["mark"]["name"]))
            elif event == "clear":
                self._clears += 1
                self._play_until = now
                self._pending_marks = [(now, name) for _, name in self._pending_marks]

    # ------------------------------------------------------------------ script
    def bot_speaking(self) -> bool:
        return time.perf_counter() < self._play_until

    def wait_for_bot(self, timeout: float = 30.0, require_new: int | None = None) -> None:
        """Until the bot has said something new (if `require_new` utterances exist before) and gone quiet."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and not self._closed.is_set():
            quiet = (not self.bot_speaking()) and time.perf_counter() - self._last_bot_frame_at > self.idle_s
            if quiet and (require_new is None or len(self._bot) > require_new):
                return
            time.sleep(0.02)

    def say(self, text: str) -> None:
        audio = self.voice(text)
        frames = [audio[i:i + FRAME].ljust(FRAME, b"\xff") for i in range(0, len(audio), FRAME)]
        with self._lock:
            self._speech_end_at = None
            self._outgoing.extend(frames)

    def press(self, keys: str) -> None:
        for key in keys:
            self._send({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": key}})
            time.sleep(0.1)

    def hangup(self) -> None:
        self._send({"event": "stop", "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})
        self._closed.set()

    def run(self, steps: list[Step], transcribe: Callable[[bytes], str] | None = None,
            turn_timeout: float = 30.0) -> SimResult:
        self._connect()
        threads = [threading.Thread(target=self._sender, daemon=True), threading.Thread(target=self._receiver, daemon=True)]
        for t in threads:
            t.start()
        turns: list[TurnResult] = []
        try:
            self._wait_turn(steps[0] if steps else None, 0, turn_timeout)
            for i, step in enumerate(steps):
                if self._closed.is_set():
                    break
                if step.pause_s:
                    time.sleep(step.pause_s)
                before = len(self._bot)
                if step.dtmf:
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
                self._wait_turn(steps[i + 1] if i + 1 < len(steps) else None, before, turn_timeout)
                latency = None
                if self._speech_end_at and self._first_bot_frame_after_speech:
                    latency = (self._first_bot_frame_after_speech - self._speech_end_at) * 1000
                turns.append(TurnResult(label, latency))
                self.log(f"caller: {label}  ({latency:.0f} ms)" if latency else f"caller: {label}")
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
        greeting = ""
        if transcribe is not None:
            texts = [transcribe(bytes(u.audio)) for u in self._bot]
            greeting = texts[0] if texts else ""
            # bot utterances after the greeting map to the turns in order
            replies = texts[1:]
            for turn, text in zip(turns, replies):
                turn.bot = text
        return SimResult(self.call_sid, turns, greeting, self._clears, self._closed_by_server, self._max_gap)

    def _wait_turn(self, next_step: Step | None, before: int, timeout: float) -> None:
        """Wait for the bot's reply: all of it, or (if the next step barges in) its start plus a delay."""
        if next_step is not None and next_step.barge_in_ms is not None:
            deadline = time.perf_counter() + timeout
            while len(self._bot) <= before and time.perf_counter() < deadline and not self._closed.is_set():
                time.sleep(0.01)
            time.sleep(next_step.barge_in_ms / 1000)
            return
        self.wait_for_bot(timeout, require_new=before)

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
