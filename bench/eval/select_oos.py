"""Model selection for the student's out-of-scope threshold, on training data only.

The student rejects an utterance as out of scope when its top in-scope probability falls below a
threshold set so that a share `oos_false_reject` of held-out in-scope examples would be rejected.
Too high a share throws away right answers (Banking77 has no out-of-scope questions); too low lets
off-topic questions through (CLINC150 out-of-scope recall). This picks the share on carve-outs of
the *training* splits, never on the validation splits `callflows eval` reports:

- Banking77: 15 % of each intent of the train split held out; in-scope accuracy with rejection on.
- CLINC150: 15 % of each intent of `train` held out, and half of `oos_train` held out as unseen
  off-topic questions (the other half are the student's negatives); in-scope accuracy and OOS recall.

Rule (fixed before running): the largest Banking77 carve-out accuracy among the shares whose CLINC150
carve-out OOS recall is at least 0.85 and in-scope accuracy at least 0.90 (a margin over the 0.80 /
0.90 targets). Frozen encoder (the fine-tuned one costs 20 minutes a run); the share carries over.

    .venv/bin/python bench/eval/select_oos.py          # ~10 min on 2 cores; prints a table, writes JSON
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from callflows.eval import data as D  # noqa: E402
from callflows.eval.runner import ASR_NOISE, _VectorCache  # noqa: E402
from callflows.nlu.asr_style import AsrStyler  # noqa: E402
from callflows.nlu.student import GENERIC_NEGATIVES, OOS, StudentModel, paired_groups  # noqa: E402

SHARES = (0.005, 0.01, 0.02, 0.03, 0.05)
MIN_OOS_RECALL, MIN_IN_SCOPE = 0.85, 0.90


def carve(rows: list[tuple[str, str]], share: float, seed: int) -> tuple[list, list]:
    by: dict[str, list[int]] = defaultdict(list)
    for i, (_, lab) in enumerate(rows):
        by[lab].append(i)
    rng = random.Random(seed)
    held: set[int] = set()
    for idx in by.values():
        held.update(rng.sample(idx, max(1, int(len(idx) * share))))
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def main() -> None:
    from callflows.nlu.embeddings import default_fast_embedder

    t0 = time.time()
    cache = _VectorCache(default_fast_embedder(threads=2))
    aug = AsrStyler(seed=2, **ASR_NOISE)
    b_train, _ = D.banking77_split()
    b_fit, b_dev = carve(b_train, 0.15, seed=7)
    clinc = D.clinc_split()
    c_fit, c_dev = carve(clinc["train"], 0.15, seed=7)
    oos = [t for t, _ in clinc["oos_train"]]
    random.Random(7).shuffle(oos)
    oos_neg, oos_dev = oos[: len(oos) // 2], oos[len(oos) // 2:]

    def fit(rows: list[tuple[str, str]], negatives: list[str], share: float) -> StudentModel:
        rows = rows + [(aug(t), lab) for t, lab in rows]
        texts = [t for t, _ in rows]
        vec = cache.vectors(texts + negatives + list(GENERIC_NEGATIVES))
        return StudentModel(embedder=cache.embedder, oos_false_reject=share).fit(
            texts, [lab for _, lab in rows], oos_texts=negatives, vectors=vec, groups=paired_groups(len(rows) // 2))

    table = []
    b_oos_neg = [t for t, _ in clinc["oos_train"]]  # as in callflows eval: all of oos_train for Banking77
    for share in SHARES:
        b = fit(b_fit, b_oos_neg, share)
        texts = [t for t, _ in b_dev]
        pred = b.predict(texts, vectors=cache.vectors(texts))
        b_acc = float(np.mean([p == g for p, (_, g) in zip(pred, b_dev)]))
        b_rej = float(np.mean([p == OOS for p in pred]))
        c = fit(c_fit, oos_neg, share)
        texts = [t for t, _ in c_dev]
        pred = c.predict(texts, vectors=cache.vectors(texts))
        c_in = float(np.mean([p == g for p, (_, g) in zip(pred, c_dev)]))
        pred = c.predict(oos_dev, vectors=cache.vectors(oos_dev))
        c_oos = float(np.mean([p == OOS for p in pred]))
        row = {"oos_false_reject": share, "b77_dev_accuracy": round(b_acc, 4), "b77_dev_rejected": round(b_rej, 4),
               "clinc_dev_in_scope": round(c_in, 4), "clinc_dev_oos_recall": round(c_oos, 4)}
        table.append(row)
        print(f"  {row}  ({time.time() - t0:.0f} s)", flush=True)
    ok = [r for r in table if r["clinc_dev_oos_recall"] >= MIN_OOS_RECALL and r["clinc_dev_in_scope"] >= MIN_IN_SCOPE]
    chosen = max(ok, key=lambda r: (r["b77_dev_accuracy"], r["oos_false_reject"])) if ok else None
    print()
    print("share   B77 dev acc  B77 rejected  CLINC dev in-scope  CLINC dev OOS recall")
    for r in table:
        mark = "  <- chosen" if r is chosen else ""
        print(f"{r['oos_false_reject']:<7} {r['b77_dev_accuracy'] * 100:11.1f}  {r['b77_dev_rejected'] * 100:12.1f}  "
              f"{r['clinc_dev_in_scope'] * 100:18.1f}  {r['clinc_dev_oos_recall'] * 100:20.1f}{mark}")
    out = ROOT / "bench" / "eval" / "select_oos.json"
    out.write_text(json.dumps({"rule": f"max B77 dev accuracy with CLINC dev OOS recall >= {MIN_OOS_RECALL} and "
                                       f"in-scope >= {MIN_IN_SCOPE}", "n_b77_dev": len(b_dev), "n_clinc_dev": len(c_dev),
                               "n_clinc_oos_dev": len(oos_dev), "table": table,
                               "chosen": chosen and chosen["oos_false_reject"],
                               "elapsed_s": round(time.time() - t0)}, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
