"""Speak the LLM's answer while it is generated: the "say" string is decoded from the JSON
deltas as they arrive and cut into sentences as soon as each one is complete."""

from __future__ import annotations

import re
from collections.abc import Iterator

_SAY_START = re.compile(r'\s*\{\s*"say"\s*:\s*"')
_OTHER_KEY = re.compile(r'\s*\{\s*"([^"\\]*)"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": " ", "r": " ", "t": " "}
_SENTENCE_END = re.compile(r"(?<!\bDr)(?<!\bMr)(?<!\bMs)(?<!\bMrs)[.!?]+[\"')]*\s+")


class SayExtractor:
    """Feed raw JSON text deltas; get back the newly decoded characters of the "say" value.
    `mode` is None until the object's first key is known, then "say" or "other"."""

    def __init__(self) -> None:
        self.buf = ""
        self.mode: str | None = None
        self.pos = 0
        self.closed = False  # the say string's closing quote was seen

    def feed(self, delta: str) -> str:
        self.buf += delta
        if self.mode is None:
            m = _SAY_START.match(self.buf)
            if m:
                self.mode, self.pos = "say", m.end()
            else:
                other = _OTHER_KEY.match(self.buf)
                stripped = self.buf.lstrip()
                if (other and other.group(1) != "say") or (stripped and not stripped.startswith("{")):
                    self.mode = "other"
        if self.mode != "say" or self.closed:
            return ""
        out: list[str] = []
        buf, i = self.buf, self.pos
        while i < len(buf):
            ch = buf[i]
            if ch == '"':
                self.closed = True
                i += 1
                break
            if ch == "\\":
                if i + 1 >= len(buf):
                    break
                nxt = buf[i + 1]
                if nxt == "u":
                    if i + 6 > len(buf):
                        break
                    try:
                        out.append(chr(int(buf[i + 2:i + 6], 16)))
                    except ValueError:
                        pass
                    i += 6
                    continue
                out.append(_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            out.append(ch)
            i += 1
        self.pos = i
        return "".join(out)


class SentenceSplitter:
    """Accumulates text and hands out whole sentences."""

    def __init__(self, min_chars: int = 12) -> None:
        self.pending = ""
        self.min_chars = min_chars

    def feed(self, text: str) -> Iterator[str]:
        self.pending += text
        while True:
            cut = None
            for m in _SENTENCE_END.finditer(self.pending):
                if m.end() >= self.min_chars:
                    cut = m.end()
                    break
            if cut is None:
                return
            sentence, self.pending = self.pending[:cut].strip(), self.pending[cut:]
            if sentence:
                yield sentence

    def flush(self) -> Iterator[str]:
        rest, self.pending = self.pending.strip(), ""
        if rest:
            yield rest


def split_sentences(text: str) -> list[str]:
    splitter = SentenceSplitter()
    return [*splitter.feed(text), *splitter.flush()]
