"""`callflows simulate-call VERTICAL --script caller.yaml`: a phone call as Twilio would place it."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import click


def _number_for(vertical: str) -> str | None:
    """A phone number mapped to the vertical in the store, if any (else the server's default vertical answers)."""
    from sqlalchemy import select

    from callflows.cli.common import open_store
    from callflows.store.models import PhoneNumber

    try:
        store = open_store()
        with store.session() as s:
            row = s.scalar(select(PhoneNumber).where(PhoneNumber.vertical == vertical))
            return row.number if row else None
    except Exception:  # noqa: BLE001 - no store here: use the default vertical
        return None


@click.command("simulate-call")
@click.argument("vertical")
@click.option("--script", "script", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML: caller: [ {say: ...}, {dtmf: '1234#'}, {say: ..., barge_in_ms: 800}, {hangup: true} ]")
@click.option("--url", default=lambda: os.environ.get("CALLFLOWS_SERVER_URL", "http://127.0.0.1:8080"),
              show_default="http://127.0.0.1:8080", help="The Callflows server.")
@click.option("--to", "to_number", help="The number called (default: one mapped to VERTICAL).")
@click.option("--no-transcribe", is_flag=True, help="Do not transcribe the bot's audio back.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def simulate_call(vertical: str, script: Path, url: str, to_number: str | None, no_transcribe: bool,
                  as_json: bool) -> None:
    """Call VERTICAL on a running server with synthesised caller speech, in real time."""
    from callflows.telephony.simulator import SimulatedCall
    from callflows.telephony.simulator_types import load_script

    _, steps = load_script(script)
    to_number = to_number or _number_for(vertical) or "+15550100000"
    call = SimulatedCall(url, auth_token=os.environ.get("TWILIO_AUTH_TOKEN"), to_number=to_number,
                         log=(lambda m: None) if as_json else (lambda m: click.echo(f"  .. {m}", err=True)))
    transcribe = None
    if not no_transcribe:
        from callflows.speech import codec
        from callflows.speech.stt import WhisperRecognizer

        recognizer = WhisperRecognizer(incremental=False)
        transcribe = lambda ulaw: recognizer.transcribe(codec.ulaw_to_pcm16(ulaw)).text  # noqa: E731
    try:
        result = call.run(steps, transcribe=transcribe, linger_s=3.0)
    except Exception as exc:  # noqa: BLE001 - a clear message, not a traceback
        raise click.ClickException(f"call failed: {type(exc).__name__}: {exc}") from None
    lat = result.latencies()
    if as_json:
        click.echo(json.dumps({
            "call_sid": result.call_sid, "greeting": result.greeting,
            "turns": [{"caller": t.caller, "bot": t.bot, "latency_ms": t.latency_ms} for t in result.turns],
            "clears": result.clears, "max_gap_ms": result.max_gap_ms,
        }, indent=2))
        return
    click.echo(f"bot:    {result.greeting}")
    for t in result.turns:
        click.echo(f"caller: {t.caller}")
        if t.bot:
            click.echo(f"bot:    {t.bot}")
    click.echo("")
    click.echo("turn  latency_ms  caller")
    for i, t in enumerate(result.turns, 1):
        shown = f"{t.latency_ms:10.0f}" if t.latency_ms is not None else "         -"
        click.echo(f"{i:4d}  {shown}  {t.caller[:60]}")
    if lat:
        q = statistics.quantiles(lat, n=20) if len(lat) > 1 else [lat[0]] * 19
        click.echo(f"p50 {statistics.median(lat):.0f} ms   p95 {q[18]:.0f} ms   "
                   f"barge-in clears {result.clears}   longest gap in bot audio {result.max_gap_ms:.0f} ms")
