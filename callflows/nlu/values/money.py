"""Amounts of money (US dollars) as a string with two decimals: "325.50".

Forms: "$250.50", "$1200" ("$1,200"), "250.50", "250 dollars", "fifty bucks", "a hundred dollars",
"three hundred and twenty five dollars and fifty cents", "two dollars fifty", "a buck fifty",
"fifty cents", "twelve point five" (12.50), "twelve hundred", "1,200".
Rules:
- if any amount in the utterance is marked as money ('$', a decimal point, dollars/bucks/cents),
  only the marked amounts are returned; otherwise every bare number is an amount;
- a bare pair "<1..99> <10..99>" ("two fifty", "nineteen ninety nine") is read as dollars and
  cents (2.50, 19.99) with extra {"ambiguous": True, "alternative": "250.00"};
- runs of three or more adjacent numbers ("four five six") are not amounts; ordinals are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import Value
from .normalize import tokenize
from .numbers import Num, find_numbers

DOLLAR_WORDS = frozenset({"dollars", "dollar", "bucks", "buck", "usd"})
CENT_WORDS = frozenset({"cents", "cent"})
_DOLLAR_SIGN = re.compile(r"^\$(\d+)(?:\.(\d{1,2}))?$")
_DECIMAL = re.compile(r"^(\d+)\.(\d{1,2})$")


@dataclass(frozen=True)
class _Amount:
    i: int
    end: int
    cents: int
    marked: bool
    extra: dict


def _fmt(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class _MoneyReader:
    def __init__(self, words: list[str], nums: list[Num]):
        self.words = words
        self.nums = {n.i: n for n in nums if not n.ordinal}

    def word(self, i: int) -> str:
        return self.words[i] if 0 <= i < len(self.words) else ""

    def _cents_after(self, j: int) -> tuple[int, int] | None:
        """(cents, end) of "[and] fifty [cents]" after a dollar word."""
        k = j + 1 if self.word(j) == "and" else j
        num = self.nums.get(k)
        if num is None or num.value > 99 or num.j in self.nums:
            return None
        return num.value, num.j + 1 if self.word(num.j) in CENT_WORDS else num.j

    def _decimals(self, j: int) -> tuple[int, int] | None:
        """(cents, end) of "point five oh" after a number."""
        if self.word(j) != "point":
            return None
        digits, k = "", j + 1
        while k in self.nums and self.nums[k].kind in ("digit", "numeral", "cardinal") and len(digits) < 2:
            digits += self.nums[k].digits
            k = self.nums[k].j
        if not digits:
            return None
        return int((digits + "0")[:2]), k

    def at(self, i: int) -> _Amount | None:
        word = self.word(i)
        typed = _DOLLAR_SIGN.match(word) or _DECIMAL.match(word)
        if typed:
            cents = int(typed.group(1)) * 100 + int(((typed.group(2) or "0") + "0")[:2])
            end = i + 2 if self.word(i + 1) in DOLLAR_WORDS else i + 1
            return _Amount(i, end, cents, True, {})
        num = self.nums.get(i)
        if num is None and word in ("a", "one") and self.word(i + 1) in DOLLAR_WORDS:
            dollars, j = 1, i + 1
        elif num is not None:
            dollars, j = num.value, num.j
        else:
            return None
        if self.word(j) in CENT_WORDS and dollars <= 99:
            return _Amount(i, j + 1, dollars, True, {})
        decimals = self._decimals(j)
        if decimals is not None:
            cents, j = decimals
            marked = self.word(j) in DOLLAR_WORDS
            return _Amount(i, j + 1 if marked else j, dollars * 100 + cents, marked, {})
        if self.word(j) in DOLLAR_WORDS:
            after = self._cents_after(j + 1)
            cents, end = after if after is not None else (0, j + 1)
            return _Amount(i, end, dollars * 100 + cents, True, {})
        return self._bare(i, num, dollars, j)

    def _bare(self, i: int, num: Num | None, dollars: int, j: int) -> _Amount | None:
        if num is None or (num.i - 1) in self.nums and self.nums[num.i - 1].j == num.i:
            return None
        second = self.nums.get(j)
        if second is None:
            return _Amount(i, j, dollars * 100, False, {})
        if second.j in self.nums or self.word(second.j) in DOLLAR_WORDS:
            return None
        if 1 <= dollars <= 99 and second.kind == "cardinal" and 10 <= second.value <= 99:
            extra = {"ambiguous": True, "alternative": _fmt((dollars * 100 + second.value) * 100)}
            return _Amount(i, second.j, dollars * 100 + second.value, False, extra)
        return None


def extract_money(text: str) -> list[Value]:
    """Money values in normalised text (see the module docstring)."""
    tokens = tokenize(text)
    words = [t.text for t in tokens]
    reader = _MoneyReader(words, find_numbers(tokens))
    amounts: list[_Amount] = []
    i = 0
    while i < len(words):
        amount = reader.at(i)
        if amount is None:
            i += 1
            continue
        amounts.append(amount)
        i = amount.end
    if any(a.marked for a in amounts):
        amounts = [a for a in amounts if a.marked]
    values = []
    for amount in amounts:
        start, end = tokens[amount.i].start, tokens[amount.end - 1].end
        values.append(Value("money", _fmt(amount.cents), start, end, text[start:end], dict(amount.extra)))
    return values
