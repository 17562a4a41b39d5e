"""Several `callflows serve` replicas behind HAProxy, one drained and one killed mid-run (issue 18, item 2).

Real processes only: R replicas (default 3) of `callflows serve` (gunicorn + the draining worker,
Whisper, Piper, the verticals' students) on one fresh PostgreSQL database, HAProxy from the
distribution (bench/haproxy_run.py: leastconn, `/readyz` checked every second) in front of them as
the public URL Twilio would call, and the escalation LLM as its own server (llama_cpp.server on
the 1.5B GGUF, as bench/load_test.py --llm-server and the compose `llm` service run it). The callers
are bench/load_test.py's (SimulatedCall: the signed webhook, then the Media Stream in real time,
espeak-ng speech, keypad keys), every webhook and WebSocket through the proxy.

Timeline (seconds after the first caller dials; options below):

* 0 .. --switch-at: only r1 is in the proxy (r2.. in HAProxy's maintenance state): the same-run
  baseline, N callers on one replica behind the proxy;
* --switch-at: all replicas in; the callers' next calls spread over them;
* --sigterm-at: SIGTERM to r1's master (what Kubernetes sends): it drains (503 on /readyz, HAProxy
  takes it out, its calls in progress finish, it exits by itself);
* --sigkill-at: SIGKILL to r2's whole process group (a lost pod): its calls die with it. A caller
  whose line goes dead mid-call calls back at once (same number, same request), through the
  proxy, and is answered by a live replica; the sweeper of the live replica (heartbeat every 2 s,
  stale after 10 s, sweep every 5 s here; 10/60/60 s by default) marks the lost calls failed;
* --minutes: callers stop dialling; calls in progress finish;
* then --llm-minutes with --llm-callers callers whose calls go to the escalation LLM (a frustrated
  bank caller): escalated calls per minute, and per core-minute of the LLM server's own CPU time.

Reported: per minute (turns, p50/p95/p99 of turn latency, calls dialled per replica, replicas up in
HAProxy, RSS per replica), per phase against the 1-replica baseline, calls per replica and their
outcomes, the drained replica's calls (every one completed, none cut), the killed replica's calls
(each marked failed/replica_lost by the sweeper, when, and its caller's call back), memory per
replica, phone CPU per call, LLM throughput. Printed as tables, written to bench/results/replicas.json.
Takes /tmp/callflows-bench.lock (fcntl) for the whole run, like the other benchmarks (do not wrap
it in `flock` on the same file: that deadlocks).

    .venv/bin/python bench/replicas.py [--replicas 3] [--callers 8] [--minutes 6] [--switch-at 90]
        [--sigterm-at 180] [--sigkill-at 270] [--llm-minutes 2] [--llm-callers 2]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--out bench/results/replicas.json]

No caller data is printed or logged by this script: calls are named by their CallSid (random) and
the caller's index; the replicas log at INFO as in production (call ids, no numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.haproxy_run import HAProxyRun  # noqa: E402
from bench.load_test import (  # noqa: E402
    BANK_NUMBER, LLM_ALIAS, TOKEN, TTS_CACHE, CallRun, Database, call_plan, cpu_s, free_port, pct, place_call,
    prepare_store, rss_mb, start_llm_server, stop, take_bench_lock, workers_of)
from callflows.speech.caller_voice import caller_audio  # noqa: E402
from callflows.telephony.simulator import Step  # noqa: E402

SAMPLE_S = 1.0  # HAProxy's view of the replicas
RSS_EVERY_S = 10.0
FAST_SWEEP = {"CALLFLOWS_REPLICA_HEARTBEAT_S": "2", "CALLFLOWS_REPLICA_STALE_S": "10", "CALLFLOWS_SWEEP_INTERVAL_S": "5"}
# a frustrated bank caller: the "frustrated" rule of verticals/retail_bank/escalation.yaml sends the
# call to the LLM at the first line; the second line is answered by the LLM too
LLM_LINES = [("this is ridiculous, my card keeps getting declined", "it happened at the grocery store"),
             ("i'm fed up, my card was declined again today", "it was at the gas station this morning"),
             ("this is useless, my card keeps getting declined", "it happened online yesterday")]


def llm_plan(caller: int, k: int) -> tuple[str, str, list[Step]]:
    first, second = LLM_LINES[(caller + k) % len(LLM_LINES)]
    return "retail_bank", BANK_NUMBER, [Step(say=first), Step(say=second), Step(say="no thanks that's all")]


# --------------------------------------------------------------------------- replicas


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    replica_id: str | None = None
    events: dict[str, float] = field(default_factory=dict)  # what happened to it, s after t0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self, path: str = "/healthz") -> requests.Response:
        return requests.get(self.base + path, timeout=2)

    def pids(self) -> list[int]:
        return [self.proc.pid, *workers_of(self.proc.pid)] if self.proc.poll() is None else []


def start_replica(name: str, workdir: Path, db_url: str, public_url: str, threads: int, grace_s: float,
                  llm_url: str | None, extra: dict[str, str] | None = None) -> Replica:
    """`callflows serve` as load_test.start_server runs it, in its own session (SIGKILL of the
    group = a lost pod), with the proxy as its public URL."""
    port = free_port()
    extra = extra or {}
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_ACCOUNT_SID="AC" + "0" * 32, CALLFLOWS_DATABASE_URL=db_url,
               CALLFLOWS_TTS_CACHE_DIR=TTS_CACHE, CALLFLOWS_TWILIO_API_BASE="http://127.0.0.1:9",
               CALLFLOWS_SILENCE_TIMEOUT_S="60", CALLFLOWS_PUBLIC_URL=public_url, CALLFLOWS_MAX_CONN_PER_IP="0",
               CALLFLOWS_DRAIN_GRACE_S=str(grace_s), **FAST_SWEEP, **extra)
    if llm_url:
        env.update(CALLFLOWS_LLM_ESCALATION_URL=llm_url, CALLFLOWS_LLM_ESCALATION_MODEL=LLM_ALIAS)
    log = workdir / f"{name}.log"
    proc = subprocess.Popen([str(ROOT / ".venv/bin/callflows"), "--log-level", "INFO", "serve", "--port", str(port),
                             "--threads", str(threads)], env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"), start_new_session=True)
    return Replica(name, proc, port, log)


def wait_ready(replica: Replica, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            r = replica.health("/readyz")
            if r.status_code == 200:
                replica.replica_id = r.json().get("replica")
                return
        except requests.RequestException:
            pass
        if replica.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{replica.name} did not become ready; see {replica.log}")
        time.sleep(0.5)


def kill_group(replica: Replica) -> None:
    try:
        os.killpg(replica.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    replica.proc.wait(timeout=30)


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    t0: float
    runs: list[CallRun] = field(default_factory=list)
    callbacks: dict[str, str] = field(default_factory=dict)  # call back's sid -> the cut call's sid
    proxy_samples: list[tuple[float, dict[str, tuple[str, int, int]]]] = field(default_factory=list)
    rss: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    cpu: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    kill: dict[str, Any] = field(default_factory=dict)
    drain: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.time() - self.t0


def was_cut(run: CallRun) -> bool:
    """The line went dead before the caller's script was over (or the call never connected)."""
    return run.error is not None or run.turns_played < run.steps


def open_calls_of(db_url: str, replica_id: str) -> list[tuple[str, str]]:
    """(call id, CallSid) of the calls the replica holds that have not ended."""
    from sqlalchemy import select

    from callflows.store import Store
    from callflows.store.models import Call
    from callflows.store.replicas import ReplicaCall

    store = Store(db_url)
    try:
        with store.session() as s:
            return [(cid, sid) for cid, sid in s.execute(
                select(Call.id, Call.twilio_call_sid).join(ReplicaCall, ReplicaCall.call_id == Call.id)
                .where(ReplicaCall.replica_id == replica_id, Call.ended_at.is_(None)))]
    finally:
        store.dispose()


def call_states(db_url: str, call_ids: list[str]) -> dict[str, tuple[str, str | None, bool]]:
    from sqlalchemy import select

    from callflows.store import Store
    from callflows.store.models import Call

    store = Store(db_url)
    try:
        with store.session() as s:
            return {cid: (status, outcome, ended is not None) for cid, status, outcome, ended in s.execute(
                select(Call.id, Call.status, Call.outcome, Call.ended_at).where(Call.id.in_(call_ids)))}
    finally:
        store.dispose()


def run_phase(proxy: HAProxyRun, replicas: list[Replica], db_url: str, args: argparse.Namespace,
              llm_pid: int | None) -> Run:
    run = Run(t0=time.time())
    stop_at = run.t0 + args.minutes * 60
    done = threading.Event()

    def monitor() -> None:
        last_rss = -RSS_EVERY_S
        while not done.is_set():
            t = run.now()
            try:
                stats = proxy.stats()
                run.proxy_samples.append((round(t, 2), {n: (s.status, s.current, s.total) for n, s in stats.items()}))
            except OSError:
                pass
            if t - last_rss >= RSS_EVERY_S:
                last_rss = t
                run.rss.append((round(t, 1), {r.name: round(sum(rss_mb(p) for p in r.pids()), 1) for r in replicas}))
                cpu = {r.name: cpu_s(r.pids()) for r in replicas}
                if llm_pid:
                    cpu["llm"] = cpu_s([llm_pid])
                if proxy.proc is not None:
                    cpu["haproxy"] = cpu_s([proxy.proc.pid])
                run.cpu.append((round(t, 1), cpu))
            done.wait(SAMPLE_S)

    def caller(i: int) -> None:
        time.sleep(i * 0.7)
        k = 0
        cut_sid: str | None = None
        while time.time() < stop_at or cut_sid:
            call = place_call(proxy.url, args.vertical, i, k, run.t0)
            with run.lock:
                run.runs.append(call)
                if cut_sid:
                    run.callbacks[call.call_sid] = cut_sid
            if was_cut(call) and not cut_sid:
                cut_sid = call.call_sid  # the line went dead: call back at once, same number, same request
                if not call.connected:
                    time.sleep(1.0)
                continue
            cut_sid = None
            k += 1

    def events() -> None:
        r1, r2 = replicas[0], replicas[1] if len(replicas) > 1 else None
        # the baseline: r2.. are in maintenance in the proxy until --switch-at
        wait_until(run.t0 + args.switch_at, done)
        for r in replicas[1:]:
            proxy.set_state(r.name, "ready")
        for r in replicas:
            r.events.setdefault("in_proxy_s", round(run.now(), 2))
        if done.is_set():
            return
        wait_until(run.t0 + args.sigterm_at, done)
        if done.is_set():
            return
        in_progress = r1.health().json().get("calls_in_progress")
        r1.proc.send_signal(signal.SIGTERM)
        sent = run.now()
        r1.events["sigterm_s"] = round(sent, 2)
        run.drain.update(sigterm_s=round(sent, 2), calls_in_progress_at_sigterm=in_progress)
        threading.Thread(target=watch_drain, args=(r1, sent), daemon=True).start()
        if r2 is None:
            return
        wait_until(run.t0 + args.sigkill_at, done)
        if done.is_set():
            return
        open_before = open_calls_of(db_url, r2.replica_id or "")
        kill_group(r2)
        killed = run.now()
        r2.events["sigkill_s"] = round(killed, 2)
        run.kill.update(sigkill_s=round(killed, 2), open_calls=[sid for _, sid in open_before])
        # the sweeper of a live replica marks them failed: when
        ids = [cid for cid, _ in open_before]
        swept: dict[str, float] = {}
        deadline = time.time() + 120
        while ids and len(swept) < len(ids) and time.time() < deadline:
            for cid, (_status, _outcome, ended) in call_states(db_url, ids).items():
                if ended and cid not in swept:
                    swept[cid] = round(run.now() - killed, 2)
            time.sleep(0.5)
        run.kill["swept_after_s"] = {sid: swept.get(cid) for cid, sid in open_before}

    def watch_drain(r1: Replica, sent: float) -> None:
        unready = down = None
        while r1.proc.poll() is None:
            t = run.now()
            if unready is None:
                try:
                    if r1.health("/readyz").status_code == 503:
                        unready = round(t - sent, 3)
                except requests.RequestException:
                    pass
            if down is None:
                try:
                    if proxy.stats()[r1.name].status != "UP":
                        down = round(run.now() - sent, 3)
                except (OSError, KeyError):
                    pass
            time.sleep(0.05)
        run.drain.update(unready_after_s=unready, proxy_down_after_s=down, exited_after_s=round(run.now() - sent, 1),
                         exit_code=r1.proc.returncode)

    threads = [threading.Thread(target=monitor, daemon=True), threading.Thread(target=events, daemon=True)]
    callers = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(args.callers)]
    for t in threads + callers:
        t.start()
    last = 0.0
    while any(t.is_alive() for t in callers):
        time.sleep(1)
        if run.now() - last >= 30:
            last = run.now()
            ups = {n: s[0] for n, s in (run.proxy_samples[-1][1].items() if run.proxy_samples else [])}
            print(f"  {last:5.0f} s: {len(run.runs)} calls, {len(run.callbacks)} call backs; proxy {ups}", flush=True)
    threads[1].join(timeout=150)  # the sweep watch after the kill
    done.set()
    threads[0].join(timeout=RSS_EVERY_S + 2)
    run.rss.append((round(run.now(), 1), {r.name: round(sum(rss_mb(p) for p in r.pids()), 1) for r in replicas}))
    return run


def wait_until(when: float, done: threading.Event) -> None:
    while time.time() < when and not done.is_set():
        done.wait(min(0.2, max(0.0, when - time.time())))


def warm_llm(url: str) -> None:
    """One request before the run: the server maps the GGUF lazily, so its first answer pays for
    reading the weights (20 s here); a deployed LLM server has long paid it."""
    from callflows.llm import OpenAICompatLLM

    t = time.time()
    OpenAICompatLLM(url, LLM_ALIAS, timeout_s=180).complete([{"role": "user", "content": "Say hello."}], max_tokens=8)
    print(f"LLM server warmed in {time.time() - t:.1f} s", flush=True)


def llm_phase(proxy: HAProxyRun, args: argparse.Namespace, llm_pid: int, replicas: list[Replica]) -> dict[str, Any]:
    """--llm-callers frustrated bank callers for --llm-minutes; the LLM server's CPU time meanwhile."""
    t0 = time.time()
    stop_at = t0 + args.llm_minutes * 60
    runs: list[CallRun] = []
    lock = threading.Lock()
    cpu0 = cpu_s([llm_pid])
    phone0 = cpu_s([p for r in replicas for p in r.pids()])

    def caller(i: int) -> None:
        time.sleep(i * 2.0)
        k = 0
        while time.time() < stop_at:
            call = place_call(proxy.url, "retail_bank", 100 + i, k, t0, plan=llm_plan(i, k),
                              turn_timeout=max(30.0, (args.escalation_timeout or 30.0) + 15))
            with lock:
                runs.append(call)
            k += 1

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(args.llm_callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    return {"runs": runs, "wall_s": wall, "llm_cpu_s": cpu_s([llm_pid]) - cpu0,
            "phone_cpu_s": cpu_s([p for r in replicas for p in r.pids()]) - phone0, "t0": t0}


# --------------------------------------------------------------------------- analysis


def store_calls(db_url: str) -> dict[str, dict[str, Any]]:
    """CallSid -> its record: status, outcome, replica, times, LLM route and seconds."""
    from sqlalchemy import func, select

    from callflows.store import Store
    from callflows.store.models import Call, EscalationDecision
    from callflows.store.replicas import ReplicaCall

    store = Store(db_url)
    out: dict[str, dict[str, Any]] = {}
    try:
        with store.session() as s:
            llm = {cid: (n, secs, toks) for cid, n, secs, toks in s.execute(
                select(EscalationDecision.call_id, func.count(), func.sum(EscalationDecision.llm_seconds),
                       func.sum(EscalationDecision.llm_tokens))
                .where((EscalationDecision.route == "llm") | EscalationDecision.llm_seconds.is_not(None))
                .group_by(EscalationDecision.call_id))}
            q = select(Call, ReplicaCall.replica_id).outerjoin(ReplicaCall, ReplicaCall.call_id == Call.id)
            for call, replica_id in s.execute(q):
                n, secs, toks = llm.get(call.id, (0, None, None))
                out[call.twilio_call_sid or call.id] = {
                    "id": call.id, "status": call.status, "outcome": call.outcome, "replica_id": replica_id,
                    "started_at": call.started_at.timestamp() if call.started_at else None,
                    "ended": call.ended_at is not None, "summary_replica": (call.summary or {}).get("replica")
                    if isinstance(call.summary, dict) else None,
                    "llm_decisions": n, "llm_seconds": secs, "llm_tokens": toks}
    finally:
        store.dispose()
    return out


def phase_of(t: float, args: argparse.Namespace, replicas: int) -> str:
    if t < args.switch_at:
        return "1 replica (baseline)"
    if t < args.sigterm_at:
        return f"{replicas} replicas"
    if t < args.sigkill_at or replicas < 3:
        return f"{replicas - 1} replicas (r1 draining)"
    return f"{replicas - 2} replica (r2 killed)"


def summarise(run: Run, calls: dict[str, dict[str, Any]], replicas: list[Replica], args: argparse.Namespace) -> dict[str, Any]:
    names = {r.replica_id: r.name for r in replicas}
    for c in calls.values():
        c["replica"] = names.get(c["replica_id"])
    # per minute
    n_min = int(args.minutes + 0.999)
    rows = []
    for m in range(n_min + 1):
        lo, hi = m * 60, (m + 1) * 60
        last = m == n_min
        in_row = (lambda t: t >= lo) if last else (lambda t: lo <= t < hi)  # noqa: E731
        lat = [ms for r in run.runs for when, ms in r.turn_times if in_row(when)]
        dialled = Counter(calls.get(r.call_sid, {}).get("replica") or "-" for r in run.runs if in_row(r.started))
        ups = [s for t, s in run.proxy_samples if in_row(t)]
        up = sorted(n for n, st in ups[-1].items() if st[0] == "UP") if ups else []
        rss = [s for t, s in run.rss if in_row(t)]
        if last and not lat:
            continue
        rows.append({"minute": "drain" if last else m + 1, "turns": len(lat), "p50_ms": pct(lat, 50),
                     "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99),
                     "calls_ended": sum(1 for r in run.runs if in_row(r.ended)),
                     "calls_dialled_per_replica": dict(sorted(dialled.items())), "up_in_proxy_at_end": up,
                     "rss_mb_per_replica": {r.name: round(statistics.fmean(x[r.name] for x in rss), 1)
                                            for r in replicas if any(x.get(r.name) for x in rss)} if rss else {}})
    # per phase (by when a call was dialled), against the baseline
    phases: dict[str, list[float]] = {}
    for r in run.runs:
        phases.setdefault(phase_of(r.started, args, len(replicas)), []).extend(ms for _, ms in r.turn_times)
    base = phases.get("1 replica (baseline)", [])
    phase_rows = []
    for name, lat in phases.items():
        row = {"phase": name, "turns": len(lat), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99)}
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            b = pct(base, int(q[1:3]))
            row[f"{q[:3]}_vs_baseline"] = round(row[q] / b, 2) if b and row[q] else None
        phase_rows.append(row)
    # calls per replica
    per_replica: dict[str, dict[str, Any]] = {}
    sim_by_sid = {r.call_sid: r for r in run.runs}
    for sid, c in calls.items():
        if sid not in sim_by_sid:
            continue
        rep = per_replica.setdefault(c["replica"] or "(no stream)", {"calls": 0, "completed": 0, "failed": 0,
                                                                    "open": 0, "outcomes": Counter()})
        rep["calls"] += 1
        rep["completed"] += c["status"] == "completed" and c["ended"]
        rep["failed"] += c["status"] == "failed"
        rep["open"] += not c["ended"]
        rep["outcomes"][c["outcome"] or "(none)"] += 1
    for rep in per_replica.values():
        rep["outcomes"] = dict(rep["outcomes"].most_common())
    # the drained replica: every call it held, and which were in progress at SIGTERM
    r1 = replicas[0]
    term = run.drain.get("sigterm_s")
    held = [(sid, c) for sid, c in calls.items() if c["replica"] == r1.name and sid in sim_by_sid]
    during = [(sid, c) for sid, c in held if term is not None and sim_by_sid[sid].started < term < sim_by_sid[sid].ended]
    after = [(sid, c) for sid, c in held if term is not None and sim_by_sid[sid].started >= term]
    drained = dict(run.drain)
    drained.update(
        calls_held=len(held), calls_in_progress_at_sigterm_seen=len(during),
        in_progress_completed=sum(1 for _, c in during if c["status"] == "completed" and c["ended"]),
        in_progress_cut=sum(1 for sid, _ in during if was_cut(sim_by_sid[sid])),
        in_progress_outcomes=dict(Counter(c["outcome"] for _, c in during)),
        in_progress_turns_after_sigterm=sum(1 for sid, _ in during for when, _ in sim_by_sid[sid].turn_times if when > term),
        any_call_cut=sum(1 for sid, _ in held if was_cut(sim_by_sid[sid])),
        dialled_after_sigterm=len(after),
        redirects_followed=sum(r.redirects for r in run.runs),
        wrapped_up=sum(1 for _, c in held if (c["outcome"] or "").startswith("drained")))
    # the killed replica: its open calls, their records, their callers' call backs
    lost = []
    if run.kill:
        back_of = {v: k for k, v in run.callbacks.items()}
        for sid in run.kill.get("open_calls", []):
            c = calls.get(sid, {})
            sim = sim_by_sid.get(sid)
            entry: dict[str, Any] = {
                "call_sid": sid, "caller": sim.caller if sim else None, "vertical": sim.vertical if sim else None,
                "turns_played": f"{sim.turns_played}/{sim.steps}" if sim else None,
                "status": c.get("status"), "outcome": c.get("outcome"),
                "swept_after_kill_s": run.kill.get("swept_after_s", {}).get(sid),
                "summary_names_replica": c.get("summary_replica") == replicas[1].replica_id}
            back = sim_by_sid.get(back_of.get(sid, ""))
            if back is not None:
                bc = calls.get(back.call_sid, {})
                entry["call_back"] = {
                    "call_sid": back.call_sid, "dialled_after_cut_s": round(back.started - sim.ended, 2) if sim else None,
                    "greeting_after_ms": round(back.greeting_after_s * 1000) if back.greeting_after_s else None,
                    "first_reply_ms": round(back.turn_times[0][1]) if back.turn_times else None,
                    "served_by": bc.get("replica"), "status": bc.get("status"), "outcome": bc.get("outcome"),
                    "completed_script": not was_cut(back),
                    "lost_call_still_open_when_dialled": (run.kill.get("swept_after_s", {}).get(sid) or 1e9)
                    > back.started - run.kill["sigkill_s"]}
            lost.append(entry)
    # memory and CPU
    idle = run.rss[0][1] if run.rss else {}
    mem = {r.name: {"idle_mb": idle.get(r.name), "max_mb": max((x.get(r.name, 0) for _, x in run.rss), default=None)}
           for r in replicas}
    cpu = phone_cpu(run, replicas, args)
    all_lat = [ms for r in run.runs for _, ms in r.turn_times]
    return {"minutes": rows, "phases": phase_rows, "calls_per_replica": per_replica, "drained_replica": drained,
            "killed_replica": {**{k: v for k, v in run.kill.items() if k != "swept_after_s"}, "lost_calls": lost},
            "call_backs": len(run.callbacks), "memory_per_replica": mem, "cpu": cpu,
            "overall": {"calls": len(run.runs), "turns": len(all_lat), "p50_ms": pct(all_lat, 50),
                        "p95_ms": pct(all_lat, 95), "p99_ms": pct(all_lat, 99),
                        "max_ms": round(max(all_lat), 1) if all_lat else None,
                        "calls_in_db": len(calls), "still_open": sum(1 for c in calls.values() if not c["ended"]),
                        "errors": Counter((r.error or "").split(":")[0] for r in run.runs if r.error).most_common(5)},
            "proxy_transitions": transitions(run.proxy_samples)}


def phone_cpu(run: Run, replicas: list[Replica], args: argparse.Namespace) -> dict[str, Any]:
    """CPU of all phone replicas over the calling time, per simultaneous call (the callers hold
    `--callers` calls nearly all the time). A replica that exited or was killed counts up to its
    last sample while alive (a killed one loses at most its last 10 s)."""
    if len(run.cpu) < 2:
        return {}
    end = args.minutes * 60
    window = [(t, x) for t, x in run.cpu if t <= end + RSS_EVERY_S]
    t_a, t_b = window[0][0], window[-1][0]
    phone = 0.0
    for r in replicas:
        alive = [x[r.name] for _, x in window if x.get(r.name)]
        if alive:
            phone += alive[-1] - alive[0]
    span = t_b - t_a
    share = phone / span if span > 0 else None
    proxy_s = window[-1][1].get("haproxy", 0) - window[0][1].get("haproxy", 0)
    return {"window_s": round(span, 1), "phone_cpu_s": round(phone, 1),
            "phone_cores_busy": round(share, 3) if share else None, "machine_cores": os.cpu_count(),
            "callers": args.callers, "cores_per_call": round(share / args.callers, 4) if share else None,
            "haproxy_cpu_s": round(proxy_s, 2), "haproxy_cores_busy": round(proxy_s / span, 4) if span > 0 else None}


def transitions(samples: list[tuple[float, dict[str, tuple[str, int, int]]]]) -> list[dict[str, Any]]:
    out, last = [], {}
    for t, stats in samples:
        for name, (status, _cur, _tot) in stats.items():
            if last.get(name) != status:
                out.append({"t_s": t, "replica": name, "status": status})
                last[name] = status
    return out


def summarise_llm(phase: dict[str, Any], calls: dict[str, dict[str, Any]], llm_threads: int) -> dict[str, Any]:
    runs: list[CallRun] = phase["runs"]
    rows = [calls.get(r.call_sid, {}) for r in runs]
    # routed to the LLM: a decision with route llm (an LLM that failed leaves an "llm_..." outcome)
    escalated = [c for c in rows if c.get("llm_decisions") or (c.get("outcome") or "").startswith("llm")]
    answered = [c for c in escalated if c.get("llm_seconds")]
    minutes = phase["wall_s"] / 60
    llm_core_min = phase["llm_cpu_s"] / 60
    llm_turn_ms = [ms for r in runs for _, ms in r.turn_times[:2]]
    secs = [c["llm_seconds"] for c in escalated if c.get("llm_seconds")]
    return {"callers": len({r.caller for r in runs}), "calls": len(runs), "calls_escalated_to_llm": len(escalated),
            "calls_answered_by_llm": len(answered),
            "wall_min": round(minutes, 2), "llm_server_threads": llm_threads,
            "llm_cpu_s": round(phase["llm_cpu_s"], 1), "llm_cores_busy": round(phase["llm_cpu_s"] / phase["wall_s"], 2),
            "phone_cpu_s": round(phase["phone_cpu_s"], 1),
            "escalated_per_min": round(len(escalated) / minutes, 2) if minutes else None,
            "escalated_per_llm_core_min": round(len(escalated) / llm_core_min, 2) if llm_core_min else None,
            "llm_seconds_per_call_mean": round(statistics.fmean(secs), 2) if secs else None,
            "llm_tokens_per_call_mean": round(statistics.fmean(c["llm_tokens"] for c in escalated if c.get("llm_tokens")), 1)
            if any(c.get("llm_tokens") for c in escalated) else None,
            "reply_latency_ms_llm_turns": {"p50": pct(llm_turn_ms, 50), "p95": pct(llm_turn_ms, 95),
                                           "max": round(max(llm_turn_ms)) if llm_turn_ms else None},
            "outcomes": dict(Counter(c.get("outcome") for c in rows)),
            "errors": [r.error for r in runs if r.error][:3]}


def print_report(out: dict[str, Any]) -> None:
    print("\nper minute (turn latency: caller's last speech frame -> first bot audio, through the proxy)")
    print(f"{'minute':>6} {'turns':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'ended':>5}  {'dialled per replica':<28} "
          f"{'up in proxy':<14} RSS MB per replica")
    for r in out["minutes"]:
        d = " ".join(f"{k}:{v}" for k, v in r["calls_dialled_per_replica"].items())
        m = " ".join(f"{k}:{v:.0f}" for k, v in r["rss_mb_per_replica"].items())
        print(f"{r['minute']!s:>6} {r['turns']:>5} {r['p50_ms']!s:>6} {r['p95_ms']!s:>6} {r['p99_ms']!s:>6} "
              f"{r['calls_ended']:>5}  {d:<28} {','.join(r['up_in_proxy_at_end']):<14} {m}")
    print("\nper phase (calls dialled in it), against the same run's 1-replica baseline")
    for r in out["phases"]:
        print(f"  {r['phase']:<28} turns {r['turns']:>4}  p50 {r['p50_ms']!s:>6} ({r['p50_vs_baseline']})  "
              f"p95 {r['p95_ms']!s:>6} ({r['p95_vs_baseline']})  p99 {r['p99_ms']!s:>6} ({r['p99_vs_baseline']})")
    print("\ncalls per replica")
    for name, r in sorted(out["calls_per_replica"].items()):
        print(f"  {name}: {r['calls']} calls, {r['completed']} completed, {r['failed']} failed, {r['open']} open; {r['outcomes']}")
    d = out["drained_replica"]
    print(f"\ndrained r1: SIGTERM at {d.get('sigterm_s')} s with {d.get('calls_in_progress_at_sigterm')} calls in progress; "
          f"/readyz 503 after {d.get('unready_after_s')} s, HAProxy took it out after {d.get('proxy_down_after_s')} s; "
          f"in progress: {d['in_progress_completed']}/{d['calls_in_progress_at_sigterm_seen']} completed, "
          f"{d['in_progress_cut']} cut, {d['in_progress_turns_after_sigterm']} turns answered after SIGTERM, outcomes "
          f"{d['in_progress_outcomes']}; wrapped up at the grace limit {d['wrapped_up']}; dialled to it after SIGTERM "
          f"{d['dialled_after_sigterm']} ({d['redirects_followed']} <Redirect> followed); exited by itself "
          f"{d.get('exited_after_s')} s after SIGTERM, code {d.get('exit_code')}")
    k = out["killed_replica"]
    print(f"\nkilled r2: SIGKILL at {k.get('sigkill_s')} s, {len(k.get('lost_calls', []))} calls lost")
    for c in k.get("lost_calls", []):
        back = c.get("call_back") or {}
        print(f"  caller {c['caller']} ({c['vertical']}, {c['turns_played']} turns): {c['status']}/{c['outcome']} "
              f"{c['swept_after_kill_s']} s after the kill; call back dialled {back.get('dialled_after_cut_s')} s after "
              f"the cut, greeting after {back.get('greeting_after_ms')} ms, first reply {back.get('first_reply_ms')} ms, "
              f"served by {back.get('served_by')} ({back.get('status')}/{back.get('outcome')}, script completed: "
              f"{back.get('completed_script')}, lost call still open when dialled: "
              f"{back.get('lost_call_still_open_when_dialled')})")
    print("\nmemory per replica (MB, master + worker):", out["memory_per_replica"])
    print("phone CPU:", out["cpu"])
    if out.get("llm"):
        print("LLM server:", {k: v for k, v in out["llm"].items() if k != "errors"})
    o = out["overall"]
    print(f"all: {o['calls']} calls ({out['call_backs']} call backs), {o['turns']} turns, p50 {o['p50_ms']} / p95 "
          f"{o['p95_ms']} / p99 {o['p99_ms']} / max {o['max_ms']} ms; {o['calls_in_db']} in the database, "
          f"{o['still_open']} still open; errors {o['errors']}")


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--callers", type=int, default=8)
    ap.add_argument("--vertical", choices=["dental_clinic", "retail_bank", "mixed"], default="mixed")
    ap.add_argument("--minutes", type=float, default=6.0, help="callers dial until then")
    ap.add_argument("--switch-at", type=float, default=90.0, help="s: all replicas join the proxy")
    ap.add_argument("--sigterm-at", type=float, default=180.0, help="s: SIGTERM to r1")
    ap.add_argument("--sigkill-at", type=float, default=270.0, help="s: SIGKILL to r2")
    ap.add_argument("--drain-grace", type=float, default=300.0, help="CALLFLOWS_DRAIN_GRACE_S of the replicas")
    ap.add_argument("--threads", type=int, default=32, help="per replica (docs/deploy.md: 32)")
    ap.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                    help="PostgreSQL server: a fresh database is created there and dropped after")
    ap.add_argument("--no-llm-server", action="store_true", help="no LLM server, no LLM phase")
    ap.add_argument("--llm-threads", type=int, default=2)
    ap.add_argument("--llm-minutes", type=float, default=2.0)
    ap.add_argument("--llm-callers", type=int, default=1,
                    help="simultaneous escalating callers (llama_cpp.server answers one request at a time)")
    ap.add_argument("--escalation-timeout", type=float, default=None,
                    help="CALLFLOWS_ESCALATION_TIMEOUT_S of the replicas (default: escalation.yaml's 30 s per turn); "
                         "raised, every escalated turn runs to its end and the LLM's cost per call is measured whole")
    ap.add_argument("--llm-only", action="store_true",
                    help="only the LLM phase (one replica behind the proxy), for the LLM server's throughput")
    ap.add_argument("--keep-database", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench/results/replicas.json"))
    args = ap.parse_args()
    if not args.switch_at < args.sigterm_at < args.sigkill_at < args.minutes * 60:
        ap.error("need --switch-at < --sigterm-at < --sigkill-at < --minutes*60")

    lock = take_bench_lock()
    began = time.strftime("%Y-%m-%d %H:%M:%S")
    workdir = Path(tempfile.mkdtemp(prefix="callflows-replicas-"))
    replicas: list[Replica] = []
    llm = proxy = database = None
    try:
        print("synthesising caller audio...", flush=True)
        for caller in range(args.callers):
            for k in range(12):
                for step in call_plan(args.vertical, caller, k)[2]:
                    if step.say:
                        caller_audio(step.say)
        for i in range(args.llm_callers):
            for k in range(len(LLM_LINES)):
                for step in llm_plan(i, k)[2]:
                    caller_audio(step.say or "")
        database = Database(workdir, args.database_url)
        prepare_store(database.url)
        print(f"database {database.name}; workdir {workdir}", flush=True)
        llm_url = None
        if not args.no_llm_server:
            print("starting the LLM server (llama_cpp.server, escalation GGUF)...", flush=True)
            llm, llm_url = start_llm_server(workdir, args.llm_threads)
            warm_llm(llm_url)
        escalation_env = ({"CALLFLOWS_ESCALATION_TIMEOUT_S": str(args.escalation_timeout)}
                          if args.escalation_timeout else {})
        proxy_port = free_port()
        public = f"http://127.0.0.1:{proxy_port}"
        print(f"starting {args.replicas} replicas behind HAProxy at {public}...", flush=True)
        started = time.time()
        replicas.append(start_replica("r1", workdir, database.url, public, args.threads, args.drain_grace, llm_url,
                                      escalation_env))
        wait_ready(replicas[0])  # the first start fills the shared prompt cache; the others reuse it
        for i in range(2, 2 if args.llm_only else args.replicas + 1):
            replicas.append(start_replica(f"r{i}", workdir, database.url, public, args.threads, args.drain_grace, llm_url,
                                          escalation_env))
        for r in replicas[1:]:
            wait_ready(r)
        warm_s = time.time() - started
        proxy = HAProxyRun({r.name: f"127.0.0.1:{r.port}" for r in replicas}, workdir / "haproxy", port=proxy_port)
        proxy.start()
        proxy.wait_up([r.name for r in replicas])
        for r in replicas[1:]:
            proxy.set_state(r.name, "maint")
        time.sleep(10)  # let start-up work settle
        idle = {r.name: round(sum(rss_mb(p) for p in r.pids()), 1) for r in replicas}
        print(f"replicas ready in {warm_s:.0f} s; idle RSS {idle}; HAProxy {proxy.binary}; "
              f"{args.callers} callers for {args.minutes:g} min", flush=True)
        out: dict[str, Any] = {"memory_idle_mb": idle}
        if not args.llm_only:
            run = run_phase(proxy, replicas, database.url, args, llm.pid if llm else None)
            time.sleep(3)
            out.update(summarise(run, store_calls(database.url), replicas, args))
        if llm is not None and args.llm_minutes > 0:
            print(f"LLM phase: {args.llm_callers} frustrated bank callers for {args.llm_minutes:g} min...", flush=True)
            phase = llm_phase(proxy, args, llm.pid, [r for r in replicas if r.proc.poll() is None])
            time.sleep(3)
            out["llm"] = summarise_llm(phase, store_calls(database.url), args.llm_threads)
            out["llm"]["llm_server_rss_mb"] = round(rss_mb(llm.pid), 1)
        from bench.haproxy_run import haproxy_binary
        version = subprocess.run([haproxy_binary() or "haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
        out["config"] = {k: getattr(args, k) for k in ("replicas", "callers", "vertical", "minutes", "switch_at",
                                                        "sigterm_at", "sigkill_at", "drain_grace", "threads",
                                                        "llm_threads", "llm_minutes", "llm_callers", "llm_only", "escalation_timeout")}
        out["config"].update(database="postgresql (fresh database, dropped after)", proxy=version,
                             sweep=FAST_SWEEP, escalation_llm=f"own server: llama_cpp.server, {LLM_ALIAS}" if llm else None,
                             machine=f"{os.cpu_count()} cores", began=began, replicas_ready_s=round(warm_s, 1))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2, default=str))
        if args.llm_only:
            print("LLM server:", {k: v for k, v in out.get("llm", {}).items() if k != "errors"})
        else:
            print_report(out)
        print(f"JSON: {args.out}; logs: {workdir}")
    finally:
        if proxy is not None:
            proxy.stop()
        for r in replicas:
            if r.proc.poll() is None:
                r.proc.send_signal(signal.SIGINT)  # at once, no drain
        for r in replicas:
            try:
                r.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_group(r)
        if llm is not None:
            stop(llm, 20)
        if database is not None and not args.keep_database:
            try:
                database.drop()
            except Exception as exc:  # noqa: BLE001
                print(f"could not drop {database.name}: {exc}", file=sys.stderr)
        lock.close()


if __name__ == "__main__":
    main()
