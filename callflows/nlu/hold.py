"""Requests to hold: the caller needs a moment ("hold on", "give me a second", "one moment",
"let me find my card", "wait a sec", "bear with me").

`hold_request(text)` -> "wait" | "errand" | None: whether the whole (normalised) utterance asks
the bot to wait, and nothing else. The utterance is read left to right as:

- a wait phrase: hold/hang on, hold please, bear with me, wait (a ...), just a ..., one/a/just a
  <moment|second|sec|minute|min|tick|mo>, give me (a|one|just a) <duration>;
- or an errand: let me / i need to / i have to / i'll / i'm going to / i'm gonna <verb> ...
  with a search verb (find, get, grab, check, look, see, pull, dig, fetch, locate, go, write),
  followed by what is fetched when it is the caller's own thing ("my card", "it up", "that",
  "the letter", "a pen", "where i put it"): "let me get an appointment" is a request, not a hold;
- opener and politeness words ("okay", "um", "sorry", "please", "so", "yes") anywhere.

After a wait phrase, a short remainder about the caller's own thing with no question or request
in it still counts (the recogniser may mangle "let me find my card" into "there to meet my card").
Anything else ("hold on, what are your hours", "no wait", "wait that's wrong") is not a hold.
"""

from __future__ import annotations

from callflows.nlu.values import normalize_asr

DURATIONS = frozenset({"moment", "moments", "second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins",
                       "tick", "mo", "jiffy", "bit"})
COUNTS = frozenset({"a", "one", "1", "just", "few", "couple", "of", "quick", "little", "2", "two"})
WAIT_PHRASES = (
    "hold on", "hang on", "hold please", "hold it", "hold the line", "please hold", "bear with me", "hold up",
    "can you hold", "could you hold", "can you hold on", "could you hold on", "can you hang on", "could you hang on", "can you wait", "could you wait", "would you mind waiting",
    "wait", "just wait", "give me", "gimme",
)
# thinking aloud is a hesitation (callflows.nlu.hesitation), not a hold, unless a wait phrase came first
AFTER_WAIT = ("let me see", "let me think", "let me just see", "let me just think")
ERRAND_LEADS = ("let me", "let me just", "i need to", "i have to", "i'll", "i will", "i'm going to",
                "i am going to", "i'm gonna", "i gotta", "i've got to", "i got to", "i must", "just need to",
                "i'm just going to", "i just need to", "i'm looking", "i am looking", "i'm getting", "i'm trying to")
ERRAND_VERBS = frozenset({"find", "get", "grab", "check", "look", "pull", "dig", "fetch", "locate", "go",
                          "write", "finding", "getting", "grabbing", "checking", "looking", "pulling", "digging",
                          "search", "searching", "open", "opening", "bring", "take"})
# what may follow an errand verb: the caller's own thing, a pronoun, or a place ("it up", "in my wallet")
OBJECT_STARTS = frozenset({"my", "it", "its", "it's", "that", "this", "those", "these", "the", "them", "our", "up",
                           "out", "in", "for", "where", "what", "if", "around", "on", "at", "through", "here",
                           "there", "real", "quickly", "quick"})
WRITING_THINGS = frozenset({"pen", "pencil", "paper", "piece", "note", "notepad"})
OWN = frozenset({"my", "it", "it's", "its", "mine"})
ASKING = frozenset({"what", "what's", "when", "where's", "why", "how", "who", "which", "can", "could", "would", "do",
                    "does", "is", "are", "want", "wanna", "like", "book", "cancel", "change", "move", "reschedule",
                    "speak", "talk", "person", "not", "no", "wrong", "stop", "lost", "stolen", "appointment"})
FILLERS = frozenset({"okay", "ok", "um", "uh", "er", "erm", "hmm", "mm", "oh", "ah", "so", "sorry", "please",
                     "yes", "yeah", "sure", "right", "alright", "well", "actually", "just", "and", "real", "quick",
                     "quickly", "now", "then", "thanks"})


def _starts(words: list[str], i: int, phrase: str) -> int:
    parts = phrase.split()
    return len(parts) if words[i:i + len(parts)] == parts else 0


def _duration(words: list[str], i: int) -> int:
    """Words of "a second", "one moment", "just a sec", "a few minutes", "a couple of seconds" at i."""
    j = i
    while j < len(words) and words[j] in COUNTS:
        j += 1
    if j < len(words) and words[j] in DURATIONS and (j > i or words[j] in ("moment", "sec", "second")):
        return j + 1 - i
    return 0


def _errand(words: list[str], i: int) -> int:
    """Words of "let me find my card" / "i need to grab a pen" at i (to the end of the utterance
    when the object is the caller's own thing)."""
    for lead in sorted(ERRAND_LEADS, key=lambda p: -len(p.split())):
        n = _starts(words, i, lead)
        if not n:
            continue
        j = i + n
        if j < len(words) and words[j] == "just":
            j += 1
        if j >= len(words) or words[j] not in ERRAND_VERBS:
            if lead.startswith(("i'm looking", "i am looking", "i'm getting")):
                return len(words) - i if j >= len(words) or words[j] in OBJECT_STARTS else 0
            continue
        while j < len(words) and words[j] in ERRAND_VERBS:  # "let me go get my card"
            j += 1
        if j >= len(words):
            return j - i
        rest = words[j:]
        if rest[0] in OBJECT_STARTS or (rest[0] in ("a", "an", "some") and len(rest) > 1 and rest[1] in WRITING_THINGS):
            return len(words) - i  # "let me find my card in my wallet"
        return 0
    return 0


def hold_request(text: str) -> str | None:
    """Whether the whole utterance asks the bot to wait a moment (and says nothing else):
    "wait" when it says so ("hold on", "one moment", maybe with an errand), "errand" when it
    only names one ("let me check my calendar": a request to a bank's bot could sound the same,
    so the dialogue lets a confident request win over it), None otherwise."""
    words = normalize_asr(text).replace("-", " ").split()
    held: str | None = None
    i = 0
    while i < len(words):
        n = _errand(words, i)
        if n:
            held = held or "errand"
            i += n
            continue
        n = _duration(words, i)
        for phrase in sorted(WAIT_PHRASES + (AFTER_WAIT if held else ()), key=lambda p: -len(p.split())):
            n = n or _starts(words, i, phrase)
        if n:
            held = "wait"
            i += n
            continue
        if words[i] in FILLERS:
            i += 1
            continue
        if held == "wait" and _errand_like(words[i:]):  # "hold on, let me find my card", misheard
            return held
        return None
    return held


def _errand_like(rest: list[str]) -> bool:
    """After "hold on": words about fetching the caller's own thing, even misheard ("hold on
    there to meet my card"), and no question or request ("hold on, what are your hours")."""
    return (len(rest) <= 8 and any(w in OWN for w in rest) and not any(w in ASKING for w in rest))
