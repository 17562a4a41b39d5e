"""extract(): one entry point that runs the parser for a slot type over normalised text."""

from __future__ import annotations

from typing import Any

from .counts import extract_counts
from .dates import extract_dates, find_dates
from .digits import extract_digits
from .enums import extract_enum
from .model import ParseContext, Value
from .money import extract_money
from .names import extract_names
from .normalize import Token, normalize_asr, tokenize
from .phone import extract_phones
from .spelled import extract_reference, extract_spelled_name
from .times import find_times, hours_as_heard, parts_of_day

SLOT_TYPES = ("date", "time", "datetime", "person_name", "phone_number", "digits", "money", "number", "enum", "text",
              "spelled_name", "reference")


def _times(text: str, ctx: ParseContext) -> list[Value]:
    """Clock times; part-of-day values (value None) only when there is no clock time."""
    tokens = tokenize(text)
    blocked = frozenset(k for m in find_dates(tokens, ctx) for k in range(m.i, m.end)
                        if tokens[k].text not in ("morning", "afternoon", "evening", "night"))
    values = []
    for match, hhmm, how in find_times(tokens, ctx, blocked):
        start, end = tokens[match.i].start, tokens[match.end - 1].end
        values.append(Value("time", hhmm, start, end, text[start:end], {"ampm": how}))
    if not values:
        values = _times_as_heard(text, tokens, ctx)
    return values or parts_of_day(text, tokens)


def _times_as_heard(text: str, tokens: list[Token], ctx: ParseContext) -> list[Value]:
    """Clock times whose hour the line turned into another word ("read in the afternoon"):
    read with the hour's word put back; the spans stay those of the words heard."""
    heard = hours_as_heard(tokens)
    if not heard:
        return []
    words = [t.text for t in tokens]
    for k, hour in heard:
        words[k] = hour
    fixed = [Token(w, i, i + 1) for i, w in enumerate(words)]  # token k's span stands for token k
    values = []
    for match, hhmm, how in find_times(fixed, ctx, frozenset()):
        start, end = tokens[match.i].start, tokens[match.end - 1].end
        values.append(Value("time", hhmm, start, end, text[start:end], {"ampm": how, "as_heard": True}))
    return values


def _datetimes(text: str, ctx: ParseContext) -> list[Value]:
    """Each date paired with the clock time nearest to it (by characters; on a tie the one after it)."""
    times = [t for t in _times(text, ctx) if t.value is not None]
    if not times:
        return []
    values = []
    for day in extract_dates(text, ctx):
        time = min(times, key=lambda t: (max(t.start - day.end, day.start - t.end, 0), t.start < day.start))
        start, end = min(day.start, time.start), max(day.end, time.end)
        extra = {**day.extra, **time.extra, "date": day.value, "time": time.value}
        values.append(Value("datetime", f"{day.value}T{time.value}", start, end, text[start:end], extra))
    return values


def extract(slot_type: str, text: str, ctx: ParseContext, **options: Any) -> list[Value]:
    """Every value of `slot_type` in `text`, in text order ([] if none).

    text is normalised with normalize_asr first; spans index the normalised text.
    Options: digits takes length=N; enum requires choices={canonical: [synonyms]}.
    """
    if slot_type not in SLOT_TYPES:
        raise ValueError(f"unknown slot type {slot_type!r}; expected one of {SLOT_TYPES}")
    allowed = {"digits": {"length"}, "reference": {"length"}, "enum": {"choices"}}.get(slot_type, set())
    unexpected = set(options) - allowed
    if unexpected:
        raise TypeError(f"extract({slot_type!r}) got unexpected options {sorted(unexpected)}")
    norm = normalize_asr(text)
    if slot_type == "date":
        return extract_dates(norm, ctx)
    if slot_type == "time":
        return _times(norm, ctx)
    if slot_type == "datetime":
        return _datetimes(norm, ctx)
    if slot_type == "person_name":
        return extract_names(norm)
    if slot_type == "phone_number":
        return extract_phones(norm)
    if slot_type == "digits":
        return extract_digits(norm, options.get("length"))
    if slot_type == "spelled_name":
        return extract_spelled_name(norm)
    if slot_type == "reference":
        return extract_reference(norm, options.get("length"))
    if slot_type == "money":
        return extract_money(norm)
    if slot_type == "number":
        return extract_counts(norm, ctx)
    if slot_type == "enum":
        if "choices" not in options:
            raise TypeError("extract('enum') needs choices={canonical: [synonyms]}")
        return extract_enum(norm, options["choices"])
    return [Value("text", norm, 0, len(norm), norm)] if norm else []
