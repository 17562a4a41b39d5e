"""Barge-in benchmark: does talking over the bot stop it exactly when it should?

A labelled set of overlaps: backchannels ("uh-huh", "okay", "right", ...) that must never
stop the bot, and real interruptions ("no wait", "stop", "hold on", a question) that must
stop it (a `clear`) and be handled as the caller's turn. Each is one call against a real
`callflows serve` (Piper, Whisper tiny.en) through the Twilio simulator: the caller's
espeak-ng voice starts `barge_in_ms` into the bot's greeting (three offsets, two voices).

    .venv/bin/python bench/barge_in.py [--out bench/results/barge_in.json]

Prints a table (backchannels that stopped the bot %, real interruptions missed %) and
writes JSON with every overlap. Holds /tmp/callflows-bench.lock while it runs.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import select  # noqa: E402

from callflows.speech.caller_voice import caller_audio  # noqa: E402
from callflows.store import Store  # noqa: E402
from callflows.store.models import Call, Turn  # noqa: E402
from callflows.telephony.simulator import SimulatedCall, Step  # noqa: E402
from phone_latency import LOCK, TOKEN, start_server, stop_server  # noqa: E402

BACKCHANNELS = ["uh-huh", "mm-hmm", "okay", "right", "yeah", "yep", "i see", "got it", "okay okay", "alright"]
INTERRUPTIONS = ["no wait", "stop", "hold on", "no no", "that's wrong", "wait", "sorry what",
                 "what are your opening hours", "i need to cancel my appointment", "can you repeat that"]
VOICES = [("en-us", 150), ("en-gb", 130)]
OFFSETS_MS = [1000, 2500, 4500]  # into the greeting (about 10 s of speech)


def overlaps() -> list[dict]:
    items = []
    for label, phrases in (("backchannel", BACKCHANNELS), ("interruption", INTERRUPTIONS)):
        for i, phrase in enumerate(phrases):
            for j, (voice, speed) in enumerate(VOICES):
                items.append({"label": label, "phrase": phrase, "voice": voice, "speed": speed,
                              "barge_in_ms": OFFSETS_MS[(i + j) % len(OFFSETS_MS)]})
    return items


def caller_turns(store: Store, call_sid: str) -> list[str]:
    deadline = time.time() + 10
    while True:
        with store.session() as s:
            call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
            if call is not None and (call.ended_at is not None or time.time() > deadline):
                return [t.text for t in s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq))
                        if t.speaker == "caller"]
        time.sleep(0.3)


def run_one(url: str, store: Store, item: dict) -> dict:
    sim = SimulatedCall(url, auth_token=TOKEN,
                        voice=lambda text: caller_audio(text, voice=item["voice"], speed=item["speed"]))
    result = sim.run([Step(say=item["phrase"], barge_in_ms=item["barge_in_ms"])], linger_s=0.5)
    heard = caller_turns(store, sim.call_sid)
    stopped = result.clears > 0
    clear_ms = None
    if stopped and result.caller_speech:
        clear_ms = round((result.clear_times[0] - result.caller_speech[0][0]) * 1000)
    return {**item, "stopped": stopped, "clear_after_ms": clear_ms, "caller_turns": heard,
            "handled": bool(heard)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench/results/barge_in.json"))
    args = ap.parse_args()
    lock = open(LOCK, "a")  # noqa: SIM115 - held for the whole run
    fcntl.flock(lock, fcntl.LOCK_EX)
    workdir = Path(tempfile.mkdtemp(prefix="callflows-barge-"))
    proc = None
    items = overlaps()
    try:
        for item in items:  # synthesise the caller audio before any call
            caller_audio(item["phrase"], voice=item["voice"], speed=item["speed"])
        proc, url = start_server(workdir)
        store = Store(f"sqlite:///{workdir}/bench.db")
        rows = []
        for item in items:
            row = run_one(url, store, item)
            rows.append(row)
            print(f"{row['label']:<12} {row['phrase']:<32} {row['voice']:<6} {row['barge_in_ms']:>5} ms  "
                  f"stopped={row['stopped']!s:<5} handled={row['caller_turns']}", flush=True)
        back = [r for r in rows if r["label"] == "backchannel"]
        real = [r for r in rows if r["label"] == "interruption"]
        summary = {
            "backchannels": len(back),
            "backchannels_that_stopped_the_bot_pct": round(100 * sum(r["stopped"] for r in back) / len(back), 1),
            "backchannels_taken_as_a_turn_pct": round(100 * sum(r["handled"] for r in back) / len(back), 1),
            "interruptions": len(real),
            "interruptions_missed_pct": round(100 * sum(not r["stopped"] for r in real) / len(real), 1),
            "interruptions_not_handled_pct": round(100 * sum(not r["handled"] for r in real) / len(real), 1),
            "clear_after_speech_start_p50_ms": statistics.median(
                [r["clear_after_ms"] for r in real if r["clear_after_ms"] is not None] or [0]),
        }
        out = {"summary": summary, "overlaps": rows, "machine": f"{os.cpu_count()} cores",
               "load_before": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
        print()
        print(f"{'overlaps':<40} {'n':>3} {'result':>8}")
        print(f"{'backchannels that stopped the bot':<40} {len(back):>3} {summary['backchannels_that_stopped_the_bot_pct']:>7}%")
        print(f"{'backchannels taken as a turn':<40} {len(back):>3} {summary['backchannels_taken_as_a_turn_pct']:>7}%")
        print(f"{'real interruptions missed (no clear)':<40} {len(real):>3} {summary['interruptions_missed_pct']:>7}%")
        print(f"{'real interruptions not handled':<40} {len(real):>3} {summary['interruptions_not_handled_pct']:>7}%")
        print(f"clear after the caller began: p50 {summary['clear_after_speech_start_p50_ms']} ms; JSON: {args.out}")
    finally:
        stop_server(proc)
        lock.close()


if __name__ == "__main__":
    main()
