"""Whether a vertical records its calls: the ``recording:`` section of ``verticals/<v>/phone.yaml``.

```yaml
recording:
  enabled: true                 # default false: no call of the vertical is recorded
  consent_prompt: "This call may be recorded for quality and training. If you'd rather not be recorded, say no, or press 2."
  decline_key: "2"              # a key that means "do not record me" (null: none offered)
  silence_means: consent        # no answer to the prompt: consent (the notice was given) or refusal (opt-in)
  answer_wait_s: 4              # how long the caller has to answer after the prompt
  retention_days: 30            # the sweeper deletes a recording this long after the call
  redact_with: silence          # silence or tone: what replaces personal data in the recording
  mute_bot_readbacks: true      # the bot's own sentences that carry personal data are muted too
```

Why here and not in ``flow.yaml``: recording is a property of the phone line (the text channel
has no audio), like the waiting and hold settings beside it.  Why a broken section is an
error at server start (``check_recording_setup``) rather than the defaults with a logged error
(as ``waiting:`` and ``transfer:`` do): a recording configuration says what a caller is told
about being recorded; a deployment that says it records and silently does not (or records
without the sentence it meant) must not go live.  Every message names the field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

PHONE_FILE = "phone.yaml"
SECTION = "recording"
DEFAULT_CONSENT_PROMPT = ("This call may be recorded for quality and training. "
                          "If you'd rather not be recorded, say no, or press 2.")
SILENCE_MEANS = ("consent", "refusal")
REDACT_WITH = ("silence", "tone")
KEYS = frozenset("0123456789*#")
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True)
class RecordingSettings:
    enabled: bool = False
    consent_prompt: str = DEFAULT_CONSENT_PROMPT
    decline_key: str | None = "2"
    silence_means: str = "consent"
    answer_wait_s: float = 4.0
    retention_days: int = 30
    redact_with: str = "silence"
    mute_bot_readbacks: bool = True


def parse_recording_settings(section: object) -> RecordingSettings:
    """From the ``recording:`` mapping (None: recording off); ``ValueError`` names the first bad field."""
    if section is None:
        return RecordingSettings()
    if not isinstance(section, Mapping):
        raise ValueError("recording: must be a mapping")
    unknown = sorted(set(map(str, section)) - {f.name for f in fields(RecordingSettings)})
    if unknown:
        raise ValueError(f"recording: unknown key(s) {', '.join(unknown)}")
    defaults = RecordingSettings()
    enabled = section.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ValueError("recording.enabled must be true or false")
    prompt = section.get("consent_prompt", defaults.consent_prompt)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("recording.consent_prompt must be a sentence")
    key = section.get("decline_key", defaults.decline_key)
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if key is not None and (not isinstance(key, str) or key not in KEYS):
        raise ValueError("recording.decline_key must be one keypad key (0-9, * or #) or null")
    silence = section.get("silence_means", defaults.silence_means)
    if silence not in SILENCE_MEANS:
        raise ValueError("recording.silence_means must be consent or refusal")
    wait = section.get("answer_wait_s", defaults.answer_wait_s)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 1 <= wait <= 15:
        raise ValueError("recording.answer_wait_s must be a number of seconds from 1 to 15")
    days = section.get("retention_days", defaults.retention_days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
        raise ValueError(f"recording.retention_days must be a whole number of days from 1 to {MAX_RETENTION_DAYS}")
    redact = section.get("redact_with", defaults.redact_with)
    if redact not in REDACT_WITH:
        raise ValueError("recording.redact_with must be silence or tone")
    mute_bot = section.get("mute_bot_readbacks", defaults.mute_bot_readbacks)
    if not isinstance(mute_bot, bool):
        raise ValueError("recording.mute_bot_readbacks must be true or false")
    return RecordingSettings(enabled=enabled, consent_prompt=prompt.strip(), decline_key=key,
                             silence_means=str(silence), answer_wait_s=float(wait), retention_days=days,
                             redact_with=str(redact), mute_bot_readbacks=mute_bot)


def read_recording_settings(vertical_root: str | Path) -> RecordingSettings:
    """The vertical's settings, strictly: ``ValueError`` (with the file and the field) when broken."""
    path = Path(vertical_root) / PHONE_FILE
    if not path.is_file():
        return RecordingSettings()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({type(exc).__name__})") from None
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: must be a mapping")
    try:
        return parse_recording_settings(doc.get(SECTION))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_recording_settings(vertical_root: str | Path) -> RecordingSettings:
    """For a call: the vertical's settings, or recording off (logged) when the file is broken.
    Off is the safe side: nobody is recorded without the sentence the operator meant them to hear.
    A server never gets here with a broken file (``check_recording_setup`` refuses to start)
    unless the file was changed under it."""
    try:
        return read_recording_settings(vertical_root)
    except (OSError, ValueError) as exc:
        log.error("recording settings: %s; calls of %s are not recorded", exc, Path(vertical_root).name)
        return RecordingSettings()
