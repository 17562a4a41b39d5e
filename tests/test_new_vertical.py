"""A new vertical with its own table, written in a temporary folder, is migrated, booked through
and listed by its own CLI command -- with no file under callflows/ changed (issue 15, item 1).

The vertical (a bike rental: ``bike_rentals`` and ``bike_day_holds``, one UNIQUE(day, bike))
is the kind of code a deployment writes. It runs in `callflows` subprocesses pointed at the
folder (CALLFLOWS_VERTICALS_DIR), so its tables never join this test process's metadata:
`callflows db upgrade` applies the core and its branch, `callflows chat` books through its
flow, action and the engine's hold helper, `callflows bike_rental rentals list` is its command.
A broken vertical (its table module missing, its migration folder gone) is named in the error,
and the rest of the CLI keeps working.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from admin.testing import copy_verticals
from callflows.store import Store

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "callflows"
NOW = "2030-06-03T10:00"  # a Monday

FLOW = """\
vertical: bike_rental
display_name: Riverside Bikes
timezone: America/New_York
actions: actions.py
slots:
  day:
    type: date
  full_name:
    type: person_name
  rental_ref:
    type: any
intents:
  rent_bike:
    examples: [i want to rent a bike, can i rent a bike, i would like to hire a bike, rent me a bike please]
    keywords: [rent a bike, hire a bike]
  goodbye:
    examples: [bye, goodbye, that is all thanks]
    end_call: true
    response: bye
forms:
  rent:
    intent: rent_bike
    steps:
      - slot: day
        prompt: Which day would you like the bike?
      - slot: full_name
        prompt: And your first and last name?
    action: action_rent_bike
responses:
  greet:
    - Riverside Bikes. How can I help?
  rented:
    - Your bike is booked for {{ day }}. Your reference is {{ rental_ref }}.
  sold_out:
    - Sorry, every bike is taken that day.
  bye:
    - Goodbye.
"""

INIT = '''"""Riverside Bikes as a plugin of the engine."""
from pathlib import Path

from callflows.plugins import VerticalPlugin


def plugin() -> VerticalPlugin:
    from . import cli, models, rentals  # noqa: F401 - models: the tables join the core's metadata

    return VerticalPlugin(name="bike_rental", migrations=Path(__file__).parent / "migrations",
                          lookups={"bike_rentals_of": rentals.rentals_of}, cli=cli.group,
                          bookings=rentals.bookings_of_call)
'''

MODELS = '''"""Rentals and the day holds that stop a bike being rented twice on one day."""
from datetime import date

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callflows.store.models import Base


class Rental(Base):
    __tablename__ = "bike_rentals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="booked")
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    holds: Mapped[list["BikeDayHold"]] = relationship(cascade="all, delete-orphan")


class BikeDayHold(Base):
    __tablename__ = "bike_day_holds"
    __table_args__ = (UniqueConstraint("day", "bike"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    bike: Mapped[int] = mapped_column(Integer)
    rental_id: Mapped[int] = mapped_column(ForeignKey("bike_rentals.id", ondelete="CASCADE"))
'''

RENTALS = '''"""Renting: the lowest free bike of the day, through the engine's hold helper."""
from datetime import date

from sqlalchemy import select

from callflows.plugins import Booking
from callflows.store.holds import hold_with_retry, new_reference, with_session

from .models import BikeDayHold, Rental

BIKES = 1


class SoldOut(Exception):
    pass


def rent(store, customer_id, day: date, call_id=None) -> str:
    def work(session):
        def attempt():
            taken = set(session.scalars(select(BikeDayHold.bike).where(BikeDayHold.day == day)))
            free = [b for b in range(1, BIKES + 1) if b not in taken]
            if not free:
                raise SoldOut(day.isoformat())
            rental = Rental(reference=new_reference(session, Rental.reference), customer_id=customer_id, day=day,
                            call_id=call_id, holds=[BikeDayHold(day=day, bike=free[0])])
            session.add(rental)
            session.flush()
            return rental.reference
        return hold_with_retry(session, attempt, lambda: SoldOut(day.isoformat()), attempts=3)
    return with_session(store, work)


def rentals_of(store, slots, options):
    with store.session() as s:
        return {"count": len(list(s.scalars(select(Rental.id))))}


def bookings_of_call(session, call_id):
    rows = session.scalars(select(Rental).where(Rental.call_id == call_id))
    return [Booking("rental", r.reference, r.status) for r in rows]
'''

CLI = '''"""`callflows bike_rental rentals list`."""
import json

import click
from sqlalchemy import select

from callflows.cli.common import open_store

from .models import Rental


@click.group("bike_rental")
def group():
    """Riverside Bikes' own commands."""


@group.group()
def rentals():
    """Bike rentals."""


@rentals.command("list")
def list_rentals():
    with open_store().session() as s:
        for r in s.scalars(select(Rental).order_by(Rental.id)):
            click.echo(json.dumps({"reference": r.reference, "day": r.day.isoformat(), "status": r.status}))
'''

ACTIONS = '''"""Riverside Bikes' action: rent a bike for the day the caller gave."""
from datetime import date

from rasa_sdk import Action
from rasa_sdk.events import SlotSet

from callflows.actions.context import call_id, store_for
from callflows.actions.signals import signal
from callflows.store import repo
from callflows_verticals.bike_rental import rentals


class ActionRentBike(Action):
    def name(self):
        return "action_rent_bike"

    def run(self, dispatcher, tracker, domain):
        store = store_for(tracker)
        with store.session() as s:
            customer_id = repo.add_customer(s, "bike_rental", tracker.get_slot("full_name")).id
        try:
            ref = rentals.rent(store, customer_id, date.fromisoformat(tracker.get_slot("day")), call_id(tracker))
        except rentals.SoldOut:
            dispatcher.utter_message(response="sold_out")
            signal(dispatcher, outcome="sold_out")
            return []
        dispatcher.utter_message(response="rented", rental_ref=" ".join(ref), day=tracker.get_slot("day"))
        signal(dispatcher, outcome="bike_rented")
        return [SlotSet("rental_ref", ref)]
'''

MIGRATION = '''"""Riverside Bikes' tables.

Revision ID: bike_rental_0001
Revises:
Create Date: 2030-06-01
"""
import sqlalchemy as sa
from alembic import op

revision = "bike_rental_0001"
down_revision = None
branch_labels = ("bike_rental",)
depends_on = None  # the core (customers, calls) is migrated first


def upgrade():
    op.create_table("bike_rentals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_bike_rentals_customer_id_customers")),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_bike_rentals_call_id_calls"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bike_rentals")),
        sa.UniqueConstraint("reference", name=op.f("uq_bike_rentals_reference")))
    op.create_table("bike_day_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("bike", sa.Integer(), nullable=False),
        sa.Column("rental_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["rental_id"], ["bike_rentals.id"], name=op.f("fk_bike_day_holds_rental_id_bike_rentals"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bike_day_holds")),
        sa.UniqueConstraint("day", "bike", name=op.f("uq_bike_day_holds_day_bike")))


def downgrade():
    op.drop_table("bike_day_holds")
    op.drop_table("bike_rentals")
'''

FILES = {"flow.yaml": FLOW, "__init__.py": INIT, "models.py": MODELS, "rentals.py": RENTALS, "cli.py": CLI,
         "actions.py": ACTIONS, "migrations/bike_rental_0001_tables.py": MIGRATION}


def write_vertical(base: Path, name: str = "bike_rental", files: dict[str, str] | None = None) -> Path:
    for rel, body in (FILES if files is None else files).items():
        path = base / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return base


def engine_fingerprint() -> str:
    """A hash of every file under callflows/ (names and contents, caches left out)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in ENGINE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(ENGINE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run(verticals: Path, url: str, *args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLFLOWS_VERTICALS_DIR": str(verticals), "CALLFLOWS_DATABASE_URL": url,
           "CALLFLOWS_STUDENT": "off", "CALLFLOWS_FAQ_EMBEDDINGS": "off"}
    if site is not None:  # where an "installed" package lies
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "callflows.cli.main", *args], cwd=verticals.parent, env=env,
                          capture_output=True, text=True, timeout=240)


def chat(verticals: Path, url: str, lines: list[str], site: Path | None = None) -> list[dict[str, object]]:
    script = verticals.parent / "script.txt"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run(verticals, url, "chat", "bike_rental", "--script", str(script), "--now", NOW, site=site)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_a_new_vertical_migrates_books_and_lists_without_changing_the_engine(
        empty_store: Store, tmp_path: Path) -> None:
    before = engine_fingerprint()
    verticals = write_vertical(tmp_path / "verticals")

    upgraded = run(verticals, empty_store.url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    assert "bike_rental_0001" in upgraded.stdout and "0010" in upgraded.stdout
    assert {"bike_rentals", "bike_day_holds", "alembic_version_bike_rental"} <= set(
        inspect(empty_store.engine).get_table_names())

    first = chat(verticals, empty_store.url, ["i want to rent a bike", "tomorrow", "Jane Smith"])
    said = " ".join(str(t.get("bot", "")) for t in first)
    assert "Your bike is booked for 2030-06-04" in said, first
    second = chat(verticals, empty_store.url, ["can i rent a bike", "tomorrow", "John Park"])
    assert "every bike is taken" in " ".join(str(t.get("bot", "")) for t in second), second  # one bike: the hold

    listed = run(verticals, empty_store.url, "bike_rental", "rentals", "list")
    assert listed.returncode == 0, listed.stderr[-3000:]
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["day"] == "2030-06-04" and row["status"] == "booked" and " ".join(row["reference"]) in said
    assert engine_fingerprint() == before
    assert "bike_rental" not in "".join(p.read_text(encoding="utf-8", errors="replace")
                                        for p in ENGINE.rglob("*.py"))

    # the same database under a deployment without that vertical: the others migrate, its rows stay
    empty_store.upgrade()
    assert empty_store.current_revisions() == ("0010", "dental_clinic_0001", "hotel_0001", "retail_bank_0001")
    with empty_store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM bike_rentals")).scalar() == 1


@pytest.mark.parametrize("broken, problem", [
    ({"models.py": None}, "No module named 'callflows_verticals.bike_rental.models'"),  # its table module
    ({"migrations/bike_rental_0001_tables.py": None}, "holds no revision"),
])
def test_a_broken_vertical_is_named_and_the_rest_of_the_cli_works(
        tmp_path: Path, broken: dict[str, None], problem: str) -> None:
    files = {k: v for k, v in FILES.items() if k not in broken}
    verticals = write_vertical(tmp_path / "verticals", files=files)
    url = f"sqlite:///{tmp_path / 'broken.db'}"

    upgraded = run(verticals, url, "db", "upgrade")
    assert upgraded.returncode != 0 and "Error: vertical bike_rental:" in upgraded.stderr, upgraded.stderr
    assert problem in upgraded.stderr
    assert "Traceback" not in upgraded.stderr
    own = run(verticals, url, "bike_rental", "rentals", "list")
    assert own.returncode != 0 and "vertical bike_rental:" in own.stderr and "Traceback" not in own.stderr
    helped = run(verticals, url, "--help")
    assert helped.returncode == 0 and "chat" in helped.stdout and "db" in helped.stdout


def test_an_installed_package_is_a_vertical_through_its_entry_point(tmp_path: Path) -> None:
    """The same vertical as a package installed elsewhere (a distribution on the path with a
    `callflows.verticals` entry point), the verticals folder empty."""
    site = tmp_path / "site"
    files = {k: v.replace("callflows_verticals.bike_rental", "acme_bikes") for k, v in FILES.items()}
    write_vertical(site, "acme_bikes", files)
    dist = site / "acme_bikes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-bikes\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[callflows.verticals]\nbike_rental = acme_bikes\n", encoding="utf-8")
    verticals = tmp_path / "verticals"
    verticals.mkdir()
    url = f"sqlite:///{tmp_path / 'installed.db'}"

    upgraded = run(verticals, url, "db", "upgrade", site=site)
    assert upgraded.returncode == 0 and "bike_rental_0001" in upgraded.stdout, upgraded.stderr[-3000:]
    said = " ".join(str(t.get("bot", "")) for t in chat(verticals, url, ["i want to rent a bike", "tomorrow",
                                                                          "Jane Smith"], site=site))
    assert "Your bike is booked for 2030-06-04" in said
    listed = run(verticals, url, "bike_rental", "rentals", "list", site=site)
    assert listed.returncode == 0 and '"day": "2030-06-04"' in listed.stdout, listed.stderr[-3000:]


def test_a_copied_vertical_folder_shares_the_code_and_tables_of_the_vertical_it_copies(tmp_path: Path) -> None:
    """A folder copied under a new name (another flow on the same code, as tests and variants
    do) declares no table twice: it runs the code, and migrates the branch, of the original."""
    verticals = copy_verticals(tmp_path / "verticals", ("dental_clinic",))
    shutil.copytree(verticals / "dental_clinic", verticals / "dental_nights")
    flow = verticals / "dental_nights" / "flow.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("vertical: dental_clinic", "vertical: dental_nights"),
                    encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'copies.db'}"
    upgraded = run(verticals, url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    assert upgraded.stdout.count("dental_clinic_0001") == 1
    listed = run(verticals, url, "dental_nights", "appointments", "list")
    assert listed.returncode == 0 and "no appointments" in listed.stdout, listed.stderr[-3000:]
