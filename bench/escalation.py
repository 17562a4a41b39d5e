"""Escalation benchmark: scripted calls (routine and high-value, three verticals) through
DialogueSession with the real LLM; share of calls and turns that reached the LLM, task success
per route, LLM seconds per call, and the phone-level silence (callflows.telephony.silence,
when the phone side provides it).

    .venv/bin/python bench/escalation.py [--role small] [--calls 54]

Holds /tmp/callflows-bench.lock for the whole run; writes bench/results/escalation.json and
appends its figures to bench/README.md (section "Escalation").
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callflows.dialogue import DialogueSession  # noqa: E402
from callflows.escalation import for_vertical  # noqa: E402
from callflows.store import Store  # noqa: E402
from callflows.verticals import load_vertical  # noqa: E402

NOW = {"retail_bank": datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/Chicago")),
       "dental_clinic": datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York")),
       "hotel": datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York"))}
PEOPLE = {
    "jordan": ("jordan ellis", "july fourteenth nineteen eighty eight", "four four one seven"),
    "samuel": ("samuel okafor", "november thirtieth nineteen ninety two", "#dtmf 3158#"),
    "priya": ("my name is priya raman", "february third nineteen seventy five", "nine zero two three"),
    "linda": ("linda chen", "may twenty first nineteen sixty", "seven seven zero two"),
}
FRUSTRATED = ["this is ridiculous, my card keeps getting declined", "i'm fed up, nobody can tell me where my money went",
              "this is useless, i have been waiting for ages"]
PERSON = ["let me talk to someone", "i want to speak to a real person", "can you put me through to a human"]
COMPLAINT = ["i want to make a complaint about my last visit", "i'd like to file a complaint"]


@dataclasses.dataclass
class Script:
    vertical: str
    kind: str  # what it is
    expect: str  # stay / llm / person
    lines: list[str]
    success: str  # how success is judged (see judge())


def scripts(n: int, rng: random.Random) -> list[Script]:
    out: list[Script] = []
    templates = [
        lambda: Script("retail_bank", "balance", "stay",
                       ["what's my balance", *PEOPLE[rng.choice(["jordan", "samuel"])], "checking", "no thanks"], "balance_given"),
        lambda: Script("retail_bank", "transactions", "stay",
                       ["what are my recent transactions", *PEOPLE["jordan"], "checking", "no thanks"], "transactions_given"),
        lambda: Script("retail_bank", "lost card, standard", "stay",
                       ["i lost my card", *PEOPLE["jordan"]], "card_frozen"),
        lambda: Script("retail_bank", "lost card, high value", "llm",
                       [rng.choice(["i lost my card", "someone stole my card"]), *PEOPLE[rng.choice(["priya", "linda"])],
                        "yes please freeze my cards now"], "cards_frozen"),
        lambda: Script("retail_bank", "frustrated", "llm", [rng.choice(FRUSTRATED), "it happened at the grocery store"], "llm_answered"),
        lambda: Script("retail_bank", "asks for a person", "person", [rng.choice(PERSON)], "transferred"),
        lambda: Script("dental_clinic", "booking", "stay",
                       ["hi i'd like to book a cleaning", "doctor nguyen", "next monday", "ten thirty",
                        "my name is sam carter", "555 010 2233", "yes", "no thanks"], "appointment_booked"),
        lambda: Script("dental_clinic", "complaint", "person", [rng.choice(COMPLAINT)], "transferred"),
        lambda: Script("dental_clinic", "frustrated", "llm", ["this is ridiculous, i have called three times about my bill"], "llm_answered"),
        lambda: Script("hotel", "question", "stay", ["what time is check in", "no thanks"], "no_transfer"),
        lambda: Script("hotel", "complaint", "person", [rng.choice(COMPLAINT)], "transferred"),
        lambda: Script("hotel", "frustrated", "llm", ["i'm fed up, the booking website is useless"], "llm_answered"),
    ]
    while len(out) < n:
        for make in templates:
            if len(out) < n:
                out.append(make())
    return out


def judge(script: Script, session: DialogueSession, replies: list, store: Store) -> bool:
    st = session.state
    outcomes = set(st.outcomes)
    if script.success == "transferred":
        return bool(st.transferred_to)
    if script.success == "llm_answered":  # the LLM answered in its own words (not the holding line)
        return any(getattr(r, "sentences_spoken", None) and r.sentences_spoken != [session.escalation.spec.holding_line]
                   for r in replies)
    if script.success == "cards_frozen":
        from callflows_verticals.retail_bank import bank as bank_repo

        cid = st.slots.get("customer_id")
        if not isinstance(cid, int):
            return False
        with store.session() as s:
            return all(c.status == "frozen" for c in bank_repo.cards_of(s, cid))
    if script.success == "no_transfer":
        return not st.transferred_to
    return script.success in outcomes


def run_call(script: Script, vertical, spec, store: Store, silence) -> dict:  # noqa: ANN001
    session = DialogueSession(vertical, store, now=NOW[script.vertical], escalation=spec)
    replies = [session.start()]
    llm_turns = 0
    events: list[dict] = []
    for line in script.lines:
        if session.state.ended:
            break
        t0 = time.perf_counter()
        reply = session.handle_text(line[6:], source="dtmf") if line.startswith("#dtmf ") else session.handle_text(line)
        reply.sentences_spoken = None
        if reply.sentences is not None:
            llm_turns += 1
            spoken = []
            for sentence in reply.sentences:
                events.append({"t": time.perf_counter() - t0, "first": not spoken})
                spoken.append(sentence)
            reply.sentences_spoken = spoken
        replies.append(reply)
    if not session.state.ended:
        session.end("script_ended")
    esc = session.escalation
    route = esc.route if esc else "stay"  # the escalation route decided (a routine transfer is still "stay")
    return {
        "vertical": script.vertical, "kind": script.kind, "expected": script.expect, "route": route,
        "turns": len(script.lines), "llm_turns": llm_turns, "transferred": bool(session.state.transferred_to),
        "llm_seconds": round(esc.budget.call.seconds, 2) if esc else 0.0,
        "llm_tokens": esc.budget.call.tokens if esc else 0,
        "success": judge(script, session, replies, store),
        "reasons": list(esc.decision.reasons) if esc else [],
        # text level: from the caller's turn to the first LLM sentence (what the phone side masks)
        "first_sentence_ms": round(max(first) * 1000) if (first := [e["t"] for e in events if e.get("first")]) else None,
        "longest_silence_ms": None,  # needs the played audio: callflows.telephony.silence on a SimulatedCall
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", default="escalation", help="LLM role for the escalation route (escalation = 1.5B, small = 0.5B)")
    ap.add_argument("--calls", type=int, default=54)
    ap.add_argument("--timeout", type=float, default=None, help="seconds per LLM turn (default: escalation.yaml)")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()
    silence = None  # phone-level: needs audio frames (see render())
    with open("/tmp/callflows-bench.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tmp = tempfile.mkdtemp(prefix="callflows-bench-esc-")
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.upgrade()
        verticals, specs = {}, {}
        for name in ("retail_bank", "dental_clinic", "hotel"):
            verticals[name] = load_vertical(name, store)
            spec = for_vertical(verticals[name])
            llm = dataclasses.replace(spec.llm, role=args.role, **({"timeout_s": args.timeout} if args.timeout else {}))
            specs[name] = dataclasses.replace(spec, llm=llm, budget=dataclasses.replace(spec.budget, day_seconds=0))
        from callflows.llm import get_llm

        t_load = time.perf_counter()
        llm_name = get_llm(args.role).name
        load_s = time.perf_counter() - t_load
        rows = []
        started = time.perf_counter()
        for i, script in enumerate(scripts(args.calls, random.Random(7)), 1):
            # each call on its own fresh database: an earlier call's booking, lockout or frozen card must
            # not decide whether this one succeeds
            call_store = Store(f"sqlite:///{tmp}/call{i}.db")
            call_store.upgrade()
            row = run_call(script, verticals[script.vertical], specs[script.vertical], call_store, silence)
            call_store.dispose()
            rows.append(row)
            print(f"{i:3d} {row['vertical']:14s} {row['kind']:24s} expected {row['expected']:6s} got {row['route']:6s} "
                  f"llm {row['llm_seconds']:6.1f}s {'ok' if row['success'] else 'FAIL'}", flush=True)
        wall = time.perf_counter() - started
    summary = summarise(rows)
    result = {"date": datetime.now().date().isoformat(), "llm_role": args.role, "llm": llm_name,
              "model_load_s": round(load_s, 1), "wall_s": round(wall, 1), "summary": summary, "calls": rows,
              "silence": "not measured (text-level run, no audio frames)"}
    out = ROOT / "bench" / "results" / "escalation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    table = render(result)
    print(table)
    if not args.no_readme:
        with open(ROOT / "bench" / "README.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + table + "\n")


def summarise(rows: list[dict]) -> dict:
    calls = len(rows)
    turns = sum(r["turns"] for r in rows)
    out = {"calls": calls, "turns": turns,
           "calls_reaching_llm": sum(1 for r in rows if r["llm_turns"]),
           "turns_reaching_llm": sum(r["llm_turns"] for r in rows),
           "routed_as_expected": sum(1 for r in rows if r["route"] == r["expected"]),
           "routine_calls_reaching_llm": sum(1 for r in rows if r["expected"] == "stay" and r["llm_turns"]),
           "per_route": {}}
    for route in ("stay", "llm", "person"):
        sel = [r for r in rows if r["route"] == route]
        llm_s = [r["llm_seconds"] for r in sel if r["llm_turns"]]
        sil = [r["longest_silence_ms"] for r in sel if r["longest_silence_ms"] is not None]
        firsts = [r["first_sentence_ms"] for r in sel if r["first_sentence_ms"] is not None]
        out["per_route"][route] = {
            "calls": len(sel), "success": sum(1 for r in sel if r["success"]),
            "llm_seconds_per_call": round(sum(llm_s) / len(llm_s), 2) if llm_s else 0.0,
            "llm_seconds_max": round(max(llm_s), 2) if llm_s else 0.0,
            "longest_silence_ms": max(sil) if sil else None,
            "first_llm_sentence_ms_max": max(firsts) if firsts else None,
        }
    return out


def render(result: dict) -> str:
    s = result["summary"]
    lines = [f"## Escalation ({result['date']}, this 2-core VM, LLM role `{result['llm_role']}` = {result['llm']}, "
             f"{s['calls']} scripted calls)", "",
             f"Calls reaching the LLM: {s['calls_reaching_llm']}/{s['calls']} "
             f"({100 * s['calls_reaching_llm'] / max(1, s['calls']):.0f} %); turns: {s['turns_reaching_llm']}/{s['turns']} "
             f"({100 * s['turns_reaching_llm'] / max(1, s['turns']):.0f} %). Routine calls reaching the LLM: "
             f"{s['routine_calls_reaching_llm']}. Routed as the script expected: {s['routed_as_expected']}/{s['calls']}. "
             f"Model load {result['model_load_s']} s, run {result['wall_s']} s.", "",
             "| route | calls | task success | LLM s per call (mean) | LLM s (max) | caller turn to first LLM sentence (max) | longest phone silence |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for route, r in s["per_route"].items():
        sil = f"{r['longest_silence_ms']} ms" if r["longest_silence_ms"] is not None else "not measured"
        first = f"{r['first_llm_sentence_ms_max']} ms" if r["first_llm_sentence_ms_max"] is not None else "-"
        lines.append(f"| {route} | {r['calls']} | {r['success']}/{r['calls']} | {r['llm_seconds_per_call']} | "
                     f"{r['llm_seconds_max']} | {first} | {sil} |")
    lines += ["", "Phone silence is measured on played audio (callflows.telephony.silence.longest_silence_ms over a "
              "SimulatedCall's frames); this text-level run has no audio, so it says 'not measured'. "
              "'stay' calls have no LLM seconds by construction."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
