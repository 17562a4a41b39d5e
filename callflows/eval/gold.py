"""Gold normalised values for the evaluation, from hand-written rules (never from our parsers).

SGD (Services_1/2/3) has no real dates. Reference date: every dialogue is taken to happen on
Friday 2019-03-01 ("this Sunday" is confirmed by the system as "the day after tomorrow",
"Saturday this week" as "tomorrow", and "this month" is March). Rules:
- today / later today -> 03-01; tomorrow -> 03-02; day after tomorrow -> 03-03;
- "<weekday> this week" / "this <weekday>" / bare weekday -> the next such day after today;
- "<weekday> next week" -> that weekday in the week of Monday 2019-03-04;
- "next <weekday>": Mon-Fri -> 03-04..03-08 (both readings agree); Saturday and Sunday are
  ambiguous (the coming one or the one in next week): both readings are accepted;
- "the 13th", "13th of this month", "March 13th", "13th of March" -> 2019-03-13 (month named:
  that month, 2019).
Times: "H:MM", "H" with am/pm or with morning (am) / afternoon, evening, night (pm) before or after;
"half past H", "quarter past/to H"; 24-hour "16:30"; number words. A bare hour with no marker
follows the appointment convention 8..11 am, 12 noon, 1..6 pm, and 7 is ambiguous (both accepted).
Spans no rule reads are reported as `unreadable` and left out of the denominator.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

SGD_TODAY = date(2019, 3, 1)
NLUPP_TODAY = date(2022, 3, 15)

_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_WORDS.update({"thirty": 30, "forty": 40, "forty five": 45, "fifteen": 15, "twenty five": 25})
_ORD = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())}
_MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
_WD = {d: i for i, d in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())}


def _next_weekday(today: date, wd: int) -> date:
    return today + timedelta(days=(wd - today.weekday() - 1) % 7 + 1)


def sgd_date(text: str, today: date = SGD_TODAY) -> set[str] | None:
    t = re.sub(r"[^a-z0-9 ]", " ", text.lower())
    t = " ".join(t.split())
    if t in ("today", "later today", "this day"):
        return {today.isoformat()}
    if t == "tomorrow":
        return {(today + timedelta(1)).isoformat()}
    if t in ("day after tomorrow", "the day after tomorrow"):
        return {(today + timedelta(2)).isoformat()}
    m = re.fullmatch(r"(?:(this|next) )?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?: (this|next) week)?", t)
    if m:
        wd = _WD[m[2]]
        coming = _next_weekday(today, wd)
        next_week = today - timedelta(today.weekday()) + timedelta(7 + wd)
        if m[3] == "next":
            return {next_week.isoformat()}
        if m[1] == "next":
            return {coming.isoformat(), next_week.isoformat()}
        return {coming.isoformat()}
    m = re.fullmatch(r"(?:the )?(\d{1,2})(?:st|nd|rd|th)?(?: of (?:this month|(\w+)))?", t) or \
        re.fullmatch(r"(\w+) (?:the )?(\d{1,2})(?:st|nd|rd|th)?", t)
    if m:
        a, b = m[1], m[2]
        day_s, month_s = (a, b) if a.isdigit() else (b, a)
        month = today.month if month_s is None else _MONTHS.get(month_s)
        if month and day_s and day_s.isdigit():
            try:
                return {date(today.year, month, int(day_s)).isoformat()}
            except ValueError:
                return None
    return None


def _num(tok: str) -> int | None:
    if tok.isdigit():
        return int(tok)
    return _WORDS.get(tok)


def sgd_time(text: str) -> set[str] | None:
    t = text.lower().replace('o"clock', "").replace("o'clock", "").replace("oclock", "")
    t = t.replace("a.m.", "am").replace("p.m.", "pm")
    t = " ".join(re.sub(r"[^a-z0-9: ]", " ", t).split())
    marker = None
    if re.search(r"\b(am|morning)\b", t):
        marker = "am"
    elif re.search(r"\b(pm|afternoon|evening|night)\b", t):
        marker = "pm"
    core = " ".join(w for w in t.split() if w not in ("am", "pm", "in", "the", "morning", "afternoon", "evening",
                                                       "night", "at", "noon"))
    minute = 0
    m = re.fullmatch(r"(half|quarter) (past|to) (\w+)", core)
    if m:
        h = _num(m[3])
        if h is None:
            return None
        minute = 30 if m[1] == "half" else 15
        if m[2] == "to":
            h, minute = h - 1, 60 - minute
    else:
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", core)
        if m:
            h, minute = int(m[1]), int(m[2])
        else:
            parts = core.split()
            if not parts:
                if "noon" in t:
                    return {"12:00"}
                return None
            h = _num(parts[0])
            if h is None:
                return None
            rest = " ".join(parts[1:])
            if rest:
                mm = _num(rest) if rest in _WORDS or rest.isdigit() else None
                if mm is None:
                    return None
                minute = mm
    if not (0 <= h <= 23 and 0 <= minute < 60):
        return None
    if h > 12 or h == 0:
        return {f"{h:02d}:{minute:02d}"}
    if marker == "am":
        return {f"{h % 12:02d}:{minute:02d}"}
    if marker == "pm":
        return {f"{h % 12 + 12:02d}:{minute:02d}"}
    if h == 7:
        return {f"07:{minute:02d}", f"19:{minute:02d}"}
    if h == 12 or 8 <= h <= 11:
        return {f"{h:02d}:{minute:02d}"}
    return {f"{h + 12:02d}:{minute:02d}"}


# ---- NLU++ gold values (the data set gives them) ----------------------------------------------
NLUPP_TYPES = {
    "date": "date", "date_from": "date", "date_to": "date", "time": "time", "time_from": "time", "time_to": "time",
    "amount_of_money": "money", "people": "count", "adults": "count", "kids": "count", "rooms": "count", "number": "count",
}


def nlupp_gold(slot: str, info: dict) -> str | None:
    kind = NLUPP_TYPES.get(slot)
    v = info.get("value", info.get("values"))
    if kind is None or v is None:
        return None
    if kind == "date" and isinstance(v, dict) and {"day", "month", "year"} <= set(v):
        return f"{v['year']:04d}-{v['month']:02d}-{v['day']:02d}"
    if kind == "time" and isinstance(v, dict) and "hour" in v:
        return f"{v['hour']:02d}:{v.get('minute', 0):02d}"
    if kind == "money" and isinstance(v, dict) and "amount" in v:
        return f"{float(v['amount']):.2f}"
    if kind == "count" and isinstance(v, int):
        return str(v)
    return None
