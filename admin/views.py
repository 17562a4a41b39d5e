"""Small helpers shared by the blueprints: the store, template filters, the acting user."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g

from callflows.store import Store


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
