"""Bot audio to the caller: 20 ms mu-law frames paced slightly ahead of real time,
a mark after each sentence so we know what the caller has actually heard, and `clear`
on barge-in.

One play at a time: the reply's sentences (dialogue thread) and the fillers that fill a wait
(the call's filler thread) take turns through a speaker lock, so their frames never
interleave. A play ends early when the caller barges in (`clear`, which every play in
progress sees through `generation`), when the call ends (`cancel`), or when its own `stop`
event is set (a filler making way for the reply)."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol

from callflows.telephony.media_stream import clear_message, mark_message, media_message

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_S = 0.020


@dataclass
class PlayResult:
    frames_sent: int = 0
    first_frame_at: float | None = None  # perf_counter when the first frame went out
    interrupted: bool = False  # cleared (barge-in), cancelled, or stopped
    marks: list[str] = field(default_factory=list)
    max_gap_ms: float = 0.0  # longest time the caller's buffer would have run dry


class AudioTap(Protocol):
    """Sees every frame as it is sent, with when it starts playing at the caller's end (the
    call recording places the bot's channel by it), and every clear."""

    def bot_frame(self, frame: bytes, plays_at: float, personal: bool) -> None: ...

    def bot_cleared(self, at: float) -> None: ...


class OutboundAudio:
    """One per call. `play` runs on the call's dialogue or filler thread; `clear` and
    `on_mark` come from the socket-reading thread."""

    def __init__(self, send: Callable[[str], None], stream_sid: str, lead_ms: int = 1500,
                 tap: AudioTap | None = None):
        self._send = send
        self.tap = tap
        self.stream_sid = stream_sid
        self.lead_s = lead_ms / 1000
        self._lock = threading.Lock()
        self._speaker = threading.Lock()  # one play at a time
        self._closed = False
        self.generation = 0  # bumped by every clear (barge-in)
        self._counter = itertools.count(1)
        self._pending_marks: set[str] = set()
        self._play_until = 0.0  # perf_counter when the audio sent so far ends playing
        self.heard: list[str] = []  # marks the caller's side has played

    # -------------------------------------------------------------- state
    @property
    def speaking(self) -> bool:
        """True while sent audio has not finished playing (per marks, else per the clock)."""
        with self._lock:
            if self._pending_marks:
                return time.perf_counter() < self._play_until + 2.0  # marks lost: stop waiting
            return time.perf_counter() < self._play_until

    @property
    def audio_ends_at(self) -> float:
        """perf_counter when the audio sent so far stops playing (0 after a clear)."""
        with self._lock:
            return self._play_until

    def wait_played(self, timeout: float = 30.0) -> bool:
        deadline = time.perf_counter() + timeout
        while self.speaking and time.perf_counter() < deadline:
            if self._closed:
                return False
            time.sleep(0.02)
        return not self.speaking

    # -------------------------------------------------------------- play
    def play(self, chunks: Iterable[bytes], label: str = "say", *, lead_ms: int | None = None,
             stop: threading.Event | None = None) -> PlayResult:
        """Send audio chunks (one per sentence), paced; returns early if interrupted.

        The chunks are produced ahead on their own thread (synthesis of the next sentence
        overlaps the sending of this one), so a slow sentence under load leaves no gap."""
        done = threading.Event()  # ends this reply's producer, whatever ends the sending
        try:
            return self._play(_prefetch(chunks, done), label, lead_ms, stop)
        finally:
            done.set()

    def play_chunk(self, chunk: bytes, label: str = "say", *, lead_ms: int | None = None,
                   stop: threading.Event | None = None, personal: bool = False) -> PlayResult:
        """Send one ready chunk (a sentence, a filler clip), paced, then its mark.

        ``lead_ms`` bounds how far ahead of the caller's playback it is sent (default the
        line's lead): a small lead lets ``stop`` end a long clip quickly without a clear.
        ``personal``: the sentence carries personal data (the tap mutes it in a recording)."""
        return self._play(iter((chunk,)), label, lead_ms, stop, personal)

    def _play(self, chunks: Iterator[bytes], label: str, lead_ms: int | None,
              stop: threading.Event | None, personal: bool = False) -> PlayResult:
        lead = self.lead_s if lead_ms is None else lead_ms / 1000
        result = PlayResult()
        with self._speaker:
            generation = self.generation

            def cleared() -> bool:
                return self._closed or self.generation != generation

            def stopped() -> bool:
                return stop is not None and stop.is_set()

            for chunk in chunks:
                if cleared() or stopped():
                    result.interrupted = True
                    break
                sent = 0
                for i in range(0, len(chunk), FRAME_BYTES):
                    if cleared() or stopped():
                        break
                    frame = chunk[i:i + FRAME_BYTES]
                    if len(frame) < FRAME_BYTES:
                        frame += b"\xff" * (FRAME_BYTES - len(frame))
                    now = time.perf_counter()
                    with self._lock:
                        if self._play_until < now:  # the caller's buffer ran dry (or this is the start)
                            if result.frames_sent:
                                result.max_gap_ms = max(result.max_gap_ms, (now - self._play_until) * 1000)
                            self._play_until = now
                        ahead = self._play_until - now
                    while ahead > lead and not (cleared() or stopped()):
                        time.sleep(min(ahead - lead, FRAME_S))
                        ahead = self.audio_ends_at - time.perf_counter()
                    if cleared() or stopped():
                        break
                    self._send(media_message(self.stream_sid, frame))
                    with self._lock:
                        plays_at = max(self._play_until, time.perf_counter())
                        self._play_until = plays_at + FRAME_S
                    if self.tap is not None:
                        self.tap.bot_frame(frame, plays_at, personal)
                    if result.first_frame_at is None:
                        result.first_frame_at = time.perf_counter()
                    result.frames_sent += 1
                    sent += 1
                if cleared():
                    result.interrupted = True
                    if sent and not self._closed:  # Twilio dropped it; the mark (echoed at once) says what was cut
                        self._send(mark_message(self.stream_sid, f"{label}-{next(self._counter)}"))
                    return result
                if sent:  # whole, or cut short by `stop`: the mark tells what was played
                    name = f"{label}-{next(self._counter)}"
                    with self._lock:
                        self._pending_marks.add(name)
                    self._send(mark_message(self.stream_sid, name))
                    result.marks.append(name)
                if stopped():
                    result.interrupted = True
                    return result
        return result

    def clear(self) -> None:
        """Barge-in: stop sending and tell Twilio to drop what it has buffered."""
        with self._lock:
            self.generation += 1
            self._pending_marks.clear()
            self._play_until = 0.0
        if self.tap is not None:
            self.tap.bot_cleared(time.perf_counter())
        self._send(clear_message(self.stream_sid))

    def on_mark(self, name: str) -> None:
        with self._lock:
            self.heard.append(name)
            self._pending_marks.discard(name)
            if not self._pending_marks:
                self._play_until = min(self._play_until, time.perf_counter())

    def cancel(self) -> None:
        """Stop without telling Twilio (the call is ending)."""
        self._closed = True


_END = object()


def _prefetch(chunks: Iterable[bytes], cancel: threading.Event) -> Iterator[bytes]:
    """Iterate `chunks` on a producer thread; stops producing once `cancel` is set."""
    q: queue.Queue = queue.Queue()

    def produce() -> None:
        try:
            for chunk in chunks:
                q.put(chunk)
                if cancel.is_set():
                    break
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)
        finally:
            q.put(_END)

    threading.Thread(target=produce, name="tts-prefetch", daemon=True).start()
    while True:
        item = q.get()
        if item is _END:
            return
        if isinstance(item, Exception):
            raise item
        yield item
