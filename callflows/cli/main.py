"""`callflows`: chat with a vertical, parse text, validate flows, manage the database."""

from __future__ import annotations

import click

from callflows.cli.admin import admin
from callflows.cli.calls import calls
from callflows.cli.chat import chat
from callflows.cli.db import db
from callflows.cli.doctor import doctor
from callflows.cli.distill import distill_command
from callflows.cli.eval import eval_command
from callflows.cli.fillers import fillers
from callflows.cli.flows import flows, import_rasa
from callflows.cli.models import models
from callflows.cli.nlu import nlu
from callflows.cli.recordings import recordings
from callflows.cli.serve import serve
from callflows.cli.simulate import simulate_call
from callflows.cli.verticals import WithVerticals
from callflows.logs import configure_logging


@click.group(cls=WithVerticals)
@click.option("--log-level", default="WARNING", envvar="CALLFLOWS_LOG_LEVEL", show_default=True)
def cli(log_level: str) -> None:
    """Callflows: answer call-center phone calls with small models on CPUs.

    Each installed vertical adds its own commands: `callflows <vertical> --help`."""
    configure_logging(log_level)


for command in (chat, nlu, flows, import_rasa, db, serve, simulate_call, admin, models, eval_command,
                distill_command, doctor, fillers, calls, recordings):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="callflows")


if __name__ == "__main__":
    main()
