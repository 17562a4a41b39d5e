"""The caller's answer to a recorded call's consent question, waited for before the greeting.

Up to ``answer_wait_s`` after the question (longer while the caller is still talking or typing)
for a yes, a no or the decline key. No answer is ``agreed=None`` (the vertical's
``silence_means`` decides, call_recording.py). The end of the call is put back on the queue, so
the dialogue loop sees it too.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from callflows.logs import CallLogger
from callflows.telephony.call_recording import CallRecorder, consent_from_words
from callflows.telephony.caller_turns import CallerTurn, KeypadTurn


@dataclass(frozen=True)
class ConsentAnswer:
    agreed: bool | None  # None: no answer, or none understood
    via: str  # "speech", "keypad" or "silence"


def wait_for_consent(turns: "queue.Queue[CallerTurn | KeypadTurn | None]", recorder: CallRecorder,
                     caller_busy: Callable[[], bool], closed: threading.Event,
                     log: CallLogger) -> ConsentAnswer:
    """The first answer on ``turns`` (see the module docstring); ``caller_busy``: the caller is
    talking or has keys pending, so the wait goes on past its deadline."""
    deadline = time.perf_counter() + recorder.settings.answer_wait_s
    while not closed.is_set():
        try:
            turn = turns.get(timeout=0.1)
        except queue.Empty:
            if time.perf_counter() > deadline and not caller_busy():
                break
            continue
        if turn is None:
            turns.put(None)  # the call is closing: the dialogue loop sees it too
            break
        if isinstance(turn, KeypadTurn):
            return ConsentAnswer(recorder.key_answer(turn.digits), "keypad")
        try:
            words = turn.stream.finish().text
        except Exception as exc:  # noqa: BLE001 - no words: counts as no answer
            log.warning("consent answer not recognised: %s", type(exc).__name__)
            words = ""
        return ConsentAnswer(consent_from_words(words, recorder.settings.consent_prompt), "speech")
    return ConsentAnswer(None, "silence")
