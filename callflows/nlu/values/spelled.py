"""Spelled names and spelled references: letters said one by one.

spelled_name: the letters of one word, said as
- single letters: "d m i t r i", "D, M, I, T, R, I", "D-M-I-T-R-I" (normalize_asr makes them "d m i t r i");
- letter names: "dee em eye tee ar eye" ("bee", "see", "aitch", "double you"...);
- the NATO alphabet: "delta mike india tango romeo india";
- a letter with a word that only confirms it: "a as in apple", "m for mary", "m mike"
  (a word right after a letter that starts with it);
- "double t" -> "TT"; "apostrophe" and "hyphen"/"dash" keep their mark ("o apostrophe n e i l").
Other words are fillers ("it's", "spelled", "my last name is") or the name itself said before
its spelling; at most two such words are allowed, and at least two letters must be spelled.
The value is the word in title case ("Dmitri", "O'Neil"), extra {"letters": "DMITRI"}.

reference: a booking reference of exactly `length` letters and digits ("k seven m as in mike two
q p", "K7M2QP"); every word must be a letter, a digit or a filler, and one at least a letter
(digits alone are a number). The value is upper case.
"""

from __future__ import annotations

from .model import Value
from .names import title_case
from .normalize import Token, tokenize

NATO = {
    "alpha": "a", "alfa": "a", "bravo": "b", "charlie": "c", "delta": "d", "echo": "e", "foxtrot": "f",
    "golf": "g", "hotel": "h", "india": "i", "juliet": "j", "juliett": "j", "kilo": "k", "lima": "l",
    "mike": "m", "november": "n", "oscar": "o", "papa": "p", "quebec": "q", "romeo": "r", "sierra": "s",
    "tango": "t", "uniform": "u", "victor": "v", "whiskey": "w", "whisky": "w", "xray": "x", "x-ray": "x",
    "yankee": "y", "zulu": "z",
}
LETTER_NAMES = {
    "ay": "a", "eh": "a", "bee": "b", "be": "b", "see": "c", "sea": "c", "cee": "c", "dee": "d", "ee": "e",
    "ef": "f", "eff": "f", "gee": "g", "jee": "g", "aitch": "h", "haitch": "h", "eye": "i", "aye": "i",
    "jay": "j", "kay": "k", "el": "l", "ell": "l", "em": "m", "en": "n", "oh": "o", "owe": "o", "pee": "p",
    "pea": "p", "queue": "q", "cue": "q", "are": "r", "ar": "r", "es": "s", "ess": "s", "tee": "t",
    "tea": "t", "you": "u", "vee": "v", "ex": "x", "why": "y", "zee": "z", "zed": "z",
}
DIGITS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
          "seven": "7", "eight": "8", "nine": "9"}
MARKS = {"apostrophe": "'", "hyphen": "-", "dash": "-"}
FILLERS = frozenset("""
it's its it is that's thats that my the last first name surname family spelled spelt spell spelling
is and then space comma period dot so okay ok yes yeah sure um well letter letters capital
reference number code confirmation booking reservation ref think have got here please
""".split())


def _letter(word: str) -> str | None:
    if len(word) == 1 and word.isalpha():
        return word
    return NATO.get(word) or LETTER_NAMES.get(word)


def _read(tokens: list[Token], digits: bool) -> tuple[str, int, int, int] | None:
    """(characters, unknown words, index of the first and last character token)."""
    words = [t.text for t in tokens]
    chars: list[str] = []
    unknown = 0
    first = last = -1
    i = 0

    def add(text: str, at: int) -> None:
        nonlocal first, last
        chars.append(text)
        first = at if first < 0 else first
        last = at

    while i < len(words):
        w = words[i]
        prev_letter = bool(chars) and last == i - 1 and chars[-1].isalpha()
        if w == "as" and i + 1 < len(words) and words[i + 1] in ("in", "for") and prev_letter:
            i += 3  # "m as in mike": the word only confirms the letter
            continue
        if w in ("for", "like") and prev_letter and i + 1 < len(words):
            i += 2
            continue
        if prev_letter and len(w) > 2 and w[0] == chars[-1] and (
                len(words[i - 1]) == 1 or (w not in NATO and w not in LETTER_NAMES)):
            i += 1  # "a apple", "m mike"
            continue
        if w == "x" and i + 1 < len(words) and words[i + 1] == "ray":  # "x-ray" is normalised to "x ray"
            add("x", i)
            i += 2
            continue
        if w == "double" and i + 1 < len(words):
            nxt = words[i + 1]
            if nxt in ("you", "u"):
                add("w", i + 1)
                i += 2
                continue
            repeated = _letter(nxt) or (DIGITS.get(nxt) if digits else None)
            if repeated:
                add(repeated, i)
                add(repeated, i + 1)
                i += 2
                continue
        letter = _letter(w)
        if letter:
            add(letter, i)
        elif w in MARKS and chars:
            add(MARKS[w], i)
        elif digits and (w in DIGITS or w.isdigit()):
            add(DIGITS.get(w, w), i)
        elif digits and w.isalnum() and any(c.isdigit() for c in w):
            add(w, i)  # typed "k7m2qp"
        elif w not in FILLERS:
            unknown += 1
        i += 1
    return "".join(chars), unknown, first, last


def extract_spelled_name(text: str) -> list[Value]:
    """The spelled word in normalised text (see the module docstring), or []."""
    tokens = tokenize(text)
    if not tokens:
        return []
    letters, unknown, first, last = _read(tokens, digits=False)
    letters = letters.strip("'-")
    if sum(c.isalpha() for c in letters) < 2 or unknown > 2:
        return []
    start, end = tokens[first].start, tokens[last].end
    word = "-".join(title_case(part) for part in letters.split("-"))
    return [Value("spelled_name", word, start, end, text[start:end], {"letters": letters.upper()})]


def extract_reference(text: str, length: int | None = None) -> list[Value]:
    """A spelled or typed reference of exactly `length` characters (any length from 4 without it)."""
    tokens = tokenize(text)
    if not tokens:
        return []
    chars, unknown, first, last = _read(tokens, digits=True)
    if unknown or first < 0 or not chars.isalnum() or chars.isdigit():  # a digit run is a number, not a reference
        return []
    if (length is not None and len(chars) != length) or (length is None and len(chars) < 4):
        return []
    start, end = tokens[first].start, tokens[last].end
    return [Value("reference", chars.upper(), start, end, text[start:end])]


def spell_out(word: str) -> str:
    """'Dmitri' -> 'D, M, I, T, R, I' (for reading a spelling back)."""
    return ", ".join(c.upper() if c.isalpha() else {"'": "apostrophe", "-": "hyphen"}.get(c, c)
                     for c in str(word) if not c.isspace())
