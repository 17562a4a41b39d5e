"""Text normalisation for the TTS: turn dates, times, money, phone numbers and
abbreviations into the words a person would say on the phone."""

from __future__ import annotations

import logging
import re
from datetime import date

log = logging.getLogger(__name__)

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_ONES = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_ORDINAL_TENS = "_ _ twentieth thirtieth".split()
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_SCALES = ((1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand"), (100, "hundred"))


def number_words(n: int) -> str:
    """Cardinal in words, US style without "and": 325 -> "three hundred twenty five"."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    for value, name in _SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            words = number_words(high) + " " + name
            return words if rest == 0 else words + " " + number_words(rest)
    raise AssertionError(n)  # pragma: no cover


def ordinal_words(n: int) -> str:
    """Ordinal in words for 1..99: 1 -> "first", 21 -> "twenty first"."""
    if n < 20:
        return _ORDINAL_ONES[n]
    tens, ones = divmod(n, 10)
    if ones == 0:
        return _ORDINAL_TENS[tens] if tens < len(_ORDINAL_TENS) else _TENS[tens][:-1] + "ieth"
    return _TENS[tens] + " " + _ORDINAL_ONES[ones]


def year_words(year: int) -> str:
    """1985 -> "nineteen eighty five", 2026 -> "twenty twenty six", 2005 -> "two thousand five"."""
    if 2000 <= year <= 2009 or year % 1000 == 0 or year < 1000 or year > 9999:
        return number_words(year)
    high, low = divmod(year, 100)
    if low == 0:
        return number_words(high) + " hundred"
    return number_words(high) + (" oh " + _ONES[low] if low < 10 else " " + number_words(low))


def date_words(d: date, today: date | None = None) -> str:
    """A date as spoken: a date near ``today`` (within 180 days) gets its weekday and no year
    ("Tuesday, December first"); a far one gets its year ("March fifth, nineteen eighty five")."""
    today = today or date.today()
    base = f"{_MONTHS[d.month - 1]} {ordinal_words(d.day)}"
    if abs((d - today).days) <= 180:
        return f"{_WEEKDAYS[d.weekday()]}, {base}"
    return f"{base}, {year_words(d.year)}"


def time_words(hour: int, minute: int, meridiem: str | None = None) -> str:
    """15:30 -> "three thirty p m"; 9:05 -> "nine oh five a m"; 15:00 -> "three p m"."""
    if meridiem is None:
        meridiem = "p" if hour >= 12 else "a"
    h12 = hour % 12 or 12
    if minute == 0:
        clock = _ONES[h12]
    elif minute < 10:
        clock = f"{_ONES[h12]} oh {_ONES[minute]}"
    else:
        clock = f"{_ONES[h12]} {number_words(minute)}"
    return f"{clock} {meridiem.lower()} m"


def money_words(dollars: int, cents: int) -> str:
    """(325, 50) -> "three hundred twenty five dollars and fifty cents"."""
    parts = []
    if dollars or not cents:
        parts.append(f"{number_words(dollars)} dollar{'' if dollars == 1 else 's'}")
    if cents:
        parts.append(f"{number_words(cents)} cent{'' if cents == 1 else 's'}")
    return " and ".join(parts)


def digits_words(digits: str) -> str:
    """ "4567" -> "four five six seven"."""
    return " ".join(_ONES[int(c)] for c in digits if c.isdigit())


_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# "January 13" as the templates write it: said as an ordinal, "January thirteenth" (over the line,
# Piper's "January thirteen" was heard "January 30" by Whisper, and callers disputed a right summary)
_MONTH_DAY = re.compile(r"\b(" + "|".join(_MONTHS) + r") ([12]?\d|3[01])(?![\d:]|st\b|nd\b|rd\b|th\b)")
_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)(?:\s*([AaPp])\.?\s?[Mm]\b\.?)?")
_HOUR_MERIDIEM = re.compile(r"\b(1[0-2]|0?[1-9])\s*([AaPp])\.?\s?[Mm]\b\.?")
_MONEY = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?!\d)")
_PHONE = re.compile(
    r"(?<![\w$])(?:\+?1[\s.-]?)?(?:\((\d{3})\)\s?|(\d{3})[\s.-]?)(\d{3})[\s.-]?(\d{4})(?!\w)"
)
_ABBREVIATIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bDr\."), "Doctor"),
    (re.compile(r"\bMrs\."), "Missus"),
    (re.compile(r"\bMr\."), "Mister"),
    (re.compile(r"\bMs\."), "Miz"),
    (re.compile(r"\bAve\.?(?=\W|$)"), "Avenue"),
    (re.compile(r"\bApt\.?(?=\W|$)"), "Apartment"),
    (re.compile(r"\s*&\s*"), " and "),
)


_ST = re.compile(r"\bSt\b\.?")
_WORD_BEFORE = re.compile(r"([A-Za-z0-9]+)\s+$")


def _street_or_saint(m: re.Match[str]) -> str:
    """ "Main St." -> Street; "at St. Mary's" / "St. Louis" -> Saint (followed by a capitalised
    word and not preceded by a street name or number)."""
    before = _WORD_BEFORE.search(m.string[: m.start()])
    after = m.string[m.end() :]
    follows_name = re.match(r"\s+[A-Z]", after) is not None
    preceded_by_name = before is not None and (before[1][0].isupper() or before[1][0].isdigit())
    return "Saint" if follows_name and not preceded_by_name else "Street"


def normalize_for_speech(text: str, *, today: date | None = None) -> str:
    """Rewrite ``text`` so the voice reads it as a call-center agent would.

    Handles ISO dates and a month's days ("January 13" -> "January thirteenth"), 24 h and a.m./p.m. times, dollar amounts, US phone numbers
    (read digit by digit in groups), and Dr./St./Mr./Mrs./Ms./Ave./Apt./&.
    ``today`` decides whether a date is near (weekday, no year) or far (year).
    """

    def _date(m: re.Match[str]) -> str:
        try:
            return date_words(date(int(m[1]), int(m[2]), int(m[3])), today)
        except ValueError:
            return m[0]

    def _phone(m: re.Match[str]) -> str:
        area = m[1] or m[2]
        return f"{digits_words(area)}, {digits_words(m[3])}, {digits_words(m[4])}"

    def _money(m: re.Match[str]) -> str:
        cents = int(m[2].ljust(2, "0")) if m[2] else 0
        return money_words(int(m[1].replace(",", "")), cents)

    out = _ISO_DATE.sub(_date, text)
    out = _MONTH_DAY.sub(lambda m: f"{m[1]} {ordinal_words(int(m[2]))}" if int(m[2]) else m[0], out)
    out = _MONEY.sub(_money, out)
    out = _PHONE.sub(_phone, out)
    out = _CLOCK.sub(lambda m: time_words(int(m[1]), int(m[2]), m[3]), out)
    out = _HOUR_MERIDIEM.sub(lambda m: time_words(int(m[1]) % 12 + (12 if m[2] in "Pp" else 0), 0, m[2]), out)
    for pattern, words in _ABBREVIATIONS:
        out = pattern.sub(words, out)
    out = _ST.sub(_street_or_saint, out)
    return re.sub(r"[ \t]{2,}", " ", out).strip()


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=\S)")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
# a title before a name does not end a sentence: split there, the call speaks "with Dr." and
# pauses before "Garcia ...", and a caller takes the pause for the end of the bot's turn
_TITLE_END = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Mx|Prof|Jr|Sr|Mt)\.$")


def _join_titles(pieces: list[str]) -> list[str]:
    joined: list[str] = []
    for piece in pieces:
        if joined and _TITLE_END.search(joined[-1].rstrip()):
            joined[-1] = f"{joined[-1].rstrip()} {piece}"
        else:
            joined.append(piece)
    return joined


def split_sentences(text: str, max_chars: int = 180) -> list[str]:
    """Split normalised text into sentences; a sentence longer than ``max_chars`` is split
    further at commas/semicolons so the first audio is never held back by one long sentence."""
    out: list[str] = []
    for sentence in _join_titles(_SENTENCE_END.split(text.strip())):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            out.append(sentence)
            continue
        piece = ""
        for clause in _CLAUSE_END.split(sentence):
            if piece and len(piece) + len(clause) + 1 > max_chars:
                out.append(piece)
                piece = clause
            else:
                piece = f"{piece} {clause}".strip()
        if piece:
            out.append(piece)
    return out
