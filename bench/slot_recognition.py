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
* ``+full``: the encoder on Whisper's whole 30 s window instead of the short one;
* ``+constrained``: what the product does: the slot prompt, a beam of 3 (full window for phone
  numbers), and a decode restricted to the slot's words (callflows/speech/token_constraint.py)
  as the last hypothesis.

Invented answers: off-slot speech (questions, hold requests, names) decoded for a time, date,
count, phone number or yes/no question; counted when the constrained decode is the hypothesis
taken and it parses as the slot (a value the caller never said).

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

from bench.callers.voices import VOICES, available, human_digits, speak  # noqa: E402
from callflows.nlu.values import ParseContext, extract, parse_yes_no  # noqa: E402
from callflows.speech import codec  # noqa: E402
from callflows.speech.bias import DEFAULT_BASE_PROMPT, constrained_words, whisper_prompt  # noqa: E402
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
    # as the simulated callers spell (bench/callers/policy.py): letters with commas
    "spelling": ["V, A, L, E, N, Z, U, E, L, A", "O, K, O, N, K, W, O", "R, A, G, H, U, N, A, T, H, A, N",
                 "W, I, E, C, Z, O, R, E, K", "B, E, L, L, O", "M, A, K, O, A", "L, I, N, D, Q, V, I, S, T",
                 "A, D, E, Y, E, M, I"],
}
# What callers say that answers no slot (a constrained decode must not turn these into values).
OFF_SLOT = ["can you repeat that", "what times do you have", "hold on a second", "i'm not sure",
            "i want to speak to a person", "sorry what was that", "how much does it cost", "my name is carmen delgado"]
OFF_SLOT_TYPES = ["time", "date", "number", "phone_number", "yes_no"]


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
    if slot_type == "spelling":
        return Expectation(slot="name", slot_type="person_name", spelling=True)
    if slot_type == "yes_no":
        return Expectation(yes_no=True)
    if slot_type == "phone_number":
        return Expectation(slot="phone", slot_type="phone_number", digits_length=10)
    return Expectation(slot=slot_type, slot_type=slot_type)


def parsed(slot_type: str, text: str) -> object:
    if slot_type == "spelling":
        values = extract("spelled_name", text, CTX)
        return values[0].value if values else None
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


def invented_answers(rec: WhisperRecognizer, voices: list[str], rng: random.Random, per: int) -> dict[str, dict[str, int]]:
    """Off-slot speech decoded as the product decodes a slot turn: how often does a hypothesis
    parse as the slot (a value the caller never said), from the free beam and from the
    constrained decode taken after it."""
    out = {t: {"constrained": 0, "free": 0, "total": 0} for t in OFF_SLOT_TYPES}
    for said in OFF_SLOT:
        for voice in rng.sample(voices, min(per, len(voices))):
            pcm = codec.ulaw_to_pcm16(speak(said, voice, random.Random(zlib.crc32(f'{said}|{voice}'.encode()))))
            for slot_type in OFF_SLOT_TYPES:
                e = expectation_for(slot_type)
                tr = rec.decode(pcm, whisper_prompt(e), full_window=slot_type == "phone_number", hypotheses=3,
                                words=constrained_words(e))
                free = [tr.text, *tr.alternatives[:-1]] if tr.alternatives else [tr.text]
                counts = out[slot_type]
                counts["total"] += 1
                if any(parsed(slot_type, h) is not None for h in free):
                    counts["free"] += 1
                elif tr.alternatives and parsed(slot_type, tr.alternatives[-1]) is not None:
                    counts["constrained"] += 1
    return out


FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas")


def human_numbers(rec: WhisperRecognizer, per_speaker: int, seed: int) -> dict[str, dict[str, int]]:
    """Real people's digits (FSDD, 150-400 ms apart) as phone numbers (10 digits) and last fours
    (4 digits): exact numbers heard, without and with the constrained decode."""
    rng = random.Random(seed)
    out: dict[str, dict[str, int]] = {}
    cases = (("phone_number", 10, Expectation(slot="phone", slot_type="phone_number", digits_length=10)),
             ("digits_4", 4, Expectation(slot="last4", slot_type="digits", digits_length=4)))
    for speaker in FSDD_SPEAKERS:
        for _ in range(per_speaker):
            for name, length, e in cases:
                said = "".join(rng.choice("0123456789") for _ in range(length))
                pcm = codec.ulaw_to_pcm16(human_digits(said, speaker, rng))
                full = name == "phone_number"
                for config, words in (("sample+nbest3", None), ("sample+nbest3+constrained", constrained_words(e))):
                    tr = rec.decode(pcm, whisper_prompt(e), full_window=full, hypotheses=3, words=words)
                    heard = None
                    for hyp in (tr.text, *tr.alternatives):
                        value = parsed("digits", hyp)
                        digits = "".join(ch for ch in str(value or "") if ch.isdigit())
                        if len(digits) == length:  # the first hypothesis with the digits asked for
                            heard = digits
                            break
                    row = out.setdefault(f"{name}/{speaker}/{config}", {"right": 0, "total": 0})
                    row["total"] += 1
                    row["right"] += heard == said
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voices", type=int, default=6, help="voices per answer, drawn across families")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--types", nargs="*", default=list(ANSWERS), help="slot types to run")
    ap.add_argument("--human", type=int, default=5, help="FSDD numbers per speaker and length (0: none)")
    ap.add_argument("--prompts", nargs="*", default=["sample", "described", "base"], help="prompt families to run")
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
                    if name not in args.prompts:
                        continue
                    for n, full, constrained in ((1, False, False), (3, False, False), (3, True, False), (3, None, True)):
                        if (full or constrained) and name != "sample":
                            continue
                        if full is None:  # what the product does: the full window for phone numbers only
                            full = slot_type == "phone_number"
                        config = name if n == 1 else f"{name}+nbest3" + ("+full" if full and not constrained else "") + (
                            "+constrained" if constrained else "")
                        words = constrained_words(expectation_for(slot_type)) if constrained else None
                        t0 = time.perf_counter()
                        tr = rec.decode(pcm, prompt, full_window=full, hypotheses=n, words=words)
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
    invented = invented_answers(rec, voices, rng, args.voices)
    human = human_numbers(rec, args.human, args.seed) if args.human else {}
    configs = list(ms)
    print(f"{'slot type':<14}" + "".join(f"{c:>18}" for c in configs))
    for slot_type in types:
        print(f"{slot_type:<14}" + "".join(f"{rows[(slot_type, c)].pct:>17.1f}%" for c in configs))
    overall = {c: 100.0 * sum(rows[(t, c)].right for t in types) / sum(rows[(t, c)].total for t in types)
               for c in configs}
    print(f"{'all':<14}" + "".join(f"{overall[c]:>17.1f}%" for c in configs))
    print(f"{'ms p50':<14}" + "".join(f"{statistics.median(ms[c]):>18.0f}" for c in configs))
    for key, row in sorted(human.items()):
        print(f"human digits {key:<48} {row['right']}/{row['total']}")
    print("invented answers (off-slot speech taken as a value from the constrained decode / any hypothesis):")
    for slot_type, counts in invented.items():
        print(f"  {slot_type:<14} {counts['constrained']}/{counts['total']} constrained, "
              f"{counts['free']}/{counts['total']} free hypotheses")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "voices_per_answer": args.voices,
        "parse_exact_pct": {f"{t}/{c}": round(rows[(t, c)].pct, 1) for t in types for c in configs},
        "overall_pct": {c: round(v, 1) for c, v in overall.items()},
        "ms_p50": {c: round(statistics.median(v), 1) for c, v in ms.items()},
        "invented_answers": invented,
        "human_digits_exact": human,
        "examples_file": Path(args.out).with_suffix(".examples.jsonl").name}, indent=1))
    with open(Path(args.out).with_suffix(".examples.jsonl"), "w") as fh:  # what was heard, per decode
        fh.writelines(json.dumps(e) + "\n" for e in examples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
