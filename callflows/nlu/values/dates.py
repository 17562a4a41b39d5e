"""Calendar dates in spoken or typed form, resolved against the call's date (ctx.now).

Rules for the ambiguous cases (prefer="future" unless said otherwise):
- "today", "tonight", "this morning" -> today; "tomorrow" -> +1 day; "(the) day after tomorrow" -> +2;
  "yesterday" -> -1.
- A weekday, bare or with "this"/"next"/"coming"/"this coming"/"on": the first such weekday strictly
  after today (so on Sunday 2026-11-22 "tuesday", "this tuesday" and "next tuesday" all mean
  2026-11-24; on a Tuesday, "tuesday" means a week later). With prefer="past", a bare weekday and
  "last <weekday>" mean the most recent such day strictly before today ("last" does so always).
- "<weekday> next week", "next week <weekday>": that weekday in next calendar week (weeks run
  Monday to Sunday). "<weekday> after next": a week after the bare weekday.
- "next week" -> Monday of next week, "the week after next" -> the Monday after it
  (extra {"granularity": "week"}); "next month" -> the 1st of next month ({"granularity": "month"});
  "(the) end of the month" -> the last day of this month ({"granularity": "approximate"}).
- "in N days/weeks/months", "N weeks from today/now/tomorrow/<any date>", "a week from today",
  "a couple of weeks" (2), "a few days" (3); months keep the day, clipped to the month's end.
- Month and day ("march fifth", "march 5th", "5th of march", "the fifth of march" (or "on march",
  "in march", as the line hears "of"), "five march",
  "on march the fifth", "12/3" = December 3, US order): with a year it is taken as is; without
  one, prefer="future" takes the next occurrence on or after today, prefer="past" gives no value
  (a date of birth needs a year).
- Years: "1985", "nineteen eighty five", "two thousand five", "twenty oh five", "twenty twenty six";
  two-digit years ("eighty five", "'85", "3/5/85") only with prefer="past" when spoken (typed
  m/d/yy always): 20yy, or 19yy if 20yy would be after today; with prefer="future" typed 20yy.
- Day of month in this or next month: "the first of this month", "(the) 3rd of the month",
  "second of next month", "the 5th of the following month" (also without "the" for 1st/2nd).
- Day of month alone ("the fifth", "the 12th", "12th", "on the twenty first"): the next date with
  that day on or after today, or with prefer="past" the most recent on or before today. An ordinal
  word without "the" must be 3rd or above, and an ordinal must be followed by the end of the
  utterance, a number, or a word from a short list (at, in, or, and, please, and determiners,
  pronouns and "with": "on the 10th with dr lee"), so "the first available" and "my third visit"
  are not dates.
- "<weekday> the fifth", "tuesday march 3rd": the explicit date wins; extra {"weekday_mismatch": True}
  if the weekday disagrees. Except (prefer="future", no year said): when that day of month falls on
  the weekday said in one of the next 3 months, sooner than the date heard, that date is taken
  ({"month_from_weekday": True}): on a phone line the month is what is misheard ("friday december
  eleventh" -> "Friday, November 11th"). Otherwise, when the day with its "-teen" lost or added
  (3rd-9th <-> 13th-19th, in the month heard, still to come) is that weekday, it is taken
  ({"day_from_weekday": True}): "friday december eighteenth" -> "Friday, December 8th".
- Impossible dates ("february thirtieth", "13/45") give no value and their words are not
  re-read as anything else.
- A part of the day right after a date ("tomorrow morning", "monday afternoon", "friday night")
  joins its span and sets extra {"part_of_day": ...}; "tomorrow in the morning" sets the extra only.
- prefer="birth" (a date of birth) reads dates as prefer="past" does, and gives no value for a date
  that cannot be one: after today, less than a year ago ("yesterday", "last tuesday", "today"),
  or before 1900.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, timedelta

from .dayparts import PART_OF_DAY, part_of_day_at
from .model import ParseContext, Value
from .normalize import Token, tokenize
from .numbers import Num, find_numbers

MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}
WEEKDAYS = {
    "monday": 0, "mondays": 0, "tuesday": 1, "tuesdays": 1, "tues": 1, "wednesday": 2,
    "wednesdays": 2, "weds": 2, "thursday": 3, "thursdays": 3, "thurs": 3, "friday": 4,
    "fridays": 4, "saturday": 5, "saturdays": 5, "sunday": 6, "sundays": 6,
}
MONTHS_BY_WEEKDAY = 3  # months ahead in which a weekday that disagrees with the month heard may name the month
RELATIVE_DAYS = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1}
UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7}
UNIT_MONTHS = frozenset({"month", "months"})
WEEKDAY_MODIFIERS = frozenset({"this", "next", "coming", "upcoming", "last", "past"})
ORDINAL_FOLLOWERS = frozenset({
    "at", "in", "on", "or", "and", "please", "would", "works", "work", "is", "if", "then", "around",
    "by", "after", "before", "maybe", "sounds", "that", "for", "of", "okay", "ok", "could", "instead",
    "either", "preferably", "perhaps", "i", "we", "between", "from", "this", "next", "good", "fine",
    "thanks", "thank", "yes", "no", "am", "pm", "noon", "sometime", "any", "anytime", "too", "as",
    "but", "so", "still", "right",
    # a determiner, pronoun or preposition cannot be the noun an ordinal qualifies ("the first
    # one", "my third visit"), so after one the ordinal ends a date: "on the 10th with dr lee",
    # "to the 5th the salon is ..."
    "with", "the", "a", "an", "my", "our", "it", "it's", "its", "i'd", "i'm", "i'll", "we'd", "we're",
    "we'll", "anything", "something", "also", "again", "because", "since", "when", "unless", "let's",
}) | frozenset(PART_OF_DAY)
OF_A_GROUP = frozenset({"them", "those", "these", "us", "you", "it", "the", "my", "your", "our", "their", "his", "her"})
_MDY = re.compile(r"^(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?$")
_YMD = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_TIME_TOKEN = re.compile(r"^\d{1,2}:\d{2}$")


@dataclass(frozen=True)
class DateMatch:
    """A date phrase over tokens [i, end); day None = recognised but impossible/unresolvable."""

    i: int
    end: int
    day: date | None
    extra: dict = field(default_factory=dict)


def _add_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


class _DateReader:
    """Reads date phrases from the tokens of one utterance."""

    def __init__(self, tokens: list[Token], ctx: ParseContext):
        self.words = [t.text for t in tokens]
        self.nums: dict[int, Num] = {n.i: n for n in find_numbers(tokens)}
        self.today = ctx.now.date()
        self.past = ctx.prefer in ("past", "birth")

    def word(self, i: int) -> str:
        return self.words[i] if 0 <= i < len(self.words) else ""

    # ---- whole utterance -------------------------------------------------------------------
    def read_all(self) -> list[DateMatch]:
        found: list[DateMatch] = []
        i = 0
        while i < len(self.words):
            match = self.at(i)
            if match is None:
                i += 1
                continue
            found.append(match)
            i = match.end
        return found

    def at(self, i: int) -> DateMatch | None:
        match = self.core(i)
        if match is None or match.day is None:
            return match
        if self.word(match.end) in PART_OF_DAY:
            extra = {**match.extra, "part_of_day": PART_OF_DAY[self.word(match.end)]}
            return DateMatch(i, match.end + 1, match.day, extra)
        part = part_of_day_at(self.words, match.end)
        if part is not None and "part_of_day" not in match.extra:
            return DateMatch(i, match.end, match.day, {**match.extra, "part_of_day": part[0]})
        return match

    def core(self, i: int) -> DateMatch | None:
        readers = (self._relative, self._weekday, self._month_first, self._day_first,
                   self._numeric, self._offset, self._week_or_month)
        matches = [m for m in (read(i) for read in readers) if m is not None]
        return max(matches, key=lambda m: m.end, default=None)

    # ---- resolution helpers ----------------------------------------------------------------
    def _weekday_date(self, weekday: int, backwards: bool) -> date:
        if backwards:
            return self.today - timedelta(days=(self.today.weekday() - weekday) % 7 or 7)
        return self.today + timedelta(days=(weekday - self.today.weekday()) % 7 or 7)

    def _monday(self, weeks_ahead: int) -> date:
        return self.today - timedelta(days=self.today.weekday()) + timedelta(weeks=weeks_ahead)

    def _century(self, yy: int, month: int, day: int) -> int:
        if self.past and (2000 + yy, month, day) > (self.today.year, self.today.month, self.today.day):
            return 1900 + yy
        return 2000 + yy

    def _month_day(self, i: int, end: int, month: int, day: int,
                   year: tuple[int, int, bool] | None) -> DateMatch:
        if year is not None:
            value, end, two_digit = year
            if two_digit:
                value = self._century(value, month, day)
            return DateMatch(i, end, _safe_date(value, month, day))
        if _safe_date(2000, month, day) is None or self.past:
            return DateMatch(i, end, None)
        for year_ in range(self.today.year, self.today.year + 9):
            found = _safe_date(year_, month, day)
            if found is not None and found >= self.today:
                return DateMatch(i, end, found)
        return DateMatch(i, end, None)

    def _day_of_month(self, i: int, end: int, day: int) -> DateMatch:
        step = -1 if self.past else 1
        year, month = self.today.year, self.today.month
        for _ in range(14):
            found = _safe_date(year, month, day)
            if found is not None and (found <= self.today if self.past else found >= self.today):
                return DateMatch(i, end, found)
            year, month = divmod(year * 12 + month - 1 + step, 12)
            month += 1
        return DateMatch(i, end, None)

    def _year(self, j: int) -> tuple[int, int, bool] | None:
        """(year, end, is_two_digit) of a year starting at token j."""
        first = self.nums.get(j)
        if first is None or first.ordinal or first.kind == "repeat":
            return None
        if 1900 <= first.value <= 2099 and (first.kind == "cardinal" or len(first.digits) == 4):
            return first.value, first.j, False
        second = self.nums.get(first.j)
        if first.kind == "cardinal" and first.value in (19, 20) and second is not None and not second.ordinal:
            if second.kind == "cardinal" and 10 <= second.value <= 99:
                return first.value * 100 + second.value, second.j, False
            third = self.nums.get(second.j)
            if second.value == 0 and third is not None and third.kind == "digit" and third.value > 0:
                return first.value * 100 + third.value, third.j, False
        if not self.past:
            return None
        if first.kind == "digit" and first.value == 0 and second is not None and second.kind == "digit":
            if second.value > 0 and second.j not in self.nums:
                return second.value, second.j, True
        two_digits = (first.kind == "cardinal" and 10 <= first.value <= 99) or (
            first.kind == "numeral" and len(first.digits) == 2)
        if two_digits and second is None:
            return first.value, first.j, True
        return None

    def _month_ref(self, j: int) -> tuple[int, int] | None:
        """(months ahead, end) for "(of) this month", "(of) the month", "(of) next month",
        "of the next/following/coming month" after a day of the month."""
        k = j + 1 if self.word(j) == "of" else j
        if self.word(k) == "the" and self.word(k + 1) in ("next", "following", "coming", "month"):
            k += 1
        if self.word(k) == "month" and k > j:
            return 0, k + 1
        if self.word(k) in ("this", "current") and self.word(k + 1) == "month":
            return 0, k + 2
        if self.word(k) in ("next", "following", "coming") and self.word(k + 1) == "month":
            return 1, k + 2
        return None

    def _ordinal_may_end(self, j: int) -> bool:
        nxt = self.word(j)
        if nxt == "of" and self.word(j + 1) in OF_A_GROUP:  # "the first of them", "the second of those"
            return False
        return nxt == "" or nxt in ORDINAL_FOLLOWERS or j in self.nums or bool(_TIME_TOKEN.match(nxt))

    # ---- readers: each returns the match starting at token i, or None ------------------------
    def _relative(self, i: int) -> DateMatch | None:
        word = self.word(i)
        if word in RELATIVE_DAYS:
            extra = {"part_of_day": "evening"} if word == "tonight" else {}
            return DateMatch(i, i + 1, self.today + timedelta(days=RELATIVE_DAYS[word]), extra)
        j = i + 1 if word == "the" else i
        if self.words[j:j + 3] == ["day", "after", "tomorrow"]:
            return DateMatch(i, j + 3, self.today + timedelta(days=2))
        if word == "this" and self.word(i + 1) in PART_OF_DAY:
            return DateMatch(i, i + 2, self.today, {"part_of_day": PART_OF_DAY[self.word(i + 1)]})
        return None

    def _weekday(self, i: int) -> DateMatch | None:
        j, modifier = i, ""
        if self.word(j) == "this" and self.word(j + 1) == "coming":
            j, modifier = j + 2, "next"
        elif self.word(j) in WEEKDAY_MODIFIERS:
            j, modifier = j + 1, self.word(j)
        if self.word(j) not in WEEKDAYS:
            return None
        weekday, j = WEEKDAYS[self.word(j)], j + 1
        explicit = self._explicit_after_weekday(j)
        if explicit is not None:
            extra = dict(explicit.extra)
            if explicit.day is not None and explicit.day.weekday() != weekday:
                extra["weekday_mismatch"] = True
                nearer = None if self.past or self._year_in(explicit) else self._month_by_weekday(explicit.day, weekday)
                if nearer is not None:
                    return DateMatch(i, explicit.end, nearer, {**extra, "month_from_weekday": True})
                tens = None if self.past else self._tens_by_weekday(explicit.day, weekday)
                if tens is not None:
                    return DateMatch(i, explicit.end, tens, {**extra, "day_from_weekday": True})
            return DateMatch(i, explicit.end, explicit.day, extra)
        k = j + 1 if self.word(j) == "of" else j
        if self.words[k:k + 2] in (["next", "week"], ["this", "week"]):
            monday = self._monday(1 if self.word(k) == "next" else 0)
            return DateMatch(i, k + 2, monday + timedelta(days=weekday))
        backwards = modifier in ("last", "past") or (self.past and not modifier)
        day = self._weekday_date(weekday, backwards)
        if self.words[j:j + 2] == ["after", "next"]:
            return DateMatch(i, j + 2, day + timedelta(weeks=1))
        return DateMatch(i, j, day)

    def _year_in(self, match: DateMatch) -> bool:
        return any(match.i <= k < match.end and n.value >= 1000 for k, n in self.nums.items())

    def _month_by_weekday(self, said: date, weekday: int) -> date | None:
        """The day of month said, in one of the next MONTHS_BY_WEEKDAY months where it falls on the
        weekday said, when that comes before the date as heard: a phone line turns "friday december
        eleventh" into "Friday, November 11th" (a Thursday, eleven months away), and the weekday and
        the day of month together name December."""
        year, month = self.today.year, self.today.month
        for _ in range(MONTHS_BY_WEEKDAY):
            found = _safe_date(year, month, said.day)
            if found is not None and self.today <= found < said and found.weekday() == weekday:
                return found
            year, month = divmod(year * 12 + month, 12)
            month += 1
        return None

    def _tens_by_weekday(self, said: date, weekday: int) -> date | None:
        """The day of the month heard with its "-teen" lost or added on the line ("eighteenth" ->
        "8th", "sixth" -> "sixteenth"), when that day falls on the weekday said and comes within
        MONTHS_BY_WEEKDAY months: "Friday, December 8th" (a Tuesday) is Friday, December 18."""
        shift = 10 if 3 <= said.day <= 9 else -10 if 13 <= said.day <= 19 else 0
        found = _safe_date(said.year, said.month, said.day + shift) if shift else None
        if found is None or found.weekday() != weekday:
            return None
        return found if self.today <= found <= self.today + timedelta(days=31 * MONTHS_BY_WEEKDAY) else None

    def _explicit_after_weekday(self, j: int) -> DateMatch | None:
        k = j + 1 if self.word(j) == "the" and self.word(j + 1) in MONTHS else j
        for read in (self._month_first, self._day_first, self._numeric):
            match = read(k)
            if match is not None:
                return match
        return None

    def _month_first(self, i: int) -> DateMatch | None:
        if self.word(i) not in MONTHS:
            return None
        month = MONTHS[self.word(i)]
        j = i + 2 if self.word(i + 1) == "the" else i + 1
        day = self.nums.get(j)
        if day is None or day.kind == "repeat" or not 1 <= day.value <= 31:
            if day is not None and day.value > 31 and not day.ordinal:
                return None
            return DateMatch(i, day.j, None) if day is not None and day.ordinal else None
        return self._month_day(i, day.j, month, day.value, self._year(day.j))

    def _day_first(self, i: int) -> DateMatch | None:
        has_the = self.word(i) == "the"
        j = i + 1 if has_the else i
        day = self.nums.get(j)
        if day is None or day.kind == "repeat":
            return None
        # "of", or the line's "on"/"in" for it after an ordinal ("the 12th on January")
        of = self.word(day.j) == "of" or (day.ordinal and self.word(day.j) in ("on", "in")
                                          and self.word(day.j + 1) in MONTHS)
        k = day.j + 1 if of else day.j
        if self.word(k) in MONTHS:
            if not 1 <= day.value <= 31:
                return DateMatch(i, k + 1, None) if day.ordinal else None
            return self._month_day(i, k + 1, MONTHS[self.word(k)], day.value, self._year(k + 1))
        in_month = self._month_ref(day.j) if day.ordinal else None
        if in_month is not None:
            months_ahead, end = in_month
            if not 1 <= day.value <= 31:
                return DateMatch(i, end, None)
            first = _add_months(self.today.replace(day=1), months_ahead)
            return DateMatch(i, end, _safe_date(first.year, first.month, day.value))
        if not day.ordinal or not self._ordinal_may_end(day.j):
            return None
        if not has_the and day.kind != "numeral" and day.value <= 2 and self.word(i - 1) not in WEEKDAYS:
            return None
        if not 1 <= day.value <= 31:
            return DateMatch(i, day.j, None)
        return self._day_of_month(i, day.j, day.value)

    def _numeric(self, i: int) -> DateMatch | None:
        word = self.word(i)
        ymd = _YMD.match(word)
        if ymd:
            return DateMatch(i, i + 1, _safe_date(*(int(g) for g in ymd.groups())))
        mdy = _MDY.match(word)
        if not mdy:
            return None
        month, day = int(mdy.group(1)), int(mdy.group(2))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return DateMatch(i, i + 1, None)
        year = (int(mdy.group(3)), i + 1, len(mdy.group(3)) == 2) if mdy.group(3) else None
        return self._month_day(i, i + 1, month, day, year)

    def _amount(self, j: int) -> tuple[int, int] | None:
        """(count, end) for "two", "a", "an", "a couple (of)", "a few", "one"."""
        k = j + 1 if self.word(j) in ("a", "an") else j
        if self.word(k) in ("couple", "few"):
            end = k + 2 if self.word(k + 1) == "of" else k + 1
            return (2 if self.word(k) == "couple" else 3), end
        if k > j:
            return 1, k
        num = self.nums.get(j)
        if num is None or num.ordinal or not 1 <= num.value <= 99:
            return None
        return num.value, num.j

    def _offset(self, i: int) -> DateMatch | None:
        has_in = self.word(i) == "in"
        amount = self._amount(i + 1 if has_in else i)
        if amount is None:
            return None
        count, j = amount
        unit = self.word(j)
        if unit not in UNIT_DAYS and unit not in UNIT_MONTHS:
            return None
        j += 1
        base, end = self.today, j
        if not has_in:
            if self.word(j) == "from":
                anchor = (self.today, j + 2) if self.word(j + 1) == "now" else None
                if anchor is None:
                    inner = self.core(j + 1)
                    anchor = (inner.day, inner.end) if inner is not None and inner.day is not None else None
                if anchor is None:
                    return None
                base, end = anchor
            elif self.word(j) in ("out", "later"):
                end = j + 1
            else:
                return None
        if unit in UNIT_MONTHS:
            return DateMatch(i, end, _add_months(base, count))
        return DateMatch(i, end, base + timedelta(days=count * UNIT_DAYS[unit]))

    def _week_or_month(self, i: int) -> DateMatch | None:
        j = i + 1 if self.word(i) == "the" else i
        if self.words[j:j + 3] == ["week", "after", "next"]:
            return DateMatch(i, j + 3, self._monday(2), {"granularity": "week"})
        if self.words[j:j + 2] == ["next", "week"]:
            k = j + 3 if self.word(j + 2) == "on" else j + 2
            if self.word(k) in WEEKDAYS:
                return DateMatch(i, k + 1, self._monday(1) + timedelta(days=WEEKDAYS[self.word(k)]))
            return DateMatch(i, j + 2, self._monday(1), {"granularity": "week"})
        if self.words[j:j + 2] == ["next", "month"]:
            first = _add_months(self.today.replace(day=1), 1)
            return DateMatch(i, j + 2, first, {"granularity": "month"})
        if self.words[j:j + 2] == ["end", "of"]:
            k = j + 2
            if self.word(k) in ("the", "this"):
                k += 1
            if self.word(k) == "month":
                last = self.today.replace(day=monthrange(self.today.year, self.today.month)[1])
                return DateMatch(i, k + 1, last, {"granularity": "approximate"})
        return None


def find_dates(tokens: list[Token], ctx: ParseContext) -> list[DateMatch]:
    """Every date phrase in the tokens, in order, including impossible ones (day None)."""
    return _DateReader(tokens, ctx).read_all()


def plausible_birth_date(day: date, today: date) -> bool:
    """Whether `day` can be a caller's date of birth: from 1900 to a year before today."""
    return date(1900, 1, 1) <= day <= today - timedelta(days=365)


def extract_dates(text: str, ctx: ParseContext) -> list[Value]:
    """Date values ("YYYY-MM-DD") in normalised text."""
    tokens = tokenize(text)
    values: list[Value] = []
    for match in find_dates(tokens, ctx):
        if match.day is None:
            continue
        if ctx.prefer == "birth" and not plausible_birth_date(match.day, ctx.now.date()):
            continue
        start, end = tokens[match.i].start, tokens[match.end - 1].end
        values.append(Value("date", match.day.isoformat(), start, end, text[start:end], dict(match.extra)))
    return values
