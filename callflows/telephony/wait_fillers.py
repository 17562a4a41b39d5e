"""Filling the wait: no dead air while the agent works on an answer.

One ``WaitFiller`` per call, with its own thread. The dialogue thread tells it when a wait
begins (the caller's turn has ended: ``begin``), when reply audio is about to go out
(``hold``: a keyboard clip stops at once, a phrase is let finish), when a gap between streamed
sentences begins (``release``), and when the reply is over (``end``). While a wait is on and
the caller is not speaking, the thread watches how long the line has been silent (the end
of the audio sent so far, per ``OutboundAudio``) and plays, per the vertical's
``WaitingConfig``:

* a turn: ``acknowledge_after_ms`` of silence -> an acknowledgement ("Mm-hm."); at
  ``progress_after_ms`` into the wait -> a progress line ("I'm looking at your account
  now."); then after every ``repeat_after_ms`` of silence the soft keyboard sound and the
  next progress line, in turn;
* a gap between streamed sentences: ``acknowledge_after_ms`` of silence -> the keyboard
  sound (or a progress line without it), then progress lines as above.

Fillers are sent as ``filler-<kind>`` marks, never recorded as bot turns; a barge-in
(``clear``) stops them like any bot audio, and once the caller stops talking the wait
starts over (an acknowledgement first).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from callflows.telephony.outbound import OutboundAudio
from callflows.telephony.waiting import WaitingConfig

ACK, FIRST_PROGRESS, REPEAT, CONTINUE = "ack", "first_progress", "repeat", "continue"
MIN_GAP_MS = 300  # silence kept between two fillers, whatever the stage
KEYBOARD_LEAD_MS = 200  # typing is sent just ahead of playback so it stops quickly for the reply
TICK_S = 0.02


@dataclass(frozen=True)
class FillerPlayed:
    kind: str  # "ack" | "progress" | "keyboard"
    text: str  # the phrase ("" for the keyboard)
    wait_ms: float  # into the wait when its first frame was sent
    interrupted: bool  # cut by a barge-in, or (keyboard) by the reply


class WaitFiller:
    def __init__(self, out: OutboundAudio, config: WaitingConfig, fillers: Any,
                 caller_speaking: Callable[[], bool], log: Any, seed: str = ""):
        self.out = out
        self.config = config
        self.fillers = fillers
        self.caller_speaking = caller_speaking
        self.log = log
        self.played: list[FillerPlayed] = []  # every filler of the call, in order
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._active = False
        self._held = False
        self._closed = False
        self._playing = False
        self._stop = threading.Event()  # ends a keyboard clip early
        self._origin = 0.0  # when the wait (or the gap) began
        self._stage = ACK
        self._progress_next = 0
        self._keyboard_next = 0
        self._last_ack = ""
        self._caller_spoke = False
        self._repeat_keyboard = True  # in the repeat stage: keyboard next (else a progress line)
        self._wait_first = 0  # index in `played` of the current wait's first filler
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.config.enabled and self.fillers is not None

    # ------------------------------------------------------------------ dialogue thread
    def begin(self, origin: float) -> None:
        """A wait for the reply begins; ``origin`` is when the caller's turn ended."""
        if not self.enabled:
            return
        with self._cond:
            self._wait_first = len(self.played)
            self._start(origin, ACK)

    def hold(self) -> None:
        """Reply audio is ready: no new filler; a keyboard clip stops now, a phrase is let
        finish (its audio is already with Twilio); returns once nothing is being sent."""
        with self._cond:
            self._held = True
            self._stop.set()
            self._cond.wait_for(lambda: not self._playing, timeout=5.0)

    def release(self) -> None:
        """A reply sentence went out and the next is not ready: fill the gap after it."""
        if not self.enabled:
            return
        with self._cond:
            self._start(max(time.perf_counter(), self.out.audio_ends_at), CONTINUE)

    def end(self) -> None:
        """The reply is over (or abandoned)."""
        with self._cond:
            self._active = False
            self._held = False
            self._stop.set()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._active = False
            self._stop.set()
            self._cond.notify_all()

    def wait_fillers(self) -> list[FillerPlayed]:
        """The fillers of the current (or last) wait, from its ``begin`` on."""
        with self._cond:
            return list(self.played[self._wait_first:])

    def _start(self, origin: float, stage: str) -> None:
        self._active, self._held = True, False
        self._origin, self._stage = origin, stage
        self._progress_next = 0
        self._repeat_keyboard = True
        self._caller_spoke = False
        self._stop.clear()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wait-filler", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    # ------------------------------------------------------------------ filler thread
    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                if not self._active or self._held:
                    self._cond.wait(0.1)
                    continue
                choice = self._choose(time.perf_counter())
                origin = self._origin
                if choice is None:
                    self._cond.wait(TICK_S)
                    continue
            kind, text = choice
            try:
                audio = self._audio(kind, text)
            except Exception as exc:  # noqa: BLE001 - a filler must never break the call
                self.log.warning("filler %s not available: %s", kind, type(exc).__name__)
                continue
            with self._cond:
                if self._closed or not self._active or self._held or self.caller_speaking():
                    continue
                self._playing = True
                self._stop.clear()
            generation = self.out.generation
            try:
                keyboard = kind == "keyboard"
                result = self.out.play_chunk(audio, label=f"filler-{kind}",
                                             lead_ms=KEYBOARD_LEAD_MS if keyboard else None,
                                             stop=self._stop if keyboard else None)
            finally:
                with self._cond:
                    self._playing = False
                    self._cond.notify_all()
            if result.first_frame_at is not None:
                played = FillerPlayed(kind, text, (result.first_frame_at - origin) * 1000,
                                      result.interrupted or self.out.generation != generation)
                with self._cond:
                    self.played.append(played)
                self.log.debug("filler %s at %.0f ms into the wait%s", kind, played.wait_ms,
                               " (interrupted)" if played.interrupted else "")

    def _choose(self, now: float) -> tuple[str, str] | None:
        """The filler due now, if any (called with the lock held); advances the stage."""
        if self.caller_speaking():
            self._caller_spoke = True
            return None
        if self._caller_spoke:  # they spoke during the wait: acknowledge once they stop
            self._caller_spoke = False
            self._origin, self._stage, self._progress_next, self._repeat_keyboard = now, ACK, 0, True
            return None
        cfg = self.config
        silence_ms = (now - max(self.out.audio_ends_at, self._origin)) * 1000
        elapsed_ms = (now - self._origin) * 1000
        if self._stage == ACK:
            if silence_ms < cfg.acknowledge_after_ms:
                return None
            self._stage = FIRST_PROGRESS
            if cfg.acknowledgements:
                return "ack", self._pick_ack()
        if self._stage == CONTINUE:
            if silence_ms < cfg.acknowledge_after_ms:
                return None
            self._stage = FIRST_PROGRESS
            if cfg.keyboard:
                return "keyboard", ""
        if self._stage == FIRST_PROGRESS:
            if elapsed_ms < cfg.progress_after_ms or silence_ms < MIN_GAP_MS:
                return None
            self._stage = REPEAT
            self._repeat_keyboard = cfg.keyboard
            return "progress", self._pick_progress()
        if silence_ms < max(cfg.repeat_after_ms, MIN_GAP_MS):
            return None
        if self._repeat_keyboard:
            self._repeat_keyboard = False
            return "keyboard", ""
        self._repeat_keyboard = cfg.keyboard
        return "progress", self._pick_progress()

    def _pick_ack(self) -> str:
        options = [a for a in self.config.acknowledgements if a != self._last_ack] or list(self.config.acknowledgements)
        self._last_ack = self._rng.choice(options)
        return self._last_ack

    def _pick_progress(self) -> str:
        """In order; after the last, back to the second (the first opens a wait)."""
        lines = self.config.progress
        text = lines[self._progress_next % len(lines)]
        self._progress_next += 1
        if self._progress_next >= len(lines):
            self._progress_next = 1 if len(lines) > 1 else 0
        return text

    def _audio(self, kind: str, text: str) -> bytes:
        if kind == "keyboard":
            self._keyboard_next += 1
            return self.fillers.keyboard(self.config.keyboard_ms, self._keyboard_next)
        return self.fillers.phrase(text)
