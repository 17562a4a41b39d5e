"""Whisper restricted to a slot's words: the token ids a constrained decode must not write.

A phone line turns "ten in the morning" into "and in the morning" and a spoken phone number
into eleven digits. When the slot asked has a small vocabulary (digits, dates, times, counts,
yes/no, a choice), decoding again with every other token suppressed gives Whisper's best
reading *in that vocabulary*: the acoustic evidence decides between "ten" and "and", not the
language model's habits. This is Whisper's counterpart of a Vosk grammar.

The allowed set is every token of each word (as Whisper writes it: with or without a leading
space, lower case, capitalised, upper case), every token made only of digits (Whisper writes
numbers as numerals), light punctuation, and the end of text. Everything else, including all
special and timestamp tokens, is suppressed.
"""

from __future__ import annotations

from typing import Protocol

PUNCTUATION = (",", ".", "?", "!", "-", "'", ":", "(", ")")


class WhisperTokenizer(Protocol):
    """The slice of ``tokenizers.Tokenizer`` used here."""

    def get_vocab(self) -> dict[str, int]: ...

    def encode(self, sequence: str, add_special_tokens: bool = ...) -> "_Encoding": ...

    def token_to_id(self, token: str) -> int | None: ...


class _Encoding(Protocol):
    @property
    def ids(self) -> list[int]: ...


def _spellings(word: str) -> set[str]:
    forms = {word, word.capitalize(), word.upper()}
    return forms | {" " + f for f in forms}


def allowed_ids(tokenizer: WhisperTokenizer, words: tuple[str, ...]) -> frozenset[int]:
    """The token ids a decode restricted to ``words`` (plus numerals and punctuation) may write."""
    allowed: set[int] = set()
    for word in words:
        for form in _spellings(word):
            allowed.update(tokenizer.encode(form, add_special_tokens=False).ids)
    for mark in PUNCTUATION:
        allowed.update(tokenizer.encode(mark, add_special_tokens=False).ids)
        allowed.update(tokenizer.encode(" " + mark, add_special_tokens=False).ids)
    for token, token_id in tokenizer.get_vocab().items():
        bare = token.lstrip("\u0120")  # byte-level BPE marks a leading space with "G-dot"
        if bare.isdigit() and bare.isascii():
            allowed.add(token_id)
    end = tokenizer.token_to_id("<|endoftext|>")
    if end is not None:
        allowed.add(end)
    return frozenset(allowed)


def suppressed_ids(tokenizer: WhisperTokenizer, words: tuple[str, ...], vocabulary_size: int) -> list[int]:
    """Every token id below ``vocabulary_size`` that ``allowed_ids`` does not allow (the list
    CTranslate2's ``suppress_tokens`` takes)."""
    allowed = allowed_ids(tokenizer, words)
    return [i for i in range(vocabulary_size) if i not in allowed]
