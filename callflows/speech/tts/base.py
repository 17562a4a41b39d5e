"""Text to speech: the contract every voice backend meets (Piper today; a user's own voice
plugs in the same way)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Protocol, runtime_checkable


@runtime_checkable
class TextToSpeech(Protocol):
    """A voice that speaks 8 kHz mu-law for the phone. ``voice_id`` names the voice (cache keys
    depend on it); ``synthesize_stream`` yields audio sentence by sentence."""

    @property
    def voice_id(self) -> str: ...

    def load(self) -> None: ...

    def synthesize_stream(self, text: str, *, normalize: bool = True, today: date | None = None) -> Iterator[bytes]: ...

    def synthesize(self, text: str, *, normalize: bool = True, today: date | None = None) -> bytes: ...
