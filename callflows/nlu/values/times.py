"""Clock times in spoken or typed form, as "HH:MM" (24 h).

Forms: "3pm", "3 p m", "three p.m.", "3:30", "three thirty", "three oh five", "two o'clock",
"half past two", "(a) quarter past/after two", "quarter to/till/of four", "ten to five",
"twenty past six", "noon", "midday", "twelve noon", "midnight", "fourteen hundred (hours)",
"fourteen thirty", "330 pm", "three in the afternoon", "ten tomorrow morning".
Right after an hour, "p m" as an 8 kHz line delivers it counts as pm: "one VM", "two BM", "three
DM" (P, B, D and V are told apart by what the band cuts off; said after an hour they mean nothing else).

Which numbers are times:
- a number with minutes, am/pm, "o'clock", "hours" or "in the morning/afternoon/evening" is a time,
  and so is a number right after a part of the day ("afternoon 3", "morning 11", "evening 6:15");
- a bare hour ("three") is a time after at/around/about/by/after/before/until/till/say/between/from,
  after "or"/"and"/"to" that follows another time ("two or three"), or when every other word of
  the utterance is a date or a filler-like word ("three", "three please", "tuesday three",
  "how about three") and no other number in it is a time by the rules above (so in "i'd like
  one for tomorrow at 5 pm" only "5 pm" is);
- numbers inside a date ("the fifth", "march 5", "in two weeks") are never times, and a time
  must use its whole run of adjacent numbers, so "five five five one two three four" is not one.

am/pm for an hour 1..12 without am/pm (12 counts as noon):
1. "in the morning"/"this morning" right after it, or a part of the day right before it ("morning 11",
   "afternoon 3") -> am; afternoon/evening/night/tonight -> pm;
2. else a part of the day anywhere in the utterance ("tomorrow morning at ten") decides the same way;
3. else business hours (ctx.business_hours, open <= time < close): if exactly one of the am and
   pm readings is inside them, that one; otherwise pm for 1..6 and am for 7..11 (12 -> 12:00).
   So with (8, 18): three -> 15:00, nine -> 09:00, eight -> 08:00, seven -> 07:00, six -> 18:00.
Hours 0 and 13..23 are 24-hour times. extra["ampm"] says how it was decided:
"explicit", "part_of_day", "business_hours" or "24h".

A part of the day alone ("in the morning", "tomorrow afternoon") gives, only when the utterance
has no clock time, Value(type="time", value=None, extra={"part_of_day": p, "from": .., "to": ..})
with the ranges of callflows.nlu.values.dayparts (morning 08-12, afternoon 12-17, evening 17-21).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .dayparts import PART_OF_DAY, PART_RANGES, PM_PARTS, part_of_day_at, part_of_day_in
from .model import ParseContext, Value
from .normalize import Token
from .numbers import NUMBER_HOMOPHONES, Num, find_numbers, number_runs

PM_AS_HEARD = frozenset({"vm", "bm", "dm"})  # "p m" heard over the phone, right after an hour
# an hour's word as a phone line turns it ("three in the afternoon" heard "Read in the afternoon"),
# taken only right before a time marker (HOUR_MARKERS): "read" elsewhere is no number
HOURS_AS_HEARD = {**NUMBER_HOMOPHONES, "read": "three", "tree": "three", "juan": "one", "fire": "five", "hive": "five",
                  "sicks": "six", "heaven": "seven", "nein": "nine", "tin": "ten", "leaven": "eleven",
                  "free": "three", "then": "ten"}
# words callers also use before "in the afternoon" ("an appointment for in the afternoon",
# "anything free in the morning"): an hour only before a clock marker
_FUNCTION_WORDS = frozenset({"to", "too", "for", "fore", "free", "then"})
CLOCK_MARKERS = (("o'clock",), ("oclock",), ("pm",), ("am",), ("p", "m"), ("a", "m"), ("vm",), ("bm",), ("dm",))
HOUR_MARKERS = (("in", "the", "morning"), ("in", "the", "afternoon"), ("in", "the", "evening"), *CLOCK_MARKERS)

TIME_PREPOSITIONS = frozenset({
    "at", "around", "about", "by", "after", "before", "until", "till", "til", "say", "between",
    "from", "approximately", "roughly", "maybe",
})
TIME_CONNECTORS = frozenset({"or", "and", "to", "through", "until", "till"})
SOFT_WORDS = frozenset({
    "at", "around", "about", "maybe", "say", "let's", "lets", "how", "please", "okay", "ok", "yes",
    "yeah", "is", "fine", "good", "works", "that", "would", "be", "great", "perfect", "can", "i",
    "do", "we", "make", "it", "sure", "then", "or", "and", "on", "for", "the", "like", "i'd",
    "prefer", "rather", "lets", "go", "with", "what", "same", "time", "any", "anytime", "either",
})
COUNTED_NOUNS = frozenset({
    "people", "persons", "person", "guests", "guest", "adults", "adult", "kids", "children", "child",
    "rooms", "room", "nights", "night", "days", "weeks", "tickets", "seats", "tables", "of",
})
MINUTES_BEFORE = frozenset({"to", "till", "til", "of", "before"})
MINUTES_AFTER = frozenset({"past", "after"})
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class TimeMatch:
    """A clock time over tokens [i, end). marker: "am"/"pm"/"morning"/.../"" (none)/"24h"/"word"."""

    i: int
    end: int
    hour: int
    minute: int
    marker: str
    strong: bool


class _TimeReader:
    def __init__(self, tokens: list[Token], ctx: ParseContext, blocked: frozenset[int]):
        self.words = [t.text for t in tokens]
        self.blocked = blocked
        nums = [n for n in find_numbers(tokens) if not any(k in blocked for k in range(n.i, n.j))]
        self.nums: dict[int, Num] = {n.i: n for n in nums}
        self.run_of: dict[int, tuple[int, int]] = {}
        for run in number_runs(nums):
            for num in run:
                self.run_of[num.i] = (run[0].i, run[-1].j)
        self.ctx = ctx

    def word(self, i: int) -> str:
        return self.words[i] if 0 <= i < len(self.words) else ""

    def _hour(self, j: int) -> Num | None:
        num = self.nums.get(j)
        if num is None or num.ordinal or num.kind == "repeat" or not 0 <= num.value <= 23:
            return None
        return num

    def _marker(self, j: int) -> tuple[str, int]:
        """(marker, end) of am/pm/o'clock/hours/part-of-day words at token j."""
        word = self.word(j)
        if word in ("am", "pm"):
            return word, j + 1
        if word in PM_AS_HEARD:
            return "pm", j + 1
        if word in ("a", "p", "b", "d", "v") and self.word(j + 1) == "m":
            return ("am" if word == "a" else "pm"), j + 2
        if word in ("o'clock", "oclock"):
            marker, end = self._marker(j + 1)
            return (marker or "o'clock"), end
        if word == "hours":
            return "24h", j + 1
        part = part_of_day_at(self.words, j)
        if part is not None and self.word(j) in ("in", "this", "at", "tonight"):
            return part[0], part[1]
        return "", j

    def at(self, i: int) -> TimeMatch | None:
        for read in (self._named, self._relative_to_hour, self._clock, self._hour_minute):
            match = read(i)
            if match is not None:
                return match
        return None

    def _named(self, i: int) -> TimeMatch | None:
        word, j = self.word(i), i
        num = self.nums.get(i)
        if num is not None and num.value == 12 and self.word(num.j) in ("noon", "midnight"):
            word, j = self.word(num.j), num.j
        if word in ("noon", "midday"):
            return TimeMatch(i, j + 1, 12, 0, "word", True)
        if word == "midnight":
            return TimeMatch(i, j + 1, 0, 0, "word", True)
        return None

    def _relative_to_hour(self, i: int) -> TimeMatch | None:
        j = i + 1 if self.word(i) == "a" else i
        word = self.word(j)
        if word == "half" and self.word(j + 1) in MINUTES_AFTER:
            minutes, j = 30, j + 1
        elif word == "quarter" and self.word(j + 1) in MINUTES_AFTER | MINUTES_BEFORE:
            minutes, j = 15, j + 1
        else:
            num = self.nums.get(i)
            if num is None or num.ordinal or not 1 <= num.value <= 30:
                return None
            j = num.j
            has_unit = self.word(j) in ("minutes", "minute")
            j += 1 if has_unit else 0
            before_ok = has_unit or num.value in (5, 10, 15, 20, 25)
            if not (self.word(j) in MINUTES_AFTER or (before_ok and self.word(j) in MINUTES_BEFORE)):
                return None
            minutes = num.value
        hour = self._hour(j + 1)
        if hour is None or self.run_of[hour.i][1] != hour.j:
            return None
        h = hour.value
        if self.word(j) in MINUTES_BEFORE:
            h, minutes = (h - 1 if h > 1 else 12), 60 - minutes
        marker, end = self._marker(hour.j)
        return TimeMatch(i, end, h, minutes, marker, True)

    def _clock(self, i: int) -> TimeMatch | None:
        clock = _CLOCK.match(self.word(i))
        if clock:
            hour, minute = int(clock.group(1)), int(clock.group(2))
            if hour > 23 or minute > 59:
                return None
            marker, end = self._marker(i + 1)
            return TimeMatch(i, end, hour, minute, marker, True)
        num = self.nums.get(i)
        if num is None or num.kind != "numeral" or len(num.digits) not in (3, 4):
            return None
        marker, end = self._marker(i + 1)
        hour, minute = divmod(num.value, 100)
        if marker in ("", "o'clock") or hour > 23 or minute > 59:
            return None
        return TimeMatch(i, end, hour, minute, marker, True)

    def _hour_minute(self, i: int) -> TimeMatch | None:
        num = self.nums.get(i)
        if num is None or num.ordinal or self.run_of[i][0] != i:
            return None
        if num.kind == "cardinal" and num.value >= 100 and "hundred" in self.words[num.i:num.j]:
            hour, minute = divmod(num.value, 100)
            if hour > 23 or minute > 59:
                return None
            marker, end = self._marker(num.j)
            if self.run_of[i][1] != num.j:
                return None
            return TimeMatch(i, end, hour, minute, marker or "24h", True)
        hour = self._hour(i)
        if hour is None:
            return None
        j, minute = hour.j, None
        nxt = self.nums.get(j)
        if nxt is not None and not nxt.ordinal:
            after = self.nums.get(nxt.j)
            if nxt.kind == "digit" and nxt.value == 0 and after is not None and after.kind == "digit":
                minute, j = after.value, after.j
            elif (nxt.kind == "cardinal" and 10 <= nxt.value <= 59) or (
                    nxt.kind == "numeral" and len(nxt.digits) == 2 and nxt.value <= 59):
                minute, j = nxt.value, nxt.j
        if self.run_of[i][1] != j:
            return None
        marker, end = self._marker(j)
        if hour.kind == "numeral" and len(hour.digits) > 2:
            return None
        return TimeMatch(i, end, hour.value, minute or 0, marker, minute is not None or bool(marker))

    def _with_part_before(self, match: TimeMatch, free_from: int) -> TimeMatch:
        """"afternoon 3", "morning 11:30", "evening six fifteen": a part of the day right before
        a time without am/pm gives it its am/pm and makes it a time."""
        k = match.i - 1
        part = PART_OF_DAY.get(self.word(k))
        if part is None or k < free_from or k in self.blocked or match.marker not in ("", "o'clock"):
            return match
        if self.word(match.end) in COUNTED_NOUNS:  # "this evening 2 guests" is a count
            return match
        return TimeMatch(k, match.end, match.hour, match.minute, part, True)

    def read_all(self) -> list[TimeMatch]:
        candidates: list[TimeMatch] = []
        i = 0
        while i < len(self.words):
            match = None if i in self.blocked else self.at(i)
            if match is None:
                i += 1
                continue
            candidates.append(self._with_part_before(match, candidates[-1].end if candidates else 0))
            i = match.end
        covered = set(self.blocked)
        for match in candidates:
            covered.update(range(match.i, match.end))
        whole = all(k in covered or w in SOFT_WORDS for k, w in enumerate(self.words))
        return self._accept(candidates, False) or (self._accept(candidates, True) if whole else [])

    def _accept(self, candidates: list[TimeMatch], whole: bool) -> list[TimeMatch]:
        accepted: list[TimeMatch] = []
        for match in candidates:
            before = self.word(match.i - 1)
            chained = bool(accepted) and accepted[-1].end == match.i - 1 and before in TIME_CONNECTORS
            if match.strong or whole or before in TIME_PREPOSITIONS or chained:
                accepted.append(match)
        return accepted


def _resolve(match: TimeMatch, hint: str | None, ctx: ParseContext) -> tuple[int, int, str]:
    """(hour, minute, how) in 24 h for a time match (see the module docstring)."""
    hour, minute, marker = match.hour, match.minute, match.marker
    if hour == 0 or hour > 12 or marker in ("word", "24h"):
        return hour, minute, "24h" if marker != "word" else "explicit"
    if marker in ("am", "pm"):
        if marker == "am":
            return (0 if hour == 12 else hour), minute, "explicit"
        return (hour if hour == 12 else hour + 12), minute, "explicit"
    part = marker if marker in PART_RANGES else hint
    if part is not None:
        if part in PM_PARTS:
            return (hour if hour == 12 else hour + 12), minute, "part_of_day"
        return hour, minute, "part_of_day"
    opening, closing = ctx.business_hours
    am, pm = hour % 12, hour % 12 + 12
    inside = [h for h in (am, pm) if opening * 60 <= h * 60 + minute < closing * 60]
    if len(inside) == 1:
        return inside[0], minute, "business_hours"
    return (pm if 1 <= hour <= 6 or hour == 12 else am), minute, "business_hours"


def find_times(tokens: list[Token], ctx: ParseContext, blocked: frozenset[int]) -> list[tuple[TimeMatch, str, str]]:
    """(match, "HH:MM", how-am/pm-was-decided) for every clock time outside the blocked tokens."""
    words = [t.text for t in tokens]
    hint = part_of_day_in(words)
    out = []
    for match in _TimeReader(tokens, ctx, blocked).read_all():
        if match.hour > 12 and match.marker in ("am", "morning"):
            continue  # "thirteen in the morning" is no time (it was "three in the afternoon" on the line)
        hour, minute, how = _resolve(match, hint, ctx)
        out.append((match, f"{hour:02d}:{minute:02d}", how))
    return out


def parts_of_day(text: str, tokens: list[Token]) -> list[Value]:
    """Time values with value None for each part-of-day word ("tomorrow morning")."""
    values = []
    for token in tokens:
        part = PART_OF_DAY.get(token.text)
        if part is not None:
            start, end = PART_RANGES[part]
            extra = {"part_of_day": part, "from": start, "to": end}
            values.append(Value("time", None, token.start, token.end, token.text, extra))
    return values


def hours_as_heard(tokens: list[Token]) -> list[tuple[int, str]]:
    """(token index, the hour's word) for each hour heard as another word right before a time
    marker (HOURS_AS_HEARD): "read in the afternoon" -> [(0, "three")]."""
    words = [t.text for t in tokens]
    found = []
    for k, word in enumerate(words):
        markers = CLOCK_MARKERS if word in _FUNCTION_WORDS else HOUR_MARKERS
        if word in HOURS_AS_HEARD and any(tuple(words[k + 1:k + 1 + len(m)]) == m for m in markers):
            found.append((k, HOURS_AS_HEARD[word]))
    return found
