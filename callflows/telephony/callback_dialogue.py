"""The short conversation after a transfer nobody took: an apology and a callback request.

Why its own small dialogue rather than the vertical's flow: the caller already said what they
want and the flow decided a person must handle it; all that is left is a number and a time.
Keypad and speech both work: 1 is yes, 2 is no; a number can be keyed in (``#`` ends it).

``CallbackDialogue(caller_number)``: ``start()`` then ``handle(text, source)`` give ``Prompt``s
until one has ``end``; ``request`` is then the ``(number, preferred time)`` to store, or None.
Nothing here logs: the number is personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from callflows.nlu.values import ParseContext, extract, parse_yes_no
from callflows.speech.expectation import Expectation

APOLOGY = ("I'm sorry, none of my colleagues could take your call just now. "
           "Would you like someone to call you back? Press 1 or say yes, press 2 or say no.")
ASK_SAME_NUMBER = ("Shall we call you on the number you're calling from, ending in {tail}? "
                   "Press 1 for yes, or key in another number followed by the pound key.")
ASK_NUMBER = "What number should we call? You can key it in, followed by the pound key."
ASK_TIME = ("When is a good time to call you back? For example, tomorrow morning. "
            "Or press 1 for as soon as possible.")
DONE = "Thank you. We will call you back on the number ending in {tail}, {when}. Goodbye."
NO_THANKS = "All right. Thank you for calling, and sorry again for the wait. Goodbye."
GIVE_UP = "I'm sorry, I didn't get that. Please call us again later. Goodbye."
AGAIN = "Sorry, I didn't get that. "
ASAP = "as soon as possible"
PARTS_OF_DAY = ("morning", "afternoon", "evening")
MAX_TRIES = 2
_DIGITS = re.compile(r"^\+?[0-9]{7,15}$")


@dataclass(frozen=True)
class Prompt:
    text: str
    expectation: Expectation = field(default_factory=Expectation)
    end: bool = False


def _tail(number: str) -> str:
    return " ".join(re.sub(r"\D", "", number)[-4:])


def _number(text: str, source: str, ctx: ParseContext) -> str | None:
    cleaned = re.sub(r"[\s\-().]", "", text)
    if source == "dtmf" or _DIGITS.match(cleaned):
        digits = re.sub(r"\D", "", cleaned)
        if len(digits) == 10:
            return "+1" + digits
        return ("+" + digits) if 7 <= len(digits) <= 15 else None
    found = extract("phone_number", text, ctx)
    value = found[0].value if found else None
    return str(value) if value and len(re.sub(r"\D", "", str(value))) >= 7 else None


def _when(text: str, source: str, ctx: ParseContext) -> str | None:
    lowered = text.lower()
    if (source == "dtmf" and text.strip() == "1") or "soon" in lowered or "any time" in lowered or "anytime" in lowered:
        return ASAP
    for kind in ("datetime", "date", "time"):
        values = [v for v in extract(kind, text, ctx) if v.value]
        if values:
            value = str(values[0].value)
            part = next((p for p in PARTS_OF_DAY if p in lowered), "")
            return f"{value} {part}".strip() if kind == "date" else value
    return next((f"in the {p}" for p in PARTS_OF_DAY if p in lowered), None)


def _yes_no(text: str, source: str) -> bool | None:
    if source == "dtmf":
        return {"1": True, "2": False}.get(text.strip())
    return parse_yes_no(text)


def spoken_when(value: str) -> str:
    """"2026-12-04T15:00" -> "on 2026-12-04 at 15:00" (text to speech reads both well)."""
    if "T" in value and value[:4].isdigit():
        day, _, hour = value.partition("T")
        return f"on {day} at {hour}"
    if value[:4].isdigit() and value[4:5] == "-":
        day, _, part = value.partition(" ")
        return f"on {day} in the {part}" if part else f"on {day}"
    if value[:2].isdigit() and value[2:3] == ":":
        return f"at {value}"
    return value


class CallbackDialogue:
    """Offer, number, time, done (see the module docstring)."""

    def __init__(self, caller_number: str | None, now: datetime | None = None, tz: str = "America/New_York"):
        number = re.sub(r"[^\d+]", "", caller_number or "")
        self.caller_number = number if len(re.sub(r"\D", "", number)) >= 7 else None
        self.ctx = ParseContext(now=now or datetime.now(ZoneInfo(tz)))
        self.step = "offer"
        self.tries = 0
        self.number: str | None = None
        self.when: str | None = None
        self.declined = False

    @property
    def request(self) -> tuple[str, str] | None:
        return (self.number, self.when) if self.number and self.when else None

    def start(self) -> Prompt:
        return Prompt(APOLOGY, Expectation(yes_no=True, digits_length=1))

    def handle(self, text: str, source: str = "speech") -> Prompt:
        text = (text or "").strip()
        if self.step == "offer":
            answer = _yes_no(text, source)
            if answer is False:
                self.declined = True
                return Prompt(NO_THANKS, end=True)
            if answer is True:
                return self._ask_number()
            return self._again(self.start())
        if self.step in ("same_number", "number"):
            if self.step == "same_number" and _yes_no(text, source) is True and self.caller_number:
                self.number = self.caller_number
            else:
                self.number = _number(text, source, self.ctx)
            if self.number is None:
                return self._again(self._number_prompt())
            return self._ask_time()
        if self.step == "time":
            self.when = _when(text, source, self.ctx)
            if self.when is None:
                return self._again(self._time_prompt())
            self.step = "done"
            return Prompt(DONE.format(tail=_tail(self.number or ""), when=spoken_when(self.when)), end=True)
        return Prompt(GIVE_UP, end=True)

    def handle_silence(self) -> Prompt:
        return self.handle("", "speech")

    # ------------------------------------------------------------------ prompts
    def _ask_number(self) -> Prompt:
        self.step, self.tries = ("same_number" if self.caller_number else "number"), 0
        return self._number_prompt()

    def _number_prompt(self) -> Prompt:
        if self.step == "same_number" and self.caller_number:
            return Prompt(ASK_SAME_NUMBER.format(tail=_tail(self.caller_number)),
                          Expectation(slot="callback_number", slot_type="phone_number", yes_no=True, pii=True))
        return Prompt(ASK_NUMBER, Expectation(slot="callback_number", slot_type="phone_number", pii=True))

    def _ask_time(self) -> Prompt:
        self.step, self.tries = "time", 0
        return self._time_prompt()

    def _time_prompt(self) -> Prompt:
        return Prompt(ASK_TIME, Expectation(slot="callback_time", slot_type="datetime", digits_length=1))

    def _again(self, prompt: Prompt) -> Prompt:
        self.tries += 1
        if self.tries >= MAX_TRIES:
            self.step = "gave_up"
            return Prompt(GIVE_UP, end=True)
        return Prompt(AGAIN + prompt.text, prompt.expectation)
