"""Spelled names and references (callflows.nlu.values.spelled) through extract()."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callflows.nlu.values import ParseContext, extract
from callflows.nlu.values.spelled import spell_out

CTX = ParseContext(now=datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("America/New_York")))


@pytest.mark.parametrize("text,word", [
    ("D, M, I, T, R, I", "Dmitri"),
    ("d m i t r i", "Dmitri"),
    ("D-M-I-T-R-I.", "Dmitri"),
    ("delta mike india tango romeo india", "Dmitri"),
    ("dee em eye tee ar eye", "Dmitri"),
    ("A as in apple, N, N", "Ann"),
    ("p for peter r i y a", "Priya"),
    ("m mike a alpha r romeo k kilo", "Mark"),
    ("it's conquale, c o n q u a l e", "Conquale"),
    ("my last name is s m i t h", "Smith"),
    ("o apostrophe n e i l", "O'Neil"),
    ("b e double n e t t", "Bennett"),
])
def test_spelled_names(text, word):
    [value] = extract("spelled_name", text, CTX)
    assert value.value == word
    assert value.extra["letters"] == word.upper()


@pytest.mark.parametrize("text", ["i need a new appointment", "yes", "no thanks", "tuesday at three", ""])
def test_not_a_spelling(text):
    assert extract("spelled_name", text, CTX) == []


@pytest.mark.parametrize("text,ref", [
    ("k seven m as in mike two q p", "K7M2QP"),
    ("K7M2QP", "K7M2QP"),
    ("my reference is b 4 x 9 t t", "B4X9TT"),
    ("bravo four x-ray nine tango tango", "B4X9TT"),
])
def test_references(text, ref):
    assert [v.value for v in extract("reference", text, CTX, length=6)] == [ref]


@pytest.mark.parametrize("text", ["maria lopez", "five five five one two three", "k seven m", "yes please"])
def test_not_a_reference(text):
    assert extract("reference", text, CTX, length=6) == []


def test_spell_out_reads_letters_one_by_one():
    assert spell_out("O'Neil") == "O, apostrophe, N, E, I, L"
