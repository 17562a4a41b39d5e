"""Flow versions as the admin sees them: import, draft, validate, publish, roll back, diff.

The store keeps the text of each version of a vertical's ``flow.yaml``
(:class:`~callflows.store.models.FlowVersion`); :func:`callflows.verticals.load_vertical`
uses the published one, so a publish is live for the next call.

The FAQ knowledge lives in its own file next to the flow (``knowledge: knowledge.yaml``).
An edit to an FAQ answer writes the new knowledge to a content-addressed file
``knowledge.d/<sha>.yaml`` in the vertical's folder (never overwritten, never deleted) and
points the draft flow at it, so every flow version names the exact knowledge it was
published with: roll-backs bring the old answers back, and the changed flow text makes
the vertical registry load the new answers on the next call.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.flow.errors import FlowError, FlowErrors
from callflows.flow.loader import is_knowledge_name, load_flow_text
from callflows.flow.safe_yaml import MAX_FLOW_BYTES, safe_load_yaml
from callflows.store import repo
from callflows.store import flow_versions
from callflows.store.models import FlowVersion
from callflows.store.types import utcnow
from callflows.verticals import FLOW_FILE, vertical_root

KNOWLEDGE_DIR = "knowledge.d"


class NotPublishable(Exception):
    """The version does not validate: it may stay a draft but is never published."""

    def __init__(self, version: int, errors: list[FlowError]):
        self.version = version
        self.errors = errors
        super().__init__(f"version {version} has {len(errors)} error(s)")


@dataclass
class EditorText:
    text: str
    source: str  # "draft", "published" or "file"
    version: int | None


def disk_text(name: str) -> str:
    return (vertical_root(name) / FLOW_FILE).read_text(encoding="utf-8")


def editor_text(s: Session, name: str) -> EditorText:
    """What the editor starts from: the open draft, else the published version, else the file."""
    draft = open_draft(s, name)
    if draft is not None:
        return EditorText(draft.yaml_text, "draft", draft.version)
    pub = flow_versions.published(s, name)
    if pub is not None:
        return EditorText(pub.yaml_text, "published", pub.version)
    return EditorText(disk_text(name), "file", None)


def open_draft(s: Session, name: str) -> FlowVersion | None:
    return s.scalars(
        select(FlowVersion)
        .where(FlowVersion.vertical == name, FlowVersion.status == "draft")
        .order_by(FlowVersion.version.desc())
    ).first()


def ensure_imported(s: Session, name: str, actor: str) -> FlowVersion | None:
    """The first edit of a vertical with no version in the store imports the file on disk
    as version 1, published (what calls were already using). Returns it, or None."""
    if s.scalar(select(func.count()).select_from(FlowVersion).where(FlowVersion.vertical == name)):
        return None
    now = utcnow()
    row = FlowVersion(vertical=name, version=1, status="published", yaml_text=disk_text(name),
                      created_by=actor, created_at=now, published_at=now, note=f"imported from {FLOW_FILE}")
    s.add(row)
    s.flush()
    repo.audit(s, actor, "flow.import", name, {"version": 1, "file": FLOW_FILE})
    return row


# --------------------------------------------------------------------------- knowledge


def knowledge_ref(text: str) -> str | None:
    """The ``knowledge:`` file a flow text names, if any (None when the text does not parse)."""
    try:
        doc = safe_load_yaml(text)
    except yaml.YAMLError:
        return None
    ref = doc.get("knowledge") if isinstance(doc, dict) else None
    return ref if isinstance(ref, str) and ref else None


def _inside(root: Path, ref: str) -> Path | None:
    """The file ``ref`` names in ``root``, if the loader would read it (by its spelling, and
    with links followed still inside ``root``)."""
    if not is_knowledge_name(ref):
        return None
    path = (root / ref).resolve()
    return path if path.is_relative_to(root.resolve()) else None


def read_knowledge(name: str, text: str) -> tuple[str, str] | None:
    """(file name, text) of the knowledge file a flow text names; None if none or unreadable.
    Only files inside the vertical's folder are read."""
    ref = knowledge_ref(text)
    if ref is None:
        return None
    path = _inside(vertical_root(name), ref)
    try:
        if path is None or not path.is_file() or path.stat().st_size > MAX_FLOW_BYTES:
            return None
        return ref, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write_knowledge(name: str, content: str) -> str:
    """Store knowledge text as ``knowledge.d/<sha>.yaml`` (idempotent); returns the reference."""
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    ref = f"{KNOWLEDGE_DIR}/{digest}.yaml"
    path = vertical_root(name) / ref
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
    return ref


# --------------------------------------------------------------------------- validation


def validate(name: str, text: str) -> list[FlowError]:
    """Every error of a flow text (and of the knowledge file it names); [] when valid."""
    root = vertical_root(name)
    errors: list[FlowError] = []  # the loader refuses knowledge and actions outside the folder
    try:
        flow = load_flow_text(text, FLOW_FILE, base_dir=root)
    except FlowErrors as exc:
        return errors + list(exc.errors)
    if flow.vertical != name:
        errors.append(FlowError(FLOW_FILE, 1, "vertical", f"must stay '{name}' (this is the {name} vertical)"))
    return errors


def is_flow_error(error: FlowError) -> bool:
    """True for an error in the flow text (else it is in the knowledge file)."""
    return error.file == FLOW_FILE


# --------------------------------------------------------------------------- versions


def save_draft(s: Session, name: str, text: str, actor: str, note: str | None = None,
               action: str = "flow.save_draft", detail: dict[str, Any] | None = None) -> tuple[FlowVersion, list[FlowError]]:
    """Save ``text`` as the vertical's draft (valid or not); audit who did it."""
    ensure_imported(s, name, actor)
    text = text.replace("\r\n", "\n")
    errors = validate(name, text)
    draft = flow_versions.save_draft(s, name, text, created_by=actor, note=note)
    repo.audit(s, actor, action, name, {"version": draft.version, "valid": not errors,
                                        "errors": len(errors), **(detail or {})})
    return draft, errors


def publish(s: Session, name: str, version: int, actor: str) -> FlowVersion:
    """Publish a version after validating it again; raises NotPublishable or LookupError."""
    ensure_imported(s, name, actor)
    row = flow_versions.get_version(s, name, version)
    if row is None:
        raise LookupError(f"no version {version} of {name}")
    errors = validate(name, row.yaml_text)
    if errors:
        repo.audit(s, actor, "flow.publish_refused", name, {"version": version, "errors": len(errors)})
        raise NotPublishable(version, errors)
    return flow_versions.publish(s, name, version, actor=actor)


def rollback(s: Session, name: str, version: int, actor: str) -> FlowVersion:
    """Publish an older version's text again, as a new version (the open draft is left alone)."""
    old = flow_versions.get_version(s, name, version)
    if old is None:
        raise LookupError(f"no version {version} of {name}")
    errors = validate(name, old.yaml_text)
    if errors:
        raise NotPublishable(version, errors)
    last = s.scalar(select(func.max(FlowVersion.version)).where(FlowVersion.vertical == name)) or 0
    row = FlowVersion(vertical=name, version=last + 1, status="draft", yaml_text=old.yaml_text,
                      created_by=actor, created_at=utcnow(), note=f"roll-back to version {version}")
    s.add(row)
    s.flush()
    repo.audit(s, actor, "flow.rollback", name, {"from_version": version, "version": row.version})
    return flow_versions.publish(s, name, row.version, actor=actor)


def discard_draft(s: Session, name: str, actor: str) -> int | None:
    draft = open_draft(s, name)
    if draft is None:
        return None
    version = draft.version
    s.delete(draft)
    s.flush()
    repo.audit(s, actor, "flow.discard_draft", name, {"version": version})
    return version


# --------------------------------------------------------------------------- diff


def diff_lines(a: str, b: str, a_label: str, b_label: str, context: int = 3) -> list[tuple[str, str]]:
    """A unified diff as (css class, line) pairs: add, del, hunk, meta or ctx."""
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), a_label, b_label, n=context, lineterm=""):
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out
