"""Subject access export (UK GDPR art. 15): every kind of record about the person is in the
zip, readable (HTML) and for programs (JSON), with staff names kept and every other
customer's name, reference and address removed from every file, encoded message parts
included; the summary names the partner council when the arrangement was shared; the zip
is owner-only, never silently overwritten, and audited."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from base64 import b64encode
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import sar
from bot.store import models as m
from tests.privacytest import ERIN, KIM, KIM_TERMS, populated, readable
from tests.schedtest import Harness

# Kim named in a quoted-printable part with a soft line break inside her name, and in a
# base64 HTML part: a search of the raw bytes alone would miss both.
ENCODED = (
    b"From: Erin Quill <erin.quill@mail.example>\r\nTo: spoc@homes.example\r\n"
    b"Cc: =?utf-8?q?Kim_Oakes?= <kim.oakes@mail.example>\r\n"
    b"Subject: About my neighbour\r\nMessage-ID: <e9@mail.example>\r\n"
    b"Date: Thu, 3 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"My neighbour Kim Oa=\r\nkes (KEEP-2) is noisy.\r\n"
    b"--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + b64encode(b"<p>Ask Kim Oakes, kim.oakes@mail.example</p>")
    + b"\r\n--b1\r\nContent-Type: application/pdf; name=photo.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + b64encode(b"%PDF-1.4 not text")
    + b"\r\n--b1--\r\n"
)
NOW = datetime.fromisoformat("2026-12-05T10:00:00+00:00")


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    h = populated(tmp_path)
    with h.app.factory.begin() as session:
        erin = session.scalars(select(m.Customer).where(m.Customer.ref == ERIN)).one()
        session.add(
            m.Contact(
                customer_id=erin.id,
                message_id="<e9@mail.example>",
                kind="permitted",
                mailbox="spoc@homes.example",
                received_at=NOW,
                reason="to the SPOC",
                sha256=h.app.evidence.put(ENCODED),
            )
        )
    return h


def export(h: Harness, out: Path, force: bool = False, ref: str = ERIN) -> sar.SarResult:
    return sar.export(
        h.app.factory,
        h.app.evidence,
        h.app.settings,
        h.app.templates,
        ref,
        out,
        operator="dmo",
        now=NOW,
        force=force,
    )


def contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_every_kind_of_record_is_in_the_json(h: Harness, tmp_path: Path) -> None:
    export(h, tmp_path / "sar.zip")

    data = json.loads(contents(tmp_path / "sar.zip")["data.json"])
    kinds = [
        "arrangement_events",
        "appeals",
        "breaches",
        "contacts",
        "letters",
        "forwards_and_acknowledgements",
        "notices_mentioning_you",
        "reminders",
        "flag_tasks",
        "review_items",
        "quarantine",
        "processed_messages",
        "audit_events",
        "raw_messages",
    ]
    assert ([], "Erin Quill", "ZEBRA reasons", ["info@homes.example"]) == (
        [k for k in kinds if not data[k]],
        data["customer"]["name"],
        data["arrangement_events"][0]["reasons"],
        data["breaches"][0]["mailboxes"],
    )


def test_no_file_in_the_zip_mentions_another_customer(h: Harness, tmp_path: Path) -> None:
    export(h, tmp_path / "sar.zip")

    files = contents(tmp_path / "sar.zip")
    assert (True, []) == (
        len([n for n in files if n.endswith(".eml")]) >= 6,
        [n for n, raw in files.items() if any(t in readable(raw) for t in KIM_TERMS)],
    )


def test_the_evidence_originals_are_not_altered(h: Harness, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in h.app.evidence.root.rglob("*.eml")}

    export(h, tmp_path / "sar.zip")

    assert before == {p: p.read_bytes() for p in h.app.evidence.root.rglob("*.eml")}


def test_staff_names_stay_and_times_are_shown_in_uk_time(h: Harness, tmp_path: Path) -> None:
    export(h, tmp_path / "sar.zip")

    page = contents(tmp_path / "sar.zip")["index.html"].decode()
    assert (True, True, True) == ("Sam Spoc" in page, "Dee Manager" in page, " GMT" in page)


def test_the_summary_names_the_partner_council_and_the_rights(h: Harness, tmp_path: Path) -> None:
    export(h, tmp_path / "sar.zip")

    summary = json.loads(contents(tmp_path / "sar.zip")["data.json"])["summary"]
    assert (True, True, True) == (
        any("Vale Council" in r for r in summary["recipients"]),
        "6 months after it ends" in summary["retention"],
        any("Information Commissioner" in r for r in summary["rights"]),
    )


def test_the_summary_lists_the_attachment_it_could_not_check(h: Harness, tmp_path: Path) -> None:
    result = export(h, tmp_path / "sar.zip")

    [encoded] = [
        entry["file"]
        for entry in json.loads(contents(tmp_path / "sar.zip")["data.json"])["raw_messages"]
        if entry["evidence_sha256"] == hashlib.sha256(ENCODED).hexdigest()
    ]
    assert [f"{encoded}: part 4 (application/pdf): not text"] == [
        part for part in result.unchecked if part.startswith(encoded)
    ]


def test_without_sharing_the_partner_is_not_a_recipient(h: Harness, tmp_path: Path) -> None:
    export(h, tmp_path / "kim.zip", ref=KIM)  # only Erin's arrangement was shared

    summary = json.loads(contents(tmp_path / "kim.zip")["data.json"])["summary"]
    assert [False, True] == [
        any("Vale Council" in r for r in summary["recipients"]),
        any("Sam Spoc" in r for r in summary["recipients"]),
    ]


def test_the_zip_is_owner_only_and_audited(h: Harness, tmp_path: Path) -> None:
    export(h, tmp_path / "sar.zip")

    with h.app.factory() as session:
        events = list(
            session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "sar.export"))
        )
    assert (0o600, [ERIN]) == (
        stat.S_IMODE((tmp_path / "sar.zip").stat().st_mode),
        [e.customer_ref for e in events],
    )


def test_an_existing_file_is_not_replaced_without_force(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "sar.zip").write_bytes(b"keep me")

    with pytest.raises(sar.SarError, match="exists already"):
        export(h, tmp_path / "sar.zip")
    export(h, tmp_path / "sar.zip", force=True)

    assert "index.html" in contents(tmp_path / "sar.zip")


def test_a_partner_entrys_summary_says_the_records_come_from_the_partners_arrangement(
    h: Harness, tmp_path: Path
) -> None:
    with h.app.factory.begin() as session:
        erin = session.scalars(select(m.Customer).where(m.Customer.ref == ERIN)).one()
        erin.source, erin.partner = "partner", "Dale District Council"

    export(h, tmp_path / "sar.zip")

    files = contents(tmp_path / "sar.zip")
    summary = json.loads(files["data.json"])["summary"]
    page = files["index.html"].decode()
    assert (True, False, False, True) == (
        summary["source"].startswith("The records come from Dale District Council's arrangement"),
        "register" in summary["source"],
        "register and its mailboxes" in page,
        any("Dale District Council's arrangement" in p for p in summary["purposes"]),
    )


def test_message_copies_are_named_by_number_and_kind_with_both_hashes(
    h: Harness, tmp_path: Path
) -> None:
    """A redacted copy must not carry the original's SHA-256 as if it were the original:
    whoever checks the hash would conclude the evidence was tampered with."""
    export(h, tmp_path / "sar.zip")

    files = contents(tmp_path / "sar.zip")
    entries = json.loads(files["data.json"])["raw_messages"]
    [redacted] = [e for e in entries if e["evidence_sha256"] == hashlib.sha256(ENCODED).hexdigest()]
    exact = [e for e in entries if not e["redacted"]]
    assert (True, True, True, True) == (
        all(re.fullmatch(r"messages/\d{2}-[a-z0-9-]+-\d+\.eml", e["file"]) for e in entries),
        redacted["sha256"]
        == hashlib.sha256(files[redacted["file"]]).hexdigest()
        != redacted["evidence_sha256"],
        "other customers' details were removed" in redacted["copy"],
        bool(exact)
        and all(
            e["sha256"] == e["evidence_sha256"] == hashlib.sha256(files[e["file"]]).hexdigest()
            for e in exact
        ),
    )
    assert re.search(r"messages/\d{2}-contact-\d+\.eml", redacted["file"])
    assert "not a sign of tampering" in files["index.html"].decode()


def test_review_items_about_them_are_in_the_export_as_the_erasure_selects_them(
    h: Harness, tmp_path: Path
) -> None:
    """The item naming only her is hers; the one naming Kim too is listed without Kim."""
    from bot.person_data import find_customer, records_about

    export(h, tmp_path / "sar.zip")

    files = contents(tmp_path / "sar.zip")
    data = json.loads(files["data.json"])
    with h.app.factory() as session:
        customer = find_customer(session, ERIN)
        assert customer is not None
        records = records_about(session, h.app.evidence, customer)
        selected = (
            [r.id for r in records.review_items],
            [r.id for r in records.review_candidate_of],
        )
    exported = (
        [r["id"] for r in data["review_items"]],
        [r["id"] for r in data["review_items_naming_you_among_others"]],
    )
    about = [a for e in data["raw_messages"] for a in e["about"]]
    assert (selected, True, [ERIN], True) == (
        exported,
        "<x2@elsewhere.example>" in [r["message_id"] for r in data["review_items"]],
        [r["candidates"] for r in data["review_items_naming_you_among_others"]],
        all(f"review item {i}" in about for i in selected[0] + selected[1] if i),
    )
