"""Phone benchmark: N simultaneous simulated calls against one `callflows serve` process.

Per-turn response latency (the caller's last speech frame sent -> the bot's first audio
frame received, measured on the Twilio side), p50/p95 at 1, 4, 8 and 16 calls; the
longest gap inside a bot utterance; the server's CPU and memory (RSS) per call.

    .venv/bin/python bench/phone_latency.py [--calls 1 4 8 16] [--out bench/results/phone.json]

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


def script(i: int) -> list[Step]:
    return [
        Step(say="i would like to book a cleaning"),
        Step(say="doctor patel please"),
        Step(say=DAYS[i % 4]),
        Step(say=TIMES[(i // 4) % 4]),
        Step(dtmf="5551234567#"),  # the dental flow asks the phone number first
        Step(say="my name is jane smith"),
        Step(say="yes"),  # the name read back
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


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_ACCOUNT_SID="AC" + "0" * 32,
               CALLFLOWS_DATABASE_URL=f"sqlite:///{workdir}/bench.db", CALLFLOWS_TTS_CACHE_DIR=str(workdir / "tts"),
               CALLFLOWS_TWILIO_API_BASE="http://127.0.0.1:9", CALLFLOWS_SILENCE_TIMEOUT_S="60")
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
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, nargs="+", default=[1, 4, 8, 16])
    ap.add_argument("--out", default=str(ROOT / "bench/results/phone.json"))
    args = ap.parse_args()
    lock = open(LOCK, "a")  # noqa: SIM115 - held for the whole run
    fcntl.flock(lock, fcntl.LOCK_EX)  # other heavy jobs (flock on the same file) wait for us
    workdir = Path(tempfile.mkdtemp(prefix="callflows-bench-"))
    proc = None
    try:
        for i in range(16):  # synthesise the caller audio before timing anything
            for step in script(i):
                if step.say:
                    caller_audio(step.say)
        proc, url = start_server(workdir)
        idle_rss = proc_stats(proc.pid)[0]
        SimulatedCall(url, auth_token=TOKEN).run([Step(say="what are your opening hours"), Step(say="no thanks")])
        rows = []
        for n in args.calls:
            subprocess.run(["sqlite3", str(workdir / "bench.db"), "DELETE FROM slot_holds; DELETE FROM appointments;"],
                           check=False, capture_output=True)
            row = run_level(url, n, proc.pid)
            rows.append(row)
            print(json.dumps(row), flush=True)
        # memory an extra call costs: peak RSS growth from the previous level, per added call
        # (the first concurrent decodes also allocate the second recogniser replica once)
        prev = None
        for row in rows:
            row["mb_per_extra_call"] = (round((row["rss_peak_mb"] - prev["rss_peak_mb"]) / (row["calls"] - prev["calls"]), 1)
                                        if prev and row["calls"] > prev["calls"] else None)
            prev = row
        out = {"idle_rss_mb": round(idle_rss, 1), "levels": rows, "machine": f"{os.cpu_count()} cores",
               "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
        print()
        print(f"{'calls':>5} {'turns':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'gap ms':>7} {'cpu %':>6} {'RSS MB':>7} {'MB/call':>7} {'failed':>6}")
        for r in rows:
            print(f"{r['calls']:>5} {r['turns']:>5} {r['p50_ms']!s:>7} {r['p95_ms']!s:>7} {r['max_ms']!s:>7} "
                  f"{r['max_outbound_gap_ms']:>7} {100 * r['cpu_share_of_2_cores']:>6.0f} {r['rss_peak_mb']:>7} "
                  f"{r['mb_per_extra_call']!s:>7} {r['failed_calls']:>6}")
        print(f"idle server RSS {idle_rss:.0f} MB; JSON: {args.out}")
    finally:
        stop_server(proc)
        lock.close()


if __name__ == "__main__":
    main()
