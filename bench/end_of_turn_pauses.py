"""The pauses of an end-of-turn item as the product's endpointer sees them, and what was
heard before each (the recogniser's partial transcript), cached on disk.

A pause starts at the endpointer's last voiced frame; the last pause of an item is the real
end of the turn, every earlier one is a place where ending the turn cuts the caller off. The
partial is Whisper (the product's recogniser and prompt for the slot) on the audio up to
120 ms into the pause, when the product's stream submits its background decode.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from end_of_turn_set import Item

from callflows.nlu.values import ParseContext, extract, parse_yes_no
from callflows.nlu.values.complete import completes_answer
from callflows.speech import codec
from callflows.speech.expectation import Expectation
from callflows.speech.turn_end import TurnSnapshot
from callflows.speech.vad import FRAME_MS, EndpointConfig, Endpointer

log = logging.getLogger(__name__)

MIN_PAUSE_MS = 200
"""Shorter pauses end no turn under any candidate (the earliest decision is at 200 ms)."""
DECODE_AT_MS = 120
CACHE = Path(os.environ.get("CALLFLOWS_EOT_CACHE") or Path(tempfile.gettempdir()) / "callflows-eot")
_NEVER = 10**7


@dataclass(frozen=True)
class Pause:
    """``voiced_end_ms``: the last voiced frame before it; ``length_ms``: its silence; ``final``:
    the real end of the turn (the last pause)."""

    voiced_end_ms: int
    length_ms: int
    final: bool


def pauses(item: Item) -> list[Pause]:
    """Every pause of at least ``MIN_PAUSE_MS`` inside the turn, and the final one."""
    ep = Endpointer(EndpointConfig(short_silence_ms=_NEVER, long_silence_ms=_NEVER, default_silence_ms=_NEVER,
                                   max_turn_ms=_NEVER))
    found: list[tuple[int, int]] = []
    for i, frame in enumerate(codec.pcm16_frames(item.audio, FRAME_MS)):
        ep.feed(frame)
        silence = ep.trailing_silence_ms
        if not ep.in_speech or silence == 0:
            continue
        now = (i + 1) * FRAME_MS
        if silence == FRAME_MS or not found:
            found.append((now - silence, silence))
        else:
            found[-1] = (found[-1][0], silence)
    out = [Pause(start, length, n == len(found) - 1) for n, (start, length) in enumerate(found)]
    return [p for p in out if p.final or p.length_ms >= MIN_PAUSE_MS]


def snapshot(item: Item, pause: Pause, silence_ms: int, partial: str = "") -> TurnSnapshot:
    """The turn as a model sees it ``silence_ms`` into ``pause``."""
    end = (pause.voiced_end_ms + silence_ms) * codec.PHONE_RATE // 1000 * 2
    return TurnSnapshot(item.audio[:end], silence_ms, item.expectation, partial,
                        slot_complete(partial, item.expectation))


_CTX = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("America/New_York")))


def slot_complete(text: str, expectation: Expectation) -> bool:
    """What ``DialogueSession.is_complete_answer`` says for a slot of this expectation, with the
    value parsers alone (the benchmark has no dialogue): a yes or no; else the first value of the
    slot type, judged by the dialogue's own rule (``completes_answer``); free speech never."""
    if not text.strip():
        return False
    if expectation.yes_no:
        return parse_yes_no(text) is not None
    kind = expectation.slot_type
    if kind is None or kind == "text" or (kind == "digits" and expectation.digits_length is None):
        return False
    options: dict[str, object] = {}
    if kind == "digits":
        options["length"] = expectation.digits_length
    if kind == "enum":
        options["choices"] = {c: [c] for c in expectation.choices}
    value = next((v for v in extract(kind, text, _CTX, **options) if v.value is not None), None)
    return completes_answer(kind, value, expectation.digits_length)


class Partials:
    """Whisper partials per (item, pause), decoded once and kept in ``CACHE/partials.json``."""

    def __init__(self) -> None:
        CACHE.mkdir(parents=True, exist_ok=True)
        self.path = CACHE / "partials.json"
        self._data: dict[str, dict[str, float | str]] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self._rec = None

    @staticmethod
    def key(item: Item, pause: Pause) -> str:
        return f"{item.id}@{pause.voiced_end_ms}"

    def has(self, item: Item, pause: Pause) -> bool:
        return self.key(item, pause) in self._data

    def get(self, item: Item, pause: Pause) -> str:
        entry = self._data.get(self.key(item, pause))
        return str(entry["text"]) if entry else ""

    def decode(self, item: Item, pause: Pause) -> str:
        if self._rec is None:
            from callflows.speech.stt import WhisperRecognizer

            self._rec = WhisperRecognizer(threads=2, full_window_slots=frozenset({"phone_number"}))
        from callflows.speech.bias import needs_full_window, whisper_prompt

        rec = self._rec
        exp = item.expectation
        audio = snapshot(item, pause, DECODE_AT_MS).audio
        slot_turn = exp.slot is not None or exp.yes_no
        started = time.perf_counter()
        result = rec.decode(audio, whisper_prompt(exp, rec.base_prompt), needs_full_window(exp, rec.full_window_slots),
                            rec.slot_hypotheses if slot_turn else 1)
        self._data[self.key(item, pause)] = {"text": result.text, "ms": round((time.perf_counter() - started) * 1000)}
        return result.text

    def save(self) -> None:
        tmp = self.path.with_suffix(".part")
        tmp.write_text(json.dumps(self._data))
        tmp.replace(self.path)


def fill_partials(items: list[Item], budget_s: float) -> int:
    """Decode the pauses not yet cached, for at most ``budget_s`` seconds; returns how many are left."""
    partials = Partials()
    todo = [(it, p) for it in items for p in pauses(it) if not partials.has(it, p)]
    started = time.perf_counter()
    done = 0
    for it, p in todo:
        if time.perf_counter() - started > budget_s:
            break
        partials.decode(it, p)
        done += 1
        if done % 50 == 0:
            partials.save()
            print(f"decoded {done}/{len(todo)}", flush=True)
    partials.save()
    return len(todo) - done


if __name__ == "__main__":
    import argparse

    import end_of_turn_set

    ap = argparse.ArgumentParser(description="Decode the partial transcripts of the end-of-turn set (cached).")
    ap.add_argument("--budget-s", type=float, default=480.0)
    args = ap.parse_args()
    print(f"left: {fill_partials(end_of_turn_set.build_set(), args.budget_s)}")
