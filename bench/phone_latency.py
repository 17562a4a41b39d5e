"""Phone benchmark: N simultaneous simulated calls against one `callflows serve` process.

Per-turn response latency (the caller's last speech frame sent -> the bot's first audio
frame received, measured on the Twilio side), p50/p95 at 1, 4, 8 and 16 calls; the
longest gap inside a bot utterance; the server's CPU and memory (RSS) per call.

    .venv/bin/python bench/phone_latency.py [--calls 1 4 8 16] [--out bench/results/phone.json]
        [--turn-end rules classifier]

``--turn-end``: one server per end-of-turn decision (``CALLFLOWS_TURN_END``), each level run on
each in turn (rules, classifier, rules, classifier, ...), so a comparison is a same-run one and
the machine's other load falls on both alike. Each row also has p50/p95 per turn type.

Prints a table and writes JSON. Run it alone on the machine (2 cores): it creates
/tmp/callflows-bench.lock while it runs so other heavy jobs wait.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callflows.speech.caller_voice import caller_audio  # noqa: E402
from callflows.telephony.simulator import SimulatedCall, Step  # noqa: E402

TOKEN = "bench-token"
DAYS = ["next tuesday", "next wednesday", "next thursday", "next friday"]
TIMES = ["at ten thirty in the morning", "at two in the afternoon", "at three thirty in the afternoon", "at eleven in the morning"]
LOCK = Path("/tmp/callflows-bench.lock")


TURN_KINDS = ("free speech", "choice", "date", "time", "keypad", "name", "yes (read-back)", "yes/no", "no")
"""What each step of ``script`` answers, in order (the per-type columns)."""


def script(i: int) -> list[Step]:
    return [
        Step(say="i would like to book a cleaning"),
        Step(say="doctor patel please"),
        Step(say=DAYS[i % 4]),
        Step(say=TIMES[(i // 4) % 4]),
        Step(dtmf="5551234567#"),  # the dental flow asks the phone number first
        Step(say="my name is jane smith"),
        Step(dtmf="76484#"),  # asked to type the last name, one key per letter
        Step(dtmf="5263#"),  # and the first name
        Step(say="yes"),  # the name read back, spelled
        Step(say="yes please"),
        Step(say="no thanks"),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stats(pid: int) -> tuple[float, float]:
    """(RSS MB, CPU seconds) of a process and its children."""
    rss, cpu = 0.0, 0.0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) / 1024
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return rss, cpu


def start_server(workdir: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_ACCOUNT_SID="AC" + "0" * 32,
               CALLFLOWS_DATABASE_URL=f"sqlite:///{workdir}/bench.db", CALLFLOWS_TTS_CACHE_DIR=str(workdir / "tts"),
               CALLFLOWS_TWILIO_API_BASE="http://127.0.0.1:9", CALLFLOWS_SILENCE_TIMEOUT_S="60", **(extra_env or {}))
    proc = subprocess.Popen([str(ROOT / ".venv/bin/callflows"), "--log-level", "WARNING", "serve", "--port", str(port),
                             "--threads", "64"], env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=open(workdir / "server.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                time.sleep(5)  # warm-up runs in the worker after it binds
                return proc, url
        except requests.RequestException:
            time.sleep(1)
    proc.kill()
    raise RuntimeError(f"server did not start; see {workdir / 'server.log'}")


def stop_server(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_level(url: str, n: int, pid: int) -> dict:
    results: list = [None] * n
    peak_rss = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak_rss[0] = max(peak_rss[0], proc_stats(pid)[0])
            time.sleep(0.5)

    def one(i: int) -> None:
        time.sleep(i * 0.7)  # callers do not all dial in the same instant
        try:
            call = SimulatedCall(url, auth_token=TOKEN, from_number=f"+1555000{i:04d}")
            results[i] = call.run(script(i))
        except Exception as exc:  # noqa: BLE001 - report it in the table
            results[i] = exc

    rss0, cpu0 = proc_stats(pid)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.time()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    stop.set()
    rss1, cpu1 = proc_stats(pid)
    ok = [r for r in results if not isinstance(r, Exception) and r is not None]
    lat = [x for r in ok for x in r.latencies()]
    q = statistics.quantiles(lat, n=20, method="inclusive") if len(lat) >= 2 else [float("nan")] * 19
    by_kind: dict[str, list[float]] = {}
    for r in ok:
        for kind, turn in zip(TURN_KINDS, r.turns):
            if turn.latency_ms is not None:
                by_kind.setdefault(kind, []).append(turn.latency_ms)
    return {
        "calls": n,
        "failed_calls": n - len(ok),
        "turns": len(lat),
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "p95_ms": round(q[18], 1) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
        "max_outbound_gap_ms": round(max((r.max_gap_ms for r in ok), default=0.0), 1),
        "cpu_s": round(cpu1 - cpu0, 1),
        "cpu_share_of_2_cores": round((cpu1 - cpu0) / wall / 2, 3),
        "rss_start_mb": round(rss0, 1),
        "rss_peak_mb": round(peak_rss[0], 1),
        "wall_s": round(wall, 1),
        "errors": [repr(r) for r in results if isinstance(r, Exception)][:3],
        "by_turn_type": {k: quantiles(v) for k, v in by_kind.items()},
    }


def quantiles(xs: list[float]) -> dict[str, float | int | None]:
    """n, p50 and p95 (inclusive method, as the level's own figures) of some latencies."""
    if not xs:
        return {"turns": 0, "p50_ms": None, "p95_ms": None}
    p95 = statistics.quantiles(xs, n=20, method="inclusive")[18] if len(xs) >= 2 else xs[0]
    return {"turns": len(xs), "p50_ms": round(statistics.median(xs), 1), "p95_ms": round(p95, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--out", default=str(ROOT / "bench/results/phone.json"))
    ap.add_argument("--turn-end", nargs="+", default=None,
                    help="CALLFLOWS_TURN_END per server (default: the server's own default), compared in one run")
    args = ap.parse_args()
    lock = open(LOCK, "a")  # noqa: SIM115 - held for the whole run
    fcntl.flock(lock, fcntl.LOCK_EX)  # other heavy jobs (flock on the same file) wait for us
    settings = args.turn_end or ["default"]
    servers: dict[str, tuple[subprocess.Popen, str, Path]] = {}
    try:
        for i in range(16):  # synthesise the caller audio before timing anything
            for step in script(i):
                if step.say:
                    caller_audio(step.say)
        for setting in settings:
            workdir = Path(tempfile.mkdtemp(prefix="callflows-bench-"))
            env = {} if setting == "default" else {"CALLFLOWS_TURN_END": setting}
            proc, url = start_server(workdir, env)
            servers[setting] = (proc, url, workdir)
            SimulatedCall(url, auth_token=TOKEN).run([Step(say="what are your opening hours"), Step(say="no thanks")])
        idle = {k: round(proc_stats(proc.pid)[0], 1) for k, (proc, _, _) in servers.items()}
        rows: dict[str, list[dict]] = {k: [] for k in settings}
        for n in args.calls:
            for setting, (proc, url, workdir) in servers.items():
                subprocess.run(["sqlite3", str(workdir / "bench.db"), "DELETE FROM slot_holds; DELETE FROM appointments;"],
                               check=False, capture_output=True)
                row = run_level(url, n, proc.pid)
                row["turn_end"] = setting
                rows[setting].append(row)
                print(json.dumps(row), flush=True)
        # memory an extra call costs: peak RSS growth from the previous level, per added call
        # (the first concurrent decodes also allocate the second recogniser replica once)
        for levels in rows.values():
            prev = None
            for row in levels:
                row["mb_per_extra_call"] = (round((row["rss_peak_mb"] - prev["rss_peak_mb"]) / (row["calls"] - prev["calls"]), 1)
                                            if prev and row["calls"] > prev["calls"] else None)
                prev = row
        flat = [row for levels in rows.values() for row in levels]
        out = {"idle_rss_mb": idle if args.turn_end else idle["default"], "levels": flat,
               "machine": f"{os.cpu_count()} cores", "when": time.strftime("%Y-%m-%d %H:%M:%S"),
               "load_before": os.getloadavg()[0]}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
        print()
        print(f"{'turn end':>10} {'calls':>5} {'turns':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'gap ms':>7} "
              f"{'cpu %':>6} {'RSS MB':>7} {'MB/call':>7} {'failed':>6}")
        for r in flat:
            print(f"{r['turn_end']:>10} {r['calls']:>5} {r['turns']:>5} {r['p50_ms']!s:>7} {r['p95_ms']!s:>7} "
                  f"{r['max_ms']!s:>7} {r['max_outbound_gap_ms']:>7} {100 * r['cpu_share_of_2_cores']:>6.0f} "
                  f"{r['rss_peak_mb']:>7} {r['mb_per_extra_call']!s:>7} {r['failed_calls']:>6}")
        print()
        print("p50 / p95 ms per turn type: | turn end | calls | " + " | ".join(TURN_KINDS) + " |")
        for r in flat:
            cells = [f"{c['p50_ms']:.0f} / {c['p95_ms']:.0f}" if c["turns"] else "-"
                     for c in (r["by_turn_type"].get(k, quantiles([])) for k in TURN_KINDS)]
            print(f"| {r['turn_end']} | {r['calls']} | " + " | ".join(cells) + " |")
        print(f"idle server RSS {idle} MB; JSON: {args.out}")
    finally:
        for proc, _, _ in servers.values():
            stop_server(proc)
        lock.close()


if __name__ == "__main__":
    main()
