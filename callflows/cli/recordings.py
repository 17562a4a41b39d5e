"""`callflows recordings`: the retention sweep by hand or from a CronJob, and a new key.

Every phone replica already sweeps once an hour (``callflows/store/recordings.py``); this runs
the same sweep once, e.g. from a Kubernetes CronJob when no replica runs, or to check at once.
"""

from __future__ import annotations

import json

import click

from callflows.cli.common import open_store


@click.group()
def recordings() -> None:
    """Call recordings (encrypted, redacted, kept for the vertical's retention period)."""


@recordings.command("sweep")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def sweep(as_json: bool) -> None:
    """Delete the recordings past their retention period; each deletion is audited."""
    from callflows.config import Settings
    from callflows.recordings.vault import RecordingVault
    from callflows.store.recordings import sweep_expired_recordings

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    store = open_store(upgrade=False)
    try:
        deleted = sweep_expired_recordings(store, RecordingVault(settings.recordings_dir))
    except Exception as exc:  # noqa: BLE001 - a clear message, not a traceback
        raise click.ClickException(f"database not reachable or not migrated: {type(exc).__name__}") from None
    if as_json:
        click.echo(json.dumps({"deleted": deleted}))
        return
    click.echo(f"{len(deleted)} recording(s) deleted")
    for call_id in deleted:
        click.echo(f"  {call_id}")


@recordings.command("new-key")
def new_key_command() -> None:
    """Print a new key for CALLFLOWS_RECORDING_KEY (keep it in your secret store)."""
    from callflows.recordings.vault import new_key

    click.echo(new_key())


@recordings.command("plot")
@click.argument("call_id")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The PNG to write.")
def plot(call_id: str, out: str) -> None:
    """Draw a call's recording (caller, bot) with the redacted spans shaded (needs the key)."""
    from callflows.config import Settings
    from callflows.recordings.plot import plot_recording
    from callflows.recordings.vault import RecordingKeyError, RecordingVault
    from callflows.store.recordings import recording_of

    try:
        settings = Settings.from_env()
        vault = RecordingVault(settings.recordings_dir, settings.recording_keys)
    except (ValueError, RecordingKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    with open_store(upgrade=False).session() as s:
        rec = recording_of(s, call_id)
    if rec is None or not rec.playable:
        raise click.ClickException("no recording for this call (not recorded, or deleted)")
    try:
        wav = vault.read(rec.file_name)
    except (FileNotFoundError, RecordingKeyError) as exc:
        raise click.ClickException(str(exc) or "the recording's file is missing") from None
    click.echo(plot_recording(wav, rec.redactions, out, title=f"call {call_id}"))

