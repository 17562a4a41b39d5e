"""Pytest set-up for the verticals' own tests (verticals/<name>/tests/): the same database and
audio fixtures as tests/ (a vertical's tests run on SQLite and PostgreSQL like the engine's)."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.audio",
]
