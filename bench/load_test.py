"""Load test: N callers that keep calling one `callflows serve` process for M minutes.

Each of the N simulated Twilio callers places a call, plays its script, hangs up (or is hung
up on), and dials again at once, until the time is up; calls in progress then finish. The
server is started as in production (`callflows serve`: gunicorn, one gthread worker) on a
fresh SQLite file, or on a fresh PostgreSQL database created (and dropped after) on the
server named by --database-url.

Recorded per minute: turn latency p50/p95/p99 (the caller's last speech frame sent -> the
bot's first audio frame received, as bench/phone_latency.py measures it), calls completed,
the worker's RSS (read from /proc every 10 s). Afterwards every call record in the database
is checked: status completed, ended_at and outcome set, and the caller and bot turns stored
match what the simulator sent and heard, with no duplicate turns.

    .venv/bin/python bench/load_test.py [--calls 8] [--minutes 10] [--vertical dental_clinic|retail_bank|mixed]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--out bench/results/load.json]
        [--prometheus [--prometheus-interval 2s]]

With --prometheus, Debian's Prometheus (bench/prometheus_run.py) scrapes the server's /metrics for
the whole run; at the end a few PromQL queries over the run (calls in progress at most, calls by
outcome, turn latency quantiles by part, errors) are printed and written to the JSON ("prometheus").

Takes /tmp/callflows-bench.lock (fcntl) for the whole run: other heavy jobs wait, and so does
this script when another benchmark holds it.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.prometheus_run import (  # noqa: E402
    CALLS_IN_PROGRESS, CALLS_TOTAL, ERRORS_TOTAL, TURN_LATENCY, PrometheusRun, format_results, run_queries,
    token_from_env, wait_until_ok)
from callflows.speech.caller_voice import caller_audio  # noqa: E402
from callflows.telephony.simulator import SimulatedCall, SimResult, Step  # noqa: E402

TOKEN = "bench-token"
LOCK = Path("/tmp/callflows-bench.lock")
LLM_ALIAS = "qwen2.5-coder-1.5b-instruct"
PG_CREATE_LOCK = Path("/tmp/callflows-pg-create.lock")  # shared with tests/fixtures/db.py
DENTAL_NUMBER = "+15550100000"
BANK_NUMBER = "+15550100300"
DAYS = ["next tuesday", "next wednesday", "next thursday", "next friday"]
TIMES = ["at ten thirty in the morning", "at two in the afternoon", "at three thirty in the afternoon",
         "at eleven in the morning"]
# bank callers: name by voice, date of birth and last four of the SSN on the keypad (reliable with
# an espeak voice, so verification passes and customers are not locked out mid-run)
BANK_CUSTOMERS = [("jordan ellis", "07141988", "4417"), ("priya raman", "02031975", "9023"),
                  ("samuel okafor", "11301992", "3158"), ("linda chen", "05211960", "7702")]
BANK_ASKS = [("what's my balance", "checking"), ("what are my recent transactions", "savings"),
             ("how much money do i have", "all of them"), ("read me my last few transactions", "checking")]
RSS_EVERY_S = 10.0
TTS_CACHE = "/tmp/callflows-load-tts-cache"  # static sentences synthesised once, kept between runs


# --------------------------------------------------------------------------- scripts


def dental_script(k: int) -> list[Step]:
    return [
        Step(say="i would like to book a cleaning"),
        Step(say="doctor patel please"),
        Step(say=DAYS[k % 4]),
        Step(say=TIMES[(k // 4) % 4]),
        Step(dtmf="5551234567#"),  # the dental flow asks the phone number first
        Step(say="my name is jane smith"),
        Step(dtmf="76484#"),  # asked to type the last name, one key per letter
        Step(dtmf="5263#"),  # and the first name
        Step(say="yes"),  # the name read back, spelled
        Step(say="yes please"),
        Step(say="no thanks"),
    ]


def bank_script(k: int) -> list[Step]:
    name, dob, last4 = BANK_CUSTOMERS[k % len(BANK_CUSTOMERS)]
    ask, kind = BANK_ASKS[(k // len(BANK_CUSTOMERS)) % len(BANK_ASKS)]
    return [
        Step(say=ask),
        Step(say=f"my name is {name}"),
        Step(dtmf=dob + "#"),
        Step(dtmf=last4 + "#"),
        Step(say=kind),
        Step(say="no thanks"),
    ]


def call_plan(vertical: str, caller: int, k: int) -> tuple[str, str, list[Step]]:
    """(vertical, number dialled, script) of caller `caller`'s k-th call."""
    if vertical == "mixed":
        vertical = "dental_clinic" if (caller + k) % 2 == 0 else "retail_bank"
    n = caller * 1000 + k
    if vertical == "retail_bank":
        return vertical, BANK_NUMBER, bank_script(n)
    return vertical, DENTAL_NUMBER, dental_script(n)


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workers_of(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_s(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


class Database:
    """A fresh database: a SQLite file in the work folder, or a PostgreSQL database created
    on the given server and dropped by `drop()`."""

    def __init__(self, workdir: Path, server_url: str | None):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.admin = None
        self.name = None
        if not server_url:
            self.url = f"sqlite:///{workdir / 'load.db'}"
            return
        self.name = f"callflows_load_{uuid.uuid4().hex[:10]}"
        base = make_url(server_url)
        self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with open(PG_CREATE_LOCK, "w") as lock:  # CREATE DATABASE copies template1: one at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            for attempt in range(20):
                try:
                    with self.admin.connect() as conn:
                        conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
                    break
                except Exception as exc:  # noqa: BLE001
                    if "being accessed by other users" not in str(exc) or attempt == 19:
                        raise
                    time.sleep(0.25)
        self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.admin.dispose()


def prepare_store(url: str) -> None:
    """Migrate and map the bank's number to the retail_bank vertical (the dental number is the default)."""
    from callflows.store import Store, repo

    store = Store(url)
    store.upgrade()
    with store.session() as s:
        repo.upsert_phone_number(s, DENTAL_NUMBER, "dental_clinic")
        repo.upsert_phone_number(s, BANK_NUMBER, "retail_bank")
    store.dispose()


def start_llm_server(workdir: Path, threads: int) -> tuple[subprocess.Popen, str]:
    """llama-cpp-python's OpenAI-compatible server on the escalation GGUF, as the compose `llm`
    service runs it (its own process, so the phone server's RSS is the phone server's alone)."""
    from callflows.models import resolve

    try:
        import llama_cpp.server.app  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"--llm-server needs llama-cpp-python's server extra ({exc}); install it as the Dockerfile does: "
                         ".venv/bin/pip install \"llama-cpp-python[server]==$(.venv/bin/python -c "
                         "'import llama_cpp; print(llama_cpp.__version__)')\"")
    gguf = resolve("llm_escalation")  # the same file the compose service names
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                             "--model_alias", LLM_ALIAS, "--host", "127.0.0.1", "--port", str(port),
                             "--n_ctx", "4096", "--n_threads", str(threads)],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=open(workdir / "llm.log", "w"))
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url + "/v1/models", 180, workdir / "llm.log")
    return proc, url


def wait_ready(proc: subprocess.Popen, health_url: str, timeout_s: float, log: Path) -> None:
    """Until `health_url` answers 200; kills `proc` and raises if it dies or the time runs out."""
    if not wait_until_ok(proc, health_url, timeout_s):
        proc.kill()
        raise RuntimeError(f"{health_url} did not come up; see {log}")


def stop(proc: subprocess.Popen, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL after `timeout_s`."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_server(workdir: Path, db_url: str, threads: int, malloc_arenas: int | None = None,
                 llm_url: str | None = None, twilio_api_base: str = "http://127.0.0.1:9") -> tuple[subprocess.Popen, str]:
    """``twilio_api_base``: where the server's Twilio REST calls (transfers) go; by default nowhere,
    so a transfer fails fast and is recorded as failed."""
    port = free_port()
    extra = {"CALLFLOWS_MALLOC_ARENAS": str(malloc_arenas)} if malloc_arenas is not None else {}
    if llm_url:
        extra.update(CALLFLOWS_LLM_ESCALATION_URL=llm_url, CALLFLOWS_LLM_ESCALATION_MODEL=LLM_ALIAS)
    env = dict(os.environ, **extra, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_ACCOUNT_SID="AC" + "0" * 32,
               CALLFLOWS_DATABASE_URL=db_url, CALLFLOWS_TTS_CACHE_DIR=TTS_CACHE,
               CALLFLOWS_TWILIO_API_BASE=twilio_api_base, CALLFLOWS_SILENCE_TIMEOUT_S="60")
    # INFO: the server logs each filled wait ("wait filled: ack at 850 ms; ..."), which the record
    # check needs (a filler clip is audio the caller hears but never a bot turn)
    proc = subprocess.Popen([str(ROOT / ".venv/bin/callflows"), "--log-level", "INFO", "serve", "--port", str(port),
                             "--threads", str(threads)], env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "server.log", "w"))
    url = f"http://127.0.0.1:{port}"
    # the first start synthesises every vertical's static sentences
    wait_ready(proc, url + "/healthz", 600, workdir / "server.log")
    time.sleep(5)
    return proc, url


# --------------------------------------------------------------------------- callers


@dataclass
class CallRun:
    caller: int
    k: int
    vertical: str
    call_sid: str
    started: float
    ended: float = 0.0
    result: SimResult | None = None
    error: str | None = None
    connected: bool = False
    bot_heard: int = 0  # bot utterances the simulator received (greeting included)
    utterances: list[tuple[float, float]] = field(default_factory=list)  # (s into the call, s of audio) each
    turn_times: list[tuple[float, float]] = field(default_factory=list)  # (when, latency ms)
    steps: int = 0  # the script's steps
    turns_played: int = 0  # caller turns played before the call ended (fewer than `steps`: cut short)
    greeting_after_s: float | None = None  # dialling (the webhook) -> the greeting's first audio
    redirects: int = 0  # <Redirect>s followed before the call was answered (a draining replica's)


def place_call(url: str, vertical: str, caller: int, k: int, t0: float,
               plan: tuple[str, str, list[Step]] | None = None, turn_timeout: float = 30.0) -> CallRun:
    """One call of caller `caller` (its k-th): `plan` (vertical, number dialled, script), or call_plan's;
    the caller waits up to `turn_timeout` s for each reply."""
    vert, number, steps = plan or call_plan(vertical, caller, k)
    sim = SimulatedCall(url, auth_token=TOKEN, to_number=number, from_number=f"+1555{caller:03d}{k % 10000:04d}")
    run = CallRun(caller, k, vert, sim.call_sid, time.time() - t0)

    def on_turn(_msg: str) -> None:  # called by the simulator right after each caller turn
        # the same latency the simulator computes for the turn, with the time it was measured
        end, first = getattr(sim, "_speech_end_at", None), getattr(sim, "_first_bot_frame_after_speech", None)
        if end and first:
            run.turn_times.append((time.time() - t0, (first - end) * 1000))

    sim.log = on_turn
    run.steps = len(steps)
    dialled = time.perf_counter()
    try:
        run.result = sim.run(steps, turn_timeout=turn_timeout)
    except Exception as exc:  # noqa: BLE001 - counted and reported
        run.error = f"{type(exc).__name__}: {exc}"[:300]
    run.connected = getattr(sim, "_ws", None) is not None
    heard = list(getattr(sim, "_bot", []))
    run.bot_heard = len(heard)
    run.turns_played = len(run.result.turns) if run.result else 0
    run.redirects = len(getattr(sim, "redirects", []))
    if heard:
        run.greeting_after_s = round(heard[0].started_at - dialled, 3)
        start = heard[0].started_at
        run.utterances = [(round(u.started_at - start, 2), round(len(u.audio) / 8000, 2)) for u in heard]
    run.ended = time.time() - t0
    return run


# --------------------------------------------------------------------------- analysis


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[int(q) - 1], 1)


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 3:
        return None
    xs = [t / 60 for t, _ in samples]
    ys = [m for _, m in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den, 2) if den else None


def wait_for_records(db_url: str, runs: list[CallRun], timeout_s: float = 60.0) -> None:
    """Until every simulated call that reached the server has an ended record (or the timeout)."""
    from sqlalchemy import select

    from callflows.store import Store
    from callflows.store.models import Call

    sids = {r.call_sid for r in runs if r.connected}
    store = Store(db_url)
    deadline = time.time() + timeout_s
    try:
        while time.time() < deadline:
            with store.session() as s:
                ended = set(s.scalars(select(Call.twilio_call_sid).where(Call.ended_at.is_not(None))))
            if sids <= ended:
                return
            time.sleep(1)
        print(f"  {len(sids - ended)} call record(s) still open after {timeout_s:.0f} s", flush=True)
    finally:
        store.dispose()


def fillers_by_call(server_log: Path) -> Counter[str]:
    """Filler clips the server played per call id, from its "wait filled" log lines
    (older servers wrote "wait masked")."""
    out: Counter[str] = Counter()
    try:
        text = server_log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for call_id, played in re.findall(r"\[call=([^\]]+)\] wait (?:filled|masked): (.*?); reply audio after", text):
        out[call_id] += len(played.split(", "))
    return out


def latency_parts_by_minute(db_url: str, t0: float, duration_s: float) -> list[dict[str, Any]]:
    """Per minute of the run, the median of each stored part of a caller turn's latency (the
    server's own measure: end-of-turn wait, STT finish, NLU, TTS first audio, total), and the
    minute's turns per vertical: whether the mix of turns or slower compute moves the p50."""
    from datetime import timezone

    from sqlalchemy import select

    from callflows.store import Store
    from callflows.store.models import Call, Turn

    store = Store(db_url)
    rows: dict[Any, dict[str, list[float]]] = {}
    verticals: dict[Any, Counter[str]] = {}
    with store.session() as s:
        q = select(Turn, Call.vertical).join(Call, Call.id == Turn.call_id).where(Turn.speaker == "caller",
                                                                                   Turn.total_ms.is_not(None))
        for turn, vertical in s.execute(q):
            at = turn.started_at if turn.started_at.tzinfo else turn.started_at.replace(tzinfo=timezone.utc)
            since = at.timestamp() - t0
            minute: Any = "drain" if since >= duration_s else int(since // 60) + 1
            bucket = rows.setdefault(minute, {})
            for part in ("endpoint_ms", "stt_ms", "nlu_ms", "tts_first_audio_ms", "total_ms"):
                value = getattr(turn, part)
                if value is not None:
                    bucket.setdefault(part, []).append(float(value))
            verticals.setdefault(minute, Counter())[vertical] += 1
    store.dispose()
    out = []
    for minute in sorted(rows, key=lambda m: (m == "drain", m if m != "drain" else 0)):
        b = rows[minute]
        out.append({"minute": minute, "turns": len(b.get("total_ms", [])),
                    **{f"{part}_p50": round(statistics.median(v), 1) for part, v in b.items() if v},
                    "total_ms_p95": pct(b.get("total_ms", []), 95), "turns_by_vertical": dict(verticals[minute])})
    return out


def check_records(db_url: str, runs: list[CallRun], server_log: Path | None = None) -> dict[str, Any]:
    """Every call in the database complete; every simulated call's turns all there, once.

    A bot turn the caller heard is one utterance for the simulator (700 ms of silence splits
    utterances), except that a filler clip played while the reply was slow ("one moment") is
    heard too, but is never a bot turn: the server logs those per call, and keypad turns may
    have one unlogged. So: stored bot turns <= utterances heard <= stored bot turns + fillers."""
    from sqlalchemy import func, select, text

    from callflows.store import Store
    from callflows.store.models import Call, Turn

    store = Store(db_url)
    problems: list[dict[str, Any]] = []
    outcomes: Counter[str] = Counter()
    by_sid: dict[str, Call] = {}
    turns_by_call: dict[str, list[Turn]] = {}
    with store.session() as s:
        calls = list(s.scalars(select(Call)))
        for call in calls:
            if call.twilio_call_sid:
                by_sid[call.twilio_call_sid] = call
        for turn in s.scalars(select(Turn).order_by(Turn.call_id, Turn.seq)):
            turns_by_call.setdefault(turn.call_id, []).append(turn)
        dup_seq = s.execute(select(Turn.call_id, Turn.seq, func.count()).group_by(Turn.call_id, Turn.seq)
                            .having(func.count() > 1)).all()
        try:  # calls that reached the LLM or a person through the escalation rules (if built)
            routes = {route: n for route, n in s.execute(text(
                "SELECT route, COUNT(DISTINCT call_id) FROM escalation_decisions GROUP BY route"))}
        except Exception:  # noqa: BLE001 - no escalation table in this schema
            s.rollback()
            routes = None
        s.expunge_all()
    store.dispose()
    incomplete = 0
    for call in calls:
        outcomes[call.outcome or "(none)"] += 1
        missing = [name for name, ok in (("status completed", call.status == "completed"),
                                         ("ended_at", call.ended_at is not None),
                                         ("outcome", bool(call.outcome))) if not ok]
        turns = turns_by_call.get(call.id, [])
        seqs = [t.seq for t in turns]
        if seqs != list(range(1, len(seqs) + 1)):
            missing.append(f"turn seqs not 1..n: {seqs[:20]}")
        keys = [(t.speaker, t.text, t.started_at) for t in turns]
        if len(keys) != len(set(keys)):
            missing.append("duplicate turn (same speaker, text and time)")
        if missing:
            incomplete += 1
            problems.append({"call_sid": call.twilio_call_sid, "call_id": call.id, "problems": missing,
                             "status": call.status, "outcome": call.outcome})
    fillers = fillers_by_call(server_log) if server_log else Counter()
    lost = 0
    mismatched = 0
    compared = 0
    explained_by_fillers = 0
    for run in runs:
        if not run.connected:
            continue  # the webhook or the socket failed before any call existed
        call = by_sid.get(run.call_sid)
        if call is None:
            lost += 1
            problems.append({"call_sid": run.call_sid, "problems": ["no call record"], "error": run.error})
            continue
        if run.result is None:
            continue  # the simulator failed mid-call: the record is checked above, not the turn counts
        compared += 1
        turns = turns_by_call.get(call.id, [])
        db_caller = sum(1 for t in turns if t.speaker == "caller")
        db_bot = sum(1 for t in turns if t.speaker == "bot" and t.text.strip())
        sent = len([t for t in run.result.turns if not t.caller.endswith("[hung up]")])
        answered = len(run.result.latencies())
        keyed = sum(1 for t in run.result.turns if t.caller.startswith("[keys"))
        extra = run.bot_heard - db_bot
        # every caller turn that got an answer is stored, and nothing more than what was sent;
        # every bot utterance heard is a stored bot turn, or a filler clip
        ok = answered <= db_caller <= sent and 0 <= extra <= fillers.get(call.id, 0) + keyed
        if ok and extra:
            explained_by_fillers += 1
        if not ok:
            mismatched += 1
            problems.append({"call_sid": run.call_sid, "problems": ["turn count mismatch"],
                             "sim": {"caller_sent": sent, "caller_answered": answered, "bot_heard": run.bot_heard},
                             "db": {"caller": db_caller, "bot_nonempty": db_bot, "speakers": "".join(
                                 t.speaker[0] for t in turns)}, "fillers_logged": fillers.get(call.id, 0),
                             "outcome": call.outcome, "utterances_heard": run.utterances})
        elif extra:  # kept for the report: short extra utterances are fillers, long ones a split reply
            problems.append({"call_sid": run.call_sid, "note": f"{extra} utterance(s) heard beyond the bot turns",
                             "fillers_logged": fillers.get(call.id, 0), "utterances_heard": run.utterances})
    return {"calls_in_db": len(calls), "calls_simulated": len(runs), "calls_compared": compared,
            "lost": lost, "incomplete": incomplete, "turn_count_mismatch": mismatched,
            "calls_with_filler_utterances": explained_by_fillers, "fillers_logged": sum(fillers.values()),
            "duplicate_seq_rows": len(dup_seq), "outcomes": dict(outcomes.most_common()),
            "escalation_routes_calls": routes, "problems": problems[:30]}


# --------------------------------------------------------------------------- prometheus


def start_prometheus(workdir: Path, url: str, interval: str) -> PrometheusRun:
    """Prometheus scraping the server at `url`, started and scraped once before the callers dial
    (the server's CALLFLOWS_METRICS_TOKEN, if the environment sets one, goes in the scrape config)."""
    prom = PrometheusRun(url.removeprefix("http://"), workdir / "prometheus", interval, token=token_from_env())
    prom.start()
    try:
        prom.wait_for_scrape(timeout_s=60)
    except RuntimeError:
        prom.stop()
        raise
    return prom


def prometheus_queries(run_s: float, interval: str) -> dict[str, str]:
    """PromQL over the run (`run_s` seconds back from now, the drain included)."""
    rng = f"{int(run_s) + 1}s"
    job = '{job="callflows"}'
    return {
        "calls_in_progress_max": f"max_over_time(sum({CALLS_IN_PROGRESS}{job})[{rng}:{interval}])",
        "calls_by_outcome": f"sum by (outcome) ({CALLS_TOTAL}{job})",
        "calls_by_outcome_increase": f"sum by (outcome) (increase({CALLS_TOTAL}{job}[{rng}]))",
        "calls_by_route": f"sum by (vertical, route) ({CALLS_TOTAL}{job})",
        "turn_p50_s": f"histogram_quantile(0.5, sum by (le, part) (rate({TURN_LATENCY}_bucket{job}[{rng}])))",
        "turn_p95_s": f"histogram_quantile(0.95, sum by (le, part) (rate({TURN_LATENCY}_bucket{job}[{rng}])))",
        "turns_observed": f"sum by (part) ({TURN_LATENCY}_count{job})",
        "errors_by_kind": f"sum by (kind) ({ERRORS_TOTAL}{job})",
        "scrapes_ok_of_total": f"sum_over_time(up{job}[{rng}]) / count_over_time(up{job}[{rng}])",
        "scrapes": f"count_over_time(up{job}[{rng}])",
        "scrape_duration_max_s": f"max_over_time(scrape_duration_seconds{job}[{rng}])",
    }


def prometheus_report(prom: PrometheusRun, interval: str, calls_in_db: int) -> dict[str, Any]:
    """The queries' results, and whether Prometheus counted every call the database holds."""
    prom.wait_for_scrape(timeout_s=30, after=time.time())  # a scrape after the last call closed
    run_s = time.time() - prom.started_at
    results = run_queries(prom, prometheus_queries(run_s, interval))
    counted = sum(r["value"] for r in results["calls_by_outcome"].get("result", []))
    return {"scrape_interval": interval, "window_s": round(run_s, 1), "prometheus": prom.binary,
            "queries": results, "calls_counted": counted, "calls_in_db": calls_in_db,
            "every_call_counted": counted == calls_in_db}


# --------------------------------------------------------------------------- main


def take_bench_lock() -> Any:
    """/tmp/callflows-bench.lock, held (fcntl) until the returned file is closed; waits for it
    while another benchmark runs."""
    lock = open(LOCK, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"waiting for {LOCK} (another benchmark is running)...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def run_load(url: str, master: int, callers: int, minutes: float, vertical: str,
             llm_pid: int | None = None) -> dict[str, Any]:
    duration = minutes * 60
    t0 = time.time()
    stop_at = t0 + duration
    runs: list[CallRun] = []
    runs_lock = threading.Lock()
    rss_samples: list[tuple[float, float]] = []
    cpu_samples: list[tuple[float, float]] = []
    llm_rss: list[tuple[float, float]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            pids = workers_of(master)
            rss_samples.append((time.time() - t0, round(sum(rss_mb(p) for p in pids), 1)))
            if llm_pid:
                llm_rss.append((time.time() - t0, round(rss_mb(llm_pid), 1)))
            cpu_samples.append((time.time() - t0, cpu_s([master, *pids])))
            done.wait(RSS_EVERY_S)

    def caller(i: int) -> None:
        time.sleep(i * 0.7)  # callers do not all dial in the same instant
        k = 0
        while time.time() < stop_at:
            run = place_call(url, vertical, i, k, t0)
            with runs_lock:
                runs.append(run)
            if run.error and not run.connected:
                time.sleep(1.0)  # the server refused: do not spin
            k += 1

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(callers)]
    for t in threads:
        t.start()
    last_print = 0
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        elapsed = time.time() - t0
        if elapsed - last_print >= 30:
            last_print = elapsed
            with runs_lock:
                n = len(runs)
            rss = rss_samples[-1][1] if rss_samples else 0
            print(f"  {elapsed:5.0f} s: {n} calls done, worker RSS {rss:.0f} MB", flush=True)
    wall = time.time() - t0
    done.set()
    watcher.join(timeout=RSS_EVERY_S + 1)
    pids = workers_of(master)
    rss_samples.append((wall, round(sum(rss_mb(p) for p in pids), 1)))
    cpu_samples.append((wall, cpu_s([master, *pids])))
    return {"runs": runs, "rss": rss_samples, "cpu": cpu_samples, "wall_s": wall, "duration_s": duration,
            "llm_rss": llm_rss, "t0": t0}


def summarise(load: dict[str, Any], minutes: float) -> dict[str, Any]:
    runs: list[CallRun] = load["runs"]
    n_min = max(1, int(round(minutes)))
    rows = []
    for m in range(n_min + 1):  # the last row: calls finishing after the time was up (drain)
        lo, hi = m * 60, (m + 1) * 60
        drain = m == n_min
        in_row = (lambda t: t >= lo) if drain else (lambda t: lo <= t < hi)
        lat = [ms for r in runs for when, ms in r.turn_times if in_row(when)]
        done = [r for r in runs if in_row(r.ended)]
        rss = [mb for t, mb in load["rss"] if in_row(t)]
        cpu = [(t, c) for t, c in load["cpu"] if in_row(t)]
        cpu_share = None
        if len(cpu) >= 2 and cpu[-1][0] > cpu[0][0]:
            cpu_share = round((cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0]) / (os.cpu_count() or 1), 3)
        if drain and not lat and not done:
            continue
        rows.append({"minute": "drain" if drain else m + 1, "turns": len(lat), "p50_ms": pct(lat, 50),
                     "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99), "calls_completed": len(done),
                     "calls_failed": sum(1 for r in done if r.error),
                     "rss_mb_mean": round(statistics.fmean(rss), 1) if rss else None,
                     "rss_mb_max": max(rss) if rss else None, "cpu_share": cpu_share})
    minute_rows = [r for r in rows if r["minute"] != "drain"]
    half = load["duration_s"] / 2
    second_half = [(t, mb) for t, mb in load["rss"] if half <= t <= load["duration_s"]]
    first, last = minute_rows[0], minute_rows[-1]

    def ratio(key: str) -> float | None:
        return round(last[key] / first[key], 2) if first.get(key) and last.get(key) else None

    all_lat = [ms for r in runs for _, ms in r.turn_times]
    return {
        "minutes": rows,
        "overall": {"calls": len(runs), "calls_failed": sum(1 for r in runs if r.error), "turns": len(all_lat),
                    "p50_ms": pct(all_lat, 50), "p95_ms": pct(all_lat, 95), "p99_ms": pct(all_lat, 99),
                    "max_ms": round(max(all_lat), 1) if all_lat else None},
        "memory": {"rss_samples": load["rss"], "rss_start_mb": load["rss"][0][1] if load["rss"] else None,
                   "rss_end_mb": load["rss"][-1][1] if load["rss"] else None,
                   "slope_second_half_mb_per_min": slope_mb_per_min(second_half),
                   "slope_whole_run_mb_per_min": slope_mb_per_min([s for s in load["rss"] if s[0] <= load["duration_s"]]),
                   "llm_server_rss_start_mb": load["llm_rss"][0][1] if load["llm_rss"] else None,
                   "llm_server_rss_end_mb": load["llm_rss"][-1][1] if load["llm_rss"] else None},
        "latency_last_over_first_minute": {"p50": ratio("p50_ms"), "p95": ratio("p95_ms"), "p99": ratio("p99_ms")},
        "errors": Counter(r.error.split(":")[0] for r in runs if r.error).most_common(5),
        "error_examples": [r.error for r in runs if r.error][:3],
    }


def print_table(out: dict[str, Any]) -> None:
    print()
    print(f"{'minute':>6} {'turns':>5} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'calls done':>10} {'failed':>6} "
          f"{'RSS MB':>7} {'cpu %':>6}")
    for r in out["minutes"]:
        cpu = f"{100 * r['cpu_share']:.0f}" if r["cpu_share"] is not None else "-"
        print(f"{r['minute']!s:>6} {r['turns']:>5} {r['p50_ms']!s:>7} {r['p95_ms']!s:>7} {r['p99_ms']!s:>7} "
              f"{r['calls_completed']:>10} {r['calls_failed']:>6} {r['rss_mb_mean']!s:>7} {cpu:>6}")
    if out.get("latency_parts_by_minute"):
        print(f"\n{'minute':>6} {'turns':>5} {'endpoint':>8} {'stt':>5} {'nlu':>5} {'tts 1st':>7} {'total':>6} "
              f"{'total p95':>9}  (server-side medians, ms)")
        for r in out["latency_parts_by_minute"]:
            print(f"{r['minute']!s:>6} {r['turns']:>5} {r.get('endpoint_ms_p50', '-')!s:>8} {r.get('stt_ms_p50', '-')!s:>5} "
                  f"{r.get('nlu_ms_p50', '-')!s:>5} {r.get('tts_first_audio_ms_p50', '-')!s:>7} "
                  f"{r.get('total_ms_p50', '-')!s:>6} {r['total_ms_p95']!s:>9}  {r['turns_by_vertical']}")
    o, m, rec = out["overall"], out["memory"], out["records"]
    print(f"all: {o['calls']} calls, {o['turns']} turns, p50 {o['p50_ms']} / p95 {o['p95_ms']} / p99 {o['p99_ms']} "
          f"/ max {o['max_ms']} ms; failed calls {o['calls_failed']}")
    print(f"latency last/first minute: {out['latency_last_over_first_minute']}")
    print(f"worker RSS {m['rss_start_mb']} -> {m['rss_end_mb']} MB; slope over the second half "
          f"{m['slope_second_half_mb_per_min']} MB/min (whole run {m['slope_whole_run_mb_per_min']})")
    if m.get("llm_server_rss_start_mb") is not None:
        print(f"LLM server (own process) RSS {m['llm_server_rss_start_mb']} -> {m['llm_server_rss_end_mb']} MB")
    print(f"records: {rec['calls_in_db']} calls in the database, {rec['lost']} lost, {rec['incomplete']} incomplete, "
          f"{rec['turn_count_mismatch']} turn-count mismatches of {rec['calls_compared']} compared "
          f"({rec['calls_with_filler_utterances']} calls heard filler clips, {rec['fillers_logged']} logged), "
          f"{rec['duplicate_seq_rows']} duplicate turn rows; outcomes {rec['outcomes']}; "
          f"calls per escalation route {rec['escalation_routes_calls']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=8, help="simultaneous callers (default 8: the phone benchmark's capacity)")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--vertical", choices=["dental_clinic", "retail_bank", "mixed"], default="mixed")
    ap.add_argument("--database-url", default=None,
                    help="a PostgreSQL server (postgresql+psycopg://user@host:port/db): a fresh database is "
                         "created there and dropped after; default: a fresh SQLite file")
    ap.add_argument("--threads", type=int, default=64)
    ap.add_argument("--malloc-arenas", type=int, default=None,
                    help="CALLFLOWS_MALLOC_ARENAS for the server (0 = glibc's default; unset = the environment's)")
    ap.add_argument("--llm-server", action="store_true",
                    help="run the escalation LLM as its own OpenAI-compatible server (llama_cpp.server), as the "
                         "compose deployment does, instead of in the phone server's process")
    ap.add_argument("--llm-threads", type=int, default=2)
    ap.add_argument("--prometheus", action="store_true",
                    help="Prometheus (the distribution's binary) scrapes the server during the run; PromQL results "
                         "at the end, in the JSON under \"prometheus\"")
    ap.add_argument("--prometheus-interval", default="2s", help="its scrape interval (default 2s)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/load.json"))
    args = ap.parse_args()

    lock = take_bench_lock()
    workdir = Path(tempfile.mkdtemp(prefix="callflows-load-"))
    proc = llm = prom = None
    database = None
    try:
        print("synthesising caller audio...", flush=True)
        for caller in range(args.calls):
            for k in range(8):
                for step in call_plan(args.vertical, caller, k)[2]:
                    if step.say:
                        caller_audio(step.say)
        database = Database(workdir, args.database_url)
        prepare_store(database.url)
        print(f"starting the server ({'PostgreSQL' if args.database_url else 'SQLite'})...", flush=True)
        llm_url = None
        if args.llm_server:
            print("starting the LLM server (llama_cpp.server, escalation GGUF)...", flush=True)
            llm, llm_url = start_llm_server(workdir, args.llm_threads)
        proc, url = start_server(workdir, database.url, args.threads, args.malloc_arenas, llm_url)
        if args.prometheus:
            prom = start_prometheus(workdir, url, args.prometheus_interval)
            print(f"prometheus up ({prom.url}), scraping {url}/metrics every {args.prometheus_interval}", flush=True)
        idle_rss = sum(rss_mb(p) for p in workers_of(proc.pid))
        print(f"server up, worker RSS {idle_rss:.0f} MB; {args.calls} callers for {args.minutes:g} min "
              f"({args.vertical})", flush=True)
        load = run_load(url, proc.pid, args.calls, args.minutes, args.vertical, llm.pid if llm else None)
        wait_for_records(database.url, load["runs"])  # written as the server closes each socket
        out = summarise(load, args.minutes)
        out["records"] = check_records(database.url, load["runs"], workdir / "server.log")
        out["latency_parts_by_minute"] = latency_parts_by_minute(database.url, load["t0"], load["duration_s"])
        if prom is not None:
            out["prometheus"] = prometheus_report(prom, args.prometheus_interval, out["records"]["calls_in_db"])
        out["config"] = {"calls": args.calls, "minutes": args.minutes, "vertical": args.vertical,
                         "database": "postgresql" if args.database_url else "sqlite", "threads": args.threads,
                         "malloc_arenas": args.malloc_arenas,
                         "escalation_llm": f"own server ({llm_url})" if llm_url else "in the phone server's process",
                         "idle_rss_mb": round(idle_rss, 1), "wall_s": round(load["wall_s"], 1),
                         "machine": f"{os.cpu_count()} cores", "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        out["targets"] = {
            "no_lost_or_incomplete_records": out["records"]["lost"] == 0 and out["records"]["incomplete"] == 0
            and out["records"]["turn_count_mismatch"] == 0 and out["records"]["duplicate_seq_rows"] == 0,
            "memory_slope_second_half_mb_per_min": out["memory"]["slope_second_half_mb_per_min"],
            "latency_last_over_first": out["latency_last_over_first_minute"],
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2, default=str))
        print_table(out)
        for problem in out["records"]["problems"][:10]:
            print("  record problem:", json.dumps(problem, default=str))
        if prom is not None:
            p = out["prometheus"]
            print(f"\nPromQL over the last {p['window_s']:.0f} s (scrape every {p['scrape_interval']}):")
            print(format_results(p["queries"]))
            print(f"calls counted by Prometheus {p['calls_counted']:g}, in the database {p['calls_in_db']}")
        print(f"JSON: {args.out}; server log: {workdir / 'server.log'}")
    finally:
        if prom is not None:
            prom.stop()
        if proc is not None:
            stop(proc, 40)
        if llm is not None:
            stop(llm, 20)
        if database is not None:
            try:
                database.drop()
            except Exception as exc:  # noqa: BLE001
                print(f"could not drop {database.name}: {exc}", file=sys.stderr)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


if __name__ == "__main__":
    main()
