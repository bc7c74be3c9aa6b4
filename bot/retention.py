"""The retention purge (policy §8): records about an arrangement are kept for
``[retention] months_after_end`` months after it ended, then deleted.

Every arrangement (the register's or the partner's) that is ``ceased`` with an end recorded
(``ended_on``) more than that many months before the purge's date is erased as by
`register erase` (:mod:`bot.erasure`); nothing else is touched.  One purge run leaves one
count-only tombstone (``erasures``, reason ``retention``) and one audit event, and none when
nothing was due.  A customer with a message still to be sent, or a flag in another system
not yet confirmed removed, is left for a later run, and said.  The purge runs daily from
`spocbot run` (:func:`daily_purge`) and by hand with `spocbot retention purge`.

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
from bot.store import models as m
from bot.store.db import forget_deleted
from mailbox_rules.register import ArrangementStatus

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

    @property
    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for p in self.purged:
            total = add_counts(total, p.counts)
        return total

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


def purge(
    factory: sessionmaker[Session],
    evidence: EvidenceStore,
    *,
    as_of: date,
    months_after_end: int,
    operator: str,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeRun:
    """Erase every arrangement past its retention on ``as_of``, in one transaction.  A dry
    run does the same and rolls it back, writing no file: its counts, the raw files
    included, are what the real run would report."""
    now = now or datetime.now(UTC)
    run = PurgeRun(as_of, months_after_end, dry_run)
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
        if erasure is not None:
            erasure.counts = json.dumps(run.counts, sort_keys=True)
            audit(
                session,
                operator,
                "retention.purge",
                f"erasure:{erasure.id}",
                details=f"as of {as_of}, [retention] months_after_end = {months_after_end}: "
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


def daily_purge(evidence: EvidenceStore, months_after_end: int) -> DailyPurge:
    """The scheduler's daily hook (``hook(factory, today, operator)``)."""

    def retention_purge(factory: sessionmaker[Session], today: date, operator: str) -> PurgeRun:
        run = purge(
            factory, evidence, as_of=today, months_after_end=months_after_end, operator=operator
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
        if run.skipped:
            log.warning(
                "retention purge: %d arrangement(s) past retention kept for now, with messages "
                "still to be sent or flags to remove (see `spocbot retention purge --dry-run`)",
                len(run.skipped),
            )
        return run

    return retention_purge
