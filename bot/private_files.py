"""Files that hold personal data, created owner-only: folders 0700, files 0600.

Exports (evidence bundles, subject access zips, the partner's CSV, rendered letters, the
register file) and the database itself hold personal data about people in dispute with their
landlord (policy §8: "protected against unauthorised access").  Whatever the umask, what is
written through this module is readable by its owner alone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; an existing folder is made 0700."""
    missing = []
    for level in (path, *path.parents):
        if level.exists():
            break
        missing.append(level)
    for level in reversed(missing):
        level.mkdir(mode=DIR_MODE, exist_ok=True)
    path.chmod(DIR_MODE)
    return path


@contextmanager
def private_file(path: Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open ``path`` for writing, owner-only; it appears under its name only when complete.

    The data goes to a temporary file beside it, which is renamed into place on success and
    removed on error, so a failed export never leaves a half-written file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, owner-only (see :func:`private_file`)."""
    with private_file(path) as handle:
        handle.write(data)
    return path


def make_private(path: Path) -> None:
    """Make an existing file owner-only (0600), e.g. an SQLite database and its WAL files."""
    if path.exists():
        path.chmod(FILE_MODE)
