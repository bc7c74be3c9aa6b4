"""Subject access (UK GDPR art. 15): every record about one customer, as a zip that a person
can read (``index.html``) and a program can read (``data.json``), with the raw messages.

The records are those :func:`bot.person_data.records_about` finds (the same ones an erasure
deletes), every column of each, restricted ones included (the reasons and support needs are
the person's own data).  Staff names are kept.  Every other registered customer's name,
reference and email addresses are replaced by "[another customer]" everywhere in the export,
the copies of the raw messages included (header values and text parts decoded for the
search); the originals in the evidence store are never altered.  Parts that could not be
searched (attachments) are listed on the summary page.  The copies are named by number and
record (``messages/03-breach-12.eml``), never by the original's SHA-256: ``data.json`` gives
the copy's hash and the evidence original's, and says when the copy was redacted (so the two
differ).

The summary gives the purposes of processing (policy), the recipients, the retention period
and the person's rights.  The zip is written owner-only (:mod:`bot.private_files`) and the
export is audited (``sar.export``).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import audit
from bot.config import Settings
from bot.erasure import kept_until
from bot.errors import DomainError
from bot.evidence import EvidenceError, EvidenceStore
from bot.outbox import (
    BREACH_FORWARD,
    COVER_FORWARD,
    EMERGENCY_FORWARD,
    EMERGENCY_ROUTE,
    SCREENING_FORWARD,
)
from bot.partner_entries import PARTNER
from bot.person_data import (
    PersonRecords,
    find_customer,
    former_identifiers,
    identifiers,
    not_found,
    records_about,
)
from bot.private_files import private_file
from bot.redaction import Redactor
from bot.store import models as m
from bot.templating import Templates

ANOTHER = "[another customer]"
_TO_STAFF = frozenset(
    {BREACH_FORWARD, COVER_FORWARD, EMERGENCY_FORWARD, EMERGENCY_ROUTE, SCREENING_FORWARD}
)
"""Outbox kinds sent to staff (forwards), not to the customer."""
PURPOSES = (
    "To run the Single Point of Contact arrangement agreed for you (policy §4): recognising "
    "your emails by their addresses, sending them to your named officer (SPOC) or, while they "
    "are away, the cover officer, and keeping a record of contact that did not use the agreed "
    "route.",
    "To record the arrangement's decisions, reviews and appeals, and to send you the letters "
    "about them (policy §4.1, appendices A and B).",
    "To consider your support needs and our equality duties, so that any restriction stays "
    "proportionate and an emergency is never lost (policy §1).",
    "To tell the partner council's contact centre that an arrangement exists, under a data "
    "sharing agreement: the arrangement and how to contact your officer, never the reasons "
    "(policy §7).",
    "To keep the records factual and protected, and to delete them once the retention period "
    "after the arrangement's end has passed (policy §8).",
)
_SHARING_PURPOSE_START = "To tell the partner council's contact centre"
PARTNER_PURPOSE = (
    "To route your emails to us as {partner}'s arrangement for you says, which {partner} "
    "shared with us under a data sharing agreement (policy §7)."
)
"""For a partner entry (`share import`), in place of the sharing purpose."""
RIGHTS = (
    "You may ask for inaccurate or incomplete information to be corrected (UK GDPR art. 16).",
    "You may ask for your information to be erased (art. 17); we keep it while the arrangement "
    "is in force and for the retention period after it ends, then delete it.",
    "You may complain to the Information Commissioner's Office (ICO): ico.org.uk/make-a-complaint, "
    "telephone 0303 123 1113.",
)


class SarError(DomainError):
    """A subject access export that cannot be made; the message says why."""


@dataclass(frozen=True)
class SarResult:
    path: Path
    sections: dict[str, int]
    messages: int
    unchecked: tuple[str, ...]


def _row(obj: object, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a row."""
    return {
        attr.key: getattr(obj, attr.key)
        for attr in inspect(type(obj)).column_attrs
        if attr.key not in leave_out
    }


def _officer(officer: m.Officer | None) -> dict[str, str] | None:
    return None if officer is None else {"name": officer.name, "email": officer.email}


def collect(session: Session, evidence: EvidenceStore, records: PersonRecords) -> dict[str, Any]:
    """The export's records, as data (times as aware datetimes)."""
    customer, arrangement = records.customer, records.arrangement
    data: dict[str, Any] = {
        "customer": {
            **_row(customer),
            "emails": [_row(e, leave_out=("customer_id",)) for e in customer.emails],
            "former_names_and_addresses": [
                _row(f, leave_out=("customer_id",)) for f in customer.former
            ],
        },
        "arrangement": None,
        "arrangement_events": [],
        "appeals": [],
    }
    if arrangement is not None:
        data["arrangement"] = {
            **_row(arrangement),
            "spoc": _officer(arrangement.spoc),
            "cover": _officer(arrangement.cover),
            "permitted_addresses": [p.address for p in arrangement.permitted],
        }
        data["arrangement_events"] = [
            {**_row(e), "officer": _officer(e.officer)} for e in arrangement.events
        ]
        data["appeals"] = [_row(a) for a in arrangement.appeals]
    data["breaches"] = [
        {
            **_row(b),
            "mailboxes": sorted({s.mailbox for s in b.sightings}),
            "sightings": [_row(s, leave_out=("breach_id",)) for s in b.sightings],
        }
        for b in records.breaches
    ]
    data["contacts"] = [_row(c) for c in records.contacts]
    data["letters"] = [_row(letter) for letter in records.letters]
    data["forwards_and_acknowledgements"] = [_row(o) for o in records.outbox]
    data["notices_mentioning_you"] = [_row(o) for o in records.notices_mentioning]
    data["reminders"] = [_row(r) for r in records.reminders]
    data["flag_tasks"] = [_row(t) for t in records.flag_tasks]
    data["review_items"] = [_row(r) for r in records.review_items]
    # Items naming them among other candidates: theirs in part, without the others.
    data["review_items_naming_you_among_others"] = [
        {**_row(r), "candidates": customer.ref} for r in records.review_candidate_of
    ]
    data["quarantine"] = [_row(q) for q in records.quarantine]
    data["processed_messages"] = [_row(p) for p in records.processed]
    data["audit_events"] = [_row(e) for e in records.audit_events]
    return data


def _other_customers(session: Session, records: PersonRecords) -> Redactor:
    """Everyone else in the register, except where their details are also the subject's or a
    staff member's (which stay)."""
    own = {t.casefold() for t in identifiers(records.customer)}
    staff = {
        t.casefold()
        for name, email in session.execute(select(m.Officer.name, m.Officer.email))
        for t in (name, email)
    }
    former = former_identifiers(session)
    terms: list[str] = []
    for other in session.scalars(select(m.Customer).where(m.Customer.id != records.customer.id)):
        theirs = [*identifiers(other), *former.get(other.ref, [])]
        terms += [t for t in theirs if t.casefold() not in own | staff]
    return Redactor(terms, ANOTHER)


def _summary(
    session: Session, records: PersonRecords, settings: Settings, today: date
) -> dict[str, Any]:
    customer, arrangement = records.customer, records.arrangement
    officers: dict[str, str] = {}
    if arrangement is not None:
        for officer in (arrangement.spoc, arrangement.cover):
            if officer is not None:
                officers[officer.email] = officer.name
        for event in arrangement.events:
            if event.officer is not None:
                officers[event.officer.email] = event.officer.name
    org = settings.organisation
    forwarded = {
        o.recipient_email: o.recipient_name
        for o in records.outbox
        if o.kind in _TO_STAFF and o.recipient_email not in officers
    }
    recipients = [
        f"{name} <{email}> (SPOC or cover officer)" for email, name in sorted(officers.items())
    ]
    recipients += [
        f"{name} <{email}> (sent a copy of your message)"
        for email, name in sorted(forwarded.items())
        if email != org.dmo_email
    ]
    recipients.append(f"the Data Management Officer <{org.dmo_email}> ({org.name})")
    shared = session.scalar(
        select(m.AuditEvent.id).where(
            m.AuditEvent.customer_ref == customer.ref, m.AuditEvent.action == "share.export"
        )
    )
    if shared is not None:
        recipients.append(
            f"{settings.sharing.partner_name} (contact centre, under the data sharing agreement)"
        )
    months = settings.retention.months_after_end
    retention = (
        f"Records are kept while the arrangement is in force and for {months} months after it "
        "ends, then deleted (policy §8)."
    )
    if arrangement is not None and arrangement.ended_on is not None:
        until = kept_until(arrangement.ended_on, months)
        retention += (
            f" The arrangement ended on {arrangement.ended_on}: the records are kept until "
            f"{until} and deleted after that date."
        )
    partner = customer.partner or settings.sharing.partner_name or "the partner council"
    if customer.source == PARTNER:
        source = (
            f"The records come from {partner}'s arrangement for you, which {partner} shared "
            f"with {org.name} under the data sharing agreement (policy §7), and from the "
            f"messages {org.name}'s mailboxes received; {org.name} cannot change that "
            f"arrangement: ask {partner} to correct it."
        )
        purposes = [
            PARTNER_PURPOSE.format(partner=partner),
            *(p for p in PURPOSES if not p.startswith(_SHARING_PURPOSE_START)),
        ]
    else:
        source = f"The records come from {org.name}'s register and its mailboxes."
        purposes = list(PURPOSES)
    return {
        "organisation": org.name,
        "customer_ref": customer.ref,
        "as_of": today.isoformat(),
        "source": source,
        "purposes": purposes,
        "recipients": recipients,
        "retention": retention,
        "rights": [
            *RIGHTS,
            f"Requests about these records: the Data Management Officer, {org.dmo_email}.",
        ],
    }


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _display(value: Any, zone: ZoneInfo) -> Any:
    """A value as the HTML page shows it: times in the organisation's zone."""
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_display(v, zone)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(_display(v, zone)) for v in value)
    if value is None or value == "":
        return "-"
    return value


def _section(rows: list[dict[str, Any]] | dict[str, Any] | None, zone: ZoneInfo) -> dict[str, Any]:
    listed = [] if rows is None else [rows] if isinstance(rows, dict) else rows
    columns: list[str] = []
    for row in listed:
        columns += [k for k in row if k not in columns]
    return {
        "columns": columns,
        "rows": [[_display(row.get(c), zone) for c in columns] for row in listed],
    }


def export(
    factory: sessionmaker[Session],
    evidence: EvidenceStore,
    settings: Settings,
    templates: Templates,
    ref: str,
    out: Path,
    *,
    operator: str,
    now: datetime,
    force: bool = False,
) -> SarResult:
    """Write the subject access export for customer ``ref`` to ``out`` (a .zip)."""
    if out.suffix.lower() != ".zip":
        raise SarError(f"--out {out}: give a .zip file name")
    if out.exists() and not force:
        raise SarError(f"{out} exists already: choose another name, or give --force to replace it")
    zone = ZoneInfo(settings.organisation.timezone)
    today = now.astimezone(zone).date()
    with factory.begin() as session:
        customer = find_customer(session, ref)
        if customer is None:
            raise SarError(not_found(ref))
        ref = customer.ref
        records = records_about(session, evidence, customer)
        others = _other_customers(session, records)
        data = collect(session, evidence, records)
        summary = _summary(session, records, settings, today)
        messages: list[tuple[str, bytes, dict[str, Any]]] = []
        unchecked: list[str] = []
        about = _about_hashes(records)
        for number, (sha256, what) in enumerate(about.items(), start=1):
            name = f"messages/{number:02d}-{_slug(what[0])}.eml"
            entry: dict[str, Any] = {"file": name, "about": what}
            try:
                redacted = others.message(evidence.get(sha256))
            except EvidenceError as exc:
                entry |= {"sha256": None, "evidence_sha256": sha256, "missing": str(exc)}
                unchecked.append(f"{name}: the stored message is missing or damaged")
                messages.append((name, b"", entry))
                continue
            entry |= _copy_description(redacted.raw, sha256, redacted.changed)
            entry["not_checked"] = list(redacted.unchecked)
            unchecked += [f"{name}: {part}" for part in redacted.unchecked]
            messages.append((name, redacted.raw, entry))
        data["raw_messages"] = [entry for _, _, entry in messages]
        summary["not_checked_for_other_customers"] = unchecked
        data = {"summary": summary, **data}
        cleaned = others.data(data)
        assert isinstance(cleaned, dict)
        sections = {k: v for k, v in cleaned.items() if k != "summary"}
        page = templates.render(
            "sar/index.html.j2",
            summary=cleaned["summary"],
            generated=now.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
            sections=[(k.replace("_", " "), _section(v, zone)) for k, v in sections.items()],
        )
        counts = {
            k: (len(v) if isinstance(v, list) else int(v is not None)) for k, v in sections.items()
        }
        try:
            with (
                private_file(out) as handle,
                zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive,
            ):
                archive.writestr("index.html", page)
                archive.writestr(
                    "data.json",
                    json.dumps(cleaned, indent=2, ensure_ascii=False, default=_json_default),
                )
                for name, raw, _ in messages:
                    if raw:
                        archive.writestr(name, raw)
        except OSError as exc:
            raise SarError(f"cannot write {out}: {exc.strerror or exc}") from None
        audit(
            session,
            operator,
            "sar.export",
            f"customer:{ref}",
            customer_ref=ref,
            details=f"to {out.name}: "
            + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            + (f"; {len(unchecked)} part(s) not checked for other customers" if unchecked else ""),
            at=now,
        )
    return SarResult(out, counts, sum(1 for _, raw, _ in messages if raw), tuple(unchecked))


def _slug(what: str) -> str:
    """``breach 12`` -> ``breach-12``: a file name part."""
    return re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-") or "message"


def _copy_description(raw: bytes, evidence_sha256: str, redacted: bool) -> dict[str, Any]:
    """How the copy in the zip relates to the evidence original: both hashes, and whether
    it differs because other customers' details were removed."""
    return {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "evidence_sha256": evidence_sha256,
        "redacted": redacted,
        "copy": (
            "a redacted copy: other customers' details were removed, so it differs from the "
            "evidence original, whose SHA-256 is evidence_sha256"
            if redacted
            else "an exact copy of the evidence original (the two SHA-256 are the same)"
        ),
    }


def _about_hashes(records: PersonRecords) -> dict[str, list[str]]:
    """Each raw message of the export, with the records it belongs to."""
    about: dict[str, list[str]] = {}

    def add(sha256: str | None, what: str) -> None:
        if sha256:
            about.setdefault(sha256, []).append(what)

    for b in records.breaches:
        add(b.sha256, f"breach {b.id}")
    for c in records.contacts:
        add(c.sha256, f"contact {c.id}")
    for letter in records.letters:
        add(letter.sha256, f"letter {letter.id}")
    for o in [*records.outbox, *records.notices_mentioning]:
        add(o.original_sha256, f"{o.kind} {o.id}")
    for r in [*records.review_items, *records.review_candidate_of]:
        add(r.sha256, f"review item {r.id}")
    for q in records.quarantine:
        add(q.sha256, f"quarantined message {q.id}")
    return about
