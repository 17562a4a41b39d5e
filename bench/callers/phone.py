"""A goal-driven caller on the phone: the simulator's Twilio stand-in, driven turn by turn by the
policy instead of a script. The bot's audio is transcribed with the project's Whisper
recogniser, the policy picks the answer, and the caller's voice (or keys) go back over the
real WebSocket in real time."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from typing import Any, Callable

from callflows.speech import codec
from callflows.telephony.simulator import FRAME, SimulatedCall, TurnResult

from . import voices
from .policy import CallerState, Move, classify, next_move

CHUNK_S = 25  # Whisper's window is 30 s: longer bot turns are decoded in pieces


class BotTranscriber:
    """Whisper tiny.en (the product's recogniser) on the bot's audio, one decode at a time.

    ``listen_for`` primes the decode with words the caller knows (their own name), as a person
    listening for their name does: unprimed, tiny.en heard the bot's right "Farhan Delgado,
    spelled F-A-R-H-A-N" as "foreign, they'll go to spell death", and the caller disputed a
    read-back that was right. A wrong name the bot says is still heard wrong often enough to be
    disputed, and the stored record, not the caller's ear, decides success."""

    def __init__(self) -> None:
        from callflows.speech.stt import WhisperRecognizer

        self.rec = WhisperRecognizer(threads=1, workers=1, incremental=False)
        self.rec.load()
        self.lock = threading.Lock()

    def __call__(self, ulaw: bytes, listen_for: str | None = None) -> str:
        pcm = codec.ulaw_to_pcm16(ulaw)
        step = CHUNK_S * codec.PHONE_RATE * 2
        prompt = f"{listen_for}." if listen_for else None
        texts = []
        with self.lock:
            for i in range(0, len(pcm), step):
                piece = pcm[i:i + step]
                if len(piece) >= codec.PHONE_RATE // 5:
                    texts.append(self.rec.decode(piece, prompt).text.strip())
        return " ".join(t for t in texts if t)


def move_audio(move: Move, voice: str, human: str | None, rng: random.Random) -> bytes:
    if move.human_digits and human:
        return voices.human_digits(move.human_digits, human, rng)
    return voices.speak(move.say or "", voice, rng)


class GoalCall(SimulatedCall):
    def _reply_text(self, since: float, transcribe: Callable[[bytes], str]) -> str:
        with self._lock:
            audio = b"".join(bytes(seg.audio) for seg in self._segments
                             if not seg.is_filler and seg.received_at >= since)
        return transcribe(audio) if audio else ""

    def _send_audio(self, audio: bytes) -> None:
        frames = [audio[i:i + FRAME].ljust(FRAME, b"\xff") for i in range(0, len(audio), FRAME)]
        with self._lock:
            self._speech_end_at = None
            self._speech_start_at = None
            self._outgoing.extend(frames)

    def _hear(self, since: float, transcribe: Callable[[bytes], str], timeout: float) -> str:
        """The bot's whole reply after `since`: waits for it, and a little longer when what was
        heard asks nothing (a reply paused between its sentences)."""
        self.wait_for_reply(since, timeout)
        text = self._reply_text(since, transcribe)
        if classify(text) == "unknown" and not self._closed.is_set():
            heard = self._frames_received
            time.sleep(1.5)
            if self._frames_received > heard:
                self.wait_for_reply(since, timeout)
                text = self._reply_text(since, transcribe)
        return text

    def _hang_up_and_close(self, threads: list[threading.Thread]) -> None:
        if not self._closed.is_set():
            self.hangup()
        for t in threads:
            t.join(timeout=2)
        with contextlib.suppress(Exception):
            if self._ws is not None:
                self._ws.close()

    def converse(self, st: CallerState, transcribe: Callable[[bytes, str | None], str], rng: random.Random,
                 turn_timeout: float = 30.0, linger_s: float = 8.0) -> dict[str, Any]:
        p = st.persona

        def hear_bot(audio: bytes) -> str:
            return transcribe(audio, p.full_name)
        self._connect()
        threads = [threading.Thread(target=self._sender, daemon=True),
                   threading.Thread(target=self._receiver, daemon=True)]
        for t in threads:
            t.start()
        turns: list[TurnResult] = []
        log: list[dict[str, Any]] = []
        since = 0.0
        try:
            while not self._closed.is_set():
                text = self._hear(since, hear_bot, turn_timeout)
                move = next_move(st, text)
                log.append({"bot": text, "ask": classify(text), "caller": move.label, "slot": move.slot,
                            "said": move.say, "dtmf": move.dtmf, "human": bool(move.human_digits and p.human_digits)})
                if move.hangup or self._closed.is_set():
                    break
                heard_from = None
                if move.dtmf:
                    heard_from = time.perf_counter()  # the reply may start at the entry's last digit, before "#"
                    self.press(move.dtmf)
                    with self._lock:
                        self._speech_end_at = self.last_key_at
                        self._first_bot_frame_after_speech = None
                else:
                    self._send_audio(move_audio(move, p.voice, p.human_digits, rng))
                    self._wait_spoken(turn_timeout)
                turn = TurnResult(move.label, None, speech_end_at=self._speech_end_at or time.perf_counter())
                turns.append(turn)
                since = heard_from or turn.speech_end_at
                if st.done:
                    self._closed.wait(linger_s)  # goodbye: the server ends the call
                    break
                self.wait_for_reply(since, turn_timeout)
                self._measure(turn, None)
        finally:
            self._hang_up_and_close(threads)
        return {"log": log, "latencies_ms": [round(t.latency_ms, 1) for t in turns if t.latency_ms is not None],
                "fillers": sum(len(t.fillers) for t in turns), "closed_by_server": self._closed_by_server,
                "max_gap_ms": round(self._max_gap, 1)}

