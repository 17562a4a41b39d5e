"""One phone call: caller audio in, dialogue, bot audio out.

Two threads per call:
- the socket thread (the WebSocket route) calls `on_event` for every Media Streams
  event: audio frames go through the endpointer and into the streaming recogniser; it
  also detects barge-in and collects keypad digits. It never waits on a model.
- the dialogue thread (`_run`) takes finished caller turns from a queue: finishes
  recognition, runs the DialogueSession, and plays the reply (TTS streamed sentence by
  sentence, paced, with marks). Silence timeouts are handled here too.

Whatever happens (hang-up mid-sentence, socket drop, a crashing backend), `close` leaves
a complete call record.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from callflows.dialogue import BotReply, DialogueSession
from callflows.logs import call_logger
from callflows.speech import codec
from callflows.speech.vad import Endpointer, SpeechEnded, SpeechStarted, is_backchannel
from callflows.telephony.media_stream import Dtmf, MarkEcho, MediaChunk, StreamStart, StreamStop
from callflows.telephony.outbound import OutboundAudio
from callflows.verticals import load_vertical

DTMF_TIMEOUT_S = 3.0
FALLBACK_TEXT = "I'm sorry, I'm having trouble on my side. Let me connect you with someone who can help."


@dataclass
class CallerTurn:
    audio: bytes
    stream: Any  # the recogniser stream that heard it
    speech_end_at: float  # perf_counter of the last speech frame
    endpoint_ms: float
    barged_in: bool


@dataclass
class KeypadTurn:
    digits: str
    at: float


@dataclass
class TurnLatency:
    endpoint_ms: float
    stt_ms: float
    nlu_ms: float
    tts_first_audio_ms: float | None
    total_ms: float | None  # caller's last speech frame -> bot's first audio frame sent


@dataclass
class CallStats:
    latencies: list[TurnLatency] = field(default_factory=list)
    barge_ins: int = 0
    max_gap_ms: float = 0.0
    transcripts: list[str] = field(default_factory=list)


class CallHandler:
    def __init__(self, services: Any, send: Callable[[str], None], start: StreamStart):
        self.services = services
        self.start_event = start
        params = start.custom_parameters or {}
        vertical = load_vertical(params.get("vertical") or services.settings.default_vertical, services.store)
        self.session = DialogueSession(
            vertical, services.store, channel="phone", caller_number=params.get("from"),
            to_number=params.get("to"), twilio_call_sid=start.call_sid,
        )
        self.call_id = self.session.call_id
        self.log = call_logger(__name__, self.call_id)
        self._send_raw = send
        self._send_lock = threading.Lock()
        self.out = OutboundAudio(self._send, start.stream_sid)
        self.endpointer = Endpointer(services.endpoint_config, self.session.expectation)
        self.stats = CallStats()
        self._stream: Any = None  # recogniser stream of the turn in progress
        self._speech_frames = 0  # frames of the turn in progress
        self._turn_audio = bytearray()  # the turn in progress, for the barge-in check
        self._barging = False
        self._barge_after = 0  # frames of speech before the next backchannel check
        self._checked_partial = ""  # the last partial transcript tested for a complete answer
        self._barge_check: Any = None  # a quick decode deciding whether speech over the bot is a backchannel
        self._turns: queue.Queue[CallerTurn | KeypadTurn | None] = queue.Queue()
        self._digits = ""
        self._digits_at = 0.0
        self._last_activity = time.perf_counter()
        self._closed = threading.Event()
        self._ended = False
        self._finished = False
        self._finish_lock = threading.Lock()
        services.call_started()
        self._thread = threading.Thread(target=self._run, name=f"call-{self.call_id[:8]}", daemon=True)
        self._thread.start()
        self.log.info("call started: vertical=%s stream=%s", vertical.name, start.stream_sid)

    # ================================================================ socket thread
    def on_event(self, event: Any) -> None:
        if self._closed.is_set():
            return
        if isinstance(event, MediaChunk):
            self._on_audio(codec.ulaw_to_pcm16(event.payload))
        elif isinstance(event, Dtmf):
            self._on_digit(event.digit)
        elif isinstance(event, MarkEcho):
            self.out.on_mark(event.name)
        elif isinstance(event, StreamStop):
            self.close("caller_hung_up")

    def _on_audio(self, pcm: bytes) -> None:
        started_now = False  # SpeechStarted.audio already holds this frame
        for event in self.endpointer.feed_audio(pcm):
            if isinstance(event, SpeechStarted):
                started_now = True
                self._last_activity = time.perf_counter()
                self._stream = self.services.recognizer.start(self.session.expectation)
                self._stream.accept(event.audio)  # pre-roll and onset: the first word
                self._speech_frames = len(event.audio) // 320
                self._turn_audio = bytearray(event.audio)
                self._barging = False
                self._barge_check = None
                self._barge_after = 0
                self._checked_partial = ""
            elif isinstance(event, SpeechEnded):
                self._end_of_speech(event)
        if self.endpointer.in_speech and self._stream is not None and not started_now:
            self._stream.accept(pcm)
            self._turn_audio += pcm
            self._speech_frames += 1
            self._last_activity = time.perf_counter()
            self._check_barge_in()
            self._check_complete_answer()
        if self._digits and time.perf_counter() - self._digits_at > DTMF_TIMEOUT_S:
            self._flush_digits()

    def _check_complete_answer(self) -> None:
        """Semantic endpointing: at a short pause, if the words heard so far already make a
        complete answer to the slot asked for, end the turn without waiting out the long
        silence (which is there for "my birthday is... March... fifth")."""
        config = self.services.endpoint_config
        silence = self.endpointer.trailing_silence_ms
        if silence < config.complete_answer_silence_ms or silence >= config.end_silence_ms(self.endpointer.expectation):
            return
        partial = self._stream.partial()
        if partial and partial != self._checked_partial:
            self._checked_partial = partial
            if self.session.is_complete_answer(partial):
                ended = self.endpointer.end_turn()
                if ended is not None:
                    self._end_of_speech(ended)

    def _check_barge_in(self) -> None:
        """Speech over the bot: after `barge_in_ms`, a quick decode tells a real interruption
        from a backchannel ("uh-huh", "okay"); only a real one stops the bot (clear)."""
        if self._barging or not self.out.speaking:
            return
        if self._barge_check is None:
            if self._speech_frames >= max(self.services.barge_in_ms // 20, self._barge_after):
                self._barge_check = self.services.quick_transcribe(bytes(self._turn_audio))
            return
        if not self._barge_check.done():
            return
        try:
            words = self._barge_check.result().text
        except Exception:  # noqa: BLE001 - no transcript: trust the length of the speech
            words = "?"
        if words.strip() and not is_backchannel(words):
            self._barging = True
            self.stats.barge_ins += 1
            self.log.info("barge-in: the caller spoke over the bot")
            self.out.clear()
        else:
            self._barge_check = None  # a backchannel so far: look again if the speech goes on
            self._barge_after = self._speech_frames + 20

    def _end_of_speech(self, event: SpeechEnded) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        if self.out.speaking and not self._barging:
            # short sound while the bot talks: a backchannel or a cough, not a turn
            self.log.debug("ignored %d ms of sound during bot speech", self._speech_frames * 20)
            return
        now = time.perf_counter()
        self._turns.put(CallerTurn(
            audio=event.audio, stream=stream, speech_end_at=now - event.trailing_silence_ms / 1000,
            endpoint_ms=float(event.trailing_silence_ms), barged_in=self._barging,
        ))

    def _on_digit(self, digit: str) -> None:
        self._last_activity = time.perf_counter()
        if self.out.speaking:
            self.out.clear()
        if digit == "#":
            self._flush_digits()
            return
        self._digits += digit
        self._digits_at = time.perf_counter()
        expected = self.session.expectation.digits_length
        if expected and len(self._digits) >= expected:
            self._flush_digits()

    def _flush_digits(self) -> None:
        if self._digits:
            self._turns.put(KeypadTurn(self._digits, time.perf_counter()))
            self._digits = ""

    def _send(self, message: str) -> None:
        if self._closed.is_set():
            return
        with self._send_lock:
            try:
                self._send_raw(message)
            except Exception as exc:  # noqa: BLE001 - the socket is gone: end the call
                self.log.warning("socket send failed: %s", type(exc).__name__)
                self._closed.set()

    # ================================================================ dialogue thread
    def _run(self) -> None:
        try:
            self._speak(self.session.start(), None)
            timeout = self.services.settings.silence_timeout_s
            while not self._closed.is_set() and not self._ended:
                try:
                    turn = self._turns.get(timeout=0.2)
                except queue.Empty:
                    if (not self.out.speaking and not self.endpointer.in_speech
                            and time.perf_counter() - self._last_activity > timeout):
                        self._last_activity = time.perf_counter()
                        self._speak(self.session.handle_silence(), None)
                    continue
                if turn is None:
                    break
                if isinstance(turn, KeypadTurn):
                    self._speak(self.session.handle_text(turn.digits, source="dtmf"), None)
                else:
                    self._caller_turn(turn)
        except Exception:  # noqa: BLE001 - never leave a caller in silence
            self.log.exception("call pipeline failed; transferring")
            self._fail_over()
        finally:
            self._finish("pipeline_ended")

    def _caller_turn(self, turn: CallerTurn) -> None:
        t0 = time.perf_counter()
        try:
            transcript = turn.stream.finish()
        except Exception as exc:  # noqa: BLE001 - a failed recogniser: say so, keep the call
            self.log.error("speech recognition failed: %s", type(exc).__name__)
            self._speak(self.session.handle_text("", source="speech"), None)
            return
        stt_ms = (time.perf_counter() - t0) * 1000
        text = transcript.text.strip()
        if not text or (turn.barged_in and is_backchannel(text)):
            self.log.debug("no words in the turn (%d ms of audio)", codec.duration_ms(turn.audio))
            return
        self.stats.transcripts.append(text)
        self._last_activity = time.perf_counter()
        t1 = time.perf_counter()
        reply = self.session.handle_text(text, source="speech",
                                         timings={"endpoint_ms": turn.endpoint_ms, "stt_ms": stt_ms})
        nlu_ms = (time.perf_counter() - t1) * 1000
        self._speak(reply, (turn, stt_ms, nlu_ms, t1))

    def _speak(self, reply: BotReply, timing: tuple | None) -> None:
        self.endpointer.set_expectation(reply.expectation)
        started = time.perf_counter()
        result = self.out.play(self.services.speech(reply.text), label="bot") if reply.text else None
        if result is not None:
            self.stats.max_gap_ms = max(self.stats.max_gap_ms, result.max_gap_ms)
        if timing is not None and result is not None and result.first_frame_at is not None:
            turn, stt_ms, nlu_ms, _ = timing
            latency = TurnLatency(
                endpoint_ms=turn.endpoint_ms, stt_ms=stt_ms, nlu_ms=nlu_ms,
                tts_first_audio_ms=(result.first_frame_at - started) * 1000,
                total_ms=(result.first_frame_at - turn.speech_end_at) * 1000,
            )
            self.stats.latencies.append(latency)
            self.session.recorder.update_last_caller_turn(
                tts_first_audio_ms=latency.tts_first_audio_ms, total_ms=latency.total_ms)
        self._last_activity = time.perf_counter()
        if reply.transfer_to:
            self.out.wait_played(timeout=15)
            self._transfer(reply.transfer_to)
        elif reply.end_call:
            self.out.wait_played(timeout=15)
            self._ended = True

    def _transfer(self, number: str) -> None:
        twilio = self.services.twilio
        if twilio is None:
            self.log.warning("transfer requested but no Twilio credentials are configured")
        else:
            try:
                twilio.transfer(self.start_event.call_sid, number)
                self.log.info("transferred to the vertical's number")
            except Exception as exc:  # noqa: BLE001
                self.log.error("transfer failed: %s", exc)
        self._ended = True

    def _fail_over(self) -> None:
        """A backend failed: a spoken fallback, then a person."""
        try:
            self.out.play([self.services.prompts.get(FALLBACK_TEXT)], label="fallback")
            self.out.wait_played(timeout=10)
        except Exception:  # noqa: BLE001 - TTS itself may be what failed
            pass
        number = self.session.flow.transfer_number
        if number:
            self.session.state.transferred_to = number
            self._transfer(number)
        self.session.state.outcomes.append("pipeline_failed")

    # ================================================================ ending
    def close(self, reason: str = "socket_closed") -> None:
        """The socket is closing (stop event, hang-up, drop): finish the record."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.out.cancel()
        self._turns.put(None)
        self._finish(reason)
        self._thread.join(timeout=5)

    def _finish(self, reason: str) -> None:
        with self._finish_lock:  # the socket thread and the dialogue thread may both end the call
            if self._finished:
                return
            self._finished = True
        self._closed.set()
        self.session.end(self.session.final_outcome(reason))
        self.session.recorder.flush(attempts=3)
        self.services.call_ended()
        self.log.info("call closed (%s), %d turns measured", reason, len(self.stats.latencies))

    @property
    def ended(self) -> bool:
        """The dialogue is over (goodbye, transfer): the route closes the socket."""
        return self._ended
