"""Find and load verticals: the flow (file, or the version published in the store),
its NLU and its actions. Loaded verticals are kept in a registry keyed by content,
so a newly published flow is used by the next call without a restart."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from callflows.actions.runner import ActionRunner, make_runner
from callflows.flow.loader import load_flow, load_flow_text
from callflows.flow.spec import FlowSpec
from callflows.nlu.pipeline import VerticalNLU
from callflows.vertical_paths import FLOW_FILE, VERTICAL_NAME, list_verticals, vertical_dir, verticals_dir

logger = logging.getLogger(__name__)

MODULE_FILE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\.py$")


class UnknownVertical(LookupError):
    """A vertical name that is not one of the installed verticals (the message is safe to log)."""


@dataclass
class Vertical:
    name: str
    root: Path
    flow: FlowSpec
    nlu: VerticalNLU
    actions: ActionRunner
    version: int | None  # published flow version in the store, None = the file on disk


def is_known_vertical(name: object) -> bool:
    return isinstance(name, str) and bool(VERTICAL_NAME.match(name)) and name in list_verticals()


def vertical_root(name: str) -> Path:
    """The folder of the installed vertical `name`.

    Why a lookup and not a join: a name can come from request data (a stream's parameters, a
    form), and ``verticals_dir() / "../../tmp/x"`` would import code from anywhere."""
    if not is_known_vertical(name):
        shown = name[:64] if isinstance(name, str) else type(name).__name__
        known = ", ".join(list_verticals()) or "none"
        raise UnknownVertical(f"no vertical {shown!r} in {verticals_dir()} (known: {known})")
    root = vertical_dir(name)
    assert root is not None  # is_known_vertical: a folder or an installed package
    return root


def load_actions_module(name: str, root: Path, module_file: str | None = None) -> ModuleType | None:
    """Import the vertical's actions module (a bare ``*.py`` file name in its own folder) under a
    private module name. Anything else is refused: a flow edited in the admin must never name code
    outside the vertical's folder (the flow loader refuses it too)."""
    module_file = module_file or "actions.py"
    if not MODULE_FILE.match(module_file):
        raise ValueError(f"vertical {name}: actions must be a file name in the vertical's folder, not {module_file[:80]!r}")
    path = root / module_file
    if path.resolve().parent != root.resolve() or not path.is_file():
        return None
    home = vertical_dir(name)
    suffix = "" if home is not None and root.resolve() == home.resolve() else "_" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    mod_name = f"callflows_vertical_{name}_actions{suffix}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


class VerticalRegistry:
    """Process-wide cache of loaded verticals, keyed by name and flow content."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, int | None, str], Vertical] = {}
        self._modules: dict[str, ModuleType | None] = {}
        self._students: dict[str, object] = {}
        # by (name, verticals folder): the version the last call was given
        self._last: dict[tuple[str, str], Vertical] = {}

    def last(self, name: str) -> Vertical | None:
        """The version of `name` (in the current verticals folder) this process served last (None if none yet)."""
        key = (name, str(vertical_root(name)))
        with self._lock:
            return self._last.get(key)

    def _nlu(self, name: str, flow: FlowSpec) -> VerticalNLU:
        student = self._student(name, flow)
        if student is not None:
            return VerticalNLU(flow, student=student)
        return VerticalNLU(flow, embedder=self._embedder() if flow.faq else None)

    def _embedder(self) -> object | None:
        """The shared sentence embedder for FAQ retrieval; None if it is not installed or
        CALLFLOWS_FAQ_EMBEDDINGS=off (then TF-IDF and keywords only)."""
        if (os.environ.get("CALLFLOWS_FAQ_EMBEDDINGS") or "on").lower() in ("off", "0", "false", "no"):
            return None
        from callflows.nlu.embeddings import default_fast_embedder

        try:
            return default_fast_embedder()
        except (FileNotFoundError, OSError) as exc:
            logger.warning("no sentence embedder for FAQ retrieval (%s): TF-IDF and keywords only", exc)
            return None

    def _student(self, name: str, flow: FlowSpec) -> object | None:
        """The vertical's distilled student if one is built and knows every intent of this flow
        (a flow edited since will use TF-IDF on its examples until `callflows distill` is re-run).
        CALLFLOWS_STUDENT=off turns students off."""
        if (os.environ.get("CALLFLOWS_STUDENT") or "on").lower() in ("off", "0", "false", "no"):
            return None
        from callflows.distill.paths import student_dir

        path = student_dir(name)
        if not (path / "student.pkl").is_file():
            return None
        key = str(path.resolve())
        student = self._students.get(key)
        if student is None:
            from callflows.nlu.student import StudentModel

            try:
                student = StudentModel.load(path)
            except Exception as exc:  # a broken or old build: say so and go on without it
                logger.warning("student for %s at %s not usable (%s): using the flow's examples", name, path, exc)
                return None
            self._students[key] = student
        missing = [i.name for i in flow.intents.values() if (i.examples or i.keywords) and i.name not in student.labels]
        if missing:
            logger.warning("student for %s does not know intent(s) %s: using the flow's examples; re-run "
                           "`callflows distill %s --no-teacher`", name, ", ".join(missing[:5]), name)
            return None
        return student

    def load(self, name: str, flow_text: str | None = None, version: int | None = None) -> Vertical:
        root = vertical_root(name)
        text = flow_text if flow_text is not None else (root / FLOW_FILE).read_text(encoding="utf-8")
        key = (name, str(root), version, hashlib.sha256(text.encode()).hexdigest())
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._last[(name, str(root))] = cached
                return cached
            if flow_text is None:
                flow = load_flow(root / FLOW_FILE)
            else:
                flow = load_flow_text(flow_text, f"{name} (published version {version})", base_dir=root)
            module_key = f"{name}@{root.resolve()}"
            if module_key not in self._modules:
                self._modules[module_key] = load_actions_module(name, root, flow.actions_module)
            vertical = Vertical(
                name=name,
                root=root,
                flow=flow,
                nlu=self._nlu(name, flow),
                actions=make_runner(self._modules[module_key], flow.action_server),
                version=version,
            )
            self._cache[key] = vertical
            self._last[(name, str(root))] = vertical
            logger.info("loaded vertical %s (version %s)", name, version or "file")
            return vertical


_REGISTRY = VerticalRegistry()


def load_vertical(name: str, store=None) -> Vertical:  # noqa: ANN001 - Store, imported lazily
    """The vertical as the next call should see it: the published version if the store has one.

    With the database unreachable (a restart, a network cut) a call is still answered: with the
    version this process served last, or the vertical's flow file if it has served none."""
    if store is not None:
        from sqlalchemy.exc import SQLAlchemyError

        from callflows.store import flow_versions

        try:
            with store.session() as s:
                published = flow_versions.published(s, name)
                version = (published.yaml_text, published.version) if published is not None else None
        except SQLAlchemyError as exc:
            last = _REGISTRY.last(name)
            logger.warning("database unreachable (%s) while loading %s: using %s", type(exc).__name__, name,
                           f"version {last.version or 'file'} served last" if last else "the flow file")
            return last or _REGISTRY.load(name)
        if version is not None:
            return _REGISTRY.load(name, version[0], version[1])
    return _REGISTRY.load(name)
