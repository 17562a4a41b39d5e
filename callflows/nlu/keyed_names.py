"""Names typed on a phone keypad, one key per letter ("Okonkwo" is 6 5 6 6 5 9 6), read back as
spellings.

Over an 8 kHz line a name the caller says is almost never heard right, and neither are the
letters of a spelled one (bench/README.md, "Speech to text on the line": under 5 % of names and
spellings): the letters that sound alike (B D E P T V, M N, F S) are the loss, and no decoder
gets them back. A key press is never misheard. One key stands for three or four letters, but
those are letters that *look* alike on the keypad, not letters that *sound* alike (B is 2, D and
E are 3, P is 7, T and V are 8), so the keys and the caller's voice disagree in different
places, and known names settle most of what is left:

1. known names with exactly these keys (callflows.nlu.name_lexicon: the census lists and
   Faker's locales, about 120,000 spellings), cheapest first: log10 of the name's rank, plus
   the distance to what was heard by voice when there was anything (a misheard "Oconquo" still
   points at "Okonkwo" among the names on 6566596);
2. two known names joined, for a first name typed without its space ("Minh Anh" as 6464264);
3. spellings a letter model (5-grams) of those names finds likeliest on these keys, for names on
   no list: each position takes one of its key's letters, and the model of how names are
   spelled picks the combination ("a name on no list is still a name").

The dialogue reads the spelling back letter by letter (callflows.dialogue.readback); a denial
and the letters said aloud then choose among the candidates for the same keys, so a second
try cannot drift away from what was typed.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein

from callflows.nlu.name_lexicon import REPAIR_RANK, NameLexicon, NameList, name_lexicon
from callflows.speech.registry import registry

log = logging.getLogger(__name__)

KEYPAD = {"2": "abc", "3": "def", "4": "ghi", "5": "jkl", "6": "mno", "7": "pqrs", "8": "tuv", "9": "wxyz"}
_KEY_OF = {letter: key for key, letters in KEYPAD.items() for letter in letters}
MIN_KEYS = 2        # one key is no name
MAX_KEYS = 24       # longer entries are a stuck key or another number, not a name
BEAM = 64           # partial spellings kept per position by the letter-model search
HEARD_WEIGHT = 3.0  # cost of a spelling as far from what was heard as it can be
UNKNOWN_COST = 4.6  # a spelling on no list starts here: above every known name within REPAIR_RANK
SPLIT_COST = 1.8    # two names joined cost this much more than the mean of their ranks
ORDER = 5           # letters of context + 1 in the name model
BACKOFF_COST = -math.log10(0.4)  # stupid backoff's factor
UNSEEN_COST = 3.0   # a letter no name has


def keys_of(name: str) -> str:
    """The keys that type ``name`` (letters only: "Minh Anh" -> "6464264")."""
    return "".join(_KEY_OF[c] for c in name.lower() if c in _KEY_OF)


def name_keys(text: str) -> str:
    """The letter keys (2-9) of a keypad entry; 0, 1, * and # carry no letter and are dropped."""
    return "".join(c for c in text if c in KEYPAD)


@dataclass(frozen=True)
class KeyedName:
    """One spelling the keys may stand for: ``known`` when it is on a name list."""

    spelling: str
    cost: float
    known: bool


@dataclass
class _LetterModel:
    """Letter n-grams of known names ("^" pads the start, "$" ends a name), scored with stupid
    backoff: on held-out names of the lists, order 5 typed from keys alone came out exactly
    right for 35 % and within a ratio of 85 for 44 % (order 3: 23 % and 35 %)."""

    order: int = ORDER
    counts: Counter[str] = field(default_factory=Counter)
    contexts: Counter[str] = field(default_factory=Counter)

    def add(self, name: str) -> None:
        padded = "^" * (self.order - 1) + name + "$"
        for i in range(self.order - 1, len(padded)):
            for k in range(self.order):
                self.counts[padded[i - k:i + 1]] += 1
                self.contexts[padded[i - k:i]] += 1

    def cost(self, before: str, letter: str) -> float:
        """-log10 P(letter | the letters before), backing off to shorter contexts."""
        before = ("^" * (self.order - 1) + before)[-(self.order - 1):]
        penalty = 0.0
        for k in range(self.order - 1, -1, -1):
            context = before[len(before) - k:] if k else ""
            seen = self.counts[context + letter]
            if seen:
                return penalty - math.log10(seen / self.contexts[context])
            penalty += BACKOFF_COST
        return penalty + UNSEEN_COST


@dataclass
class KeyedNames:
    """Known spellings by their keys, and the letter model for the rest."""

    given: dict[str, list[tuple[int, str]]]
    surnames: dict[str, list[tuple[int, str]]]
    model: _LetterModel

    def decode(self, keys: str, heard: Sequence[str] = (), part: str | None = None, n: int = 8) -> list[KeyedName]:
        """The ``n`` likeliest spellings for ``keys``, best first (see the module docstring).
        ``heard``: what the caller's voice gave for the same name (words or letters), if any;
        ``part``: "first" or "last", which list is tried first (the other costs a little more)."""
        keys = name_keys(keys)
        if not MIN_KEYS <= len(keys) <= MAX_KEYS:
            return []
        heard_forms = [h for h in ("".join(c for c in x.lower() if c.isalpha()) for x in heard) if h]
        primary, secondary = (self.given, self.surnames) if part == "first" else (self.surnames, self.given)
        found: dict[str, KeyedName] = {}

        def offer(spelling: str, cost: float, known: bool) -> None:
            total = cost + self._heard_cost(spelling.replace(" ", ""), heard_forms)
            if spelling not in found or found[spelling].cost > total:
                found[spelling] = KeyedName(spelling, total, known)

        for penalty, names in ((0.0, primary), (0.5, secondary)):
            for rank, name in names.get(keys, ()):
                offer(name, math.log10(rank + 100) + penalty, True)
        splits = range(MIN_KEYS, len(keys) - MIN_KEYS + 1) if part == "first" else range(0)
        for i in splits:  # two given names typed as one ("Minh Anh")
            for r1, a in primary.get(keys[:i], [])[:5] + secondary.get(keys[:i], [])[:5]:
                for r2, b in primary.get(keys[i:], [])[:5] + secondary.get(keys[i:], [])[:5]:
                    offer(f"{a} {b}", (math.log10(r1 + 100) + math.log10(r2 + 100)) / 2 + SPLIT_COST, True)
        best_model = None
        for spelling, model_cost in self._search(keys, n):
            best_model = model_cost if best_model is None else best_model
            offer(spelling, UNKNOWN_COST + 0.5 * (model_cost - best_model), spelling in self._all(spelling))
        return sorted(found.values(), key=lambda k: (k.cost, k.spelling))[:n]

    def _all(self, spelling: str) -> set[str]:
        keys = keys_of(spelling)
        return {name for names in (self.given, self.surnames) for _, name in names.get(keys, ())}

    @staticmethod
    def _heard_cost(spelling: str, heard: list[str]) -> float:
        """How far ``spelling`` is from the closest thing heard, 0 (same) to HEARD_WEIGHT."""
        if not heard:
            return 0.0
        return HEARD_WEIGHT * min(Levenshtein.normalized_distance(spelling, h) for h in heard)

    def _search(self, keys: str, n: int) -> list[tuple[str, float]]:
        """Beam search of the letter model over the letters of each key."""
        beam: list[tuple[float, str]] = [(0.0, "")]
        for key in keys:
            grown = []
            for cost, prefix in beam:
                grown.extend((cost + self.model.cost(prefix, letter), prefix + letter) for letter in KEYPAD[key])
            beam = heapq.nsmallest(BEAM, grown)
        ended = [(cost + self.model.cost(s, "$"), s) for cost, s in beam]
        return [(s, c) for c, s in heapq.nsmallest(n, ended)]


def _index(names: NameList) -> dict[str, list[tuple[int, str]]]:
    by_keys: dict[str, list[tuple[int, str]]] = {}
    for name, rank in names.rank.items():
        by_keys.setdefault(keys_of(name), []).append((rank, name))  # "o'neil" is typed as oneil
    for found in by_keys.values():
        found.sort()
    return by_keys


def build_keyed_names(lexicon: NameLexicon | None = None) -> KeyedNames:
    lexicon = lexicon or name_lexicon()
    model = _LetterModel()
    for names in (lexicon.given, lexicon.surnames):
        for name, rank in names.rank.items():
            if rank <= REPAIR_RANK and name.isalpha():  # the census tails are rare spellings and misspellings
                model.add(name)
    keyed = KeyedNames(_index(lexicon.given), _index(lexicon.surnames), model)
    log.info("keyed names: %d key sequences of given names, %d of surnames", len(keyed.given), len(keyed.surnames))
    return keyed


def keyed_names() -> KeyedNames:
    """The process's keypad-name decoder, built once from the name lexicon and kept in the registry."""
    return registry().get_or_load(("keyed_names",), build_keyed_names)
