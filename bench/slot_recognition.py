"""Slot answers over an 8 kHz phone line: which Whisper prompt, and does an n-best re-rank help?

Each caller answer (names that appear in no list, times, dates, phone numbers, counts, yes/no)
is spoken by espeak-ng, CMU flite and Piper callers (bench/callers/voices.py: telephone band,
level changes, line noise, mu-law), decoded by the product's Whisper recogniser, and judged by
whether what was heard *parses to the same value* as what was said (a name: rapidfuzz ratio
>= 0.85 on the full name). Configurations, all in one run:

* ``sample``: today's slot prompts (callflows/speech/bias.py), which contain sample values;
* ``described``: prompts that describe the slot in words and give no sample value;
* ``base``: the free-speech prompt for every turn;
* ``+nbest3``: a beam of 3, taking the first hypothesis that parses as the slot;
* ``+full``: the encoder on Whisper's whole 30 s window instead of the short one.

    .venv/bin/python bench/slot_recognition.py [--voices 6] [--out bench/results/slot_recognition.json]

Prints a table (parse-exact % per slot type and configuration, ms per decode) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.callers.voices import VOICES, available, speak  # noqa: E402
from callflows.nlu.values import ParseContext, extract, parse_yes_no  # noqa: E402
from callflows.speech import codec  # noqa: E402
from callflows.speech.bias import DEFAULT_BASE_PROMPT, whisper_prompt  # noqa: E402
from callflows.speech.expectation import Expectation  # noqa: E402
from callflows.speech.stt import WhisperRecognizer  # noqa: E402

CTX = ParseContext(now=datetime(2026, 12, 3, 9, 0, tzinfo=ZoneInfo("America/New_York")))

# What callers say, per slot type (spoken forms; names from no list in the code).
ANSWERS: dict[str, list[str]] = {
    "person_name": ["my name is dmitri valenzuela", "marguerite okonkwo", "it's priya raghunathan",
                    "tomasz wieczorek", "aisha bello", "this is keanu makoa", "sven lindqvist",
                    "oluwaseun adeyemi", "hiroshi tanaka", "carmen delgado"],
    "time": ["ten in the morning", "at two thirty in the afternoon", "three pm", "eleven fifteen please",
             "quarter past nine in the morning", "four o'clock", "half past one", "nine a m"],
    "date": ["next tuesday", "friday", "december the fifth", "on the twelfth", "next monday please",
             "thursday the tenth", "tomorrow", "the eighteenth of december"],
    "phone_number": ["five five five two one three four eight nine six", "four one five five five five zero one nine two",
                     "my number is six five zero three three one two seven seven four",
                     "two oh six eight eight one four four zero three", "nine one seven five five five six two one eight"],
    "number": ["two", "it's two", "three of us", "four", "just one", "five people"],
    "yes_no": ["yes", "yeah that's right", "no", "nope", "yes please", "correct", "no that's wrong", "sure"],
}


def described_prompt(expectation: Expectation | None, base_prompt: str | None = DEFAULT_BASE_PROMPT) -> str | None:
    """A prompt that describes the expected slot in words and gives no sample value (Whisper
    copies sample names and numbers from a prompt into its output)."""
    e = expectation
    if e is None or e.yes_no:
        return base_prompt
    if e.choices:
        return whisper_prompt(e, base_prompt)  # the choices are the vocabulary, not samples
    if e.slot_type == "phone_number":
        return "The caller reads out a phone number, one digit at a time."
    if e.slot_type == "digits":
        return "The caller reads out digits, one at a time."
    if e.slot_type in ("date", "datetime"):
        return "The caller says which day or date suits them."
    if e.slot_type == "time":
        return "The caller says a time of day, in the morning or in the afternoon."
    if e.slot_type == "money":
        return "The caller says an amount of money in dollars and cents."
    if e.slot_type == "person_name":
        return "The caller says their first name and their last name."
    if e.slot_type == "number":
        return "The caller says how many."
    return base_prompt


def expectation_for(slot_type: str) -> Expectation:
    if slot_type == "yes_no":
        return Expectation(yes_no=True)
    if slot_type == "phone_number":
        return Expectation(slot="phone", slot_type="phone_number", digits_length=10)
    return Expectation(slot=slot_type, slot_type=slot_type)


def parsed(slot_type: str, text: str) -> object:
    if slot_type == "yes_no":
        return parse_yes_no(text)
    values = extract(slot_type, text, CTX)
    return values[0].value if values else None


def same(slot_type: str, heard: object, truth: object) -> bool:
    if heard is None:
        return False
    if slot_type == "person_name":
        from rapidfuzz import fuzz

        return fuzz.ratio(str(heard).lower(), str(truth).lower()) >= 85
    return heard == truth


@dataclass
class Row:
    slot_type: str
    config: str
    right: int = 0
    total: int = 0

    @property
    def pct(self) -> float:
        return 100.0 * self.right / self.total if self.total else 0.0


def prompts(slot_type: str) -> dict[str, str | None]:
    e = expectation_for(slot_type)
    return {"sample": whisper_prompt(e), "described": described_prompt(e), "base": DEFAULT_BASE_PROMPT}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voices", type=int, default=6, help="voices per answer, drawn across families")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--types", nargs="*", default=list(ANSWERS), help="slot types to run")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "slot_recognition.json"))
    args = ap.parse_args()
    have = available()
    voices = [v for fam, vs in VOICES.items() if have.get(fam, False) for v in vs]
    rng = random.Random(args.seed)
    rec = WhisperRecognizer(threads=2)
    rec.load()
    rows: dict[tuple[str, str], Row] = {}
    ms: dict[str, list[float]] = {}
    examples: list[dict[str, object]] = []
    types = [t for t in ANSWERS if t in args.types]
    for slot_type in types:
        for answer in ANSWERS[slot_type]:
            truth = parsed(slot_type, answer)
            for voice in rng.sample(voices, min(args.voices, len(voices))):
                pcm = codec.ulaw_to_pcm16(speak(answer, voice, random.Random(zlib.crc32(f'{answer}|{voice}'.encode()))))
                for name, prompt in prompts(slot_type).items():
                    for n, full in ((1, False), (3, False), (3, True)):
                        if full and name != "sample":
                            continue
                        config = name if n == 1 else f"{name}+nbest3" + ("+full" if full else "")
                        t0 = time.perf_counter()
                        tr = rec.decode(pcm, prompt, full_window=full, hypotheses=n)
                        ms.setdefault(config, []).append((time.perf_counter() - t0) * 1000)
                        chosen = tr.text
                        for hyp in (tr.text, *tr.alternatives):
                            if parsed(slot_type, hyp) is not None:  # the first that parses as the slot, never the truth
                                chosen = hyp
                                break
                        ok = same(slot_type, parsed(slot_type, chosen), truth)
                        row = rows.setdefault((slot_type, config), Row(slot_type, config))
                        row.total += 1
                        row.right += ok
                        examples.append({"slot_type": slot_type, "said": answer, "voice": voice, "config": config,
                                         "heard": chosen, "ok": ok})
    configs = list(ms)
    print(f"{'slot type':<14}" + "".join(f"{c:>18}" for c in configs))
    for slot_type in types:
        print(f"{slot_type:<14}" + "".join(f"{rows[(slot_type, c)].pct:>17.1f}%" for c in configs))
    overall = {c: 100.0 * sum(rows[(t, c)].right for t in types) / sum(rows[(t, c)].total for t in types)
               for c in configs}
    print(f"{'all':<14}" + "".join(f"{overall[c]:>17.1f}%" for c in configs))
    print(f"{'ms p50':<14}" + "".join(f"{statistics.median(ms[c]):>18.0f}" for c in configs))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "voices_per_answer": args.voices,
        "parse_exact_pct": {f"{t}/{c}": round(rows[(t, c)].pct, 1) for t in types for c in configs},
        "overall_pct": {c: round(v, 1) for c, v in overall.items()},
        "ms_p50": {c: round(statistics.median(v), 1) for c, v in ms.items()},
        "examples_file": Path(args.out).with_suffix(".examples.jsonl").name}, indent=1))
    with open(Path(args.out).with_suffix(".examples.jsonl"), "w") as fh:  # what was heard, per decode
        fh.writelines(json.dumps(e) + "\n" for e in examples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
