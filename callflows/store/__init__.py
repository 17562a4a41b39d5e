"""Persistence for Callflows: SQLAlchemy 2 models, Alembic migrations, repositories.

``Store(url)``, ``store.upgrade()``, ``with store.session() as s: ...``;
models in :mod:`callflows.store.models`, helpers in :mod:`callflows.store.repo` (calls, turns, customers, audit) and
:mod:`callflows.store.flow_versions` (drafts, publishing).
"""

from callflows.store.db import Store

__all__ = ["Store"]
