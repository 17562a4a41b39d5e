"""Helpers for a vertical's first migration: create its tables, or adopt the ones found.

Databases made before verticals became plugins already hold a vertical's tables (the core's
history created them then). A vertical's first revision creates each table only when it is
absent and adds a column only when it is missing, so such a database keeps its rows and ends
in the same shape as a new one."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

log = logging.getLogger(__name__)


def has_table(name: str) -> bool:
    """Whether the database being migrated has table ``name``."""
    return name in sa.inspect(op.get_bind()).get_table_names()


def has_column(table: str, column: str) -> bool:
    """Whether ``table`` (which must exist) has ``column``."""
    return any(c["name"] == column for c in sa.inspect(op.get_bind()).get_columns(table))


def add_column_if_missing(table: str, column: sa.Column[bool] | sa.Column[int] | sa.Column[str]) -> None:
    """Add ``column`` to an adopted ``table`` that was made before it existed."""
    if not has_column(table, column.name):
        log.info("adopted table %s: adding column %s", table, column.name)
        with op.batch_alter_table(table) as batch:
            batch.add_column(column)


def flag_column(name: str) -> sa.Column[bool]:
    """A boolean column, false for existing rows (built for each use: a Column belongs to one table)."""
    return sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)
