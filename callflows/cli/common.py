"""Helpers shared by the CLI commands."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from callflows.plugins import VerticalPluginError
from callflows.store import Store


def open_store(upgrade: bool = True) -> Store:
    """The configured store (CALLFLOWS_DATABASE_URL, else ./var/callflows.db), migrated."""
    store = Store.from_env()
    if upgrade:
        try:
            store.upgrade()
        except VerticalPluginError as exc:  # names the vertical and what is wrong with it
            raise click.ClickException(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a clear message, not a traceback
            raise click.ClickException(f"database not reachable or not migratable: {type(exc).__name__}: {exc}") from None
    return store


def parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not an ISO date-time like 2026-11-23T10:00") from None


def fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)
