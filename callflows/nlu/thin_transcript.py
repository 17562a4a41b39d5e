"""A transcript far too short for the speech it came from: the recogniser lost the words.

Whisper on an 8 kHz line, given a phone number or a date of birth it cannot make out, often
returns a short stock phrase instead: "it's eight four six, six three four, four six one three"
came back "That's it's perfect.", "nine four zero two eight four four five two six" came back
"Yes.", a balance request "No, thank.". Taken at its word, such a "yes" booked a summary the
caller was correcting. In 716 phone turns of the call-success benchmark, 41 transcripts had fewer
than one word per second of speech over at least two seconds; all but three (a "no thanks, let's
keep going" heard "No, thanks.") had lost the caller's words. People say two to three words a
second, pauses included, so one word a second over two seconds is a turn whose words are mostly
missing. The dialogue does not take a yes from such a turn (callflows.dialogue.policy).
"""

from __future__ import annotations

import re

MIN_SPEECH_MS = 2000.0  # shorter turns are too short to judge ("yes" after a breath)
MAX_WORDS_PER_S = 1.0
_WORD = re.compile(r"[a-z0-9']+")


def too_thin(text: str, speech_ms: float | None) -> bool:
    """Whether ``text`` has too few words for ``speech_ms`` of speech (None: unknown, never thin)."""
    if speech_ms is None or speech_ms < MIN_SPEECH_MS:
        return False
    return len(_WORD.findall(text.lower())) / (speech_ms / 1000.0) < MAX_WORDS_PER_S
