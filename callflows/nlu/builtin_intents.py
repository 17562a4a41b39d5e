"""Intents every flow gets, with their own examples (spoken style: lower case, no punctuation)."""

from __future__ import annotations

import re

BUILTIN_INTENTS: dict[str, tuple[str, ...]] = {
    "affirm": (
        "yes", "yeah", "yep", "yes please", "that's right", "correct", "sure", "sounds good",
        "that works", "yes that's correct", "absolutely", "uh huh yes", "go ahead", "please do",
        "that's perfect", "yeah that's fine", "right", "okay yes", "yup", "definitely",
    ),
    "deny": (
        "no", "nope", "no thanks", "that's wrong", "not really", "no that's not right",
        "incorrect", "nah", "no it isn't", "that's not correct", "no way", "negative",
        "not quite", "no that's wrong",
    ),
    "help": (
        "help", "i need help", "what can you do", "what are my options", "can you help me",
        "i don't know what to say", "what do i say", "how does this work", "options please",
        "what can i ask",
    ),
    "repeat": (
        "can you repeat that", "say that again", "repeat please", "what did you say", "sorry what",
        "pardon", "come again", "i didn't catch that", "could you say that again", "one more time",
        "repeat", "i didn't hear you",
    ),
    "start_over": (
        "start over", "let's start again", "begin again", "restart", "start from the beginning",
        "can we start over", "reset", "forget it let's start over", "scratch that start again",
    ),
    "human": (
        "talk to a person", "let me talk to someone", "i want to speak to a human", "operator",
        "agent please", "representative", "can i talk to a real person", "transfer me",
        "get me a human", "speak to someone", "i'd like to speak with the front desk",
        "connect me to a person", "real person please", "customer service", "receptionist please",
    ),
    "goodbye": (
        "goodbye", "bye", "that's all", "no that's everything thanks", "thanks bye", "have a nice day",
        "i'm done", "that's it thank you", "nothing else", "bye bye", "see you", "that will be all",
    ),
}

# Intents the dialogue handles itself, whatever the flow says.
GLOBAL_INTENTS = frozenset(BUILTIN_INTENTS) - {"affirm", "deny"}

# Words a built-in intent needs besides the classifier's vote: for a sentence encoder "let's keep
# going" sits next to "let's start again", and starting over throws the caller's answers away.
REQUIRED_WORDS: dict[str, re.Pattern[str]] = {
    "start_over": re.compile(r"\b(start|restart|over|again|begin|beginning|reset|scratch)\b"),
}


def has_required_words(intent: str, text: str) -> bool:
    """Whether ``text`` has the words ``intent`` needs (true for intents that need none)."""
    pattern = REQUIRED_WORDS.get(intent)
    return pattern is None or pattern.search(text.lower()) is not None
