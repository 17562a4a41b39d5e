"""Column types shared by the models and the migrations.

``UTCDateTime`` stores every timestamp as UTC and always hands back a
timezone-aware ``datetime`` in UTC, on SQLite (which has no time zones)
as well as on PostgreSQL (``timestamptz``).  Naive datetimes given to it
are taken to be UTC already.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

#: JSON column: JSONB on PostgreSQL, JSON (text) elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def to_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; a naive one is assumed to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A ``DateTime(timezone=True)`` that is always UTC and always aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        value = to_utc(value)
        if dialect.name == "sqlite":
            # SQLite keeps text; store one canonical naive-UTC form so that
            # equality (and the slot-hold unique index) works.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return to_utc(value)
