"""Speech to text: the contract every recogniser backend meets.

A backend (``whisper``, ``vosk``, or a user's own) is a ``SpeechRecognizer``: ``start`` opens a
``RecognizerStream`` for one caller turn, biased by what the dialogue expects; the phone layer
feeds it 8 kHz PCM16 while the caller speaks and takes a ``Transcript`` when the turn ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..expectation import Expectation


@dataclass(frozen=True)
class Transcript:
    """What the caller said: ``confidence`` in [0, 1]; ``duration_ms`` of audio heard;
    ``alternatives``: other hypotheses, best first (a slot turn's n-best; may be empty)."""

    text: str
    confidence: float
    duration_ms: int
    alternatives: tuple[str, ...] = ()


@runtime_checkable
class RecognizerStream(Protocol):
    """One caller turn. ``accept`` is called with 8 kHz PCM16 while the caller speaks."""

    def accept(self, pcm16_8k: bytes) -> None: ...

    def partial(self) -> str: ...

    def finish(self) -> Transcript: ...


@runtime_checkable
class SpeechRecognizer(Protocol):
    """A speech recogniser backend. ``load`` loads the model now (at server start) rather than
    on the first turn; ``transcribe`` decodes a whole utterance at once (``bias=False``: no slot
    or free-speech bias at all, as the barge-in check wants: what was said over the bot, plainly)."""

    def load(self) -> None: ...

    def start(self, expectation: Expectation | None = None) -> RecognizerStream: ...

    def transcribe(self, pcm16_8k: bytes, expectation: Expectation | None = None, *, bias: bool = True) -> Transcript: ...
