"""How a vertical hands a call to a person: ``transfer:`` in ``escalation.yaml``, ``hold:`` in ``phone.yaml``.

```yaml
# verticals/<v>/escalation.yaml
transfer:
  mode: warm            # warm (hold, screen the person, fall back to the bot) or cold (a plain <Dial>)
  ring_timeout_s: 20    # how long the person's line rings (Twilio adds about 5 s)
  max_wait_s: 28        # the caller is back with the bot by then at the latest
# verticals/<v>/phone.yaml
hold:
  message: "Please hold while I connect you with a colleague."
  music_url: https://example.com/hold.mp3   # else $CALLFLOWS_HOLD_MUSIC_URL, else Twilio's
```

The mode defaults to ``$CALLFLOWS_TRANSFER_MODE``, else ``cold``: a deployment that says
nothing keeps the transfer it had (a ``<Dial>`` with a whisper).  Warm is what a call centre
wants (a cold ``<Dial>`` strands the caller when nobody answers), so turn it on per vertical
or for all.  A file that is missing or wrong gives the defaults and a logged error: a bad
setting must never stop a transfer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

log = logging.getLogger(__name__)

ESCALATION_FILE = "escalation.yaml"
PHONE_FILE = "phone.yaml"
HOLD_MUSIC_ENV = "CALLFLOWS_HOLD_MUSIC_URL"
TRANSFER_MODE_ENV = "CALLFLOWS_TRANSFER_MODE"
# Twilio's own hold music (the classical set its <Conference> plays by default)
TWILIO_HOLD_MUSIC_URL = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
DEFAULT_HOLD_MESSAGE = "Please hold while I connect you with a colleague."
MODES = ("warm", "cold")
MAX_WAIT_CEILING_S = 30.0  # the promise: back with the bot within 30 s


@dataclass(frozen=True)
class TransferSettings:
    mode: str = "cold"
    ring_timeout_s: int = 20
    max_wait_s: float = 28.0
    hold_message: str = DEFAULT_HOLD_MESSAGE
    hold_music_url: str = TWILIO_HOLD_MUSIC_URL

    @property
    def warm(self) -> bool:
        return self.mode == "warm"


def _read_section(path: Path, key: str) -> Mapping[str, object]:
    if not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = doc.get(key) if isinstance(doc, Mapping) else None
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ValueError(f"{key}: must be a mapping")
    return section


def _number(section: Mapping[str, object], key: str, default: float, low: float, high: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"transfer.{key} must be a number from {low:g} to {high:g}")
    return float(value)


def _url(value: object, what: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ValueError(f"{what} must be an http(s) URL")
    return value


def parse_transfer_settings(transfer: Mapping[str, object], hold: Mapping[str, object],
                            env_music: str | None = None, env_mode: str | None = None) -> TransferSettings:
    """From the two sections; ``ValueError`` names the first bad key."""
    unknown = sorted(set(transfer) - {"mode", "ring_timeout_s", "max_wait_s"})
    if unknown:
        raise ValueError(f"transfer: unknown key(s) {', '.join(map(str, unknown))}")
    unknown = sorted(set(hold) - {"message", "music_url"})
    if unknown:
        raise ValueError(f"hold: unknown key(s) {', '.join(map(str, unknown))}")
    mode = transfer.get("mode", env_mode or "cold")
    if mode not in MODES:
        raise ValueError("transfer.mode must be warm or cold")
    message = hold.get("message", DEFAULT_HOLD_MESSAGE)
    if not isinstance(message, str):
        raise ValueError("hold.message must be a sentence")
    music = _url(hold["music_url"], "hold.music_url") if "music_url" in hold else (
        _url(env_music, HOLD_MUSIC_ENV) if env_music else TWILIO_HOLD_MUSIC_URL)
    ring = _number(transfer, "ring_timeout_s", 20, 5, 25)
    wait = _number(transfer, "max_wait_s", 28, ring, MAX_WAIT_CEILING_S)
    return TransferSettings(mode=str(mode), ring_timeout_s=int(ring), max_wait_s=wait,
                            hold_message=message.strip(), hold_music_url=music)


def load_transfer_settings(vertical_root: str | Path) -> TransferSettings:
    """The vertical's settings; a broken file is logged and the defaults used."""
    root = Path(vertical_root)
    try:
        return parse_transfer_settings(_read_section(root / ESCALATION_FILE, "transfer"),
                                       _read_section(root / PHONE_FILE, "hold"),
                                       os.environ.get(HOLD_MUSIC_ENV) or None,
                                       os.environ.get(TRANSFER_MODE_ENV) or None)
    except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
        log.error("%s: transfer settings: %s; using the defaults", root.name, exc)
        return TransferSettings()
