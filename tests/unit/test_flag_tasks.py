"""Flag tasks in other systems (policy §6): a raise task per system when an arrangement is in
force, a remove task when it ends, kept in step with the register by an idempotent sync, open
until confirmed, and listed in the reviews digest until then."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import flag_tasks, lifecycle
from bot.digests import REVIEWS
from bot.flag_tasks import FlagTaskError, confirm, sync_all
from bot.scheduler import Daemon, daily_hooks
from bot.store import models as m
from tests.schedtest import Harness, row

SYSTEMS = ("CRM", "Housing management system")


def tasks(h: Harness) -> set[tuple[str, str, str, date, bool]]:
    """(customer ref, system, action, due on, confirmed) of every task."""
    with h.app.factory() as session:
        return {
            (
                r["customer_ref"],
                r["system"],
                r["action"],
                date.fromisoformat(r["due_on"]),
                bool(r["confirmed_at"]),
            )
            for r in flag_tasks.list_tasks(session, include_confirmed=True)
        }


def test_every_arrangement_in_force_gets_a_raise_task_per_system_due_on_its_start(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, [row("C-1", start="2026-06-01"), row("C-2", start="2026-07-01")])
    h.arrangement("C-2", status="warning")

    sync_all(h.app.factory, SYSTEMS, date(2026, 12, 1))

    assert {
        ("C-1", "CRM", "raise", date(2026, 6, 1), False),
        ("C-1", "Housing management system", "raise", date(2026, 6, 1), False),
    } == tasks(h)


def test_the_sync_is_idempotent(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    first = sync_all(h.app.factory, SYSTEMS, date(2026, 12, 1))
    before = tasks(h)

    second = sync_all(h.app.factory, SYSTEMS, date(2026, 12, 2))

    assert (2, 0, before) == (first.created, second.created + second.dropped, tasks(h))


def test_an_end_asks_for_the_flags_to_be_removed_on_the_end_date(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    sync_all(h.app.factory, SYSTEMS, date(2026, 12, 1))
    confirm(h.app.factory, SYSTEMS, "C-1", "crm", "raise", operator="dmo")

    lifecycle.end(
        h.app.factory,
        "C-1",
        on=date(2026, 12, 3),
        today=date(2026, 12, 4),
        flag_systems=SYSTEMS,
    )

    # The CRM flag was raised: it must come down.  The housing system's was never confirmed
    # raised: its task is dropped, and its removal asked for in case it was raised after all.
    assert {
        ("C-1", "CRM", "raise", date(2026, 6, 1), True),
        ("C-1", "CRM", "remove", date(2026, 12, 3), False),
        ("C-1", "Housing management system", "remove", date(2026, 12, 3), False),
    } == tasks(h)


def test_a_decision_that_starts_an_arrangement_asks_for_the_flags(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    h.arrangement("C-1", status="warning", review_months=6)

    lifecycle.decide(
        h.app.factory,
        "C-1",
        agreed=True,
        on=date(2026, 12, 1),
        today=date(2026, 12, 1),
        reasons="ZEBRA",
        start=date(2026, 12, 2),
        flag_systems=SYSTEMS,
    )

    assert {
        ("C-1", "CRM", "raise", date(2026, 12, 2), False),
        ("C-1", "Housing management system", "raise", date(2026, 12, 2), False),
    } == tasks(h)


def test_made_live_again_after_removal_the_flag_must_go_up_again(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    sync_all(h.app.factory, ("CRM",), date(2026, 12, 1))
    confirm(h.app.factory, ("CRM",), "C-1", "CRM", "raise")
    h.arrangement("C-1", status="ceased", ended_on=date(2026, 12, 2))
    sync_all(h.app.factory, ("CRM",), date(2026, 12, 2))
    confirm(h.app.factory, ("CRM",), "C-1", "CRM", "remove")

    h.arrangement("C-1", status="active", ended_on=None)
    sync_all(h.app.factory, ("CRM",), date(2026, 12, 5))

    assert {("C-1", "CRM", "raise", date(2026, 6, 1), False)} == tasks(h)


def test_open_tasks_of_a_system_no_longer_configured_are_dropped(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    sync_all(h.app.factory, SYSTEMS, date(2026, 12, 1))
    confirm(h.app.factory, SYSTEMS, "C-1", "CRM", "raise")

    sync_all(h.app.factory, ("Repairs system",), date(2026, 12, 1))

    assert {
        ("C-1", "CRM", "raise", date(2026, 6, 1), True),  # the record of what was done stays
        ("C-1", "Repairs system", "raise", date(2026, 6, 1), False),
    } == tasks(h)


def test_confirm_records_who_and_when_and_is_audited(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    sync_all(h.app.factory, SYSTEMS, date(2026, 12, 1))
    at = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)

    done = confirm(
        h.app.factory,
        SYSTEMS,
        "c-1",
        "housing MANAGEMENT system",
        "raise",
        now=at,
        operator="Dee Emmo",
    )

    assert ("C-1", "Housing management system") == (done.customer_ref, done.system)
    with h.app.factory() as session:
        task = session.scalars(
            select(m.FlagTask).where(m.FlagTask.system == "Housing management system")
        ).one()
        assert (at, "Dee Emmo") == (task.confirmed_at, task.confirmed_by)
        event = session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action == "flags.confirm_raise")
        ).one()
        assert ("C-1", "Dee Emmo") == (event.customer_ref, event.operator)
        assert "Housing management system" in event.details


def test_confirm_an_unknown_system_lists_the_configured_ones(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    sync_all(h.app.factory, SYSTEMS, date(2026, 12, 1))

    with pytest.raises(FlagTaskError, match="the systems are: 'CRM', 'Housing management system'"):
        confirm(h.app.factory, SYSTEMS, "C-1", "Repairs", "raise")


def test_confirm_without_an_open_task_says_so(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    sync_all(h.app.factory, SYSTEMS, date(2026, 12, 1))

    with pytest.raises(FlagTaskError, match="C-1 has no task to remove a flag in CRM"):
        confirm(h.app.factory, SYSTEMS, "C-1", "CRM", "remove")


def test_confirm_twice_says_when_and_by_whom(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    sync_all(h.app.factory, SYSTEMS, date(2026, 12, 1))
    at = datetime(2026, 10, 20, 10, 30, tzinfo=UTC)  # British Summer Time: 11:30 in London
    confirm(h.app.factory, SYSTEMS, "C-1", "CRM", "raise", now=at, operator="Dee Emmo")

    with pytest.raises(
        FlagTaskError,
        match=r"already confirmed raised, on 2026-10-20 11:30 \(UK time\) by Dee Emmo",
    ):
        confirm(h.app.factory, SYSTEMS, "C-1", "CRM", "raise")


def test_the_daily_hooks_keep_the_tasks_in_step_after_a_lapse(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2026-12-03")])
    h.arrangement("C-1", lapse_at_review=True)
    sync_all(h.app.factory, ("CRM",), date(2026, 12, 1))
    confirm(h.app.factory, ("CRM",), "C-1", "CRM", "raise")
    h.at(date(2026, 12, 3), "09:00")
    daemon = Daemon(h.app, h.watcher, h.outbox)
    assert ["lapse_due", "flag_tasks", "retention_purge"] == [
        hook.__name__ for hook in daily_hooks(h.app)
    ]

    daemon.send_reminders()

    assert ("C-1", "CRM", "remove", date(2026, 12, 3), False) in tasks(h)


def test_the_reviews_digest_lists_open_tasks_until_they_are_confirmed(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2028-01-01")])
    sync_all(h.app.factory, ("CRM",), date(2026, 12, 1))
    h.at(date(2026, 12, 7), "09:00")

    before = h.daemon.digests.run(REVIEWS).text
    confirm(h.app.factory, ("CRM",), "C-1", "CRM", "raise")
    h.at(date(2026, 12, 14), "09:00")
    after = h.daemon.digests.run(REVIEWS).text

    assert (
        "- Raise the flag in CRM for C-1 (Customer C-1): since 1 June 2026\n"
        "  then: spocbot flags confirm C-1 --system CRM --raised"
    ) in before
    assert "flag in CRM" not in after
    assert after.startswith("No reviews due"), after
