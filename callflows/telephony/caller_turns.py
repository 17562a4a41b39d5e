"""What the socket thread hands the dialogue thread (call.py): a caller's spoken turn, or keys.

Values only, in their own module so that the parts of a call that wait on the caller (the
consent question, a turn that goes on: consent_answer.py, continued_turn.py) read the same
queue items as call.py without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from callflows.speech import codec
from callflows.speech.stt import RecognizerStream
from callflows.telephony.call_recording import CallerSpan


@dataclass
class CallerTurn:
    """Speech from its onset through the pause that ended it."""

    audio: bytes
    stream: RecognizerStream  # the recogniser stream that heard it
    speech_end_at: float  # perf_counter of the last speech frame
    endpoint_ms: float
    barged_in: bool
    span: CallerSpan | None = None  # where it lies in the call's recording (None: not recorded)

    @property
    def spoken_ms(self) -> float:
        """The turn's speech, without the pause that ended it."""
        return codec.duration_ms(self.audio) - self.endpoint_ms


@dataclass
class KeypadTurn:
    """Keys typed, ended by '#', the expected count or a pause."""

    digits: str
    at: float
