"""Sharing arrangements with the partner council (policy §7, data sharing agreement).

:func:`export_shared` writes the **need-to-know view** of our arrangements in force for the
partner's contact centre: who the customer is, who their SPOC and cover officer are and how to
reach them, what is restricted (in the plain words the letters use), office visits and the
review date; never the reasons, the support needs or the change required.  The same file also
carries the register's machine-readable restriction columns, so that the partner's own spocbot
can import it and route the customer's mail the same way.

:func:`import_shared` reads that format from the partner: their own arrangements for housing
customers.  They are stored as customers with ``source = "partner"`` (read-only here: see
:func:`refuse_partner`), with their officers and permitted addresses, so that the watcher and
the decision core route them exactly as ours.  Re-importing replaces the partner's set; an
arrangement missing from the new file is ended (status ``ceased``, ``ended_on`` today), not
deleted: its evidence stays until retention purges it.  A file that would end more than half
of the partner's arrangements in force (a partial or empty export, most likely) is refused
unless the operator confirms the ending; ``dry_run`` reports the change and stores nothing.

Every cell written starts with no formula character (``= + - @``, tab, CR): such a value gets
a leading apostrophe, as the register export does, and the import removes it again, so that
even an address such as ``-jo@example.org`` (a valid one) comes back unchanged.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.audit import audit, current_operator
from bot.errors import DomainError
from bot.flag_tasks import sync_flag_tasks
from bot.letters import wording
from bot.partner_entries import PARTNER, PartnerEntryError, read_only_message, refuse_partner
from bot.private_files import private_file
from bot.register_file import (
    RegisterFileError,
    RegisterRow,
    RowError,
    _escape,
    read_register,
)
from bot.register_service import _apply_row, register_rows, stored_entries
from bot.store import models as m
from mailbox_rules.envelope import normalise_address
from mailbox_rules.register import ArrangementStatus, in_domains

SHARED_STATUSES = (ArrangementStatus.ACTIVE, ArrangementStatus.CEASE_AND_DESIST)
"""The arrangements the partner is told of: those in force.  The warning stage is left out: no
restriction applies yet, so the partner's contact centre has nothing to enforce and no need
to know (data minimisation, UK GDPR art. 5(1)(c))."""
PLAIN_WORDS = "restrictions"
"""The column of the restrictions in plain words, for people: ignored by the import, which
reads the machine-readable columns instead."""
COLUMNS = (
    "customer_ref",
    "customer_name",
    "customer_emails",
    "spoc_name",
    "spoc_email",
    "spoc_phone",
    "cover_name",
    "cover_email",
    "cover_phone",
    "restricted_to",
    PLAIN_WORDS,
    "office_visits",
    "status",
    "start_date",
    "review_date",
    # Machine-readable, as the register file writes them: the partner's spocbot routes by them.
    "channels",
    "contact_hours",
    "max_contacts",
    "max_issues",
    "subject_matters",
    "representative_emails",
    "acknowledge",
)
NEVER_SHARED = frozenset({"reasons", "support_needs", "change_required", "customer_address"})
"""Need-to-know (policy §1): the partner is told the arrangement, not the reasons for it."""


__all__ = [
    "COLUMNS",
    "NEVER_SHARED",
    "EndingTooManyError",
    "PartnerEntryError",
    "SharingError",
    "export_shared",
    "import_shared",
    "read_only_message",
    "refuse_partner",
]


class SharingError(DomainError):
    """A share export or import that was refused; the message says why."""


# -- export ---------------------------------------------------------------------------------


def shared_line(row: RegisterRow) -> dict[str, str]:
    """One register row as the partner sees it (every column of :data:`COLUMNS`)."""
    sentences = wording.restrictions(
        spoc_name=row.spoc_name,
        channels_text=";".join(row.channels),
        contact_hours_text=str(row.contact_hours or ""),
        max_contacts=str(row.max_contacts or ""),
        max_issues=str(row.max_issues or ""),
        subject_matters=";".join(row.subject_matters),
        office_visits=row.office_visits,
        permitted=list(row.restricted_to),
        cease_and_desist=row.status is ArrangementStatus.CEASE_AND_DESIST,
        third_person=True,
    )
    return {
        "customer_ref": row.customer_ref,
        "customer_name": row.customer_name,
        "customer_emails": ";".join(row.customer_emails),
        "spoc_name": row.spoc_name,
        "spoc_email": row.spoc_email,
        "spoc_phone": row.spoc_phone,
        "cover_name": row.cover_name or "",
        "cover_email": row.cover_email or "",
        "cover_phone": row.cover_phone,
        "restricted_to": ";".join(row.restricted_to),
        PLAIN_WORDS: " ".join(sentences),
        "office_visits": row.office_visits,
        "status": row.status.value,
        "start_date": row.start_date.isoformat(),
        "review_date": row.review_date.isoformat(),
        "channels": ";".join(row.channels),
        "contact_hours": str(row.contact_hours or ""),
        "max_contacts": str(row.max_contacts or ""),
        "max_issues": str(row.max_issues or ""),
        "subject_matters": ";".join(row.subject_matters),
        "representative_emails": ";".join(row.representative_emails),
        "acknowledge": "yes" if row.acknowledge else "no",
    }


def export_shared(
    factory: sessionmaker[Session],
    path: Path,
    *,
    partner: str,
    force: bool = False,
    operator: str | None = None,
) -> int:
    """Write the partner's view of our arrangements in force to ``path`` (CSV, owner-only);
    the number of customers shared.  Audited: one ``share.export`` event per customer, naming
    the partner, and a summary."""
    if path.suffix.lower() != ".csv":
        raise SharingError(f"cannot export to {path}: the partner's file is CSV (name it .csv)")
    if path.exists() and not force:
        raise SharingError(f"{path} already exists: give another name, or --force to replace it")
    if path.is_dir():
        raise SharingError(f"{path} is a folder")
    operator = current_operator(operator)
    with factory.begin() as session:
        rows = [r for r in register_rows(session, source="register") if r.status in SHARED_STATUSES]
        try:
            with private_file(path, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                for row in rows:
                    line = shared_line(row)
                    writer.writerow([_escape(line[c]) for c in COLUMNS])
        except OSError as exc:
            raise SharingError(f"cannot write {path}: {exc.strerror or exc}") from None
        for row in rows:
            audit(
                session,
                operator,
                "share.export",
                f"share_file:{path.name}"[:200],
                customer_ref=row.customer_ref,
                details=f"arrangement shared with {partner} (need-to-know view)",
            )
        audit(
            session,
            operator,
            "share.export.summary",
            f"share_file:{path.name}"[:200],
            details=f"{len(rows)} arrangement(s) shared with {partner}",
        )
    return len(rows)


# -- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareImportResult:
    partner: str
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    """References already in the partner's set whose entry the file changed."""
    unchanged: tuple[str, ...] = ()
    """References already in the partner's set, exactly as the file has them."""
    endings: tuple[tuple[str, str], ...] = ()
    """(reference, why) of each arrangement in force that the import ends today: missing
    from the new file, or given there as ``ceased``."""
    dry_run: bool = False
    """True when nothing was stored: what the import would do."""
    refusal: str | None = None
    """In a dry run, why the real import would be refused (see :class:`EndingTooManyError`)."""

    @property
    def ended(self) -> tuple[str, ...]:
        return tuple(ref for ref, _ in self.endings)


class EndingTooManyError(SharingError):
    """The file would end more than half of the partner's arrangements in force."""


def _refuse_restricted_columns(path: Path) -> None:
    """The partner's file may not hold what is never shared (reasons, support needs, the
    change required, postal addresses): we would be storing what we have no need to know."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError):
        return  # the register reader reports an unreadable file with its own message
    found = [c.strip().lower() for c in header if c.strip().lower() in NEVER_SHARED]
    if found:
        raise RegisterFileError(
            [
                RowError(
                    str(path),
                    1,
                    column,
                    "the partner's file may not hold this column: we are told the arrangement, "
                    "not the reasons, support needs, change required or postal address "
                    "(need-to-know, policy §1); ask the partner for their share export, or "
                    "remove the column",
                )
                for column in found
            ]
        )


def import_shared(
    factory: sessionmaker[Session],
    path: Path,
    *,
    partner: str,
    staff_addresses: Iterable[str],
    staff_domains: Iterable[str],
    topics: Iterable[str] = (),
    flag_systems: Sequence[str] | None = None,
    today: date,
    operator: str | None = None,
    dry_run: bool = False,
    confirm_ending: bool = False,
    not_officers: Mapping[str, str] | None = None,
) -> ShareImportResult:
    """Validate the partner's whole file, then replace their set in one transaction (all or
    nothing).  A problem is a :class:`RegisterFileError` naming file, row and column; so is a
    conflict with our own register (a reference, or a customer address, of ours).

    A file that would end more than half of the partner's arrangements in force raises
    :class:`EndingTooManyError` unless ``confirm_ending``: an export cut short must not end
    the rest.  With ``dry_run`` the same checks run and the result says what would change,
    but nothing is stored or audited."""
    if not partner.strip():
        raise SharingError("give the partner's name (--partner, or [sharing] partner_name)")
    if path.suffix.lower() != ".csv":
        raise RegisterFileError(
            [RowError(str(path), None, None, "the partner's file must be .csv")]
        )
    _refuse_restricted_columns(path)
    operator = current_operator(operator)
    staff_domains = tuple(d.lower() for d in staff_domains)
    with factory() as session:
        customers = session.scalars(
            select(m.Customer).options(
                selectinload(m.Customer.emails), selectinload(m.Customer.arrangement)
            )
        ).all()
        ours = {
            c.ref.casefold(): c for c in customers if c.source != PARTNER or c.partner != partner
        }
        theirs = {c.ref: c for c in customers if c.source == PARTNER and c.partner == partner}
        owners = {e.address: c.ref for c in customers for e in c.emails}
        for c in customers:
            if c.arrangement is not None:
                owners.update(
                    {a: c.ref for a in c.arrangement.representative_emails.split(";") if a}
                )
        officer_emails = set(session.scalars(select(m.Officer.email)))
        rows = read_register(
            path,
            staff_addresses=set(staff_addresses) | officer_emails,
            # The partner's officers are in the partner's domains, not ours: their addresses
            # are checked as addresses, and customers' against our staff domains below.
            staff_domains=(),
            existing_owner=owners,
            topics=topics,
            existing_refs=theirs,
            ignore_columns=(PLAIN_WORDS,),
            refused_refs={key: _collision(c.ref, c) for key, c in ours.items()},
            not_officers=not_officers,
            allow_empty=True,  # a partner with nothing in force (the guard below still applies)
        )
        errors = _conflicts(session, str(path), rows, staff_domains)
        if errors:
            raise RegisterFileError(errors)
        before = stored_entries(session, source=PARTNER)
        in_force_before = sorted(
            ref
            for ref, c in theirs.items()
            if c.arrangement is not None and c.arrangement.status != ArrangementStatus.CEASED.value
        )
        was_in_force = set(in_force_before)
        created: list[str] = []
        for row in rows:
            is_new, _ = _apply_row(session, row, today)
            customer = session.scalars(
                select(m.Customer).where(m.Customer.ref == row.customer_ref)
            ).one()
            customer.source, customer.partner = PARTNER, partner
            arrangement = customer.arrangement
            assert arrangement is not None
            if (
                arrangement.status == ArrangementStatus.CEASED.value
                and arrangement.ended_on is None
            ):
                arrangement.ended_on = today
            if row.status is ArrangementStatus.CEASED and row.customer_ref in was_in_force:
                arrangement.events.append(  # as for an entry missing from the file, below
                    m.ArrangementEvent(
                        kind="end",
                        on=today,
                        recorded_by=operator,
                        notes=f"ceased in {partner}'s shared file ({path.name})",
                    )
                )
            if is_new:
                created.append(row.customer_ref)
        in_file = {row.customer_ref for row in rows}
        endings = [
            (row.customer_ref, "ceased in the new file")
            for row in rows
            if row.status is ArrangementStatus.CEASED and row.customer_ref in was_in_force
        ]
        ended: list[str] = []
        for ref, customer in sorted(theirs.items()):
            arrangement = customer.arrangement
            if ref in in_file or arrangement is None:
                continue
            if arrangement.status != ArrangementStatus.CEASED.value:
                arrangement.status = ArrangementStatus.CEASED.value
                arrangement.ended_on = today
                arrangement.events.append(
                    m.ArrangementEvent(
                        kind="end",
                        on=today,
                        recorded_by=operator,
                        notes=f"no longer in {partner}'s shared file ({path.name})",
                    )
                )
                ended.append(ref)
        endings += [(ref, "not in the new file") for ref in ended]
        endings.sort()
        refusal = None
        if len(endings) * 2 > len(in_force_before) and not confirm_ending:
            refusal = _ending_too_many(path, partner, endings, len(in_force_before))
            if not dry_run:
                raise EndingTooManyError(
                    f"{refusal}: nothing was imported. If {partner} really ended them, run "
                    "again with --confirm-ending; --dry-run shows the whole change"
                )
        # Compare the entries now with before, as the register import does: a row the file
        # repeats exactly is unchanged, not updated.
        session.flush()
        session.expire_all()
        after = stored_entries(session, source=PARTNER)
        ending = {ref for ref, _ in endings}
        kept_as_was = [
            r.customer_ref
            for r in rows
            if r.customer_ref not in created and r.customer_ref not in ending
        ]
        updated = [ref for ref in kept_as_was if after[ref] != before[ref]]
        unchanged = [ref for ref in kept_as_was if after[ref] == before[ref]]
        result = ShareImportResult(
            partner,
            tuple(created),
            tuple(updated),
            tuple(unchanged),
            tuple(endings),
            dry_run,
            refusal,
        )
        if dry_run:
            session.rollback()
            return result
        record = f"share_file:{path.name}"[:200]
        for ref, what in [
            *((r, "new") for r in created),
            *((r, "updated") for r in updated),
            *((r, f"ended: {why}") for r, why in endings),
        ]:
            audit(
                session,
                operator,
                "share.import",
                record,
                customer_ref=ref,
                details=f"{partner}'s arrangement {what}",
            )
        audit(
            session,
            operator,
            "share.import.summary",
            record,
            details=(
                f"{partner}: {len(created)} new, {len(updated)} updated, "
                f"{len(unchanged)} unchanged, {len(endings)} ended"
            ),
        )
        if flag_systems is not None:
            sync_flag_tasks(session, flag_systems, today)
        session.commit()
    return result


def _ending_too_many(
    path: Path, partner: str, endings: list[tuple[str, str]], in_force: int
) -> str:
    """What the guard says: the file, how many it ends of how many, up to ten of them."""
    refs = [ref for ref, _ in endings]
    shown = ", ".join(refs[:10]) + (f" and {len(refs) - 10} more" if len(refs) > 10 else "")
    return (
        f"{path.name} would end {len(refs)} of {partner}'s {in_force} arrangement(s) in force "
        f"({shown})"
    )


def _collision(ref: str, other: m.Customer) -> str:
    whose = f"{other.partner}'s arrangements" if other.source == PARTNER else "our own register"
    return (
        f"the reference of {ref}, a customer in {whose}: a partner's arrangement cannot share "
        "it (references are compared ignoring case)"
    )


def _conflicts(
    session: Session,
    name: str,
    rows: Sequence[RegisterRow],
    staff_domains: Sequence[str],
) -> list[RowError]:
    """What the register check cannot know: a customer address in our staff domains; an
    officer of ours given another name (importing would rename them in our register)."""
    errors: list[RowError] = []
    for row in rows:
        for column, addresses in (
            ("customer_emails", row.customer_emails),
            ("representative_emails", row.representative_emails),
        ):
            for address in addresses:
                if in_domains(normalise_address(address), frozenset(staff_domains)):
                    errors.append(
                        RowError(
                            name,
                            row.row,
                            column,
                            f"{address} is in our staff domains, not a customer's address",
                        )
                    )
        for prefix, email, person in (
            ("spoc", row.spoc_email, row.spoc_name),
            ("cover", row.cover_email, row.cover_name),
        ):
            if not email or not person:
                continue
            officer = session.scalar(select(m.Officer).where(m.Officer.email == email))
            if officer is None or officer.name == person:
                continue
            used_by_ours = session.scalar(
                select(func.count(m.Arrangement.id))
                .join(m.Customer)
                .where(
                    m.Customer.source != PARTNER,
                    (m.Arrangement.spoc_id == officer.id) | (m.Arrangement.cover_id == officer.id),
                )
            )
            if used_by_ours:
                errors.append(
                    RowError(
                        name,
                        row.row,
                        f"{prefix}_name",
                        f"{email} is our officer {officer.name!r}: the partner's file names "
                        f"them {person!r} (importing would rename them in our register)",
                    )
                )
    return errors
