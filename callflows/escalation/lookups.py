"""Facts a rule may test that the call itself does not hold (a balance, a tier, the length
of a booking), read from the store once the slots a lookup `needs` are filled.

A lookup is a function called as f(store, slots, options) -> dict -- one a vertical registers
by name through its plugin (callflows/plugins: the engine knows no vertical's lookups), or any
"module:function" -- or one of the vertical's rasa-sdk actions (its SlotSet events become the
facts). Results are cached per call until the needed slots change. A failing lookup gives no facts (and is logged), never an
error: an unknown fact is never a reason to escalate.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from callflows.escalation.spec import Lookup
from callflows.plugins import LookupFunction, find_lookup


class UnknownLookup(LookupError):
    """escalation.yaml names a lookup no installed vertical registers."""


def resolve_function(path: str, vertical: str | None = None) -> LookupFunction | Callable[..., dict[str, Any]]:
    """The lookup ``path`` names: a registered name (the vertical's own first), or "module:function"."""
    if ":" not in path:
        found = find_lookup(path, vertical)
        if found is None:
            raise UnknownLookup(f"no installed vertical registers the lookup {path!r}")
        return found
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class LookupCache:
    def __init__(self, lookups: dict[str, Lookup], log: Any):
        self.lookups = lookups
        self.log = log
        self._cache: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def facts(self, slots: dict[str, Any], run_function: Callable[[Lookup], dict[str, Any]],
              run_action: Callable[[Lookup], dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, lookup in self.lookups.items():
            key = tuple(slots.get(s) for s in lookup.needs)
            if any(v is None for v in key):
                continue
            cached = self._cache.get(name)
            if cached is None or cached[0] != key:
                try:
                    facts = run_action(lookup) if lookup.action else run_function(lookup)
                except Exception as exc:  # noqa: BLE001 - a lookup never breaks the call
                    self.log.warning("lookup %s failed: %s", name, type(exc).__name__)
                    facts = {}
                cached = (key, dict(facts or {}))
                self._cache[name] = cached
            out[name] = cached[1]
        return out
