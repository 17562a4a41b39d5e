"""Where built models go: models/built/<vertical>/student (git-ignored); CALLFLOWS_BUILT_DIR moves it."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def built_dir() -> Path:
    return Path(os.environ.get("CALLFLOWS_BUILT_DIR") or REPO / "models" / "built")


def student_dir(vertical: str) -> Path:
    return built_dir() / vertical / "student"
