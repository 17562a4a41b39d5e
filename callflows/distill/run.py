"""`callflows distill VERTICAL`: teacher tasks -> filtered, styled examples -> student.

Resumable: each finished task is recorded in the data file; a second run skips it.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from callflows.distill.datafile import DATA_FILE, DistilledFile
from callflows.distill.filtering import IntentFilter, key, parse_back
from callflows.distill.recipe import Recipe, read_source
from callflows.distill.tasks import Task, answer_tasks, intent_tasks, label_tasks, reference_now
from callflows.distill.teacher import Teacher
from callflows.flow.spec import FlowSpec
from callflows.llm.base import LLMError
from callflows.nlu.asr_style import AsrStyler
from callflows.nlu.builtin_intents import BUILTIN_INTENTS
from callflows.nlu.pipeline import FAQ_INTENT

FAQ_DESCRIPTION = "a question about the business itself: its facilities, opening hours, prices, policies or directions"

logger = logging.getLogger(__name__)


@dataclass
class DistillReport:
    tasks_total: int
    tasks_done_before: int
    tasks_run: int
    tasks_failed: int
    kept: int
    dropped: int
    seconds: float
    teacher_seconds: float
    data_file: Path
    student: Path | None = None


def plan(flow: FlowSpec, root: Path, recipe: Recipe) -> list[Task]:
    real: dict[str, int] = {}
    if recipe.expand_min_real:
        for source in recipe.datasets:
            for _, label in read_source(source, root):
                real[label] = real.get(label, 0) + 1
    tasks = intent_tasks(flow, recipe, real) + answer_tasks(flow, recipe)
    if recipe.unlabelled:
        from callflows.distill.recipe import DataSource

        source = recipe.unlabelled if isinstance(recipe.unlabelled, DataSource) else DataSource(recipe.unlabelled, format="lines")
        tasks += label_tasks([t for t, _ in read_source(source, root)])
    return tasks


def run_task(task: Task, teacher: Teacher, flow: FlowSpec, ifilter: IntentFilter, recipe: Recipe,
             intents: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """The rows to keep for one task and how many of the teacher's items were dropped."""
    styler = AsrStyler(seed=int.from_bytes(task.id.encode()[-8:], "little"), fillers=0.2, errors=0.06)
    rng = random.Random(task.id)
    rows: list[dict[str, Any]] = []
    dropped = 0
    if task.kind == "expand":
        assert task.intent is not None
        for text in teacher.expand(task.intent, task.description, task.examples, task.n):
            ok, _why = ifilter.keep(text, task.intent)
            if ok and recipe.verify_with_teacher and rng.random() < recipe.verify_with_teacher:
                ok = teacher.label(text, intents) == task.intent
            if not ok:
                dropped += 1
                continue
            rows.append({"kind": "intent", "text": text, "intent": task.intent, "style": "typed", "source": "teacher"})
            if rng.random() < recipe.asr_fraction:
                rows.append({"kind": "intent", "text": styler(text), "intent": task.intent, "style": "asr",
                             "source": "teacher"})
    elif task.kind == "answer":
        assert task.slot is not None
        now = reference_now(flow)
        seen: set[str] = set()
        for text in teacher.answer(task.question, task.phrase, task.n):
            span = parse_back(flow, task.slot, text, task.value, now) if key(text) not in seen else None
            if span is None:
                dropped += 1
                continue
            seen.add(key(text))
            from callflows.nlu.values import normalize_asr

            norm = normalize_asr(text)
            rows.append({"kind": "slot", "text": norm, "slots": [[task.slot, *span]], "value": task.value,
                         "style": "typed", "source": "teacher"})
            if rng.random() < recipe.asr_fraction:
                asr, spans = styler.convert_spans(norm, [(task.slot, *span)])
                if spans:
                    rows.append({"kind": "slot", "text": asr, "slots": [list(s) for s in spans], "value": task.value,
                                 "style": "asr", "source": "teacher"})
    elif task.kind == "label":
        label = teacher.label(task.text, intents)
        # two labellers must agree (self-consistency): the teacher, and the classifier trained on
        # the flow's own examples; a real utterance the two read differently is left out
        if label == "none" or not ifilter.keep(task.text, label)[0]:
            dropped += 1
        else:
            rows.append({"kind": "intent", "text": task.text, "intent": label, "style": "real", "source": "teacher_label"})
    return rows, dropped


def distill(flow: FlowSpec, root: Path, *, teacher_llm: Any = None, recipe: Recipe | None = None,
            fresh: bool = False, train: bool = True, limit: int | None = None, out: Path | None = None,
            log: Callable[[str], None] = print, embedder: Any = None) -> DistillReport:
    recipe = recipe or Recipe.load(root)
    data = DistilledFile(root / DATA_FILE)
    if fresh:
        data.reset()
    tasks = plan(flow, root, recipe)
    done = data.done_tasks()
    todo = [t for t in tasks if t.id not in done]
    if limit is not None:
        todo = todo[:limit]
    log(f"[distill] {flow.vertical}: {len(tasks)} tasks, {len(tasks) - len([t for t in tasks if t.id not in done])} "
        f"done before, {len(todo)} to run -> {data.path}")
    t0 = time.time()
    kept = dropped = failed = 0
    teacher = None
    if todo:
        if teacher_llm is None:
            from callflows.llm import get_llm

            teacher_llm = get_llm(recipe.teacher)
        teacher = Teacher(teacher_llm, flow.display_name, temperature=recipe.temperature, max_tokens=recipe.max_tokens)
        seeds = [(e, name) for name, examples in BUILTIN_INTENTS.items() for e in examples]
        seeds += [(e, i.name) for i in flow.intents.values() for e in (i.examples or i.keywords)]
        seeds += [(q, FAQ_INTENT) for entry in flow.faq for q in entry.questions]
        labels = {lab for _, lab in seeds}
        ifilter = IntentFilter([t for t, _ in seeds], [lab for _, lab in seeds], top_k=max(1, min(3, len(labels) // 20)))
        for ex in data.examples():  # what earlier runs kept counts as seen (no duplicates on resume)
            ifilter.seen.add(key(ex.text))
        intents = {name: recipe.intents.get(name, name.replace("_", " ")) for name in flow.intents}
        if flow.faq:  # a real caller's question the knowledge file answers is FAQ data, not "none"
            intents[FAQ_INTENT] = recipe.intents.get(FAQ_INTENT, FAQ_DESCRIPTION)
        for i, task in enumerate(todo, 1):
            try:
                rows, drop = run_task(task, teacher, flow, ifilter, recipe, intents)
            except LLMError as exc:
                failed += 1
                log(f"[distill] {task.id}: teacher failed ({exc}); it will be retried on the next run")
                continue
            data.append_task(task.id, rows, drop)
            kept += len(rows)
            dropped += drop
            elapsed = time.time() - t0
            eta = elapsed / i * (len(todo) - i)
            log(f"[distill] {i}/{len(todo)} {task.id}: kept {len(rows)}, dropped {drop} "
                f"(total kept {kept}, dropped {dropped}; {elapsed:.0f} s, eta {eta:.0f} s)")
    report = DistillReport(len(tasks), len(tasks) - len([t for t in tasks if t.id not in done]), len(todo) - failed,
                           failed, kept, dropped, time.time() - t0, teacher.seconds if teacher else 0.0, data.path)
    if train:
        from callflows.distill.train import train_student

        report.student = train_student(flow, root, recipe, out=out, embedder=embedder, log=log)
    return report
