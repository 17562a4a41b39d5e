"""Helpers for the admin's tests, browser tests and README screenshots: a private copy
of the verticals, seeded calls, users, and a test-client login that handles CSRF."""

from __future__ import annotations

import random
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from admin.security import create_user
from callflows.store import Store, repo
from callflows.verticals import list_verticals, verticals_dir

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

# What the seeded calls say: (speaker, text, intent); personal data is masked on the way in.
_CALL_SCRIPT = [
    ("bot", "Thank you for calling Bright Smile Dental. How can I help you today?", None),
    ("caller", "hi i'd like to book a cleaning with doctor patel", "book_appointment"),
    ("bot", "What day would you like to come in?", None),
    ("caller", "next tuesday at three thirty", "inform"),
    ("bot", "Can I have your first and last name, please?", None),
    ("caller", "my name is Jane Smith and my number is 555 123 4567", "inform"),
    ("bot", "You're all set. Your reference is K7Q2.", None),
]


def copy_verticals(dest: Path, names: tuple[str, ...] | None = None) -> Path:
    """Copy verticals (default: every one) into ``dest`` (the admin writes knowledge.d/ files
    there); returns it. A session-wide CALLFLOWS_VERTICALS_DIR pointing at the copy must still
    find every vertical the other tests use."""
    dest.mkdir(parents=True, exist_ok=True)
    if names is None:
        names = tuple(list_verticals())
    for name in names:
        shutil.copytree(verticals_dir() / name, dest / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "knowledge.d"))
    return dest


def add_users(store: Store, roles: tuple[str, ...] = ("viewer", "editor", "admin")) -> None:
    """One user per role, named after it, all with :data:`PASSWORD`."""
    with store.session() as s:
        for role in roles:
            create_user(s, role, PASSWORD, role, actor="test")


def seed_call(store: Store, *, vertical: str = "dental_clinic", started: datetime | None = None,
              outcome: str = "booked", escalated: bool = False, transferred: bool = False,
              latency: float = 700.0, channel: str = "phone", turns: int | None = None) -> str:
    """One finished call with a transcript, latencies and slots; returns its id."""
    started = started or datetime.now(timezone.utc) - timedelta(hours=1)
    script = _CALL_SCRIPT[: turns or len(_CALL_SCRIPT)]
    with store.session() as s:
        call = repo.start_call(s, vertical, channel, from_number="+15551234567", to_number="+15550100123",
                               started_at=started, flow_version=1)
        at = started
        for speaker, text, intent in script:
            at += timedelta(seconds=6)
            timing: dict[str, Any] = {}
            if speaker == "caller":
                timing = {"endpoint_ms": 240.0, "stt_ms": latency * 0.4, "nlu_ms": 18.0,
                          "tts_first_audio_ms": latency * 0.3, "total_ms": latency}
            repo.add_turn(s, call.id, speaker, text, intent=intent, confidence=0.91 if intent else None,
                          started_at=at, secrets=["Jane Smith"], **timing)
        repo.set_slot(s, call.id, "appointment_type", "enum", "cleaning", turn_seq=2)
        repo.set_slot(s, call.id, "full_name", "person_name", "Jane Smith", turn_seq=6, pii=True)
        repo.set_slot(s, call.id, "phone", "phone_number", "+15551234567", turn_seq=6, pii=True)
        repo.finish_call(s, call.id, outcome, escalated=escalated, transferred=transferred,
                         transfer_to="+15550100199" if transferred else None, ended_at=at + timedelta(seconds=5))
        return call.id


def seed_history(store: Store, days: int = 14, seed: int = 7) -> list[str]:
    """A plausible fortnight of calls for the dashboard (and a customer whose private
    columns must never show)."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    ids = []
    with store.session() as s:
        repo.add_customer(s, "dental_clinic", "Jane Smith", date_of_birth="1985-03-05", phone="+15551234567",
                          ssn_last4="6789")
    for day in range(days - 1, -1, -1):
        for _ in range(rng.randint(6, 16)):
            started = now - timedelta(days=day, hours=rng.randint(0, 9), minutes=rng.randint(0, 59))
            if started > now:
                started = now - timedelta(minutes=rng.randint(5, 50))
            r = rng.random()
            escalated, transferred, outcome = False, False, "booked"
            if r < 0.12:
                escalated, transferred, outcome = True, True, "escalated"
            elif r < 0.22:
                transferred, outcome = True, "transferred"
            elif r < 0.45:
                outcome = "faq_answered"
            latency = rng.gauss(720 - day * 8, 120)
            ids.append(seed_call(store, started=started, outcome=outcome, escalated=escalated,
                                 transferred=transferred, latency=max(300.0, latency),
                                 turns=rng.choice((3, 5, 7))))
    return ids


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    if not match:
        raise AssertionError("no csrf_token in the page")
    return match.group(1)


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log a Flask test client in through the real form (CSRF included); returns the response."""
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_of(page.get_data(as_text=True))})


def token(client: Any, path: str = "/") -> str:
    """The session's CSRF token, read from a page."""
    return csrf_of(client.get(path).get_data(as_text=True))


def make_app(store: Store, verticals: Path, **config: Any) -> Any:
    """The admin app for tests: ``verticals`` must already be CALLFLOWS_VERTICALS_DIR."""
    from admin import create_app

    return create_app(store, {"SECRET_KEY": "test-secret", "ADMIN_UPGRADE_DB": False, **config})
