"""The migration branches of a database: the core's, then one per installed vertical.

Each branch keeps its revision in a version table of its own (``alembic_version`` for the
core, ``alembic_version_<vertical>`` for a vertical), and is migrated by its own Alembic run
after the core's. So a vertical removed from a deployment leaves its table and its rows, and
never stops the others from migrating (one shared version table would hold a revision no
script can be found for), and a new vertical starts its history at its first revision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CORE_VERSIONS_DIR = MIGRATIONS_DIR / "versions"
CORE = "core"
CORE_VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class MigrationBranch:
    """One line of revisions: the folder of its scripts and the table holding its revision."""

    name: str  # "core" or the vertical's name
    versions: Path
    version_table: str

    @property
    def is_core(self) -> bool:
        return self.name == CORE


CORE_BRANCH = MigrationBranch(CORE, CORE_VERSIONS_DIR, CORE_VERSION_TABLE)


def migration_branches() -> list[MigrationBranch]:
    """The core's branch, then each installed vertical's (a broken vertical raises
    :class:`callflows.plugins.VerticalPluginError` naming it)."""
    from callflows.plugins import installed_plugins

    out = [CORE_BRANCH]
    for plugin in installed_plugins():
        if plugin.migrations is not None:
            out.append(MigrationBranch(plugin.name, Path(plugin.migrations), f"{CORE_VERSION_TABLE}_{plugin.name}"))
    return out


def alembic_config(url: str, branch: MigrationBranch = CORE_BRANCH) -> Config:
    """An Alembic ``Config`` for one branch: the packaged env.py, the branch's scripts and table."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(branch.versions).replace("%", "%%"))
    cfg.set_main_option("version_table", branch.version_table)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
