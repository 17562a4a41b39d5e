"""A bot reply spoken on the call: its sentences synthesised one by one on a producer thread and
played as soon as each exists, the wait filler filling any gap, a barge-in stopping the speaking.

Its own module so that call.py keeps to the call's turns; the call hands it what it needs
(outbound audio, the wait filler, the TTS, whether the caller is talking or the call is over)
and gets back a PlayResult.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from callflows.dialogue import BotReply
from callflows.speech.textnorm import split_sentences
from callflows.telephony.outbound import OutboundAudio, PlayResult
from callflows.telephony.wait_fillers import WaitFiller

REPLY_STALL_S = 45.0  # a streamed reply that yields nothing for this long has failed: a person takes over
CALLER_TALKING_WAIT_S = 8.0  # a ready reply waits at most this long for the caller to finish talking


class _End:
    """The end of a reply's audio."""


@dataclass(frozen=True)
class _Speech:
    """A reply sentence's audio; ``personal``: the sentence carries personal data (a date of
    birth read back), muted on the bot channel of a recording."""

    audio: bytes
    personal: bool = False


_REPLY_END = _End()


@dataclass
class ReplyAudio:
    """Plays replies on one call (see the module docstring)."""

    out: OutboundAudio
    wait_filler: WaitFiller
    speech: Callable[..., Iterator[bytes]]  # services.speech(text, split_first_clause=...)
    personal: Callable[[str], bool]  # a sentence the recording mutes
    caller_talking: Callable[[], bool]
    closed: threading.Event

    def play(self, reply: BotReply) -> PlayResult:
        """Speak a reply: its text, or its sentences as they stream in (each synthesised as
        soon as it exists, on a producer thread); the wait filler fills any gap. A barge-in stops
        the speaking, but a streamed reply is still read to its end (its transfer and
        end-of-call are final only then)."""
        sentences = getattr(reply, "sentences", None)
        texts: Iterable[str] = sentences if sentences is not None else ([reply.text] if reply.text else [])
        chunks: queue.Queue = queue.Queue()
        mute = threading.Event()  # stop synthesising (barge-in, call over); keep draining the sentences
        threading.Thread(target=self._synthesise, args=(texts, chunks, mute), name="reply-tts", daemon=True).start()
        result = PlayResult()
        generation: int | None = None  # out.generation when the reply started playing
        waited_since = time.perf_counter()
        try:
            while True:
                try:
                    item = chunks.get(timeout=0.1)
                except queue.Empty:
                    if self.closed.is_set():
                        mute.set()
                    if time.perf_counter() - waited_since > REPLY_STALL_S:
                        raise TimeoutError("the reply produced nothing for too long") from None
                    continue
                waited_since = time.perf_counter()
                if item is _REPLY_END:
                    break
                if isinstance(item, Exception):
                    raise item
                if generation is not None and self.out.generation != generation:
                    result.interrupted = True  # the caller barged in (over a sentence or a filler between)
                if result.interrupted or self.closed.is_set():
                    mute.set()
                    continue
                self.wait_filler.hold()
                if generation is None:
                    self._wait_caller_quiet()
                    generation = self.out.generation
                played = self.out.play_chunk(item.audio, label="bot", personal=item.personal)
                _merge(result, played)
                if played.interrupted:
                    result.interrupted = True
                    mute.set()
                self.wait_filler.release()
        finally:
            mute.set()
            self.wait_filler.end()
        return result

    def _synthesise(self, texts: Iterable[str], chunks: queue.Queue, mute: threading.Event) -> None:
        """Producer: each sentence to phone audio as soon as it arrives; after `mute`, the
        sentences are still read (the reply becomes final) but not synthesised."""
        try:
            for i, text in enumerate(texts):
                if mute.is_set() or not text or not text.strip():
                    continue
                for j, sentence in enumerate(split_sentences(text)):  # one by one: each may be personal
                    if mute.is_set():
                        break
                    personal = self.personal(sentence)
                    for chunk in self.speech(sentence, split_first_clause=(i == 0 and j == 0)):
                        if mute.is_set():
                            break
                        chunks.put(_Speech(chunk, personal))
        except Exception as exc:  # noqa: BLE001 - handed to the dialogue thread
            chunks.put(exc)
        finally:
            chunks.put(_REPLY_END)

    def _wait_caller_quiet(self) -> None:
        """Do not start a reply over the caller (they may be talking over a filler)."""
        deadline = time.perf_counter() + CALLER_TALKING_WAIT_S
        while self.caller_talking() and not self.closed.is_set() and time.perf_counter() < deadline:
            time.sleep(0.02)


def _merge(total: PlayResult, part: PlayResult) -> None:
    total.frames_sent += part.frames_sent
    if total.first_frame_at is None:
        total.first_frame_at = part.first_frame_at
    total.max_gap_ms = max(total.max_gap_ms, part.max_gap_ms)
    total.marks += part.marks
