"""Masking of personal data before it is stored or logged.

* :func:`mask_value` masks one slot value whose type is known
  (``"digits"``, ``"phone_number"``, ``"date_of_birth"``, ...).
* :func:`mask_text` finds personal data in free text (transcripts, log
  lines) and replaces it with ``"[redacted]"``: runs of 4+ digits (also
  spaced or dashed, ``"4 5 6 7"``), spoken digit sequences of 4+ number
  words (``"four five six seven"``, ``"oh one two three"``), spoken years
  (``"nineteen eighty five"``), card/SSN/phone shapes, dates with a year
  (``"3/5/1985"``, ``"1985-03-05"``, ``"march fifth nineteen eighty
  five"``) and any literal secrets given.  Short ordinary numbers
  (``"at three"``, ``"2 people"``, ``"room 12"``, ``"10:30"``) are kept.
* :class:`PiiLogFilter` / :func:`install_log_masking` apply
  :func:`mask_text` to log records.

The rules err on the side of masking: a four-digit year or ``"10 30"``
written with a space is masked too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

REDACTED = "[redacted]"

# --------------------------------------------------------------------------- #
# mask_value
# --------------------------------------------------------------------------- #

#: Slot types whose values are personal data and are masked when stored.
SENSITIVE_TYPES = frozenset(
    {
        "digits",
        "phone_number",
        "phone",
        "ssn",
        "ssn_last4",
        "account",
        "account_number",
        "card",
        "card_number",
        "pin",
        "date_of_birth",
        "dob",
        "email",
        "person_name",
        "name",
        "zip",
        "zip_code",
        "address",
    }
)

#: Slot *names* that mark a value as personal whatever its type.
_SENSITIVE_NAME = re.compile(
    r"(birth|dob|ssn|social|account|acct|card|pin|passcode|password|phone|"
    r"email|zip|postal|address|name|member|policy|last4|last_four|digits)",
    re.IGNORECASE,
)

#: Non-personal slot types whose normalised value is stored verbatim.
_STRUCTURED_TYPES = frozenset({"date", "time", "datetime", "enum", "money", "yes_no", "boolean", "number"})
_DATE_TYPES = frozenset({"date_of_birth", "dob", "birth_date", "birthdate"})


def is_sensitive(name: str, slot_type: str) -> bool:
    """Whether a slot (by name or type) holds personal data."""
    return slot_type in SENSITIVE_TYPES or bool(_SENSITIVE_NAME.search(name or ""))


def _star_alnum(text: str) -> str:
    return re.sub(r"[A-Za-z0-9]", "*", text)


def mask_value(slot_type: str, value: Any) -> str:
    """Mask one personal value, keeping at most its shape.

    * dates of birth (and any ``date``-typed value): ``"****-**-**"``
    * phone numbers: ``"***-***-**67"`` (last two digits only)
    * person names: initials, ``"J*** S****"``
    * everything else (digits, SSN, account, card, PIN, email, ...): every
      letter and digit becomes ``*``, separators are kept
      (``"123-45-6789"`` -> ``"***-**-****"``).

    ``None`` gives ``""``.
    """
    if value is None:
        return ""
    text = str(value).strip()
    if not text:
        return ""
    kind = (slot_type or "").lower()
    if kind in _DATE_TYPES or kind == "date" or "birth" in kind:
        return "****-**-**"
    if kind in ("phone_number", "phone"):
        digits = re.sub(r"\D", "", text)
        if len(digits) < 7:
            return "*" * len(digits) if digits else _star_alnum(text)
        return "***-***-**" + digits[-2:]
    if kind in ("person_name", "name"):
        return " ".join(part[0] + "*" * (len(part) - 1) for part in text.split())
    return _star_alnum(text)


def store_value(name: str, slot_type: str, value: Any, pii: bool | None = None) -> str | None:
    """The form of a slot value to persist.

    Personal values (``pii=True``, or ``pii=None`` and :func:`is_sensitive`)
    are masked with :func:`mask_value`; the normalised value of a
    non-personal structured slot (``date``, ``time``, ``datetime``,
    ``money``, ``enum``: e.g. an appointment date) is kept as is; anything
    else (free ``text``) goes through :func:`mask_text`.
    """
    if value is None:
        return None
    sensitive = is_sensitive(name, slot_type) if pii is None else pii
    if sensitive:
        return mask_value(slot_type if slot_type in SENSITIVE_TYPES else _guess_type(name, slot_type), value)
    if slot_type in _STRUCTURED_TYPES:  # not personal: e.g. an appointment date
        return str(value)
    return mask_text(str(value))


def _guess_type(name: str, slot_type: str) -> str:
    lowered = (name or "").lower()
    if "birth" in lowered or "dob" in lowered:
        return "date_of_birth"
    if "phone" in lowered:
        return "phone_number"
    return slot_type


# --------------------------------------------------------------------------- #
# mask_text
# --------------------------------------------------------------------------- #

_UNITS = ["zero", "oh", "o", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = [
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
    "sixteen", "seventeen", "eighteen", "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fourty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINALS = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth", "twentieth", "thirtieth",
]
_MONTHS = [
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
]


def _alt(words: Iterable[str]) -> str:
    return "(?:" + "|".join(sorted(set(words), key=len, reverse=True)) + ")"


_S = r"[\s\-]+"  # separator between spoken words
_UNIT = _alt(w for w in _UNITS if w not in ("zero", "oh", "o"))
_TEEN = _alt(_TEENS)
_TEN = _alt(_TENS)
_MONTH = _alt(_MONTHS) + r"\.?"
_CARDINAL_DAY = rf"(?:(?:twenty|thirty){_S}{_UNIT}|{_TEN}|{_TEEN}|{_UNIT})"
_ORDINAL_DAY = rf"(?:(?:twenty|thirty){_S}{_alt(_ORDINALS[:9])}|{_alt(_ORDINALS)})"
_DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?|{_ORDINAL_DAY}|{_CARDINAL_DAY})"
_SPOKEN_YEAR = (
    rf"(?:(?:nineteen|twenty){_S}(?:(?:oh|o|zero){_S}{_UNIT}|{_TEN}(?:{_S}{_UNIT})?|{_TEEN})"
    rf"|two{_S}thousand(?:{_S}and)?(?:{_S}(?:{_TEN}(?:{_S}{_UNIT})?|{_TEEN}|{_UNIT}))?)"
)
_YEAR = rf"(?:\d{{4}}|'\d{{2}}|{_SPOKEN_YEAR})"
_B = r"(?<![\w])"  # start boundary
_E = r"(?![\w])"  # end boundary

_PATTERNS: list[re.Pattern[str]] = [
    # SSN 123-45-6789 / 123 45 6789
    re.compile(rf"{_B}\d{{3}}[\s\-.]\d{{2}}[\s\-.]\d{{4}}{_E}"),
    # card numbers: 13-19 digits in groups
    re.compile(rf"{_B}\d{{4}}(?:[\s\-]?\d{{4}}){{2}}[\s\-]?\d{{1,7}}{_E}"),
    # phone shapes: (555) 123-4567, 555.123.4567, +1 555 123 4567
    re.compile(rf"(?:\+?1[\s\-.]?)?\(?\d{{3}}\)?[\s\-.]?\d{{3}}[\s\-.]\d{{4}}{_E}"),
    # numeric dates with a year: 3/5/1985, 03-05-85, 1985-03-05, 1985/3/5
    re.compile(rf"{_B}\d{{1,2}}[/\-.]\d{{1,2}}[/\-.](?:\d{{4}}|\d{{2}}){_E}"),
    re.compile(rf"{_B}\d{{4}}[/\-.]\d{{1,2}}[/\-.]\d{{1,2}}{_E}"),
    # month-name dates with a year: march fifth nineteen eighty five, March 5, 1985
    re.compile(
        rf"{_B}{_MONTH}\s+(?:the\s+)?{_DAY},?\s+(?:of\s+|in\s+)?{_YEAR}{_E}",
        re.IGNORECASE,
    ),
    # 5 March 1985, the fifth of march nineteen eighty five
    re.compile(rf"{_B}(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}{_E}", re.IGNORECASE),
    # March 1985
    re.compile(rf"{_B}{_MONTH},?\s+(?:of\s+)?(?:\d{{4}}|{_SPOKEN_YEAR}){_E}", re.IGNORECASE),
    # spoken years on their own: nineteen eighty five, two thousand and three
    re.compile(rf"{_B}{_SPOKEN_YEAR}{_E}", re.IGNORECASE),
    # runs of 4+ digits, possibly spaced/dashed: 4567, 4 5 6 7, 45-67 (not money, and not a
    # measurement in a log line: "1234 ms", "2048 MB", nor the year of an access-log timestamp
    # "02/Dec/2026:09:26:07 +0000")
    re.compile(r"(?<![\w$.,])(?<!/[A-Za-z]{3}/)(?<!\d:\d\d [+\-])\d(?:[ \t\-]{0,2}\d){3,}(?![\w]|[.,]\d|:\d\d:\d\d)"
               r"(?!\s?(?:ms|MB|KB|kB|GB|MiB|KiB|bytes|Hz|%)(?!\w))"),
]

_DIGIT_WORDS = {w: 1 for w in _UNITS}
_DIGIT_WORDS.update({w: 1 for w in _TEENS})
_DIGIT_WORDS.update({w: 1 for w in _TENS})
_DIGIT_WORDS.update({"double": 1, "triple": 2})
_SINGLE = set(_UNITS)
_GLUE = {"hundred", "thousand", "and"}
_TOKEN = re.compile(r"[A-Za-z]+|\d+")


def _spoken_spans(text: str) -> list[tuple[int, int]]:
    """Spans of 4+ spoken number tokens (digits may be mixed in)."""
    spans: list[tuple[int, int]] = []
    run: list[tuple[int, int, str]] = []

    def close() -> None:
        while run and run[-1][2].lower() in _GLUE:
            run.pop()
        count = 0
        for _s, _e, word in run:
            low = word.lower()
            count += len(low) if low.isdigit() else _DIGIT_WORDS.get(low, 0)
        if count >= 4 and len(run) >= 2:
            spans.append((run[0][0], run[-1][1]))
        run.clear()

    prev_end = 0
    for m in _TOKEN.finditer(text):
        word = m.group(0)
        low = word.lower()
        is_num = low in _DIGIT_WORDS or low.isdigit() or (low in _GLUE and bool(run))
        if run:
            gap = text[prev_end : m.start()]
            single_gap = re.fullmatch(r"[\s\-]+", gap) is not None
            comma_gap = re.fullmatch(r"\s*,\s*", gap) is not None
            prev = run[-1][2].lower()
            both_single = (prev in _SINGLE or (prev.isdigit() and len(prev) == 1)) and (
                low in _SINGLE or (low.isdigit() and len(low) == 1)
            )
            # multi-digit numerals and number words do not mix ("last four 4567")
            mixed = (low.isdigit() and len(low) > 1) != (prev.isdigit() and len(prev) > 1)
            if not is_num or mixed or not (single_gap or (comma_gap and both_single)):
                close()
        if is_num and (run or low not in _GLUE):
            run.append((m.start(), m.end(), word))
        prev_end = m.end()
    close()
    return spans


def _secret_pattern(secret: str) -> re.Pattern[str] | None:
    secret = secret.strip()
    if len(secret) < 2:
        return None
    digits = re.sub(r"[\s\-().+/]", "", secret)
    if digits.isdigit():
        body = r"[\s\-().+/]*".join(re.escape(d) for d in digits)
    else:
        body = r"\s+".join(re.escape(part) for part in secret.split())
    return re.compile(rf"(?<![\w]){body}(?![\w])", re.IGNORECASE)


def pii_spans(text: str, secrets: Iterable[str] = ()) -> list[tuple[int, int]]:
    """Merged ``(start, end)`` spans of personal data found in ``text``."""
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        if secret is None:
            continue
        pattern = _secret_pattern(str(secret))
        if pattern is not None:
            spans.extend(m.span() for m in pattern.finditer(text))
    for pattern in _PATTERNS:
        spans.extend(m.span() for m in pattern.finditer(text))
    spans.extend(_spoken_spans(text))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if start == end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace personal data in free text with ``"[redacted]"``."""
    if not text:
        return text
    spans = pii_spans(text, secrets)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --------------------------------------------------------------------------- #
# logging
# --------------------------------------------------------------------------- #


def _mask_record(record: logging.LogRecord) -> None:
    if getattr(record, "_callflows_masked", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: mask what we have
        message = f"{record.msg} {record.args!r}"
    masked = mask_text(message)
    if masked != message and "phonemes=" in masked:  # a TTS debug line: the phonemes spell what was masked
        masked = masked.split("phonemes=", 1)[0] + "phonemes=[redacted]"
    record.msg = masked
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    record._callflows_masked = True  # type: ignore[attr-defined]


class PiiLogFilter(logging.Filter):
    """A logging filter that masks personal data in each record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record)
        return True


_original_factory: Callable[..., logging.LogRecord] | None = None


def install_log_masking(logger: logging.Logger | str | None = None) -> PiiLogFilter:
    """Mask personal data in log output.

    With ``logger`` (a logger or its name), a :class:`PiiLogFilter` is added to
    that logger and to its handlers (records of child loggers propagate to
    the handlers).  Without it, *every* log record of the process is masked
    as it is created (a record factory), whichever logger or handler it goes
    to, including handlers added later.  Idempotent.
    """
    global _original_factory
    flt = PiiLogFilter()
    if logger is None:
        if _original_factory is None:
            base = logging.getLogRecordFactory()
            _original_factory = base

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = base(*args, **kwargs)
                _mask_record(record)
                return record

            logging.setLogRecordFactory(factory)
        return flt
    target = logging.getLogger(logger) if isinstance(logger, str) else logger
    for holder in [target, *target.handlers]:
        existing = [f for f in holder.filters if isinstance(f, PiiLogFilter)]
        if existing:
            flt = existing[0]  # type: ignore[assignment]
        else:
            holder.addFilter(flt)
    return flt


def uninstall_log_masking() -> None:
    """Undo the process-wide part of :func:`install_log_masking`."""
    global _original_factory
    if _original_factory is not None:
        logging.setLogRecordFactory(_original_factory)
        _original_factory = None


__all__ = [
    "REDACTED",
    "SENSITIVE_TYPES",
    "PiiLogFilter",
    "install_log_masking",
    "is_sensitive",
    "mask_text",
    "mask_value",
    "pii_spans",
    "store_value",
    "uninstall_log_masking",
]
