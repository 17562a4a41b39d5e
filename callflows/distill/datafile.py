"""The vertical's distilled data: verticals/<name>/distilled.jsonl, append-only, one JSON per line.

Each line is one kept example:
    {"task": "expand:book_appointment:0", "kind": "intent", "text": "...", "intent": "book_appointment",
     "style": "typed" | "asr", "source": "teacher" | "teacher_label"}
    {"task": "answer:date:1", "kind": "slot", "text": "...", "slots": [["date", 10, 24]],
     "value": "2026-01-14", "style": "typed"}
and each finished task leaves a marker line {"task": "...", "done": true, "kept": 5, "dropped": 3}
so a run that stopped resumes after the last finished task. Review the file like code: delete
a bad line and retrain with `callflows distill VERTICAL --no-teacher`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

DATA_FILE = "distilled.jsonl"


@dataclass(frozen=True)
class Example:
    text: str
    intent: str | None
    slots: tuple[tuple[str, int, int], ...]
    style: str
    task: str


class DistilledFile:
    def __init__(self, path: Path):
        self.path = Path(path)

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:  # a half-written last line after a kill: ignore it
                    continue

    def done_tasks(self) -> set[str]:
        return {r["task"] for r in self.records() if r.get("done")}

    def examples(self) -> list[Example]:
        out = []
        for r in self.records():
            if r.get("done") or not r.get("text"):
                continue
            out.append(Example(r["text"], r.get("intent"), tuple(tuple(s) for s in r.get("slots", [])),
                               r.get("style", "typed"), r.get("task", "")))
        return out

    def append_task(self, task_id: str, rows: list[dict[str, Any]], dropped: int) -> None:
        """Write a finished task's rows and its marker in one append, then fsync."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"task": task_id, **row}, ensure_ascii=False, sort_keys=True) for row in rows]
        lines.append(json.dumps({"task": task_id, "done": True, "kept": len(rows), "dropped": dropped}, sort_keys=True))
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def reset(self) -> None:
        if self.path.exists():
            self.path.unlink()
