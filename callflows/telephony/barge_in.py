"""Speech over the bot: a real interruption stops the bot, a backchannel does not.

While the bot speaks, the caller's speech is decoded quickly once it has lasted ``barge_in_ms``:
words other than a backchannel ("uh-huh", "okay") clear the bot's audio at once. Speech that ends
before that decode has decided is held back and decided on all of it: a short "no wait" or
"stop" is a turn, "uh-huh" or a cough is dropped. Runs on the call's socket thread and never waits
on a model (the decodes are futures).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future

from callflows.speech import codec
from callflows.speech.stt import Transcript
from callflows.speech.vad import SpeechEnded, is_interruption
from callflows.telephony.caller_turns import CallerTurn
from callflows.telephony.outbound import OutboundAudio

BACKCHANNEL_RECHECK_FRAMES = 20
"""A backchannel so far: look again after this many more 20 ms frames if the speech goes on."""


class BargeIn:
    """The barge-in decisions of one call (``count``: how many times the caller cut the bot off)."""

    def __init__(self, out: OutboundAudio, quick_transcribe: Callable[[bytes], Future[Transcript]],
                 barge_in_ms: int, log: logging.Logger | logging.LoggerAdapter) -> None:
        self.out = out
        self.quick_transcribe = quick_transcribe
        self.barge_in_ms = barge_in_ms
        self.log = log
        self.count = 0
        self.barging = False
        """The turn in progress interrupted the bot."""
        self._after_frames = 0  # frames of speech before the next backchannel check
        self._check: Future[Transcript] | None = None  # the quick decode of the speech so far
        self._check_ms = 0  # how much speech that decode heard
        self._overlap: tuple[Future[Transcript], CallerTurn] | None = None  # a turn that ended over the bot

    def speech_started(self) -> None:
        """A new caller turn begins."""
        self.barging = False
        self._check = None
        self._after_frames = 0

    def speech_continues(self, turn_audio: bytes, speech_frames: int, trailing_silence_ms: int) -> None:
        """A frame of the turn in progress: start the quick decode once the speech is long enough,
        and stop the bot when it says the caller is interrupting."""
        if self.barging or not self.out.speaking:
            return
        if self._check is None:
            if speech_frames >= max(self.barge_in_ms // 20, self._after_frames):
                self._check = self.quick_transcribe(turn_audio)
                self._check_ms = codec.duration_ms(turn_audio) - trailing_silence_ms
            return
        if not self._check.done():
            return
        try:
            words = self._check.result().text
        except Exception:  # noqa: BLE001 - no transcript: trust the length of the speech
            words = "?"
        if is_interruption(words, self._check_ms):
            self.barging = True
            self._interrupted()
        else:
            self._check = None
            self._after_frames = speech_frames + BACKCHANNEL_RECHECK_FRAMES

    def held_back(self, turn: CallerTurn, ended: SpeechEnded) -> bool:
        """A turn that ended while the bot still speaks, before the quick decode decided: decode
        all of it and decide later (``overlap_turn``). False: the turn goes to the dialogue now."""
        if not self.out.speaking or self.barging:
            return False
        voiced = ended.audio[:max(len(ended.audio) - ended.trailing_silence_ms * 16, 0)]
        self._overlap, self._check = (self.quick_transcribe(voiced), turn), None
        return True

    def overlap_turn(self) -> CallerTurn | None:
        """The held-back turn once its decode is done, if its words interrupt the bot (the bot is
        cleared and the turn marked barged-in); None while pending, or for a backchannel."""
        if self._overlap is None or not self._overlap[0].done():
            return None
        check, turn = self._overlap
        self._overlap = None
        try:
            words = check.result().text
        except Exception:  # noqa: BLE001 - no transcript: nothing to act on
            words = ""
        if not is_interruption(words, turn.spoken_ms):
            self.log.debug("ignored %d ms of sound during bot speech", turn.spoken_ms)
            return None
        if self.out.speaking:
            self._interrupted()
        turn.barged_in = True
        return turn

    def _interrupted(self) -> None:
        self.count += 1
        self.log.info("barge-in: the caller spoke over the bot")
        self.out.clear()
