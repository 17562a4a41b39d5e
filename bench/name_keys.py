"""Names typed on a phone keypad, one key per letter: how often the keys alone give the name back.

callflows/nlu/keyed_names.py turns keys into spellings (known names on those keys, two names
joined, else a letter 5-gram model of names). On a phone call the first spelling is read back
letter by letter, and each "no" reads the next one, two at most (callflows/dialogue/readback.py),
so "right within 3" is what a caller who only says yes or no gets. No voice hint is used here
(the dialogue adds what was heard of the name, which only helps when the line got close).

Groups (drawn at random, seeded; the same draw as bench/name_spelling.py for the first three):
- ``census``, ``faker``: names on the lists the decoder knows;
- ``invented``: syllables joined at random (in neither list), unlike any real name;
- ``held_out``: real names of those lists taken *out* of the decoder's lists and out of its
  letter model before it is built: names "on no list" that still look like names, which is
  what most callers with a rare name are.

    .venv/bin/python bench/name_keys.py [--per-group 200] [--out bench/results/name_keys.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz  # noqa: E402

from bench.name_spelling import draw_names  # noqa: E402
from callflows.nlu.keyed_names import build_keyed_names, keys_of  # noqa: E402
from callflows.nlu.name_lexicon import REPAIR_RANK, build_name_lexicon  # noqa: E402


def held_out(per_group: int, seed: int) -> tuple[list[tuple[str, str]], object]:
    """Real names removed from a fresh lexicon, and the keyed-name decoder built without them."""
    lexicon = build_name_lexicon()
    rng = random.Random(seed + 1)
    pool = [(n, part) for part, names in (("first", lexicon.given), ("last", lexicon.surnames))
            for n, r in names.rank.items() if r <= REPAIR_RANK and n.isalpha() and len(n) >= 4]
    drawn = rng.sample(sorted(pool), per_group)
    for name, _ in drawn:
        lexicon.given.rank.pop(name, None)
        lexicon.surnames.rank.pop(name, None)
    return drawn, build_keyed_names(lexicon)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-group", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "name_keys.json")
    args = parser.parse_args()
    started = time.perf_counter()
    full = build_keyed_names()
    groups = {g: (names, full) for g, names in draw_names(args.per_group, args.seed).items()}
    groups["invented"] = groups.pop("unknown")
    held, without = held_out(args.per_group, args.seed)
    groups["held_out"] = (held, without)
    rows: list[dict[str, object]] = []
    for group, (names, decoder) in groups.items():
        for name, part in names:
            t0 = time.perf_counter()
            found = [k.spelling.replace(" ", "") for k in decoder.decode(keys_of(name), part=part)]  # type: ignore[attr-defined]
            ms = 1000 * (time.perf_counter() - t0)
            first = found[0] if found else ""
            rows.append({"group": group, "name": name, "part": part, "keys": keys_of(name), "top3": found[:3],
                         "exact1": first == name, "exact3": name in found[:3], "close1": fuzz.ratio(first, name) >= 85,
                         "ms": round(ms, 2)})
    summary: dict[str, dict[str, object]] = {}
    print(f"{'group':10s} {'names':>6s} {'right 1st':>10s} {'right within 3':>15s} {'1st ratio>=85':>14s} {'ms p50':>7s}")
    for group in [*groups, "all"]:
        sel = [r for r in rows if group == "all" or r["group"] == group]
        n = len(sel)
        ms = sorted(float(r["ms"]) for r in sel)  # type: ignore[arg-type]
        stats = {k: sum(bool(r[k]) for r in sel) / n for k in ("exact1", "exact3", "close1")}
        summary[group] = {"n": n, **{k: round(v, 3) for k, v in stats.items()}, "ms_p50": ms[n // 2]}
        print(f"{group:10s} {n:6d} {100 * stats['exact1']:9.1f}% {100 * stats['exact3']:14.1f}% "
              f"{100 * stats['close1']:13.1f}% {ms[n // 2]:7.2f}")
    misses = [r for r in rows if r["group"] == "held_out" and not r["exact3"]][:12]
    print("held out, not within 3:", ", ".join(f"{r['name']}->{r['top3'][0] if r['top3'] else '-'}" for r in misses))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": {"seed": args.seed, "per_group": args.per_group,
                                             "date": datetime.now().isoformat(timespec="seconds"),
                                             "run_s": round(time.perf_counter() - started, 1)},
                                    "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
