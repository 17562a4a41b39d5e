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

log = logging.getLogger(__name__)

ENV_VAR = "CALLFLOWS_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CORE_VERSIONS_DIR = MIGRATIONS_DIR / "versions"
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

    def alembic_config(self) -> Any:
        """An Alembic ``Config``: the core's migrations plus every installed vertical's branch.

        A vertical's tables are its own (callflows/plugins): its package names the folder of
        its Alembic branch, and a broken vertical stops the migration with an error naming it."""
        from alembic.config import Config

        from callflows.plugins import migration_locations

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("path_separator", "os")
        locations = [CORE_VERSIONS_DIR, *migration_locations()]
        cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations).replace("%", "%%"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self, revision: str = "heads") -> None:
        """Run the Alembic migrations up to ``revision`` (default: the head of the core and of
        every installed vertical's branch).

        Safe to call from several processes at once (e.g. server workers):
        PostgreSQL takes an advisory lock, SQLite's ``BEGIN IMMEDIATE`` the
        write lock, so the migrations run once and the others find head.
        """
        from alembic import command

        cfg = self.alembic_config()
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        log.info("database upgraded to %s", revision)

    def downgrade(self, revision: str = "base") -> None:
        """Run the Alembic migrations down to ``revision`` (default: base, every branch)."""
        from alembic import command

        cfg = self.alembic_config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)

    def current_revisions(self) -> tuple[str, ...]:
        """Every revision the database is at: the core's and each vertical branch's."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))

    def current_revision(self) -> str | None:
        """The core's Alembic revision the database is at (None if never migrated)."""
        core = {p.stem.partition("_")[0] for p in CORE_VERSIONS_DIR.glob("[0-9]*.py")}
        return next((r for r in self.current_revisions() if r in core), None)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({make_url(self.url).render_as_string(hide_password=True)!r})"
