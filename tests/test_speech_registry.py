"""The model registry loads each model once per process, also under concurrent first use."""

from __future__ import annotations

import threading
import time

from callflows.speech.registry import ModelRegistry, registry


def test_loads_once_across_threads() -> None:
    reg = ModelRegistry()
    calls: list[int] = []

    def loader() -> object:
        calls.append(1)
        time.sleep(0.05)
        return object()

    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(reg.get_or_load("m", loader))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(r) for r in results}) == 1
    assert reg.loaded() == ["m"]
    assert reg.get_or_load("other", lambda: 5) == 5
    reg.clear()
    assert reg.loaded() == []


def test_process_registry_is_shared() -> None:
    assert registry() is registry()
