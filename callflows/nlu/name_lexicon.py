"""Known spellings of given names and surnames, to repair letters misheard over a phone line.

Whisper tiny at 8 kHz hears spelled letters by their rhymes: "N" comes out "M", "S" comes out
"F", "Z", "C", "G" and "P" come out "T" or "D" (bench/name_spelling.py). So "Y, I, L, M, A, Z"
is heard "yilmat" and "N, O, V, A, K" is heard "movak". Those confusions stay inside classes
of letters that sound alike, so a heard spelling is compared with known names by its
*sound-alike key* (each letter replaced by its class) as well as by its letters:

1. the letters are a known name: kept as heard;
2. known names with the same key: the one with the lowest cost is taken, where the cost is the
   letters changed plus log10 of the name's rank in its list (the census lists end in rare
   misspellings, "Mguyen" and "Tllo": a common name one letter further away wins over them);
3. else, for spellings of four letters or more, known names whose key is one edit away
   (a letter missed or added) and whose letters are at most two edits away, by the same cost;
4. else the letters stay as heard (a name on no list is still a name).

The read-back then spells the repaired name letter by letter, so a wrong repair is one "no"
away from the next correction, as a wrong hearing was.

The names: the US Census 1990 name lists (public domain; 88,799 surnames and 5,494 given
names, shipped in the ``names`` package, MIT) and the given names and surnames of every
locale of ``Faker`` (MIT), folded to ASCII (about 20,000 of each), so "Yilmaz", "Adeyemi" and
"Lindqvist" are known as well as "Garcia". Either source may be missing (a warning): the
repair then knows fewer names, and with neither it keeps every spelling as heard.
"""

from __future__ import annotations

import importlib
import logging
import math
import pkgutil
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

from rapidfuzz.distance import Levenshtein

from callflows.speech.registry import registry

log = logging.getLogger(__name__)

# letters that sound alike when said one by one: the E-set, "ay", "eye", "you", "ef/ess/ex", "em/en"
SOUND_CLASSES = ("bcdegptvz", "ahjk", "iy", "quw", "fsx", "mn", "l", "o", "r")
_CLASS_OF = {letter: group[0] for group in SOUND_CLASSES for letter in group}
_NAME = re.compile(r"^[a-z][a-z'-]*[a-z]$")
MAX_LETTER_EDITS = 2  # for a key one edit away: a repair that changes more letters is a guess
REPAIR_RANK = 20_000  # census names past this rank (under about 1 in 150,000 people, many of them
                      # misspellings: "Mguyen", "Tllo") count as known but are never a repair's target
FAKER_RANK = 5_000  # Faker lists each locale's common names: ranked as a census name of middling frequency


def sound_key(letters: str) -> str:
    """Each letter replaced by its sound-alike class ("yilmat" and "yilmaz" -> "iilmab")."""
    return "".join(_CLASS_OF.get(c, c) for c in letters.lower() if c.isalpha())


@dataclass
class NameList:
    """One kind of name (given names or surnames): rank by spelling, spellings by key."""

    rank: dict[str, int] = field(default_factory=dict)
    by_key: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, rank: int) -> None:
        """Keep a name's best rank; a name ranked within REPAIR_RANK is indexed by its key once."""
        before = self.rank.get(name)
        if before is not None and before <= rank:
            return
        self.rank[name] = rank
        if rank <= REPAIR_RANK and (before is None or before > REPAIR_RANK):
            self.by_key.setdefault(sound_key(name), []).append(name)

    def __len__(self) -> int:
        return len(self.rank)


@dataclass
class NameLexicon:
    given: NameList
    surnames: NameList

    def repair(self, letters: str, part: str | None = None) -> str:
        """The known spelling a heard spelling most likely was (see the module docstring).
        ``part``: "first" (given names first), "last" (surnames first), None (both)."""
        heard = "".join(c for c in letters.lower() if c.isalpha() or c in "'-")
        if len(heard) < 2:
            return heard
        lists = {"first": (self.given, self.surnames), "last": (self.surnames, self.given)}.get(
            part or "", (self.surnames, self.given))
        if any(heard in names.rank for names in lists):
            return heard
        for names in lists:
            found = self._same_key(names, heard)
            if found:
                return found
        if len(heard) >= 4:
            for names in lists:
                found = self._near_key(names, heard)
                if found:
                    return found
        return heard

    @staticmethod
    def _best(names: NameList, heard: str, candidates: Iterable[str], max_edits: int | None) -> str | None:
        scored = [(edits + math.log10(names.rank[c] + 100), c) for c in candidates
                  if (edits := Levenshtein.distance(heard, c)) <= (max_edits if max_edits is not None else len(c))]
        return min(scored)[1] if scored else None

    def _same_key(self, names: NameList, heard: str) -> str | None:
        return self._best(names, heard, names.by_key.get(sound_key(heard), ()), None)

    def _near_key(self, names: NameList, heard: str) -> str | None:
        key = sound_key(heard)
        near = [name for k, spellings in names.by_key.items() if abs(len(k) - len(key)) <= 1
                and Levenshtein.distance(k, key, score_cutoff=1) <= 1 for name in spellings]
        return self._best(names, heard, near, MAX_LETTER_EDITS)


def _fold(name: str) -> str | None:
    """ASCII lower case ("Yılmaz" -> "yilmaz"), or None for a name that is not one word of letters."""
    folded = unicodedata.normalize("NFKD", name.replace("ı", "i")).encode("ascii", "ignore").decode().lower()
    return folded if _NAME.match(folded) else None


def _census(lexicon: NameLexicon) -> None:
    try:
        files = resources.files("names")
    except ModuleNotFoundError:
        log.warning("the 'names' package is not installed: no census names for spelled-name repair")
        return
    for filename, names in (("dist.all.last", lexicon.surnames), ("dist.female.first", lexicon.given),
                            ("dist.male.first", lexicon.given)):
        lines = (files / filename).read_text(encoding="ascii").splitlines()
        for rank, line in enumerate(lines):
            folded = _fold(line.split(" ", 1)[0])
            if folded:
                names.add(folded, rank)


def _faker(lexicon: NameLexicon) -> None:
    try:
        person = importlib.import_module("faker.providers.person")
    except ModuleNotFoundError:
        log.warning("the 'faker' package is not installed: no names of other locales for spelled-name repair")
        return
    for module in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in dir(provider):
            target = (lexicon.given if attr.startswith("first_") else
                      lexicon.surnames if attr.startswith("last_") else None)
            values = getattr(provider, attr)
            if target is None or not attr.endswith("names") or not isinstance(values, (tuple, list, dict)):
                continue
            for name in values:
                folded = _fold(name) if isinstance(name, str) else None
                if folded:
                    target.add(folded, FAKER_RANK)


def build_name_lexicon() -> NameLexicon:
    lexicon = NameLexicon(NameList(), NameList())
    _census(lexicon)
    _faker(lexicon)
    log.info("name lexicon: %d given names, %d surnames", len(lexicon.given), len(lexicon.surnames))
    return lexicon


def name_lexicon() -> NameLexicon:
    """The process's name lexicon, built once (about a second) and kept in the model registry."""
    return registry().get_or_load(("name_lexicon",), build_name_lexicon)
