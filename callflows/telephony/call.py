"""One phone call: caller audio in, dialogue, bot audio out.

Two threads per call:
- the socket thread (the WebSocket route) calls `on_event` for every Media Streams
  event: audio frames go through the endpointer and into the streaming recogniser; it
  also detects barge-in and collects keypad digits. It never waits on a model.
- the dialogue thread (`_run`) takes finished caller turns from a queue: finishes
  recognition, runs the DialogueSession, and plays the reply (reply_audio.py: TTS streamed
  sentence by sentence, paced, with marks). A reply may stream its sentences
  (``BotReply.sentences``, e.g. from an LLM): each is synthesised and sent as soon as it
  arrives. Silence timeouts are handled here too.
- the filler thread (``WaitFiller``) fills the wait between the caller's turn and the
  reply, and the gaps between streamed sentences, with acknowledgements, progress lines
  and a soft keyboard sound, so the caller never hears more than about 2 s of dead air.

Whatever happens (hang-up mid-sentence, socket drop, a crashing backend), `close` leaves
a complete call record.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from callflows.dialogue import BotReply, DialogueSession
from callflows.logs import call_logger
from callflows.privacy import REDACTED, mask_text
from callflows.speech import codec
from callflows.speech.expectation import Expectation
from callflows.speech.stt import RecognizerStream, Transcript
from callflows.speech.turn_end import TurnEndDecider
from callflows.speech.vad import Endpointer, SpeechEnded, SpeechStarted, is_backchannel
from callflows.telephony.barge_in import BargeIn
from callflows.telephony.call_recording import CallRecorder
from callflows.telephony.caller_turns import CallerTurn, KeypadTurn
from callflows.telephony.consent_answer import wait_for_consent
from callflows.telephony.continued_turn import pieces_after
from callflows.telephony.wait_fillers import FillerPlayed, WaitFiller
from callflows.telephony.media_stream import Dtmf, InboundEvent, MarkEcho, MediaChunk, StreamStart, StreamStop
from callflows.telephony.media_stream import clear_message
from callflows.telephony.outbound import OutboundAudio
from callflows.telephony.reply_audio import ReplyAudio
from callflows.verticals import load_vertical

if TYPE_CHECKING:
    from callflows.telephony.services import PhoneServices

DTMF_TIMEOUT_S = 3.0
WHISPER_PATH = "/twilio/whisper"
FALLBACK_TEXT = "I'm sorry, I'm having trouble on my side. Let me connect you with someone who can help."


@dataclass
class TurnLatency:
    endpoint_ms: float
    stt_ms: float
    nlu_ms: float
    tts_first_audio_ms: float | None
    total_ms: float | None  # caller's last speech frame -> bot's first audio frame sent
    first_filler_ms: float | None = None  # caller's last speech frame -> first filler audio sent


@dataclass
class CallStats:
    latencies: list[TurnLatency] = field(default_factory=list)
    max_gap_ms: float = 0.0
    transcripts: list[str] = field(default_factory=list)
    fillers: list[FillerPlayed] = field(default_factory=list)  # every filler clip, in order


class CallHandler:
    accepts_base_url = True  # the media route passes the public base URL (for the whisper webhook)

    def __init__(self, services: "PhoneServices", send: Callable[[str], None], start: StreamStart,
                 base_url: str | None = None):
        self.services = services
        self.start_event = start
        self.base_url = (base_url or "").rstrip("/") or None
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
        # the vertical records (recording: in phone.yaml): consent first, then both channels
        self.recording: CallRecorder | None = services.call_recorder(self.call_id, vertical)
        self._consent_pending = self.recording is not None
        self.out = OutboundAudio(self._send, start.stream_sid, tap=self.recording)
        self.endpointer = Endpointer(services.endpoint_config, self.session.expectation)
        self.turn_end = TurnEndDecider(services.turn_end_model)
        self.stats = CallStats()
        self.wait_filler = WaitFiller(
            self.out, services.waiting_config(vertical), services.fillers,
            caller_speaking=lambda: self.endpointer.in_speech,
            log=self.log, seed=self.call_id,
        )
        self.stats.fillers = self.wait_filler.played
        self._stream: RecognizerStream | None = None  # recogniser stream of the turn in progress
        self._speech_frames = 0  # frames of the turn in progress
        self._turn_audio = bytearray()  # the turn in progress, for the barge-in check
        self.barge_in = BargeIn(self.out, services.quick_transcribe, services.barge_in_ms, self.log)
        self._hold_since: float | None = None  # the caller asked for a moment: when the wait began
        self._turns: queue.Queue[CallerTurn | KeypadTurn | None] = queue.Queue()
        self._digits = ""
        self._digits_at = 0.0
        self._last_activity = time.perf_counter()
        self._closed = threading.Event()
        self.reply_audio = ReplyAudio(self.out, self.wait_filler, services.speech, self._personal,
                                      lambda: self.endpointer.in_speech, self._closed)
        self._ended = False
        self._wrapping = False  # the replica is going away: only wrap_up's last words are sent
        self._finished = False
        self._finish_lock = threading.Lock()
        services.call_started()
        self._thread = threading.Thread(target=self._run, name=f"call-{self.call_id[:8]}", daemon=True)
        self._thread.start()
        self.log.info("call started: vertical=%s stream=%s", vertical.name, start.stream_sid)

    # ================================================================ socket thread
    def on_event(self, event: InboundEvent) -> None:
        if self._closed.is_set():
            return
        if isinstance(event, MediaChunk):
            if self.recording is not None:
                self.recording.caller_audio(event.timestamp_ms, event.payload)
            self._on_audio(codec.ulaw_to_pcm16(event.payload))
        elif isinstance(event, Dtmf):
            if self.recording is not None:
                self.recording.keypad()
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
                if self.recording is not None:  # a turn begun while a personal slot is expected is muted whole
                    expected = self.endpointer.expectation
                    self.recording.speech_started(codec.duration_ms(event.audio), bool(expected and expected.pii))
                self._stream = self.services.recognizer.start(self.session.expectation)
                self._stream.accept(event.audio)  # pre-roll and onset: the first word
                self._speech_frames = len(event.audio) // 320
                self._turn_audio = bytearray(event.audio)
                self.barge_in.speech_started()
                self.turn_end.reset()
            elif isinstance(event, SpeechEnded):
                self._end_of_speech(event)
        if self.endpointer.in_speech and self._stream is not None and not started_now:
            self._stream.accept(pcm)
            self._turn_audio += pcm
            self._speech_frames += 1
            self._last_activity = time.perf_counter()
            self.barge_in.speech_continues(bytes(self._turn_audio), self._speech_frames,
                                           self.endpointer.trailing_silence_ms)
            self._check_complete_answer()
        overlapped = self.barge_in.overlap_turn()
        if overlapped is not None:
            self._turns.put(overlapped)
        if self._digits and time.perf_counter() - self._digits_at > DTMF_TIMEOUT_S:
            self._flush_digits()

    def _check_complete_answer(self) -> None:
        """Semantic endpointing: at a pause, end the turn without waiting out the slot's long
        silence when the words heard (and the turn model, if one is set) say the answer is
        complete; or wait longer when they say the caller is not done (speech/turn_end.py)."""
        if self.turn_end.should_end(self.endpointer, self._stream.partial, self.session.is_complete_answer):
            ended = self.endpointer.end_turn()
            if ended is not None:
                self._end_of_speech(ended)

    def _end_of_speech(self, event: SpeechEnded) -> None:
        span = self.recording.speech_ended() if self.recording is not None else None
        stream, self._stream = self._stream, None
        if stream is None:
            return
        now = time.perf_counter()
        turn = CallerTurn(
            audio=event.audio, stream=stream, speech_end_at=now - event.trailing_silence_ms / 1000,
            endpoint_ms=float(event.trailing_silence_ms), barged_in=self.barge_in.barging, span=span,
        )
        if not self.barge_in.held_back(turn, event):  # over the bot, undecided: barge_in decides
            self._turns.put(turn)

    def _on_digit(self, digit: str) -> None:
        self._last_activity = time.perf_counter()
        if self.out.speaking:
            self.out.clear()
        if digit == "#":
            self._flush_digits()
            return
        self._digits += digit
        self._digits_at = time.perf_counter()
        expected = 1 if self._consent_pending else self.session.expectation.digits_length
        if expected and len(self._digits) >= expected:
            self._flush_digits()

    def _flush_digits(self) -> None:
        if self._digits:
            self._turns.put(KeypadTurn(self._digits, time.perf_counter()))
            self._digits = ""

    def _send(self, message: str) -> None:
        if self._closed.is_set() or self._wrapping:
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
            self._ask_consent()
            self._speak(self.session.start(), None)
            timeout = self.services.settings.silence_timeout_s
            while not self._closed.is_set() and not self._ended:
                try:
                    turn = self._turns.get(timeout=0.2)
                except queue.Empty:
                    if self.session.holding:  # "hold on": no re-prompt, one check-in (callflows.dialogue.hold)
                        self._hold_wait()
                    elif (not self.out.speaking and not self.endpointer.in_speech
                            and time.perf_counter() - self._last_activity > timeout):
                        self._last_activity = time.perf_counter()
                        self._speak(self.session.handle_silence(), None)
                    continue
                if turn is None:
                    break
                self._hold_since = None
                if isinstance(turn, KeypadTurn):
                    with self._filled_wait(turn.at):
                        self._speak(self.session.handle_text(turn.digits, source="dtmf"), None)
                else:
                    with self._filled_wait(turn.speech_end_at + turn.endpoint_ms / 1000):
                        self._caller_turn(turn)
        except Exception:  # noqa: BLE001 - never leave a caller in silence
            self.log.exception("call pipeline failed; transferring")
            self._fail_over()
        finally:
            self._finish("pipeline_ended")

    def _ask_consent(self) -> None:
        """The vertical records: its sentence before the greeting, then up to ``answer_wait_s``
        (more while the caller is still talking) for a yes, a no or the decline key.  No
        answer counts as the vertical says (``silence_means``)."""
        rec = self.recording
        if rec is None:
            return
        self.endpointer.set_expectation(Expectation(yes_no=True))
        self.out.play(self.services.speech(rec.settings.consent_prompt), label="consent")
        self.out.wait_played(timeout=30)
        answer = wait_for_consent(self._turns, rec, lambda: self.endpointer.in_speech or bool(self._digits),
                                  self._closed, self.log)
        self._consent_pending = False
        if not self._closed.is_set():
            rec.decide(answer.agreed, answer.via)
        self._last_activity = time.perf_counter()

    def _hold_wait(self) -> None:
        """On hold: the wait counts from when "Sure, take your time." ended; the dialogue says
        when to check in and when to ask its question again. Never over the caller."""
        if self.out.speaking or self.endpointer.in_speech or self._digits:
            self._hold_since = None if self._hold_since is None else max(self._hold_since, self._last_activity)
            return
        if self._hold_since is None:
            self._hold_since = self._last_activity
        reply = self.session.hold_check(time.perf_counter() - self._hold_since)
        if reply is not None:
            self._speak(reply, None)

    def _caller_turn(self, turn: CallerTurn) -> None:
        t0 = time.perf_counter()
        try:
            transcript = turn.stream.finish()
        except Exception as exc:  # noqa: BLE001 - a failed recogniser: say so, keep the call
            self.log.error("speech recognition failed: %s", type(exc).__name__)
            self._speak(self.session.handle_text("", source="speech"), None)
            return
        stt_ms = (time.perf_counter() - t0) * 1000
        text = self._best_hypothesis(transcript)
        if not text or ((turn.barged_in or self.session.holding) and is_backchannel(text)):
            self.log.debug("no words in the turn (%d ms of audio)", codec.duration_ms(turn.audio))
            return
        pieces = [turn]
        for piece in pieces_after(self._turns, lambda: self.endpointer.in_speech, self._closed, CallerTurn):
            words = self._piece_words(piece)  # the caller went on before the answer: one turn
            self.log.info("the caller went on before the answer: %d ms more heard with the turn", piece.spoken_ms)
            text, turn = f"{text} {words}".strip(), piece
            pieces.append(piece)
        speech_ms = sum(p.spoken_ms for p in pieces)  # how long the caller spoke
        self.stats.transcripts.append(text)
        self._last_activity = time.perf_counter()
        t1 = time.perf_counter()
        reply = self.session.handle_text(text, source="speech",
                                         timings={"endpoint_ms": turn.endpoint_ms, "stt_ms": stt_ms, "speech_ms": speech_ms})
        nlu_ms = (time.perf_counter() - t1) * 1000
        for piece in pieces:
            self._mute_if_masked(piece)
        self._speak(reply, (turn, stt_ms, nlu_ms, t1))

    def _piece_words(self, piece: CallerTurn) -> str:
        try:
            return piece.stream.finish().text.strip()
        except Exception as exc:  # noqa: BLE001 - a failed recogniser: the piece adds nothing
            self.log.error("speech recognition failed: %s", type(exc).__name__)
            return ""

    def _mute_if_masked(self, turn: CallerTurn) -> None:
        """The dialogue masked personal data in the turn's stored transcript (a value said
        without being asked for it): the turn is muted in the recording too."""
        if self.recording is None or turn.span is None:
            return
        said = [t for t in self.session.recorder.turns if t["speaker"] == "caller"]
        if said and REDACTED in str(said[-1]["text"]):
            self.recording.personal_turn(turn.span)

    def _personal(self, sentence: str) -> bool:
        """A bot sentence the transcript masking would mask (a date of birth or digits read back)."""
        return self.recording is not None and mask_text(sentence, self.session.secrets()) != sentence

    def _best_hypothesis(self, transcript: Transcript) -> str:
        """The recogniser's best guess, unless it does not answer the slot asked and one of its
        other hypotheses does ("and in the morning" vs "ten in the morning")."""
        text = transcript.text.strip()
        alternatives = transcript.alternatives
        if not alternatives or self.session.is_complete_answer(text):
            return text
        for alternative in alternatives:
            if self.session.is_complete_answer(alternative):
                self.log.debug("took hypothesis %d of the beam: it answers the slot asked",
                               alternatives.index(alternative) + 2)
                return alternative.strip()
        return text

    @contextmanager
    def _filled_wait(self, origin: float) -> Iterator[None]:
        """The wait filler fills the wait from ``origin`` until the reply is over."""
        self.wait_filler.begin(origin)
        try:
            yield
        finally:
            self.wait_filler.end()

    def _speak(self, reply: BotReply, timing: tuple | None) -> None:
        self.endpointer.set_expectation(reply.expectation)
        started = time.perf_counter()
        result = self.reply_audio.play(reply)
        self.endpointer.set_expectation(reply.expectation)  # final once a streamed reply is exhausted
        self.stats.max_gap_ms = max(self.stats.max_gap_ms, result.max_gap_ms)
        if timing is not None and result.first_frame_at is not None:
            turn, stt_ms, nlu_ms, _ = timing
            fillers = self.wait_filler.wait_fillers()
            latency = TurnLatency(
                endpoint_ms=turn.endpoint_ms, stt_ms=stt_ms, nlu_ms=nlu_ms,
                tts_first_audio_ms=(result.first_frame_at - started) * 1000,
                total_ms=(result.first_frame_at - turn.speech_end_at) * 1000,
                first_filler_ms=(fillers[0].wait_ms + turn.endpoint_ms) if fillers else None,
            )
            self.stats.latencies.append(latency)
            timings: dict[str, float | None] = {"tts_first_audio_ms": latency.tts_first_audio_ms, "total_ms": latency.total_ms}
            if fillers:  # kept with the turn's timings in memory and in the log; never a bot turn
                timings["first_filler_ms"] = latency.first_filler_ms
                self.log.info("wait filled: %s; reply audio after %.0f ms",
                              ", ".join(f"{f.kind} at {f.wait_ms:.0f} ms" for f in fillers), latency.total_ms)
            self.session.recorder.update_last_caller_turn(**timings)
        self._last_activity = time.perf_counter()
        if reply.transfer_to:
            self.out.wait_played(timeout=15)
            self._transfer(reply.transfer_to)
        elif reply.end_call:
            self.out.wait_played(timeout=15)
            self._ended = True

    def _whisper_url(self) -> str | None:
        """Where Twilio fetches what the agent hears before the caller is connected."""
        base = self.base_url or (self.services.settings.public_url or "").rstrip("/")
        return f"{base}{WHISPER_PATH}?call={self.call_id}" if base else None

    def _transfer(self, number: str) -> None:
        twilio = self.services.twilio
        if twilio is None:
            self.log.warning("transfer requested but no Twilio credentials are configured")
        else:
            # the call record (and the session's handoff summary) is complete before the
            # agent's phone rings: the whisper webhook reads it from the store
            self._finish("transferred")
            try:  # cold or warm, per the vertical (callflows/telephony/handover.py)
                from callflows.telephony.handover import HandOverRequest, hand_over

                hand_over(self.services, HandOverRequest(
                    self.call_id, self.start_event.call_sid, self.start_event.stream_sid, number,
                    self.session.vertical.root, self.base_url or self.services.settings.public_url,
                    self._whisper_url(), (self.start_event.custom_parameters or {}).get("to", "")), self._send_raw)
            except Exception as exc:  # noqa: BLE001
                self.log.error("transfer failed: %s", exc)
        self._ended = True

    def _fail_over(self) -> None:
        """A backend failed: a spoken fallback, then a person."""
        self.wait_filler.end()
        try:
            self.out.play([self.services.prompts.get(FALLBACK_TEXT)], label="fallback")
            self.out.wait_played(timeout=10)
        except Exception:  # noqa: BLE001 - TTS itself may be what failed
            pass
        self.session.state.outcomes.append("pipeline_failed")
        number = self.session.flow.transfer_number
        if number:
            self.session.state.transferred_to = number
            self._transfer(number)

    # ================================================================ ending
    def close(self, reason: str = "socket_closed") -> None:
        """The socket is closing (stop event, hang-up, drop): finish the record."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.out.cancel()
        self.wait_filler.close()
        self._turns.put(None)
        self._finish(reason)
        self._thread.join(timeout=5)

    def _finish(self, reason: str) -> None:
        with self._finish_lock:  # the socket thread and the dialogue thread may both end the call
            if self._finished:
                return
            self._finished = True
        self._closed.set()
        self.out.cancel()
        self.wait_filler.close()
        self.session.end(self.session.final_outcome(reason))
        self.session.recorder.flush(attempts=3)
        if self.recording is not None:  # after the call's row is written: the recording's rows refer to it
            self.recording.finish()
        self.services.call_ended()
        self.log.info("call closed (%s), %d turns measured", reason, len(self.stats.latencies))

    @property
    def ended(self) -> bool:
        """The dialogue is over (goodbye, transfer): the route closes the socket."""
        return self._ended

    def wrap_up(self, goodbye: str, handing_over: str) -> str:
        """The replica is shutting down and the grace period is over (callflows/telephony/drain.py):
        the dialogue goes quiet, one last sentence in the call's own voice, then a person (the
        vertical's number, cold, so nothing is left on this replica) or goodbye, and a complete
        record. Never silence. Returns the outcome recorded."""
        if self._closed.is_set() or self._ended:
            return "already_ended"
        self._wrapping = True
        number = self.session.flow.transfer_number if self.services.twilio is not None else None
        outcome = "drained_transferred" if number else "drained"
        self._send_last(clear_message(self.start_event.stream_sid))  # what the dialogue had buffered
        last = OutboundAudio(self._send_last, self.start_event.stream_sid, tap=self.recording)
        last.play(self.services.speech(handing_over if number else goodbye), label="drain")
        last.wait_played(timeout=15)
        self.session.state.outcomes.append(outcome)
        if number:
            self.session.state.transferred_to = number
        self._finish(outcome)  # complete before the person's phone rings (the whisper reads it)
        if number:
            try:
                self.services.twilio.transfer(self.start_event.call_sid, number, whisper_url=self._whisper_url())
            except Exception as exc:  # noqa: BLE001 - the caller heard "connecting you": say goodbye instead
                self.log.error("drain transfer failed: %s", type(exc).__name__)
                last.play(self.services.speech(goodbye), label="drain")
                last.wait_played(timeout=15)
        self.log.info("wrapped up for shutdown: %s", outcome)
        self._ended = True
        return outcome

    def _send_last(self, message: str) -> None:
        with self._send_lock:
            try:
                self._send_raw(message)
            except Exception as exc:  # noqa: BLE001 - the caller is gone
                self.log.warning("socket send failed: %s", type(exc).__name__)
