"""The admin's own tables, on the same ``Base`` metadata as :mod:`callflows.store.models`.

Created by the Alembic migrations ``0002_admin_users`` and ``0006_admin_sessions``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callflows.store.models import Base
from callflows.store.types import UTCDateTime, utcnow

ROLES = ("viewer", "editor", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


class AdminUser(Base):
    """A person who may log in to the admin: a viewer, an editor or an admin."""

    __tablename__ = "admin_users"
    __table_args__ = (CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Carried by each session cookie; a logout, a new password or a new role adds one, which
    # ends every session made before on the server (a copied cookie stops working).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def can(self, role: str) -> bool:
        """True when this user's role is at least ``role``."""
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]

    def __repr__(self) -> str:
        return f"<AdminUser {self.username!r} {self.role}>"


class LoginFailure(Base):
    """Failed logins of a name that is not an account (kept by a hash of the name), so an
    unknown name locks after as many failures as a real account and answers the same."""

    __tablename__ = "admin_login_failures"

    name_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


__all__ = ["ROLES", "AdminUser", "LoginFailure"]
