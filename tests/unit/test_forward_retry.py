"""``spocbot forwards retry`` on fakes and real SQLite: where a failed forward may be re-sent,
what the row says afterwards, and the audit event."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.audit import events
from bot.mail.ports import DeliveryRejected
from bot.outbox import OutboxError
from bot.store import models as m
from tests.unit.test_watcher_with_fakes import Harness, customer_message, retry


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    harness = Harness(tmp_path)
    harness.info.deliver(customer_message())
    harness.sender.fail_with = DeliveryRejected("550 no such user")
    harness.watcher.run_pass()
    harness.sender.fail_with = None
    return harness


def forward(h: Harness, forward_id: int = 1) -> m.Outbox:
    with h.app.factory() as session:
        row = session.get_one(m.Outbox, forward_id)
        session.expunge(row)
        return row


def test_a_failed_forward_can_be_re_sent_to_the_dmo(h: Harness) -> None:
    assert ("the Data Management Officer", "dmo@homes.example") == retry(
        h, 1, to="DMO@homes.example"
    )
    h.watcher.run_pass()

    assert [("dmo@homes.example", "bot@homes.example")] == [s.recipients for s in h.sender.sent]


def test_retry_clears_the_old_failure_and_names_the_operator_in_the_route(h: Harness) -> None:
    assert "550 no such user" == forward(h).last_error

    retry(h, 1, to="cover@homes.example")

    row = forward(h)
    assert ("pending", None, None) == (row.status, row.last_error, row.sent_at)
    assert row.route_reason.endswith("; re-sent to Chris Cover by ops")


def test_retry_is_written_to_the_audit_log_with_the_failure_it_clears(h: Harness) -> None:
    retry(h, 1, to="cover@homes.example")

    with h.app.factory() as session:
        *_, event = events(session)  # after the harness's register import
    assert {
        "operator": "ops",
        "action": "forward.retry",
        "record": "outbox:1",
        "customer_ref": "C-1",
        "details": "breach-forward queued again to Chris Cover <cover@homes.example> instead "
        "of Sam Spoc <spoc@homes.example>; it had failed: 550 no such user",
    } == {k: event[k] for k in ("operator", "action", "record", "customer_ref", "details")}


def test_retry_to_the_same_recipient_leaves_the_route_reason_alone(h: Harness) -> None:
    before = forward(h).route_reason

    retry(h, 1)

    assert before == forward(h).route_reason


def test_an_acknowledgement_cannot_be_redirected(h: Harness) -> None:
    with h.app.factory.begin() as session:
        session.get_one(m.Outbox, 1).kind = "acknowledgement"

    with pytest.raises(OutboxError, match="acknowledgement to the customer"):
        retry(h, 1, to="cover@homes.example")


def test_only_a_failed_forward_can_be_retried(h: Harness) -> None:
    retry(h, 1)

    with pytest.raises(OutboxError, match="forward 1 is pending, not failed"):
        retry(h, 1)
