"""`callflows distill VERTICAL`: teacher-written training data, then the vertical's student."""

from __future__ import annotations

import sys

import click


@click.command("distill")
@click.argument("vertical")
@click.option("--teacher", "teacher_role", default=None, help="LLM role of the teacher (default: the recipe's, 'teacher').")
@click.option("--no-teacher", is_flag=True, help="Do not ask the teacher: train from the data file as it is.")
@click.option("--no-train", is_flag=True, help="Only generate data.")
@click.option("--fresh", is_flag=True, help="Delete the data file and start again.")
@click.option("--limit", type=int, default=None, help="Run at most this many teacher tasks now (resume later).")
@click.option("--per-intent", type=int, default=None, help="Override the recipe's utterances per intent.")
@click.option("--per-slot", type=int, default=None, help="Override the recipe's answers per slot.")
@click.option("--out", type=click.Path(), default=None, help="Where to save the student (default models/built/VERTICAL/student).")
def distill_command(vertical: str, teacher_role: str | None, no_teacher: bool, no_train: bool, fresh: bool,
                    limit: int | None, per_intent: int | None, per_slot: int | None, out: str | None) -> None:
    """Teacher LLM -> verticals/VERTICAL/distilled.jsonl -> student model (resumable)."""
    from dataclasses import replace
    from pathlib import Path

    from callflows.distill.recipe import Recipe, RecipeError
    from callflows.distill.run import distill
    from callflows.flow.errors import FlowErrors
    from callflows.flow.loader import load_flow
    from callflows.verticals import FLOW_FILE, vertical_root

    try:
        root = vertical_root(vertical)
        flow = load_flow(root / FLOW_FILE)
        recipe = Recipe.load(root)
    except (LookupError, FlowErrors, RecipeError) as exc:
        raise click.ClickException(str(exc)) from exc
    changes = {k: v for k, v in (("teacher", teacher_role), ("per_intent", per_intent), ("per_slot", per_slot)) if v is not None}
    recipe = replace(recipe, **changes)
    echo = lambda line: click.echo(line, err=False) or sys.stdout.flush()  # noqa: E731
    try:
        report = distill(flow, root, recipe=recipe, fresh=fresh, train=not no_train, limit=0 if no_teacher else limit,
                         out=Path(out) if out else None, log=echo)
    except Exception as exc:  # an LLM that cannot load, a model that cannot train: say so, no traceback
        from callflows.llm.base import LLMError

        if isinstance(exc, (LLMError, ValueError, OSError)):
            raise click.ClickException(str(exc)) from exc
        raise
    click.echo(f"[distill] done: {report.tasks_run} tasks run ({report.tasks_failed} failed), kept {report.kept}, "
               f"dropped {report.dropped}, teacher {report.teacher_seconds:.0f} s; data {report.data_file}"
               + (f"; student {report.student}" if report.student else ""))
