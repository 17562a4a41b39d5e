"""Recording files encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

Why Fernet: authenticated encryption with a key that is one printable string, so it fits an
environment variable or a Kubernetes secret, and a tampered or truncated file fails to open
instead of playing garbage.  ``CALLFLOWS_RECORDING_KEY`` may hold several keys, comma
separated: the first encrypts, every one decrypts (``MultiFernet``), so a key is rotated by
putting the new one first and dropping the old one once its recordings have expired.

Files are ``<CALLFLOWS_RECORDINGS_DIR>/<vertical>/<call id>.wav.fernet``, written to a
temporary name and renamed (a crash never leaves half a recording), mode 600.  Deleting
needs no key (the retention sweeper has none to lose).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_ENV = "CALLFLOWS_RECORDING_KEY"
DIR_ENV = "CALLFLOWS_RECORDINGS_DIR"
SUFFIX = ".wav.fernet"
_NAME = re.compile(r"^[A-Za-z0-9_\-]+/[A-Za-z0-9_\-]+\.wav\.fernet$")


class RecordingKeyError(RuntimeError):
    """No usable key: recording cannot start, or a recording cannot be opened."""


def new_key() -> str:
    """A fresh key for ``CALLFLOWS_RECORDING_KEY``."""
    return Fernet.generate_key().decode("ascii")


def file_name(vertical: str, call_id: str) -> str:
    name = f"{vertical}/{call_id}{SUFFIX}"
    if not _NAME.match(name):
        raise ValueError("vertical or call id not usable in a file name")
    return name


class RecordingVault:
    """The encrypted files under ``root``; without ``keys`` it can only delete."""

    def __init__(self, root: str | Path, keys: Sequence[str] = ()):
        self.root = Path(root)
        self._fernet: MultiFernet | None = None
        if keys:
            try:
                self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
            except (ValueError, TypeError, UnicodeEncodeError):
                raise RecordingKeyError(
                    f"{KEY_ENV} is not a Fernet key (32 bytes, url-safe base64; make one with "
                    "`callflows recordings new-key`)") from None

    @property
    def can_encrypt(self) -> bool:
        return self._fernet is not None

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):  # a stored name is never a path out of the folder
            raise ValueError("not a recording file name")
        return self.root / name

    def _require_key(self) -> MultiFernet:
        if self._fernet is None:
            raise RecordingKeyError(f"{KEY_ENV} is not set: recordings cannot be written or played")
        return self._fernet

    def write(self, name: str, data: bytes) -> int:
        """Encrypt and store; the size on disk."""
        token = self._require_key().encrypt(data)
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(token)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return len(token)

    def read(self, name: str) -> bytes:
        """Decrypted bytes; ``FileNotFoundError``, or ``RecordingKeyError`` when no key opens it."""
        token = self._path(name).read_bytes()
        try:
            return self._require_key().decrypt(token)
        except InvalidToken:
            raise RecordingKeyError("no key in CALLFLOWS_RECORDING_KEY opens this recording "
                                    "(another key, or a damaged file)") from None

    def delete(self, name: str) -> bool:
        """True if a file was removed (False: it was already gone)."""
        try:
            self._path(name).unlink()
            return True
        except FileNotFoundError:
            return False

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()
