"""Placeholder until the flows commands land (owned by the import-rasa work)."""

import click


@click.group()
def flows() -> None:
    """Flow files."""


@click.command("import-rasa")
def import_rasa() -> None:
    """Import a Rasa project."""
