"""Personas of the goal-driven simulated callers: who calls, what for, the facts they hold.

``generate(n, seed, today)`` gives ``n`` personas across the three verticals, cycling through
``TASKS`` (so any 16 consecutive callers cover every task) and, independently, through the voice
families, so each task is heard in every family. Names come from the pools below (several
origins; none of them appears in callflows' parsers, flows or tests), dates fall on open days
within the next weeks, phone numbers are 10 digits. Everything is drawn from one seeded RNG.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

FIRST_NAMES = [
    # Slavic, West African, South Asian, East Asian, Hispanic, Nordic, Arabic, Irish, Greek,
    # Turkish, Portuguese, Vietnamese
    "Dmitri", "Svetlana", "Bogdan", "Oksana", "Chidi", "Ngozi", "Kwame", "Adaeze", "Anand", "Lakshmi",
    "Farhan", "Meera", "Haruto", "Yuki", "Jun", "Mei", "Alejandro", "Ximena", "Joaquin", "Paloma",
    "Bjorn", "Ingrid", "Sigrid", "Leif", "Karim", "Yasmin", "Tariq", "Leila", "Ciaran", "Siobhan",
    "Niamh", "Declan", "Stavros", "Eleni", "Nikos", "Ioanna", "Emre", "Elif", "Burak", "Zeynep",
    "Tiago", "Beatriz", "Rui", "Ines", "Quang", "Thuy", "Minh Anh", "Bao",
]
LAST_NAMES = [
    "Volkov", "Kowalczyk", "Petrenko", "Novak", "Okonkwo", "Adeyemi", "Mensah", "Eze", "Krishnan",
    "Iyer", "Chaudhry", "Banerjee", "Tanaka", "Watanabe", "Zhou", "Huang", "Castillo", "Navarro",
    "Delgado", "Figueroa", "Lindqvist", "Haugen", "Johansson", "Berg", "Haddad", "Mansour", "Khalil",
    "Nasser", "Gallagher", "Brennan", "Donnelly", "Keane", "Papadopoulos", "Georgiou", "Demir",
    "Yilmaz", "Kaya", "Sousa", "Carvalho", "Ferreira", "Tran", "Pham", "Vuong", "Hoang",
]
# the first-name-only callers: simple first names a recogniser has a chance with on its own
SHORT_FIRST = ["Leif", "Jun", "Mei", "Rui", "Bao", "Elif", "Ines", "Emre"]

# (task, style): 16 kinds, cycled. Styles: over (everything in the first sentence), step (one
# thing at a time), correction (a wrong value first, corrected at the read-back), first (first
# name only, the last name when asked), keypad (numbers on the keypad when the bot offers it).
TASKS: list[tuple[str, str, str]] = [
    ("dental_clinic", "book", "over"),
    ("dental_clinic", "book", "step"),
    ("dental_clinic", "book", "correction"),
    ("dental_clinic", "book", "first"),
    ("dental_clinic", "reschedule", "step"),
    ("dental_clinic", "cancel", "step"),
    ("dental_clinic", "faq_book", "step"),
    ("dental_clinic", "hours", "step"),
    ("dental_clinic", "emergency", "step"),
    ("retail_bank", "balance", "step"),
    ("retail_bank", "balance", "keypad"),
    ("retail_bank", "lost_card", "over"),
    ("retail_bank", "impostor", "step"),
    ("hotel", "hotel_book", "step"),
    ("hotel", "hotel_book", "over"),
    ("hotel", "hotel_change", "step"),
]
VISITS = ["cleaning", "filling", "consultation", "whitening", "extraction"]  # 30-60 min (a crown is 90)
PROVIDERS = ["patel", "nguyen", "garcia", "any"]
ROOMS = {"standard": 2, "double": 2, "twin": 2, "family": 5, "suite": 4}  # room -> most guests
FAQS = [  # (question, words the stored answer must contain)
    ("do you take my insurance", ["ppo", "delta"]),
    ("is there parking", ["parking"]),
    ("how much is a cleaning", ["120"]),
    ("what should i bring to my first visit", ["photo id"]),
]
HOURS_Q = ("what are your opening hours", ["monday", "friday"])
EMERGENCY_LINES = ["my face is really swollen and it hurts a lot", "i knocked out a tooth playing football",
                   "my gum won't stop bleeding", "i'm in severe pain, it's an emergency"]
ANSWERED_TIMES = [(h, m) for h in (8, 9, 10, 11, 13, 14, 15, 16) for m in (0, 30)]
BLOCKS = (8, 10, 13, 15)  # a visit (at most 60 min) starts at a block's hour or half past: never overlaps


@dataclass
class Persona:
    pid: str
    vertical: str
    task: str
    style: str
    first: str
    last: str
    phone: str  # 10 digits
    voice: str  # a voices.VOICES key
    human_digits: str | None = None  # an FSDD speaker who says the numbers (None: the TTS voice)
    keypad: bool = False  # types numbers when the keypad is offered
    dob: date | None = None
    # dental
    visit: str | None = None
    provider: str | None = None
    day: date | None = None  # booking / new day
    at: tuple[int, int] | None = None  # booking / new time
    slip_at: tuple[int, int] | None = None  # the wrong time a "correction" caller says first
    old_day: date | None = None  # the seeded appointment (reschedule, cancel)
    old_at: tuple[int, int] | None = None
    faq: tuple[str, list[str]] | None = None
    emergency_line: str | None = None
    # bank
    ssn_last4: str | None = None
    zip_code: str | None = None
    factor: str | None = None  # ssn / zip
    account_kind: str | None = None
    impostor_guesses: list[str] = field(default_factory=list)
    # hotel
    room: str | None = None
    guests: int | None = None
    arrival: date | None = None
    departure: date | None = None
    old_room: str | None = None
    old_arrival: date | None = None
    old_departure: date | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def e164(self) -> str:
        return "+1" + self.phone

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, date):
                out[k] = v.isoformat()
        return out


def _phone(rng: random.Random) -> str:
    area = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    return area + f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}" + f"{rng.randint(0, 9999):04d}"


def _open_days(today: date, first: int, last: int, saturday: bool = False) -> list[date]:
    days = [today + timedelta(days=k) for k in range(first, last)]
    return [d for d in days if d.weekday() < 5 or (saturday and d.weekday() == 5)]


def _dob(rng: random.Random) -> date:
    return date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28))


class _Slots:
    """A (day, two-hour block) of its own for every dental booking, seeded or asked for, so no
    two personas' visits overlap whatever the dentist."""

    def __init__(self, rng: random.Random, today: date, needed: int):
        self.rng = rng
        days: list[date] = []
        last = 24
        while len(days) * len(BLOCKS) < needed:
            days = _open_days(today, 3, last)
            last += 7
        self.free = [(d, b) for d in days for b in BLOCKS]
        rng.shuffle(self.free)

    def take(self) -> tuple[date, tuple[int, int]]:
        day, block = self.free.pop()
        return day, (block, self.rng.choice((0, 30)))


def generate(n: int, seed: int, today: date, families: list[str], voices: dict[str, list[str]]) -> list[Persona]:
    """``n`` personas; ``families``: the voice families to cycle through (voices[family]: names)."""
    rng = random.Random(seed)
    slots = _Slots(rng, today, 2 * n)
    firsts, lasts = FIRST_NAMES[:], LAST_NAMES[:]
    rng.shuffle(firsts)
    rng.shuffle(lasts)
    people: list[Persona] = []
    used: set[str] = set()
    for i in range(n):
        vertical, task, style = TASKS[i % len(TASKS)]
        family = families[i % len(families)]
        voice = voices[family][(i // len(families)) % len(voices[family])]
        first = rng.choice(SHORT_FIRST) if style == "first" else firsts[i % len(firsts)]
        last = lasts[(i * 7) % len(lasts)]
        while f"{first} {last}" in used:
            last = rng.choice(lasts)
        used.add(f"{first} {last}")
        p = Persona(pid=f"c{i:03d}", vertical=vertical, task=task, style=style, first=first, last=last,
                    phone=_phone(rng), voice=voice)
        p.keypad = style == "keypad" or (i % 5 == 3)
        if i % 4 == 1:  # a quarter of the callers say their numbers in a real human voice
            p.human_digits = rng.choice(["george", "jackson", "lucas", "nicolas"])
        _fill(p, rng, today, slots)
        people.append(p)
    return people


def _fill(p: Persona, rng: random.Random, today: date, slots: _Slots) -> None:
    if p.vertical == "dental_clinic":
        p.visit = rng.choice(VISITS)
        p.provider = rng.choice(PROVIDERS)
        p.day, p.at = slots.take()
        if p.style == "correction":
            wrong = [t for t in ANSWERED_TIMES if abs(t[0] - p.at[0]) >= 2]  # said first, corrected later
            p.slip_at = rng.choice(wrong)
        if p.task in ("reschedule", "cancel"):
            p.dob = _dob(rng)
            p.old_day, p.old_at = slots.take()
            p.provider = rng.choice(PROVIDERS[:3])
        if p.task == "faq_book":
            p.faq = rng.choice(FAQS)
        if p.task == "hours":
            p.faq = HOURS_Q
        if p.task == "emergency":
            p.emergency_line = rng.choice(EMERGENCY_LINES)
    elif p.vertical == "retail_bank":
        p.dob = _dob(rng)
        p.ssn_last4 = f"{rng.randint(0, 9999):04d}"
        p.zip_code = f"{rng.randint(10000, 99999)}"
        p.factor = rng.choice(["ssn", "zip"])
        p.account_kind = rng.choice(["checking", "savings", "all"])
        if p.task == "impostor":
            p.factor = "ssn"
            p.impostor_guesses = [f"{rng.randint(0, 9999):04d}" for _ in range(3)]
            p.impostor_guesses = [g for g in p.impostor_guesses if g != p.ssn_last4] or ["0000"]
    else:
        p.room = rng.choice(list(ROOMS))
        p.guests = rng.randint(1, ROOMS[p.room])
        p.arrival = today + timedelta(days=rng.randint(4, 40))
        p.departure = p.arrival + timedelta(days=rng.randint(1, 4))
        if p.task == "hotel_change":
            p.old_room = p.room
            p.old_arrival = today + timedelta(days=rng.randint(4, 40))
            p.old_departure = p.old_arrival + timedelta(days=rng.randint(1, 4))
