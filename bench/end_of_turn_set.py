"""A labelled end-of-turn set at 8 kHz (issue 14, item 1), generated at run time.

Each item is one caller answer to a slot question, as it arrives over a phone line (band
300-3400 Hz, 8 kHz, level change, line noise, G.711 mu-law, decoded back to PCM16): one or
more spoken segments with the pauses between them, then a long trailing silence. Its labels:
the end of every segment is a cut point, "incomplete" where the caller pauses and goes on
(a mid-utterance pause of 300-1,500 ms, a filler before a pause) and "complete" at the true
end. A turn-taking decision that ends the turn anywhere before the last segment cuts the
caller off.

Voices (bench/callers/voices.py makes the audio): espeak-ng accents at two speeds, CMU flite
voices, and the human digit recordings of the Free Spoken Digit Dataset (FSDD, CC BY-SA 4.0,
github.com/Jakobovski/free-spoken-digit-dataset, 4 speakers in /work/shared/data/audio/fsdd)
joined with real pauses. The split is by voice and by sentence: the test voices (accents,
flite voices and human speakers) are never heard in training or in tuning, and they say
sentences and numbers of their own (``TEST_SCRIPTS``, said by the dev voices too), so a
classifier cannot learn the test answers' words.

Only the scripts are in git; the audio is synthesised into a cache (callers' voice cache,
see voices.py) on first use.

    .venv/bin/python bench/end_of_turn_set.py      # builds the set, prints counts per split/kind
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from callers import voices  # noqa: E402
from callflows.speech import codec  # noqa: E402
from callflows.speech.expectation import Expectation  # noqa: E402

LEAD_MS = 300
TRAIL_MS = 2500
PAUSE_MS = (300, 1500)
"""Mid-utterance pauses are drawn uniformly from this range."""

Split = str  # "train" | "dev" | "test"
SPLITS: dict[str, Split] = {
    # espeak-ng accents: the test accents (Caribbean, Scottish) are unseen in train and dev
    "espeak/en-us/150": "train", "espeak/en-us/125": "train", "espeak/en-gb/150": "train",
    "espeak/en-gb/125": "train", "espeak/en-gb-x-rp/140": "train", "espeak/en-us-nyc/135": "train",
    "espeak/en-gb-x-gbclan/145": "dev", "espeak/en-gb-x-gbcwmd/130": "dev",
    "espeak/en-029/125": "test", "espeak/en-029/150": "test",
    "espeak/en-gb-scotland/125": "test", "espeak/en-gb-scotland/150": "test",
    # CMU flite
    "flite/slt": "train", "flite/rms": "train", "flite/kal": "dev", "flite/awb": "test",
    # FSDD human digits
    "fsdd/george": "train", "fsdd/jackson": "dev", "fsdd/lucas": "test", "fsdd/nicolas": "test",
}

EXPECT: dict[str, Expectation] = {
    "date": Expectation(slot="date_of_birth", slot_type="date", pii=True),
    "time": Expectation(slot="time", slot_type="time"),
    "datetime": Expectation(slot="when", slot_type="datetime"),
    "phone_number": Expectation(slot="phone", slot_type="phone_number", pii=True),
    "digits": Expectation(slot="last_four", slot_type="digits", digits_length=4, pii=True),
    "person_name": Expectation(slot="name", slot_type="person_name", pii=True),
    "money": Expectation(slot="amount", slot_type="money"),
    "enum": Expectation(slot="service", slot_type="enum", choices=("cleaning", "checkup", "whitening")),
    "yes_no": Expectation(yes_no=True),
    "text": Expectation(),
}
"""The expectation each slot type is asked with (what the dialogue hands the endpointer)."""

# (slot type, kind, segments): a segment ends at a pause ("|"); the last segment ends the turn.
SCRIPTS: list[tuple[str, str, str]] = [
    ("date", "complete", "march the fifth nineteen eighty two"),
    ("date", "pause", "it's march | the fifth"),
    ("date", "pause", "my birthday is | june third nineteen ninety"),
    ("date", "filler", "it's uh | july twentieth nineteen seventy five"),
    ("time", "complete", "three thirty in the afternoon"),
    ("time", "pause", "around | ten in the morning"),
    ("time", "filler", "um | let me think | four pm"),
    ("datetime", "complete", "next tuesday at three"),
    ("datetime", "pause", "next tuesday | at three pm"),
    ("phone_number", "complete", "four one five five five five one two one two"),
    ("phone_number", "pause", "my number is four one five | five five five | one two one two"),
    ("phone_number", "filler", "it's uh | six one seven | two two two | nine eight seven six"),
    ("digits", "complete", "four five six seven"),
    ("digits", "pause", "four five | six seven"),
    ("person_name", "complete", "my name is maria garcia"),
    ("person_name", "pause", "my name is | john smith"),
    ("person_name", "filler", "it's um | david | o'connor"),
    ("money", "complete", "two hundred and fifty dollars"),
    ("money", "pause", "two hundred | and fifty dollars"),
    ("enum", "complete", "a cleaning please"),
    ("enum", "pause", "i'd like to book a | cleaning"),
    ("enum", "filler", "hmm | let me think | a checkup"),
    ("yes_no", "complete", "yes that's right"),
    ("yes_no", "filler", "um | yes"),
    ("text", "complete", "i'd like to book an appointment"),
    ("text", "pause", "i'm calling about | my bill from last month"),
    ("text", "filler", "um | let me think | i need to reschedule"),
    ("text", "trailing_filler", "i want to change my appointment uh | to next week"),
]

# The dev and test voices say other words: neither the voice nor the sentence is seen in training.
TEST_SCRIPTS: list[tuple[str, str, str]] = [
    ("date", "complete", "the twelfth of october nineteen sixty eight"),
    ("date", "pause", "it was april | the second two thousand one"),
    ("date", "pause", "i was born on | september ninth nineteen eighty seven"),
    ("date", "filler", "uh | november the fourth nineteen fifty nine"),
    ("time", "complete", "eleven fifteen in the morning"),
    ("time", "pause", "maybe | half past two"),
    ("time", "filler", "hmm | two o'clock | if that works"),
    ("datetime", "complete", "this friday at noon"),
    ("datetime", "pause", "on monday | at nine thirty"),
    ("phone_number", "complete", "two one two three three three four four five five"),
    ("phone_number", "pause", "it's three one two | eight six seven | five three zero nine"),
    ("phone_number", "filler", "um | seven zero eight | five five five | two four six eight"),
    ("digits", "complete", "nine one one three"),
    ("digits", "pause", "eight three | two nine"),
    ("person_name", "complete", "this is robert johnson"),
    ("person_name", "pause", "it's | emily watson"),
    ("person_name", "filler", "uh my name is | susan | lee"),
    ("money", "complete", "eighty five dollars and twenty cents"),
    ("money", "pause", "one thousand | two hundred dollars"),
    ("enum", "complete", "teeth whitening"),
    ("enum", "pause", "i was hoping to get a | checkup"),
    ("enum", "filler", "um | i think | a cleaning"),
    ("yes_no", "complete", "no that's not right"),
    ("yes_no", "filler", "uh | no"),
    ("text", "complete", "can i speak to someone about my insurance"),
    ("text", "pause", "i wanted to ask about | your opening hours"),
    ("text", "filler", "so um | i had a question | about my bill"),
    ("text", "trailing_filler", "i need to cancel uh | my appointment on friday"),
]

# Human digits (FSDD): phone numbers in groups of 3-3-4, last-four answers, a date of birth
DIGIT_SCRIPTS: list[tuple[str, str, str]] = [
    ("phone_number", "complete", "4155551212"),
    ("phone_number", "pause", "617|222|9876"),
    ("phone_number", "pause", "312|555|0187"),
    ("digits", "complete", "4567"),
    ("digits", "pause", "45|67"),
    ("date", "pause", "0314|1985"),
]
TEST_DIGIT_SCRIPTS: list[tuple[str, str, str]] = [
    ("phone_number", "complete", "2123334455"),
    ("phone_number", "pause", "708|555|2468"),
    ("phone_number", "pause", "646|903|1175"),
    ("digits", "complete", "9113"),
    ("digits", "pause", "83|29"),
    ("date", "pause", "1109|1959"),
]
DIGIT_GAP_MS = (150, 400)
"""Gaps between the digits of one group (a person reading digits), inside a segment."""


@dataclass(frozen=True)
class CutPoint:
    """The end of a spoken segment: ``at_ms`` from the start of the audio; ``complete`` only
    at the true end of the turn; ``pause_ms`` the silence that follows (the trailing silence
    for the last one); ``text`` what the caller has said so far."""

    at_ms: int
    complete: bool
    pause_ms: int
    text: str


@dataclass(frozen=True)
class Item:
    """One labelled caller answer (8 kHz PCM16 after the phone line)."""

    id: str
    voice: str
    family: str
    split: Split
    slot_type: str
    kind: str
    text: str
    expectation: Expectation
    audio: bytes
    cuts: tuple[CutPoint, ...]

    @property
    def end_ms(self) -> int:
        """Where the caller's turn really ends (the last segment's end)."""
        return self.cuts[-1].at_ms


def family(voice: str) -> str:
    return voice.split("/")[0]


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:12], 16)


def _silence(ms: int) -> np.ndarray:
    return np.zeros(codec.PHONE_RATE * ms // 1000, dtype=np.float32)


def _trim(x: np.ndarray, below_peak_db: float = 30.0) -> np.ndarray:
    """Cut a recording's own leading and trailing quiet (30 dB under its loudest 50 ms): some
    FSDD files keep up to 0.8 s of it, and a click at the end, which would move the labelled cuts."""
    hop = codec.PHONE_RATE // 100
    n = len(x) // hop
    if n == 0:
        return x
    power = np.convolve(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1), np.ones(5) / 5, mode="same")
    loud = np.flatnonzero(power >= power.max() * 10 ** (-below_peak_db / 10))  # 50 ms smoothing: a click is not speech
    return x[loud[0] * hop:(loud[-1] + 1) * hop]


def _human_segment(digits: str, speaker: str, rng: random.Random) -> np.ndarray:
    pieces: list[np.ndarray] = []
    for n, d in enumerate(digits):
        if n:
            pieces.append(_silence(int(rng.uniform(*DIGIT_GAP_MS))))
        pieces.append(_trim(voices._fsdd(d, speaker, rng.randrange(15)).astype(np.float32)))  # noqa: SLF001
    return np.concatenate(pieces)


def _spoken(digits: str) -> str:
    names = "zero one two three four five six seven eight nine".split()
    return " ".join(names[int(d)] for d in digits)


def build_item(voice: str, slot_type: str, kind: str, script: str) -> Item:
    """Synthesise one item: segments joined by seeded pauses, over the phone line."""
    item_id = hashlib.sha256(f"eot1|{voice}|{slot_type}|{kind}|{script}".encode()).hexdigest()[:12]
    rng = random.Random(_seed(item_id))
    segments = [s.strip() for s in script.split("|")]
    pieces: list[np.ndarray] = [_silence(LEAD_MS)]
    cuts: list[CutPoint] = []
    at = LEAD_MS
    said: list[str] = []
    for n, segment in enumerate(segments):
        if family(voice) == "fsdd":
            audio = _human_segment(segment, voice.split("/")[1], rng)
            said.append(_spoken(segment))
        else:
            audio = voices.clean_speech(segment, voice)
            said.append(segment)
        pieces.append(audio)
        at += len(audio) * 1000 // codec.PHONE_RATE
        last = n == len(segments) - 1
        pause = TRAIL_MS if last else int(rng.uniform(*PAUSE_MS))
        pieces.append(_silence(pause))
        cuts.append(CutPoint(at_ms=at, complete=last, pause_ms=pause, text=" ".join(said)))
        at += pause
    line = voices.phone_line(np.concatenate(pieces), rng)
    return Item(id=item_id, voice=voice, family=family(voice), split=SPLITS[voice], slot_type=slot_type, kind=kind,
                text=" ".join(said), expectation=EXPECT[slot_type], audio=codec.ulaw_to_pcm16(line),
                cuts=tuple(cuts))


def scripts_for(voice: str) -> list[tuple[str, str, str]]:
    """What ``voice`` says: the dev and test voices have sentences and numbers of their own
    (dev tunes thresholds on words the classifier never saw, as test measures them)."""
    held_out = SPLITS[voice] != "train"
    if family(voice) == "fsdd":
        return TEST_DIGIT_SCRIPTS if held_out else DIGIT_SCRIPTS
    return TEST_SCRIPTS if held_out else SCRIPTS


def build_set(splits: tuple[Split, ...] = ("train", "dev", "test"), voices_: list[str] | None = None) -> list[Item]:
    """Every item of the named splits (audio synthesised or read from the cache)."""
    chosen = voices_ or [v for v, s in SPLITS.items() if s in splits]
    return [build_item(v, slot, kind, script) for v in chosen for slot, kind, script in scripts_for(v)]


def main() -> None:
    items = build_set()
    counts = Counter((i.split, i.family) for i in items)
    for (split, fam), n in sorted(counts.items()):
        print(f"{split:<6} {fam:<7} {n:>4} items")
    cuts = Counter((i.split, c.complete) for i in items for c in i.cuts)
    for (split, complete), n in sorted(cuts.items()):
        print(f"{split:<6} {'complete' if complete else 'incomplete':<10} {n:>4} cut points")


if __name__ == "__main__":
    main()
