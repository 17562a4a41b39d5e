"""A user's own model for a role (CALLFLOWS_MODEL_<ROLE>): a local path, or a URL (http, https,
file) with its ``#sha256=``, downloaded once into the cache and verified before it is used."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import ChecksumError, ModelError
from .hashing import CHUNK, sha256_path

log = logging.getLogger(__name__)

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def parse_override(value: str) -> tuple[str, str | None]:
    """``"<url>#sha256=<hex>"`` -> (url, hex); a plain path -> (path, None)."""
    if "#sha256=" in value:
        url, _, sha = value.partition("#sha256=")
        sha = sha.strip().lower()
        if not HEX64.match(sha):
            raise ModelError(f"not a sha256 hex digest in model override: {sha!r}")
        return url, sha
    return value, None


def resolve_override(value: str, cache_dir: Path, *, is_dir: bool = False, timeout: float = 120.0) -> Path:
    """A user's model: a local path (must exist), or a URL (http, https, file) with ``#sha256=``,
    downloaded once into ``cache_dir`` and verified (a wrong download is deleted: ``ChecksumError``).
    A zip archive for a folder role is unpacked."""
    location, sha = parse_override(value)
    scheme = urllib.parse.urlparse(location).scheme
    if scheme not in ("http", "https", "file"):
        path = Path(location).expanduser()
        if not path.exists():
            raise ModelError(f"configured model path does not exist: {path}")
        if sha is not None:  # a local path with a checksum: check it, never delete the user's file
            actual = sha256_path(path)
            if actual != sha:
                raise ChecksumError(str(path), sha, actual)
        return path
    if sha is None:
        raise ModelError(f"a model URL needs its checksum: {location}#sha256=<hex>")
    if is_dir and location.lower().endswith(".zip"):
        from callflows.speech.download import ModelChecksumError, fetch_model

        try:
            return fetch_model(location, sha, cache_dir, timeout=timeout)
        except ModelChecksumError as exc:
            raise ChecksumError(location, exc.expected, exc.actual) from None
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(location).path)).name or "model.bin"
    dest = cache_dir / sha[:16] / name
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    import hashlib

    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        log.info("downloading model %s", location)
        with urllib.request.urlopen(location, timeout=timeout) as response, os.fdopen(fd, "wb") as out:  # noqa: S310
            while block := response.read(CHUNK):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha:
            raise ChecksumError(location, sha, digest.hexdigest())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except OSError as exc:
        raise ModelError(f"could not download model {location}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest
