"""The retention purge (policy §8): exactly the arrangements ended more than [retention]
months_after_end months before its date go (the boundary day on both sides), a dry run
changes nothing, a second run purges nothing more, one tombstone per run (none when nothing
is due), and `spocbot run`'s daily job runs it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import retention
from bot.register_service import import_register
from bot.scheduler import Daemon
from bot.store import models as m
from tests.schedtest import HEADER, Harness, row


def refs(h: Harness) -> list[str]:
    with h.app.factory() as session:
        return sorted(session.scalars(select(m.Customer.ref)))


def count(h: Harness, model: type[m.Base]) -> int:
    with h.app.factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def purge(h: Harness, as_of: date, dry_run: bool = False) -> retention.PurgeRun:
    return retention.purge(
        h.app.factory,
        h.app.evidence,
        as_of=as_of,
        months_after_end=6,
        quarantine_months=6,
        operator="dmo",
        now=h.now,
        dry_run=dry_run,
    )


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    """A ended 1 June (kept until 1 December), B ended 2 June, C in force, P a partner
    entry ended 1 June."""
    h = Harness(tmp_path, [row("A-1"), row("B-1"), row("C-1"), row("P-1")])
    h.arrangement("A-1", status="ceased", ended_on=date(2026, 6, 1))
    h.arrangement("B-1", status="ceased", ended_on=date(2026, 6, 2))
    h.arrangement("P-1", status="ceased", ended_on=date(2026, 6, 1))
    with h.app.factory.begin() as session:
        partner = session.scalars(select(m.Customer).where(m.Customer.ref == "P-1")).one()
        partner.source, partner.partner = "partner", "Vale Council"
    return h


def test_nothing_is_purged_on_the_last_day_of_retention(h: Harness) -> None:
    run = purge(h, date(2026, 12, 1))

    assert ([], ["A-1", "B-1", "C-1", "P-1"], 0) == (run.purged, refs(h), count(h, m.Erasure))


def test_the_day_after_retention_the_arrangement_and_the_partners_are_purged(h: Harness) -> None:
    run = purge(h, date(2026, 12, 2))

    assert (["A-1", "P-1"], ["B-1", "C-1"]) == (
        sorted(p.customer_ref for p in run.purged),
        refs(h),
    )


def test_the_next_day_the_later_end_goes_too_and_the_live_one_never(h: Harness) -> None:
    purge(h, date(2026, 12, 2))

    run = purge(h, date(2026, 12, 3))

    assert (["B-1"], ["C-1"]) == ([p.customer_ref for p in run.purged], refs(h))


def test_a_dry_run_lists_what_would_go_and_changes_nothing(h: Harness) -> None:
    run = purge(h, date(2026, 12, 2), dry_run=True)

    assert (
        [("A-1", date(2026, 6, 1), 1), ("P-1", date(2026, 6, 1), 1)],
        ["A-1", "B-1", "C-1", "P-1"],
        0,
    ) == (
        [(p.customer_ref, p.ended_on, p.counts["arrangements"]) for p in run.purged],
        refs(h),
        count(h, m.Erasure),
    )


def test_running_twice_purges_once_with_one_tombstone_and_audit_event(h: Harness) -> None:
    first = purge(h, date(2026, 12, 2))
    second = purge(h, date(2026, 12, 2))

    with h.app.factory() as session:
        tombstones = list(session.scalars(select(m.Erasure)))
        events = list(
            session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "retention.purge"))
        )
    assert (2, [], 1, "retention", 2, 1, None) == (
        len(first.purged),
        second.purged,
        len(tombstones),
        tombstones[0].reason,
        json.loads(tombstones[0].counts)["customers"],
        len(events),
        events[0].customer_ref,
    )


def test_the_daily_job_of_spocbot_run_purges(h: Harness) -> None:
    daemon = Daemon(h.app, h.watcher, h.outbox)  # the default daily hooks
    h.at(date(2026, 12, 2), "12:00")

    daemon.send_reminders()

    assert ["B-1", "C-1"] == refs(h)


def test_an_import_of_a_ceased_row_without_an_end_records_the_import_day(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("A-1")])
    (tmp_path / "ceased.csv").write_text(HEADER + row("A-1").replace(",active,", ",ceased,"))

    import_register(
        h.app.factory,
        tmp_path / "ceased.csv",
        staff_addresses=(),
        staff_domains=(),
        today=date(2026, 12, 4),
    )

    with h.app.factory() as session:
        assert date(2026, 12, 4) == session.scalars(select(m.Arrangement.ended_on)).one()


def test_an_import_that_brings_a_new_ceased_customer_warns_it_may_be_a_purged_one(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, [row("A-1")])
    (tmp_path / "back.csv").write_text(
        HEADER + row("A-1") + row("Z-9").replace(",active,", ",ceased,")
    )

    result = import_register(
        h.app.factory, tmp_path / "back.csv", staff_addresses=(), staff_domains=()
    )

    assert ["Z-9 is new here and ceased: if the retention purge"] == [
        w.message[:50] for w in result.warnings
    ]


def test_an_arrangement_with_a_message_still_to_send_is_kept_for_a_later_run(h: Harness) -> None:
    with h.app.factory.begin() as session:
        customer = session.scalars(select(m.Customer).where(m.Customer.ref == "A-1")).one()
        session.add(
            m.Outbox(
                kind="acknowledgement",
                customer_id=customer.id,
                original_message_id="<a@mail.example>",
                original_sha256="",
                recipient_name="Customer A-1",
                recipient_email="a-1@mail.example",
                route_reason="acknowledged",
                outgoing_message_id="<out-a@homes.example>",
                status="pending",
            )
        )

    run = purge(h, date(2026, 12, 2))

    assert (["P-1"], ["A-1"], True) == (
        [p.customer_ref for p in run.purged],
        [ref for ref, _ in run.skipped],
        "A-1" in refs(h),
    )


def test_an_arrangement_with_a_flag_still_to_remove_is_kept_until_it_is_confirmed(
    h: Harness,
) -> None:
    """The remove-flag task would go with the records, and the CRM flag would stay for good."""
    with h.app.factory.begin() as session:
        arrangement = session.scalars(
            select(m.Arrangement).join(m.Customer).where(m.Customer.ref == "A-1")
        ).one()
        task = m.FlagTask(
            arrangement_id=arrangement.id, system="CRM", action="remove", due_on=date(2026, 6, 1)
        )
        session.add(task)

    run = purge(h, date(2026, 12, 2))

    assert ["P-1"] == [p.customer_ref for p in run.purged]
    [(ref, why)] = run.skipped
    assert "A-1" == ref and "flags to remove in CRM" in why and "flags confirm A-1" in why
    with h.app.factory.begin() as session:
        session.get_one(m.FlagTask, task.id).confirmed_at = h.now

    assert ["A-1"] == [p.customer_ref for p in purge(h, date(2026, 12, 2)).purged]


def test_a_dry_run_counts_the_raw_files_the_purge_deletes(tmp_path: Path) -> None:
    from tests.privacytest import ERIN, end, populated

    h = populated(tmp_path)
    end(h, ERIN, date(2026, 1, 2))
    files = sorted(h.app.evidence.root.rglob("*"))

    dry = purge(h, date(2026, 12, 4), dry_run=True)
    untouched = (sorted(h.app.evidence.root.rglob("*")) == files, count(h, m.Erasure))
    real = purge(h, date(2026, 12, 4))

    assert ((True, 0), True, None, [ERIN]) == (
        untouched,
        dry.raw_files == real.raw_files > 0,
        dry.erasure_id,
        [p.customer_ref for p in dry.purged],
    )


# -- working copies: quarantine and dismissed review items ------------------------------------


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def working_copies(h: Harness) -> dict[str, str]:
    """Quarantined messages and review items no arrangement claims, of several ages; the
    raw file (SHA-256) of each, by name."""
    store = h.app.evidence
    files = {
        name: store.put(f"Subject: {name}\r\n\r\nworking copy {name}\r\n".encode())
        for name in ("q-old", "q-new", "shared", "r-dismissed-new", "r-open", "r-confirmed")
    }

    def quarantined(uid: int, at: str, sha: str) -> m.Quarantine:
        return m.Quarantine(
            mailbox="info@homes.example",
            folder="INBOX",
            uidvalidity=1,
            uid=uid,
            message_id=f"<q{uid}@elsewhere.example>",
            reason="malformed MIME",
            sha256=sha,
            size=10,
            created_at=utc(at),
        )

    def review(uid: int, status: str, at: str, decided: str | None, sha: str) -> m.ReviewItem:
        return m.ReviewItem(
            mailbox="info@homes.example",
            folder="INBOX",
            uidvalidity=1,
            uid=uid,
            message_id=f"<r{uid}@elsewhere.example>",
            received_at=utc(at),
            created_at=utc(at),
            sender=f"r{uid}@elsewhere.example",
            subject="Hello",
            rules="possible-match",
            reason="may be a registered customer's",
            sha256=sha,
            size=10,
            status=status,
            customer_ref="C-1" if status == "confirmed" else None,
            decided_by=None if decided is None else "dmo",
            decided_at=None if decided is None else utc(decided),
        )

    with h.app.factory.begin() as session:
        session.add_all(
            [
                # 00:30 on 1 June in London (BST): kept until 1 December.
                quarantined(1, "2026-05-31T23:30:00", files["q-old"]),
                quarantined(2, "2026-06-02T09:00:00", files["q-new"]),
                quarantined(3, "2026-06-02T09:00:00", files["shared"]),
                review(
                    4, "dismissed", "2026-04-01T09:00:00", "2026-06-01T12:00:00", files["shared"]
                ),
                review(
                    5,
                    "dismissed",
                    "2026-04-01T09:00:00",
                    "2026-11-01T09:00:00",
                    files["r-dismissed-new"],
                ),
                review(6, "open", "2026-01-05T09:00:00", None, files["r-open"]),
                review(
                    7,
                    "confirmed",
                    "2026-01-05T09:00:00",
                    "2026-01-06T09:00:00",
                    files["r-confirmed"],
                ),
            ]
        )
    return files


def uids(h: Harness, model: type[m.Quarantine] | type[m.ReviewItem]) -> list[int]:
    with h.app.factory() as session:
        return sorted(session.scalars(select(model.uid)))


def test_working_copies_go_after_quarantine_months_and_open_review_items_stay(
    h: Harness,
) -> None:
    files = working_copies(h)

    on_last_day = purge(h, date(2026, 12, 1))
    quarantine_before = uids(h, m.Quarantine)
    run = purge(h, date(2026, 12, 2))

    assert (0, 0, [1, 2, 3]) == (
        on_last_day.quarantine_deleted,
        on_last_day.dismissed_deleted,
        quarantine_before,
    )
    assert (1, 1, 1) == (run.quarantine_deleted, run.dismissed_deleted, run.open_review_items_past)
    assert ([2, 3], [5, 6, 7]) == (uids(h, m.Quarantine), uids(h, m.ReviewItem))
    present = {name for name, sha in files.items() if h.app.evidence.path_for(sha).exists()}
    # "shared" was the dismissed item's and is still a kept quarantined message's.
    assert {"q-new", "shared", "r-dismissed-new", "r-open", "r-confirmed"} == present


def test_the_working_copies_are_counted_in_the_tombstone_and_the_audit(h: Harness) -> None:
    working_copies(h)

    run = purge(h, date(2026, 12, 2))

    with h.app.factory() as session:
        (tombstone,) = session.scalars(select(m.Erasure))
        (event,) = session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action == "retention.purge")
        )
    counts = json.loads(tombstone.counts)
    assert (1, 1) == (counts["quarantine_expired"], counts["review_items_dismissed_expired"])
    assert "quarantine_months = 6" in event.details
    assert "quarantine_expired 1" in event.details
    assert run.erasure_id == tombstone.id


def test_a_dry_run_counts_the_working_copies_and_deletes_none(h: Harness) -> None:
    files = working_copies(h)

    run = purge(h, date(2026, 12, 2), dry_run=True)

    assert (1, 1, 1) == (run.quarantine_deleted, run.dismissed_deleted, run.open_review_items_past)
    assert ([1, 2, 3], [4, 5, 6, 7]) == (uids(h, m.Quarantine), uids(h, m.ReviewItem))
    assert all(h.app.evidence.path_for(sha).exists() for sha in files.values())
    assert 1 == run.raw_files  # q-old; "shared" is still referenced


def test_only_working_copies_due_still_make_a_tombstone(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    working_copies(h)

    run = purge(h, date(2026, 12, 2))

    assert ([], 1, 1) == (run.purged, count(h, m.Erasure), run.raw_files)
    assert ["C-1"] == refs(h)


def test_a_quarantined_message_of_a_customer_in_the_register_stays_with_their_records(
    tmp_path: Path,
) -> None:
    """The watcher decided it was C-1's (an over-size message), or it is from C-1's address,
    present or former: kept while C-1's records are, whatever its age."""
    h = Harness(tmp_path, [row("C-1")])
    with h.app.factory.begin() as session:
        address = session.scalars(select(m.CustomerEmail.address)).first()
        customer = session.scalars(select(m.Customer)).one()
        customer.former.append(m.FormerIdentifier(kind="email", value="old@mail.example"))
    theirs = h.app.evidence.put(f"From: {address}\r\nSubject: x\r\n\r\nx\r\n".encode())
    former = h.app.evidence.put(b"From: old@mail.example\r\nSubject: x\r\n\r\ny\r\n")
    with h.app.factory.begin() as session:
        for uid, sha in ((1, None), (2, theirs), (3, former)):
            session.add(
                m.Quarantine(
                    mailbox="info@homes.example",
                    folder="INBOX",
                    uidvalidity=1,
                    uid=uid,
                    reason="over the size limit",
                    sha256=sha,
                    created_at=utc("2026-01-10T09:00:00"),
                )
            )
        session.add(
            m.ProcessedMessage(
                mailbox="info@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=1,
                message_id="<big@mail.example>",
                decision="review",
                rules="message-too-large",
                customer_ref="C-1",
            )
        )

    run = purge(h, date(2026, 12, 2))

    assert (0, [1, 2, 3]) == (run.quarantine_deleted, uids(h, m.Quarantine))


def test_a_rescan_does_not_bring_back_an_expired_review_item(tmp_path: Path) -> None:
    from bot import review_service
    from bot.rescan import rescan
    from tests.unit.test_review_queue import stranger_message
    from tests.unit.test_watcher_with_fakes import NOW
    from tests.unit.test_watcher_with_fakes import Harness as WatcherHarness

    w = WatcherHarness(tmp_path)
    w.info.deliver(stranger_message(), received_at=utc("2026-01-05T09:00:00"))
    w.watcher.run_pass()
    with w.app.factory() as session:
        (item_id,) = session.scalars(select(m.ReviewItem.id)).all()
    review_service.dismiss(
        w.app.factory, w.app.evidence, item_id, operator="dmo", now=utc("2026-01-06T09:00:00")
    )
    run = retention.purge(
        w.app.factory,
        w.app.evidence,
        as_of=date(2026, 12, 2),
        months_after_end=6,
        quarantine_months=6,
        operator="dmo",
        now=NOW,
    )
    info = [mb for mb in w.app.settings.mailboxes if mb.address == "info@homes.example"]
    files = sorted(w.app.evidence.root.rglob("*.eml"))

    rescan(
        w.app.factory,
        {"info@homes.example": w.info},
        info,
        utc("2026-01-01T00:00:00"),
        operator="dmo",
    )
    w.watcher.run_pass()

    with w.app.factory() as session:
        assert [] == session.scalars(select(m.ReviewItem)).all()
        expired = session.scalars(select(m.ExpiredCopy.kind)).all()
    assert (1, ["review_item"]) == (run.dismissed_deleted, expired)
    assert files == sorted(w.app.evidence.root.rglob("*.eml"))  # its raw message not kept again
