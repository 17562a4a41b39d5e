"""Voice activity and slot-aware end-of-turn detection on 20 ms, 8 kHz PCM16 frames."""

from __future__ import annotations

import logging
import re
from collections import deque
from dataclasses import dataclass, field

import webrtcvad

from . import codec
from .expectation import Expectation

log = logging.getLogger(__name__)

FRAME_MS = 20
FRAME_BYTES = codec.PHONE_RATE * FRAME_MS // 1000 * 2  # 320


class VoiceActivity:
    """webrtcvad (``aggressiveness`` 0-3) and an energy floor: a frame is speech only if both agree."""

    def __init__(self, aggressiveness: int = 2, energy_floor_dbfs: float = -45.0) -> None:
        self.aggressiveness = aggressiveness
        self.energy_floor_dbfs = energy_floor_dbfs
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: bytes) -> bool:
        """Whether a 20 ms 8 kHz PCM16 frame (320 bytes) is speech."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"expected a {FRAME_BYTES}-byte frame (20 ms of 8 kHz PCM16), got {len(frame)}")
        if codec.rms_dbfs(frame) < self.energy_floor_dbfs:
            return False
        return bool(self._vad.is_speech(frame, codec.PHONE_RATE))


@dataclass(frozen=True)
class EndpointConfig:
    """End-of-turn thresholds (milliseconds)."""

    short_silence_ms: int = 350
    """Silence that ends a yes/no answer."""
    long_silence_ms: int = 1200
    """Silence that ends digits, dates, phone numbers and personal data (callers pause mid-way)."""
    default_silence_ms: int = 600
    complete_answer_silence_ms: int = 300
    """A pause this long ends the turn early when what was heard already completes the expected slot."""
    min_speech_ms: int = 200
    """Voiced time needed before a sound counts as speech (a cough or click does not)."""
    onset_gap_ms: int = 100
    """Unvoiced time that cancels a not-yet-confirmed onset."""
    preroll_ms: int = 200
    """Audio kept from before the onset (so the first syllable is not clipped)."""
    max_turn_ms: int = 30_000
    """A turn longer than this is ended anyway."""
    no_input_ms: int | None = None
    """Emit ``NoInput`` after this long without speech (None: never)."""
    aggressiveness: int = 2
    energy_floor_dbfs: float = -45.0
    long_slot_types: frozenset[str] = field(
        default_factory=lambda: frozenset({"digits", "date", "datetime", "time", "phone_number", "money"})
    )

    def end_silence_ms(self, expectation: Expectation | None) -> int:
        """Trailing silence that ends the turn for this expectation."""
        if expectation is None:
            return self.default_silence_ms
        if expectation.yes_no and not expectation.choices:
            return self.default_silence_ms if expectation.summary else self.short_silence_ms
        if (
            expectation.pii
            or expectation.digits_length is not None
            or expectation.slot_type in self.long_slot_types
        ):
            return self.long_silence_ms
        return self.default_silence_ms


@dataclass(frozen=True)
class SpeechStarted:
    """Speech confirmed (``min_speech_ms`` voiced); ``at_ms`` is the onset from the stream start.

    ``audio`` is the turn so far (pre-roll + onset, PCM16 8 kHz): feed it to the recogniser
    stream first, then every later frame until ``SpeechEnded``."""

    at_ms: int
    audio: bytes = b""


@dataclass(frozen=True)
class SpeechEnded:
    """End of turn: ``audio`` is PCM16 8 kHz from the pre-roll through the trailing silence,
    whose length is ``trailing_silence_ms`` (cut it off if unwanted)."""

    audio: bytes
    trailing_silence_ms: int


@dataclass(frozen=True)
class NoInput:
    """No speech within ``EndpointConfig.no_input_ms`` of the start (or the last turn)."""

    waited_ms: int


EndpointEvent = SpeechStarted | SpeechEnded | NoInput


class Endpointer:
    """Fed 20 ms frames; tells when the caller starts and stops a turn.

    ``expectation`` (changeable with ``set_expectation``) picks the end-of-turn silence.
    """

    def __init__(self, config: EndpointConfig | None = None, expectation: Expectation | None = None) -> None:
        self.config = config or EndpointConfig()
        self.expectation = expectation
        self._vad = VoiceActivity(self.config.aggressiveness, self.config.energy_floor_dbfs)
        self._preroll: deque[bytes] = deque(maxlen=max(1, self.config.preroll_ms // FRAME_MS))
        self._clock_ms = 0
        self._reset()

    def _reset(self) -> None:
        self._in_speech = False
        self._onset: list[bytes] = []
        self._onset_voiced_ms = 0
        self._onset_gap_ms = 0
        self._onset_at_ms = 0
        self._turn = bytearray()
        self._silence_ms = 0
        self._idle_ms = 0
        self._pause_wait_ms: int | None = None

    @property
    def in_speech(self) -> bool:
        """Whether a turn is in progress."""
        return self._in_speech

    @property
    def trailing_silence_ms(self) -> int:
        """Silence since the caller's last voiced frame, in a turn in progress (else 0)."""
        return self._silence_ms if self._in_speech else 0

    @property
    def turn_audio(self) -> bytes:
        """The turn in progress so far (pre-roll through the trailing silence; empty between turns)."""
        return bytes(self._turn) if self._in_speech else b""

    def end_silence_ms(self) -> int:
        """The silence that ends the turn now: this pause's wait if one was set, else the slot's."""
        if self._pause_wait_ms is not None:
            return self._pause_wait_ms
        return self.config.end_silence_ms(self.expectation)

    def set_pause_wait(self, ms: int | None) -> None:
        """Wait ``ms`` of silence (instead of the slot's wait) before ending the turn, in this
        pause only: a turn-end decision (turn_end.py) that heard a caller who is not done, or one
        that is. The next voiced frame restores the slot's wait."""
        self._pause_wait_ms = ms

    def end_turn(self) -> SpeechEnded | None:
        """End the turn in progress now (the caller said a complete answer and paused)."""
        if not self._in_speech:
            return None
        ended = SpeechEnded(bytes(self._turn), self._silence_ms)
        self._reset()
        return ended

    def set_expectation(self, expectation: Expectation | None) -> None:
        self.expectation = expectation

    def reset(self) -> None:
        """Drop any turn in progress (e.g. when the bot starts a new prompt)."""
        self._preroll.clear()
        self._reset()

    def feed(self, frame: bytes) -> list[EndpointEvent]:
        """Process one 20 ms PCM16 frame; returns the events it caused (usually none)."""
        cfg = self.config
        self._clock_ms += FRAME_MS
        voiced = self._vad.is_speech(frame)
        events: list[EndpointEvent] = []
        if not self._in_speech:
            if voiced or self._onset:
                self._onset.append(frame)
                if voiced:
                    if self._onset_voiced_ms == 0:
                        self._onset_at_ms = self._clock_ms - FRAME_MS
                    self._onset_voiced_ms += FRAME_MS
                    self._onset_gap_ms = 0
                else:
                    self._onset_gap_ms += FRAME_MS
                if self._onset_voiced_ms >= cfg.min_speech_ms:
                    self._in_speech = True
                    self._turn = bytearray(b"".join(self._preroll) + b"".join(self._onset))
                    self._silence_ms = self._onset_gap_ms
                    self._onset = []
                    self._preroll.clear()
                    events.append(SpeechStarted(self._onset_at_ms, bytes(self._turn)))
                elif self._onset_gap_ms > cfg.onset_gap_ms:
                    for old in self._onset:  # not speech: the frames become pre-roll
                        self._preroll.append(old)
                    self._onset, self._onset_voiced_ms, self._onset_gap_ms = [], 0, 0
            else:
                self._preroll.append(frame)
                self._idle_ms += FRAME_MS
                if cfg.no_input_ms is not None and self._idle_ms == cfg.no_input_ms:
                    events.append(NoInput(self._idle_ms))
            return events

        self._turn += frame
        self._silence_ms = 0 if voiced else self._silence_ms + FRAME_MS
        if voiced:
            self._pause_wait_ms = None
        turn_ms = len(self._turn) // (FRAME_BYTES // FRAME_MS)
        if self._silence_ms >= self.end_silence_ms() or turn_ms >= cfg.max_turn_ms:
            events.append(SpeechEnded(bytes(self._turn), self._silence_ms))
            self._reset()
        return events

    def feed_audio(self, pcm16: bytes) -> list[EndpointEvent]:
        """Feed any length of PCM16 (split into 20 ms frames, the last zero-padded)."""
        events: list[EndpointEvent] = []
        for frame in codec.pcm16_frames(pcm16, FRAME_MS):
            events.extend(self.feed(frame))
        return events


_BACKCHANNEL_TOKENS = frozenset(
    {"uh-huh", "uh-uh", "uh", "huh", "uhhuh", "mm-hmm", "mmhmm", "mhm", "mm", "hmm", "hm", "mhmm", "okay", "ok",
     "right", "yeah", "yep", "yup", "sure", "alright", "aha", "ah"}
)
_BACKCHANNEL_PHRASES = ("i see", "got it", "all right")


def is_backchannel(text: str) -> bool:
    """True if ``text`` is only a listener's acknowledgement ("uh-huh", "okay", "mm-hmm", "right",
    "yeah", "i see", and fillers like "hmm"), which should not interrupt the bot (no barge-in);
    False for anything with content ("yeah, tuesday", "no", "wait")."""
    norm = re.sub(r"[^a-z' -]", " ", text.lower())
    for phrase in _BACKCHANNEL_PHRASES:
        norm = norm.replace(phrase, " okay ")
    tokens = norm.replace("uh huh", "uh-huh").replace("mm hmm", "mm-hmm").split()
    return bool(tokens) and all(t in _BACKCHANNEL_TOKENS for t in tokens)


SHORT_OVERLAP_MS = 900
"""Speech over the bot shorter than this (pre-roll included) is one or two syllables: a
backchannel the recogniser may mangle ("yep" heard as "the"), unless it says an interruption word."""
_INTERRUPTION_WORDS = frozenset(
    {"no", "nope", "wait", "stop", "hold", "hang", "sorry", "what", "pardon", "excuse", "wrong", "actually",
     "hello", "hey", "repeat", "again", "but", "cancel", "not", "don't", "can't", "help", "person", "agent"}
)


def is_interruption(text: str, speech_ms: float) -> bool:
    """Whether speech over the bot should stop it: words that are not a backchannel and, for a
    short sound (under ``SHORT_OVERLAP_MS``), an interruption word or a number among them
    ("no wait", "stop", "what?", "five"); a longer stretch with any content stops it too."""
    if not text.strip() or is_backchannel(text):
        return False
    if speech_ms >= SHORT_OVERLAP_MS:
        return True
    words = set(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())
    return bool(words & _INTERRUPTION_WORDS) or any(w[0].isdigit() for w in words)
