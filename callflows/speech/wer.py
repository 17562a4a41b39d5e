"""Word error rate for speech-recognition checks (tests and bench/speech_quality.py).

Words are compared lower-cased with numbers spelled out ("4567" digit by digit, "15th" ->
"fifteenth") and a few same-meaning answers merged ("yeah" -> "yes"), so a transcript is
judged by what the dialogue would read from it, not by Whisper's formatting.
"""

from __future__ import annotations

import re

from callflows.speech.textnorm import number_words, ordinal_words


def words(text: str) -> list[str]:
    """Lower-case words with numbers spelled out: "4567" -> digit by digit, "15th" -> "fifteenth"."""
    out: list[str] = []
    for token in re.findall(r"[a-z']+|\d+(?:st|nd|rd|th)?", text.lower().replace("p.m.", "p m").replace("a.m.", "a m")):
        if token[0].isdigit():
            digits = re.sub(r"\D", "", token)
            if token[-1].isalpha():
                out += ordinal_words(int(digits)).split()
            elif len(digits) >= 3:
                out += [number_words(int(c)) for c in digits]
            else:
                out += number_words(int(digits)).split()
        else:
            out.append(SAME_WORD.get(token, token))
    return out


# spoken variants that mean the same to the dialogue ("yeah" answers a yes/no like "yes")
SAME_WORD = {"yeah": "yes", "yep": "yes", "nope": "no"}


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)] / max(1, len(ref))
