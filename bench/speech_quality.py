"""Speech benchmark: STT word error rate on fixed caller utterances at 8 kHz mu-law
(numbers, dates, names, yes/no), per slot type, short-window vs full-window Whisper in the
same run; and TTS time to first audio for short and long replies.

    .venv/bin/python bench/speech_quality.py [--out bench/results/speech.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callflows.speech.caller_voice import caller_pcm16  # noqa: E402
from callflows.speech.expectation import Expectation  # noqa: E402
from callflows.speech.stt import WhisperRecognizer  # noqa: E402
from callflows.speech.tts import PiperTTS  # noqa: E402
from callflows.speech.wer import wer  # noqa: E402

# A fixed set: what callers say to a dental clinic, by what the bot expects.
UTTERANCES: dict[str, tuple[Expectation | None, list[str]]] = {
    "free": (None, ["i would like to book a cleaning", "i need to cancel my appointment", "what are your opening hours",
                    "can i move my appointment to another day", "do you take delta dental insurance",
                    "i want to talk to a real person"]),
    "yes_no": (Expectation(yes_no=True), ["yes", "no", "yes please", "no thanks", "that's right", "nope"]),
    "digits": (Expectation(slot_type="digits", digits_length=4), ["four five six seven", "one two three four",
                                                                   "nine oh one two", "eight eight three one"]),
    "phone": (Expectation(slot_type="phone_number"), ["five five five one two three four five six seven",
                                                      "five five five nine eight seven six five four three"]),
    "date": (Expectation(slot_type="date"), ["next tuesday", "next friday", "tomorrow", "december third",
                                             "this friday", "march fifth nineteen eighty five"]),
    "time": (Expectation(slot_type="time"), ["at ten thirty in the morning", "at two in the afternoon",
                                             "three thirty", "at nine in the morning", "noon"]),
    "name": (Expectation(slot_type="person_name"), ["my name is jane smith", "it's maria lopez", "tom baker"]),
}

REPLIES = ["Sure.", "What day would you like to come in?",
           "So that's a cleaning with Dr. Patel on Tuesday, November 24 at 3:30 PM, for Jane Smith. Shall I book it?"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench/results/speech.json"))
    args = ap.parse_args()
    result: dict = {"stt": {}, "tts": []}
    for name, short in (("short_window", True), ("full_window", False)):
        rec = WhisperRecognizer(incremental=False, short_window=short)
        rec.transcribe(caller_pcm16("hello"))  # load and warm up
        rows = {}
        for kind, (expectation, texts) in UTTERANCES.items():
            errs, times, wrong = [], [], []
            for text in texts:
                pcm = caller_pcm16(text)
                t0 = time.perf_counter()
                out = rec.transcribe(pcm, expectation).text
                times.append((time.perf_counter() - t0) * 1000)
                e = wer(text, out)
                errs.append(e)
                if e:
                    wrong.append([text, out])
            rows[kind] = {"wer": round(statistics.mean(errs), 3), "p50_ms": round(statistics.median(times)),
                          "n": len(texts), "errors": wrong}
        result["stt"][name] = rows
    tts = PiperTTS()
    tts.load()
    for text in REPLIES:
        t0 = time.perf_counter()
        stream = tts.synthesize_stream(text)
        first = next(stream)
        ttfa = (time.perf_counter() - t0) * 1000
        total = len(first) + sum(len(c) for c in stream)
        result["tts"].append({"text": text, "first_audio_ms": round(ttfa), "audio_s": round(total / 8000, 2),
                              "synth_s": round(time.perf_counter() - t0, 2)})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{'slot':8} {'WER short':>10} {'ms':>5} {'WER full':>9} {'ms':>5}   n")
    for kind in UTTERANCES:
        s, f = result["stt"]["short_window"][kind], result["stt"]["full_window"][kind]
        print(f"{kind:8} {s['wer']:>10.2f} {s['p50_ms']:>5} {f['wer']:>9.2f} {f['p50_ms']:>5}   {s['n']}")
    print()
    for row in result["tts"]:
        print(f"TTS first audio {row['first_audio_ms']:>4} ms for {row['audio_s']:.1f} s of speech ({row['synth_s']:.2f} s in all)")
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
