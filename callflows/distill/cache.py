"""Built students and fine-tuned encoders, cached outside the clone by the hash of their inputs.

Why: fine-tuning the encoders takes minutes on two cores, and CI installs a fresh clone every
run. An entry is a folder named by the sha256 of everything that decides its content (training
data, settings, code, library versions), so a fresh clone on the same machine reuses it and any
change to an input builds a new one; nothing is ever updated in place.

    cache = ArtifactCache.default("students")     # $XDG_CACHE_HOME/callflows/students
    key = key_of({"data": ..., "code": ...})
    hit = cache.get(key)                           # a verified folder, or None
    cache.put(key, built_folder)                   # copy, write the marker last, rename into place

An entry counts only if its marker (`COMPLETE.json`, written last, before the rename) names the
key and the sha256 of every file, and the files still match: a half-copied or altered entry is
never served. `CALLFLOWS_STUDENT_CACHE=0` turns the cache off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from callflows.models.hashing import sha256_path
from callflows.nlu.embeddings import cache_root

logger = logging.getLogger(__name__)

MARKER = "COMPLETE.json"
FORMAT = 1  # bump when the entries' layout or the meaning of a key changes

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def key_of(parts: Mapping[str, JsonValue]) -> str:
    """sha256 over a canonical JSON of `parts` (sorted keys), with the cache format."""
    blob = json.dumps({"cache_format": FORMAT, **parts}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def files_sha256(paths: list[Path]) -> dict[str, str]:
    """{file name: sha256} of source files (the code part of a key); a missing file hashes as absent."""
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "absent") for p in paths}


def enabled() -> bool:
    return (os.environ.get("CALLFLOWS_STUDENT_CACHE") or "").strip() != "0"


@dataclass(frozen=True)
class ArtifactCache:
    """Folders keyed by a hex sha256 under `root`."""

    root: Path

    @classmethod
    def default(cls, kind: str) -> "ArtifactCache":
        return cls(cache_root() / kind)

    def path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a sha256 key: {key!r}")
        return self.root / key

    def get(self, key: str) -> Path | None:
        """The entry's folder if it is complete and every file matches its marker, else None."""
        entry = self.path(key)
        marker = entry / MARKER
        if not marker.is_file():
            return None
        try:
            meta = json.loads(marker.read_text())
            files = meta["files"]
            if meta.get("key") != key or not isinstance(files, dict) or not files:
                raise ValueError("marker does not name this key")
            present = {p.name for p in entry.iterdir() if p.is_file() and p.name != MARKER}
            if present != set(files):
                raise ValueError(f"files {sorted(present ^ set(files))} differ from the marker")
            for name, digest in files.items():
                if sha256_path(entry / name) != digest:
                    raise ValueError(f"{name} does not match its sha256")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("cache entry %s is not usable (%s): ignored", entry, exc)
            return None
        return entry

    def put(self, key: str, src: Path) -> Path:
        """Copy the files of `src` in as the entry for `key` (atomically); returns the entry."""
        dest = self.path(key)
        if self.get(key) is not None:
            return dest
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}.new-", dir=self.root))
        try:
            files: dict[str, str] = {}
            for p in sorted(src.iterdir()):
                if p.is_file() and p.name != MARKER:
                    shutil.copy2(p, tmp / p.name)
                    files[p.name] = sha256_path(tmp / p.name)
            marker = tmp / f"{MARKER}.part"
            marker.write_text(json.dumps({"key": key, "files": files}, indent=1, sort_keys=True))
            with open(marker, "rb") as fh:
                os.fsync(fh.fileno())
            os.rename(marker, tmp / MARKER)
            tmp.chmod(0o755)
            if dest.exists():  # an unusable entry (get() said so above): move it aside, then drop it
                stale = self.root / f".{key[:16]}.stale-{os.getpid()}"
                os.rename(dest, stale)
                shutil.rmtree(stale, ignore_errors=True)
            try:
                os.rename(tmp, dest)
            except OSError:  # another build put the same key first: the same inputs, keep theirs
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def copy_out(self, key: str, out: Path) -> bool:
        """Replace `out` with a copy of the entry (written beside it, swapped in by renames)."""
        entry = self.get(key)
        if entry is None:
            return False
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
        try:
            for p in entry.iterdir():
                if p.is_file() and p.name != MARKER:
                    shutil.copy2(p, tmp / p.name)
            tmp.chmod(0o755)
            swap_in(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True


def swap_in(new: Path, out: Path) -> None:
    """Put the folder `new` at `out` by renames. Why: running calls and tests load the student
    folder; a rebuild written file by file in place would let them read a pickle that does not
    match its card (or half an encoder)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.rename(out, old)
    os.rename(new, out)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
