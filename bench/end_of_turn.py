"""End of turn at 8 kHz: today's slot rules, two turn models, and rules + model, on one set.

The set is bench/end_of_turn_set.py (complete answers of every slot type, mid-utterance pauses
of 300-1,500 ms, fillers; espeak-ng, flite and human FSDD digits over a phone line). Every
candidate decides at the same pauses, found by the product's endpointer
(bench/end_of_turn_pauses.py): a turn ended in a pause before the last one is an early cut
(the caller is cut off); at the real end, the silence waited is the decision latency, and more
than ``LATE_MS`` (or never, within the 2.5 s of trailing silence) is a late end.

Candidates:
- ``rules``: today's Endpointer: the slot's wait (350 ms yes/no, 600 ms, 1,200 ms for dates,
  times, numbers and personal data), ended at 300 ms when the partial completes the slot.
- ``rules+guards``: the same, but never early inside a digit string short of its length, nor
  after a trailing "um" (callflows/speech/turn_end.py ``TurnEndPolicy`` without a model).
- ``smart-turn``: Pipecat's Smart Turn v3.2 alone, as Pipecat runs it: asked at 200 ms of
  silence, ends at p >= 0.5, else waits 3 s.
- ``classifier``: the prosody + transcript classifier alone (asked at 300 ms, p >= 0.5, else 3 s).
- ``classifier (Whisper words)``: the same trained on the Whisper partials instead of the script's
  words (the install trains on the script: no recogniser); ``classifier (prosody only)``,
  ``classifier (words only)``: ablations, when trained.
- ``rules+smart-turn``, ``rules+classifier``: ``TurnEndPolicy`` with the model, its thresholds
  chosen on the dev voices.

Partials (Whisper) are assumed ready when a decision is made (they are decoded 120 ms into
the pause); the same for every candidate. Thresholds are tuned on dev, results are on test
(voices never used for training or tuning).

    .venv/bin/python bench/end_of_turn_pauses.py         # decode the partials once (cached)
    .venv/bin/python bench/end_of_turn_train.py --words script   # the classifier, as the install trains it
    .venv/bin/python bench/end_of_turn_train.py --words partials --out models/built/turn_end/prosody-partials.pkl
    .venv/bin/python bench/end_of_turn_train.py --words script --features prosody --out models/built/turn_end/prosody-prosody.pkl
    .venv/bin/python bench/end_of_turn_train.py --words script --features words --out models/built/turn_end/prosody-words.pkl
    flock /tmp/callflows-bench.lock .venv/bin/python bench/end_of_turn.py [--out bench/results/end_of_turn.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from end_of_turn_pauses import Partials, Pause, fill_partials, pauses, slot_complete, snapshot  # noqa: E402
from end_of_turn_set import Item, build_set  # noqa: E402

from callflows.speech.turn_end import TurnEndModel, TurnEndPolicy  # noqa: E402
from callflows.speech.turn_end_prosody import DEFAULT_PATH, ProsodyTurnModel  # noqa: E402
from callflows.speech.turn_end_smart import SmartTurnModel  # noqa: E402
from callflows.speech.vad import EndpointConfig  # noqa: E402

LATE_MS = 1000
STANDALONE_WAIT_MS = 3000
"""What a turn model used alone waits after judging a pause unfinished (Pipecat's stop_secs)."""
SMART_CHECK_MS = 200
CLASSIFIER_CHECK_MS = 300
VARIANTS = {"partials": "classifier (Whisper words)", "prosody": "classifier (prosody only)",
            "words": "classifier (words only)"}
"""Other builds of the classifier, compared when present (models/built/turn_end/prosody-<key>.pkl):
trained on the Whisper partials instead of the script's words (the install's build), and the
two ablations."""
RULES = EndpointConfig()


@dataclass(frozen=True)
class PauseRecord:
    """One pause and everything a candidate may look at there."""

    item: Item
    pause: Pause
    base_ms: int
    partial: str
    complete: bool
    p: dict[str, float | None]
    """Each model's probability that the turn is over (None: the pause ended before it was asked)."""


Decide = Callable[[PauseRecord], int]
"""A candidate: the silence (ms) after which it ends the turn in this pause."""


def records(items: list[Item], models: dict[str, TurnEndModel], timings: dict[str, list[float]]) -> list[PauseRecord]:
    partials = Partials()
    out = []
    for item in items:
        for pause in pauses(item):
            partial = partials.get(item, pause)
            t0 = time.perf_counter()
            complete = slot_complete(partial, item.expectation)
            timings.setdefault("rules", []).append(time.perf_counter() - t0)
            p: dict[str, float | None] = {}
            for name, model in models.items():
                p[name] = None
                if pause.length_ms > model.check_ms:
                    t0 = time.perf_counter()
                    p[name] = model.probability(snapshot(item, pause, model.check_ms, partial))
                    timings.setdefault(name, []).append(time.perf_counter() - t0)
            out.append(PauseRecord(item, pause, RULES.end_silence_ms(item.expectation), partial, complete, p))
    return out


def rules(r: PauseRecord) -> int:
    return min(r.base_ms, RULES.complete_answer_silence_ms) if r.complete else r.base_ms


def standalone(model: str, check_ms: int, threshold: float = 0.5) -> Decide:
    def decide(r: PauseRecord) -> int:
        p = r.p[model]
        return check_ms if p is not None and p >= threshold else STANDALONE_WAIT_MS
    return decide


def combined(policy: TurnEndPolicy, model: str | None, check_ms: int) -> Decide:
    def decide(r: PauseRecord) -> int:
        p = r.p[model] if model else None
        return policy.end_at_ms(r.base_ms, p, check_ms, r.partial, r.complete, r.item.expectation)
    return decide


@dataclass
class Outcome:
    """One item under one candidate."""

    item: Item
    early_cut: bool
    wait_ms: int | None  # silence waited at the real end (None: cut early)
    late: bool = field(default=False)


def run(recs: list[PauseRecord], decide: Decide) -> list[Outcome]:
    by_item: dict[str, list[PauseRecord]] = {}
    for r in recs:
        by_item.setdefault(r.item.id, []).append(r)
    out = []
    for group in by_item.values():
        item = group[0].item
        cut = any(not r.pause.final and decide(r) < r.pause.length_ms for r in group)
        if cut:
            out.append(Outcome(item, True, None))
            continue
        final = group[-1]
        wait = decide(final)
        never = wait >= final.pause.length_ms
        out.append(Outcome(item, False, wait, late=never or wait > LATE_MS))
    return out


def pct(n: int, d: int) -> float:
    return round(100.0 * n / d, 1) if d else 0.0


def p95(xs: list[int]) -> float:
    return float(sorted(xs)[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]) if xs else 0.0


def summary(outcomes: list[Outcome]) -> dict[str, float]:
    waits = [o.wait_ms for o in outcomes if o.wait_ms is not None]
    inner = [o for o in outcomes if len(o.item.cuts) > 1]
    digit_strings = [o for o in outcomes if o.item.expectation.digits_length or
                     o.item.expectation.slot_type == "phone_number"]
    return {
        "items": len(outcomes),
        "right_pct": pct(sum(not o.early_cut and not o.late for o in outcomes), len(outcomes)),
        "early_cuts": sum(o.early_cut for o in outcomes),
        "early_cuts_pct": pct(sum(o.early_cut for o in outcomes), len(outcomes)),
        "early_cuts_pause_set_pct": pct(sum(o.early_cut for o in inner), len(inner)),
        "early_cuts_digit_strings": sum(o.early_cut for o in digit_strings),
        "late_pct": pct(sum(o.late for o in outcomes), len(outcomes)),
        "wait_p50_ms": float(statistics.median(waits)) if waits else 0.0,
        "wait_p95_ms": p95(waits),
        "wait_mean_ms": round(statistics.fmean(waits), 1) if waits else 0.0,
    }


def grouped(outcomes: list[Outcome], key: Callable[[Item], str]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(key(o.item), []).append(o)
    return {k: summary(v) for k, v in sorted(groups.items())}


GRID = {
    "end_above": [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.01],
    "wait_below": [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5],
    "goes_on_wait_ms": [0, 900, 1200],  # 0: the model never stretches the slot's wait
    "hesitant_wait_ms": [1200, 1600, 2000],
    "short_digits_wait_ms": [1600, 1800, 2000],  # above the longest pause between groups (1,500 ms)
}


def tune(recs: list[PauseRecord], model: str, check_ms: int) -> TurnEndPolicy:
    """On dev: the policy thresholds with the fewest early cuts, then the shortest mean wait,
    among those whose wait p50 and p95 are no worse than today's rules (the bar for the product).
    Settings that tie (the same decisions on dev) are a range dev cannot tell apart: the middle
    one of them is taken (for a threshold, the widest margin on both sides)."""
    bar = summary(run(recs, rules))
    best: tuple[int, float] | None = None
    tied: list[TurnEndPolicy] = []
    for values in itertools.product(*GRID.values()):
        policy = TurnEndPolicy(**dict(zip(GRID, values)))
        s = summary(run(recs, combined(policy, model, check_ms)))
        if s["wait_p50_ms"] > bar["wait_p50_ms"] or s["wait_p95_ms"] > bar["wait_p95_ms"]:
            continue
        cost = (int(s["early_cuts"]), s["wait_mean_ms"])
        if best is None or cost < best:
            best, tied = cost, []
        if cost == best:
            tied.append(policy)
    return tied[len(tied) // 2] if tied else TurnEndPolicy()


def table(results: dict[str, dict[str, float]], ms: dict[str, float]) -> str:
    head = (f"| {'candidate':<26} | items | right | early cuts | in pauses | digit strings cut | late | "
            f"wait p50 | wait p95 | wait mean | ms/decision |")
    lines = [head, "|" + "---|" * 11]
    for name, s in results.items():
        lines.append(f"| {name:<26} | {s['items']:>5.0f} | {s['right_pct']:>4.1f}% | {s['early_cuts_pct']:>9.1f}% | "
                     f"{s['early_cuts_pause_set_pct']:>8.1f}% | {s['early_cuts_digit_strings']:>17.0f} | "
                     f"{s['late_pct']:>3.1f}% | {s['wait_p50_ms']:>8.0f} | {s['wait_p95_ms']:>8.0f} | {s['wait_mean_ms']:>9.0f} | "
                     f"{ms.get(name, 0.0):>11.2f} |")
    return "\n".join(lines)


def breakdown(per: dict[str, dict[str, dict[str, float]]], label: str) -> str:
    names = list(per)
    keys = sorted({k for v in per.values() for k in v})
    lines = [f"| {label} | " + " | ".join(f"{n}: cut / p50 / p95" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for k in keys:
        cells = []
        for n in names:
            s = per[n].get(k)
            cells.append(f"{s['early_cuts_pct']:.0f}% / {s['wait_p50_ms']:.0f} / {s['wait_p95_ms']:.0f}" if s else "")
        n_items = next(per[n][k]["items"] for n in names if k in per[n])
        lines.append(f"| {k} ({n_items:.0f}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench/results/end_of_turn.json"))
    args = ap.parse_args()
    items = build_set(("dev", "test"))
    if fill_partials(items, budget_s=480):
        raise SystemExit("partial transcripts still to decode: run again")
    load = os.getloadavg()[0]
    models: dict[str, TurnEndModel] = {
        "smart-turn": SmartTurnModel(threads=1, check_ms=SMART_CHECK_MS),
        "classifier": ProsodyTurnModel(check_ms=CLASSIFIER_CHECK_MS),
    }
    for key, label in VARIANTS.items():  # bench/end_of_turn_train.py [--features <x>] [--words partials] --out <path>
        path = DEFAULT_PATH.with_name(f"prosody-{key}.pkl")
        if path.exists():
            models[label] = ProsodyTurnModel(path, check_ms=CLASSIFIER_CHECK_MS)
    timings: dict[str, list[float]] = {}
    dev = records([i for i in items if i.split == "dev"], models, timings)
    test = records([i for i in items if i.split == "test"], models, timings)
    tuned = {m: tune(dev, m, models[m].check_ms) for m in ("smart-turn", "classifier", VARIANTS["partials"])
             if m in models}
    candidates: dict[str, Decide] = {"rules": rules, "rules+guards": combined(TurnEndPolicy(), None, 0)}
    model_of = {"rules": "rules", "rules+guards": "rules"}
    for name, model in models.items():
        candidates[name], model_of[name] = standalone(name, model.check_ms), name
    for name, policy in tuned.items():
        candidates[f"rules+{name}"], model_of[f"rules+{name}"] = combined(policy, name, models[name].check_ms), name
    ms = {name: round(1000 * statistics.median(timings[m]), 2) for name, m in model_of.items()}
    outcomes = {name: run(test, decide) for name, decide in candidates.items()}
    results = {name: summary(o) for name, o in outcomes.items()}
    by_slot = {name: grouped(o, lambda i: i.slot_type) for name, o in outcomes.items()}
    by_family = {name: grouped(o, lambda i: i.family) for name, o in outcomes.items()}
    by_kind = {name: grouped(o, lambda i: i.kind) for name, o in outcomes.items()}
    print(table(results, ms))
    print()
    print(breakdown(by_slot, "slot type"))
    print()
    print(breakdown(by_family, "voice family"))
    print()
    print(breakdown(by_kind, "kind"))
    out = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": f"{os.cpu_count()} cores", "load_before": load,
        "split": {"dev_items": len({r.item.id for r in dev}), "test_items": len({r.item.id for r in test}),
                  "test_voices": sorted({r.item.voice for r in test})},
        "tuned_on_dev": {k: vars(v) for k, v in tuned.items()},
        "ms_per_decision_1_thread": ms, "summary": results, "by_slot_type": by_slot, "by_family": by_family,
        "by_kind": by_kind,
        "misses": {name: [{"voice": o.item.voice, "text": o.item.text, "early_cut": o.early_cut, "wait_ms": o.wait_ms}
                          for o in outs if o.early_cut or o.late] for name, outs in outcomes.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"\ntuned on dev: {out['tuned_on_dev']}\nJSON: {args.out}")


if __name__ == "__main__":
    main()
