"""PII scan: personal data planted in bank calls must never come out unmasked.

Known dates of birth, SSN digits, account numbers, card numbers, a ZIP code and the caller's
phone number are said (typed, spoken, keyed) in retail_bank calls: text sessions through
DialogueSession, and one real phone call (the Flask server, Whisper and Piper, a simulated
Twilio with espeak-ng caller audio). With DEBUG logging on, as the CLI and server configure
it (``callflows.logs.configure_logging``: a log file and pytest's caplog), the test then
scans

* every log line (the file, caplog's formatted text and every record's message),
* every stored transcript (``turns.text``),
* every column of every row of every table in the database (the model tables of
  ``Base.metadata`` and whatever else the database holds), stringified,
* every request body sent to an escalation LLM (an OpenAI-compatible stand-in server),

and fails on any unmasked occurrence. Both sides are normalised before comparing: number
words become digits ("four four one seven" -> 4417, "nineteen eighty eight" -> 1988,
"fourteenth" -> 14), separators between digits are ignored ("4 4 1 7", "078-05-1120",
"7/14/1988"), and month-name dates are matched ("july 14 1988", "14 of july 1988").
Noise that is not personal data (uuids, call and stream ids, ISO timestamps, decimal
numbers, URLs) is removed from the haystack first, so it cannot cause false alarms.

The only places the planted values may appear are the bank's own reference data, which the
identity check compares against: ``customers`` (name, date of birth, SSN last 4, account
number, ZIP, phone, email), ``accounts.number_last4`` and ``cards.last4``.

Runs on SQLite and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import MetaData, select

from callflows.dialogue import DialogueSession
from callflows.llm import registry as llm_registry
from callflows.logs import configure_logging
from callflows.privacy import PiiLogFilter
from callflows.store.models import Base, Call, Turn
from callflows.telephony.simulator import Step
from callflows.verticals import load_vertical

TZ = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
CALLER_PHONE = "+13125550187"

# --------------------------------------------------------------------------- what is planted

# digit strings (any separators, spoken or written) that must never appear unmasked
DIGIT_NEEDLES: dict[str, str] = {
    "4417": "Jordan Ellis's SSN last 4",
    "9023": "Priya Raman's SSN last 4",
    "004512337891": "Jordan Ellis's account number",
    "008833012456": "Priya Raman's account number",
    "7891": "Jordan Ellis's checking account last 4",
    "2456": "Priya Raman's checking account last 4",
    "4532015112830366": "a card number said by a caller",
    "5521": "Jordan Ellis's debit card last 4",
    "8834": "Priya Raman's debit card last 4",
    "1209": "Priya Raman's credit card last 4",
    "078051120": "a full SSN said by a caller",
    "60614": "Jordan Ellis's ZIP code",
    "3125550187": "the caller's phone number",
    "7702": "Linda Chen's (and the phone caller's) SSN last 4",
    "001173008815": "Linda Chen's account number",
    "8815": "Linda Chen's checking account last 4",
    "2290": "Linda Chen's (and the phone caller's) debit card last 4",
    "19600521": "Linda Chen's date of birth", "05211960": "Linda Chen's date of birth",
    "5211960": "Linda Chen's date of birth", "21051960": "Linda Chen's date of birth",
    # dates of birth written as digits (any order people use, with or without zeros)
    "19880714": "Jordan Ellis's date of birth", "07141988": "Jordan Ellis's date of birth",
    "7141988": "Jordan Ellis's date of birth", "14071988": "Jordan Ellis's date of birth",
    "19750203": "Priya Raman's date of birth", "02031975": "Priya Raman's date of birth",
    "2031975": "Priya Raman's date of birth", "03021975": "Priya Raman's date of birth",
}
# a birth year alone is part of a date of birth: matched as a whole number only
YEAR_NEEDLES = {"1988": "Jordan Ellis's birth year", "1975": "Priya Raman's birth year",
                "1960": "Linda Chen's birth year"}
# month-name dates of birth, after normalisation ("july fourteenth nineteen eighty eight" -> "july 14 1988")
DATE_NEEDLES = {("jul", "july", 14, 1988): "Jordan Ellis's date of birth",
                ("feb", "february", 3, 1975): "Priya Raman's date of birth",
                ("may", "may", 21, 1960): "Linda Chen's date of birth"}

# columns that hold the bank's own records of its customers (what identity is checked against)
REFERENCE_COLUMNS = {
    "customers": {"full_name", "date_of_birth", "phone", "email", "ssn_last4", "account_number", "zip_code"},
    "accounts": {"number_last4"},
    "cards": {"last4"},
}

# the text calls: every form of the planted values a caller could use
TEXT_CALLS: list[tuple[str, list[str]]] = [
    ("balance, spoken date of birth and SSN digits", [
        "what's my balance", "my name is jordan ellis", "july fourteenth nineteen eighty eight",
        "four four one seven", "checking", "no thanks"]),
    ("transactions, keypad date of birth, a wrong try with the ZIP and the account digits", [
        "what are my recent transactions", "jordan ellis", "#dtmf 07141988#",
        "my zip code is 6 0 6 1 4 and my birthday is 7/14/1988", "jordan ellis", "born 1988-07-14",
        "the last four of my account are 7 8 9 1", "checking", "no thanks"]),
    ("a lost card of the premium customer, with the whole account number", [
        "i lost my card", "my name is priya raman", "february third nineteen seventy five",
        "my account number is 0 0 8 8 3 3 0 1 2 4 5 6", "nine zero two three"]),
    ("a card number and a full SSN in free speech", [
        "my card number is 4532 0151 1283 0366 and my social is 078-05-1120",
        "four five three two zero one five one one two eight three zero three six six",
        "my social security number is oh seven eight oh five one one two oh", "goodbye"]),
    ("a stolen card, everything said in one breath", [
        "someone stole my card, i'm priya raman born the third of february 1975 and my ssn ends in 9023",
        "priya raman", "02/03/1975", "#dtmf 9023#"]),
]

# --------------------------------------------------------------------------- normalisation

_UNITS = {"zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9}
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
          "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
             "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
             "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
             "twentieth": 20, "thirtieth": 30}

_NOISE = [
    re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"),  # uuids
    re.compile(r"\b(?:ca|mz|ac|sk)?[0-9a-f]{32}\b"),  # hex ids, Twilio sids
    re.compile(r"\b\d{4}-\d{2}-\d{2}[ t]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}:?\d{2})?"),  # timestamps
    re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"),  # clock times
    re.compile(r"(?:https?|wss?)://\S+"),  # urls (ports)
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),  # addresses
    re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])"),  # decimal numbers (timings, amounts)
]
_WORD = re.compile(r"[a-z]+|\d+|[^a-z\d]+")
_SEP = re.compile(r"[\s\-]+")


def _number_words(text: str) -> str:
    """Number words to digits: 'four four one seven' -> '4 4 1 7', 'nineteen eighty eight' -> '1988',
    'twenty first' -> '21', 'double five' -> '55'."""
    tokens = _WORD.findall(text)
    out: list[str] = []
    i = 0

    def word_at(j: int) -> str | None:
        """The word at token j, skipping one separator of spaces or hyphens."""
        if j < len(tokens) and _SEP.fullmatch(tokens[j]):
            j += 1
        return tokens[j] if j < len(tokens) else None

    def two_digit(j: int) -> tuple[int, int] | None:
        """(value 10-99, next token index) of a teen, a tens word, or tens + unit at j."""
        if j >= len(tokens):
            return None
        w = tokens[j]
        if w in _TEENS:
            return _TEENS[w], j + 1
        if w in _TENS:
            k = j + 1
            if k + 1 < len(tokens) and _SEP.fullmatch(tokens[k]) and tokens[k + 1] in _UNITS and tokens[k + 1] not in ("zero", "oh"):
                return _TENS[w] + _UNITS[tokens[k + 1]], k + 2
            if k + 1 < len(tokens) and _SEP.fullmatch(tokens[k]) and tokens[k + 1] in _ORDINALS and _ORDINALS[tokens[k + 1]] < 10:
                return _TENS[w] + _ORDINALS[tokens[k + 1]], k + 2
            return _TENS[w], k
        return None

    while i < len(tokens):
        w = tokens[i]
        first = two_digit(i)
        if first is not None and first[1] == i + 1 and (w in _TEENS or w == "twenty"):
            # a spoken year: nineteen eighty eight, nineteen oh four, twenty twenty
            j = first[1]
            if j + 1 < len(tokens) and _SEP.fullmatch(tokens[j]):
                second = two_digit(j + 1)
                if second is not None and second[0] >= 10:
                    out.append(f"{first[0]}{second[0]:02d}")
                    i = second[1]
                    continue
                if tokens[j + 1] in ("oh", "zero") and word_at(j + 2) in _UNITS:
                    k = j + 2 if not _SEP.fullmatch(tokens[j + 2]) else j + 3
                    out.append(f"{first[0]}0{_UNITS[tokens[k]]}")
                    i = k + 1
                    continue
        if first is not None:
            out.append(str(first[0]))
            i = first[1]
            continue
        if w in _UNITS:
            out.append(str(_UNITS[w]))
        elif w in _ORDINALS:
            out.append(str(_ORDINALS[w]))
        elif w in ("double", "triple") and word_at(i + 1) in _UNITS:
            k = i + 1 if not _SEP.fullmatch(tokens[i + 1]) else i + 2
            out.append(str(_UNITS[tokens[k]]) * (2 if w == "double" else 3))
            i = k
        else:
            out.append(w)
        i += 1
    return "".join(out)


def normalise(text: str) -> str:
    text = text.lower()
    for pattern in _NOISE:
        text = pattern.sub(" ", text)
    text = _number_words(text)
    return re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", text)


_GROUP = re.compile(r"(?<![a-z\d])\d+(?:[\s\-/.,()+']{1,3}\d+)*")


def digit_groups(normalised: str) -> list[str]:
    """Runs of digits with separators between them, as digits only ('4 4 1 7' -> '4417')."""
    return [re.sub(r"\D", "", m.group(0)) for m in _GROUP.finditer(normalised)]


def find_pii(text: str) -> list[str]:
    """What planted personal data `text` shows unmasked (empty when none)."""
    if not text:
        return []
    norm = normalise(text)
    found: list[str] = []
    groups = digit_groups(norm)
    for needle, what in DIGIT_NEEDLES.items():
        if any(needle in g for g in groups):
            found.append(f"{what} ({needle})")
    for needle, what in YEAR_NEEDLES.items():
        if needle in groups:
            found.append(f"{what} ({needle})")
    for (short, month, day, year), what in DATE_NEEDLES.items():
        m = rf"(?:{month}|{short})\.?"
        if re.search(rf"\b{m}\s+(?:the\s+)?{day}\b[\s,]*(?:of\s+|in\s+)?{year}\b", norm) or re.search(
                rf"\b(?:the\s+)?{day}\s+(?:of\s+)?{m}[\s,]+(?:of\s+)?{year}\b", norm):
            found.append(f"{what} ({month} {day} {year})")
    return found


# personal data the masking rules deliberately do not cover everywhere (a month and day is
# also how appointments are said; names have no shape): reported as warnings, not failures
SOFT_NEEDLES = {r"\bjordan\b": "Jordan Ellis's first name", r"\bellis\b": "Jordan Ellis's last name",
                r"\bpriya\b": "Priya Raman's first name", r"\braman\b": "Priya Raman's last name",
                r"\b(?:july|jul)\.?\s+(?:the\s+)?14\b": "Jordan Ellis's birthday (no year)",
                r"\b14\s+(?:of\s+)?july\b": "Jordan Ellis's birthday (no year)",
                r"\b(?:february|feb)\.?\s+(?:the\s+)?3\b": "Priya Raman's birthday (no year)",
                r"\b3\s+(?:of\s+)?february\b": "Priya Raman's birthday (no year)",
                r"\blinda\b": "Linda Chen's first name", r"\bchen\b": "Linda Chen's last name",
                r"\bmay\s+(?:the\s+)?21\b": "Linda Chen's (and the phone caller's) birthday (no year)",
                r"\bjane\s+smith\b": "the phone caller's name"}


def soft_findings(where: str, texts: Iterable[str]) -> list[str]:
    out = []
    for text in texts:
        norm = normalise(text)
        hits = sorted({what for pattern, what in SOFT_NEEDLES.items() if re.search(pattern, norm)})
        if hits:
            out.append(f"{where}: {', '.join(hits)} in {text[:200]!r}")
    return out


def warn_soft(log_file: Path, store: Any) -> None:
    """Names and birthdays without a year in the logs and transcripts: a warning each."""
    found = soft_findings("log", log_file.read_text(encoding="utf-8").splitlines())
    with store.session() as s:
        found += soft_findings("transcript", (t.text for t in s.scalars(select(Turn))))
    for item in dict.fromkeys(found):
        warnings.warn(UserWarning(f"personal data not masked (not a failure): {item}"))


@dataclass
class Leak:
    where: str
    what: list[str]
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {', '.join(self.what)} in {self.text[:300]!r}"


def scan(where: str, texts: Iterable[str]) -> list[Leak]:
    leaks = []
    for text in texts:
        what = find_pii(text)
        if "[redacted]" in text and "phonemes=" in text:  # the masked words, spelled out in IPA
            what.append("the phonemes of a masked sentence (its digits can be read back)")
        if what:
            leaks.append(Leak(where, what, text))
    return leaks


# --------------------------------------------------------------------------- the scanner itself


@pytest.mark.parametrize("text", [
    "four four one seven", "4 4 1 7", "4-4-1-7", "ssn 4417.", "Four, Four, One, Seven",
    "july fourteenth nineteen eighty eight", "July 14th, 1988", "the fourteenth of july nineteen eighty eight",
    "7/14/1988", "1988-07-14", "oh seven one four nineteen eighty eight", "born in nineteen eighty eight",
    "0 0 4 5 1 2 3 3 7 8 9 1", "4532-0151-1283-0366", "078 05 1120", "oh seven eight oh five one one two oh",
    "(312) 555-0187", "+1 312 555 0187", "double four one seven", "six oh six one four",
    "may twenty first nineteen sixty", "twenty one oh five nineteen sixty",
])
def test_the_scanner_finds_every_written_and_spoken_form(text: str) -> None:
    assert find_pii(text), normalise(text)


@pytest.mark.parametrize("text", [
    "[call=3f4417ab-1c2d-4e5f-8a9b-0c1d2e3f4a5b] turn took 1988.4 ms",
    "2026-11-23 10:00:00.441700+00:00", "CA" + "4417" * 8, "your card ending in [redacted] is frozen",
    "****-**-**", "J***** E****", "***-***-**87", "at 10:30 on 2026-11-24", "http://127.0.0.1:41975/v1",
    "balance 2,481 dollars and 56 cents", "next tuesday at three thirty", "[redacted]", "how may i help you",
])
def test_the_scanner_ignores_masked_values_and_noise(text: str) -> None:
    assert not find_pii(text), normalise(text)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bank():
    return load_vertical("retail_bank")


@pytest.fixture
def debug_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Path]:
    """DEBUG logging as `callflows --log-level DEBUG` sets it up, into a file and caplog."""
    path = tmp_path / "callflows-debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    configure_logging("DEBUG")  # the personal-data filter on every root handler (caplog's too)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        for h in root.handlers:
            for f in [f for f in h.filters if isinstance(f, PiiLogFilter)]:
                h.removeFilter(f)
        root.setLevel(level)


def talk(session: DialogueSession, lines: list[str]) -> None:
    session.start()
    for line in lines:
        if session.state.ended:
            break
        if line.startswith("#dtmf "):
            reply = session.handle_text(line[6:], source="dtmf")
        else:
            reply = session.handle_text(line)
        for _sentence in getattr(reply, "sentences", None) or ():  # an LLM reply streams: play it out
            pass
    session.end()


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def database_leaks(store: Any) -> tuple[list[Leak], int]:
    """Every column of every row of every table (the models' and any other), but the bank's
    reference records; returns the leaks and the number of cells scanned."""
    reflected = MetaData()
    reflected.reflect(store.engine)
    missing = set(Base.metadata.tables) - set(reflected.tables)
    assert not missing, f"model tables missing from the database: {missing}"
    leaks: list[Leak] = []
    cells = 0
    with store.engine.connect() as conn:
        for table in reflected.sorted_tables:
            allowed = REFERENCE_COLUMNS.get(table.name, set())
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None or column in allowed:
                        continue
                    cells += 1
                    text = _cell(value)
                    what = find_pii(text)
                    if what:
                        leaks.append(Leak(f"table {table.name}.{column}", what, text))
    return leaks, cells


def log_leaks(log_file: Path, caplog: pytest.LogCaptureFixture) -> tuple[list[Leak], int]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert lines, "DEBUG logging wrote nothing: the scan would prove nothing"
    leaks = scan("log file", lines)
    leaks += scan("caplog text", caplog.text.splitlines())
    leaks += scan("log record", (r.getMessage() for r in caplog.records))
    return leaks, len(lines)


def transcript_leaks(store: Any) -> tuple[list[Leak], int]:
    with store.session() as s:
        turns = [(t.call_id, t.seq, t.speaker, t.text) for t in s.scalars(select(Turn).order_by(Turn.call_id, Turn.seq))]
    return [Leak(f"transcript {call[:8]} turn {seq} ({speaker})", find_pii(text), text)
            for call, seq, speaker, text in turns if find_pii(text)], len(turns)


def report(leaks: list[Leak]) -> str:
    return f"{len(leaks)} unmasked occurrence(s) of planted personal data:\n" + "\n".join(f"- {x}" for x in leaks[:40])


# --------------------------------------------------------------------------- text calls


def test_text_calls_leak_no_personal_data(store, bank, recording_llm, debug_logs, caplog) -> None:
    planted = 0
    for _label, lines in TEXT_CALLS:
        session = DialogueSession(bank, store, now=NOW, caller_number=CALLER_PHONE)
        talk(session, lines)
        planted += sum(1 for line in lines if find_pii(line))
    assert planted >= 15  # the scanner sees what was planted in what the callers said
    with store.session() as s:
        calls = list(s.scalars(select(Call)))
        assert len(calls) == len(TEXT_CALLS) and all(c.ended_at is not None for c in calls)
        # the callers got through identity verification with the planted details
        assert any(c.outcome in ("balance_given", "transactions_given", "card_frozen") for c in calls)
    leaks, n_lines = log_leaks(debug_logs, caplog)
    turns_leaks, n_turns = transcript_leaks(store)
    db_leaks, n_cells = database_leaks(store)
    assert n_turns >= 30 and n_cells >= 200
    warn_soft(debug_logs, store)
    leaks += turns_leaks + db_leaks + prompt_leaks(recording_llm)
    assert not leaks, report(leaks)


# --------------------------------------------------------------------------- a real phone call


# The phone caller: a premium customer with a name Whisper hears well from the espeak voice
# (bank.yaml's names come out as "Lord Adlitt", "Linda Ken"), so the call gets through identity
# verification, is escalated (a lost card, premium) and the bot reads the card's last digits
# back (synthesised, not a cached prompt). Her numbers are Linda Chen's, already planted above.
PHONE_CUSTOMER = {"full_name": "Jane Smith", "date_of_birth": "1960-05-21", "ssn_last4": "7702",
                  "account_number": "001173008815", "zip_code": "10025", "tier": "premium",
                  "accounts": [{"kind": "checking", "number_last4": "8815", "balance": 7500.0}],
                  "cards": [{"kind": "debit", "last4": "2290"}]}
# the date of birth spoken with the name (Whisper hears it right or not: either way what it
# heard goes through the logs and the store), then keyed, and the SSN digits keyed: exact
# digits, so verification passes whatever Whisper made of the spoken date
PHONE_STEPS = [
    Step(say="i lost my card"),
    Step(say="my name is jane smith, born may twenty first nineteen sixty"),
    Step(dtmf="05211960#"),
    Step(dtmf="7702#"),
]


@pytest.mark.speech
def test_a_phone_call_leaks_no_personal_data(store, recording_llm, debug_logs, caplog, tmp_path,
                                              audio_cache_dir) -> None:
    """One real call (server, Whisper, Piper, simulated Twilio): the spoken and keyed details,
    what Whisper heard of them (logged at DEBUG), and what the bot reads back after freezing
    the card, must not come out unmasked."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("piper")
    from callflows.config import Settings
    from callflows.server import create_app
    from callflows.telephony.simulator import SimulatedCall
    from tests.fixtures.twilio import FakeTwilioApi, LiveServer

    token = "pii-scan-token"
    started = time.monotonic()
    with FakeTwilioApi() as twilio:
        settings = replace(Settings(), twilio_auth_token=token, twilio_account_sid="AC" + "0" * 32,
                           twilio_api_base=twilio.base_url, tts_cache_dir=tmp_path / "tts", silence_timeout_s=30.0,
                           default_vertical="retail_bank")
        from callflows_verticals.retail_bank import bank as bank_repo

        with store.session() as s:
            bank_repo.seed_customers(s, "retail_bank", [PHONE_CUSTOMER], now=NOW)
        app = create_app(settings, store)
        services = app.extensions["callflows"]
        services.recognizer.load()  # no full warm-up: sentences are synthesised as they are needed
        services.tts.load()
        with LiveServer(app) as server:
            sim = SimulatedCall(server.url, auth_token=token, from_number=CALLER_PHONE)
            result = sim.run(PHONE_STEPS, turn_timeout=20)
            deadline = time.monotonic() + 20
            call = None
            while time.monotonic() < deadline:
                with store.session() as s:
                    call = s.scalar(select(Call).where(Call.twilio_call_sid == sim.call_sid))
                    if call is not None and call.ended_at is not None:
                        break
                time.sleep(0.2)
    assert call is not None and call.ended_at is not None, "the phone call left no finished record"
    assert len(result.turns) >= 3, result.turns
    print(f"phone call: {time.monotonic() - started:.0f} s, outcome {call.outcome}, "
          f"{len(result.latencies())} turns answered")
    with store.session() as s:
        for turn in s.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)):
            print(f"  {turn.speaker}: {turn.text[:100]}")  # stored, masked
    leaks, _ = log_leaks(debug_logs, caplog)
    assert any("stt" in r.name or "telephony" in r.name for r in caplog.records)  # the phone path did log
    turns_leaks, _ = transcript_leaks(store)
    db_leaks, _ = database_leaks(store)
    warn_soft(debug_logs, store)
    leaks += turns_leaks + db_leaks + prompt_leaks(recording_llm)
    assert not leaks, report(leaks)


# --------------------------------------------------------------------------- the escalation LLM's prompts


def _instance(schema: Any) -> Any:
    """A minimal value valid for a JSON schema (enough for the stand-in's answers)."""
    if not isinstance(schema, dict):
        return "ok"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):  # the hand-over branch when there is one: it ends the LLM's part
            branches = schema[key]
            return _instance(next((b for b in branches if "transfer" in (b.get("properties") or {})), branches[0]))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: _instance(props.get(name, {})) for name in schema.get("required", list(props))}
    if kind == "array":
        return [_instance(schema["items"])] if schema.get("minItems") and "items" in schema else []
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return max(float(schema.get("minimum", 0.5)), 0.5) if "maximum" not in schema else float(schema["maximum"]) / 2
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "I have frozen the card and a colleague will help you now."


class _RecordingLLM(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that records every request body and answers a valid chat
    completion (JSON following the request's schema when it sends one; SSE when it streams)."""

    protocol_version = "HTTP/1.1"
    bodies: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # what the "LLM" answers, request after request (the last answer repeats). By default it
    # does what the prompt asks: personal details passed on as "[redacted]", the card frozen,
    # the call handed over. ECHO_PLAN puts personal data in everything it writes instead.
    HONEST_PLAN: list[dict[str, Any]] = [
        {"tool": "verify_identity", "args": {"full_name": "[redacted]", "date_of_birth": "[redacted]",
                                             "id_digits": "[redacted]"}},
        {"tool": "freeze_card", "args": {"card_problem": "lost"}},
        {"transfer": True, "reason": "lost card of a premium customer"},
    ]
    ECHO_PLAN: list[dict[str, Any]] = [
        {"tool": "verify_identity", "args": {"full_name": "Priya Raman", "date_of_birth": "1975-02-03",
                                             "id_digits": "9023"}},
        {"say": "I can see your debit card ending in 8834 and your account 008833012456, born February 3rd 1975."},
        {"transfer": True, "reason": "premium customer 008833012456 lost card 4532 0151 1283 0366, born 02/03/1975"},
    ]
    PLAN: list[dict[str, Any]] = HONEST_PLAN

    @classmethod
    def _answer(cls, n: int, schema: Any) -> Any:
        wanted = cls.PLAN[min(n, len(cls.PLAN) - 1)]
        if schema is None:
            return wanted
        branches = [b for key in ("anyOf", "oneOf") for b in schema.get(key) or ()] or [schema]
        for step in (wanted, cls.PLAN[-1]):
            for branch in branches:
                props = branch.get("properties") or {}
                tool_enum = (props.get("tool") or {}).get("enum") or []
                if set(step) <= set(props) and ("tool" not in step or step["tool"] in tool_enum):
                    return step
        return _instance(schema)

    def do_GET(self) -> None:  # noqa: N802 - /v1/models
        self._send(200, json.dumps({"object": "list", "data": [{"id": "default", "object": "model"}]}).encode())

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        type(self).bodies.append(raw)
        try:
            req = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error": {"message": "not JSON"}}')
            return
        fmt = req.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
        text = json.dumps(self._answer(len(type(self).bodies) - 1, schema))
        model = req.get("model", "default")
        if not req.get("stream"):
            body = {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62}}
            self._send(200, json.dumps(body).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]},
                  {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                  {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 12}}]
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def recording_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_RecordingLLM]]:
    """The escalation role pointed at the recording stand-in (for every test here: a call the
    escalation rules route to the LLM must not load a real model, and its prompts are scanned)."""
    _RecordingLLM.bodies = []
    _RecordingLLM.PLAN = _RecordingLLM.HONEST_PLAN
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingLLM)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    llm_registry.clear()
    monkeypatch.setenv("CALLFLOWS_LLM_ESCALATION_URL", f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    monkeypatch.setenv("CALLFLOWS_LLM_ESCALATION_MODEL", "escalation-stand-in")
    try:
        yield _RecordingLLM
    finally:
        llm_registry.clear()
        httpd.shutdown()
        httpd.server_close()


def prompt_leaks(llm: type[_RecordingLLM]) -> list[Leak]:
    """The request bodies as sent, and each message's content decoded (JSON escapes undone)."""
    leaks = scan("escalation prompt", llm.bodies)
    for body in llm.bodies:
        try:
            messages = json.loads(body).get("messages") or []
        except (ValueError, AttributeError):
            continue
        leaks += scan("escalation message", (json.dumps(m.get("content"), ensure_ascii=False) for m in messages
                                             if isinstance(m, dict)))
    return leaks


@pytest.fixture
def escalation_llm(bank, recording_llm, monkeypatch: pytest.MonkeyPatch) -> type[_RecordingLLM]:
    if importlib.util.find_spec("callflows.escalation") is None:
        pytest.skip("escalation not built")
    from callflows.escalation import for_vertical

    monkeypatch.delenv("CALLFLOWS_ESCALATION", raising=False)
    if for_vertical(bank) is None:
        pytest.skip("escalation not built (the retail_bank vertical has no escalation spec)")
    return recording_llm


PREMIUM_LOST_CARD = ["i lost my card, it's 4532 0151 1283 0366", "my name is priya raman",
                     "february third nineteen seventy five", "my account number is 0 0 8 8 3 3 0 1 2 4 5 6",
                     "nine zero two three", "yes please freeze it, my ssn is 9023"]


def _escalated_call(store, bank, llm: type[_RecordingLLM]) -> DialogueSession:
    session = DialogueSession(bank, store, now=NOW, caller_number=CALLER_PHONE)
    talk(session, PREMIUM_LOST_CARD)
    deadline = time.monotonic() + 15  # an escalation may run in the background
    while not llm.bodies and time.monotonic() < deadline:
        time.sleep(0.1)
    assert llm.bodies, "the premium customer's lost card never reached the escalation LLM"
    return session


def test_escalation_prompts_leak_no_personal_data(store, bank, escalation_llm, debug_logs, caplog) -> None:
    """A lost card of the premium customer (Priya Raman) is escalated: the prompts the LLM gets
    must not carry her date of birth, SSN or account digits, nor any number the caller said."""
    _escalated_call(store, bank, escalation_llm)
    assert len(escalation_llm.bodies) >= 2, "the LLM's tool call was not followed up"
    leaks = prompt_leaks(escalation_llm)
    log_found, _ = log_leaks(debug_logs, caplog)
    db_found, _ = database_leaks(store)
    assert not leaks + log_found + db_found, report(leaks + log_found + db_found)


def test_what_the_llm_writes_is_masked_before_it_is_kept(store, bank, escalation_llm, debug_logs, caplog) -> None:
    """Defence in depth: the LLM's own output (tool arguments, what it says, why it hands the
    call over) carries personal data; nothing of it may be logged or stored unmasked, exactly
    like what the caller says."""
    escalation_llm.PLAN = escalation_llm.ECHO_PLAN
    _escalated_call(store, bank, escalation_llm)
    assert len(escalation_llm.bodies) >= 3, "the LLM's answers were not all used"
    leaks = prompt_leaks(escalation_llm)  # its tool arguments come back in the next prompt
    log_found, _ = log_leaks(debug_logs, caplog)
    turns_found, _ = transcript_leaks(store)
    db_found, _ = database_leaks(store)
    leaks += log_found + turns_found + db_found
    assert not leaks, report(leaks)
