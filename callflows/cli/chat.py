"""`callflows chat VERTICAL`: talk to the agent by typing, or play a script of caller lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from callflows.cli.common import open_store, parse_now
from callflows.dialogue import DialogueSession
from callflows.privacy import mask_value
from callflows.verticals import load_vertical


def read_script(path: Path) -> list[str]:
    """Caller lines: a YAML list (strings, or {say: ...} / {dtmf: ...}) or a text file, one line each."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        data = yaml.safe_load(text)
        lines = data.get("caller", data.get("turns", [])) if isinstance(data, dict) else data
        out = []
        for item in lines or []:
            if isinstance(item, dict):
                out.append(f"#dtmf {item['dtmf']}" if "dtmf" in item else str(item.get("say", "")))
            else:
                out.append(str(item))
        return out
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("//")]


def shown_slots(session: DialogueSession) -> dict[str, Any]:
    out = {}
    for name, value in session.state.slots.items():
        spec = session.flow.slots[name]
        # free-form slots are internal, except references given to the caller (appointment_ref, reservation_ref)
        if value is None or spec.type == "any" and not name.endswith("_ref"):
            continue
        out[name] = mask_value(spec.type, value) if spec.pii else value
    return out


def _turn(session: DialogueSession, line: str):
    if line.startswith("#dtmf "):
        return session.handle_text(line[6:].strip(), source="dtmf")
    return session.handle_text(line)


def _route_line(reply) -> str | None:  # noqa: ANN001
    """`[route: llm — lost_or_stolen_card, balance over 5000]` when this turn escalated."""
    d = reply.decision
    return f"[route: {d['route']} — {', '.join(d['reasons']) or 'routine'}]" if d else None


def _drain(reply, echo=None) -> None:  # noqa: ANN001
    """A streamed (LLM) reply: print each sentence as it arrives; `text` is complete after."""
    if reply.sentences is None:
        return
    for sentence in reply.sentences:
        if echo:
            echo(sentence)


@click.command()
@click.argument("vertical")
@click.option("--script", "script", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Play these caller lines and print the transcript as JSON lines.")
@click.option("--now", "now", help="The call's date and time (ISO), for reproducible scripts.")
@click.option("--show-nlu", is_flag=True, help="Interactive: show the NLU result of each turn.")
def chat(vertical: str, script: Path | None, now: str | None, show_nlu: bool) -> None:
    """Talk to VERTICAL's agent by typing (Ctrl-D or 'bye' to end)."""
    store = open_store()
    try:
        v = load_vertical(vertical, store)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    session = DialogueSession(v, store, now=parse_now(now), channel="text")
    reply = session.start()
    if script is not None:
        emit = lambda obj: click.echo(json.dumps(obj, ensure_ascii=False))  # noqa: E731
        emit({"turn": 0, "bot": reply.text})
        for i, line in enumerate(read_script(script), start=1):
            if reply.end_call or reply.transfer_to:
                break
            reply = _turn(session, line)
            _drain(reply)
            emit({"turn": i, "caller": line, "bot": reply.text, "intent": (reply.nlu or {}).get("intent"),
                  "expects": reply.to_json()["expects"],
                  **({"route": reply.decision["route"], "reasons": reply.decision["reasons"]} if reply.decision else {})})
        if not session.state.ended:
            session.end("script_ended")
        emit({"final": True, "call_id": session.call_id, "outcome": session.final_outcome("script_ended"),
              "transfer_to": session.state.transferred_to, "slots": shown_slots(session)})
        return
    click.echo(f"bot> {reply.text}")
    while not (reply.end_call or reply.transfer_to):
        try:
            line = click.prompt("you", prompt_suffix="> ")
        except (EOFError, click.Abort):
            click.echo()
            break
        reply = _turn(session, line)
        if show_nlu and reply.nlu:
            click.echo(click.style(f"     nlu: {json.dumps(reply.nlu)}", dim=True))
        if _route_line(reply):
            click.echo(click.style(_route_line(reply), fg="yellow"))
        if reply.sentences is not None:
            click.echo("bot> ", nl=False)
            _drain(reply, lambda sentence: click.echo(sentence + " ", nl=False))
            click.echo()
        else:
            click.echo(f"bot> {reply.text}")
        if show_nlu:
            click.echo(click.style(f"     slots: {json.dumps(shown_slots(session))}", dim=True))
    if reply.transfer_to:
        click.echo(f"[call transferred to {reply.transfer_to}]")
    if not session.state.ended:
        session.end("hangup")
    click.echo(f"[call {session.call_id} ended: {session.final_outcome('hangup')}]")
