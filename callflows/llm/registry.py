"""``get_llm(role)``: the configured LLM for a role, built once per process (thread-safe).

Configuration (environment), for a role such as ``small``, ``teacher``, ``escalation``, ``tiny``
(``llm_small`` etc. also accepted):

- ``CALLFLOWS_LLM_<ROLE>_URL``: an OpenAI-compatible server (llama.cpp server, vLLM) -> HTTP
  backend; with ``CALLFLOWS_LLM_<ROLE>_MODEL`` (default "default"), ``CALLFLOWS_LLM_<ROLE>_API_KEY``,
  ``CALLFLOWS_LLM_<ROLE>_TIMEOUT_S`` (default 30).
- otherwise in-process llama.cpp on the model file of manifest role ``llm_<role>``
  (``callflows.models.resolve``: honours ``CALLFLOWS_MODEL_LLM_<ROLE>`` = a path or
  ``<url>#sha256=<hex>``), with ``CALLFLOWS_LLM_THREADS`` (default 2), ``CALLFLOWS_LLM_CTX``
  (default 4096) and ``CALLFLOWS_LLM_POOL`` (contexts per model, default 1); a per-role
  ``CALLFLOWS_LLM_<ROLE>_THREADS`` / ``_CTX`` / ``_POOL`` wins over those.

Roles that resolve to the same file with the same settings share one loaded model (the
teacher and the escalation LLM are the same 1.5B here).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from .base import LLM, LLMError

_lock = threading.Lock()
_by_role: dict[str, LLM] = {}
_by_key: dict[Any, LLM] = {}
_key_locks: dict[Any, threading.Lock] = {}


def short_role(role: str) -> str:
    role = role.strip().lower()
    return role[4:] if role.startswith("llm_") else role


def _env(role: str, suffix: str, default: str | None = None) -> str | None:
    name = f"CALLFLOWS_LLM_{re.sub(r'[^A-Za-z0-9]', '_', role).upper()}_{suffix}"
    value = os.environ.get(name)
    return value if value else default


def _int(role: str, suffix: str, general: str, default: int) -> int:
    raw = _env(role, suffix) or os.environ.get(general) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise LLMError(f"{general} / CALLFLOWS_LLM_{role.upper()}_{suffix} must be an integer, not {raw!r}") from None


def describe(role: str) -> dict[str, Any]:
    """What ``get_llm(role)`` would build, without building it."""
    short = short_role(role)
    url = _env(short, "URL")
    if url:
        return {"backend": "openai", "url": url, "model": _env(short, "MODEL", "default"),
                "timeout_s": float(_env(short, "TIMEOUT_S", "30") or 30)}
    return {"backend": "llama.cpp", "manifest_role": f"llm_{short}",
            "n_threads": _int(short, "THREADS", "CALLFLOWS_LLM_THREADS", 2),
            "n_ctx": _int(short, "CTX", "CALLFLOWS_LLM_CTX", 4096),
            "pool_size": _int(short, "POOL", "CALLFLOWS_LLM_POOL", 1)}


def get_llm(role: str) -> LLM:
    """The LLM configured for ``role``, loaded once per process."""
    short = short_role(role)
    llm = _by_role.get(short)
    if llm is not None:
        return llm
    cfg = describe(short)
    if cfg["backend"] == "openai":
        from .openai_compat import OpenAICompatLLM

        key: Any = ("openai", cfg["url"], cfg["model"])
        build = lambda: OpenAICompatLLM(cfg["url"], cfg["model"], api_key=_env(short, "API_KEY"),  # noqa: E731
                                        timeout_s=cfg["timeout_s"], name=f"{short}:{cfg['model']}")
    else:
        from callflows.models import ModelError, resolve

        try:
            path = resolve(cfg["manifest_role"])
        except ModelError as exc:
            raise LLMError(f"no model for LLM role {short!r}: {exc}") from exc
        key = ("llama.cpp", str(path.resolve()), cfg["n_ctx"], cfg["n_threads"], cfg["pool_size"])

        def build() -> LLM:
            from .llamacpp import LlamaCppLLM

            return LlamaCppLLM(path, n_ctx=cfg["n_ctx"], n_threads=cfg["n_threads"], pool_size=cfg["pool_size"],
                               name=f"{short}:{path.name}")
    with _lock:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:  # one load per model; other models load in parallel
        llm = _by_key.get(key)
        if llm is None:
            llm = build()
            _by_key[key] = llm
    with _lock:
        _by_role.setdefault(short, llm)
        return _by_role[short]


def loaded() -> dict[str, str]:
    """Role -> backend name of what is loaded so far."""
    return {role: llm.name for role, llm in _by_role.items()}


def clear() -> None:
    """Forget every LLM (tests; reconfiguration). Loaded llama.cpp models are freed."""
    with _lock:
        models = list(_by_key.values())
        _by_role.clear()
        _by_key.clear()
        _key_locks.clear()
    for llm in models:
        close = getattr(llm, "close", None)
        if close:
            close()
