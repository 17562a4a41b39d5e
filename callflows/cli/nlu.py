"""`callflows nlu parse VERTICAL TEXT`: intent, confidence and slot values as JSON."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from callflows.cli.common import parse_now
from callflows.nlu.values import ParseContext
from callflows.verticals import load_vertical


@click.group()
def nlu() -> None:
    """Natural-language understanding."""


@nlu.command("parse")
@click.argument("vertical")
@click.argument("text")
@click.option("--now", help="Reference date-time (ISO) for relative dates.")
def parse(vertical: str, text: str, now: str | None) -> None:
    """Print VERTICAL's reading of TEXT as JSON."""
    try:
        v = load_vertical(vertical)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    tz = ZoneInfo(v.flow.timezone)
    when = parse_now(now)
    when = (when.replace(tzinfo=tz) if when and not when.tzinfo else when) or datetime.now(tz)
    result = v.nlu.parse(text, ParseContext(now=when, business_hours=v.flow.settings.business_hours))
    out = result.to_json()
    out["slots"] = {name: vals[0].value for name, vals in result.values.items() if vals}
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))
