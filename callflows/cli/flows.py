"""`callflows flows validate|show` and `callflows import-rasa`.

Every problem is printed as `file:line: field: message`, never as a traceback; the exit code
is 1 when any vertical has an error.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click
import yaml
from rasa_sdk import Action

from callflows.flow.errors import FlowError, FlowErrors
from callflows.flow.loader import load_flow
from callflows.flow.rasa_import import RasaImportError, import_rasa_project
from callflows.flow.spec import FlowSpec
from callflows.flow.yaml_lines import LineDict, load_yaml_with_lines
from callflows.verticals import FLOW_FILE, list_verticals, load_actions_module, verticals_dir


def _counts(flow: FlowSpec) -> str:
    return f"({len(flow.intents)} intents, {len(flow.forms)} forms, {len(flow.slots)} slots)"


def defined_action_names(module: object) -> set[str]:
    """The name() of every rasa_sdk Action subclass defined in the module itself."""
    names: set[str] = set()
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if not (issubclass(cls, Action) and cls.__module__ == getattr(module, "__name__", None)):
            continue
        if inspect.isabstract(cls):
            continue
        try:
            names.add(str(cls().name()))
        except Exception:  # noqa: BLE001 - a class that cannot be built is simply not an action
            continue
    return names


def _form_field_line(flow_file: Path, form: str, key: str) -> int | None:
    """Line of forms.<form>.<key> in the flow file (for messages about actions)."""
    try:
        doc = load_yaml_with_lines(flow_file.read_text(encoding="utf-8"))
        body = doc["forms"][form]
    except Exception:  # noqa: BLE001 - the flow already loaded; a line is only a nicety
        return None
    return body.line_of(key) if isinstance(body, LineDict) else None


def check_actions(name: str, root: Path, flow: FlowSpec, flow_file: Path) -> list[FlowError]:
    """Every form action and named validator must be defined in the vertical's actions module
    (only checked when that module exists and no action server is configured)."""
    module_file = flow.actions_module or "actions.py"
    path = root / module_file
    if flow.action_server or not path.is_file():
        return []
    try:
        module = load_actions_module(name, root, module_file)
    except Exception as exc:  # noqa: BLE001 - the user's module: report, never crash
        line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
        return [FlowError(str(path), line, "actions", f"cannot be imported: {type(exc).__name__}: {exc}")]
    if module is None:
        return []
    names = defined_action_names(module)
    known = ", ".join(sorted(names)) or "none"
    errors: list[FlowError] = []
    for form in flow.forms.values():
        for key, wanted in (("action", form.action), ("validator", form.validator)):
            if wanted and wanted not in names:
                errors.append(FlowError(
                    str(flow_file), _form_field_line(flow_file, form.name, key), f"forms.{form.name}.{key}",
                    f"'{wanted}' is not an action defined in {module_file} (defined: {known})"))
    return errors


def validate_vertical(name: str, base: Path | None = None) -> tuple[FlowSpec | None, list[FlowError]]:
    """Load and check one vertical; returns (flow or None, errors)."""
    root = (base or verticals_dir()) / name
    flow_file = root / FLOW_FILE
    if not flow_file.is_file():
        known = ", ".join(list_verticals()) or "none"
        return None, [FlowError(str(root), None, "vertical", f"no {FLOW_FILE} here (known verticals: {known})")]
    try:
        flow = load_flow(flow_file)
    except FlowErrors as exc:
        return None, list(exc.errors)
    except Exception as exc:  # noqa: BLE001 - never a traceback
        return None, [FlowError(str(flow_file), None, "file", f"cannot be loaded: {type(exc).__name__}: {exc}")]
    errors = check_actions(name, root, flow, flow_file)
    return (None if errors else flow), errors


@click.group()
def flows() -> None:
    """Validate and inspect the verticals' flow files."""


@flows.command("validate")
@click.argument("verticals", nargs=-1)
def validate(verticals: tuple[str, ...]) -> None:
    """Check every vertical (or the named ones); exit code 1 if any has an error."""
    names = list(verticals) or list_verticals()
    if not names:
        click.echo(f"no verticals in {verticals_dir()}", err=True)
        sys.exit(1)
    failed = 0
    for name in names:
        flow, errors = validate_vertical(name)
        if errors:
            failed += 1
            for error in errors:
                click.echo(str(error))
        else:
            click.echo(f"ok  {name}  {_counts(flow)}")
    if failed:
        click.echo(f"{failed} of {len(names)} vertical(s) have errors", err=True)
        sys.exit(1)


@flows.command("show")
@click.argument("vertical")
def show(vertical: str) -> None:
    """Print a summary of VERTICAL's flow."""
    flow, errors = validate_vertical(vertical)
    if errors or flow is None:
        for error in errors:
            click.echo(str(error))
        sys.exit(1)
    click.echo(f"{flow.vertical}: {flow.display_name}  {_counts(flow)}")
    click.echo(f"  file: {flow.source}")
    click.echo(f"  timezone: {flow.timezone}   transfer: {flow.transfer_number or '-'}")
    click.echo(f"  actions: {flow.action_server or flow.actions_module or '-'}")
    click.echo("slots:")
    for slot in flow.slots.values():
        extra = []
        if slot.choices:
            extra.append("choices: " + ", ".join(slot.choices))
        if slot.length:
            extra.append(f"length {slot.length}")
        if slot.pii:
            extra.append("pii")
        click.echo(f"  {slot.name}: {slot.type}" + (f"  ({'; '.join(extra)})" if extra else ""))
    click.echo("intents:")
    for intent in flow.intents.values():
        extra = f", says '{intent.response}'" if intent.response else ""
        extra += ", transfers" if intent.transfer else ""
        click.echo(f"  {intent.name}: {len(intent.examples)} examples{extra}")
    click.echo("forms:")
    for form in flow.forms.values():
        steps = " -> ".join("/".join(step.slots) for step in form.steps)
        click.echo(f"  {form.name}: on intent {form.intent or '-'}: {steps}"
                   f"{' -> confirm' if form.confirm else ''} -> {form.action or 'no action'}")
    click.echo("responses: " + (", ".join(flow.responses) or "-"))
    click.echo(f"faq: {len(flow.faq)} entries" + (f" ({', '.join(e.id for e in flow.faq)})" if flow.faq else ""))


@click.command("import-rasa")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write the vertical into (default: the verticals folder).")
@click.option("--name", "name", default=None, help="Vertical name (default: the project folder's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing vertical of that name.")
def import_rasa(path: Path, out: Path | None, name: str | None, force: bool) -> None:
    """Turn the Rasa 3.x project at PATH into a vertical skeleton (flow.yaml, knowledge.yaml)."""
    out_dir = out or verticals_dir()
    try:
        flow_path = import_rasa_project(path, out_dir, name, overwrite=force)
    except RasaImportError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"import failed: {type(exc).__name__}: {exc}") from None
    target = flow_path.parent
    vertical = target.name
    flow, errors = validate_vertical(vertical, base=target.parent)
    click.echo(f"Imported {path} -> {flow_path}")
    if errors:
        for error in errors:
            click.echo(str(error))
        sys.exit(1)
    click.echo(f"ok  {vertical}  {_counts(flow)}")
    actions_source = next((p for p in (path / "actions.py", path / "actions" / "actions.py") if p.is_file()), None)
    env = "" if target.parent.resolve() == verticals_dir().resolve() else f"CALLFLOWS_VERTICALS_DIR={target.parent} "
    click.echo("Next steps:")
    click.echo(f"  1. Review {flow_path}: slot types are guessed from slot names; set timezone and "
               "transfer_number, and read the notes at the top.")
    if flow.actions_module:
        copy = (f"cp {actions_source} {target / 'actions.py'}" if actions_source
                else f"copy your actions.py to {target}/")
        click.echo(f"  2. {copy} (it runs unchanged in process), or set action_server: to your "
                   "existing action server URL.")
    else:
        click.echo("  2. No custom actions: nothing to copy.")
    click.echo(f"  3. {env}callflows flows validate {vertical}")
    click.echo(f"  4. {env}callflows chat {vertical}")
