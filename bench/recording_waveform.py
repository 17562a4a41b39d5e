"""One recorded call's waveform, both channels, with the muted spans marked (issue 17, item 2).

A whole phone call as tests/test_recording.py places it: the real phone server (Flask, a real
WebSocket, Whisper, Piper, the retail bank's flow with recording on), Twilio's REST API stood in
by the tests' FakeTwilioApi, and the simulated Twilio caller speaking espeak-ng audio with its
keypad keys sounding in the audio as on a real line. The caller consents, asks for the balance,
gives a name and a date of birth, confirms the read-back, keys the last four SSN digits and names
the account. The stored recording is then read back as QA would get it: the file decrypted with
the product's vault (CALLFLOWS_RECORDING_KEY), the WAV decoded with the product's reader, and its
redaction spans from the store.

Written:
* a picture of both channels with the muted spans shaded, drawn by the product's own
  ``callflows.recordings.plot.plot_recording`` (what ``callflows recordings plot`` draws), to --png
  (default docs/img/recording-waveform-call.png);
* printed: a text strip, one column per 100 ms, of each channel's loudness with the muted spans
  and the caller's steps marked under it, and a table of the spans with the loudness inside them;
* bench/results/recording_waveform.json: the spans, the steps, the per-100 ms levels, the checks.

No caller data is printed: steps are named by what they are ("date of birth"), never by what was
said; the recording's audio never leaves the temporary folder except as the picture.

    .venv/bin/python bench/recording_waveform.py [--png docs/img/recording-waveform-call.png]
        [--out bench/results/recording_waveform.json] [--width 100]

Takes /tmp/callflows-bench.lock (fcntl) for the call, like the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from admin.testing import copy_verticals  # noqa: E402
from bench.load_test import take_bench_lock  # noqa: E402
from callflows.config import Settings  # noqa: E402
from callflows.recordings.plot import plot_recording  # noqa: E402
from callflows.recordings.tape import RATE, RedactionJson, read_wav  # noqa: E402
from callflows.recordings.vault import RecordingVault, new_key  # noqa: E402
from callflows.server import create_app  # noqa: E402
from callflows.store import Store  # noqa: E402
from callflows.store.models import Call  # noqa: E402
from callflows.store.recordings import CallRecording  # noqa: E402
from callflows.telephony.simulator import SimResult, SimulatedCall, Step  # noqa: E402
from tests.fixtures.twilio import FakeTwilioApi, LiveServer  # noqa: E402

TOKEN = "bench-auth-token"
ACCOUNT = "AC" + "0" * 32
VERTICAL = "retail_bank"
RECORDING = {"enabled": True, "retention_days": 7, "answer_wait_s": 4,
             "consent_prompt": "This call may be recorded for quality. If you'd rather not be recorded, say no."}
# What the caller does, and what each step is called in the output (never its words).
STEPS: list[tuple[str, Step]] = [
    ("consent", Step(say="yes that's fine")),
    ("request", Step(say="i want to check my balance")),
    ("name", Step(say="my name is priya raman")),
    ("date of birth", Step(say="february third 1975")),
    ("read-back yes", Step(say="yes")),
    ("SSN keys", Step(dtmf="9023#")),
    ("account kind", Step(say="checking please")),
]
WINDOW_MS = 100
LEVELS = " .:-=+*#%@"  # quietest to loudest
FLOOR_DB, CEILING_DB = -60.0, -6.0
REASON_MARKS = {"pii_slot": "P", "personal_turn": "T", "keypad": "K", "bot_readback": "R"}


@dataclass(frozen=True)
class RecordedCall:
    wav: bytes
    redactions: list[RedactionJson]
    steps: list[tuple[str, int, int]]  # (step, start ms, end ms) on the recording's clock
    consent: str | None
    dialogue: list[tuple[str, str]]  # (bot's words as stored, masked | the caller turn's intent), in order


def place_call(tmp: Path) -> RecordedCall:
    """The call, on a server of its own in `tmp`; the recording as the store and the vault keep it."""
    verticals = copy_verticals(tmp / "verticals", (VERTICAL,))
    with (verticals / VERTICAL / "phone.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + yaml.safe_dump({"recording": RECORDING}))
    os.environ["CALLFLOWS_VERTICALS_DIR"] = str(verticals)
    store = Store(f"sqlite:///{tmp / 'callflows.db'}")
    store.upgrade()
    key = new_key()
    with FakeTwilioApi() as api:
        settings = replace(Settings(), twilio_auth_token=TOKEN, twilio_account_sid=ACCOUNT,
                           twilio_api_base=api.base_url, tts_cache_dir=tmp / "tts", silence_timeout_s=30.0,
                           default_vertical=VERTICAL, recording_keys=(key,), recordings_dir=tmp / "rec")
        app = create_app(settings, store)
        print("loading the models and caching the static sentences...", flush=True)
        app.extensions["callflows"].warm_up()
        with LiveServer(app) as server:
            sim = SimulatedCall(server.url, auth_token=TOKEN, keypad_tones=True)
            print(f"placing the call ({len(STEPS)} caller steps, in real time)...", flush=True)
            result = sim.run([step for _, step in STEPS])
            call_id, rec = _recording_of(store, sim.call_sid)
    wav = RecordingVault(tmp / "rec", (key,)).read(rec.file_name)  # decrypted with the product's vault
    from callflows.store.recordings import RecordingConsent

    from callflows.store import repo

    with store.session() as s:
        consent = s.get(RecordingConsent, call_id)
        answer = consent.answer if consent is not None else None
        call = repo.get_call(s, call_id)
        # the bot's words as the store keeps them (masked); of the caller, only the intent understood
        dialogue = [(t.speaker, t.text if t.speaker == "bot" else f"({t.intent or 'no intent'})")
                    for t in (call.turns if call is not None else [])]
    store.dispose()
    return RecordedCall(wav, list(rec.redactions), _step_spans(result), answer, dialogue)


def _recording_of(store: Store, call_sid: str, timeout_s: float = 30.0) -> tuple[str, CallRecording]:
    from sqlalchemy import select

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with store.session() as s:
            call = s.scalar(select(Call).where(Call.twilio_call_sid == call_sid))
            if call is not None and call.ended_at is not None:
                rec = s.scalar(select(CallRecording).where(CallRecording.call_id == call.id))
                if rec is not None:
                    s.expunge(rec)
                    return call.id, rec
        time.sleep(0.2)
    raise SystemExit("the call left no recording (consent not heard? see the server's log above)")


def _step_spans(result: SimResult) -> list[tuple[str, int, int]]:
    """The caller's steps on the recording's clock (ms from the stream's timestamp 0)."""
    origin = result.media_origin
    if origin is None:
        return []
    spoken = [name for name, step in STEPS if step.say]
    spans = [(name, int((a - origin) * 1000), int((b - origin) * 1000))
             for name, (a, b) in zip(spoken, result.caller_speech)]
    keyed = [(a, b) for a, b in result.keypad_tones]
    if keyed:
        spans.append(("SSN keys", int((keyed[0][0] - origin) * 1000), int((keyed[-1][1] - origin) * 1000)))
    return sorted(spans, key=lambda s: s[1])


def levels_db(samples: np.ndarray) -> list[float]:
    """RMS in dBFS per 100 ms window (-inf for digital silence)."""
    n = RATE * WINDOW_MS // 1000
    out = []
    for i in range(0, len(samples), n):
        window = samples[i:i + n].astype(np.float64) / 32768
        rms = math.sqrt(float(np.mean(window ** 2))) if len(window) else 0.0
        out.append(20 * math.log10(rms) if rms > 0 else -math.inf)
    return out


def level_char(db: float) -> str:
    if db == -math.inf:
        return " "
    frac = (min(max(db, FLOOR_DB), CEILING_DB) - FLOOR_DB) / (CEILING_DB - FLOOR_DB)
    return LEVELS[max(1, min(len(LEVELS) - 1, 1 + int(frac * (len(LEVELS) - 1))))]


def span_row(spans: list[tuple[int, int, str]], columns: int) -> str:
    row = [" "] * columns
    for start, end, mark in spans:
        for c in range(start // WINDOW_MS, min(columns, -(-end // WINDOW_MS))):
            row[c] = mark if row[c] in (" ", mark) else "*"
    return "".join(row)


def tick_row(lo: int, hi: int) -> str:
    """The second each 10th column starts at, written from that column."""
    row = [" "] * (hi - lo)
    for c in range(lo - lo % 10, hi, 10):
        for k, ch in enumerate(str(c // 10)):
            if lo <= c + k < hi:
                row[c + k - lo] = ch
    return "".join(row)


def ascii_strip(caller: list[float], bot: list[float], redactions: list[RedactionJson],
                steps: list[tuple[str, int, int]], width: int) -> str:
    """Rows per block of `width` columns (100 ms each): time, the caller's steps, the caller's level,
    its muted spans, the bot's level, its muted spans."""
    columns = max(len(caller), len(bot))
    muted = {ch: span_row([(int(r["start_ms"]), int(r["end_ms"]), REASON_MARKS.get(str(r["reason"]), "?"))
                           for r in redactions if r["channel"] == ch], columns) for ch in ("caller", "bot")}
    step_row = span_row([(a, b, str(i + 1)) for i, (_, a, b) in enumerate(steps)], columns)
    caller_row = "".join(level_char(db) for db in caller).ljust(columns)
    bot_row = "".join(level_char(db) for db in bot).ljust(columns)
    lines = []
    for lo in range(0, columns, width):
        hi = min(columns, lo + width)
        lines += [f"  s      |{tick_row(lo, hi)}",
                  f"  step   |{step_row[lo:hi]}",
                  f"  caller |{caller_row[lo:hi]}",
                  f"  muted  |{muted['caller'][lo:hi]}",
                  f"  bot    |{bot_row[lo:hi]}",
                  f"  muted  |{muted['bot'][lo:hi]}", ""]
    legend = [f"  one column = {WINDOW_MS} ms; level (RMS dBFS) '{LEVELS[1:]}' from {FLOOR_DB:g} to {CEILING_DB:g} dB, "
              "blank = digital silence",
              "  muted: " + ", ".join(f"{m} = {r}" for r, m in REASON_MARKS.items()) + " (* = two reasons overlap)",
              "  steps: " + ", ".join(f"{i + 1} = {name}" for i, (name, _, _) in enumerate(steps))]
    return "\n".join(lines + legend)


def span_report(samples: dict[str, np.ndarray], redactions: list[RedactionJson]) -> list[dict[str, object]]:
    """Each muted span: where, why, and the loudest sample inside it (0 = silent)."""
    rows = []
    for r in redactions:
        channel = samples[str(r["channel"])]
        lo, hi = int(r["start_ms"]) * RATE // 1000, int(r["end_ms"]) * RATE // 1000
        inside = channel[lo:hi]
        rows.append({"channel": r["channel"], "start_ms": int(r["start_ms"]), "end_ms": int(r["end_ms"]),
                     "reason": r["reason"], "peak_inside": int(np.abs(inside).max()) if len(inside) else 0})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--png", default=str(ROOT / "docs" / "img" / "recording-waveform-call.png"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "recording_waveform.json"))
    parser.add_argument("--width", type=int, default=100, help="columns (of 100 ms) per text row")
    parser.add_argument("--no-lock", action="store_true",
                        help="do not wait for the bench lock (only while what holds it measures no time: "
                             "this call is a few minutes of real-time CPU)")
    args = parser.parse_args()

    lock = None if args.no_lock else take_bench_lock()
    try:
        with tempfile.TemporaryDirectory(prefix="callflows-recording-") as tmp:
            call = place_call(Path(tmp))
    finally:
        if lock is not None:
            lock.close()

    caller, bot = read_wav(call.wav)  # the product's reader: left the caller, right the bot
    title = f"{VERTICAL} test call, recording decrypted and decoded: caller above, bot below, muted spans shaded"
    png = plot_recording(call.wav, call.redactions, args.png, title=title)
    caller_db, bot_db = levels_db(caller), levels_db(bot)
    spans = span_report({"caller": caller, "bot": bot}, call.redactions)

    print(f"\nrecording: {len(caller) / RATE:.1f} s, 2 channels at {RATE} Hz; consent: {call.consent}; "
          f"{len(call.redactions)} muted spans")
    print(ascii_strip(caller_db, bot_db, call.redactions, call.steps, args.width))
    print(f"\n  {'channel':<7} {'from s':>7} {'to s':>7}  {'reason':<14} loudest sample inside")
    for row in spans:
        print(f"  {row['channel']:<7} {row['start_ms'] / 1000:>7.2f} {row['end_ms'] / 1000:>7.2f}  "
              f"{row['reason']:<14} {row['peak_inside']}")
    spoken = []
    for name, a, b in call.steps:
        window = caller[a * RATE // 1000:b * RATE // 1000].astype(np.float64)
        rms = math.sqrt(float(np.mean(window ** 2))) if len(window) else 0.0
        spoken.append({"step": name, "start_ms": a, "end_ms": b, "caller_rms": round(rms, 1)})
    print(f"\n  {'step':<14} {'from s':>7} {'to s':>7}  caller RMS (int16) in the recording")
    for row in spoken:
        print(f"  {row['step']:<14} {row['start_ms'] / 1000:>7.2f} {row['end_ms'] / 1000:>7.2f}  {row['caller_rms']}")
    print("\n  the dialogue as stored (the bot's words masked by the product; the caller's turns by intent only):")
    for speaker, text in call.dialogue:
        print(f"  {speaker:<6} {text}")
    all_silent = all(row["peak_inside"] == 0 for row in spans)
    print(f"\nevery muted span is digital silence: {'yes' if all_silent else 'NO'}; picture: {png}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "vertical": VERTICAL, "duration_s": round(len(caller) / RATE, 2), "consent": call.consent,
        "window_ms": WINDOW_MS, "muted_spans": spans, "steps": spoken, "all_muted_spans_silent": all_silent,
        "dialogue": call.dialogue,
        "caller_db": [None if d == -math.inf else round(d, 1) for d in caller_db],
        "bot_db": [None if d == -math.inf else round(d, 1) for d in bot_db],
        "png": str(png),
    }, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
