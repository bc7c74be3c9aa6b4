"""The retention purge (policy §8): records about an arrangement are kept for
``[retention] months_after_end`` months after it ended, then deleted.

Every arrangement (the register's or the partner's) that is ``ceased`` with an end recorded
(``ended_on``) more than that many months before the purge's date is erased as by
`register erase` (:mod:`bot.erasure`); nothing else is touched.  One purge run leaves one
count-only tombstone (``erasures``, reason ``retention``) and one audit event, and none when
nothing was due.  A customer with a message still to be sent, or a flag in another system
not yet confirmed removed, is left for a later run, and said.  The purge runs daily from
`spocbot run` (:func:`daily_purge`) and by hand with `spocbot retention purge`.

The same run deletes the working copies of messages no customer claims
(:func:`working_copies_due`): a quarantined message ``[retention] quarantine_months`` after
it arrived, a review item the DMO dismissed that long after the dismissal.  The original
stays in the mailbox (spocbot never deletes mail), and where it was is kept
(``expired_copies``) so that a rescan does not record it again.  An open review item is
kept until decided, and counted so that the DMO is told.  An item that belongs to a
customer in the register (the watcher decided it was theirs, or it is from one of their
addresses, present or former) is kept as long as their records are, and goes with them.

A purged customer still in the DMO's register file comes back as a new, ceased customer at
the next import (which says so): the DMO removes ended arrangements from their file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import audit
from bot.erasure import (
    ERASED,
    DryRunEvidence,
    ErasureRefused,
    add_counts,
    delete_unreferenced,
    erase,
    files_to_delete,
    kept_until,
    record_files,
    refuse_if_unfinished,
    sweep_unreferenced,
    tombstone,
    transaction,
)
from bot.evidence import EvidenceStore
from bot.person_data import find_customer, records_about
from bot.recording import remember_expired
from bot.reports import quarantine_with_decisions, senders_of
from bot.store import models as m
from bot.store.db import forget_deleted
from mailbox_rules.register import ArrangementStatus
from mailbox_rules.rules import LONDON

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    customer_ref: str
    ended_on: date
    counts: dict[str, int]


@dataclass
class PurgeRun:
    as_of: date
    months_after_end: int
    dry_run: bool
    purged: list[Purged] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(customer ref, why): due but left for a later run."""
    erasure_id: int | None = None
    raw_files: int = 0
    swept_files: int = 0
    quarantine_months: int = 6
    quarantine_deleted: int = 0
    """Quarantined messages past ``quarantine_months`` (besides those of purged customers)."""
    dismissed_deleted: int = 0
    """Dismissed review items past ``quarantine_months``."""
    open_review_items_past: int = 0
    """Review items still open that arrived more than ``quarantine_months`` ago: kept."""

    @property
    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for p in self.purged:
            total = add_counts(total, p.counts)
        return add_counts(
            total,
            {
                "quarantine_expired": self.quarantine_deleted,
                "review_items_dismissed_expired": self.dismissed_deleted,
            },
        )

    @property
    def anything_done(self) -> bool:
        return bool(self.purged or self.quarantine_deleted or self.dismissed_deleted)

    def as_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "months_after_end": self.months_after_end,
            "dry_run": self.dry_run,
            "erasure_id": self.erasure_id,
            "purged": [
                {"customer_ref": p.customer_ref, "ended_on": p.ended_on.isoformat(), **p.counts}
                for p in self.purged
            ],
            "skipped": [{"customer_ref": r, "why": why} for r, why in self.skipped],
            "counts": dict(sorted(self.counts.items())),
            "raw_files": self.raw_files,
            "swept_files": self.swept_files,
            "quarantine_months": self.quarantine_months,
            "open_review_items_past": self.open_review_items_past,
        }


def due(session: Session, as_of: date, months_after_end: int) -> list[tuple[str, date]]:
    """(customer ref, ended on) of every arrangement past its retention on ``as_of``."""
    rows = session.execute(
        select(m.Customer.ref, m.Arrangement.ended_on)
        .join(m.Arrangement)
        .where(
            m.Arrangement.status == ArrangementStatus.CEASED.value,
            m.Arrangement.ended_on.is_not(None),
        )
        .order_by(m.Arrangement.ended_on, m.Customer.ref)
    )
    return [
        (ref, ended)
        for ref, ended in rows
        if ended is not None and as_of > kept_until(ended, months_after_end)
    ]


@dataclass(frozen=True)
class WorkingCopies:
    """What :func:`working_copies_due` found: the rows to delete, and how many open review
    items are as old (kept)."""

    quarantine: list[m.Quarantine]
    dismissed: list[m.ReviewItem]
    open_past: int


def _day(at: datetime) -> date:
    return at.astimezone(LONDON).date()


def working_copies_due(
    session: Session, evidence: EvidenceStore, as_of: date, months: int
) -> WorkingCopies:
    """Quarantined messages that arrived, and review items dismissed, more than ``months``
    before ``as_of`` (UK dates), that belong to no customer in the register; and how many
    open review items are that old (kept)."""

    def past(at: datetime | None) -> bool:
        return at is not None and as_of > kept_until(_day(at), months)

    # The same test as subject access and erasure (bot.person_data): decided as a customer's,
    # or from one of a customer's addresses, present or former.
    refs = set(session.scalars(select(m.Customer.ref)))
    addresses = set(session.scalars(select(m.CustomerEmail.address)))
    addresses |= {
        value
        for value in session.scalars(
            select(m.FormerIdentifier.value).where(m.FormerIdentifier.kind == "email")
        )
        if "@" in value
    }

    def customers(sha256: str | None) -> bool:
        return bool(sha256) and bool(senders_of(evidence, sha256) & addresses)  # type: ignore[arg-type]

    quarantine = [
        q
        for q, decided_for in session.execute(quarantine_with_decisions())
        if past(q.created_at) and decided_for not in refs and not customers(q.sha256)
    ]
    dismissed: list[m.ReviewItem] = []
    open_past = 0
    for item in session.scalars(select(m.ReviewItem).order_by(m.ReviewItem.id)):
        if item.status == "open" and past(item.created_at):
            open_past += 1
        elif (
            item.status == "dismissed"
            and past(item.decided_at or item.created_at)
            and item.sender not in addresses  # a candidate named, and dismissed: not theirs
        ):
            dismissed.append(item)
    return WorkingCopies(quarantine, dismissed, open_past)


def _expire(session: Session, kind: str, rows: list[m.Quarantine] | list[m.ReviewItem]) -> set[str]:
    """Delete ``rows``, keeping where each message was; their raw files (SHA-256)."""
    remember_expired(session, kind, rows)
    for row in rows:
        session.delete(row)
    session.flush()
    return {row.sha256 for row in rows if row.sha256}


def purge(
    factory: sessionmaker[Session],
    evidence: EvidenceStore,
    *,
    as_of: date,
    months_after_end: int,
    operator: str,
    quarantine_months: int = 6,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeRun:
    """Erase every arrangement past its retention on ``as_of``, and the working copies past
    ``quarantine_months``, in one transaction.  A dry run does the same and rolls it back,
    writing no file: its counts, the raw files included, are what the real run would
    report."""
    now = now or datetime.now(UTC)
    run = PurgeRun(as_of, months_after_end, dry_run, quarantine_months=quarantine_months)
    hashes: set[str] = set()
    store = DryRunEvidence(evidence) if dry_run else evidence
    with transaction(factory, dry_run) as session:
        erasure: m.Erasure | None = None
        for ref, ended_on in due(session, as_of, months_after_end):
            customer = find_customer(session, ref)
            if customer is None:
                continue
            records = records_about(session, store, customer, ERASED)
            try:
                refuse_if_unfinished(records)
            except ErasureRefused as exc:
                run.skipped.append((ref, str(exc)))
                continue
            if erasure is None:
                erasure = tombstone(session, operator, "retention", now, as_of)
            counts, files = erase(session, store, records, erasure, now)
            hashes |= files
            run.purged.append(Purged(ref, ended_on, counts))
        copies = working_copies_due(session, store, as_of, quarantine_months)
        run.open_review_items_past = copies.open_past
        if copies.quarantine or copies.dismissed:
            if erasure is None:
                erasure = tombstone(session, operator, "retention", now, as_of)
            hashes |= _expire(session, "quarantine", copies.quarantine)
            hashes |= _expire(session, "review_item", copies.dismissed)
            run.quarantine_deleted, run.dismissed_deleted = (
                len(copies.quarantine),
                len(copies.dismissed),
            )
        if erasure is not None:
            erasure.counts = json.dumps(run.counts, sort_keys=True)
            audit(
                session,
                operator,
                "retention.purge",
                f"erasure:{erasure.id}",
                details=f"as of {as_of}, [retention] months_after_end = {months_after_end}, "
                f"quarantine_months = {quarantine_months}: "
                + ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items()) if v),
                at=now,
            )
            run.erasure_id = erasure.id
        if isinstance(store, DryRunEvidence):  # the transaction is rolled back
            run.erasure_id = None
            run.raw_files = files_to_delete(session, store, hashes)
            return run
    if run.erasure_id is not None:
        run.raw_files = delete_unreferenced(factory, evidence, hashes)
        record_files(factory, run.erasure_id, run.raw_files)
        forget_deleted(factory)
    run.swept_files = sweep_unreferenced(factory, evidence, now)
    return run


DailyPurge = Callable[[sessionmaker[Session], date, str], PurgeRun]


def daily_purge(
    evidence: EvidenceStore, months_after_end: int, quarantine_months: int = 6
) -> DailyPurge:
    """The scheduler's daily hook (``hook(factory, today, operator)``)."""

    def retention_purge(factory: sessionmaker[Session], today: date, operator: str) -> PurgeRun:
        run = purge(
            factory,
            evidence,
            as_of=today,
            months_after_end=months_after_end,
            quarantine_months=quarantine_months,
            operator=operator,
        )
        if run.quarantine_deleted or run.dismissed_deleted:
            log.info(
                "retention purge as of %s: %d quarantined message(s) and %d dismissed review "
                "item(s) older than %d months deleted (the mailboxes keep the originals)",
                today,
                run.quarantine_deleted,
                run.dismissed_deleted,
                quarantine_months,
            )
        if run.purged:
            # Counts only: the log outlives the records.
            log.info(
                "retention purge as of %s: %d arrangement(s) erased (erasure %s); remove them "
                "from the DMO's register file, or the next import brings them back",
                today,
                len(run.purged),
                run.erasure_id,
            )
        if run.open_review_items_past:
            log.warning(
                "retention: %d review item(s) older than %d months are still open (kept until "
                "decided: `spocbot review list`)",
                run.open_review_items_past,
                quarantine_months,
            )
        if run.skipped:
            log.warning(
                "retention purge: %d arrangement(s) past retention kept for now, with messages "
                "still to be sent or flags to remove (see `spocbot retention purge --dry-run`)",
                len(run.skipped),
            )
        return run

    return retention_purge
