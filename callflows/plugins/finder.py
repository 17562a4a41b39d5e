"""``import callflows_verticals.<name>``: a folder vertical's code as a Python package.

A vertical folder is not on ``sys.path`` (it is wherever ``CALLFLOWS_VERTICALS_DIR`` says), yet
its modules import each other, and its tests, its actions and the benchmarks import its domain
code. This finder maps the package ``callflows_verticals.<name>`` onto
``<verticals folder>/<name>/__init__.py``; submodules (``callflows_verticals.<name>.models``)
are then found by the ordinary machinery through the package's ``__path__``.

The package is keyed by the vertical's name, not its folder: its tables are declared once per
process on the core's metadata, so a copy of the same vertical in another folder (the admin's
tests copy them) reuses the package already imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from callflows.vertical_paths import VERTICAL_NAME, folder_verticals, verticals_dir

log = logging.getLogger(__name__)

NAMESPACE = "callflows_verticals"
PACKAGE_FILE = "__init__.py"


class VerticalFinder(importlib.abc.MetaPathFinder):
    """Finds ``callflows_verticals`` (an empty namespace) and ``callflows_verticals.<name>``."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == NAMESPACE:
            spec = importlib.machinery.ModuleSpec(NAMESPACE, None, is_package=True)
            spec.submodule_search_locations = []
            return spec
        parent, _, name = fullname.rpartition(".")
        if parent != NAMESPACE or not VERTICAL_NAME.match(name) or name not in folder_verticals():
            return None
        init = verticals_dir() / name / PACKAGE_FILE
        if not init.is_file():
            return None
        log.debug("vertical package %s from %s", fullname, init.parent)
        return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[str(init.parent)])


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (importing the engine does it)."""
    if not any(isinstance(f, VerticalFinder) for f in sys.meta_path):
        sys.meta_path.append(VerticalFinder())


def package_name(vertical: str) -> str:
    """The import name of a folder vertical's package."""
    return f"{NAMESPACE}.{vertical}"
