"""The evidence store: raw messages kept byte-for-byte, addressed by their SHA-256.

A message is written to a temporary file, flushed to disk and renamed into place, so a crash
never leaves a half-written file under a real name; writing the same bytes twice is a no-op.
Directories are created owner-only (0700) and files owner-read-only (0600 then 0400), since they
hold personal data.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from mailbox_rules.content import body_digest

__all__ = ["Evidence", "EvidenceError", "EvidenceStore", "body_digest"]


class Evidence(NamedTuple):
    """A stored raw message: its SHA-256, its size and the SHA-256 of its body alone."""

    sha256: str
    size: int
    body_sha256: str


class EvidenceError(Exception):
    """The evidence directory cannot be written or a stored file does not match its hash."""


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.eml"

    def put(self, raw: bytes) -> str:
        """Store ``raw`` and return its SHA-256 (hex)."""
        digest = hashlib.sha256(raw).hexdigest()
        target = self.path_for(digest)
        if target.exists():
            return digest
        try:
            # mkdir(parents=True) applies ``mode`` to the last level only: make each level.
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            target.parent.parent.mkdir(exist_ok=True, mode=0o700)
            target.parent.mkdir(exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(raw)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o400)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_dir(target.parent)
        except OSError as exc:
            raise EvidenceError(f"cannot store evidence under {self.root}: {exc}") from exc
        return digest

    def keep(self, raw: bytes) -> Evidence:
        """Store ``raw`` and describe it."""
        return Evidence(self.put(raw), len(raw), body_digest(raw))

    def get(self, sha256: str) -> bytes:
        """The stored bytes, checked against their hash."""
        try:
            raw = self.path_for(sha256).read_bytes()
        except OSError as exc:
            raise EvidenceError(f"evidence file for {sha256} is missing: {exc}") from exc
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise EvidenceError(f"evidence file for {sha256} does not match its hash")
        return raw


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
