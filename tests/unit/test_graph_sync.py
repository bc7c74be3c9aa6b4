"""The Graph adapter's message numbers (bot/store/graph_sync.py): a message handed over again
by `spocbot rescan` gets a new number and keeps, under it, what was recorded under the old
one, so that the watcher does not queue it for review twice nor bring back what the
retention purge deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.store import models as m
from bot.store.graph_sync import GraphSyncStore, Reported
from tests.unit.test_watcher_with_fakes import Harness

MAILBOX, FOLDER = "info@homes.example", "inbox"
AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def keyed(uid: int) -> dict[str, object]:
    return {"mailbox": MAILBOX, "folder": FOLDER, "uidvalidity": 1, "uid": uid}


def test_a_rescanned_message_keeps_its_records_under_its_new_number(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    sync = GraphSyncStore(h.app.factory)
    (first,) = sync.record_page(
        MAILBOX, FOLDER, [Reported("AAA", AT, 100)], [], "l1", complete=True
    )
    sync.record_page(MAILBOX, FOLDER, [Reported("BBB", AT, 100)], [], "l2", complete=True)
    with h.app.factory.begin() as session:
        session.add_all(
            [
                m.ProcessedMessage(
                    **keyed(first.uid), message_id="<a@x>", decision="review", rules="r"
                ),
                m.ReviewItem(
                    **keyed(first.uid),
                    message_id="<a@x>",
                    received_at=AT,
                    rules="r",
                    reason="r",
                ),
                m.ExpiredCopy(kind="quarantine", **keyed(first.uid)),
                m.ProcessedMessage(**keyed(2), message_id="<b@x>", decision="review", rules="r"),
            ]
        )

    sync.rescan(MAILBOX, FOLDER, datetime(2026, 1, 1, tzinfo=UTC), "l0")
    (again,) = sync.record_page(
        MAILBOX, FOLDER, [Reported("AAA", AT, 100)], [], "l3", complete=True
    )

    assert (1, 3) == (first.uid, again.uid)
    with h.app.factory() as session:
        assert [2, 3] == sorted(session.scalars(select(m.ProcessedMessage.uid)))
        assert [3] == list(session.scalars(select(m.ReviewItem.uid)))
        assert [3] == list(session.scalars(select(m.ExpiredCopy.uid)))
