"""Masking of personal data in values, free text and logs."""

from __future__ import annotations

import logging

import pytest

from callflows.privacy import (
    REDACTED,
    PiiLogFilter,
    install_log_masking,
    is_sensitive,
    mask_text,
    mask_value,
    store_value,
    uninstall_log_masking,
)

MASKED = [
    ("my ssn is 123-45-6789", "my ssn is [redacted]"),
    ("ssn 123 45 6789 ok", "ssn [redacted] ok"),
    ("card 4111 1111 1111 1111 please", "card [redacted] please"),
    ("card 4111-1111-1111-1111", "card [redacted]"),
    ("4111111111111111", REDACTED),
    ("last four 4567", "last four [redacted]"),
    ("it's 4 5 6 7", "it's [redacted]"),
    ("4-5-6-7", REDACTED),
    ("45 67", REDACTED),
    ("account 12345678", "account [redacted]"),
    ("zip 02139", "zip [redacted]"),
    ("four five six seven", REDACTED),
    ("Four Five Six Seven.", "[redacted]."),
    ("four, five, six, seven", REDACTED),
    ("oh one two three", REDACTED),
    ("double five six seven", REDACTED),
    ("my pin is four 5 six 7", "my pin is [redacted]"),
    ("nineteen eighty five", REDACTED),
    ("I was born in nineteen oh four", "I was born in [redacted]"),
    ("two thousand and three", REDACTED),
    ("born 3/5/1985", "born [redacted]"),
    ("born 03-05-85", "born [redacted]"),
    ("1985-03-05", REDACTED),
    ("1985/3/5", REDACTED),
    ("march fifth nineteen eighty five", REDACTED),
    ("March 5, 1985", REDACTED),
    ("march 5th 1985", REDACTED),
    ("5 March 1985", REDACTED),
    ("the fifth of march 1985", REDACTED),
    ("born on the twenty first of june nineteen ninety", "born on [redacted]"),
    ("my birthday is june 3rd 1990 thanks", "my birthday is [redacted] thanks"),
    ("december twenty fifth two thousand", REDACTED),
    ("jan 2 '85", REDACTED),
    ("call me at (555) 123-4567", "call me at [redacted]"),
    ("555.123.4567", REDACTED),
    ("+1 555 123 4567", REDACTED),
    ("five five five one two three four five six seven", REDACTED),
    # a unit or timestamp exemption needs the unit right after the number
    ("pin 4567 msg sent", "pin [redacted] msg sent"),
    ("account 12345678, 30 ms later", "account [redacted], 30 ms later"),
    ("last four 4567 at 10:30", "last four [redacted] at 10:30"),
]

KEPT = [
    "at three",
    "2 people",
    "room 12",
    "10:30",
    "book me at 10:30 am",
    "$125.50",
    "$1250.00",
    "1.5 hours",
    "march fifth at 3",
    "next tuesday at three thirty",
    "three forty five",
    "nine forty five, ten fifteen",
    "twenty five past three",
    "I have 2 kids aged 5 and 7",
    "one or two",
    "call 911",
    "on the 15th",
    "december 3rd",
    "oh I see",
    "one hundred twenty five dollars",
    "I'd like to book for 2 at 3",
    "one two three",
    "Dr. Patel on the 22nd at 2:15",
    # timings and sizes in log lines, and an access-log timestamp
    "turn answered in 1234 ms",
    "worker RSS 2048 MB, 1500ms",
    "127.0.0.1 - - [02/Dec/2026:09:26:07 +0000] \"POST /twilio/voice HTTP/1.1\" 200",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_mask_text_masks(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_mask_text_keeps_ordinary_numbers(text: str) -> None:
    assert mask_text(text) == text


def test_mask_text_secrets() -> None:
    out = mask_text("This is JANE smith, and jane  Smith again; not Janet.", secrets=["Jane Smith"])
    assert out == "This is [redacted], and [redacted] again; not Janet."
    assert mask_text("pin 42 then 4-2", secrets=["42"]) == "pin [redacted] then [redacted]"
    assert mask_text("a b", secrets=["", "a", None]) == "a b"  # type: ignore[list-item]
    assert mask_text("account AC-77 ok", secrets=["ac-77"]) == "account [redacted] ok"


def test_mask_text_is_idempotent() -> None:
    once = mask_text("born 3/5/1985, ssn 123-45-6789, card 4111 1111 1111 1111")
    assert mask_text(once) == once
    assert once.count(REDACTED) == 3


def test_mask_value() -> None:
    assert mask_value("ssn", "123-45-6789") == "***-**-****"
    assert mask_value("digits", "4567") == "****"
    assert mask_value("account_number", "AC12345") == "*******"
    assert mask_value("date_of_birth", "1985-03-05") == "****-**-**"
    assert mask_value("date", "2026-12-01") == "****-**-**"
    phone = mask_value("phone_number", "+15551234567")
    assert phone == "***-***-**67" and "4567" not in phone
    assert mask_value("person_name", "Jane Smith") == "J*** S****"
    assert mask_value("email", "jane@x.com") == "****@*.***"
    assert mask_value("digits", None) == ""
    assert mask_value("digits", 1234) == "****"


def test_store_value_and_is_sensitive() -> None:
    assert is_sensitive("dob", "date") and is_sensitive("x", "phone_number")
    assert is_sensitive("member_id", "text") and not is_sensitive("appointment_type", "enum")
    assert store_value("date_of_birth", "date", "1985-03-05") == "****-**-**"
    assert store_value("appointment_date", "date", "2026-12-01") == "2026-12-01"
    assert store_value("reason", "text", "my card is 4111 1111 1111 1111") == "my card is [redacted]"
    assert store_value("reason", "text", "cough", pii=True) == "*****"
    assert store_value("callback_phone", "text", "555 123 4567") == "***-***-**67"
    assert store_value("callback", "text", "555 123 4567") == "[redacted]"
    assert store_value("x", "text", None) is None


def _capture(logger: logging.Logger) -> tuple[logging.Handler, list[str]]:
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return handler, lines


def test_log_filter_masks_message_and_args() -> None:
    logger = logging.getLogger("callflows.test.privacy.filter")
    handler, lines = _capture(logger)
    try:
        flt = install_log_masking(logger)
        assert isinstance(flt, PiiLogFilter)
        assert install_log_masking(logger) is flt  # idempotent
        assert sum(isinstance(f, PiiLogFilter) for f in logger.filters) == 1
        logger.info("caller said %r", "my ssn is 123-45-6789")
        logger.info("dob %s / %d", "3/5/1985", 4567)
        logger.info("booked at %s for %d people", "10:30", 2)
        logger.info("broken %s %s", "only one")  # bad format args must not crash
        try:
            raise ValueError("card 4111 1111 1111 1111 declined")
        except ValueError:
            logger.exception("failed for %s", "four five six seven")
    finally:
        logger.removeHandler(handler)
    assert lines[0] == "caller said 'my ssn is [redacted]'"
    assert lines[1] == "dob [redacted] / [redacted]"
    assert lines[2] == "booked at 10:30 for 2 people"
    assert "only one" in lines[3]
    assert "4111" not in lines[4] and "failed for [redacted]" in lines[4] and "ValueError" in lines[4]


def test_log_filter_on_child_logger_records_via_handler() -> None:
    parent = logging.getLogger("callflows.test.privacy.parent")
    handler, lines = _capture(parent)
    try:
        install_log_masking(parent)
        logging.getLogger("callflows.test.privacy.parent.child").warning("ssn %s", "123-45-6789")
    finally:
        parent.removeHandler(handler)
    assert lines == ["ssn [redacted]"]


def test_global_log_masking() -> None:
    logger = logging.getLogger("callflows.test.privacy.global")
    handler, lines = _capture(logger)
    try:
        install_log_masking()
        install_log_masking()
        logger.info("phone %s", "(555) 123-4567")
        uninstall_log_masking()
        logger.info("phone %s", "(555) 123-4567")
    finally:
        uninstall_log_masking()
        logger.removeHandler(handler)
    assert lines == ["phone [redacted]", "phone (555) 123-4567"]
