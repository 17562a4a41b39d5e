"""Small helpers shared by the blueprints: the store, template filters, the acting user."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g

from callflows.store import Store


MAX_DB_INT = 2**31 - 1  # a version or page number PostgreSQL's INTEGER can hold


def db_text(value: str) -> str:
    """A request value as a query parameter: PostgreSQL refuses NUL in text, and no stored
    name holds one, so it becomes U+FFFD (which then matches nothing, as it should)."""
    return value.replace("\x00", "\ufffd")


def db_int(value: object) -> int | None:
    """A version number from a request (``"3"``), None unless a whole number 0..MAX_DB_INT."""
    try:
        number = int(str(value).strip()) if isinstance(value, (str, int)) and len(str(value)) <= 20 else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number <= MAX_DB_INT else None


def store() -> Store:
    return current_app.extensions["callflows_store"]


def actor() -> str:
    user = g.get("user")
    return user.username if user is not None else "anonymous"


def fmt_dt(value: datetime | None, with_seconds: bool = False) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M") + " UTC"


def fmt_ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["dt"] = fmt_dt
    app.jinja_env.filters["ms"] = fmt_ms
    app.jinja_env.filters["duration"] = fmt_duration
    app.jinja_env.filters["pct"] = fmt_pct
    app.jinja_env.filters["tojson_compact"] = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)


def can(role: str) -> bool:
    user: Any = g.get("user")
    return bool(user is not None and user.can(role))
