"""The admin's table (migration 0002) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

import admin.models  # noqa: F401 - registers admin_users on Base.metadata
import callflows.store.recordings  # noqa: F401 - and the other tables outside store.models
import callflows.store.replicas  # noqa: F401 - (recordings, replicas, transfers),
import callflows.store.transfers  # noqa: F401 - so the comparison holds when this file runs alone
from admin.models import AdminUser
from admin.security import authenticate, create_user
from tests.fixtures.db import schema_diff



def _head(store) -> str:  # noqa: ANN001
    """The core's newest migration, read from the scripts (test_store pins its number); the
    verticals' branches have heads of their own."""
    from pathlib import Path

    from callflows.store.db import CORE_VERSIONS_DIR

    script = ScriptDirectory.from_config(store.alembic_config())
    return next(h for h in script.get_heads() if Path(script.get_revision(h).path).parent == CORE_VERSIONS_DIR)


def test_migration_creates_admin_users_matching_the_model(store) -> None:  # noqa: ANN001
    head = _head(store)
    assert "admin_users" in inspect(store.engine).get_table_names()
    assert store.current_revision() == head
    diff = schema_diff(store)
    assert diff == []
    store.downgrade("0001")
    assert "admin_users" not in inspect(store.engine).get_table_names()
    store.upgrade()
    assert store.current_revision() == head


def test_users_are_unique_and_roles_checked(store) -> None:  # noqa: ANN001
    with store.session() as s:
        create_user(s, "ana", "long-enough-1", "editor")
    with store.session() as s:
        user, error = authenticate(s, "ana", "long-enough-1")
        assert user is not None and error is None
    with pytest.raises(IntegrityError):
        with store.session() as s:
            s.add(AdminUser(username="ana", password_hash="x", role="viewer"))
    with pytest.raises(IntegrityError):
        with store.session() as s:
            s.add(AdminUser(username="bo", password_hash="x", role="superuser"))
    with pytest.raises(ValueError):
        with store.session() as s:
            create_user(s, "cy", "long-enough-1", "root")
