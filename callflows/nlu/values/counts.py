"""Counts ("number" slots: guests, nights, people in a party) as ints.

Forms:
- a number alone or before a noun: "two" -> 2, "2 adults" -> 2, "for four people" -> 4,
  "party of six" -> 6, "table for 2" -> 2, "three nights" -> 3;
- people added up when joined by "and"/"plus"/"with"/"along with" (or just listed):
  "two adults and a child" -> 3, "two adults and one kid" -> 3, "2 adults plus 2 children" -> 4,
  "me and my wife" -> 2, "my wife and i" -> 2, "me my husband and our two kids" -> 4,
  "two adults and no children" -> 2;
- a number after words that say it counts people: "we are four", "we're four", "we'll be
  three", "there are five of us", "there will be two", "party of six", "group of four" (a list
  of people, so a party size even where a bare number is not one);
- fixed phrases: "a couple" -> 2, "both of us" -> 2, "the three of us" -> 3, "us two" -> 2,
  "a dozen" -> 12, "just me"/"only me"/"myself"/"by myself"/"alone"/"on my own"/"solo" -> 1.

Rules for the ambiguous cases:
- "me"/"i"/"us" count only inside a list of people ("me and my wife") or after "just"/"only",
  so "call me tomorrow" is no count; "my"/"our" + one relative ("my wife", "our son") is 1,
  "my parents"/"my grandparents" 2, and "my two kids" 2; a list with a plural of unknown
  size ("me and my kids", "some friends") gives no value at all;
- "a"/"an"/"one" + a person noun ("a child", "an infant") is 1 only inside a list;
- numbers that are part of a date or a clock time ("the fifth", "march 3", "at 3 pm", "3:30"),
  ordinals, money ("$20", "20 dollars"), percentages and runs of different adjacent numbers
  ("four five six seven", a PIN or phone number) are not counts; a repeated number
  ("two two people") is read once.
Values are in text order; a list of people is one value spanning it, with extra {"people": True},
as is a number after words that say it counts people ("we are four"); other numbers have False.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dates import find_dates
from .dayparts import PART_OF_DAY
from .model import ParseContext, Value
from .normalize import Token, tokenize
from .numbers import NUMBER_HOMOPHONES, find_numbers, number_runs
from .times import find_times

PEOPLE_PLURAL = frozenset({
    "adults", "kids", "children", "childs", "people", "persons", "guests", "infants", "babies",
    "toddlers", "teens", "teenagers", "seniors", "men", "women", "boys", "girls", "friends",
    "students", "folks", "pax", "ladies", "gentlemen", "guys", "members", "travelers",
    "travellers", "passengers", "attendees", "patients", "sons", "daughters", "brothers", "sisters",
    "colleagues", "coworkers", "grandchildren", "grandkids", "cousins",
})
PEOPLE_SINGULAR = frozenset({
    "adult", "kid", "child", "person", "guest", "infant", "baby", "toddler", "teen", "teenager",
    "senior", "man", "woman", "boy", "girl", "friend", "student", "passenger", "patient",
})
RELATIVES = frozenset({
    "wife", "husband", "partner", "spouse", "boyfriend", "girlfriend", "fiance", "fiancee", "son",
    "daughter", "mom", "mum", "mother", "dad", "father", "brother", "sister", "friend", "colleague",
    "coworker", "kid", "child", "baby", "grandma", "grandmother", "grandpa", "grandfather", "aunt",
    "uncle", "cousin", "niece", "nephew", "roommate", "boss", "parent", "grandson", "granddaughter",
    "stepson", "stepdaughter", "buddy", "toddler", "infant",
})
RELATIVE_PAIRS = frozenset({"parents", "grandparents", "twins", "in-laws", "inlaws"})
UNSIZED = frozenset({
    "kids", "children", "friends", "family", "sons", "daughters", "brothers", "sisters", "cousins",
    "colleagues", "coworkers", "grandchildren", "grandkids", "guys", "folks", "people", "guests",
})
POSSESSIVES = frozenset({"my", "our", "his", "her", "their", "the"})
MODIFIERS = frozenset({
    "small", "little", "young", "grown", "grown-up", "more", "extra", "other", "additional", "older",
    "younger", "teenage", "of", "my", "our", "total",
})
JOINERS = frozenset({"and", "plus", "with", "also", "along"})
# words before a number that make it a number of people ("we are four", "party of six")
PEOPLE_BEFORE = (
    ("we", "are"), ("we're",), ("were",), ("we'll", "be"), ("we", "will", "be"), ("we", "would", "be"),
    ("we'd", "be"), ("there", "are"), ("there're",), ("there", "will", "be"), ("there'll", "be"),
    ("there", "would", "be"), ("there'd", "be"), ("party", "of"), ("group", "of"), ("family", "of"),
    ("total", "of"),
)
SELF_WORDS = frozenset({"me", "i", "myself"})
COUNTED_THINGS = frozenset({"nights", "night", "weeks", "week", "rooms", "room", "beds", "bed", "of"})
_PREPOSITION_SOUNDS = frozenset({"four", "two"})  # "for", "to"
TIME_WORDS_BEFORE = frozenset({"at", "by", "until", "till", "til", "before", "after"})
NOT_COUNT_AFTER = frozenset({"dollars", "dollar", "bucks", "cents", "percent", "am", "pm", "o'clock", "oclock"})
ONE_PHRASES = (
    ("just", "me"), ("only", "me"), ("just", "myself"), ("only", "myself"), ("by", "myself"),
    ("on", "my", "own"), ("just", "i"), ("myself",), ("alone",), ("solo",),
)


@dataclass(frozen=True)
class _Item:
    """One counted thing over tokens [i, j); count None = a plural of unknown size;
    list_only: counts only inside a list of people ("me", "my wife", "a child")."""

    i: int
    j: int
    count: int | None
    people: bool
    list_only: bool = False


class _CountReader:
    def __init__(self, tokens: list[Token], ctx: ParseContext):
        self.words = [t.text for t in tokens]
        blocked: set[int] = set()
        for match in find_dates(tokens, ctx):
            blocked.update(range(match.i, match.end))
        parts = frozenset(k for k in blocked if self.words[k] in PART_OF_DAY)  # as api._times does
        for match, _, _ in find_times(tokens, ctx, frozenset(blocked - parts)):
            if match.strong or self.word(match.i - 1) in TIME_WORDS_BEFORE:
                blocked.update(range(match.i, match.end))
        self.nums: dict[int, tuple[int, int]] = {}  # start token -> (value, end)
        for run in number_runs(find_numbers(tokens)):
            if any(k in blocked for n in run for k in range(n.i, n.j)):
                continue
            if len(run) == 2 and not run[0].ordinal and self._preposition_heard_as_number(run):
                run = run[1:]  # "four two nights": "for two nights" over the line
            if any(n.ordinal for n in run) or len({n.value for n in run}) > 1:
                continue
            first, last = run[0], run[-1]
            if self.word(last.j) in NOT_COUNT_AFTER:
                continue
            self.nums[first.i] = (first.value, last.j)

    def word(self, i: int) -> str:
        return self.words[i] if 0 <= i < len(self.words) else ""

    def _preposition_heard_as_number(self, run: list) -> bool:
        """Two different numbers in a row before what they count, the first said as "four" or
        "two": "for" or "to" heard as a number ("four two nights", "to three people")."""
        first, nxt = self.words[run[0].i], self.word(run[-1].j)
        return (run[0].j - run[0].i == 1 and first in _PREPOSITION_SOUNDS and run[0].value != run[1].value
                and (nxt in COUNTED_THINGS or nxt in PEOPLE_PLURAL or nxt in PEOPLE_SINGULAR))

    def _noun_after(self, j: int) -> tuple[str, int] | None:
        """(noun, end) of a people noun at j, after at most two modifier words."""
        for k in range(j, min(j + 3, len(self.words))):
            word = self.word(k)
            if word in PEOPLE_PLURAL or word in PEOPLE_SINGULAR or word in RELATIVES:
                return word, k + 1
            if word == "of" and self.word(k + 1) in ("us", "them"):
                return "us", k + 2
            if word not in MODIFIERS:
                return None
        return None

    def _people_before(self, i: int) -> bool:
        """Whether the words before token i say that the number there counts people."""
        return any(tuple(self.words[max(0, i - len(p)):i]) == p for p in PEOPLE_BEFORE if i >= len(p))

    def item(self, i: int) -> _Item | None:
        """The counted thing starting at token i, if any."""
        word, nxt = self.word(i), self.word(i + 1)
        if i in self.nums:
            value, j = self.nums[i]
            noun = self._noun_after(j)
            if noun is not None:
                return _Item(i, noun[1], value, True)
            return _Item(i, j, value, self._people_before(i))
        if word == "a" and nxt == "couple":
            j = i + 2
            noun = self._noun_after(j)
            return _Item(i, noun[1] if noun else j, 2, noun is not None)
        if word == "a" and nxt == "dozen":
            noun = self._noun_after(i + 2)
            return _Item(i, noun[1] if noun else i + 2, 12, noun is not None)
        k = i + 1 if word == "the" else i
        if self.words[k:k + 2] == ["both", "of"] and self.word(k + 2) in ("us", "them"):
            return _Item(i, k + 3, 2, True)
        if word == "us" and nxt == "two":
            return _Item(i, i + 2, 2, True)
        for phrase in ONE_PHRASES:
            if tuple(self.words[i:i + len(phrase)]) == phrase:
                return _Item(i, i + len(phrase), 1, True)
        if word in SELF_WORDS:
            return _Item(i, i + 1, 1, True, list_only=True)
        if word in ("a", "an", "one", "another") and (nxt in PEOPLE_SINGULAR or nxt in RELATIVES):
            return _Item(i, i + 2, 1, True, list_only=True)
        if word == "no" and nxt in PEOPLE_PLURAL:
            return _Item(i, i + 2, 0, True, list_only=True)
        if word in POSSESSIVES:
            j = i + 1
            if j in self.nums:
                value, end = self.nums[j]
                noun = self._noun_after(end)
                if noun is not None:
                    return _Item(i, noun[1], value, True)
                return None
            if self.word(j) in RELATIVE_PAIRS:
                return _Item(i, j + 1, 2, True, list_only=True)
            if self.word(j) in RELATIVES and word != "the":
                return _Item(i, j + 1, 1, True, list_only=True)
            if self.word(j) in UNSIZED and word != "the":
                return _Item(i, j + 1, None, True, list_only=True)
        if word in ("some", "several", "few", "many") and nxt in UNSIZED | PEOPLE_PLURAL:
            return _Item(i, i + 2, None, True, list_only=True)
        return None

    def read(self) -> list[tuple[int, int, int | None, bool]]:
        """(start token, end token, count, is a list of people) in order."""
        out = []
        i = 0
        while i < len(self.words):
            first = self.item(i)
            if first is None:
                i += 1
                continue
            group = [first]
            j = first.j
            while True:
                k = j
                while self.word(k) in JOINERS:
                    k += 1
                nxt = self.item(k) if k < len(self.words) else None
                # only people make a list: "give me two" is not 1 + 2
                if nxt is None or not (nxt.people and group[-1].people):
                    break
                group.append(nxt)
                j = nxt.j
            i = j
            if len(group) == 1:
                item = group[0]
                if not item.list_only and item.count is not None:
                    out.append((item.i, item.j, item.count, item.people))
                continue
            if any(g.count is None for g in group):
                continue
            out.append((group[0].i, group[-1].j, sum(g.count for g in group), True))
        return out


# Words a speech recogniser writes for a number said on its own. Read as numbers only in an
# answer to a question for a number (the caller decides: callflows.dialogue), and only at the end
# of the answer or before people ("to adults and a child"), never after a word that makes them
# a preposition or an infinitive ("i'd like to"): "for" is never 4 anywhere else.
HOMOPHONES = NUMBER_HOMOPHONES
NOT_A_NUMBER_AFTER = frozenset({
    "like", "want", "wanted", "need", "needed", "going", "have", "has", "had", "able", "got", "go", "come",
    "talk", "speak", "up", "back", "due", "used", "trying", "try", "plan", "planning", "hoping", "hope",
    "ask", "asking", "looking", "room", "rooms", "table", "reservation", "booking", "book", "i", "we",
})


def homophone_counts(text: str, ctx: ParseContext) -> list[Value]:
    """Counts in an answer to "how many?" whose number came out as a homophone: "to" -> 2,
    "it's for" -> 4, "won" -> 1, "ate" -> 8, "to adults and a child" -> 3 (see HOMOPHONES)."""
    words = text.split()
    changed = False
    for k, word in enumerate(words):
        if word not in HOMOPHONES or (k > 0 and words[k - 1] in NOT_A_NUMBER_AFTER):
            continue
        nxt = words[k + 1] if k + 1 < len(words) else ""
        if nxt in ("", "please", "of", "people", "guests", "nights") or nxt in PEOPLE_PLURAL or nxt in PEOPLE_SINGULAR:
            words[k], changed = HOMOPHONES[word], True
    return extract_counts(" ".join(words), ctx) if changed else []


def extract_counts(text: str, ctx: ParseContext) -> list[Value]:
    """Every count in (normalised) text, in text order (see the module docstring)."""
    tokens = tokenize(text)
    values = []
    for i, j, count, people in _CountReader(tokens, ctx).read():
        start, end = tokens[i].start, tokens[j - 1].end
        values.append(Value("number", count, start, end, text[start:end], {"people": people}))
    return values
