"""Versions of a vertical's flow (the admin's drafts, publishing, roll-back): one row per
version, at most one draft and one published per vertical. Like every repository function, these
flush but never commit: the caller's ``with store.session() as s:`` decides.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.store.models import FlowVersion
from callflows.store.repo import audit
from callflows.store.types import utcnow

log = logging.getLogger(__name__)


def save_draft(
    session: Session,
    vertical: str,
    yaml_text: str,
    created_by: str | None = None,
    note: str | None = None,
) -> FlowVersion:
    """Save the vertical's draft: updates the open draft, or starts a new version."""
    draft = session.scalars(
        select(FlowVersion)
        .where(FlowVersion.vertical == vertical, FlowVersion.status == "draft")
        .order_by(FlowVersion.version.desc())
    ).first()
    if draft is None:
        last = session.scalar(select(func.max(FlowVersion.version)).where(FlowVersion.vertical == vertical))
        draft = FlowVersion(
            vertical=vertical,
            version=(last or 0) + 1,
            status="draft",
            yaml_text=yaml_text,
            created_by=created_by,
            created_at=utcnow(),
            note=note,
        )
        session.add(draft)
    else:
        draft.yaml_text = yaml_text
        if created_by is not None:
            draft.created_by = created_by
        if note is not None:
            draft.note = note
    session.flush()
    return draft


def get_version(session: Session, vertical: str, version: int) -> FlowVersion | None:
    """One version of a vertical's flow, or None."""
    return session.scalars(
        select(FlowVersion).where(FlowVersion.vertical == vertical, FlowVersion.version == version)
    ).first()


def publish(session: Session, vertical: str, version: int, actor: str | None = None) -> FlowVersion:
    """Publish a version; the previously published one becomes ``"archived"``.

    Publishing an archived version again (a roll-back) is allowed.
    Raises ``LookupError`` if the version does not exist.
    """
    target = get_version(session, vertical, version)
    if target is None:
        raise LookupError(f"no flow version {vertical} v{version}")
    if target.status == "published":
        return target
    for current in session.scalars(
        select(FlowVersion).where(FlowVersion.vertical == vertical, FlowVersion.status == "published")
    ):
        current.status = "archived"
    target.status = "published"
    target.published_at = utcnow()
    session.flush()
    if actor is not None:
        audit(session, actor, "flow.publish", f"{vertical}", {"version": version})
    log.info("flow %s v%d published", vertical, version)
    return target


def published(session: Session, vertical: str) -> FlowVersion | None:
    """The published version of a vertical's flow, or None."""
    return session.scalars(
        select(FlowVersion)
        .where(FlowVersion.vertical == vertical, FlowVersion.status == "published")
        .order_by(FlowVersion.version.desc())
    ).first()


def list_versions(session: Session, vertical: str) -> list[FlowVersion]:
    """All versions of a vertical's flow, newest first."""
    return list(
        session.scalars(
            select(FlowVersion).where(FlowVersion.vertical == vertical).order_by(FlowVersion.version.desc())
        )
    )


__all__ = ["get_version", "list_versions", "publish", "published", "save_draft"]
