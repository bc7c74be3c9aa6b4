"""Erasing everything about one customer (UK GDPR art. 17; policy §8), for `register erase`
and the retention purge (:mod:`bot.retention`).

:func:`erase` works in the caller's transaction: it deletes the customer, their addresses,
their arrangement with its history, appeals, permitted addresses, reminders and flag tasks,
their breaches (with sightings), contacts, letters, the forwards and acknowledgements about
them, their quarantined messages and review items, and their audit entries; it unlinks the
watcher's decisions from them, removes their reference from other review items' candidates
and replaces their identifiers in notices and audit entries that also concern others.  The
evidence chain's links are kept, marked purged (the contract with ``evidence verify``).

Audit entries can be deleted only while an ``audit_permits`` row exists (SQLite triggers
keep the log append-only otherwise): the permit is written and removed again inside the
same transaction, so it is never visible outside it.

A dry run (:func:`transaction`, :class:`DryRunEvidence`) does the same erasure and rolls it
back, keeping redacted copies in memory: its counts, raw files included, are the real ones.

Raw files are deleted after the transaction commits (:func:`delete_unreferenced`), and only
when no remaining row refers to them: a crash in between leaves an unreferenced file (swept
by the next purge, :func:`sweep_unreferenced`), never a row pointing at a missing file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import audit
from bot.errors import DomainError
from bot.evidence import EvidenceStore
from bot.person_data import PersonRecords, find_customer, not_found, records_about
from bot.recording import remember_expired
from bot.store import models as m
from bot.store.db import forget_deleted
from mailbox_rules.calendar import add_months
from mailbox_rules.register import ArrangementStatus

log = logging.getLogger(__name__)

ERASED = "[erased customer]"
"""What an erased customer's identifiers become in records that also concern others."""
SWEEP_GRACE = timedelta(days=1)
"""A stored file younger than this may belong to a transaction still in progress (the
watcher keeps the raw message just before it records the breach): never swept."""
_SHA_FILE = re.compile(r"[0-9a-f]{64}\.eml")


class ErasureRefused(DomainError):
    """The customer's records cannot be erased (yet); the message says why."""


def kept_until(ended_on: date, months_after_end: int) -> date:
    """The last day an ended arrangement's records are kept (policy §8)."""
    return add_months(ended_on, months_after_end)


def why_not_erasable(
    arrangement: m.Arrangement | None, as_of: date, months_after_end: int
) -> str | None:
    """Why the customer's records must still be kept on ``as_of`` (None: they may go)."""
    if arrangement is None:
        return None
    if arrangement.status != ArrangementStatus.CEASED.value or arrangement.ended_on is None:
        end = "" if arrangement.ended_on is None else f" (ended on {arrangement.ended_on})"
        return (
            f"the arrangement is in force (status {arrangement.status}{end}, no end recorded): "
            "end it first (`spocbot arrangement end`)"
            if arrangement.status != ArrangementStatus.CEASED.value
            else "the arrangement is ceased but its end is not recorded: record it first "
            "(`spocbot arrangement end REF --on YYYY-MM-DD`)"
        )
    until = kept_until(arrangement.ended_on, months_after_end)
    if as_of <= until:
        return (
            f"the arrangement ended on {arrangement.ended_on}; its records are kept until "
            f"{until} under [retention] months_after_end = {months_after_end} (policy §8)"
        )
    return None


def refuse_if_unfinished(records: PersonRecords) -> None:
    """Refuse to erase while something about the person is still to be done: a message not
    yet sent, or a flag in another system not yet confirmed removed (its task would go with
    the records, and the flag would stay in the CRM for good)."""
    open_flags = sorted(
        {t.system for t in records.flag_tasks if t.confirmed_at is None and t.action == "remove"}
    )
    if open_flags:
        raise ErasureRefused(
            f"{records.customer.ref} still has flags to remove in {', '.join(open_flags)}: "
            f"once done, confirm with `spocbot flags confirm {records.customer.ref} --system "
            "NAME --removed` (see `spocbot flags list`)"
        )
    unsent = records.unsent()
    if unsent:
        which = ", ".join(f"{o.id} ({o.kind}, {o.status})" for o in unsent)
        raise ErasureRefused(
            f"{records.customer.ref} has messages not sent yet (outbox {which}): let them go "
            "out or settle them first (see `spocbot forwards list --status pending`)"
        )


def erase(
    session: Session,
    evidence: EvidenceStore,
    records: PersonRecords,
    erasure: m.Erasure,
    now: datetime,
) -> tuple[dict[str, int], set[str]]:
    """Delete ``records`` in the caller's transaction; their counts per kind, and the raw
    files (SHA-256) that may be unreferenced once it commits.  ``erasure`` (already flushed)
    is the tombstone the purged evidence links point at."""
    refuse_if_unfinished(records)
    counts = records.counts()
    hashes = records.raw_hashes()
    customer, arrangement = records.customer, records.arrangement
    ref = customer.ref

    def ids(rows: Iterable[object]) -> list[int]:
        return [row.id for row in rows]  # type: ignore[attr-defined]

    def gone(model: type[m.Base], row_ids: list[int]) -> None:
        if row_ids:
            session.execute(
                delete(model).where(model.id.in_(row_ids)),  # type: ignore[attr-defined]
                execution_options={"synchronize_session": False},
            )

    # Notices about several people: kept, with the customer replaced (a redacted copy of the
    # stored message takes the place of the original, which goes once unreferenced).
    for notice in records.notices_mentioning:
        notice.original_message_id = records.redactor.text(notice.original_message_id)
        notice.route_reason = records.redactor.text(notice.route_reason)
        copy = _redacted_copy(evidence, records, notice.original_sha256)
        if copy is not None:
            hashes.add(notice.original_sha256)
            notice.original_sha256 = copy
    # Review items naming them among other candidates: kept for the others, without them.
    for item in records.review_candidate_of:
        item.candidates = ";".join(c for c in item.candidates.split(";") if c and c != ref)
        if item.sender and records.redactor.found_in(item.sender):
            item.sender = None  # their representative's address: never "[erased customer]"
        for column, limit in _REVIEW_TEXT:
            value = getattr(item, column)
            if value:
                setattr(item, column, records.redactor.text(value)[:limit])
        copy = _redacted_copy(evidence, records, item.sha256)
        if copy is not None and item.sha256:
            hashes.add(item.sha256)
            item.sha256 = copy
    session.flush()
    # Children before parents (foreign keys are enforced).
    gone(m.Reminder, ids(records.reminders))
    gone(m.Letter, ids(records.letters))
    gone(m.Outbox, ids(records.outbox))
    gone(m.BreachSighting, ids(records.sightings))
    gone(m.Breach, ids(records.breaches))
    gone(m.Contact, ids(records.contacts))
    if arrangement is not None:
        gone(m.FlagTask, ids(records.flag_tasks))
        gone(m.Appeal, ids(arrangement.appeals))
        gone(m.ArrangementEvent, ids(arrangement.events))
        gone(m.PermittedAddress, ids(arrangement.permitted))
        gone(m.Arrangement, [arrangement.id])
    gone(m.CustomerEmail, ids(customer.emails))
    gone(m.Customer, [customer.id])
    # Where their review items and quarantined messages were (no content): a rescan must
    # not record those messages again.
    remember_expired(session, "review_item", records.review_items)
    remember_expired(session, "quarantine", records.quarantine)
    gone(m.ReviewItem, ids(records.review_items))
    gone(m.Quarantine, ids(records.quarantine))
    if records.processed:
        session.execute(
            update(m.ProcessedMessage)
            .where(m.ProcessedMessage.id.in_(ids(records.processed)))
            .values(customer_ref=None),
            execution_options={"synchronize_session": False},
        )
    # The audit log is append-only, and evidence links are marked purged only, inside this
    # transaction, under a permit (SQLite triggers refuse both otherwise).
    permit = m.AuditPermit(reason=f"erasure {erasure.id}")
    session.add(permit)
    session.flush()
    gone(m.AuditEvent, ids(records.audit_events))
    for event in records.audit_mentioning:
        session.execute(
            update(m.AuditEvent)
            .where(m.AuditEvent.id == event.id)
            .values(
                details=records.redactor.text(event.details),
                record=records.redactor.text(event.record)[:200],
            ),
            execution_options={"synchronize_session": False},
        )
    if records.evidence_links:
        session.execute(
            update(m.EvidenceLink)
            .where(m.EvidenceLink.id.in_(ids(records.evidence_links)))
            .values(purged_at=now, erasure_id=erasure.id, salt=None, customer_id=None),
            execution_options={"synchronize_session": False},
        )
    session.delete(permit)
    session.flush()
    for obj in list(session.identity_map.values()):  # deleted rows: never to be flushed again
        if obj is not erasure and obj in session:
            session.expunge(obj)
    return counts, hashes


_REVIEW_TEXT = (
    ("message_id", 998),
    ("subject", 200),
    ("reason", 100_000),
    ("note", 100_000),
)
"""A review item's text columns (with their lengths) that may name a candidate."""


def _redacted_copy(
    evidence: EvidenceStore, records: PersonRecords, sha256: str | None
) -> str | None:
    """Store a copy of raw message ``sha256`` without the person; its SHA-256, or None when
    the message does not name them (or cannot be read: nothing to redact in it)."""
    if not sha256:
        return None
    try:
        redacted = records.redactor.message(evidence.get(sha256))
    except Exception:  # the stored copy is unreadable: nothing to redact in it
        return None
    return evidence.put(redacted.raw) if redacted.changed else None


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + more.get(k, 0) for k in {*total, *more}}


def referenced_hashes(session: Session, hashes: Iterable[str] | None = None) -> set[str]:
    """The raw files some row still refers to (among ``hashes``, or all of them)."""
    columns = [
        m.Breach.sha256,
        m.Contact.sha256,
        m.Letter.sha256,
        m.Quarantine.sha256,
        m.ReviewItem.sha256,
        m.Outbox.original_sha256,
    ]
    wanted = None if hashes is None else sorted(set(hashes))
    found: set[str] = set()
    for column in columns:
        query = select(column).distinct()
        if wanted is not None:
            query = query.where(column.in_(wanted))
        found |= {h for h in session.scalars(query) if h}
    return found


def delete_unreferenced(
    factory: sessionmaker[Session], evidence: EvidenceStore, hashes: Iterable[str]
) -> int:
    """Delete the stored files among ``hashes`` that no row refers to; how many went.
    Called after the erasure commits."""
    hashes = set(hashes)
    with factory() as session:
        keep = referenced_hashes(session, hashes)
    deleted = 0
    for sha256 in sorted(hashes - keep):
        path = evidence.path_for(sha256)
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            continue
    return deleted


def sweep_unreferenced(
    factory: sessionmaker[Session], evidence: EvidenceStore, now: datetime | None = None
) -> int:
    """Delete stored files that no row refers to and that are older than
    :data:`SWEEP_GRACE`: left by an erasure interrupted between its commit and its file
    deletions, or by a transaction that rolled back after keeping a message."""
    cutoff = (now or datetime.now(UTC)) - SWEEP_GRACE
    if not evidence.root.is_dir():
        return 0
    with factory() as session:
        keep = referenced_hashes(session)
    deleted = 0
    for top in sorted(evidence.root.iterdir()):
        if not top.is_dir() or len(top.name) != 2:
            continue
        for path in sorted(top.glob("??/*.eml")):
            if not _SHA_FILE.fullmatch(path.name) or path.name[:64] in keep:
                continue
            try:
                if datetime.fromtimestamp(path.stat().st_mtime, UTC) >= cutoff:
                    continue
                path.unlink()
                deleted += 1
            except FileNotFoundError:
                continue
    if deleted:
        log.info("evidence sweep: %d unreferenced file(s) deleted", deleted)
    return deleted


class DryRunEvidence(EvidenceStore):
    """The evidence store as a dry run sees it: reads the real files, keeps the redacted
    copies an erasure would store in memory, and writes nothing."""

    def __init__(self, real: EvidenceStore) -> None:
        super().__init__(real.root)
        self.kept: dict[str, bytes] = {}

    def put(self, raw: bytes) -> str:
        digest = hashlib.sha256(raw).hexdigest()
        if not self.path_for(digest).exists():
            self.kept[digest] = raw
        return digest

    def get(self, sha256: str) -> bytes:
        return self.kept[sha256] if sha256 in self.kept else super().get(sha256)

    def has(self, sha256: str) -> bool:
        return sha256 in self.kept or self.path_for(sha256).exists()


@contextmanager
def transaction(factory: sessionmaker[Session], dry_run: bool) -> Iterator[Session]:
    """A transaction that commits, or for a dry run is always rolled back: a dry run does
    exactly what the real one does (so its counts are the real ones), then undoes it."""
    with factory() as session:
        session.begin()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()


def files_to_delete(session: Session, evidence: DryRunEvidence, hashes: Iterable[str]) -> int:
    """In a dry run's transaction, after the erasures: how many of ``hashes`` the real run
    would delete (stored, and referred to by no row left)."""
    hashes = set(hashes)
    keep = referenced_hashes(session, hashes)
    return sum(1 for sha256 in hashes - keep if evidence.has(sha256))


@dataclass(frozen=True)
class ErasureResult:
    erasure_id: int | None
    """None for a dry run."""
    counts: dict[str, int]
    raw_files: int = 0
    """Stored raw messages deleted (in a dry run: that would be deleted); those still
    referred to by another record are kept."""
    customer_ref: str = ""
    """The reference as the register has it (the command may give it in another case)."""


def tombstone(
    session: Session, operator: str, reason: str, now: datetime, as_of: date | None
) -> m.Erasure:
    erasure = m.Erasure(at=now, operator=operator, reason=reason, as_of=as_of, counts="{}")
    session.add(erasure)
    session.flush()
    return erasure


def record_files(factory: sessionmaker[Session], erasure_id: int, raw_files: int) -> None:
    """Add the number of raw files deleted to the tombstone (they go after the commit)."""
    with factory.begin() as session:
        erasure = session.get_one(m.Erasure, erasure_id)
        erasure.counts = json.dumps({**json.loads(erasure.counts), "raw_files": raw_files})


def erase_customer(
    factory: sessionmaker[Session],
    evidence: EvidenceStore,
    ref: str,
    *,
    operator: str,
    now: datetime,
    today: date,
    months_after_end: int,
    dry_run: bool = False,
) -> ErasureResult:
    """`register erase REF`: refused while the arrangement is in force or within its
    retention period, or while a message about them is still to be sent."""
    store = DryRunEvidence(evidence) if dry_run else evidence
    with transaction(factory, dry_run) as session:
        customer = find_customer(session, ref)
        if customer is None:
            raise ErasureRefused(not_found(ref))
        ref = customer.ref
        why = why_not_erasable(customer.arrangement, today, months_after_end)
        if why:
            raise ErasureRefused(f"{ref} cannot be erased: {why}")
        records = records_about(session, store, customer, ERASED)
        refuse_if_unfinished(records)
        erasure = tombstone(session, operator, "erasure", now, today)
        counts, hashes = erase(session, store, records, erasure, now)
        if isinstance(store, DryRunEvidence):  # the transaction is rolled back
            return ErasureResult(None, counts, files_to_delete(session, store, hashes), ref)
        erasure.counts = json.dumps(counts, sort_keys=True)
        audit(
            session,
            operator,
            "register.erase",
            f"erasure:{erasure.id}",
            details=_describe(counts),
            at=now,
        )
        erasure_id = erasure.id
    raw_files = delete_unreferenced(factory, evidence, hashes)
    record_files(factory, erasure_id, raw_files)
    forget_deleted(factory)
    return ErasureResult(erasure_id, counts, raw_files, customer_ref=ref)


def _describe(counts: dict[str, int]) -> str:
    """Counts only: what kinds of record went and how many (no one is named)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v) or "nothing"
