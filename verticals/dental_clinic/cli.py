"""`callflows dental_clinic appointments list`: the clinic's bookings, in the clinic's local time.

Found through the vertical's plugin (``callflows <vertical> ...``); `callflows appointments
list` is kept as an alias of it."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import click

from callflows.cli.common import open_store

from . import repo


@click.group("dental_clinic")
def group() -> None:
    """The dental clinic's own commands."""


@group.group()
def appointments() -> None:
    """Appointments booked through the agent."""


@appointments.command("list")
@click.option("--vertical", help="Only this vertical.")
@click.option("--all", "include_cancelled", is_flag=True, help="Include cancelled appointments.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_appointments(vertical: str | None, include_cancelled: bool, as_json: bool) -> None:
    """List appointments, soonest first, in the clinic's local time."""
    store = open_store()
    with store.session() as s:
        rows = repo.list_appointments(s, vertical=vertical, include_cancelled=include_cancelled)
        out = []
        for a in rows:
            tz = ZoneInfo(_timezone(a.vertical))
            out.append({
                "reference": a.reference,
                "vertical": a.vertical,
                "status": a.status,
                "type": a.appointment_type,
                "provider": f"{a.provider.title or ''} {a.provider.name}".strip(),
                "starts": a.starts_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "ends": a.ends_at.astimezone(tz).strftime("%H:%M"),
                "customer": a.customer.full_name,
                "name_unverified": bool(a.name_unverified),
            })
    if as_json:
        for row in out:
            click.echo(json.dumps(row))
        return
    if not out:
        click.echo("no appointments")
        return
    cols = ["reference", "starts", "ends", "type", "provider", "customer", "status", "vertical"]
    for r in out:
        if r["name_unverified"]:  # the caller could not confirm the spelling: the staff check it
            r["customer"] = f"{r['customer']} [name not verified]"
    widths = {c: max(len(c), *(len(str(r[c])) for r in out)) for c in cols}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in cols))
    for r in out:
        click.echo("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


def _timezone(vertical: str) -> str:
    from callflows.verticals import load_vertical

    try:
        return load_vertical(vertical).flow.timezone
    except Exception:  # noqa: BLE001 - a vertical removed since: show UTC
        return "UTC"
