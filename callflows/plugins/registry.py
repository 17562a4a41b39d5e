"""Find the installed verticals' plugins: folder verticals with a package, and installed
packages named by entry points in the ``callflows.verticals`` group.

Nothing here runs when the engine is imported: a vertical's package is imported the first time
its plugin is asked for, and a broken one raises :class:`VerticalPluginError` naming it (the
store refuses to migrate without it; the CLI and the escalation lookups skip it with a warning).
"""

from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from types import ModuleType

from callflows.plugins.finder import install, package_name
from callflows.plugins.spec import LookupFunction, VerticalPlugin, VerticalPluginError
from callflows.vertical_paths import entry_point_modules, folder_verticals, package_verticals, verticals_dir

log = logging.getLogger(__name__)

PLUGIN_FUNCTION = "plugin"
OWNER_ATTRIBUTE = "NAME"  # the vertical a package's code belongs to (a copied folder keeps it)

_lock = threading.RLock()
_loaded: dict[str, VerticalPlugin] = {}


def plugin_names() -> list[str]:
    """Verticals that bring code: folder verticals with an ``__init__.py``, then installed packages."""
    base = verticals_dir()
    folders = [n for n in folder_verticals() if (base / n / "__init__.py").is_file()]
    return folders + sorted(package_verticals())


def _import(name: str) -> ModuleType:
    install()
    if name in folder_verticals():
        module_name = package_name(name)
    elif name in package_verticals():
        module_name = entry_point_modules()[name]
    else:
        raise VerticalPluginError(name, "no such vertical (no folder with a package, no installed package)")
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise VerticalPluginError(name, f"cannot import its package {module_name}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any error in a vertical's code is that vertical's
        raise VerticalPluginError(name, f"its package {module_name} failed to import: "
                                        f"{type(exc).__name__}: {exc}") from exc


def _check(name: str, plugin: object) -> VerticalPlugin:
    if not isinstance(plugin, VerticalPlugin):
        raise VerticalPluginError(name, f"plugin() returned {type(plugin).__name__}, not a VerticalPlugin")
    if plugin.name != name:
        raise VerticalPluginError(name, f"plugin() names itself {plugin.name!r}")
    folder = plugin.migrations
    if folder is not None and not (Path(folder).is_dir() and any(Path(folder).glob("*.py"))):
        raise VerticalPluginError(name, f"migration folder {folder} is missing or holds no revision")
    return plugin


def load_plugin(name: str) -> VerticalPlugin:
    """The plugin of the vertical ``name`` (imported once per process)."""
    with _lock:
        cached = _loaded.get(name)
        if cached is not None:
            return cached
        module = _import(name)
        owner = getattr(module, OWNER_ATTRIBUTE, name)
        owner = owner if isinstance(owner, str) else name
        if owner != name and owner in plugin_names():
            # a copy of another vertical's folder under a new name (another flow on the same
            # code): it shares that vertical's code and tables rather than declaring them twice
            log.info("vertical %s runs the code of %s", name, owner)
            _loaded[name] = load_plugin(owner)
            return _loaded[name]
        factory = getattr(module, PLUGIN_FUNCTION, None)
        if not callable(factory):
            raise VerticalPluginError(name, f"{module.__name__} has no {PLUGIN_FUNCTION}() function")
        try:
            plugin = _check(owner, factory())
        except VerticalPluginError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. its table module is missing
            raise VerticalPluginError(name, f"{PLUGIN_FUNCTION}() failed: {type(exc).__name__}: {exc}") from exc
        _loaded[name] = plugin
        log.debug("vertical plugin %s loaded", name)
        return plugin


def _once(plugins: list[VerticalPlugin]) -> list[VerticalPlugin]:
    """Each plugin once (vertical folders that share one vertical's code give it once)."""
    out: list[VerticalPlugin] = []
    for plugin in plugins:
        if all(p.name != plugin.name for p in out):
            out.append(plugin)
    return out


def installed_plugins() -> list[VerticalPlugin]:
    """Every installed vertical's plugin; the first broken one raises :class:`VerticalPluginError`."""
    return _once([load_plugin(n) for n in plugin_names()])


def usable_plugins() -> list[VerticalPlugin]:
    """Every installed vertical's plugin that loads; a broken one is logged and left out."""
    out = []
    for name in plugin_names():
        try:
            out.append(load_plugin(name))
        except VerticalPluginError as exc:
            log.warning("%s", exc)
    return _once(out)


def find_lookup(name: str, vertical: str | None = None) -> LookupFunction | None:
    """The lookup registered as ``name``: the vertical's own first, else any installed one's."""
    if vertical is not None and vertical in plugin_names():
        own = load_plugin(vertical).lookups.get(name)
        if own is not None:
            return own
    for plugin in usable_plugins():
        if name in plugin.lookups:
            return plugin.lookups[name]
    return None
