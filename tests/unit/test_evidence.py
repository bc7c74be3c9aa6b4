"""EvidenceStore: raw messages kept byte-for-byte under their SHA-256, owner-only."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from bot.evidence import EvidenceError, EvidenceStore

RAW = b"From: margaret.ellis@mailbox.example\r\nSubject: fan\r\n\r\n\xc2\xa3450\r\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_returns_the_sha256_and_get_returns_the_same_bytes(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")

    digest = store.put(RAW)

    assert (hashlib.sha256(RAW).hexdigest(), RAW) == (digest, store.get(digest))


def test_file_is_sharded_by_hash_prefix(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    digest = store.put(RAW)

    assert [tmp_path / "evidence" / digest[:2] / digest[2:4] / f"{digest}.eml"] == files_under(
        tmp_path / "evidence"
    )


def test_same_bytes_twice_give_the_same_hash_and_one_file(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")

    first, second = store.put(RAW), store.put(bytes(RAW))

    assert (first, 1) == (second, len(files_under(tmp_path / "evidence")))


def test_different_bytes_give_different_files(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")

    digests = {store.put(RAW), store.put(RAW + b" ")}

    assert (2, 2) == (len(digests), len(files_under(tmp_path / "evidence")))


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    store.put(RAW)

    assert [] == [p for p in (tmp_path / "evidence").rglob(".incoming-*")]


def test_tampered_file_is_detected(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    digest = store.put(RAW)
    path = store.path_for(digest)
    os.chmod(path, 0o600)
    path.write_bytes(RAW.replace(b"450", b"045"))

    with pytest.raises(EvidenceError, match="does not match its hash"):
        store.get(digest)


def test_missing_file_is_an_evidence_error(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")

    with pytest.raises(EvidenceError, match="is missing"):
        store.get(hashlib.sha256(b"never stored").hexdigest())


def test_file_is_owner_read_only(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")

    assert 0o400 == mode(store.path_for(store.put(RAW)))


def test_every_directory_the_store_creates_is_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    store = EvidenceStore(root)
    path = store.path_for(store.put(RAW))

    assert [0o700, 0o700, 0o700] == [mode(root), mode(path.parent.parent), mode(path.parent)]


def test_unwritable_root_is_an_evidence_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")

    with pytest.raises(EvidenceError, match="cannot store evidence"):
        EvidenceStore(blocker / "evidence").put(RAW)
