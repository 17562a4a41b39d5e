"""Where verticals live: the verticals folder and the names of the verticals in it.

Kept apart from :mod:`callflows.verticals` (which loads flows, NLU and actions) so that the
store and the plugin finder can ask "which verticals are installed?" without importing the
dialogue stack."""

from __future__ import annotations

import os
import re
from pathlib import Path

FLOW_FILE = "flow.yaml"
VERTICAL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
"""What a vertical's folder name may be: it is looked up, never joined into a path as given."""


def verticals_dir() -> Path:
    """``$CALLFLOWS_VERTICALS_DIR``, else the ``verticals/`` folder beside the source tree."""
    env = os.environ.get("CALLFLOWS_VERTICALS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "verticals"


def list_verticals() -> list[str]:
    """The installed verticals: folders of the verticals folder with a flow file and a valid name."""
    base = verticals_dir()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if VERTICAL_NAME.match(p.name) and (p / FLOW_FILE).is_file())


def first_vertical() -> str:
    """The vertical a number with no mapping answers for when none is configured
    (CALLFLOWS_DEFAULT_VERTICAL): the first installed one by name, "" if there is none."""
    names = list_verticals()
    return names[0] if names else ""
