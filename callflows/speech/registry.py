"""Process-wide registry of loaded models (speech, the name lexicon) and of the few other
per-process resources (the pending call records): each is loaded once per process.

Loading is thread-safe: concurrent callers asking for the same key wait for one load
(one lock per key, so loading a big model does not block looking up another).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class ModelRegistry:
    """Maps a key (e.g. ``("piper", "/path/voice.onnx")``) to a loaded model object."""

    def __init__(self) -> None:
        self._models: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()

    def get_or_load(self, key: Any, loader: Callable[[], T]) -> T:
        """Return the model for ``key``, calling ``loader()`` the first time only."""
        model = self._models.get(key)
        if model is not None:
            return model  # type: ignore[no-any-return]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            model = self._models.get(key)
            if model is None:
                started = time.perf_counter()
                model = loader()
                self._models[key] = model
                log.info("loaded model %s in %.2f s", key, time.perf_counter() - started)
        return model  # type: ignore[no-any-return]

    def loaded(self) -> list[Any]:
        """Keys of the models loaded so far."""
        return list(self._models)

    def clear(self) -> None:
        """Forget every loaded model (tests; memory pressure)."""
        with self._guard:
            self._models.clear()
            self._locks.clear()


_REGISTRY = ModelRegistry()


def registry() -> ModelRegistry:
    """The process-wide model registry."""
    return _REGISTRY
