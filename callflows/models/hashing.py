"""sha256 of a model file, or of a model folder (a "tree" digest), with an optional progress bar.

A folder's digest is the sha256 of the lines ``<file sha256>  ./<relative path>\\n`` for every
file under it, sorted by path; the same as
``cd DIR && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar in bytes (a no-op object when disabled or tqdm is missing)."""
    if enabled:
        try:
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)
        except ImportError:  # pragma: no cover - tqdm is a core dependency
            pass
    return _NoBar()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def tree_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (following symlinked files), sorted by relative path (bytewise)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix().encode())


def size_of(path: Path) -> int:
    """Bytes of a file, or of all files under a folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in tree_files(path))
    return path.stat().st_size


def _hash_stream(paths: Iterable[Path], bar: Any) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
                bar.update(len(block))
    return digest.hexdigest()


def sha256_path(path: str | Path, *, progress: bool = False, desc: str | None = None) -> str:
    """sha256 of a file, or the tree digest of a folder."""
    path = Path(path)
    bar = progress_bar(size_of(path), desc or f"verify {path.name}", progress)
    try:
        if not path.is_dir():
            return _hash_stream([path], bar)
        lines = []
        for file in tree_files(path):
            lines.append(f"{_hash_stream([file], bar)}  ./{file.relative_to(path).as_posix()}\n")
        return hashlib.sha256("".join(lines).encode()).hexdigest()
    finally:
        bar.close()


def signature(path: Path) -> list[int]:
    """A cheap fingerprint (size, mtime, file count) to skip re-hashing an unchanged model."""
    if path.is_dir():
        files = tree_files(path)
        stats = [f.stat() for f in files]
        return [sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0), len(files)]
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, 1]
