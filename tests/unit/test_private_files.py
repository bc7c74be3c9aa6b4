"""Exports and the database are owner-only whatever the umask."""

import os
import stat
from pathlib import Path

import pytest

from bot.private_files import private_dir, private_file, write_private


@pytest.fixture
def open_umask():
    old = os.umask(0o000)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folders_and_files_are_owner_only_even_with_an_open_umask(tmp_path, open_umask):
    folder = private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == 0o700 and mode(folder) == 0o700
    written = write_private(folder / "x.csv", b"data")
    assert mode(written) == 0o600 and written.read_bytes() == b"data"


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError), private_file(tmp_path / "out.zip") as handle:
        handle.write(b"half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_text_mode(tmp_path):
    with private_file(tmp_path / "t.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write("é\n")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == "é\n"
