"""`callflows eval`: student, teacher and baseline side by side on the development data."""

from __future__ import annotations

import click


@click.command("eval")
@click.option("--quick", is_flag=True, help="Small samples of every data set (about a minute); numbers are rough.")
@click.option("--out", default="bench/eval/results.json", show_default=True,
              help="JSON results; a .md table and a .png plot are written beside it.")
@click.option("--teacher-sample", default=200, show_default=True, help="Banking77 utterances the teacher LLM labels.")
@click.option("--no-teacher", is_flag=True, help="Skip the teacher LLM (it is slow).")
@click.option("--save-student", default=None, help="Also keep the Banking77 student (with its model card) in this folder.")
@click.option("--verticals-oos", "verticals_oos", is_flag=True,
              help="Instead: out-of-scope recall and in-scope accuracy through each vertical's dialogue, students "
                   "trained before and after other-domain negatives (writes bench/eval/vertical_oos.json).")
@click.option("--vertical", "only", multiple=True, help="With --verticals-oos: only this vertical (repeatable).")
@click.option("--installed", is_flag=True, help="With --verticals-oos: the students the install built, not new ones "
                                                 "(writes bench/eval/vertical_oos_installed.json).")
def eval_command(quick: bool, out: str, teacher_sample: int, no_teacher: bool, save_student: str | None,
                 verticals_oos: bool, only: tuple[str, ...], installed: bool) -> None:
    """Banking77, NLU++, SGD and CLINC150 numbers on typed and ASR-style text, with latency and memory."""
    if verticals_oos:
        from callflows.eval import vertical_oos

        default = "bench/eval/vertical_oos_installed.json" if installed else "bench/eval/vertical_oos.json"
        target = out if out != "bench/eval/results.json" else default
        vertical_oos.run(only or vertical_oos.VERTICALS, quick=quick, out=target, log=click.echo,
                         installed_only=installed)
        return
    from callflows.eval import run_eval

    run_eval(quick=quick, out=out or None, teacher_sample=teacher_sample, teacher=not no_teacher,
             save_student=save_student, log=click.echo)


eval = eval_command  # the name the lead registers: cli.add_command(eval)
