"""What a vertical's in-process action may reach besides the tracker: the call's store.

The session registers its store under an opaque key sent in the tracker's metadata;
an action looks it up. A remote action server never has the key and uses its own
configured database (CALLFLOWS_DATABASE_URL).
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime
from typing import Any

from rasa_sdk import Tracker

_lock = threading.Lock()
_stores: "weakref.WeakValueDictionary[str, Any]" = weakref.WeakValueDictionary()
_env_store: list[Any] = []


def register_store(store: Any) -> str:
    key = f"store-{id(store)}"
    with _lock:
        _stores[key] = store
    return key


def store_for(tracker: Tracker) -> Any:
    """The store of the call this tracker belongs to."""
    key = (tracker.latest_message or {}).get("metadata", {}).get("store_key")
    if key:
        with _lock:
            store = _stores.get(key)
        if store is not None:
            return store
    with _lock:
        if not _env_store:
            from callflows.store import Store

            _env_store.append(Store.from_env())
        return _env_store[0]


def call_now(tracker: Tracker) -> datetime:
    """The call's local time (tests fix it; a live call uses the clock)."""
    meta = (tracker.latest_message or {}).get("metadata", {})
    if meta.get("now"):
        return datetime.fromisoformat(meta["now"])
    return datetime.now().astimezone()


def call_id(tracker: Tracker) -> str | None:
    return (tracker.latest_message or {}).get("metadata", {}).get("call_id")
