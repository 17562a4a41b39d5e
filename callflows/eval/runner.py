"""The evaluation run: train every system on the train splits, score the fixed validation splits.

Systems, side by side: the distilled student (when a vertical has distilled data), the student
trained on the development train splits, the same student on seed examples only (10 a intent),
the teacher LLM zero-shot on a sample, and a plain TF-IDF + logistic regression baseline.
Every number is computed on typed text and on ASR-style text (callflows.nlu.asr_style: lower
case, no punctuation, numbers as words, light fillers and recognition errors, seeded).
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import random
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from callflows.eval import data as D
from callflows.eval.gold import NLUPP_TODAY, SGD_TODAY
from callflows.eval.report import format_table, targets, write_plot
from callflows.eval.slot_scores import nlupp_examples, nlupp_values, sgd_examples, sgd_values, span_f1
from callflows.nlu.asr_style import AsrStyler
from callflows.nlu.classifier import TfidfIntentClassifier
from callflows.nlu.student import OOS, StudentModel, calibration_holdout, paired_groups
from callflows.nlu.values import ParseContext

ASR_NOISE = {"fillers": 0.1, "errors": 0.03}
SEED_PER_INTENT = 10
TZ = ZoneInfo("America/New_York")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _memory_mb(load_code: str) -> float:
    """RSS growth of a fresh interpreter when it runs `load_code` (imports done before the baseline)."""
    import subprocess
    import sys

    code = ("import os, pickle\n"
            "import numpy, sklearn.linear_model, sklearn.feature_extraction.text, onnxruntime, tokenizers\n"
            "import callflows.nlu.student, callflows.nlu.classifier\n"
            "def rss():\n    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 1e6\n"
            "r0 = rss()\n" + load_code + "\nprint(rss() - r0)\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
        return round(float(out.stdout.strip().splitlines()[-1]), 1)
    except Exception:  # noqa: BLE001
        return float("nan")


def _limit_threads():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _latency(fn: Callable[[str], Any], texts: Sequence[str]) -> dict[str, float]:
    with _limit_threads():
        for t in texts[:5]:
            fn(t)
        times = []
        for t in texts:
            start = time.perf_counter()
            fn(t)
            times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(float(np.percentile(times, 50)), 3), "p95_ms": round(float(np.percentile(times, 95)), 3),
            "n": len(times)}


class _VectorCache:
    """Sentence embeddings and token states by text, computed once for every system."""

    def __init__(self, embedder: Any):
        self.embedder = embedder
        self.vec: dict[str, np.ndarray] = {}
        self.tok: dict[str, Any] = {}

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.vec))
        if todo:
            for t, v in zip(todo, self.embedder.encode(todo)):
                self.vec[t] = v
        return np.stack([self.vec[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def states(self, texts: Sequence[str]) -> list:
        todo = list(dict.fromkeys(t for t in texts if t not in self.tok))
        if todo:
            for t, s in zip(todo, self.embedder.encode_tokens(todo)):
                self.tok[t] = s
        return [self.tok[t] for t in texts]


def _sample(rows: list, n: int | None, seed: int) -> list:
    if n is None or n >= len(rows):
        return rows
    return random.Random(seed).sample(rows, n)


def _seed_examples(rows: list[tuple[str, str]], k: int, seed: int) -> list[tuple[str, str]]:
    by: dict[str, list] = defaultdict(list)
    for r in rows:
        by[r[1]].append(r)
    rng = random.Random(seed)
    out = []
    for lab in sorted(by):
        out += rng.sample(by[lab], min(k, len(by[lab])))
    return out


def _acc(pred: Sequence[str], gold: Sequence[str]) -> float:
    return round(float(np.mean([p == g for p, g in zip(pred, gold)])), 4) if gold else float("nan")


def _oos_metrics(pred: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    ins = [(p, g) for p, g in zip(pred, gold) if g != "oos"]
    oos = [(p, g) for p, g in zip(pred, gold) if g == "oos"]
    return {"in_scope_accuracy": round(float(np.mean([p == g for p, g in ins])), 4),
            "oos_recall": round(float(np.mean([p == OOS for p, _ in oos])), 4) if oos else float("nan"),
            "n_in_scope": len(ins), "n_oos": len(oos)}


def _distilled_data() -> tuple[list[tuple[str, str]], str]:
    """Labelled utterances a `callflows distill` run left in verticals/*/ (if any)."""
    rows: list[tuple[str, str]] = []
    found = []
    for path in sorted((D.REPO / "verticals").glob("*/distilled*.jsonl")) + sorted((D.REPO / "verticals").glob("*/data/distilled*.jsonl")):
        found.append(str(path.relative_to(D.REPO)))
        for line in path.read_text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("text") and item.get("intent"):
                rows.append((item["text"], item["intent"]))
    return rows, ", ".join(found)


# ---- teacher -------------------------------------------------------------------------------------
def _teacher_predict(llm: Any, texts: Sequence[str], intents: list[str], log: Callable[[str], None]) -> tuple[list[str], list[float]]:
    schema = {"type": "object", "properties": {"intent": {"type": "string", "enum": intents + [OOS]}},
              "required": ["intent"]}
    system = ("You label bank customers' messages with exactly one intent from this list:\n"
              + ", ".join(intents) + f"\nUse {OOS} if none fits. Answer JSON only.")
    preds, times = [], []
    for i, t in enumerate(texts):
        start = time.perf_counter()
        try:
            c = llm.complete([{"role": "system", "content": system}, {"role": "user", "content": t}],
                             max_tokens=40, temperature=0.0, json_schema=schema, timeout_s=120)
            intent = json.loads(c.text).get("intent", "")
        except Exception as exc:  # noqa: BLE001 - a failed answer counts as wrong
            intent = f"<error {type(exc).__name__}>"
        times.append((time.perf_counter() - start) * 1000)
        preds.append(intent)
        if (i + 1) % 20 == 0:
            log(f"  teacher {i + 1}/{len(texts)}  (last {times[-1] / 1000:.1f} s)")
    return preds, times


# ---- the run -------------------------------------------------------------------------------------
FT_LAYERS, FT_EPOCHS = 3, 3  # fixed before looking at validation results


def run_eval(quick: bool = False, out: str | Path | None = "bench/eval/results.json", teacher_sample: int = 200,
             teacher: bool = True, plot: bool = True, log: Callable[[str], None] = print,
             save_student: str | Path | None = None) -> dict[str, Any]:
    t0 = time.time()
    from callflows.nlu.embeddings import default_fast_embedder

    embedder = default_fast_embedder(threads=int(os.environ.get("CALLFLOWS_EVAL_THREADS", "2")))
    cache = _VectorCache(embedder)
    asr_val = lambda: AsrStyler(seed=1, **ASR_NOISE)  # noqa: E731  (fresh per data set: reproducible)
    asr_train = lambda: AsrStyler(seed=2, **ASR_NOISE)  # noqa: E731
    n = (lambda full, small: small) if quick else (lambda full, small: full)
    results: dict[str, Any] = {"date": datetime.now().isoformat(timespec="seconds"), "quick": quick,
                               "asr_style": {"seed_val": 1, "seed_train_augmentation": 2, **ASR_NOISE},
                               "systems": {}, "slots": {}, "notes": []}
    systems = results["systems"]

    # ---------------- Banking77 ----------------
    b_train, b_val = D.banking77_split()
    if quick:
        b_train = _seed_examples(b_train, 8, 0)
        b_val = _sample(b_val, 150, 0)
    b_val_asr = [asr_val()(t) for t, _ in b_val]
    b_val_txt = [t for t, _ in b_val]
    b_gold = [lab for _, lab in b_val]
    clinc = D.clinc_split()
    oos_train = [t for t, _ in clinc["oos_train"]]
    aug = asr_train()
    b_train_aug = b_train + [(aug(t), lab) for t, lab in b_train]
    b_groups = paired_groups(len(b_train))
    seed_rows = _seed_examples(b_train, SEED_PER_INTENT, 0)
    seed_aug = seed_rows + [(aug(t), lab) for t, lab in seed_rows]
    log(f"banking77: {len(b_train)} train, {len(b_val)} val; embedding ...")

    def student_on(rows: list[tuple[str, str]], oos: list[str], groups: list[int] | None = None) -> StudentModel:
        """`rows`: originals then their ASR-style copies, in the same order (unless `groups` says otherwise)."""
        texts = [t for t, _ in rows]
        from callflows.nlu.student import GENERIC_NEGATIVES

        vec = cache.vectors(texts + list(oos) + list(GENERIC_NEGATIVES))
        return StudentModel(embedder=embedder).fit(texts, [lab for _, lab in rows], oos_texts=oos, vectors=vec,
                                                   groups=paired_groups(len(rows) // 2) if groups is None else groups)

    preds: dict[str, dict[str, list[str]]] = defaultdict(dict)

    def score_intents(name: str, model: Any, batch: bool, vec_cache: Any = None) -> None:
        sysres = systems.setdefault(name, {})
        for style, texts in (("text", b_val_txt), ("asr", b_val_asr)):
            if isinstance(model, StudentModel):
                ranks = model.rank_batch(texts, top=2, vectors=(vec_cache or cache).vectors(texts))
            else:
                ranks = [model.rank(t, 2) for t in texts]
            pred = [r[0].intent for r in ranks]
            sysres.setdefault("banking77_accuracy", {})[style] = _acc(pred, b_gold)
            if isinstance(model, StudentModel):  # the same model with out-of-scope rejection switched off
                pred_in = [next(x.intent for x in r if x.intent != OOS) for r in ranks]
                sysres.setdefault("banking77_accuracy_oos_off", {})[style] = _acc(pred_in, b_gold)
                sysres.setdefault("banking77_oos_rejected", {})[style] = round(float(np.mean([p == OOS for p in pred])), 4)
            preds[name][style] = pred
        sysres["banking77_n"] = len(b_gold)

    t = time.time()
    base = TfidfIntentClassifier().fit([t_ for t_, _ in b_train], [lab for _, lab in b_train])
    systems["tfidf_lr_baseline"] = {"trained_on": f"banking77 train split ({len(b_train)})", "train_s": round(time.time() - t, 1)}
    score_intents("tfidf_lr_baseline", base, batch=False)
    log(f"  baseline done {systems['tfidf_lr_baseline']['banking77_accuracy']}")

    t = time.time()
    student = student_on(b_train_aug, oos_train)
    systems["student_dev"] = {"trained_on": f"banking77 train split ({len(b_train)}) + ASR-style copies + "
                                            f"CLINC150 oos_train + generic negatives", "train_s": round(time.time() - t, 1)}
    score_intents("student_dev", student, batch=True)
    log(f"  student done {systems['student_dev']['banking77_accuracy']}")

    from callflows.nlu import finetune

    if finetune.available() and not quick and os.environ.get("CALLFLOWS_EVAL_FINETUNE", "1") != "0":
        t = time.time()
        # the tenth that will set the out-of-scope threshold stays out of the fine-tuning, or the
        # threshold is set on examples the encoder has learnt and rejects too much
        cal = calibration_holdout([lab for _, lab in b_train_aug], b_groups)[:len(b_train)]
        ft_rows = [row for row, c in zip(b_train, cal) if not c]
        log(f"  fine-tuning the encoder's top layers on the banking77 train split "
            f"({len(ft_rows)}; {int(cal.sum())} calibration examples left out) ...")
        ft_emb = finetune.finetune_encoder([t_ for t_, _ in ft_rows], [lab for _, lab in ft_rows], layers=FT_LAYERS,
                                           epochs=FT_EPOCHS, log=log)
        ft_cache = _VectorCache(ft_emb)
        texts = [t_ for t_, _ in b_train_aug]
        from callflows.nlu.student import GENERIC_NEGATIVES

        vec = ft_cache.vectors(texts + list(oos_train) + list(GENERIC_NEGATIVES))
        ft_student = StudentModel(embedder=ft_emb).fit(texts, [lab for _, lab in b_train_aug], oos_texts=oos_train,
                                                       vectors=vec, groups=b_groups)
        systems["student_finetuned"] = {"trained_on": f"as student_dev, with the encoder's top {FT_LAYERS} layers fine-tuned "
                                                      f"({FT_EPOCHS} epochs) on the banking77 train split less "
                                                      f"the out-of-scope calibration tenth",
                                        "train_s": round(time.time() - t, 1)}
        score_intents("student_finetuned", ft_student, batch=True, vec_cache=ft_cache)
        log(f"  fine-tuned student done {systems['student_finetuned']['banking77_accuracy']}")
    else:
        results["notes"].append("student_finetuned skipped (torch not installed, quick run, or CALLFLOWS_EVAL_FINETUNE=0)")

    t = time.time()
    student_seed = student_on(seed_aug, oos_train)
    systems["student_seed"] = {"trained_on": f"{SEED_PER_INTENT} seed examples per intent ({len(seed_rows)}) + "
                                             "ASR-style copies + OOS negatives", "train_s": round(time.time() - t, 1)}
    score_intents("student_seed", student_seed, batch=True)
    log(f"  seed student done {systems['student_seed']['banking77_accuracy']}")

    distilled, where = _distilled_data()
    if distilled:
        intents_b77 = set(b_gold)
        usable = [(t_, lab) for t_, lab in distilled if lab in intents_b77]
        if usable:
            st = student_on(b_train_aug + usable, oos_train, b_groups + list(range(len(b_train), len(b_train) + len(usable))))
            systems["student_distilled"] = {"trained_on": f"dev train + {len(usable)} distilled utterances ({where})"}
            score_intents("student_distilled", st, batch=True)
        else:
            results["notes"].append(f"distilled data found ({where}) but none of it is labelled with Banking77 intents; "
                                    "the distilled student is evaluated per vertical, not here")
    else:
        results["notes"].append("no distilled data yet (no verticals/*/distilled*.jsonl): the distilled-student row is "
                                "missing; student_dev is the same model trained on the development train splits")

    # ---------------- slots: NLU++ and SGD ----------------
    np_train, np_val = D.nlupp_split()
    s_train, s_val = D.sgd_split()
    if quick:
        np_train, np_val = _sample(np_train, 200, 0), _sample(np_val, 80, 0)
        s_train, s_val = _sample(s_train, 200, 0), _sample(s_val, 100, 0)
    # one tagger per vertical-like slot set, as a vertical's student would have
    t = time.time()
    np_tag_train = [(x[0], x[1]) for x in nlupp_examples(np_train, None) + nlupp_examples(np_train, asr_train())]
    sgd_tag_train = [(x[0], x[1]) for x in sgd_examples(s_train, None) + sgd_examples(s_train, asr_train())]
    tagger = StudentModel(embedder=embedder)
    tagger.fit_tagger(np_tag_train, states=cache.states([x[0] for x in np_tag_train]))
    sgd_tagger = StudentModel(embedder=embedder)
    sgd_tagger.fit_tagger(sgd_tag_train, states=cache.states([x[0] for x in sgd_tag_train]))
    results["slots"]["tagger"] = {"trained_on": f"NLU++ tagger: folds 0-6 ({len(np_train)} utterances); SGD tagger: train "
                                                f"dialogues ({len(s_train)} turns); each also ASR-styled",
                                  "train_s": round(time.time() - t, 1)}
    log(f"slot taggers trained ({time.time() - t:.0f} s)")
    np_ctx = ParseContext(now=datetime(NLUPP_TODAY.year, NLUPP_TODAY.month, NLUPP_TODAY.day, 10, 0, tzinfo=TZ))
    sgd_ctx = ParseContext(now=datetime(SGD_TODAY.year, SGD_TODAY.month, SGD_TODAY.day, 10, 0, tzinfo=TZ))
    for style, styler in (("text", None), ("asr", asr_val())):
        ex = nlupp_examples(np_val, styler)
        texts = [x[0] for x in ex]
        pred = tagger.tag_batch(texts, states=cache.states(texts))
        results["slots"].setdefault("nlupp", {})[style] = {"span": span_f1(pred, [x[1] for x in ex], texts),
                                                           "values": nlupp_values(pred, ex, np_ctx)}
        ex = sgd_examples(s_val, asr_val() if style == "asr" else None)
        texts = [x[0] for x in ex]
        pred = sgd_tagger.tag_batch(texts, states=cache.states(texts))
        results["slots"].setdefault("sgd", {})[style] = {
            "span": span_f1([[p for p in ps if p[0] in ("appointment_date", "appointment_time")] for ps in pred],
                             [[g for g in x[1] if g[0] in ("appointment_date", "appointment_time")] for x in ex], texts),
            "values": sgd_values(pred, ex, sgd_ctx)}
    results["slots"]["nlupp"]["n_val"] = len(np_val)
    results["slots"]["sgd"]["n_val_turns"] = len(s_val)
    results["slots"]["reference_dates"] = {"nlupp": NLUPP_TODAY.isoformat(), "sgd": SGD_TODAY.isoformat() + " (Friday; see callflows/eval/gold.py)"}
    log("slots: " + json.dumps({k: results["slots"][k] for k in ("nlupp", "sgd")})[:400])

    # ---------------- CLINC150 (OOS) ----------------
    c_train, c_val = clinc["train"], clinc["val"] + clinc["oos_val"]
    c_oos_train = oos_train
    if quick:
        c_train = _seed_examples(c_train, 5, 0)
        c_val = _sample(clinc["val"], 100, 0) + _sample(clinc["oos_val"], 40, 0)
    c_gold = [lab for _, lab in c_val]
    c_txt = [t_ for t_, _ in c_val]
    c_asr = [asr_val()(t_) for t_ in c_txt]
    c_aug = c_train + [(aug(t_), lab) for t_, lab in c_train]
    log(f"clinc150: {len(c_train)} train, {len(c_val)} val")
    clinc_models = {
        "student_dev": lambda: student_on(c_aug, c_oos_train),
        "student_seed": lambda: student_on(_seed_examples(c_train, SEED_PER_INTENT, 0) +
                                           [(aug(t_), lab) for t_, lab in _seed_examples(c_train, SEED_PER_INTENT, 0)], c_oos_train),
        "tfidf_lr_baseline": lambda: TfidfIntentClassifier().fit([t_ for t_, _ in c_train] + c_oos_train,
                                                                 [lab for _, lab in c_train] + [OOS] * len(c_oos_train)),
    }
    for name, make in clinc_models.items():
        model = make()
        for style, texts in (("text", c_txt), ("asr", c_asr)):
            if isinstance(model, StudentModel):
                pred = model.predict(texts, vectors=cache.vectors(texts))
            else:
                pred = [model.rank(x, 1)[0].intent for x in texts]
            systems[name].setdefault("clinc150", {})[style] = _oos_metrics(pred, c_gold)
        del model
        gc.collect()
    systems["tfidf_lr_baseline"]["clinc150_note"] = "baseline: oos_train as an extra class, no threshold"
    log("clinc done")

    # ---------------- latency, size, memory (one core) ----------------
    lat_texts = b_val_asr[: (30 if quick else 200)]
    student.adopt_tagger(tagger)
    metrics = {"banking77_accuracy_text": systems["student_dev"]["banking77_accuracy"]["text"],
               "banking77_accuracy_asr": systems["student_dev"]["banking77_accuracy"]["asr"],
               "clinc150": systems["student_dev"]["clinc150"]["text"],
               "nlupp_slot_f1_text": results["slots"]["nlupp"]["text"]["span"]["f1"],
               "eval_quick": quick}
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(save_student) if save_student else Path(tmp) / "student"
        student.save(target, metrics=metrics, name="banking77 student (callflows eval)")
        size = sum(p.stat().st_size for p in target.iterdir() if p.is_file())
        del student
        gc.collect()
        loaded = StudentModel.load(target, threads=1)

        def student_turn(text: str):
            loaded.rank(text)
            loaded.tag(text)

        student_turn("hello")
        mem = _memory_mb(f"m = callflows.nlu.student.StudentModel.load({str(target)!r}); m.rank('hello there'); m.tag('hello there')")
        systems["student_dev"].update({"size_mb": round(size / 1e6, 1), "memory_mb": round(mem, 1),
                                       "latency": _latency(student_turn, lat_texts),
                                       "latency_intent_only": _latency(loaded.rank, lat_texts),
                                       "latency_note": "rank + tag per utterance, saved model loaded back, 1 thread"})
        systems["student_seed"].update({k: systems["student_dev"][k] for k in ("size_mb", "memory_mb", "latency")})
        systems["student_seed"]["latency_note"] = "same architecture as student_dev"
        if "student_distilled" in systems:
            systems["student_distilled"].update({k: systems["student_dev"][k] for k in ("size_mb", "memory_mb", "latency")})
        del loaded
        gc.collect()
        bpath = Path(tmp) / "baseline.pkl"
        bpath.write_bytes(pickle.dumps(base))
        del base
        gc.collect()
        base2 = pickle.loads(bpath.read_bytes())
        base2.rank("hello")
        systems["tfidf_lr_baseline"].update({"size_mb": round(bpath.stat().st_size / 1e6, 1),
                                             "memory_mb": _memory_mb(f"m = pickle.loads(open({str(bpath)!r}, 'rb').read()); m.rank('hello there')"),
                                             "latency": _latency(base2.rank, lat_texts)})
    log("latency: student %s, baseline %s" % (systems["student_dev"]["latency"], systems["tfidf_lr_baseline"]["latency"]))

    def write(final: bool) -> None:
        if not out:
            return
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        results["complete"] = final
        path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")

    results["targets"] = targets(results)
    write(False)  # the teacher is slow: keep everything else on disk in case it is interrupted

    # ---------------- teacher (zero-shot, sample) ----------------
    if teacher:
        sample_n = min(teacher_sample if not quick else 5, len(b_val))
        try:
            from callflows.llm import get_llm

            rss0 = _rss_mb()
            llm = get_llm("teacher")
            idx = random.Random(7).sample(range(len(b_val)), sample_n)
            intents = sorted(set(b_gold) | {lab for _, lab in b_train})
            res = {"trained_on": "nothing (zero-shot; constrained JSON with the intent list)",
                   "sample_n": sample_n, "model": getattr(llm, "name", "teacher"), "banking77_accuracy": {}}
            all_times = []
            for style, texts in (("text", b_val_txt), ("asr", b_val_asr)):
                pred, times = _teacher_predict(llm, [texts[i] for i in idx], intents, log)
                res["banking77_accuracy"][style] = _acc(pred, [b_gold[i] for i in idx])
                all_times += times
                # the student on the same sample, for a fair comparison
                res.setdefault("student_dev_on_same_sample", {})[style] = _acc(
                    [preds["student_dev"][style][i] for i in idx], [b_gold[i] for i in idx])
            res["memory_mb"] = round(_rss_mb() - rss0, 1)
            res["latency"] = {"p50_ms": round(float(np.percentile(all_times, 50)), 1),
                              "p95_ms": round(float(np.percentile(all_times, 95)), 1), "n": len(all_times)}
            res["latency_note"] = "llama.cpp threads as configured (CALLFLOWS_LLM_THREADS, default 2)"
            res["sample_indices_seed"] = 7
            systems["teacher_zero_shot"] = res
        except Exception as exc:  # noqa: BLE001
            systems["teacher_zero_shot"] = {"unavailable": f"{type(exc).__name__}: {exc}"[:300]}
            results["notes"].append("teacher LLM not available in this run: " + systems["teacher_zero_shot"]["unavailable"])
    results["seconds"] = round(time.time() - t0, 1)
    results["targets"] = targets(results)

    table = format_table(results)
    log(table)
    if out:
        out = Path(out)
        if plot:
            results["plot"] = str(write_plot(results, out.with_suffix(".png")))
        write(True)
        (out.with_suffix(".md")).write_text("```\n" + table + "\n```\n")
        log(f"wrote {out}")
    return results
