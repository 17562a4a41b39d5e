"""Placeholder: this revision once changed a vertical's tables in the core's history.

Those tables now belong to their vertical, whose own Alembic branch creates them on a new
database and adopts them (as they are, rows kept) on a database made before (callflows/plugins).
The revision stays so that a database at any older revision upgrades through the same chain.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
