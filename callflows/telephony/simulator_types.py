"""What a simulated call is given and what it gives back (callflows/telephony/simulator.py):
the caller's script (`Step`, `load_script`), and the result (`SimResult`: each `TurnResult` with
its latency, fillers and dead air; the bot's audio as `HeardSegment`s between marks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from callflows.telephony.silence import HeardFrame


@dataclass
class Step:
    say: str | None = None
    dtmf: str | None = None
    barge_in_ms: int | None = None  # start speaking this long after the bot starts talking
    pause_s: float = 0.0  # silence before this step
    hangup: bool = False  # hang up (possibly mid-sentence: with `say`, after `hangup_after_ms`)
    hangup_after_ms: int | None = None
    expect: str | None = None  # a word the bot's next reply should contain (checked by the caller of run)


@dataclass
class BotUtterance:
    started_at: float
    audio: bytearray = field(default_factory=bytearray)
    text: str = ""


@dataclass
class HeardSegment:
    """Bot audio between two marks (one sentence, or one filler), as the caller got it."""

    received_at: float  # perf_counter of its first frame
    start: float  # when its first frame started playing
    label: str | None = None  # the mark that closed it (for one cut by a clear, the mark sent after it)
    audio: bytearray = field(default_factory=bytearray)
    frames: int = 0
    cleared: bool = False  # a clear cut it while it was arriving

    @property
    def kind(self) -> str:
        """"reply", the filler's kind ("ack", "progress", "keyboard"), or "cleared" for cut
        audio the server never named."""
        if self.label is None:
            return "cleared" if self.cleared else "reply"
        if self.label.startswith("filler-"):
            return self.label.split("-")[1]
        return "reply"

    @property
    def is_filler(self) -> bool:
        return bool(self.label and self.label.startswith("filler-"))


@dataclass
class TurnResult:
    caller: str
    latency_ms: float | None  # caller's last speech frame -> the reply's first frame
    bot: str = ""
    first_audio_ms: float | None = None  # -> any bot audio (a filler, or the reply)
    longest_silence_ms: float | None = None  # longest dead air after the caller stopped speaking
    fillers: list[str] = field(default_factory=list)  # kinds of filler audio heard, in order
    speech_end_at: float | None = None  # perf_counter of the caller's last audible frame
    window_end: float | None = None  # when the caller spoke next (or the call ended)


@dataclass
class SimResult:
    call_sid: str
    turns: list[TurnResult]
    greeting: str
    clears: int
    closed_by_server: bool
    max_gap_ms: float  # longest silence inside one bot utterance while it was streaming
    heard: list[HeardFrame] = field(default_factory=list)  # every bot frame as it played
    segments: list[HeardSegment] = field(default_factory=list)
    clear_times: list[float] = field(default_factory=list)
    caller_speech: list[tuple[float, float]] = field(default_factory=list)  # (first, last audible frame) per step
    keypad_tones: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each key's tone
    media_origin: float | None = None  # perf_counter of media timestamp 0 (the stream's clock)

    def latencies(self) -> list[float]:
        return [t.latency_ms for t in self.turns if t.latency_ms is not None]

    @property
    def longest_silence_ms(self) -> float:
        """The longest dead air any caller turn was followed by (0 with no measured turn)."""
        return max((t.longest_silence_ms for t in self.turns if t.longest_silence_ms is not None), default=0.0)


def load_script(path: str | Path) -> tuple[str | None, list[Step]]:
    """A YAML script: {vertical: ..., caller: [ {say: ...}, {dtmf: "1234#"}, {say: ..., barge_in_ms: 800}, ...]}"""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        data = {"caller": data}
    steps = []
    for item in data.get("caller", []):
        if isinstance(item, str):
            steps.append(Step(say=item))
        elif isinstance(item, dict):
            steps.append(Step(**{k: v for k, v in item.items() if k in Step.__dataclass_fields__}))
        else:
            raise ValueError(f"script step {item!r} is neither text nor a mapping")
    return data.get("vertical"), steps
