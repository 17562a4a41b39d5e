"""`callflows db upgrade`: the core's migrations and every installed vertical's branch."""

from __future__ import annotations

import click

from callflows.cli.common import open_store


@click.group()
def db() -> None:
    """The database (CALLFLOWS_DATABASE_URL, default ./var/callflows.db)."""


@db.command("upgrade")
def upgrade() -> None:
    """Apply the database migrations (Alembic) up to the newest: the core's, then each vertical's."""
    store = open_store(upgrade=True)
    click.echo(f"database is up to date ({store.dialect}: {', '.join(store.current_revisions())})")
