"""Spelled names repaired from known names (callflows/nlu/name_lexicon.py), and the dialogue
using the repair on a phone line only."""

from __future__ import annotations

import builtins

import pytest

from callflows.dialogue.session import DialogueSession
from callflows.nlu import name_lexicon as lexicon_module
from callflows.nlu.name_lexicon import NameLexicon, NameList, build_name_lexicon, name_lexicon, sound_key

from .test_dialogue_dental import NOW, _to_the_name, appointments, dental, talk  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def lexicon() -> NameLexicon:
    return name_lexicon()


def test_sound_alike_letters_share_a_key() -> None:
    assert sound_key("yilmat") == sound_key("yilmaz")  # "tee" / "zee"
    assert sound_key("movak") == sound_key("novak")  # "em" / "en"
    assert sound_key("kowalfki") == sound_key("kowalski")  # "ef" / "ess"
    assert sound_key("novak") != sound_key("nolak")


def test_both_sources_are_loaded(lexicon: NameLexicon) -> None:
    assert len(lexicon.surnames) > 90_000 and len(lexicon.given) > 15_000
    assert "garcia" in lexicon.surnames.rank  # census
    assert "yilmaz" in lexicon.surnames.rank and "adeyemi" in lexicon.surnames.rank  # Faker's locales


@pytest.mark.parametrize(("heard", "part", "name"), [
    ("movak", "last", "novak"), ("yilmat", "last", "yilmaz"), ("dartia", "last", "garcia"),
    ("kowalfki", "last", "kowalski"), ("dupoif", "last", "dubois"), ("farham", "first", "farhan"),
    ("mtuytm", "last", "nguyen"),  # common Nguyen, not the census list's rare "Mguyen"
])
def test_misheard_letters_become_the_known_name(lexicon: NameLexicon, heard: str, part: str, name: str) -> None:
    assert lexicon.repair(heard, part) == name


@pytest.mark.parametrize("heard", ["smith", "garcia", "zqxwv", "raghunathan"])
def test_known_names_and_names_like_no_other_stay_as_heard(lexicon: NameLexicon, heard: str) -> None:
    assert lexicon.repair(heard, "last") == heard


def test_the_part_asked_picks_the_list_first() -> None:
    lexicon = NameLexicon(NameList(), NameList())
    lexicon.given.add("mara", 10)
    lexicon.surnames.add("nara", 10)
    assert lexicon.repair("bara", "first") == "mara" and lexicon.repair("bara", "last") == "nara"


def test_rare_census_spellings_are_known_but_never_a_target() -> None:
    names = NameList()
    names.add("tllo", 59_671)
    lexicon = NameLexicon(NameList(), names)
    assert lexicon.repair("tllo", "last") == "tllo" and lexicon.repair("dllo", "last") == "dllo"


def test_without_the_name_packages_spellings_stay_as_heard(monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    real_import = builtins.__import__

    def no_names(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] in ("names", "faker"):
            raise ModuleNotFoundError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_names)
    monkeypatch.setattr(lexicon_module.importlib, "import_module",
                        lambda name, *a: no_names(name) if name.startswith("faker") else real_import(name))
    monkeypatch.setattr(lexicon_module.resources, "files", lambda pkg: no_names(pkg))
    empty = build_name_lexicon()
    assert len(empty.given) == len(empty.surnames) == 0
    assert empty.repair("movak", "last") == "movak"
    assert "not installed" in caplog.text


def _spell_after_a_denial(store, dental, channel: str) -> tuple[DialogueSession, list[str]]:  # noqa: ANN001, F811
    session = DialogueSession(dental, store, now=NOW, channel=channel)
    _to_the_name(session)
    talk(session, "my name is jana noack")
    if channel == "phone":  # asked to type the last name, then the first, on the keypad: said instead
        talk(session, "noack", "jana")
    replies = talk(session, "no")
    assert "spell your last name" in replies[-1]
    return session, talk(session, "M, O, V, A, K")


def test_on_the_phone_a_misheard_spelling_is_read_back_repaired(store, dental) -> None:  # noqa: ANN001, F811
    session, replies = _spell_after_a_denial(store, dental, "phone")
    assert "Jana Novak" in replies[-1] and "N, O, V, A, K" in replies[-1]
    talk(session, "yes", "yes")
    [appt] = appointments(store)
    assert appt.customer.full_name == "Jana Novak"


def test_a_typed_spelling_is_taken_as_typed(store, dental) -> None:  # noqa: ANN001, F811
    _session, replies = _spell_after_a_denial(store, dental, "text")
    assert "Jana Movak" in replies[-1] and "M, O, V, A, K" in replies[-1]
