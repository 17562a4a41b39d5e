"""Spoken and written numbers: find them in token lists, and rewrite them as digits.

A `Num` is one number as spoken, never a run of them:
- kind "digit": one digit word (zero, "oh", one..nine), e.g. "four";
- kind "repeat": "double five" (55), "triple seven" (777);
- kind "cardinal": any other number word group, read greedily: "twenty five", "twelve hundred",
  "three hundred and twenty five", "a hundred", "two thousand and five", ordinals "twenty first";
- kind "numeral": typed digits "1985", "05", and "5th"/"21st" (ordinal).
"forty five sixty seven" is two Nums (45, 67); "four five six seven" is four.

Reading rules: "oh" is a zero only next to another number ("five oh five", "oh three");
"one" after a determiner or an ordinal ("that one", "the first one", "the second one", "the 3rd
one") is a word, not a number; after "hundred" or
"thousand" a single digit word that is followed by another digit word starts a new number, so
"eight hundred five five five" is 800, 5, 5, 5 (phone style) while "five hundred five" is 505.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .normalize import Token, tokenize

# a number word as a phone line turns it ("to" for two, "won" for one): counts.py and times.py
NUMBER_HOMOPHONES = {"to": "two", "too": "two", "for": "four", "fore": "four", "won": "one", "ate": "eight"}

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
ORD_UNITS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
}
ORD_TEENS = {
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
}
ORD_TENS = {
    "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50,
    "sixtieth": 60, "seventieth": 70, "eightieth": 80, "ninetieth": 90,
}
DIGIT_WORDS = frozenset(UNITS) | {"oh"}
NUMBER_WORDS = frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS) | {"oh", "double", "triple"}
ONE_AS_WORD_AFTER = frozenset({
    "that", "this", "the", "which", "any", "no", "every", "each", "some", "another", "other",
    "a", "last", "next", "first", "little", "new", "old", "same", "only", "right", "better",
})
_NUMERAL = re.compile(r"^\d+$")
_ORDINAL_NUMERAL = re.compile(r"^(\d{1,4})(?:st|nd|rd|th)$")
_ORD_SUFFIX = {1: "st", 2: "nd", 3: "rd"}


@dataclass(frozen=True)
class Num:
    """One spoken or written number covering tokens [i, j)."""

    value: int
    digits: str
    i: int
    j: int
    kind: str
    ordinal: bool = False


def _below_100(words: list[str], i: int) -> tuple[int, int, bool] | None:
    """(value, end, is_ordinal) of a number below 100 starting at words[i]."""
    if i >= len(words):
        return None
    word = words[i]
    if word in TENS:
        value = TENS[word]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if UNITS.get(nxt, 0) > 0:
            return value + UNITS[nxt], i + 2, False
        if nxt in ORD_UNITS:
            return value + ORD_UNITS[nxt], i + 2, True
        return value, i + 1, False
    for table, ordinal in ((ORD_TENS, True), (TEENS, False), (ORD_TEENS, True), (UNITS, False), (ORD_UNITS, True)):
        if word in table:
            return table[word], i + 1, ordinal
    return None


def _tail(words: list[str], j: int) -> tuple[int, int, bool] | None:
    """The optional "[and] <below 100>" after "hundred"/"thousand"."""
    k = j + 1 if j < len(words) and words[j] == "and" else j
    part = _below_100(words, k)
    if part is None or part[0] == 0:
        return None
    single_digit = part[1] == k + 1 and words[k] in UNITS
    if single_digit and part[1] < len(words) and (words[part[1]] in DIGIT_WORDS or _NUMERAL.match(words[part[1]])):
        return None
    return part


def _below_1000(words: list[str], i: int) -> tuple[int, int, bool] | None:
    if i + 1 < len(words) and words[i] == "a" and words[i + 1] in ("hundred", "thousand"):
        value, j, ordinal = 1, i + 1, False
    else:
        part = _below_100(words, i)
        if part is None:
            return None
        value, j, ordinal = part
    if not ordinal and j < len(words) and words[j] == "hundred" and 1 <= value <= 99:
        value, j = value * 100, j + 1
        tail = _tail(words, j)
        if tail is not None:
            value, j, ordinal = value + tail[0], tail[1], tail[2]
    return value, j, ordinal


def parse_cardinal(words: list[str], i: int) -> tuple[int, int, bool] | None:
    """(value, end, is_ordinal) of the longest number-word group at words[i], below a million."""
    head = _below_1000(words, i)
    if head is None:
        return None
    value, j, ordinal = head
    if not ordinal and j < len(words) and words[j] == "thousand" and 1 <= value <= 999:
        value, j = value * 1000, j + 1
        k = j + 1 if j < len(words) and words[j] == "and" else j
        rest = _below_1000(words, k)
        if rest is not None and rest[0] > 0 and (k == j or rest[0] < 100):
            value, j, ordinal = value + rest[0], rest[1], rest[2]
    return value, j, ordinal


def _oh_is_zero(words: list[str], i: int, prev_end: int) -> bool:
    nxt = words[i + 1] if i + 1 < len(words) else ""
    return prev_end == i or nxt in NUMBER_WORDS or bool(_NUMERAL.match(nxt))


def find_numbers(tokens: list[Token]) -> list[Num]:
    """Every number in the tokens, in order (see the module docstring)."""
    words = [t.text for t in tokens]
    found: list[Num] = []
    i = 0
    while i < len(words):
        word = words[i]
        prev_end = found[-1].j if found else -1
        if _NUMERAL.match(word):
            found.append(Num(int(word), word, i, i + 1, "numeral"))
            i += 1
            continue
        match = _ORDINAL_NUMERAL.match(word)
        if match:
            found.append(Num(int(match.group(1)), match.group(1), i, i + 1, "numeral", True))
            i += 1
            continue
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in ("double", "triple") and nxt in DIGIT_WORDS:
            digit = str(UNITS.get(nxt, 0))
            digits = digit * (2 if word == "double" else 3)
            found.append(Num(int(digits), digits, i, i + 2, "repeat"))
            i += 2
            continue
        if word == "oh":
            if _oh_is_zero(words, i, prev_end):
                found.append(Num(0, "0", i, i + 1, "digit"))
            i += 1
            continue
        after_plain_number = bool(found) and prev_end == i and not found[-1].ordinal
        after_ordinal = bool(found) and prev_end == i and found[-1].ordinal
        if word == "one" and i > 0 and (words[i - 1] in ONE_AS_WORD_AFTER or after_ordinal) and not after_plain_number:
            i += 1
            continue
        parsed = parse_cardinal(words, i)
        if parsed is None:
            i += 1
            continue
        value, j, ordinal = parsed
        kind = "digit" if j == i + 1 and word in UNITS else "cardinal"
        found.append(Num(value, str(value), i, j, kind, ordinal))
        i = j
    return found


def number_runs(nums: list[Num]) -> list[list[Num]]:
    """Nums grouped into runs of directly adjacent numbers ("five five five one two")."""
    runs: list[list[Num]] = []
    for num in nums:
        if runs and runs[-1][-1].j == num.i:
            runs[-1].append(num)
        else:
            runs.append([num])
    return runs


def ordinal_suffix(value: int) -> str:
    """"st", "nd", "rd" or "th" for value."""
    if 10 <= value % 100 <= 20:
        return "th"
    return _ORD_SUFFIX.get(value % 10, "th")


def words_to_digits(text: str) -> str:
    """Rewrite spoken numbers in text as digits; other words are kept as they are.

    Exactly:
    - every number-word group becomes its value: "twenty five" -> "25", "three hundred and twenty
      five" -> "325", "a hundred" -> "100", "twelve hundred" -> "1200", "two thousand five" -> "2005";
    - ordinals keep a suffix: "twenty first" -> "21st";
    - directly adjacent digit words (zero, one..nine, "oh" next to a number, "double X",
      "triple X") are joined into one token: "four five six seven" -> "4567",
      "five oh five" -> "505", "double five" -> "55";
    - separate groups stay separate tokens: "forty five sixty seven" -> "45 67",
      "three thirty" -> "3 30", "nineteen eighty five" -> "19 85";
    - typed digits are untouched ("4 5 6 7" stays "4 5 6 7"); whitespace is collapsed to one space;
    - words are matched case-insensitively; apply normalize_asr first for recogniser output.
    """
    tokens = tokenize(text)
    nums = find_numbers([Token(t.text.lower(), t.start, t.end) for t in tokens])
    by_start = {num.i: num for num in nums}
    out: list[str] = []
    joinable = False
    i = 0
    while i < len(tokens):
        num = by_start.get(i)
        if num is None:
            out.append(tokens[i].text)
            joinable = False
            i += 1
            continue
        text_value = num.digits + (ordinal_suffix(num.value) if num.ordinal else "")
        is_digit = num.kind in ("digit", "repeat")
        if is_digit and joinable:
            out[-1] += text_value
        else:
            out.append(text_value)
        joinable = is_digit
        i = num.j
    return " ".join(out)
