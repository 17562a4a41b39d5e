"""Verticals as plugins: how a vertical's tables, migrations, lookups and commands reach the
engine without the engine naming it (see spec.py for the contract, registry.py for discovery)."""

from callflows.plugins.registry import (
    find_lookup,
    installed_plugins,
    load_plugin,
    plugin_names,
    usable_plugins,
)
from callflows.plugins.spec import Booking, LookupFunction, VerticalPlugin, VerticalPluginError
from callflows.vertical_paths import ENTRY_POINT_GROUP

__all__ = [
    "ENTRY_POINT_GROUP",
    "Booking",
    "LookupFunction",
    "VerticalPlugin",
    "VerticalPluginError",
    "find_lookup",
    "installed_plugins",
    "load_plugin",
    "plugin_names",
    "usable_plugins",
]
