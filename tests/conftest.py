"""Shared pytest set-up: fixtures live in tests/fixtures/, one module per area."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.audio",
]
