"""What every call of a phone-server process shares: settings, store, and the loaded models."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator

from callflows.config import Settings
from callflows.nlu.name_lexicon import name_lexicon
from callflows.speech.stt import SpeechRecognizer, Transcript
from callflows.speech.textnorm import split_sentences
from callflows.speech.turn_end import TurnEndModel, load_turn_end_model
from callflows.speech.tts import PromptCache, TextToSpeech
from callflows.speech.vad import EndpointConfig
from callflows.telephony.transfer_settings import load_transfer_settings
from callflows.verticals import Vertical, list_verticals, load_vertical

if TYPE_CHECKING:
    from callflows.recordings.vault import RecordingVault
    from callflows.speech.fillers import FillerLibrary
    from callflows.telephony.call_recording import CallRecorder
    from callflows.telephony.recording_settings import RecordingSettings
    from callflows.telephony.transfer import TwilioCalls

logger = logging.getLogger(__name__)


class PhoneServices:
    def __init__(self, settings: Settings, store: Any):
        self.settings = settings
        self.store = store
        self.endpoint_config = EndpointConfig()
        self.barge_in_ms = 500  # caller speech that long while the bot talks interrupts it
        self.active_calls = 0
        self._lock = threading.Lock()
        self._quick = ThreadPoolExecutor(max_workers=1, thread_name_prefix="barge-in")
        self._waiting: dict[str, Any] = {}
        self._recording: dict[str, "RecordingSettings"] = {}

    # ------------------------------------------------------------------ models
    @cached_property
    def recognizer(self) -> SpeechRecognizer:
        """The speech-to-text backend chosen by ``Settings.stt_backend`` (one per process)."""
        s = self.settings
        if s.stt_backend == "vosk":
            from callflows.speech.stt import VoskRecognizer

            return VoskRecognizer(model_path=s.vosk_model_path, model_url=s.vosk_model_url,
                                  sha256=s.vosk_model_sha256)
        from callflows.speech.stt import WhisperRecognizer

        return WhisperRecognizer(s.whisper_model_path, threads=s.stt_threads, full_window_slots=s.stt_full_window_slots,
                                 constrained_slots=s.stt_constrained)

    @cached_property
    def turn_end_model(self) -> TurnEndModel | None:
        """The end-of-turn model of ``Settings.turn_end`` (None: the slot rules alone), shared by the calls."""
        return load_turn_end_model(self.settings.turn_end, self.settings.turn_end_model)

    @cached_property
    def tts(self) -> TextToSpeech:
        from callflows.speech.tts import PiperTTS

        return PiperTTS(self.settings.tts_voice_path)

    @cached_property
    def prompts(self) -> PromptCache:
        return PromptCache(self.tts, self.settings.tts_cache_dir)

    @cached_property
    def fillers(self) -> "FillerLibrary":
        """Audio that fills a wait (phrases in the bot's voice, the keyboard sound)."""
        from callflows.speech.fillers import FillerLibrary

        return FillerLibrary(self.prompts)

    def waiting_config(self, vertical: Any) -> Any:
        """The vertical's ``waiting:`` settings (``verticals/<v>/phone.yaml``), read once."""
        from callflows.telephony.waiting import load_waiting_config

        key = str(vertical.root)
        config = self._waiting.get(key)
        if config is None:
            config = self._waiting[key] = load_waiting_config(vertical.root)
        return config

    def recording_settings(self, vertical: Vertical) -> "RecordingSettings":
        """The vertical's ``recording:`` settings (``verticals/<v>/phone.yaml``), read once."""
        from callflows.telephony.recording_settings import load_recording_settings

        key = str(vertical.root)
        config = self._recording.get(key)
        if config is None:
            config = self._recording[key] = load_recording_settings(vertical.root)
        return config

    @cached_property
    def recording_vault(self) -> "RecordingVault | None":
        """The encrypted recordings (``CALLFLOWS_RECORDING_KEY``); None without a usable key."""
        from callflows.recordings.vault import RecordingKeyError, RecordingVault

        try:
            vault = RecordingVault(self.settings.recordings_dir, self.settings.recording_keys)
        except RecordingKeyError as exc:
            logger.error("call recording: %s", exc)
            return None
        return vault if vault.can_encrypt else None

    def call_recorder(self, call_id: str, vertical: Vertical) -> "CallRecorder | None":
        """A recorder for a new call when its vertical records; None otherwise.  A vertical that
        records without a key (the server's start check was bypassed) is not recorded, logged."""
        settings = self.recording_settings(vertical)
        if not settings.enabled:
            return None
        vault = self.recording_vault
        if vault is None:
            logger.error("[call=%s] not recorded: recording is on for %s but no recording key is usable",
                         call_id, vertical.name)
            return None
        from callflows.telephony.call_recording import CallRecorder

        return CallRecorder(call_id, vertical.name, settings, vault, self.store)

    @cached_property
    def twilio(self) -> "TwilioCalls | None":
        from callflows.telephony.transfer import TwilioCalls

        s = self.settings
        if not (s.twilio_account_sid and s.twilio_auth_token):
            return None
        return TwilioCalls(s.twilio_account_sid, s.twilio_auth_token, s.twilio_api_base)

    def warm_up(self) -> None:
        """Load the models, synthesise every vertical's static sentences and render any
        missing filler audio before the first call."""
        self.recognizer.load()
        self.tts.load()
        _ = self.turn_end_model
        name_lexicon()  # spelled names are repaired from it (callflows.nlu.name_lexicon)
        count = fillers = 0
        for name in list_verticals():
            try:
                vertical = load_vertical(name, self.store)
            except Exception as exc:  # noqa: BLE001 - one broken vertical must not stop the server
                logger.error("vertical %s not loaded: %s", name, exc)
                continue
            for sentence in static_sentences(vertical.flow):
                self.prompts.get(sentence)
                count += 1
            recording = self.recording_settings(vertical)
            if recording.enabled:  # the consent sentence starts every recorded call: never synthesised live
                for sentence in split_sentences(recording.consent_prompt):
                    self.prompts.get(sentence)
                    count += 1
            transfer = load_transfer_settings(vertical.root)
            if transfer.warm:  # the caller's hold message is played from this cache (transfer_routes.py)
                for sentence in split_sentences(transfer.hold_message):
                    self.prompts.get(sentence)
                    count += 1
            waiting = self.waiting_config(vertical)
            if waiting.enabled:
                fillers += self.fillers.build(waiting.phrases, [waiting.keyboard_ms] if waiting.keyboard else []).total
        logger.info("models loaded, %d static sentences and %d filler clips cached", count, fillers)

    # ------------------------------------------------------------------ speech out
    def speech(self, text: str, split_first_clause: bool = True) -> Iterator[bytes]:
        """Phone audio for a reply, sentence by sentence: cached sentences instantly, the rest
        synthesised (a long first sentence cut at its first comma, unless told not to: a
        streamed reply's later sentences are not first)."""
        for i, sentence in enumerate(split_sentences(text)):
            if self.prompts.has(sentence):  # a static sentence, cached at warm-up
                yield self.prompts.get(sentence)
                continue
            # the first words reach the caller sooner when a long first sentence is cut at a comma
            head, sep, tail = sentence.partition(", ")
            if i == 0 and split_first_clause and sep and 12 <= len(head) and len(tail) >= 12:
                yield from self.tts.synthesize_stream(head + ",")
                yield from self.tts.synthesize_stream(tail)
            else:
                yield from self.tts.synthesize_stream(sentence)

    def quick_transcribe(self, pcm16: bytes) -> Future[Transcript]:
        """A fast decode (no bias) on its own worker, for barge-in decisions."""
        return self._quick.submit(self.recognizer.transcribe, pcm16, None, bias=False)

    def call_started(self) -> None:
        with self._lock:
            self.active_calls += 1

    def call_ended(self) -> None:
        with self._lock:
            self.active_calls -= 1


def static_sentences(flow: Any) -> list[str]:
    """Sentences of the flow's prompts and responses that do not depend on the call:
    plain text, or templates that read only the flow's own variables (its name, its number)."""
    from callflows.dialogue.replies import DEFAULT_RESPONSES
    from callflows.flow.templates import BUILTIN_VARIABLES, render, template_variables

    texts: list[str] = []
    for form in flow.forms.values():
        for step in form.steps:
            texts += [step.prompt, *step.reprompts]
        if form.confirm:
            texts.append(form.confirm.on_deny)
    for variants in flow.responses.values():
        texts += list(variants)
    texts += [t for k, t in DEFAULT_RESPONSES.items() if k not in flow.responses]
    context = {"display_name": flow.display_name, "vertical": flow.vertical,
               "transfer_number": flow.transfer_number or "", **flow.variables}
    fixed = set(BUILTIN_VARIABLES) | set(flow.variables)
    out: list[str] = []
    for text in texts:
        if "{" in text:
            if not template_variables(text) <= fixed:
                continue
            text = render(text, context)
        for sentence in split_sentences(text):
            if sentence not in out:
                out.append(sentence)
    return out
