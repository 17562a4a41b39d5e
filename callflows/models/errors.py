"""The errors of model management (the manifest, a user's override): each message says what to do."""

from __future__ import annotations


class ModelError(RuntimeError):
    """A model cannot be installed or resolved (the message says what to do)."""


class ChecksumError(ModelError):
    """A model's sha256 is not the one in the manifest (or the configured override); the file was deleted."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"sha256 mismatch for {what}: expected {expected}, got {actual}; the file was discarded")
        self.expected = expected
        self.actual = actual


__all__ = ["ChecksumError", "ModelError"]
