"""Call-success benchmark: goal-driven simulated callers against the three verticals.

    .venv/bin/python bench/call_success.py [--mode text|phone|both] [--callers 64] [--phone-callers N]
        [--voices espeak flite piper] [--concurrency 1] [--seed 13] [--quick] [--out bench/results/call_success.json]

Personas (bench/callers/personas.py: dental book / reschedule / cancel / FAQ then book / hours /
emergency, bank balance / lost card / impostor, hotel book / change) each hold facts: a name,
a phone number, dates, times. Their policy (bench/callers/policy.py) answers whatever the bot
asks; on the phone it understands the bot from the bot's own audio transcribed by the project's
Whisper recogniser, and speaks with espeak-ng, flite or Piper voices (or FSDD human digits) over
the simulator's real Twilio Media Streams WebSocket, in real time. Each call is judged from the
stored record (bench/callers/judge.py), not from its outcome label.

Reported per vertical and per voice family, for text and phone: facts-right task success and
outcome-only success, turns per task, word error rate per slot type (what the caller said vs
the stored transcript of the turn; turns stored masked as personal data are counted apart),
transfers, latency percentiles (the simulator's: caller's last speech frame -> first reply frame),
and how often a caller heard the same question more than twice without an offer of the keypad or
a person. Writes JSON and a PNG (matplotlib, if installed). Phone runs take
/tmp/callflows-bench.lock like the other benchmarks.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import statistics
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from callers import judge as judging  # noqa: E402
from callers import personas as persona_gen  # noqa: E402
from callers import voices  # noqa: E402
from callers.policy import CallerState, next_move, unhelped_repeats  # noqa: E402
from load_test import pct  # noqa: E402

from callflows.speech.wer import wer  # noqa: E402
from tests.fixtures.twilio import FakeTwilioApi  # noqa: E402 - Twilio's REST API, as the tests play it

TZ = ZoneInfo("America/New_York")
LOCK = Path("/tmp/callflows-bench.lock")
NUMBERS = {"dental_clinic": "+15550100000", "retail_bank": "+15550100300", "hotel": "+15550100400"}
VERTICALS = list(NUMBERS)
QUICK_TEXT = ("c001", "c004", "c007", "c011", "c013", "c015")  # book, reschedule, hours, lost card, hotel x2
QUICK_PHONE = ("c007", "c011")  # opening hours (dental), lost card (bank): short calls, for CI


# --------------------------------------------------------------------------- text mode


def load_modules() -> dict[str, Any]:
    from callflows.verticals import load_vertical

    return {v: load_vertical(v) for v in VERTICALS}


def action_modules(loaded: dict[str, Any]) -> dict[str, Any]:
    return {v: sys.modules[f"callflows_vertical_{v}_actions"] for v in loaded}


def _reply_text(reply: Any) -> str:
    if reply.sentences is not None:
        return " ".join(reply.sentences) or reply.text
    return reply.text


def text_call(p: persona_gen.Persona, vertical: Any, store: Any, now: datetime) -> dict[str, Any]:
    from callflows.dialogue.session import DialogueSession

    session = DialogueSession(vertical, store, now=now, channel="text")
    st = CallerState(p, now)
    text = _reply_text(session.start())
    log = []
    try:
        while True:
            move = next_move(st, text)
            log.append({"bot": text, "caller": move.label, "slot": move.slot, "said": move.say, "dtmf": move.dtmf})
            if move.hangup:
                break
            if move.dtmf:
                reply = session.handle_text(move.dtmf, source="dtmf")
            else:
                reply = session.handle_text(move.say or "", source="speech")
            text = _reply_text(reply)
            if st.done or reply.end_call or reply.transfer_to or session.state.ended:
                log.append({"bot": text, "caller": None})
                break
    finally:
        session.end()
    session.recorder.flush(attempts=3)
    return {"call_id": session.call_id, "log": log, "state": st}


def run_text(people: list[persona_gen.Persona], workdir: Path, now: datetime) -> list[dict[str, Any]]:
    from callflows.store import Store

    store = Store(f"sqlite:///{workdir}/text.db")
    store.upgrade()
    loaded = load_modules()
    modules = action_modules(loaded)
    out = []
    for p in people:
        t0 = time.time()
        rec = base_record(p, "text")
        try:
            seeded = judging.seed(store, p, modules, now)
            call = text_call(p, loaded[p.vertical], store, now)
            rec.update(judged(store, p, call["call_id"], seeded, None, call["log"], call["state"]))
        except Exception as exc:  # noqa: BLE001 - one broken call is a failed call, not a broken run
            rec.update(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc()[-800:])
        rec["wall_s"] = round(time.time() - t0, 2)
        out.append(rec)
        print(f"  text {p.pid} {p.vertical:13s} {p.task:12s} facts={rec.get('facts_ok')} "
              f"outcome={rec.get('outcome')} turns={rec.get('turns')} {rec.get('why', '')}", flush=True)
    store.dispose()
    return out


# --------------------------------------------------------------------------- phone mode


def start_phone_server(workdir: Path, twilio_api_base: str) -> tuple[Any, str, str]:
    import load_test

    db_url = f"sqlite:///{workdir}/phone.db"
    from callflows.store import Store, repo

    store = Store(db_url)
    store.upgrade()
    with store.session() as s:
        for vertical, number in NUMBERS.items():
            repo.upsert_phone_number(s, number, vertical)
    store.dispose()
    proc, url = load_test.start_server(workdir, db_url, threads=16, twilio_api_base=twilio_api_base)
    return proc, url, db_url


def phone_call(p: persona_gen.Persona, url: str, store: Any, modules: dict[str, Any], transcriber: Any,
               now: datetime, seed: int) -> dict[str, Any]:
    import load_test
    from callers.phone import GoalCall

    rec = base_record(p, "phone")
    rng = random.Random(f"{seed}-{p.pid}")
    try:
        seeded = judging.seed(store, p, modules, now)
        sim = GoalCall(url, auth_token=load_test.TOKEN, to_number=NUMBERS[p.vertical], from_number=p.e164)
        st = CallerState(p, now)
        res = sim.converse(st, transcriber, rng)
        wait_finished(store, sim.call_sid)
        rec.update(judged(store, p, None, seeded, sim.call_sid, res["log"], st))
        rec.update(latencies_ms=res["latencies_ms"], fillers=res["fillers"], max_gap_ms=res["max_gap_ms"])
    except Exception as exc:  # noqa: BLE001
        rec.update(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc()[-800:])
    return rec


def wait_finished(store: Any, call_sid: str, timeout: float = 20.0) -> None:
    from sqlalchemy import select

    from callflows.store.models import Call

    deadline = time.time() + timeout
    while time.time() < deadline:
        with store.session() as s:
            call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
            if call is not None and call.ended_at is not None:
                return
        time.sleep(0.3)


def run_phone(people: list[persona_gen.Persona], workdir: Path, now: datetime, concurrency: int,
              seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import load_test
    from concurrent.futures import ThreadPoolExecutor

    from callers.phone import BotTranscriber

    from callflows.store import Store

    for p in people:  # synthesise what can be synthesised before any timing
        for line in prewarm_lines(p):
            voices.clean_speech(line, p.voice)
    transcriber = BotTranscriber()
    modules = action_modules(load_modules())
    # Twilio's REST API answers the transfers (a <Dial> for an emergency), as the cloud would; the
    # judge then reads the transfer from the call record (a refused transfer is recorded as failed)
    with FakeTwilioApi() as twilio_api:
        proc, url, db_url = start_phone_server(workdir, twilio_api.base_url)
        store = Store(db_url)
        out: list[dict[str, Any]] = []
        t0 = time.time()
        try:
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                for rec in pool.map(lambda p: phone_call(p, url, store, modules, transcriber, now, seed), people):
                    out.append(rec)
                    print(f"  phone {rec['pid']} {rec['vertical']:13s} {rec['task']:12s} {rec['voice']:22s} "
                          f"facts={rec.get('facts_ok')} outcome={rec.get('outcome')} turns={rec.get('turns')} "
                          f"{rec.get('why', '')}{rec.get('error', '')}", flush=True)
        finally:
            load_test.stop(proc, 20)
            store.dispose()
    return out, {"wall_s": round(time.time() - t0, 1), "server_log": str(workdir / "server.log")}


def prewarm_lines(p: persona_gen.Persona) -> list[str]:
    """The persona's likely lines, synthesised before the calls (the rest is made on the fly)."""
    from callers.policy import opening

    return [opening(CallerState(p, datetime.now(TZ))).say or "", "yes please", "no thanks, goodbye"]


# --------------------------------------------------------------------------- judging and records


def base_record(p: persona_gen.Persona, mode: str) -> dict[str, Any]:
    return {"pid": p.pid, "mode": mode, "vertical": p.vertical, "task": p.task, "style": p.style,
            "voice": p.voice, "family": voices.family_of(p.voice), "human_digits": p.human_digits,
            "keypad": p.keypad, "facts_ok": False, "outcome_ok": False, "turns": 0}


def judged(store: Any, p: persona_gen.Persona, call_id: str | None, seeded: dict[str, Any], sid: str | None,
           log: list[dict[str, Any]], st: CallerState) -> dict[str, Any]:
    verdict = judging.judge(store, p, call_id, seeded, sid)
    sent = [e for e in log if e.get("caller") and e["caller"] != "[hang up]"]
    heard = judging.caller_turns(store, verdict["call_id"]) if verdict["call_id"] else []
    return {**verdict, "turns": len(sent), "unhelped_repeats": unhelped_repeats(st),
            "asks": dict(st.asks), "wer_pairs": wer_pairs(sent, heard), "stored_caller_turns": len(heard),
            "dialogue": [{"bot": e.get("bot"), "caller": e.get("caller")} for e in log]}


def align(said: list[str], heard: list[str]) -> list[tuple[int, int]]:
    """Pairs (i, j) of caller lines and stored caller turns, in order, by least total word error
    (a line the server never stored, or a stored turn the caller never sent, is left out)."""
    n, m = len(said), len(heard)
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    back = [[""] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0], back[i][0] = float(i), "up"
    for j in range(1, m + 1):
        cost[0][j], back[0][j] = float(j), "left"
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            options = [(cost[i - 1][j - 1] + min(1.5, wer(said[i - 1], heard[j - 1])), "diag"),
                       (cost[i - 1][j] + 1.0, "up"), (cost[i][j - 1] + 1.0, "left")]
            cost[i][j], back[i][j] = min(options)
    pairs, i, j = [], n, m
    while i > 0 or j > 0:
        step = back[i][j]
        if step == "diag":
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif step == "up":
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def wer_pairs(sent: list[dict[str, Any]], heard: list[tuple[str, Any]]) -> list[list[Any]]:
    """[slot type, said, stored] for every spoken caller line matched to a stored caller turn
    (keys are left out; a turn stored masked as personal data is ["masked", said, stored, slot])."""
    spoken = [e for e in sent if not e.get("dtmf")]
    stored = [text or "" for text, _extra in heard if not (text or "").startswith("[keys")]
    pairs = []
    for i, j in align([e.get("said") or "" for e in spoken], stored):
        entry, text = spoken[i], stored[j]
        if "[redacted]" in text:
            pairs.append(["masked", entry.get("said"), text, entry["slot"]])
        else:
            pairs.append([entry["slot"], entry.get("said"), text])
    return pairs


# --------------------------------------------------------------------------- summary


def group_stats(recs: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(recs)
    lat = [x for r in recs for x in r.get("latencies_ms", [])]
    tasks_done = [r["turns"] for r in recs if r.get("facts_ok")]
    named = [r["booked_name"] for r in recs if r.get("booked_name")]
    return {
        "calls": n,
        "facts_ok": sum(1 for r in recs if r.get("facts_ok")),
        "outcome_ok": sum(1 for r in recs if r.get("outcome_ok")),
        "facts_rate": round(sum(1 for r in recs if r.get("facts_ok")) / n, 3) if n else None,
        "outcome_rate": round(sum(1 for r in recs if r.get("outcome_ok")) / n, 3) if n else None,
        "turns_mean": round(statistics.mean(r["turns"] for r in recs), 1) if n else None,
        "turns_per_success": round(statistics.mean(tasks_done), 1) if tasks_done else None,
        "transfers": sum(1 for r in recs if r.get("transferred")),
        "unhelped_repeats": sum(r.get("unhelped_repeats", 0) for r in recs),
        "errors": sum(1 for r in recs if r.get("error")),
        "latency_p50_ms": pct(lat, 50), "latency_p90_ms": pct(lat, 90), "latency_p95_ms": pct(lat, 95),
        "latency_turns": len(lat),
        # issue 20's name target: each new booking's stored name close to the truth, or flagged
        "bookings_stored": len(named),
        "names_close": sum(1 for b in named if b["close"]),
        "names_close_or_flagged": sum(1 for b in named if b["close"] or b["flagged"]),
    }


def wer_by_slot(recs: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[float]] = defaultdict(list)
    masked: dict[str, int] = defaultdict(int)
    for r in recs:
        for pair in r.get("wer_pairs", []):
            if pair[0] == "masked":
                masked[pair[3]] += 1
            elif pair[1]:
                by[pair[0]].append(wer(pair[1], pair[2] or ""))
    return {"wer": {k: {"turns": len(v), "wer": round(statistics.mean(v), 3)} for k, v in sorted(by.items())},
            "masked_turns": dict(masked)}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in sorted({r["mode"] for r in records}):
        recs = [r for r in records if r["mode"] == mode]
        out[mode] = {
            "all": group_stats(recs),
            "by_vertical": {v: group_stats([r for r in recs if r["vertical"] == v]) for v in VERTICALS
                            if any(r["vertical"] == v for r in recs)},
            "by_family": {f: group_stats([r for r in recs if r["family"] == f]) for f in voices.FAMILIES
                          if any(r["family"] == f for r in recs)},
            "by_task": {t: group_stats([r for r in recs if r["task"] == t])
                        for t in dict.fromkeys(r["task"] for r in recs)},
            "fsdd_digits": group_stats([r for r in recs if r.get("human_digits")]),
            "wer_by_slot": wer_by_slot(recs),
        }
    return out


def _row(label: str, g: dict[str, Any]) -> str:
    def f(x: Any) -> str:
        return "-" if x is None else str(x)

    return (f"| {label} | {g['calls']} | {g['facts_ok']} ({100 * (g['facts_rate'] or 0):.0f} %) | "
            f"{g['outcome_ok']} ({100 * (g['outcome_rate'] or 0):.0f} %) | {f(g['turns_mean'])} | "
            f"{g['transfers']} | {g['unhelped_repeats']} | {f(g['latency_p50_ms'])} / {f(g['latency_p95_ms'])} |")


def print_table(summary: dict[str, Any]) -> None:
    head = ("| group | calls | facts right | outcome only | turns | transfers | repeated >2x, no help | "
            "latency p50 / p95 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode, s in summary.items():
        print(f"\n{mode}\n{head}")
        print(_row("all", s["all"]))
        for v, g in s["by_vertical"].items():
            print(_row(v, g))
        for fam, g in s["by_family"].items():
            print(_row(f"voice: {fam}", g))
        for task, g in s["by_task"].items():
            print(_row(f"task: {task}", g))
        a = s["all"]
        print(f"new bookings stored: {a['bookings_stored']}; name close to the truth: {a['names_close']}; "
              f"close or flagged unverified: {a['names_close_or_flagged']}")
        w = s["wer_by_slot"]
        if mode == "phone":
            print("WER by slot: " + ", ".join(f"{k} {v['wer']:.2f} ({v['turns']})" for k, v in w["wer"].items())
                  + f"; stored masked (not scored): {w['masked_turns']}")


def plot(summary: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    modes = list(summary)
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        groups = {**summary[mode]["by_vertical"], **{f"voice {k}": v for k, v in summary[mode]["by_family"].items()}}
        labels = list(groups)
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], [100 * (g["facts_rate"] or 0) for g in groups.values()], 0.4, label="facts right")
        ax.bar([x + 0.2 for x in xs], [100 * (g["outcome_rate"] or 0) for g in groups.values()], 0.4,
               label="outcome only")
        ax.set_xticks(list(xs), labels, rotation=30, ha="right")
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of calls")
        ax.set_title(f"{mode} ({summary[mode]['all']['calls']} calls)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


# --------------------------------------------------------------------------- main


def pick_phone(people: list[persona_gen.Persona], n: int) -> list[persona_gen.Persona]:
    """``n`` personas for the phone, spread over every task and voice family (round robin by task)."""
    by_task: dict[str, list[persona_gen.Persona]] = defaultdict(list)
    for p in people:
        by_task[(p.vertical, p.task, p.style)].append(p)
    picked: list[persona_gen.Persona] = []
    while len(picked) < min(n, len(people)):
        for queue in by_task.values():
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return sorted(picked, key=lambda p: p.pid)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["text", "phone", "both"], default="both")
    ap.add_argument("--callers", type=int, default=64, help="personas (text mode runs all of them)")
    ap.add_argument("--phone-callers", type=int, default=None, help="how many of them call by phone (default all)")
    ap.add_argument("--voices", nargs="+", default=voices.FAMILIES, choices=voices.FAMILIES)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--quick", action="store_true", help="CI: 6 callers in text, 2 short ones by phone")
    ap.add_argument("--only", nargs="*", default=None, help="persona ids to run (debugging)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/call_success.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.callers, args.phone_callers = 6, 2
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    now = datetime.now(TZ)
    have = voices.available()
    families = [f for f in args.voices if have.get(f)]
    for f in set(args.voices) - set(families):
        print(f"voice family {f} not installed: skipped")
    people = persona_gen.generate(args.callers, args.seed, now.date(), families, voices.VOICES)
    if args.quick:  # six tasks of the three verticals in text; two short ones by phone
        people = [p for p in persona_gen.generate(16, args.seed, now.date(), families, voices.VOICES)
                  if p.pid in QUICK_TEXT]
    if args.only:
        people = [p for p in people if p.pid in args.only]
    workdir = Path(tempfile.mkdtemp(prefix="callflows-call-success-"))
    records: list[dict[str, Any]] = []
    meta: dict[str, Any] = {"when": now.isoformat(timespec="seconds"), "seed": args.seed, "callers": len(people),
                            "voices": {f: voices.VOICES[f] for f in families}, "workdir": str(workdir),
                            "callflows": str(Path(sys.modules["callflows"].__file__).parent),
                            "commit": git_commit(), "concurrency": args.concurrency,
                            "escalation": os.environ.get("CALLFLOWS_ESCALATION", "auto")}
    if args.mode in ("text", "both"):
        print(f"text mode: {len(people)} callers")
        t0 = time.time()
        records += run_text(people, workdir, now)
        meta["text_wall_s"] = round(time.time() - t0, 1)
    if args.mode in ("phone", "both"):
        phone_people = pick_phone(people, args.phone_callers or len(people))
        if args.quick:
            phone_people = [p for p in people if p.pid in QUICK_PHONE]
        print(f"phone mode: {len(phone_people)} callers (load: {os.getloadavg()[0]:.2f})")
        with open(LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            recs, meta["phone"] = run_phone(phone_people, workdir, now, args.concurrency, args.seed)
            fcntl.flock(lock, fcntl.LOCK_UN)
        records += recs
    summary = summarise(records)
    print_table(summary)
    out = {"meta": meta, "summary": summary, "personas": [p.to_json() for p in people], "calls": records}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"JSON: {path}")
    plot(summary, path.with_suffix(".png"))
    return out


def git_commit() -> str | None:
    import subprocess

    done = subprocess.run(["git", "-C", str(Path(sys.modules["callflows"].__file__).parent), "rev-parse", "--short",
                           "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


if __name__ == "__main__":
    main()
