"""What a vertical hands the engine: the :class:`VerticalPlugin` its package returns.

A vertical's package (``verticals/<name>/__init__.py``, or an installed package named by an
entry point in the ``callflows.verticals`` group) defines ``plugin() -> VerticalPlugin``.
Everything the engine must not know by name -- tables, their migrations, escalation lookups,
CLI commands, the bookings shown on a call's admin page -- comes through this one value, so
a new vertical never edits a file under ``callflows/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import click
    from sqlalchemy.orm import Session

    from callflows.store.db import Store

SlotValues = Mapping[str, object]
Facts = dict[str, object]


class VerticalPluginError(RuntimeError):
    """A vertical's package cannot be used (missing module, bad migration folder...).

    The message always names the vertical, so a broken one is found without a traceback."""

    def __init__(self, vertical: str, problem: str) -> None:
        super().__init__(f"vertical {vertical}: {problem}")
        self.vertical = vertical


class LookupFunction(Protocol):
    """An escalation lookup: facts a rule may test, read from the store (see escalation/lookups.py).

    ``options`` holds the lookup's ``options:`` from escalation.yaml plus ``root`` (the
    vertical's folder) and ``vertical`` (its name)."""

    def __call__(self, store: Store, slots: SlotValues, options: Mapping[str, object]) -> Facts: ...


@dataclass(frozen=True)
class Booking:
    """One booking made on a call, as the admin's call page shows it (no customer data)."""

    kind: str  # "appointment", "reservation", ...: what the vertical calls it
    reference: str
    status: str
    name_unverified: bool = False


BookingsOfCall = Callable[["Session", str], list[Booking]]
"""``(session, call_id) -> bookings``: what the vertical booked on that call."""


@dataclass(frozen=True)
class VerticalPlugin:
    """The parts of a vertical the engine hooks in.

    ``migrations``: the folder of the vertical's Alembic branch (its first revision has
    ``down_revision = None``; it runs after the core's, with its own version table, see
    callflows/store/branches.py); its tables are declared on :class:`callflows.store.models.Base`
    by the modules ``plugin()`` imports. ``lookups``: escalation lookups by the name escalation.yaml gives as ``function:``.
    ``cli``: a click group, run as ``callflows <name> ...``."""

    name: str
    migrations: Path | None = None
    lookups: Mapping[str, LookupFunction] = field(default_factory=dict)
    cli: click.Group | None = None
    bookings: BookingsOfCall | None = None
