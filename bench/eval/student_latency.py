"""Latency of the verticals' built students on one core, against the TF-IDF baseline in the same run.

`callflows eval` measures its own Banking77 student; this measures what the product loads
(models/built/<vertical>/student): `rank` + `tag` per utterance, the saved model loaded back,
one thread, over the first 200 ASR-style Banking77 validation utterances (as the eval does). The
TF-IDF + logistic regression baseline, trained on the Banking77 train split, is timed on the same
utterances in the same run, so a busy machine shows in both columns.

    .venv/bin/python bench/eval/student_latency.py [VERTICAL ...]     # default: every built student
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from callflows.distill.paths import student_dir  # noqa: E402
from callflows.eval import data as D  # noqa: E402
from callflows.eval.runner import ASR_NOISE, _latency  # noqa: E402
from callflows.nlu.asr_style import AsrStyler  # noqa: E402
from callflows.nlu.classifier import TfidfIntentClassifier  # noqa: E402
from callflows.nlu.student import StudentModel  # noqa: E402


def main(verticals: list[str]) -> None:
    b_train, b_val = D.banking77_split()
    asr = AsrStyler(seed=1, **ASR_NOISE)
    texts = [asr(t) for t, _ in b_val][:200]
    base = TfidfIntentClassifier().fit([t for t, _ in b_train], [lab for _, lab in b_train])
    base.rank("hello")
    names = verticals or sorted(p.name for p in (ROOT / "verticals").iterdir() if (student_dir(p.name) / "student.pkl").is_file())
    rows = []
    for name in names:
        model = StudentModel.load(student_dir(name), threads=1)

        def turn(text: str, model: StudentModel = model) -> None:
            model.rank(text)
            model.tag(text)

        turn("hello")
        before = _latency(base.rank, texts)
        student = _latency(turn, texts)
        after = _latency(base.rank, texts)
        size = sum(p.stat().st_size for p in student_dir(name).iterdir() if p.is_file()) / 1e6
        rows.append({"vertical": name, "size_mb": round(size, 1), "student": student,
                     "baseline_before": before, "baseline_after": after,
                     "student_over_baseline_p50": round(student["p50_ms"] / ((before["p50_ms"] + after["p50_ms"]) / 2), 2)})
    print("vertical       size MB  student p50 / p95 ms  baseline p50 (before, after)  ratio p50")
    for r in rows:
        print(f"{r['vertical']:<14} {r['size_mb']:7.1f}  {r['student']['p50_ms']:7.2f} / {r['student']['p95_ms']:6.2f}        "
              f"{r['baseline_before']['p50_ms']:6.2f}, {r['baseline_after']['p50_ms']:6.2f}                {r['student_over_baseline_p50']:5.2f}")
    out = ROOT / "bench" / "eval" / "student_latency.json"
    out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M:%S"), "n": len(texts), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
