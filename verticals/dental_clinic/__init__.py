"""The dental clinic as a plugin of the engine: its tables (models.py, migrations/), booking
(scheduling.py), queries (repo.py), escalation lookup (lookups.py) and CLI (cli.py)."""

from __future__ import annotations

from pathlib import Path

from callflows.plugins import VerticalPlugin

NAME = "dental_clinic"


def plugin() -> VerticalPlugin:
    """What the engine hooks in (callflows/plugins/spec.py)."""
    from . import cli, lookups, models, repo  # noqa: F401 - models: the tables join the core's metadata

    return VerticalPlugin(
        name=NAME,
        migrations=Path(__file__).resolve().parent / "migrations",
        lookups={"dental_appointment": lookups.dental_appointment},
        cli=cli.group,
        bookings=repo.bookings_of_call,
    )
