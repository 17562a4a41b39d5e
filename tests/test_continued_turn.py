"""A caller who goes on before the bot answers (telephony/continued_turn.py): the pieces said
since the turn ended are gathered, already queued or still being said; keys or the end of the
call stop the gathering and stay queued. Real queue and threads."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from callflows.telephony.continued_turn import pieces_after


@dataclass
class Piece:
    words: str


def test_nothing_said_since_gathers_nothing_at_once():
    turns: queue.Queue = queue.Queue()
    started = time.perf_counter()
    assert pieces_after(turns, lambda: False, threading.Event(), Piece, wait_s=5) == []
    assert time.perf_counter() - started < 0.5


def test_pieces_already_queued_and_one_still_being_said_are_gathered():
    turns: queue.Queue = queue.Queue()
    turns.put(Piece("six three four"))
    speaking = threading.Event()
    speaking.set()

    def caller_finishes() -> None:
        time.sleep(0.3)
        turns.put(Piece("four six one three"))
        speaking.clear()
    threading.Thread(target=caller_finishes, daemon=True).start()
    got = pieces_after(turns, speaking.is_set, threading.Event(), Piece, wait_s=5)
    assert [p.words for p in got] == ["six three four", "four six one three"]
    assert turns.empty()


def test_keys_or_the_end_of_the_call_stop_the_gathering_and_stay_queued():
    turns: queue.Queue = queue.Queue()
    turns.put(Piece("and at ten"))
    turns.put("1#")  # keys: handled after this turn, not heard with it
    got = pieces_after(turns, lambda: False, threading.Event(), Piece, wait_s=5)
    assert [p.words for p in got] == ["and at ten"] and turns.get_nowait() == "1#"
    turns.put(None)
    assert pieces_after(turns, lambda: True, threading.Event(), Piece, wait_s=5) == [] and turns.get_nowait() is None


def test_a_caller_who_never_finishes_is_waited_for_no_longer_than_the_limit():
    turns: queue.Queue = queue.Queue()
    started = time.perf_counter()
    assert pieces_after(turns, lambda: True, threading.Event(), Piece, wait_s=0.3) == []
    assert time.perf_counter() - started < 2
