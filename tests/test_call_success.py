"""The call-success benchmark's machinery (bench/call_success.py --quick): personas, the caller
policy, text calls and real phone calls over the simulator's WebSocket, judging from the store,
the JSON. No success threshold: the dialogue is being improved, the numbers move."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from callers import personas, voices  # noqa: E402
from callers.policy import CallerState, classify, next_move  # noqa: E402

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=ZoneInfo("America/New_York"))


def test_personas_cover_every_task_and_family_with_names_not_in_the_code():
    people = personas.generate(64, 13, date(2026, 12, 3), voices.FAMILIES, voices.VOICES)
    assert len({(p.vertical, p.task, p.style) for p in people}) == len(personas.TASKS)
    assert {voices.family_of(p.voice) for p in people} == set(voices.FAMILIES)
    assert all(len(p.phone) == 10 and p.phone.isdigit() for p in people)
    code = " ".join(f.read_text(encoding="utf-8", errors="ignore").lower()
                    for d in ("callflows", "verticals") for f in (Path(__file__).parent.parent / d).rglob("*.py"))
    assert not [p.last for p in people if f" {p.last.lower()} " in code]
    assert personas.generate(8, 1, date(2026, 12, 3), ["espeak"], voices.VOICES)[3].full_name == \
        personas.generate(8, 1, date(2026, 12, 3), ["espeak"], voices.VOICES)[3].full_name


def test_policy_answers_what_is_asked_and_corrects_a_wrong_read_back():
    p = personas.generate(16, 13, date(2026, 12, 3), ["espeak"], voices.VOICES)[2]  # a "correction" caller
    st = CallerState(p, NOW)
    assert next_move(st, "How can I help you today?").say
    assert classify("Can I have your first and last name, please?") == "name"
    assert p.full_name in next_move(st, "Can I have your first and last name, please?").say
    slip = next_move(st, "And what time on Friday, December 11?")
    assert slip.slot == "time"
    day = p.day.strftime("%A, %B ") + str(p.day.day)
    wrong = f"So that's a {p.visit} with Dr. Patel on {day} at {p.slip_at[0] % 12 or 12}:{p.slip_at[1]:02d} " \
            f"{'AM' if p.slip_at[0] < 12 else 'PM'}, for {p.full_name}. Shall I book it?"
    fix = next_move(st, wrong)
    assert fix.say.startswith("no") and fix.slot == "time"
    assert next_move(st, "Would you like me to connect you with a person?").say == "no thanks, let's keep going"
    assert next_move(st, "Is there anything else I can help you with?").say == "no thanks, goodbye"
    assert st.done
    # a misheard opening answered as a question, the task never under way: asked for again
    fresh = CallerState(p, NOW)
    next_move(fresh, "How can I help you today?")
    assert next_move(fresh, "We're open Monday to Friday. Is there anything else I can help you with?").say.startswith("yes, ")
    assert not fresh.done
    next_move(fresh, "You're all set. Your cleaning is booked for Friday.")
    assert next_move(fresh, "Is there anything else I can help you with?").say == "no thanks, goodbye"
    # a spelled read-back with a word of the ear's between "spelled" and the letters is still checked
    spelled = CallerState(p, NOW)
    next_move(spelled, "How can I help you today?")
    wrong_first = "X" + p.first[1:] if p.first[0].lower() != "x" else "Q" + p.first[1:]
    letters = "-".join(("Zq" + wrong_first).upper())
    no = next_move(spelled, f"I have {p.full_name}. Spell best, {letters}. Is that right?")
    assert no.say.startswith("no, it's") and no.slot == "spelling"


@pytest.mark.timeout(900)  # the phone server's start-up synthesises every vertical's sentences once
@pytest.mark.skipif(not shutil.which("espeak-ng") or not shutil.which("sox"), reason="needs espeak-ng and sox")
def test_quick_benchmark_text_and_phone(tmp_path):
    import call_success

    out_path = tmp_path / "call_success_quick.json"
    out = call_success.main(["--quick", "--out", str(out_path)])
    data = json.loads(out_path.read_text())
    calls = data["calls"]
    assert {c["mode"] for c in calls} == {"text", "phone"}
    assert len([c for c in calls if c["mode"] == "text"]) == 6
    assert len([c for c in calls if c["mode"] == "phone"]) == 2
    for c in calls:
        assert not c.get("error"), c.get("trace")
        assert c["call_id"], c  # judged from a stored call record
        assert isinstance(c["facts_ok"], bool) and isinstance(c["outcome_ok"], bool)
        assert 1 <= c["turns"] <= 25
    for mode in ("text", "phone"):
        s = out["summary"][mode]["all"]
        assert 0 <= s["facts_rate"] <= 1 and 0 <= s["outcome_rate"] <= 1
    phone = out["summary"]["phone"]["all"]
    assert phone["latency_turns"] > 0 and 0 < phone["latency_p50_ms"] < 10_000
    assert any(c["dialogue"][0]["bot"] for c in calls if c["mode"] == "phone")  # the bot's audio was transcribed
