"""The :class:`Store`: one engine, sessions with commit/rollback, migrations.

SQLite is configured so that several threads can write safely: WAL journal,
foreign keys on, a busy timeout, and every transaction opened with
``BEGIN IMMEDIATE`` (it takes the write lock up front, so a transaction that
reads and then writes -- like booking -- can never fail half-way with
"database is locked"; writers simply queue).  PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from callflows.store.branches import (  # noqa: F401 - MIGRATIONS_DIR, CORE_VERSIONS_DIR: where they always were
    CORE_BRANCH,
    CORE_VERSIONS_DIR,
    MIGRATIONS_DIR,
    MigrationBranch,
    alembic_config,
    migration_branches,
)

log = logging.getLogger(__name__)

ENV_VAR = "CALLFLOWS_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_ID = 0x43466C77  # "CFlw": pg advisory lock held while migrating


def normalize_url(url: str) -> str:
    """Map ``postgres://`` / ``postgresql://`` to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def default_sqlite_url(base: Path | None = None) -> str:
    """``sqlite:///<cwd>/var/callflows.db`` (the folder is created)."""
    folder = (base or Path.cwd()) / "var"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'callflows.db'}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not pysqlite) issue BEGIN, so savepoints work too.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            if engine.url.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """Database access for Callflows.

    >>> store = Store("sqlite:///var/callflows.db"); store.upgrade()  # core + every vertical
    >>> with store.session() as s:  # commits on success, rolls back on error
    ...     ...
    """

    def __init__(self, url: str, *, echo: bool = False, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, **engine_kwargs}
        if self.dialect == "sqlite":
            db = parsed.database
            if db and db != ":memory:" and not db.startswith("file:"):
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        else:
            kwargs.setdefault("pool_pre_ping", True)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        log.debug("store on %s", parsed.render_as_string(hide_password=True))

    @classmethod
    def from_env(cls, **kwargs: Any) -> Store:
        """Store from ``$CALLFLOWS_DATABASE_URL``, else ``sqlite:///<cwd>/var/callflows.db``."""
        url = os.environ.get(ENV_VAR) or default_sqlite_url()
        return cls(url, **kwargs)

    @property
    def is_sqlite(self) -> bool:
        """True when the backend is SQLite."""
        return self.dialect == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends, rolls back if it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def new_session(self) -> Session:
        """A bare session; the caller commits and closes it."""
        return self._sessions()

    def alembic_config(self, branch: MigrationBranch = CORE_BRANCH) -> Any:
        """An Alembic ``Config`` for one migration branch (default: the core's)."""
        return alembic_config(self.url, branch)

    def upgrade(self, revision: str = "head") -> None:
        """Run the core's migrations up to ``revision`` (default: head), then, when that is head,
        every installed vertical's own branch to its head (callflows/store/branches.py).

        Safe to call from several processes at once (e.g. server workers):
        PostgreSQL takes an advisory lock, SQLite's ``BEGIN IMMEDIATE`` the
        write lock, so the migrations run once and the others find head.
        A broken vertical stops it with a :class:`VerticalPluginError` naming it.
        """
        from alembic import command

        branches = migration_branches() if revision == "head" else [CORE_BRANCH]
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            for branch in branches:
                cfg = self.alembic_config(branch)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head" if not branch.is_core else revision)
        log.info("database upgraded to %s (%s)", revision, ", ".join(b.name for b in branches))

    def downgrade(self, revision: str = "base") -> None:
        """Run the core's migrations down to ``revision`` (default: base; then every installed
        vertical's branch goes to base first, its tables referring to the core's)."""
        from alembic import command

        branches = [*reversed(migration_branches()[1:]), CORE_BRANCH] if revision == "base" else [CORE_BRANCH]
        with self.engine.begin() as conn:
            for branch in branches:
                cfg = self.alembic_config(branch)
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, revision)

    def current_revisions(self) -> tuple[str, ...]:
        """The revision of each branch the database has: the core's, then each installed vertical's."""
        from alembic.runtime.migration import MigrationContext

        out = []
        with self.engine.connect() as conn:
            for branch in migration_branches():
                ctx = MigrationContext.configure(conn, opts={"version_table": branch.version_table})
                current = ctx.get_current_revision()
                if current is not None:
                    out.append(current)
        return tuple(out)

    def heads(self) -> tuple[str, ...]:
        """The newest revision of each branch: the core's, then each installed vertical's."""
        from alembic.script import ScriptDirectory

        return tuple(h for b in migration_branches()
                     for h in ScriptDirectory.from_config(self.alembic_config(b)).get_heads())

    def current_revision(self) -> str | None:
        """The core's Alembic revision the database is at (None if never migrated)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({make_url(self.url).render_as_string(hide_password=True)!r})"
