"""Register operations on the database: import, export, listing, absences, and the snapshot
of the register that the decision core works from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.audit import audit, current_operator
from bot.flag_tasks import sync_flag_tasks
from bot.partner_entries import PARTNER, read_only_message
from bot.person_data import remember_former
from bot.register_file import (
    COLUMNS,
    EXPORT_SUFFIXES,
    KEPT_WHEN_ABSENT,
    RESTRICTED,
    RegisterRow,
    RowError,
    read_register,
    register_warnings,
    write_register,
)
from bot.store import models as m
from mailbox_rules import register as core
from mailbox_rules.restrictions import ContactHours, Limit

_LONDON = ZoneInfo("Europe/London")


class RegisterError(Exception):
    """A register operation was refused; the message says why."""


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int = 0
    kept_from_review: tuple[tuple[str, str], ...] = ()
    """(customer_ref, address): addresses confirmed from the review queue that the file lacks,
    kept so that re-importing an older spreadsheet does not undo the DMO's answer."""
    warnings: tuple[RowError, ...] = ()
    """Allowed but worth checking: see :func:`bot.register_file.register_warnings`."""


def import_register(
    factory: sessionmaker[Session],
    path: Path,
    *,
    staff_addresses: Iterable[str],
    staff_domains: Iterable[str],
    topics: Iterable[str] = (),
    operator: str | None = None,
    today: date | None = None,
    watched: Iterable[str] | None = None,
    flag_systems: Sequence[str] | None = None,
    not_officers: Mapping[str, str] | None = None,
) -> ImportResult:
    """Validate the whole file, then apply it in one transaction (all or nothing), written to
    the audit log with ``operator`` (default: the operating-system user).

    ``today`` and the ``watched`` mailboxes, when given, are for warnings: a review date
    already past, a SPOC whose inbox is not watched; ``today`` also refuses a ``decided_on``
    after it.  A partner's entry (``share import``) is never touched: a row with its reference
    is refused.  With ``flag_systems``, the flag tasks follow (:mod:`bot.flag_tasks`).
    ``not_officers`` (see :func:`~bot.register_file.read_register`) may not be SPOC or cover.  An
    arrangement the file gives as ``ceased`` with no end recorded here gets ``ended_on`` =
    ``today`` (default: today in Europe/London), so that its retention period starts
    (policy §8)."""
    with factory.begin() as session:
        owners = {
            address: ref
            for address, ref in session.execute(
                select(m.CustomerEmail.address, m.Customer.ref).join(m.Customer)
            )
        }
        for ref, representatives in session.execute(
            select(m.Customer.ref, m.Arrangement.representative_emails).join(m.Arrangement)
        ):
            owners.update({address: ref for address in _split(representatives)})
        officer_emails = set(session.scalars(select(m.Officer.email)))
        before = stored_entries(session)
        partners = {  # never touched by the register import: refused, naming whose they are
            ref.casefold(): read_only_message(ref, partner)
            for ref, partner in session.execute(
                select(m.Customer.ref, m.Customer.partner).where(m.Customer.source == PARTNER)
            )
        }
        rows = read_register(
            path,
            staff_addresses=set(staff_addresses) | officer_emails,
            staff_domains=staff_domains,
            existing_owner=owners,
            topics=topics,
            existing_refs=before.keys(),
            today=today,
            refused_refs=partners,
            not_officers=not_officers,
        )
        lifecycle_warnings = _lifecycle_warnings(session, path, rows)
        created: list[str] = []
        kept: list[tuple[str, str]] = []
        import_day = today if today is not None else datetime.now(_LONDON).date()
        for row in rows:
            is_new, kept_here = _apply_row(session, row, import_day)
            if is_new and row.status is core.ArrangementStatus.CEASED:
                lifecycle_warnings.append(_ceased_and_new(path, row))
            if is_new:
                created.append(row.customer_ref)
            kept.extend((row.customer_ref, address) for address in kept_here)
        # Compare what the register holds now with what it held, customer by customer (an
        # officer renamed on one row changes every arrangement of theirs).
        session.flush()
        session.expire_all()
        after = stored_entries(session)
        changed = [
            row.customer_ref
            for row in rows
            if row.customer_ref not in created
            and after[row.customer_ref] != before[row.customer_ref]
        ]
        result = ImportResult(
            created=len(created),
            updated=len(changed),
            unchanged=len(rows) - len(created) - len(changed),
            kept_from_review=tuple(kept),
            warnings=tuple(
                sorted(
                    [
                        *register_warnings(path, rows, today=today, watched=watched),
                        *lifecycle_warnings,
                    ],
                    key=lambda w: w.row or 0,
                )
            ),
        )
        # Counts and references only: the file's names and addresses stay in the register.
        details = [f"{result.created} new, {result.updated} updated, {result.unchanged} unchanged"]
        details += [f"new: {', '.join(created)}"] if created else []
        details += [f"updated: {', '.join(changed)}"] if changed else []
        if kept:
            details.append(f"{len(kept)} address(es) confirmed from the review queue kept")
        audit(
            session,
            current_operator(operator),
            "register.import",
            f"register_file:{path.name}"[:200],
            details="; ".join(details),
        )
        if flag_systems is not None and today is not None:
            sync_flag_tasks(session, flag_systems, today)
    return result


def _lifecycle_warnings(
    session: Session, path: Path, rows: Iterable[RegisterRow]
) -> list[RowError]:
    """Where the file would undo what the arrangement's history records (allowed: the file is
    the DMO's; but said): a review date earlier than the one set by the last recorded decision
    or review, or an arrangement ended by `arrangement end` (or a lapse) made live again."""
    name = str(path)
    warnings: list[RowError] = []
    stored = {
        a.customer.ref: a
        for a in session.scalars(
            select(m.Arrangement).options(
                selectinload(m.Arrangement.customer), selectinload(m.Arrangement.events)
            )
        )
    }
    for row in rows:
        arrangement = stored.get(row.customer_ref)
        if arrangement is None:
            continue
        setting = [e for e in arrangement.events if e.next_review is not None]
        if (
            setting
            and setting[-1].next_review == arrangement.review_date
            and row.review_date < arrangement.review_date
        ):
            event = setting[-1]
            warnings.append(
                RowError(
                    name,
                    row.row,
                    "review_date",
                    f"{row.review_date} is earlier than {arrangement.review_date}, the review "
                    f"date set by the {event.kind} recorded on {event.on}: the file's date is "
                    "imported; check that it is meant",
                )
            )
        if (
            arrangement.status == core.ArrangementStatus.CEASED
            and arrangement.ended_on is not None
            and row.status is not core.ArrangementStatus.CEASED
        ):
            warnings.append(
                RowError(
                    name,
                    row.row,
                    "status",
                    f"the arrangement ended on {arrangement.ended_on} (see `spocbot arrangement "
                    f"history {row.customer_ref}`); this file makes it {row.status.value} again: "
                    "check that it is meant",
                )
            )
    return warnings


def _ceased_and_new(path: Path, row: RegisterRow) -> RowError:
    """A new customer whose arrangement has already ended: perhaps one erased by the retention
    purge or `register erase` and still in the DMO's file (the tombstone names no one, so this
    cannot be told apart from a late entry)."""
    return RowError(
        str(path),
        row.row,
        "status",
        f"{row.customer_ref} is new here and ceased: if the retention purge or `register erase` "
        "removed them, delete the row from the register file (this import brings them back, "
        "kept for another [retention] months_after_end from today)",
    )


def stored_entries(session: Session, source: str | None = None) -> dict[str, RegisterRow]:
    """Each customer's entry as stored (of ``source``: see :func:`register_rows`), by
    reference and without a position in a file: taken before and after an import (flushed
    and expired), they tell which entries it changed."""
    return {row.customer_ref: replace(row, row=0) for row in register_rows(session, source)}


def _officer(session: Session, name: str, email: str) -> m.Officer:
    officer = session.scalar(select(m.Officer).where(m.Officer.email == email))
    if officer is None:
        officer = m.Officer(name=name, email=email)
        session.add(officer)
        session.flush()
    elif officer.name != name:
        officer.name = name
    return officer


def _apply_row(session: Session, row: RegisterRow, today: date) -> tuple[bool, list[str]]:
    """Create or update one customer; whether new, and the review-confirmed addresses kept."""
    customer = session.scalar(
        select(m.Customer)
        .where(m.Customer.ref == row.customer_ref)
        .options(selectinload(m.Customer.emails), selectinload(m.Customer.arrangement))
    )
    is_new = customer is None
    if customer is None:
        customer = m.Customer(ref=row.customer_ref, name=row.customer_name)
        session.add(customer)
    if customer.name != row.customer_name:
        remember_former(customer, "name", customer.name)  # for subject access and erasure
    customer.name = row.customer_name
    wanted = list(row.customer_emails)
    kept = []
    for email in list(customer.emails):
        if email.address in wanted:
            email.source = "register"  # now in the DMO's own file
        elif email.source == "review":
            kept.append(email.address)
        else:
            customer.emails.remove(email)
            remember_former(customer, "email", email.address)
    have = {e.address for e in customer.emails}
    session.flush()
    customer.emails.extend(m.CustomerEmail(address=a) for a in wanted if a not in have)
    spoc = _officer(session, row.spoc_name, row.spoc_email)
    cover = (
        _officer(session, row.cover_name, row.cover_email)
        if row.cover_email and row.cover_name
        else None
    )
    arrangement = customer.arrangement
    if arrangement is None:
        arrangement = m.Arrangement(customer=customer)
        session.add(arrangement)
    arrangement.spoc = spoc
    arrangement.cover = cover
    if row.status is not core.ArrangementStatus.CEASED:
        arrangement.ended_on = None  # made live again (warned of: see _lifecycle_warnings)
    elif arrangement.ended_on is None:
        # Ceased in the file with no end recorded here: the import day is recorded as the end,
        # so that the retention period (policy §8) starts; `arrangement end --on` can still
        # record the real day.
        arrangement.ended_on = today
    arrangement.status = row.status.value
    arrangement.start_date = row.start_date
    arrangement.review_date = row.review_date
    arrangement.representative_emails = ";".join(row.representative_emails)
    arrangement.channels = ";".join(row.channels)
    arrangement.contact_hours = str(row.contact_hours or "")
    arrangement.max_contacts = str(row.max_contacts or "")
    arrangement.max_issues = str(row.max_issues or "")
    arrangement.subject_matters = ";".join(row.subject_matters)
    arrangement.acknowledge = row.acknowledge
    for column in KEPT_WHEN_ABSENT:
        if column in row.given:  # a file without the column keeps what is stored
            setattr(arrangement, column, getattr(row, column))
    arrangement.permitted.clear()
    session.flush()
    arrangement.permitted.extend(m.PermittedAddress(address=a) for a in row.restricted_to)
    session.flush()
    return is_new, kept


def register_rows(session: Session, source: str | None = None) -> list[RegisterRow]:
    """The register as rows in the import/export format, ordered by customer reference:
    every entry (as the decision core routes them), or only those of ``source`` ("register":
    our own; "partner": the partner's, from ``share import``)."""
    query = select(m.Arrangement).join(m.Customer)
    if source is not None:
        query = query.where(m.Customer.source == source)
    arrangements = session.scalars(
        query.order_by(m.Customer.ref).options(
            selectinload(m.Arrangement.customer).selectinload(m.Customer.emails),
            selectinload(m.Arrangement.spoc),
            selectinload(m.Arrangement.cover),
            selectinload(m.Arrangement.permitted),
        )
    )
    rows = []
    for number, a in enumerate(arrangements, start=2):
        rows.append(
            RegisterRow(
                row=number,
                customer_ref=a.customer.ref,
                customer_name=a.customer.name,
                customer_emails=tuple(e.address for e in a.customer.emails),
                spoc_name=a.spoc.name,
                spoc_email=a.spoc.email,
                cover_name=a.cover.name if a.cover else None,
                cover_email=a.cover.email if a.cover else None,
                restricted_to=tuple(p.address for p in a.permitted),
                status=core.ArrangementStatus(a.status),
                start_date=a.start_date,
                review_date=a.review_date,
                representative_emails=_split(a.representative_emails),
                channels=_split(a.channels),
                contact_hours=ContactHours.parse(a.contact_hours) if a.contact_hours else None,
                max_contacts=Limit.parse(a.max_contacts) if a.max_contacts else None,
                max_issues=Limit.parse(a.max_issues) if a.max_issues else None,
                subject_matters=_split(a.subject_matters),
                acknowledge=a.acknowledge,
                customer_address=a.customer_address,
                spoc_phone=a.spoc_phone,
                cover_phone=a.cover_phone,
                office_visits=a.office_visits,
                reasons=a.reasons,
                support_needs=a.support_needs,
                change_required=a.change_required,
                review_months=a.review_months,
                lapse_at_review=a.lapse_at_review,
                decided_on=a.decided_on,
            )
        )
    return rows


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(";") if part)


def export_register(
    factory: sessionmaker[Session],
    path: Path,
    *,
    include_reasons: bool = False,
    operator: str | None = None,
) -> int:
    """Write the register to ``path`` in the import format; the number of arrangements.

    The need-to-know columns (``reasons``, ``support_needs``) are left out unless
    ``include_reasons``; such an export is written to the audit log.  Importing a file
    without them keeps the stored values."""
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise RegisterError(
            f"cannot export to {path}: use a .csv or .xlsx file name (the name sets the format)"
        )
    columns = [c for c in COLUMNS if include_reasons or c not in RESTRICTED]
    with factory.begin() as session:
        rows = register_rows(session, source="register")  # the partner's entries are theirs
        try:
            write_register(path, rows, columns)
        except OSError as exc:
            raise RegisterError(f"cannot export to {path}: {exc.strerror or exc}") from None
        if include_reasons:
            audit(
                session,
                current_operator(operator),
                "register.export.restricted",
                f"register_file:{path.name}"[:200],
                details=f"{len(rows)} arrangement(s), with reasons and support needs",
            )
    return len(rows)


@dataclass(frozen=True)
class AbsenceRecord:
    """A recorded absence, with its officer, as the commands report it."""

    id: int
    officer_name: str
    officer_email: str
    starts_on: date
    ends_on: date

    @classmethod
    def of(cls, absence: m.OfficerAbsence) -> AbsenceRecord:
        return cls(
            absence.id,
            absence.officer.name,
            absence.officer.email,
            absence.starts_on,
            absence.ends_on,
        )


@dataclass(frozen=True)
class AddedAbsence:
    absence: AbsenceRecord
    overlapping: tuple[AbsenceRecord, ...] = ()
    """The officer's absences already recorded that share a day with this one."""
    in_the_past: bool = False
    """It ended before today, so it changes no routing."""


def add_absence(
    factory: sessionmaker[Session],
    email: str,
    starts_on: date,
    ends_on: date,
    *,
    today: date | None = None,
    operator: str | None = None,
) -> AddedAbsence:
    """Record an absence, in the audit log too.  An overlap with another of the officer's
    absences, or an absence wholly before ``today``, is allowed (leave is entered late, or
    extended) but reported."""
    if ends_on < starts_on:
        raise RegisterError(f"--to {ends_on} is before --from {starts_on}")
    with factory.begin() as session:
        officer = session.scalar(select(m.Officer).where(m.Officer.email == email.lower()))
        if officer is None:
            raise RegisterError(
                f"no officer with email {email} in the register (officers come from the "
                "spoc_email and cover_email columns of an import)"
            )
        overlapping = session.scalars(
            select(m.OfficerAbsence)
            .where(
                m.OfficerAbsence.officer_id == officer.id,
                m.OfficerAbsence.starts_on <= ends_on,
                m.OfficerAbsence.ends_on >= starts_on,
            )
            .order_by(m.OfficerAbsence.starts_on)
        ).all()
        absence = m.OfficerAbsence(officer=officer, starts_on=starts_on, ends_on=ends_on)
        session.add(absence)
        session.flush()
        added = AddedAbsence(
            AbsenceRecord.of(absence),
            tuple(AbsenceRecord.of(a) for a in overlapping),
            in_the_past=today is not None and ends_on < today,
        )
        notes = [f"overlaps absence {a.id}" for a in added.overlapping]
        notes += ["wholly in the past"] if added.in_the_past else []
        audit(
            session,
            current_operator(operator),
            "absence.add",
            f"officer_absence:{absence.id}",
            details=f"{_describe(added.absence)}" + "".join(f"; {n}" for n in notes),
        )
        return added


def remove_absence(
    factory: sessionmaker[Session], absence_id: int, *, operator: str | None = None
) -> AbsenceRecord:
    """Delete a recorded absence (entered by mistake, or leave cancelled), in the audit log."""
    with factory.begin() as session:
        absence = session.get(m.OfficerAbsence, absence_id)
        if absence is None:
            raise RegisterError(f"no absence with id {absence_id} (see `officer absence list`)")
        removed = AbsenceRecord.of(absence)
        session.delete(absence)
        audit(
            session,
            current_operator(operator),
            "absence.remove",
            f"officer_absence:{absence_id}",
            details=_describe(removed),
        )
        return removed


def _describe(absence: AbsenceRecord) -> str:
    return (
        f"{absence.officer_name} <{absence.officer_email}> away "
        f"{absence.starts_on} to {absence.ends_on}"
    )


def list_absences(session: Session) -> list[m.OfficerAbsence]:
    return list(
        session.scalars(
            select(m.OfficerAbsence)
            .options(selectinload(m.OfficerAbsence.officer))
            .order_by(m.OfficerAbsence.starts_on)
        )
    )


def snapshot(
    session: Session,
    watched_mailboxes: Iterable[str],
    strip_subaddress_domains: Iterable[str] = (),
    staff_domains: Iterable[str] = (),
    find_possible_matches: bool = True,
    staff_addresses: Iterable[str] = (),
) -> core.Register:
    """The register as the decision core sees it."""
    arrangements = []
    for row in register_rows(session):
        arrangements.append(
            core.Arrangement(
                customer_ref=row.customer_ref,
                customer_name=row.customer_name,
                customer_emails=frozenset(row.customer_emails),
                spoc=core.Officer(row.spoc_name, row.spoc_email),
                cover=core.Officer(row.cover_name, row.cover_email)
                if row.cover_email and row.cover_name
                else None,
                restricted_to=frozenset(row.restricted_to),
                status=row.status,
                start_date=row.start_date,
                review_date=row.review_date,
                representative_emails=frozenset(row.representative_emails),
                channels=frozenset(row.channels),
                contact_hours=row.contact_hours,
                max_contacts=row.max_contacts,
                max_issues=row.max_issues,
                subject_matters=frozenset(row.subject_matters),
                acknowledge=row.acknowledge,
                lapses_on=row.review_date if row.lapse_at_review else None,
            )
        )
    absences = [
        core.Absence(a.officer.email, a.starts_on, a.ends_on) for a in list_absences(session)
    ]
    return core.Register.build(
        arrangements,
        absences,
        watched_mailboxes,
        strip_subaddress_domains,
        staff_domains,
        find_possible_matches,
        staff_addresses,
    )
