"""Alembic environment for Callflows.

Works both programmatically (``Store.upgrade()`` passes an open connection in
``config.attributes["connection"]``, and runs it once for the core and once for each installed
vertical's branch, each with its version folder and version table) and from the command line with ``alembic -c callflows/store/alembic.ini``
(the core's revisions only; URL from ``$CALLFLOWS_DATABASE_URL`` or ``sqlalchemy.url``).
"""

from __future__ import annotations

import logging
import os

from alembic import context
from sqlalchemy import Connection, pool

from callflows.store.db import normalize_url
from callflows.store.models import Base

log = logging.getLogger(__name__)
config = context.config
target_metadata = Base.metadata
# the core's revisions in alembic_version, each vertical's in its own table (store/branches.py)
version_table = config.get_main_option("version_table") or "alembic_version"


def _include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Autogenerate compares the models with the tables, not with another branch's version table."""
    return not (type_ == "table" and (name or "").startswith("alembic_version_"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table=version_table,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return normalize_url(os.environ.get("CALLFLOWS_DATABASE_URL") or config.get_main_option("sqlalchemy.url") or "")


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        version_table=version_table,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a live database (given connection, or a new engine)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from callflows.store.db import Store

    store = Store(_url(), poolclass=pool.NullPool)
    with store.engine.begin() as conn:
        _run(conn)
    store.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
