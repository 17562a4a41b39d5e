"""A caller who goes on talking before the bot has answered: the turn was not over.

The endpointer ends a turn at a pause; a caller reading a number in groups, or adding a clause,
may pause longer than that. When they speak again before any answer to the first piece has been
said, the first piece is no turn of its own: answering it alone answers half a sentence. At a
summary, a caller's "it's eight four six, six three four, four six one three" was cut at its
pauses, its first piece was heard "That's it's perfect." and taken as the yes that booked a
time the caller was about to correct.

So the dialogue thread, having recognised a turn, first gathers the pieces the caller has said
since (already queued, or still being said) and hears them all as one turn, as a person
listens to the end before answering. Only speech that began before the answer is said counts:
once the bot speaks, a new turn is an answer, or a barge-in (call.py).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, TypeVar

Piece = TypeVar("Piece")

CONTINUATION_WAIT_S = 10.0
"""The longest a piece still being said is waited for (a caller reading a long number)."""


def pieces_after(turns: "queue.Queue[object]", caller_speaking: Callable[[], bool], closed: threading.Event,
                 piece_type: type[Piece], wait_s: float = CONTINUATION_WAIT_S) -> list[Piece]:
    """The caller turns that follow at once: those already queued, and the one being said now
    (waited for up to ``wait_s``). Anything else on the queue (keys, the end of the call) stops
    the gathering and is put back, to be handled after this turn."""
    pieces: list[Piece] = []
    while not closed.is_set():
        if not caller_speaking() and turns.empty():
            break
        try:
            item = turns.get(timeout=wait_s)
        except queue.Empty:
            break
        if not isinstance(item, piece_type):
            turns.put(item)
            break
        pieces.append(item)
    return pieces
