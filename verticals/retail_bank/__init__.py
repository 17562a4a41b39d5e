"""The retail bank as a plugin of the engine: its tables (models.py, migrations/), identity
checks, accounts and cards (bank.py) and escalation lookup (lookups.py)."""

from __future__ import annotations

from pathlib import Path

from callflows.plugins import VerticalPlugin

NAME = "retail_bank"


def plugin() -> VerticalPlugin:
    """What the engine hooks in (callflows/plugins/spec.py)."""
    from . import lookups, models  # noqa: F401 - models: the tables join the core's metadata

    return VerticalPlugin(
        name=NAME,
        migrations=Path(__file__).resolve().parent / "migrations",
        lookups={"bank_customer": lookups.bank_customer},
    )
