"""The audit log: what the service does by itself is recorded (each send, each breach), under
its own name or the command's operator, without message content; the log is append-only in
the database itself; `audit list` filters by action and date."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DatabaseError

from bot.audit import SCHEDULER, WATCHER, audit, events
from bot.cli import main
from bot.mail.ports import MailServerError
from bot.outbox import REMINDER, DeliveryReport, OutboxSender, queue_notice
from bot.store import models as m
from tests.unit.test_watcher_with_fakes import NOW, Harness, customer_message

BODY = "My neighbour's boy has a diagnosis and I need the boiler fixed"


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def body_message(n: int = 1) -> bytes:
    return customer_message(n).replace(b"\r\n\r\n", f"\r\n\r\n{BODY}\r\n".encode(), 1)


def test_a_breach_and_its_forward_are_each_audited_once_under_the_watchers_name(
    h: Harness,
) -> None:
    h.info.deliver(body_message())
    h.watcher.run_pass()
    h.watcher.run_pass()  # nothing new: nothing audited twice

    with h.app.factory() as session:
        rows = events(session, "C-1")
        [breach_id] = session.scalars(select(m.Breach.id)).all()
        [outbox_id] = session.scalars(select(m.Outbox.id)).all()
    assert [
        (WATCHER, "breach.recorded", f"breach:{breach_id}"),
        (WATCHER, "breach-forward.sent", f"outbox:{outbox_id}"),
    ] == [(e["operator"], e["action"], e["record"]) for e in rows]
    assert "info@homes.example/INBOX" in rows[0]["details"]
    assert f"about breach {breach_id}" in rows[1]["details"]
    assert "Sam Spoc <spoc@homes.example>" in rows[1]["details"]


def test_audit_details_hold_no_message_text_subject_or_reasons(h: Harness) -> None:
    h.info.deliver(body_message())
    h.watcher.run_pass()

    with h.app.factory() as session:
        reason = session.scalars(select(m.Breach.reason)).one()
        text = json.dumps(events(session))
    assert reason and reason not in text
    assert (False, False) == ("diagnosis" in text, "Repairs 1" in text)


def test_the_send_is_audited_in_the_transaction_that_marks_it_sent(h: Harness) -> None:
    """A send that fails is not audited as sent; the retry that succeeds is, once."""
    h.info.deliver(customer_message())
    h.sender.fail_with = MailServerError("451 try later")
    h.watcher.run_pass()
    with h.app.factory() as session:
        assert [] == events(session, action="breach-forward.sent")
    h.sender.fail_with = None
    [row] = h.outbox_rows()
    h.outbox._clock = lambda: row.next_attempt_at  # type: ignore[assignment,return-value]
    h.watcher.run_pass()
    h.watcher.run_pass()
    with h.app.factory() as session:
        assert 1 == len(events(session, action="breach-forward.sent"))


def queue_reminder(h: Harness) -> None:
    with h.app.factory.begin() as session:
        queue_notice(
            session,
            kind=REMINDER,
            key="reminder:test",
            message=b"From: bot@homes.example\r\nTo: spoc@homes.example\r\n"
            b"Message-ID: <r1@homes.example>\r\nSubject: Review due\r\n\r\nDue.\r\n",
            message_id="<r1@homes.example>",
            recipient_name="Sam Spoc",
            recipient_email="spoc@homes.example",
            reason="review due",
            evidence=h.app.evidence,
        )


def test_a_reminder_sent_by_the_service_is_audited_as_the_scheduler(h: Harness) -> None:
    queue_reminder(h)
    h.watcher.run_pass()

    with h.app.factory() as session:
        [event] = events(session, action="reminder.")
    assert (SCHEDULER, "reminder.sent", None) == (
        event["operator"],
        event["action"],
        event["customer_ref"],
    )


def test_what_a_command_sends_is_audited_under_its_operator(h: Harness) -> None:
    queue_reminder(h)
    sender = OutboxSender(
        h.app.factory,
        h.sender,
        h.outbox._sent_log,
        h.app.evidence,
        h.app.templates,
        h.outbox._identity,
        confirm_seconds=0,
        retry_initial_seconds=5,
        retry_max_seconds=60,
        clock=lambda: NOW,
        operator="Dana DMO",
    )
    sender.deliver(DeliveryReport())

    with h.app.factory() as session:
        [event] = events(session, action="reminder.sent")
    assert "Dana DMO" == event["operator"]


def test_events_filter_by_action_prefix_and_time(h: Harness) -> None:
    later = datetime(2031, 1, 1, tzinfo=UTC)  # after the harness's own register import
    with h.app.factory.begin() as session:
        audit(session, "a", "register.import", "register", at=later - timedelta(days=2))
        audit(session, "a", "register.export", "register", at=later)
        audit(session, "a", "registered_100%", "x", at=later)
        audit(session, "a", "letter.send", "letter:1", at=later)
    with h.app.factory() as session:
        since = later - timedelta(days=1)
        assert ["register.export"] == [
            e["action"] for e in events(session, action="register.", since=since)
        ]
        assert [] == events(session, action="register%")  # % and _ are not wildcards
        assert ["registered_100%"] == [e["action"] for e in events(session, action="registered_")]


def cli_audit(tmp_path: Path, h: Harness, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(
        main, ["--config", str(tmp_path / "spocbot.toml"), "audit", "list", "--json", *args]
    )
    assert 0 == result.exit_code, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_audit_list_takes_action_since_and_customer(tmp_path: Path, h: Harness) -> None:
    with h.app.factory.begin() as session:
        audit(session, "a", "letter.send", "letter:1", customer_ref="C-1", at=NOW)
        audit(session, "a", "letter.send", "letter:2", customer_ref="C-2", at=NOW)
        audit(
            session,
            "a",
            "letter.render",
            "letter:0",
            customer_ref="C-1",
            at=datetime(2020, 1, 1, tzinfo=UTC),
        )

    rows = cli_audit(
        tmp_path, h, "--action", "letter.", "--since", "2026-12-01", "--customer", "C-1"
    )

    assert ["letter:1"] == [r["record"] for r in rows]


def test_audit_list_refuses_a_date_that_is_not_one(tmp_path: Path, h: Harness) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(tmp_path / "spocbot.toml"), "audit", "list", "--since", "3 Dec"]
    )
    assert (2, True) == (result.exit_code, "not a date in YYYY-MM-DD form" in result.output)


# -- append-only, in the database itself ------------------------------------------------------


def one_event(h: Harness) -> int:
    with h.app.factory.begin() as session:
        audit(session, "a", "register.import", "register", details="1 new")
    with h.app.factory() as session:
        return session.scalars(select(m.AuditEvent.id)).first() or 0


def test_an_audit_event_cannot_be_changed(h: Harness) -> None:
    event_id = one_event(h)
    refused = pytest.raises(DatabaseError, match="the audit log is append-only")
    with refused, h.app.factory.begin() as session:
        session.execute(
            update(m.AuditEvent).where(m.AuditEvent.id == event_id).values(operator="x")
        )


def test_an_audit_event_cannot_be_deleted(h: Harness) -> None:
    event_id = one_event(h)
    refused = pytest.raises(DatabaseError, match="the audit log is append-only")
    with refused, h.app.factory.begin() as session:
        session.execute(delete(m.AuditEvent).where(m.AuditEvent.id == event_id))
    with h.app.factory() as session:
        assert session.get(m.AuditEvent, event_id) is not None


def test_events_can_still_be_added(h: Harness) -> None:
    one_event(h)
    with h.app.factory.begin() as session:
        session.execute(
            insert(m.AuditEvent).values(at=NOW, operator="b", action="x.y", record="r", details="")
        )
    with h.app.factory() as session:
        assert ["a", "b"] == [e["operator"] for e in events(session, action="")][-2:]
