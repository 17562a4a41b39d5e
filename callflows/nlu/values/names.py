"""Person names: after a cue, after a title, or as a short utterance on its own.

- Cues (longest first): "my name is", "my name's", "the name is", "name is", "name's",
  "this is", "it's", "it is", "i am", "i'm", "call me", "under the name (of)", "under", "for".
  Up to three name-like words follow; "for" needs at least two ("an appointment for jane doe").
  extra {"cue": "<cue words>"}.
- Titles anywhere: doctor/dr -> "Dr.", mr/mister -> "Mr.", mrs/missus -> "Mrs.", ms -> "Ms.",
  miss -> "Ms." (only after a cue or at the start). The value is the name without the title,
  extra {"title": "Dr."}: provider names are told apart from callers by the dialogue.
- No cue: an utterance of one to three name-like words ("jane smith") is a name, extra {}.
- Spelled letters ("j o h n", at least two single letters) join into one word, and a spelled
  word that repeats the word before it ("john j o h n") is dropped.
- A name-like word is alphabetic (apostrophes allowed), not a number, month, weekday,
  part of the day, or one of a stop-list of common English words; after "i'm"/"i am"/"it's"/
  "this is", a first word ending in "ing" ("calling") is not a name.
- Given names that are also words: a month's short form ("jun", "jan") is a name unless a day
  follows it ("jun fifth"); after a cue that says "name" ("my name is may chen", "first name
  is june") the months "may", "june", "april", "august" and "will", "bill" are names too.
- Title case: "o'neil" -> "O'Neil", "mcdonald" -> "McDonald", "de la cruz" -> "De La Cruz".
"""

from __future__ import annotations

import re

from .dates import MONTHS, WEEKDAYS
from .dayparts import PART_OF_DAY
from .model import Value
from .normalize import Token, tokenize
from .numbers import NUMBER_WORDS, ORD_TEENS, ORD_TENS, ORD_UNITS

CUES = tuple(sorted((tuple(c.split()) for c in (
    "my name is", "my name's", "the name is", "name is", "name's", "this is", "it's", "it is",
    "i am", "i'm", "im", "call me", "under the name", "under the name of", "under", "for",
    "the name's", "last name is", "first name is", "my last name is", "my first name is",
    "full name is", "my full name is", "surname is", "my surname is",
)), key=len, reverse=True))
VERB_CUES = frozenset({("i'm",), ("im",), ("i", "am"), ("it's",), ("it", "is"), ("this", "is")})
TITLES = {"doctor": "Dr.", "dr": "Dr.", "mr": "Mr.", "mister": "Mr.", "mrs": "Mrs.", "missus": "Mrs.",
          "ms": "Ms.", "miss": "Ms."}
STOP_WORDS = frozenset("""
a about above after again against all am an and any appointment are aren't as at available back
be because been before being below between both but by can can't cancel cannot could couldn't
did didn't do does doesn't doing don't down during each few for from further had hadn't has
hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his how
how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my
myself no nor not of off on once only or other ought our ours ourselves out over own same
shan't she she'd she'll she's should shouldn't so some such than that that's the their theirs
them themselves then there there's these they they'd they'll they're they've this those through
to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when
when's where where's which while who who's whom why why's with won't would wouldn't you you'd
you'll you're you've your yours yourself yourselves yes yeah yep yup nope nah ok okay alright
right sure fine good great perfect correct wrong thanks thank please hello hi hey bye goodbye
sorry well just still also really actually calling call looking trying wondering hoping going
here there new existing patient customer client member caller person someone somebody anyone
regarding about calling interested confused worried married single retired insured covered
booked scheduled available busy free sick late early ready done finished able unable afraid
glad happy sad tired calling phoning ringing need needs want wants like likes would could should
appointment appointments booking reservation order account bill billing payment insurance card
number phone date time day week month year today tomorrow yesterday tonight now later soon
morning afternoon evening night noon midnight o'clock am pm oh uh um hmm huh mhm
son daughter wife husband mother father mom dad kid kids child children baby friend brother
sister family parent parents self myself mine
the a an that this those these what which who whom whose yes no not
one first second third last next previous other another same different
help question questions problem issue information info service services speak talk talking
representative agent human operator someone receptionist office doctor's dentist clinic
reschedule rescheduling cancel canceling cancelling confirm confirming change changing
check checking book make made get got see seen visit visiting come coming go went gone
know think say said tell told ask asked give gave take took find found use used
is are was were be been being have has had do does did will shall may might must can
cleaning checkup exam consultation emergency pain tooth teeth filling crown root canal
something anything nothing everything everyone everybody nobody nowhere somewhere anywhere
fine good great ok okay sure right correct really very much many more most less least
""".split())
_NAME_WORD = re.compile(r"^[a-z][a-z']*$")


def _ordinal_words() -> frozenset[str]:
    return frozenset(ORD_UNITS) | frozenset(ORD_TEENS) | frozenset(ORD_TENS)


# short forms of months ("jun", "mar"): given names as often as dates; a date only before a day
MONTH_SHORT = frozenset(m for m in MONTHS if len(m) <= 4 and m not in ("may", "june", "july"))
# words that are given names as well: names after a cue that says "name"
NAMES_AFTER_NAME_CUE = frozenset({"may", "june", "april", "august", "will", "bill"}) | MONTH_SHORT
NOT_NAMES = (STOP_WORDS | NUMBER_WORDS | frozenset(MONTHS) | frozenset(WEEKDAYS) | frozenset(PART_OF_DAY)
             | _ordinal_words() | frozenset(TITLES) | {"hundred", "thousand", "zero"}) - MONTH_SHORT
_DAY_WORD = re.compile(r"^(\d+(st|nd|rd|th)?|" + "|".join(sorted(NUMBER_WORDS | _ordinal_words(), key=len,
                                                                 reverse=True)) + ")$")


def title_case(word: str) -> str:
    """"o'neil" -> "O'Neil", "mcdonald" -> "McDonald", "smith" -> "Smith"."""
    if re.match(r"^[a-z]'[a-z]", word):
        return word[0].upper() + "'" + word[2:].capitalize()
    if word.startswith("mc") and len(word) > 3:
        return "Mc" + word[2:].capitalize()
    return word.capitalize()


def _is_name_word(word: str, after_name_cue: bool = False) -> bool:
    if not (_NAME_WORD.match(word) and len(word) > 1):
        return False
    return word not in NOT_NAMES or (after_name_cue and word in NAMES_AFTER_NAME_CUE)


def _is_date_start(words: list[str], j: int) -> bool:
    """"jun fifth", "dec 3": a month's short form with a day after it is a date, not a name."""
    return words[j] in MONTH_SHORT and j + 1 < len(words) and bool(_DAY_WORD.match(words[j + 1]))


def _name_words(words: list[str], j: int, limit: int = 3, after_name_cue: bool = False) -> tuple[list[str], int]:
    """Up to `limit` name words from words[j] (spelled letters joined), and the end index."""
    found: list[str] = []
    while j < len(words) and len(found) < limit:
        k = j
        while k < len(words) and len(words[k]) == 1 and words[k].isalpha():
            k += 1
        if k - j >= 2:
            spelled = "".join(words[j:k])
            if not found or found[-1] != spelled:
                found.append(spelled)
            j = k
            continue
        if not _is_name_word(words[j], after_name_cue) or _is_date_start(words, j):
            break
        found.append(words[j])
        j += 1
    return found, j


def _value(tokens: list[Token], text: str, i: int, j: int, parts: list[str], extra: dict) -> Value:
    start, end = tokens[i].start, tokens[j - 1].end
    return Value("person_name", " ".join(title_case(p) for p in parts), start, end, text[start:end], extra)


def _cue_at(words: list[str], i: int) -> tuple[str, ...] | None:
    for cue in CUES:
        if tuple(words[i:i + len(cue)]) == cue:
            return cue
    return None


def extract_names(text: str) -> list[Value]:
    """Person-name values in normalised text (see the module docstring)."""
    tokens = tokenize(text)
    words = [t.text for t in tokens]
    values: list[Value] = []
    i = 0
    while i < len(words):
        cue = _cue_at(words, i)
        j = i + len(cue) if cue else i
        title = TITLES.get(words[j]) if j < len(words) else None
        if title and words[j] == "miss" and not (cue or i == 0):
            title = None
        if not cue and not title:
            i += 1
            continue
        start = j + 1 if title else j
        parts, end = _name_words(words, start, limit=2 if title else 3,
                                 after_name_cue=bool(cue and "name" in " ".join(cue)))
        if cue in VERB_CUES and parts and parts[0].endswith("ing") and not title:
            parts = []
        if not parts or (cue == ("for",) and not title and len(parts) < 2):
            i += len(cue) if cue else 1
            continue
        extra: dict = {}
        if cue:
            extra["cue"] = " ".join(cue)
        if title:
            extra["title"] = title
        values.append(_value(tokens, text, j if title else start, end, parts, extra))
        i = end
    if not values and words:
        parts, end = _name_words(words, 0)
        if parts and end == len(words):
            values.append(_value(tokens, text, 0, end, parts, {}))
    return values
