"""`spocbot evidence export`: a customer's bundle that can be checked without spocbot — the
raw messages byte for byte, chain hashes that recompute with hashlib, an escaped index, CSV
cells that no spreadsheet runs, owner-only files, an audit event, and clear refusals."""

from __future__ import annotations

import csv
import hashlib
import json
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.evidence_export import FORMULA_STARTS, csv_cell
from bot.store import models as m
from tests.chaintest import ChainHarness
from tests.lettertest import set_fields


@pytest.fixture
def h(tmp_path: Path) -> ChainHarness:
    harness = ChainHarness(tmp_path)
    harness.populate()
    return harness


def export(h: ChainHarness, ref: str = "NV-1", name: str = "bundle") -> tuple[int, str, str, Path]:
    out = h.root / name
    code, stdout, stderr = h.cli(
        "evidence", "export", "--customer", ref, "--out", str(out), "--operator", "Priya Shah"
    )
    return code, stdout, stderr, out


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def records(h: ChainHarness, ref: str) -> dict[tuple[str, int], str | None]:
    """The customer's records and their raw messages' SHA-256."""
    with h.app.factory() as session:
        customer_id = session.scalars(select(m.Customer.id).where(m.Customer.ref == ref)).one()
        return {
            (kind, row.id): row.sha256
            for kind, model in (("breach", m.Breach), ("contact", m.Contact), ("letter", m.Letter))
            for row in session.scalars(select(model).where(model.customer_id == customer_id))
        }


def test_the_bundle_holds_every_record_and_each_message_byte_for_byte(h: ChainHarness) -> None:
    code, out, err, bundle = export(h)

    assert 0 == code, err
    assert "5 record(s), 5 message file(s), 5 chain link(s)" in out
    assert {"index.html", "index.csv", "chain.csv", "README.txt", "SHA256SUMS", "messages"} == {
        p.name for p in bundle.iterdir()
    }
    index = rows(bundle / "index.csv")
    expected = records(h, "NV-1")
    assert set(expected) == {(r["kind"], int(r["record_id"])) for r in index}
    for row in index:
        sha256 = expected[(row["kind"], int(row["record_id"]))]
        assert sha256 is not None
        assert f"messages/{row['number']}-{row['kind']}-{row['record_id']}.eml" == row["file"]
        data = (bundle / row["file"]).read_bytes()
        assert h.raw_path(sha256).read_bytes() == data
        assert (sha256, sha256) == (row["sha256"], hashlib.sha256(data).hexdigest())
    assert ["2026-12-03 12:00:00 GMT", "breach", "info@homes.example"] == [
        index[0]["date"],
        index[0]["kind"],
        index[0]["mailboxes"],
    ]
    # Each message is labelled with its From and Subject, as a reader would see them.
    assert all(row["from"] and row["subject"] for row in index)
    # `sha256sum -c SHA256SUMS` checks every message file, as README.txt says.
    checked = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True
    )
    assert (0, 5) == (checked.returncode, checked.stdout.count(": OK")), checked.stdout


def test_chain_csv_recomputes_with_hashlib_alone(h: ChainHarness) -> None:
    _, _, _, bundle = export(h)

    chain = rows(bundle / "chain.csv")

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    assert 5 == len(chain)
    with h.app.factory() as session:
        stored = {
            row.id: row.link_hash
            for row in session.scalars(
                select(m.EvidenceLink).where(m.EvidenceLink.customer_id == 1)
            )
        }
    for r in chain:
        assert sha(r["salt"] + r["content"]) == r["content_hash"]
        assert sha(r["salt"] + r["raw_sha256"]) == r["raw_hash"]
        parts = (r["prev_hash"], r["record_kind"], r["record_id"], r["content_hash"], r["raw_hash"])
        assert sha("|".join(parts)) == r["link_hash"] == stored[int(r["link_id"])]
        content = json.loads(r["content"])
        assert (1, int(r["record_id"])) == (content["customer_id"], content["id"])


def test_the_bundle_holds_nothing_of_another_customer(h: ChainHarness) -> None:
    _, _, _, bundle = export(h)

    text = b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())

    assert b"ben@mail.example" not in text and b"Ben Other" not in text


def test_the_bundle_is_owner_only_and_the_export_is_audited(h: ChainHarness) -> None:
    _, _, _, bundle = export(h)

    modes = {
        p.relative_to(bundle).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in bundle.rglob("*")
    }
    _, listed, _ = h.cli("audit", "list", "--customer", "NV-1", "--json")

    assert 0o700 == stat.S_IMODE(bundle.stat().st_mode)
    assert {0o700} == {mode for name, mode in modes.items() if name == "messages"}
    assert {0o600} == {mode for name, mode in modes.items() if name != "messages"}
    exports = [e for e in json.loads(listed) if e["action"] == "evidence.export"]
    assert [("Priya Shah", "NV-1", "customer:NV-1")] == [
        (e["operator"], e["customer_ref"], e["record"]) for e in exports
    ]
    assert "5 record(s)" in exports[0]["details"] and "chain intact" in exports[0]["details"]


def test_readme_and_index_give_the_chain_verified_at_export(h: ChainHarness) -> None:
    head = h.verify().head
    _, _, _, bundle = export(h)

    readme = (bundle / "README.txt").read_text()
    html = (bundle / "index.html").read_text()

    assert f"Evidence chain intact: 8 link(s), 0 purged, 8 raw file(s) checked; head {head}." in (
        readme
    )
    assert "sha256sum -c SHA256SUMS" in readme
    assert f"head {head}" in html and 'href="messages/1-breach-1.eml"' in html


def test_the_index_escapes_what_it_shows(h: ChainHarness) -> None:
    set_fields(h.app, "NV-1", customer_name="<script>alert(1)</script> Zoë")
    h.breach("NV-1", subject="<img src=x onerror=alert(2)>")

    _, _, _, bundle = export(h)
    html = (bundle / "index.html").read_text()

    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Zoë" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_cell_that_starts_like_a_formula_gets_an_apostrophe(start: str) -> None:
    assert f"'{start}1+2" == csv_cell(f"{start}1+2")


def test_plain_cells_are_left_alone() -> None:
    assert ["1", "", "Zoë", "a=b", "it's"] == [csv_cell(v) for v in (1, None, "Zoë", "a=b", "it's")]


def test_a_subject_that_is_a_formula_is_defused_in_index_csv(h: ChainHarness) -> None:
    h.breach("NV-1", subject='=HYPERLINK("http://evil.example","x")')

    _, _, _, bundle = export(h)

    subjects = [r["subject_key"] for r in rows(bundle / "index.csv")]
    assert '\'=hyperlink("http://evil.example","x") 7' in subjects


def test_an_altered_message_is_left_out_and_the_bundle_says_the_chain_is_broken(
    h: ChainHarness,
) -> None:
    sha = next(sha for (kind, _), sha in records(h, "NV-1").items() if kind == "letter")
    assert sha is not None
    path = h.raw_path(sha)
    path.chmod(0o600)
    path.write_bytes(path.read_bytes() + b"\r\nP.S. added later\r\n")

    code, _, err, bundle = export(h)

    letter_row = next(r for r in rows(bundle / "index.csv") if r["kind"] == "letter")
    assert 0 == code
    assert ("", "the raw message in the evidence store has been altered: not included") == (
        letter_row["file"],
        letter_row["note"],
    )
    assert not list((bundle / "messages").glob("*-letter-*"))
    html = (bundle / "index.html").read_text()
    assert '<span class="problem">the raw message in the evidence store has been altered' in html
    assert "Evidence chain BROKEN at letter 1" in (bundle / "README.txt").read_text()
    assert "1 record(s) have no intact raw message" in err and "chain is broken" in err


def test_export_refuses_a_file_a_non_empty_folder_and_an_unknown_customer(
    h: ChainHarness,
) -> None:
    (h.root / "a-file").write_text("x")
    (h.root / "full").mkdir()
    (h.root / "full" / "old.txt").write_text("x")

    as_file = export(h, name="a-file")
    full = export(h, name="full")
    unknown = export(h, ref="NV-404", name="new")

    assert (1, True) == (as_file[0], "a-file is a file" in as_file[2])
    assert (1, True) == (full[0], "full is not empty" in full[2])
    assert (1, True) == (unknown[0], "no customer with reference NV-404" in unknown[2])
    assert not (h.root / "new").exists()
    _, listed, _ = h.cli("audit", "list", "--json")
    assert not [e for e in json.loads(listed) if e["action"] == "evidence.export"]


def test_an_empty_existing_folder_is_used_and_the_reference_ignores_case(
    h: ChainHarness,
) -> None:
    (h.root / "empty").mkdir()

    code, out, err, _ = export(h, ref="nv-2", name="empty")

    assert (0, True) == (code, "evidence of NV-2" in out), err
