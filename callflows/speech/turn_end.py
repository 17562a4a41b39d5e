"""End of turn: is the caller done, or only pausing? The slot rules and a model, combined.

The endpointer (vad.py) knows how long the caller has been silent; the dialogue knows whether
the words heard so far complete the slot asked for (``is_complete_answer``); a turn model
(``TurnEndModel``) judges from the audio (and the partial transcript) whether the turn sounds
finished. ``TurnEndPolicy`` decides, at each amount of trailing silence, whether to end the
turn now. Measured on the 8 kHz set in bench/end_of_turn.py; see bench/README.md, "End of turn
at 8 kHz", for which combination is the product's default and why.

Implementations of ``TurnEndModel``: turn_end_smart.py (Pipecat's Smart Turn v3 ONNX) and
turn_end_prosody.py (a small classifier on prosody and the partial transcript).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Protocol

from .expectation import Expectation
from .vad import Endpointer

log = logging.getLogger(__name__)
ENDS_IN_A_NUMBER = re.compile(r"(?:\d|\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine))[\s,.-]*$",
                              re.IGNORECASE)


@dataclass(frozen=True)
class TurnSnapshot:
    """What a turn model sees: the turn so far (8 kHz PCM16, pre-roll through the trailing
    silence), how much of it is trailing silence, what was asked, the recogniser's partial
    transcript ("" when none is ready) and whether the dialogue finds it a complete answer."""

    audio: bytes
    silence_ms: int
    expectation: Expectation | None
    partial: str = ""
    slot_complete: bool = False
    """Whether ``partial`` already completes the slot asked (the dialogue's ``is_complete_answer``)."""


class TurnEndModel(Protocol):
    """A model that judges whether a turn is complete."""

    name: str
    check_ms: int
    """The trailing silence at which it is asked (once per pause)."""

    def probability(self, snapshot: TurnSnapshot) -> float:
        """P(the caller has finished the turn), in [0, 1]."""
        ...


_FILLERS = frozenset({"um", "uh", "hmm", "hm", "er", "erm", "ah", "uhm", "mm"})
_FILLER_PHRASES = ("let me think", "let me see", "let me check", "hold on", "hang on", "bear with me", "one second",
                   "a second", "a sec", "one moment", "a moment")
"""Words a caller ends on while thinking or asking for a moment: the turn is not over yet (if it
is a hold request, the dialogue answers it once the hesitation wait is over: "Sure, take your time.")."""
_DIGIT_WORDS = {"zero": 1, "oh": 1, "one": 1, "two": 1, "three": 1, "four": 1, "five": 1, "six": 1, "seven": 1,
                "eight": 1, "nine": 1, "double": 1, "triple": 2}


def ends_with_filler(text: str) -> bool:
    """Whether the words end in a hesitation ("uh", "um", "let me think"): the caller is
    still looking for the answer, whatever the slot parser thinks of the words before it."""
    norm = " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())
    if not norm:
        return False
    return norm.split()[-1] in _FILLERS or any(norm.endswith(p) for p in _FILLER_PHRASES)


def digits_heard(text: str) -> int:
    """How many digits the words say ("four one five" and "415" both count 3)."""
    count = sum(ch.isdigit() for ch in text)
    for word in re.sub(r"[^a-z ]", " ", text.lower()).split():
        count += _DIGIT_WORDS.get(word, 0)
    return count


def in_a_digit_group_pause(partial: str, needed: int | None) -> bool:
    """Whether the words stop where a caller pauses between groups of a digit string of stated
    length: about a group still to say. A number is read in groups (3-3-4, 2-2, 3-3), so a pause
    between groups leaves three tenths of it or more (two digits at least; one digit may be
    misheard or added). A shortfall of one or two digits of ten is the recogniser dropping
    digits of a finished answer ("one one three" for "nine one one three"), not a pause, and
    waiting for it would only delay a caller who is done (chosen on the dev voices)."""
    if needed is None:
        return False
    return needed - digits_heard(partial) >= max(2, 3 * needed // 10)


def digits_needed(expectation: Expectation | None) -> int | None:
    """Digits a complete answer has: a stated length, 10 for a phone number, else None."""
    if expectation is None:
        return None
    if expectation.digits_length is not None:
        return expectation.digits_length
    if expectation.slot_type == "phone_number":
        return 10
    return None


@dataclass(frozen=True)
class TurnEndPolicy:
    """Slot rules + a model. At each pause:

    1. Guards: a digit string with a stated length (a phone number, the last four) short of at
       least its last group (``in_a_digit_group_pause``) is never ended early and waits
       ``short_digits_wait_ms`` (longer than any pause a caller makes between groups, so none is
       cut in the middle of a number); words that end in
       a hesitation ("um", "let me think", "hold on") are never ended early and wait
       ``hesitant_wait_ms``; a number said where none was asked (the rules' "no, my number is
       four one five," to a summary) waits ``number_wait_ms``.
    2. The model is asked at its ``check_ms``; a probability >= ``end_above`` ends the turn.
    3. At ``complete_answer_ms`` a partial that completes the slot ends the turn, unless the
       model heard a turn going on (probability < ``wait_below``).
    4. Otherwise the slot's usual wait (``base_wait_ms``). When the model heard a turn going on,
       it is stretched to ``goes_on_wait_ms`` but never past ``max_model_wait_ms``: the model
       alone never makes a caller wait longer than the rules' longest wait (so the wait p95 is
       no worse than the rules'; only the guards, which fire on words, wait longer).
    """

    # defaults: chosen on the dev voices by bench/end_of_turn.py for the classifier (the fewest
    # early cuts whose wait p50 and p95 are no worse than today's rules); see bench/README.md
    end_above: float = 0.8
    wait_below: float = 0.5
    complete_answer_ms: int = 300
    goes_on_wait_ms: int = 1200
    max_model_wait_ms: int = 1200
    hesitant_wait_ms: int = 1600
    short_digits_wait_ms: int = 1600
    number_wait_ms: int = 1200

    def end_at_ms(self, base_wait_ms: int, probability: float | None, model_check_ms: int,
                  partial: str, slot_complete: bool, expectation: Expectation | None) -> int:
        """The trailing silence (ms) after which this pause ends the turn, given what the
        model said at ``model_check_ms`` (None: no model) and the partial transcript then."""
        needed = digits_needed(expectation)
        hesitant = ends_with_filler(partial)
        goes_on = probability is not None and probability < self.wait_below
        short_of_digits = in_a_digit_group_pause(partial, needed)
        wait = base_wait_ms
        if goes_on:
            wait = max(wait, min(self.goes_on_wait_ms, self.max_model_wait_ms))
        if hesitant:
            wait = max(wait, self.hesitant_wait_ms)
        if short_of_digits:
            wait = max(wait, self.short_digits_wait_ms)
        elif needed is None and not slot_complete and ENDS_IN_A_NUMBER.search(partial):
            wait = max(wait, self.number_wait_ms)
        ends = [wait]
        if not short_of_digits and not hesitant:
            if probability is not None and probability >= self.end_above:
                ends.append(model_check_ms)
            if slot_complete and not goes_on:
                ends.append(self.complete_answer_ms)
        return min(ends)


SlotCheck = Callable[[str], bool]
"""Whether a partial transcript already completes the slot asked (DialogueSession.is_complete_answer)."""


def _never_complete(_text: str) -> bool:
    return False


TURN_END_CHOICES = ("rules", "classifier", "smart-turn")


class TurnEndDecider:
    """One call's end-of-turn decisions, asked at every frame of a pause (telephony/call.py).

    Without a policy: today's slot rules (the slot's wait in the endpointer, ended at
    ``complete_answer_silence_ms`` when a new partial completes the slot). With a model:
    ``TurnEndPolicy``; the model is asked once per pause at its ``check_ms``, and again when a
    new partial arrives later in the pause (it costs ~7 ms for the classifier, ~60 ms for
    Smart Turn, on the socket thread).
    """

    def __init__(self, model: TurnEndModel | None = None, policy: TurnEndPolicy | None = None) -> None:
        self.model = model
        self.policy = policy if policy is not None or model is None else TurnEndPolicy()
        self.reset()

    def reset(self) -> None:
        """A new turn began."""
        self._checked = ""
        self._text = ""
        self._complete = False
        self._probability: float | None = None
        self._asked_with: str | None = None

    def should_end(self, endpointer: Endpointer, partial: Callable[[], str], slot_check: SlotCheck) -> bool:
        """Whether to end the turn now; may also set this pause's wait on ``endpointer``."""
        silence = endpointer.trailing_silence_ms
        if silence == 0:
            self._probability, self._asked_with = None, None
            return False
        config, expectation = endpointer.config, endpointer.expectation
        base = config.end_silence_ms(expectation)
        if expectation is not None and expectation.summary:
            # the answer that books: no early end on a complete-sounding "that's it" (a caller's
            # "it's eight four six, six three four, ..." came back "That's it's perfect." from its
            # first group, and booked); the summary's wait, and the pieces said after it are heard
            # with it (telephony/continued_turn.py)
            slot_check = _never_complete
        if self.policy is None:
            if silence < config.complete_answer_silence_ms or silence >= base:
                return False
            text = partial()
            if not text or text == self._checked:
                return False
            self._checked = text
            if slot_check(text):
                return True
            if base < config.long_silence_ms and ENDS_IN_A_NUMBER.search(text):
                # a number being said where none was asked for ("no, my number is four one five,"
                # to a summary): its groups are paused between like any phone number's
                endpointer.set_pause_wait(config.long_silence_ms)
            return False
        check_ms = self.model.check_ms if self.model is not None else self.policy.complete_answer_ms
        if silence < min(check_ms, self.policy.complete_answer_ms):
            return False
        text = partial()
        if text != self._text:
            self._text, self._complete = text, bool(text) and slot_check(text)
        if self.model is not None and silence >= check_ms and self._asked_with != text:
            snapshot = TurnSnapshot(endpointer.turn_audio, silence, expectation, text, self._complete)
            self._probability, self._asked_with = self.model.probability(snapshot), text
        end_at = self.policy.end_at_ms(base, self._probability, check_ms, text, self._complete, expectation)
        if silence >= end_at:
            return True
        endpointer.set_pause_wait(end_at)
        return False


def load_turn_end_model(kind: str, location: str | None = None) -> TurnEndModel | None:
    """The model for setting ``kind`` ("rules": none), from ``location`` (a path or
    ``<url>#sha256=<hex>``) or its default place. A model that cannot be loaded leaves the
    rules in charge, with a warning: a call must never fail for want of a turn model."""
    if kind not in TURN_END_CHOICES:
        raise ValueError(f"unknown end-of-turn decision {kind!r}; expected one of {TURN_END_CHOICES}")
    if kind == "rules":
        return None
    try:
        if kind == "classifier":
            from .turn_end_prosody import ProsodyTurnModel

            return ProsodyTurnModel(location)
        from .turn_end_smart import SmartTurnModel

        return SmartTurnModel(location)
    except Exception as exc:  # noqa: BLE001 - missing, truncated, or pickled by another scikit-learn: rules
        log.warning("end-of-turn model %r not loaded (%s: %s): the slot rules decide", kind, type(exc).__name__, exc)
        return None
