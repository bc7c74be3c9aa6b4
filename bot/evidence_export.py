"""One customer's evidence as a bundle an ombudsman can read without spocbot.

The bundle is a folder (owner-only, see :mod:`bot.private_files`):

* ``index.html`` and ``index.csv``: every breach, contact and letter, oldest first, with its
  date (Europe/London), kind, reason, mailboxes, subject key, message file and hashes;
* ``messages/<n>-<kind>-<id>.eml``: each raw message byte for byte from the evidence store,
  checked against its SHA-256 first (a file missing or altered is left out, and the index says
  so);
* ``chain.csv``: the customer's links of the evidence chain, with each link's salt and the
  canonical content it hashes, so that anyone can recompute them with ``sha256sum``;
* ``README.txt``: how to check it, and the result of verifying the whole chain at export.

:func:`build_rows` and :func:`csv_cell` are pure; :func:`export_bundle` reads the database and
writes the folder.  Other customers' links are not in the bundle (their salts would let their
hashes be tested against guesses); the whole chain's verification and its head stand for them.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.audit import audit
from bot.errors import DomainError
from bot.evidence import EvidenceStore
from bot.evidence_chain import (
    GENESIS,
    LINK_SEPARATOR,
    VerifyReport,
    canonical,
    record_fields,
    verify,
)
from bot.private_files import private_dir, write_private
from bot.store import models as m
from bot.templating import Templates

NOT_INCLUDED = ": not included"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

INDEX_COLUMNS = (
    "number",
    "date",
    "recorded",
    "kind",
    "type",
    "record_id",
    "reason",
    "mailboxes",
    "subject_key",
    "message_id",
    "file",
    "sha256",
    "note",
    "link_id",
    "content_hash",
    "raw_hash",
    "link_hash",
    "from",
    "subject",
)
CHAIN_COLUMNS = (
    "link_id",
    "record_kind",
    "record_id",
    "prev_hash",
    "link_hash",
    "content_hash",
    "raw_hash",
    "salt",
    "raw_sha256",
    "content",
)


class ExportError(DomainError):
    """The bundle cannot be written where it was asked for, or for whom."""


@dataclass(frozen=True)
class Entry:
    """One evidence record of the customer, as the bundle describes it."""

    kind: str  # breach, contact, letter
    record_id: int
    type: str  # the breach's rules, the contact's kind, the letter's kind
    date: datetime  # received (a message) or sent (a letter), UTC
    recorded: datetime
    reason: str
    mailboxes: str
    subject_key: str
    message_id: str
    sha256: str | None


@dataclass(frozen=True)
class Row:
    number: int
    entry: Entry
    file: str  # relative to the bundle, "" when no file is included
    note: str  # what is wrong with the raw file, if anything
    link: m.EvidenceLink | None
    sender: str = ""  # the message's From, as written in it (decoded)
    subject: str = ""  # its Subject, decoded


@dataclass(frozen=True)
class ExportResult:
    out: Path
    customer_ref: str
    records: int
    messages: int
    links: int
    not_included: int  # raw files missing or altered
    report: VerifyReport


# -- pure ------------------------------------------------------------------------------------


def csv_cell(value: Any) -> str:
    """A value for a CSV cell that a spreadsheet will not run: a leading apostrophe before
    anything that starts like a formula (= + - @, a tab or a carriage return)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8")


def message_file(number: int, entry: Entry) -> str:
    return f"messages/{number}-{entry.kind}-{entry.record_id}.eml"


def local(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


# -- reading the database --------------------------------------------------------------------


def customer_entries(session: Session, customer_id: int) -> list[Entry]:
    """The customer's breaches, contacts and letters, oldest first."""
    entries = [
        Entry(
            "breach",
            b.id,
            b.rules,
            b.received_at,
            b.created_at,
            b.reason,
            "; ".join(sorted({s.mailbox for s in b.sightings})),
            b.subject_key,
            b.message_id,
            b.sha256,
        )
        for b in session.scalars(
            select(m.Breach)
            .where(m.Breach.customer_id == customer_id)
            .options(selectinload(m.Breach.sightings))
        )
    ]
    entries += [
        Entry(
            "contact",
            c.id,
            c.kind,
            c.received_at,
            c.created_at,
            c.reason,
            c.mailbox,
            c.subject_key,
            c.message_id,
            c.sha256,
        )
        for c in session.scalars(select(m.Contact).where(m.Contact.customer_id == customer_id))
    ]
    entries += [
        Entry(
            "letter",
            letter.id,
            letter.kind,
            letter.created_at,
            letter.created_at,
            f"{letter.kind} letter sent by email by {letter.created_by}",
            f"to {letter.recipient_email}",
            "",
            "",
            letter.sha256,
        )
        for letter in session.scalars(select(m.Letter).where(m.Letter.customer_id == customer_id))
    ]
    order = {"breach": 0, "contact": 1, "letter": 2}
    return sorted(entries, key=lambda e: (e.date, order[e.kind], e.record_id))


def _customer(session: Session, ref: str) -> m.Customer:
    wanted = ref.strip()
    customer = session.scalars(select(m.Customer).where(m.Customer.ref == wanted)).first()
    if customer is None:  # as the register compares references: ignoring case
        customer = session.scalars(
            select(m.Customer).where(func.lower(m.Customer.ref) == wanted.lower())
        ).first()
    if customer is None:
        raise ExportError(f"no customer with reference {wanted} in the register")
    return customer


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file: give the name of a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise ExportError(
            f"{out} is not empty: give the name of a new or empty folder, so that the bundle "
            "holds nothing but this export"
        )


# -- writing the bundle ----------------------------------------------------------------------


def export_bundle(
    session: Session,
    evidence: EvidenceStore,
    templates: Templates,
    customer_ref: str,
    out: Path,
    *,
    zone: ZoneInfo,
    now: datetime,
    organisation: str,
) -> ExportResult:
    """Write the customer's bundle to ``out`` (a new or empty folder)."""
    _check_out(out)
    customer = _customer(session, customer_ref)
    report = verify(session, evidence)
    entries = customer_entries(session, customer.id)
    links = list(
        session.scalars(
            select(m.EvidenceLink)
            .where(m.EvidenceLink.customer_id == customer.id)
            .order_by(m.EvidenceLink.id)
        )
    )
    by_record = {(row.record_kind, row.record_id): row for row in links}
    private_dir(out)
    private_dir(out / "messages")
    rows: list[Row] = []
    for number, entry in enumerate(entries, start=1):
        file, note, data = _copy_message(evidence, out, number, entry)
        sender, subject = headline(data) if data else ("", "")
        link = by_record.get((entry.kind, entry.record_id))
        rows.append(Row(number, entry, file, note, link, sender, subject))
    chain = [_chain_row(session, row) for row in links]
    write_private(out / "index.csv", to_csv(INDEX_COLUMNS, (_index_row(r, zone) for r in rows)))
    write_private(out / "chain.csv", to_csv(CHAIN_COLUMNS, chain))
    sums = "".join(f"{r.entry.sha256}  {r.file}\n" for r in rows if r.file)
    write_private(out / "SHA256SUMS", sums.encode("ascii"))  # `sha256sum -c SHA256SUMS`
    context = {
        "organisation": organisation,
        "customer_ref": customer.ref,
        "customer_name": customer.name,
        "exported_at": local(now, zone),
        "zone": zone.key,
        "columns": INDEX_COLUMNS,
        "rows": [(_index_row(r, zone), _is_problem(r)) for r in rows],
        "report": report,
        "genesis": GENESIS,
        "separator": LINK_SEPARATOR,
    }
    html = templates.render("evidence/index.html.j2", **context)
    write_private(out / "index.html", html.encode("utf-8"))
    readme = templates.render("evidence/README.txt.j2", **context, links=len(links))
    write_private(out / "README.txt", readme.encode("utf-8"))
    return ExportResult(
        out,
        customer.ref,
        records=len(rows),
        messages=sum(1 for r in rows if r.file),
        links=len(links),
        not_included=sum(1 for r in rows if r.note.endswith(NOT_INCLUDED)),
        report=report,
    )


def _copy_message(
    evidence: EvidenceStore, out: Path, number: int, entry: Entry
) -> tuple[str, str, bytes]:
    """Copy the record's raw message into the bundle, if it is intact; (file, problem, the
    bytes copied)."""
    if entry.sha256 is None:
        return "", "no raw message was kept (decided on its headers alone)", b""
    try:
        data = evidence.path_for(entry.sha256).read_bytes()
    except OSError:
        return "", f"the raw message is missing from the evidence store{NOT_INCLUDED}", b""
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        return "", f"the raw message in the evidence store has been altered{NOT_INCLUDED}", b""
    name = message_file(number, entry)
    write_private(out / name, data)
    return name, "", data


def headline(raw: bytes) -> tuple[str, str]:
    """A message's From and Subject as a reader sees them (decoded, on one line); blank when
    they cannot be read.  The file itself is the evidence; this is only its label."""
    try:
        headers = BytesHeaderParser(policy=default).parsebytes(raw)
        return tuple(  # type: ignore[return-value]
            " ".join(str(headers.get(name, "")).split())[:300] for name in ("From", "Subject")
        )
    except Exception:  # a malformed header: the index shows none, the file is still there
        return "", ""


def _is_problem(row: Row) -> bool:
    """A raw message missing or altered, or a record outside the chain (not: no raw message
    was ever kept, as for a contact decided on its header alone)."""
    return row.note.endswith(NOT_INCLUDED) or row.link is None


def _index_row(row: Row, zone: ZoneInfo) -> list[Any]:
    e, link = row.entry, row.link
    return [
        row.number,
        local(e.date, zone),
        local(e.recorded, zone),
        e.kind,
        e.type,
        e.record_id,
        e.reason,
        e.mailboxes,
        e.subject_key,
        e.message_id,
        row.file,
        e.sha256 or "",
        row.note or ("" if link else "no link in the evidence chain"),
        link.id if link else "",
        link.content_hash if link else "",
        link.raw_hash if link else "",
        link.link_hash if link else "",
        row.sender,
        row.subject,
    ]


def _chain_row(session: Session, link: m.EvidenceLink) -> list[Any]:
    fields = record_fields(session, link.record_kind, link.record_id)
    return [
        link.id,
        link.record_kind,
        link.record_id,
        link.prev_hash,
        link.link_hash,
        link.content_hash,
        link.raw_hash,
        link.salt or "",
        (fields or {}).get("sha256") or "",
        canonical(fields) if fields is not None else "",
    ]


def export_audited(
    factory: sessionmaker[Session],
    evidence: EvidenceStore,
    templates: Templates,
    customer_ref: str,
    out: Path,
    *,
    zone: ZoneInfo,
    now: datetime,
    organisation: str,
    operator: str,
) -> ExportResult:
    """`evidence export`: the bundle, and its audit event in the same transaction."""
    with factory.begin() as session:
        result = export_bundle(
            session,
            evidence,
            templates,
            customer_ref,
            out,
            zone=zone,
            now=now,
            organisation=organisation,
        )
        audit(
            session,
            operator,
            "evidence.export",
            f"customer:{result.customer_ref}",
            customer_ref=result.customer_ref,
            details=f"{result.records} record(s), {result.messages} message file(s), "
            f"{result.links} chain link(s) to {out}; chain "
            + ("intact" if result.report.ok else "BROKEN")
            + f", head {result.report.head}",
            at=now,
        )
    return result
