"""Fetch a user's model archive (zip) from a URL, verify its sha256, and unpack it into a cache."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_MARKER = ".callflows-complete"


class ModelChecksumError(RuntimeError):
    """The downloaded archive's sha256 is not the one configured."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        super().__init__(
            f"sha256 mismatch for model archive {url}: expected {expected}, got {actual}. "
            "The file was discarded; check the URL and the configured sha256."
        )
        self.url = url
        self.expected = expected
        self.actual = actual


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path, timeout: float) -> str:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:  # noqa: S310
        while block := response.read(_CHUNK):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _safe_extract(archive: Path, target: Path) -> None:
    root = target.resolve()
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            dest = (root / member.filename).resolve()
            if dest != root and root not in dest.parents:
                raise ValueError(f"unsafe path in model archive: {member.filename!r}")
        zf.extractall(root)


_MODEL_PARTS = frozenset({"am", "conf", "graph", "ivector", "rescore", "rnnlm"})


def _model_root(unpacked: Path) -> Path:
    entries = [p for p in unpacked.iterdir() if p.name != _MARKER and not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in _MODEL_PARTS:
        return entries[0]
    return unpacked


def fetch_model(url: str, sha256: str, cache_dir: str | Path = "var/models", *, timeout: float = 60.0) -> Path:
    """Download the zip at ``url`` (http(s):// or file://) into ``cache_dir``, check it against
    ``sha256``, unpack it, and return the model directory (the archive's single top folder,
    or the unpack folder). A second call with the same sha256 reuses the unpacked copy.

    Raises ``ModelChecksumError`` on a checksum mismatch (nothing is unpacked or kept).
    """
    expected = sha256.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    unpacked = cache / expected[:32]
    if (unpacked / _MARKER).exists():
        return _model_root(unpacked)

    fd, part_name = tempfile.mkstemp(dir=cache, suffix=".zip.part")
    os.close(fd)
    part = Path(part_name)
    staging: Path | None = None
    try:
        log.info("downloading model %s", url)
        actual = _download(url, part, timeout)
        if actual != expected:
            raise ModelChecksumError(url, expected, actual)
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=".unpack-"))
        _safe_extract(part, staging)
        (staging / _MARKER).write_text(f"{url}\n{expected}\n")
        try:
            staging.rename(unpacked)
            staging = None
        except OSError:
            if not (unpacked / _MARKER).exists():  # a half-unpacked leftover: replace it
                shutil.rmtree(unpacked, ignore_errors=True)
                staging.rename(unpacked)
                staging = None
    finally:
        part.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("model %s unpacked to %s", url, unpacked)
    return _model_root(unpacked)


def resolve_model_dir(
    path: str | Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    cache_dir: str | Path = "var/models",
) -> Path:
    """A local model directory from ``path``, or from ``url`` + ``sha256`` (downloaded once)."""
    if path is not None:
        local = Path(path)
        if not local.is_dir():
            raise FileNotFoundError(f"model directory not found: {local}")
        return local
    if url is None:
        raise ValueError("give a model path, or a URL and its sha256")
    if not sha256:
        raise ValueError(f"a sha256 is required to download {url}")
    return fetch_model(url, sha256, cache_dir)
