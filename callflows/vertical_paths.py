"""Where verticals live: the verticals folder, and installed packages that declare a vertical.

Kept apart from :mod:`callflows.verticals` (which loads flows, NLU and actions) so that the
store and the plugin finder can ask "which verticals are installed?" without importing the
dialogue stack. A vertical is a folder ``<verticals folder>/<name>/`` with a flow file, or an
installed package named by an entry point ``<name> = <package>`` in the ``callflows.verticals``
group whose folder holds the flow file (found without importing the package); a folder wins.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

log = logging.getLogger(__name__)

FLOW_FILE = "flow.yaml"
ENTRY_POINT_GROUP = "callflows.verticals"
VERTICAL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
"""What a vertical's folder name may be: it is looked up, never joined into a path as given."""


def verticals_dir() -> Path:
    """``$CALLFLOWS_VERTICALS_DIR``, else the ``verticals/`` folder beside the source tree."""
    env = os.environ.get("CALLFLOWS_VERTICALS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "verticals"


def folder_verticals() -> list[str]:
    """Folders of the verticals folder with a flow file and a valid name."""
    base = verticals_dir()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if VERTICAL_NAME.match(p.name) and (p / FLOW_FILE).is_file())


@lru_cache(maxsize=1)
def _entry_points() -> tuple[tuple[str, str], ...]:
    # read once per process: scanning the installed distributions takes ~20 ms, and the
    # verticals are looked up at every call's start (installing a package means a restart)
    return tuple((ep.name, ep.value.partition(":")[0]) for ep in entry_points(group=ENTRY_POINT_GROUP)
                 if VERTICAL_NAME.match(ep.name))


def entry_point_modules() -> dict[str, str]:
    """Vertical name -> the package an installed distribution registered for it."""
    return dict(_entry_points())


@lru_cache(maxsize=None)
def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:  # a parent package that fails: that vertical is not there
        log.warning("vertical package %s not found: %s", module, exc)
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_verticals() -> dict[str, Path]:
    """Installed packages declaring a vertical (not shadowed by a folder): name -> package folder."""
    folders = set(folder_verticals())
    out = {}
    for name, module in entry_point_modules().items():
        root = None if name in folders else _package_dir(module)
        if root is not None and (root / FLOW_FILE).is_file():
            out[name] = root
    return out


def list_verticals() -> list[str]:
    """The installed verticals: folder verticals and installed packages, by name."""
    return sorted({*folder_verticals(), *package_verticals()})


def vertical_dir(name: str) -> Path | None:
    """The folder of an installed vertical (its flow file, business data, actions), None if unknown."""
    if name in folder_verticals():
        return verticals_dir() / name
    return package_verticals().get(name)


def first_vertical() -> str:
    """The vertical a number with no mapping answers for when none is configured
    (CALLFLOWS_DEFAULT_VERTICAL): the first installed one by name, "" if there is none."""
    names = list_verticals()
    return names[0] if names else ""
