"""Long fuzzing run: the same Hypothesis properties CI runs (tests/test_fuzz_*.py), with a much
larger budget and fresh random seeds each run.

    .venv/bin/python bench/fuzz.py [--examples 5000] [--out bench/results/fuzz.json]

Prints a table (property, examples asked, outcome, seconds) and writes JSON. A failure prints
Hypothesis' minimal example; re-run it with the test id pytest shows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_fuzz_*.py"))
_RESULT = re.compile(r"^(?P<test>tests/\S+::\S+)\s+(?P<outcome>PASSED|FAILED|ERROR|SKIPPED)", re.M)


def run(examples: int, files: list[str]) -> list[dict[str, object]]:
    env = dict(os.environ, CALLFLOWS_FUZZ_EXAMPLES=str(examples), CALLFLOWS_FUZZ_RANDOM="1",
               CALLFLOWS_TEST_PG_URL=os.environ.get("CALLFLOWS_TEST_PG_URL",
                                                    "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    rows = []
    for file in files:
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", "-v", file],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        found = [(m["test"], m["outcome"]) for m in _RESULT.finditer(proc.stdout)]
        for test, outcome in found:
            rows.append({"test": test, "examples": examples, "outcome": outcome, "file_seconds": round(seconds, 1)})
        if proc.returncode not in (0, 5):
            sys.stdout.write(proc.stdout[-6000:])
        if not found:
            rows.append({"test": file, "examples": examples, "outcome": f"exit {proc.returncode}",
                         "file_seconds": round(seconds, 1)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=5000, help="examples per property")
    ap.add_argument("--files", nargs="*", default=FILES)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fuzz.json"))
    args = ap.parse_args()
    rows = run(args.examples, args.files)
    width = max(len(str(r["test"])) for r in rows)
    print(f"{'property':<{width}}  examples  outcome  file s")
    for r in rows:
        print(f"{r['test']:<{width}}  {r['examples']:>8}  {r['outcome']:<7}  {r['file_seconds']:>6}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}, indent=2))
    return 0 if all(r["outcome"] in ("PASSED", "SKIPPED") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
