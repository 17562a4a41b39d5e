"""`callflows calls sweep`: finish the calls that dead replicas left "in progress".

Every phone replica already sweeps once a minute (``callflows/store/sweeper.py``); this runs
the same sweep once, from a shell or a Kubernetes CronJob, e.g. when every replica is gone.
"""

from __future__ import annotations

import json
from datetime import timedelta

import click

from callflows.cli.common import open_store
from callflows.store.replicas import live_replicas
from callflows.store.sweeper import (
    DEFAULT_REPLICA_STALE_AFTER,
    DEFAULT_STALE_AFTER,
    sweep_lost_calls,
)


@click.group()
def calls() -> None:
    """Calls in the store."""


@calls.command("sweep")
@click.option("--replica-stale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds without a heartbeat after which a replica counts as dead (default: "
                   f"CALLFLOWS_REPLICA_STALE_S or {int(DEFAULT_REPLICA_STALE_AFTER.total_seconds())}).")
@click.option("--idle", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_STALE_AFTER.total_seconds(),
              show_default=True, help="Seconds without activity for a call whose replica is unknown.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def sweep(replica_stale: float | None, idle: float, as_json: bool) -> None:
    """Mark calls of dead replicas as failed (outcome replica_lost, or worker_lost when the replica is unknown)."""
    from callflows.config import Settings

    if replica_stale is None:
        try:
            replica_stale = Settings.from_env().replica_stale_s
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    store = open_store(upgrade=False)
    stale = timedelta(seconds=replica_stale)
    try:
        swept = sweep_lost_calls(store, timedelta(seconds=idle), replica_stale_after=stale)
        alive = live_replicas(store, stale)
    except Exception as exc:  # noqa: BLE001 - a clear message, not a traceback
        raise click.ClickException(f"database not reachable or not migrated: {type(exc).__name__}") from None
    if as_json:
        click.echo(json.dumps({"swept": swept, "live_replicas": len(alive)}))
        return
    click.echo(f"{len(swept)} call(s) marked as failed; {len(alive)} live replica(s)")
    for call_id in swept:
        click.echo(f"  {call_id}")
