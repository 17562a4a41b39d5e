"""One call's recording: consent, the two channels, redaction, and the encrypted file at the end.

``CallHandler`` (telephony/call.py) owns one ``CallRecorder`` when the vertical records
(``recording:`` in phone.yaml, telephony/recording_settings.py) and feeds it what it already
sees: the caller's 8 kHz frames with the stream's timestamps, keypad presses, where each
caller turn starts and ends and whether the slot asked for was personal, and (through the
outbound pacer's tap, telephony/outbound.py) every bot frame at the moment it plays.

Redaction (why from the dialogue's expectation and the turn timings, not from the words): the
recogniser may mishear a date of birth, but the dialogue knows it asked for one, so a caller
turn that starts while a ``pii`` slot (or a personal read-back's yes/no) is expected is muted
whole, before anything is recognised; a turn whose stored transcript the dialogue masked (a
personal value said unasked) is muted too once it is known; every keypad entry is muted (the
tones are the digits); the bot's own sentences that the transcript masking would mask (a date
of birth read back) are muted on the bot channel.  Silence or a tone, per vertical.

Consent: the vertical's sentence is said before the greeting; "no" (or the decline key) means
nothing is written, not even the audio before the answer, and only the answer is stored.

Nothing personal is logged here: only the call id, the answer, sizes and durations.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from callflows.logs import call_logger
from callflows.nlu.values import parse_yes_no
from callflows.recordings.tape import BOT, CALLER, CallTape
from callflows.recordings.vault import RecordingKeyError, RecordingVault, file_name
from callflows.store.db import Store
from callflows.store.recordings import NewRecording, add_recording, save_consent
from callflows.telephony.recording_settings import RecordingSettings, read_recording_settings

SPEECH_MARGIN_MS = 200  # muted before a personal turn's first frame and after its last
KEYPAD_BEFORE_MS = 700  # a key's event comes after its tone: mute back this far
KEYPAD_AFTER_MS = 300
_REFUSAL = re.compile(r"\b(rather not|don'?t record|do not record|not be recorded|no recording|opt out|"
                      r"stop recording|not record)\b", re.IGNORECASE)

GIVEN, IMPLIED, REFUSED, UNANSWERED = "given", "implied", "refused", "unanswered"


@dataclass(frozen=True)
class Consent:
    answer: str  # given, implied, refused, unanswered
    via: str  # speech, keypad, silence, hangup

    @property
    def records(self) -> bool:
        return self.answer in (GIVEN, IMPLIED)


@dataclass(frozen=True)
class CallerSpan:
    """Where a caller turn lies on the recording's clock (milliseconds)."""

    start_ms: float
    end_ms: float


def consent_from_words(text: str, question: str | None = None) -> bool | None:
    """True: the caller agrees; False: they refuse; None: no answer in the words."""
    if _REFUSAL.search(text or ""):
        return False
    return parse_yes_no(text or "", question=question)


def check_recording_setup(vertical_roots: dict[str, str], keys: tuple[str, ...], recordings_dir: str) -> int:
    """At server start: every vertical's ``recording:`` section parses, and a vertical that
    records has a usable key.  ``RuntimeError`` names the file and field (or the variable);
    returns how many verticals record.  Why refuse to start instead of answering without
    recording: a deployment told to record that silently does not is found out weeks later,
    by QA; a replica that does not start is found out at the rollout, with the old ones
    still answering."""
    recording = []
    for name, root in sorted(vertical_roots.items()):
        try:
            if read_recording_settings(root).enabled:
                recording.append(name)
        except ValueError as exc:
            raise RuntimeError(f"call recording of {name}: {exc}") from None
    if recording:
        try:
            vault = RecordingVault(recordings_dir, keys)
        except RecordingKeyError as exc:
            raise RuntimeError(f"call recording is on for {', '.join(recording)}: {exc}") from None
        if not vault.can_encrypt:
            raise RuntimeError(f"call recording is on for {', '.join(recording)} but CALLFLOWS_RECORDING_KEY is "
                               "not set: set it (`callflows recordings new-key` makes one) or turn recording off "
                               "in their phone.yaml")
    return len(recording)


class CallRecorder:
    """Thread-safe: the socket thread feeds the caller side, the dialogue and filler threads the bot's."""

    def __init__(self, call_id: str, vertical: str, settings: RecordingSettings, vault: RecordingVault,
                 store: Store | None):
        self.call_id = call_id
        self.vertical = vertical
        self.settings = settings
        self.vault = vault
        self.store = store
        self.log = call_logger(__name__, call_id)
        self.tape = CallTape()
        self.origin = time.perf_counter()  # the stream's start on this process's clock
        self.consent: Consent | None = None
        self._speech: CallerSpan | None = None  # the caller turn in progress
        self._speech_personal = False
        self._lock = threading.Lock()
        self._finished = False

    # ------------------------------------------------------------ caller side (socket thread)
    def caller_audio(self, timestamp_ms: int, mulaw: bytes) -> None:
        self.tape.put(CALLER, timestamp_ms, mulaw)

    def _now_ms(self) -> float:
        return self.tape.end_ms(CALLER)

    def speech_started(self, lead_ms: float, personal: bool) -> None:
        """A caller turn began ``lead_ms`` ago (pre-roll and onset); ``personal``: a pii slot is expected."""
        now = self._now_ms()
        with self._lock:
            self._speech = CallerSpan(max(now - lead_ms - SPEECH_MARGIN_MS, 0.0), now)
            self._speech_personal = personal

    def speech_ended(self) -> CallerSpan | None:
        """The turn in progress ended now: its span (muted already if it was personal)."""
        with self._lock:
            span, personal = self._speech, self._speech_personal
            self._speech, self._speech_personal = None, False
        if span is None:
            return None
        span = CallerSpan(span.start_ms, self._now_ms() + SPEECH_MARGIN_MS)
        if personal:
            self.tape.redact(CALLER, span.start_ms, span.end_ms, "pii_slot")
        return span

    def personal_turn(self, span: CallerSpan) -> None:
        """The dialogue masked personal data in this turn's transcript (said unasked): mute it."""
        self.tape.redact(CALLER, span.start_ms, span.end_ms, "personal_turn")

    def keypad(self) -> None:
        now = self._now_ms()
        self.tape.redact(CALLER, now - KEYPAD_BEFORE_MS, now + KEYPAD_AFTER_MS, "keypad")

    # ------------------------------------------------------------ bot side (outbound tap)
    def bot_frame(self, frame: bytes, plays_at: float, personal: bool) -> None:
        at_ms = (plays_at - self.origin) * 1000
        self.tape.put(BOT, at_ms, frame)
        if personal and self.settings.mute_bot_readbacks:
            self.tape.redact(BOT, at_ms, at_ms + len(frame) / 8, "bot_readback")

    def bot_cleared(self, at: float) -> None:
        """Twilio dropped the bot audio it had buffered: the caller never heard it."""
        self.tape.cut(BOT, (at - self.origin) * 1000)

    # ------------------------------------------------------------ consent (dialogue thread)
    def decide(self, agreed: bool | None, via: str) -> Consent:
        if agreed is None:
            answer = IMPLIED if self.settings.silence_means == "consent" else REFUSED
        else:
            answer = GIVEN if agreed else REFUSED
        self.consent = Consent(answer, via)
        self.log.info("recording consent: %s (%s)", answer, via)
        return self.consent

    def key_answer(self, digits: str) -> bool | None:
        """The decline key refuses; any other key is no answer."""
        key = self.settings.decline_key
        return False if key is not None and key in digits else None

    # ------------------------------------------------------------ the end
    def finish(self) -> None:
        """Once, when the call ends: the consent row, and with consent the encrypted file and its row.
        Never raises (the call record is what matters at this point)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        consent = self.consent or Consent(UNANSWERED, "hangup")
        if self._speech is not None:  # hung up mid-turn
            self.speech_ended()
        try:
            if consent.records:
                self._write(consent)
            else:
                self._save(consent, None)
                self.log.info("not recorded: consent %s", consent.answer)
        except Exception as exc:  # noqa: BLE001 - the call is over; say so and go on
            self.log.error("recording not saved: %s", type(exc).__name__)

    def _write(self, consent: Consent) -> None:
        wav = self.tape.to_wav(self.settings.redact_with)
        name = file_name(self.vertical, self.call_id)
        size = self.vault.write(name, wav)
        redactions = [r.to_json() for r in self.tape.redactions]
        try:
            self._save(consent, NewRecording(self.call_id, self.vertical, name, size, self.tape.duration_ms,
                                             redactions, self.settings.retention_days))
        except Exception:
            self.vault.delete(name)  # no file without its row (nothing would ever expire it)
            raise
        self.log.info("recorded: %d ms, %d redacted span(s), %d bytes encrypted%s", self.tape.duration_ms,
                      len(redactions), size, " (cut at the length limit)" if self.tape.truncated else "")

    def _save(self, consent: Consent, new: NewRecording | None) -> None:
        if self.store is None:
            return
        with self.store.session() as s:
            save_consent(s, self.call_id, consent.answer, consent.via)
            if new is not None:
                add_recording(s, new)
