"""Greetings, small talk and meta-turns: an utterance made only of them ("hi", "hello there",
"good morning", "how are you", "are you there?", "thank you", "are you a robot?", "sorry, what?")
gets a friendly word back (or the bot's last words again) instead of being read as a request
or as the answer to the question asked.

`small_talk(text)` -> "repeat" | "robot" | "how_are_you" | "presence" | "thanks" | "hello" | None.
Every word of the (normalised) utterance must belong to one of these phrases, an address word
("there", "again", "everyone") or an opener ("oh", "well", "hey", "um", "sorry"); anything else
("hi i'd like to book a room", "no thanks", "thanks bye", "can i talk to a real person") is a
request, a yes/no or a goodbye and gives None. When phrases of several kinds are said, the
caller who missed the bot's words ("hello? sorry, what?") is answered first, then the one who
asks what they are talking to, then the rest.

No word of the yes/no vocabulary is an opener ("okay thanks" answers "shall I book it?"), and
"huh" is no repeat ("uh huh" is a yes).
"""

from __future__ import annotations

from callflows.nlu.values import normalize_asr

GREETINGS = (
    "hi", "hello", "hey", "hiya", "howdy", "greetings", "good morning", "good afternoon",
    "good evening", "good day", "hallo", "hullo",
)
HOW_ARE_YOU = (
    "how are you", "how are you doing", "how are you today", "how are you doing today", "how's it going",
    "how is it going", "how do you do", "how are things", "how's your day", "how is your day",
    "how's your day going", "how is your day going", "how have you been", "what's up", "whats up",
    "nice to meet you", "how're you", "how you doing", "you doing well", "are you well",
    "i hope you're well", "hope you're well", "i hope you are well", "hope you are doing well",
)
PRESENCE = ("are you there", "is anyone there", "is anybody there", "is someone there", "can you hear me",
            "anyone there", "anybody there", "is this working", "you there", "can you hear me okay",
            "can you hear me now", "do you hear me")
THANKS = (
    "thanks", "thank you", "thank you very much", "thanks very much", "thanks a lot", "thanks so much",
    "thank you so much", "many thanks", "cheers", "much appreciated", "appreciate it", "i appreciate it",
    "i appreciate that", "thank you kindly", "thanks a bunch", "thank you for that", "thanks for that",
    "thank you for your help", "thanks for your help", "thanks for the help", "thankyou", "thank u",
)
# "are you a robot", "am i talking to a real person", "is this a machine", "... or a real person"
_ASKS_WHAT = ("are you", "is this", "is that", "am i talking to", "am i talking with", "am i speaking to",
              "am i speaking with", "you're", "you are", "i'm talking to")
_WHAT = ("a robot", "a bot", "a machine", "a computer", "a recording", "a real person", "a person", "a human",
         "a real human", "human", "an actual person", "a live person", "an ai", "ai", "a i", "an a i", "automated",
         "an automated system", "an automated service", "a virtual assistant", "a computer program")
ROBOT = tuple(f"{a} {w}" for a in _ASKS_WHAT for w in _WHAT) + tuple(f"or {w}" for w in _WHAT) + (
    "are you real", "or not", "or a real one")
REPEAT = (
    "what", "what was that", "what did you say", "what did you just say", "what was the question",
    "what's the question", "what did you ask", "can you repeat that", "could you repeat that",
    "can you repeat", "could you repeat", "can you repeat the question", "could you repeat the question",
    "repeat that", "repeat", "repeat the question", "say that again", "can you say that again",
    "could you say that again", "say again", "say it again", "can you say it again", "one more time",
    "pardon", "pardon me", "i beg your pardon", "beg your pardon", "come again", "excuse me",
    "i didn't catch that", "i didn't hear you", "i didn't hear that", "i didn't get that", "i missed that",
    "i'm sorry what", "i'm sorry i didn't catch that", "i couldn't hear you", "i can't hear you",
)
FILLER = frozenset({"there", "again", "everyone", "everybody", "all", "oh", "well", "hey", "so", "and", "today",
                    "um", "uh", "er", "erm", "sorry", "please"})


def _phrases() -> list[tuple[tuple[str, ...], str]]:
    table = [(tuple(p.split()), "hello") for p in GREETINGS]
    table += [(tuple(p.split()), "how_are_you") for p in HOW_ARE_YOU]
    table += [(tuple(p.split()), "presence") for p in PRESENCE]
    table += [(tuple(p.split()), "thanks") for p in THANKS]
    table += [(tuple(p.split()), "robot") for p in ROBOT]
    table += [(tuple(p.split()), "repeat") for p in REPEAT]
    return sorted(table, key=lambda row: -len(row[0]))


# Said whole, these are never the answer to the question asked, even where a slot's parser would
# take them for one: a name step takes "Pardon" or "Cheers" for a name, a date step "how are you
# doing today" for today, a number step "one more time" for 1. A greeting is not among them: "hi,
# today" answers "what day?"
META_TURNS = frozenset({"how_are_you", "presence", "thanks", "robot", "repeat"})
_PHRASES = tuple(_phrases())
_RANK = {"repeat": 6, "robot": 5, "how_are_you": 4, "presence": 3, "thanks": 2, "hello": 1}


def small_talk(text: str) -> str | None:
    """What kind of small talk the whole utterance is, or None if it says anything else."""
    words = normalize_asr(text).split()
    found: set[str] = set()
    i = 0
    while i < len(words):
        for phrase, kind in _PHRASES:
            if tuple(words[i:i + len(phrase)]) == phrase:
                found.add(kind)
                i += len(phrase)
                break
        else:
            if words[i] not in FILLER:
                return None
            i += 1
    return max(found, key=_RANK.__getitem__) if found else None
