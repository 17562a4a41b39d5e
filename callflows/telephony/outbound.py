"""Bot audio to the caller: 20 ms mu-law frames paced slightly ahead of real time,
a mark after each sentence so we know what the caller has actually heard, and `clear`
on barge-in."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from callflows.telephony.media_stream import clear_message, mark_message, media_message

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_S = 0.020


@dataclass
class PlayResult:
    frames_sent: int = 0
    first_frame_at: float | None = None  # perf_counter when the first frame went out
    interrupted: bool = False
    marks: list[str] = field(default_factory=list)
    max_gap_ms: float = 0.0  # longest time the caller's buffer would have run dry


class OutboundAudio:
    """One per call. `play` runs on the call's dialogue thread; `clear` and `on_mark`
    come from the socket-reading thread."""

    def __init__(self, send: Callable[[str], None], stream_sid: str, lead_ms: int = 1500):
        self._send = send
        self.stream_sid = stream_sid
        self.lead_s = lead_ms / 1000
        self._lock = threading.Lock()
        self._cancel = threading.Event()
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

    def wait_played(self, timeout: float = 30.0) -> bool:
        deadline = time.perf_counter() + timeout
        while self.speaking and time.perf_counter() < deadline:
            if self._cancel.wait(0.02):
                return False
        return not self.speaking

    # -------------------------------------------------------------- play
    def play(self, chunks: Iterable[bytes], label: str = "say") -> PlayResult:
        """Send audio chunks (one per sentence), paced; returns early if cleared.

        The chunks are produced ahead on their own thread (synthesis of the next sentence
        overlaps the sending of this one), so a slow sentence under load leaves no gap."""
        self._cancel.clear()
        stop = threading.Event()  # ends this reply's producer, whatever ends the sending
        try:
            return self._play(_prefetch(chunks, stop), label)
        finally:
            stop.set()

    def _play(self, chunks: Iterator[bytes], label: str) -> PlayResult:
        result = PlayResult()
        for chunk in chunks:
            if self._cancel.is_set():
                result.interrupted = True
                break
            for i in range(0, len(chunk), FRAME_BYTES):
                if self._cancel.is_set():
                    result.interrupted = True
                    return result
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
                if ahead > self.lead_s:
                    if self._cancel.wait(ahead - self.lead_s):
                        result.interrupted = True
                        return result
                self._send(media_message(self.stream_sid, frame))
                with self._lock:
                    self._play_until += FRAME_S
                if result.first_frame_at is None:
                    result.first_frame_at = time.perf_counter()
                result.frames_sent += 1
            name = f"{label}-{next(self._counter)}"
            with self._lock:
                self._pending_marks.add(name)
            self._send(mark_message(self.stream_sid, name))
            result.marks.append(name)
        return result

    def clear(self) -> None:
        """Barge-in: stop sending and tell Twilio to drop what it has buffered."""
        self._cancel.set()
        with self._lock:
            self._pending_marks.clear()
            self._play_until = 0.0
        self._send(clear_message(self.stream_sid))

    def on_mark(self, name: str) -> None:
        with self._lock:
            self.heard.append(name)
            self._pending_marks.discard(name)
            if not self._pending_marks:
                self._play_until = min(self._play_until, time.perf_counter())

    def cancel(self) -> None:
        """Stop without telling Twilio (the call is ending)."""
        self._cancel.set()


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
