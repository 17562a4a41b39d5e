"""How a vertical fills a wait on the line: the ``waiting:`` section of ``verticals/<v>/phone.yaml``.

```yaml
waiting:
  enabled: true
  acknowledge_after_ms: 700     # silence after the caller's turn ends before "mm-hm"
  progress_after_ms: 2000       # still no reply this long after the turn: a progress line
  repeat_after_ms: 1200         # after any filler, this much silence brings the next one
  keyboard: true                # soft typing between progress lines and between streamed sentences
  keyboard_ms: 1600
  acknowledgements: ["Mm-hm.", "Okay.", "One moment."]
  progress: ["I'm checking the schedule now.", "Still checking, thanks for waiting."]
```

Every key is optional (defaults below). A missing file or section gives the defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

PHONE_FILE = "phone.yaml"

DEFAULT_ACKNOWLEDGEMENTS = ("Mm-hm.", "Okay.", "One moment.")
DEFAULT_PROGRESS = (
    "I'm looking into that now.",
    "Still checking, thanks for waiting.",
    "Thanks for your patience, I'm nearly there.",
)


@dataclass(frozen=True)
class WaitingConfig:
    enabled: bool = True
    acknowledge_after_ms: int = 700
    progress_after_ms: int = 2000
    repeat_after_ms: int = 1200
    keyboard: bool = True
    keyboard_ms: int = 1600
    acknowledgements: tuple[str, ...] = DEFAULT_ACKNOWLEDGEMENTS
    progress: tuple[str, ...] = DEFAULT_PROGRESS

    @property
    def phrases(self) -> tuple[str, ...]:
        """Every phrase to render ahead of calls."""
        return tuple(dict.fromkeys(self.acknowledgements + self.progress))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> WaitingConfig:
        """From the ``waiting:`` mapping; unknown keys and wrong types raise ``ValueError``."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("waiting: must be a mapping")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"waiting: unknown key(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            default = getattr(cls(), key)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"waiting.{key} must be true or false")
                values[key] = value
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"waiting.{key} must be a whole number of milliseconds")
                values[key] = value
            else:
                if isinstance(value, str) or not all(isinstance(v, str) and v.strip() for v in value or ()):
                    raise ValueError(f"waiting.{key} must be a list of phrases")
                values[key] = tuple(v.strip() for v in value)
        config = cls(**values)
        if config.enabled and not config.progress:
            raise ValueError("waiting.progress needs at least one phrase")
        return config


def load_waiting_config(vertical_root: str | Path) -> WaitingConfig:
    """The vertical's ``waiting:`` settings; a broken file is logged and the defaults used
    (a bad filler configuration must not stop calls)."""
    path = Path(vertical_root) / PHONE_FILE
    if not path.is_file():
        return WaitingConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return WaitingConfig.from_mapping(data.get("waiting") if isinstance(data, Mapping) else None)
    except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
        log.error("%s: %s; using the default waiting settings", path, exc)
        return WaitingConfig()
