"""The caller back with the bot after a warm transfer nobody took: apology, callback request.

The Media Stream opened by ``/twilio/transfer/return`` carries a signed ``resume`` parameter
(the attempt id); the media route then makes a ``CallbackHandler`` instead of a
``CallHandler``.  It continues the same call record: its turns are appended (masked), the
request goes to ``callback_requests``, and the call's outcome and end time say how it
ended (``callback_requested``, ``callback_declined``, ``callback_not_understood``, or the
hang-up).  Speech goes through the same endpointer and recogniser as the bot; the keypad
works for every answer.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from callflows.logs import call_logger
from callflows.privacy import mask_value
from callflows.speech import codec
from callflows.speech.stt import RecognizerStream
from callflows.speech.vad import Endpointer, SpeechEnded, SpeechStarted
from callflows.store import transfers as tx
from callflows.store.models import Call
from callflows.store.repo import add_turn
from callflows.store.types import utcnow
from callflows.telephony.callback_dialogue import CallbackDialogue, Prompt
from callflows.telephony.media_stream import Dtmf, InboundEvent, MarkEcho, MediaChunk, StreamStart, StreamStop
from callflows.telephony.outbound import OutboundAudio

if TYPE_CHECKING:
    from callflows.telephony.services import PhoneServices

RESUME_PARAMETER = "resume"
DIGIT_TIMEOUT_S = 3.0
SILENCE_TIMEOUT_S = 8.0
UNKNOWN_ATTEMPT = "Sorry, something went wrong on our side. Please call us again. Goodbye."


@dataclass(frozen=True)
class CallerAnswer:
    text: str
    source: str  # "speech" or "dtmf"


class CallbackHandler:
    """``on_event`` from the socket thread; the conversation runs on its own thread."""

    def __init__(self, services: "PhoneServices", send: Callable[[str], None], start: StreamStart):
        self.services = services
        self.attempt_id = (start.custom_parameters or {}).get(RESUME_PARAMETER, "")
        with services.store.session() as s:
            attempt = tx.get_attempt(s, self.attempt_id)
            first_return = attempt is not None and tx.mark_returned(s, self.attempt_id)
        self.call_id = attempt.call_id if attempt is not None else None
        self.vertical = attempt.vertical if attempt is not None else ""
        self.log = call_logger(__name__, self.call_id)
        self.out = OutboundAudio(send, start.stream_sid)
        self.dialogue = CallbackDialogue((start.custom_parameters or {}).get("from"))
        self.endpointer = Endpointer(services.endpoint_config, None)
        self._stream: RecognizerStream | None = None
        self._answers: queue.Queue[CallerAnswer | None] = queue.Queue()
        self._digits = ""
        self._digits_at = 0.0
        self._closed = threading.Event()
        self._ended = False
        self._outcome = "callback_hung_up"
        self._finish_lock = threading.Lock()
        self._finished = False
        if attempt is None or not first_return:  # a forged or reused resume: say sorry, end
            self.log.warning("stream back to the bot for an unknown or already resumed transfer")
            self._thread = threading.Thread(target=self._refuse, daemon=True)
        else:
            self.log.info("caller back with the bot after transfer %s (%s)", self.attempt_id, attempt.state)
            self._thread = threading.Thread(target=self._run, name=f"callback-{self.attempt_id[:8]}", daemon=True)
        self._thread.start()

    @property
    def ended(self) -> bool:
        return self._ended

    # ------------------------------------------------------------------ socket thread
    def on_event(self, event: InboundEvent) -> None:
        if self._closed.is_set():
            return
        handle = {MediaChunk: lambda e: self._on_audio(codec.ulaw_to_pcm16(e.payload)),
                  Dtmf: lambda e: self._on_digit(e.digit), MarkEcho: lambda e: self.out.on_mark(e.name),
                  StreamStop: lambda _e: self.close("caller_hung_up")}.get(type(event))
        if handle is not None:
            handle(event)

    def _on_audio(self, pcm: bytes) -> None:
        """Speech: the recogniser hears a turn from its onset to the endpointer's end."""
        events = self.endpointer.feed_audio(pcm)
        starts = [e for e in events if isinstance(e, SpeechStarted)]
        if starts:
            self._stream = self.services.recognizer.start(self.endpointer.expectation)
            self._stream.accept(starts[-1].audio)
        elif self.endpointer.in_speech and self._stream is not None:
            self._stream.accept(pcm)
        if any(isinstance(e, SpeechEnded) for e in events) and self._stream is not None:
            stream, self._stream = self._stream, None
            self._answers.put(self._transcribe(stream))
        if self._digits and time.perf_counter() - self._digits_at > DIGIT_TIMEOUT_S:
            self._flush_digits()

    def _transcribe(self, stream: RecognizerStream) -> CallerAnswer:
        try:
            return CallerAnswer(stream.finish().text.strip(), "speech")
        except Exception as exc:  # noqa: BLE001 - a failed recogniser: an empty answer, asked again
            self.log.error("speech recognition failed: %s", type(exc).__name__)
            return CallerAnswer("", "speech")

    def _on_digit(self, digit: str) -> None:
        """Keys: ``#`` ends a number; a one-key question is answered by its key (1 also
        answers "the number you're calling from?"); a pause of 3 s ends the rest."""
        if self.out.speaking:
            self.out.clear()
        self._digits += "" if digit == "#" else digit
        self._digits_at = time.perf_counter()
        expectation = self.endpointer.expectation
        one_key = bool(expectation and expectation.digits_length == 1) or self._digits == "1"
        if digit == "#" or (one_key and self.dialogue.step != "number"):
            self._flush_digits()

    def _flush_digits(self) -> None:
        if self._digits:
            self._answers.put(CallerAnswer(self._digits, "dtmf"))
            self._digits = ""

    # ------------------------------------------------------------------ conversation
    def _run(self) -> None:
        try:
            prompt = self.dialogue.start()
            while True:
                self._say(prompt)
                if prompt.end or self._closed.is_set():
                    break
                answer = self._next_answer()
                if answer is None:
                    break
                self._record_caller(answer)
                prompt = self.dialogue.handle(answer.text, answer.source)
            self._outcome = self._conversation_outcome()
            if prompt.end:
                self.out.wait_played(timeout=20)
                self._ended = True
        except Exception:  # noqa: BLE001 - never crash the socket; the record says so
            self.log.exception("callback conversation failed")
            self._outcome = "callback_failed"
            self._ended = True
        finally:
            self._finish(self._outcome)

    def _refuse(self) -> None:
        try:
            self.out.play(self.services.speech(UNKNOWN_ATTEMPT), "apology")
            self.out.wait_played(timeout=10)
        except Exception:  # noqa: BLE001 - the caller hears silence; the socket is closed anyway
            self.log.exception("the apology could not be spoken")
        self._ended = True

    def _next_answer(self) -> CallerAnswer | None:
        deadline = time.perf_counter() + SILENCE_TIMEOUT_S
        while not self._closed.is_set():
            try:
                return self._answers.get(timeout=0.2)
            except queue.Empty:
                if self.out.speaking or self.endpointer.in_speech or self._digits:
                    deadline = time.perf_counter() + SILENCE_TIMEOUT_S
                elif time.perf_counter() > deadline:
                    return CallerAnswer("", "speech")
        return None

    def _say(self, prompt: Prompt) -> None:
        self.endpointer.set_expectation(prompt.expectation)
        self._record("bot", prompt.text)
        self.out.play(self.services.speech(prompt.text), "callback")

    def _conversation_outcome(self) -> str:
        if self.dialogue.request is not None:
            number, when = self.dialogue.request
            with self.services.store.session() as s:
                tx.add_callback_request(s, self.call_id or "", self.vertical, number, when, self.attempt_id)
            self.log.info("callback requested (%s)", when)
            return "callback_requested"
        return "callback_declined" if self.dialogue.declined else "callback_not_understood"

    def _record_caller(self, answer: CallerAnswer) -> None:
        pii = self.dialogue.step in ("number", "same_number") and not (answer.source == "dtmf" and answer.text == "1")
        text = answer.text if not pii else mask_value("phone_number", answer.text)
        self._record("caller", f"[keypad] {text}" if answer.source == "dtmf" else text)

    def _record(self, speaker: str, text: str) -> None:
        if not self.call_id:
            return
        try:
            with self.services.store.session() as s:
                add_turn(s, self.call_id, speaker, text, extra={"after_transfer": self.attempt_id})
        except Exception as exc:  # noqa: BLE001 - the conversation goes on; the record misses a turn
            self.log.error("turn not recorded: %s", type(exc).__name__)

    # ------------------------------------------------------------------ ending
    def close(self, reason: str = "socket_closed") -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.out.cancel()
        self._answers.put(None)
        self._thread.join(timeout=5)
        self._finish(self._outcome)

    def _finish(self, outcome: str) -> None:
        with self._finish_lock:
            if self._finished or not self.call_id:
                return
            self._finished = True
        try:
            with self.services.store.session() as s:
                call = s.get(Call, self.call_id)
                if call is not None:
                    call.outcome = outcome
                    call.ended_at = utcnow()
                    call.summary = {**(call.summary or {}), "callback": outcome}
        except Exception as exc:  # noqa: BLE001
            self.log.error("call record not updated: %s", type(exc).__name__)
        self.log.info("back-with-the-bot part closed: %s", outcome)
