"""The DMO's digests on a real SQLite database: once per slot, a missed week in one digest,
what they report, the chart, the one-line empty digest, dry runs and need-to-know."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import lifecycle
from bot.digests import BREACHES, REVIEWS, DigestError
from bot.flag_tasks import confirm, sync_all
from bot.outbox import FAILED
from bot.store import models as m
from tests.schedtest import SECRET_NEEDS, SECRET_REASONS, SPOC2, Harness, row, texts


def add_breach(h: Harness, ref: str, at: datetime, rules: str, *, new_issue: bool = False) -> None:
    with h.app.factory.begin() as session:
        customer = session.scalars(select(m.Customer).where(m.Customer.ref == ref)).one()
        session.add(
            m.Breach(
                customer_id=customer.id,
                message_id=f"<{ref}-{at.timestamp()}-{rules}@mail.example>",
                received_at=at,
                reason="sent to the information mailbox",
                rules=rules,
                sha256="0" * 64,
                size=100,
                new_issue=new_issue,
                created_at=at,
            )
        )


def parts(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def test_a_digest_is_sent_once_per_slot_and_a_repeated_tick_does_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    h.at(date(2027, 1, 6), "07:45")

    first = h.daemon.digests.run(BREACHES)
    again = h.daemon.digests.run(BREACHES)

    assert first.digest_id is not None
    assert (None, first.digest_id) == (again.digest_id, again.existing_id)
    assert datetime(2027, 1, 6, 7, 30, tzinfo=UTC) == first.slot_at
    assert datetime(2027, 1, 5, 7, 30, tzinfo=UTC) == first.period_start  # the day before
    assert 1 == len(h.outbox_rows("digest"))


def test_a_missed_week_gives_one_reviews_digest_covering_the_whole_gap(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-01-25")])
    h.at(date(2027, 1, 4), "08:05")  # Monday: the weekly slot is 08:00
    h.daemon.tick()
    h.at(date(2027, 1, 20), "10:00")  # the service was down over Monday 11 January

    h.daemon.tick()
    h.daemon.tick()

    with h.app.factory() as session:
        digests = session.scalars(
            select(m.Digest).where(m.Digest.kind == REVIEWS).order_by(m.Digest.slot_at)
        ).all()
    assert [(date(2027, 1, 4), None), (date(2027, 1, 18), date(2027, 1, 4))] == [
        (d.slot_at.date(), None if i == 0 else d.period_start.date()) for i, d in enumerate(digests)
    ]
    assert digests[1].period_start == digests[0].period_end


def test_the_breaches_digest_reports_per_customer_with_an_inline_chart(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1"), row("C-2", SPOC2)])
    h.arrangement("C-2", status="cease_and_desist")
    yesterday = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
    add_breach(h, "C-1", yesterday, "bypassed-spoc")
    add_breach(h, "C-1", yesterday + timedelta(hours=1), "bypassed-spoc,outside-hours")
    add_breach(h, "C-1", yesterday - timedelta(weeks=3), "bypassed-spoc")  # before: chart only
    add_breach(h, "C-2", yesterday, "emergency,bypassed-spoc", new_issue=True)
    with h.app.factory.begin() as session:
        session.add(
            m.Quarantine(
                mailbox="info@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=7,
                reason="message too large",
                created_at=yesterday,
            )
        )
        session.add(
            m.Outbox(
                kind="breach-forward",
                customer_id=1,
                original_message_id="<x@mail.example>",
                original_sha256="0" * 64,
                recipient_name="Sam",
                recipient_email="spoc@homes.example",
                route_reason="to the SPOC",
                outgoing_message_id="<failed@homes.example>",
                status=FAILED,
            )
        )
    h.at(date(2027, 1, 6), "08:00")

    h.daemon.tick()

    (digest,) = h.sent("digest")[:1]
    text, html = list(texts(digest))
    assert "C-1 (Customer C-1): 2 breaches (bypassed spoc 2, outside hours 1); 1 forward" in text
    assert "C-2 (Customer C-2): 1 breach (bypassed spoc 1); 1 emergency; 1 new issue" in text
    assert "Quarantined in this period (1" in text and "message too large" in text
    assert 'src="cid:breaches-chart@spocbot"' in html
    assert [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ] == parts(digest)
    png = next(p for p in digest.walk() if p.get_content_type() == "image/png")
    assert "<breaches-chart@spocbot>" == png["Content-ID"]
    assert png.get_content().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_reviews_digest_lists_due_overdue_lapses_appeals_and_flags(tmp_path: Path) -> None:
    h = Harness(
        tmp_path,
        [
            row("C-1", review="2027-01-20"),
            row("C-2", review="2027-01-01"),
            row("C-3", review="2027-02-01"),
            row("C-4", review="2027-06-01", start="2027-01-06"),
            row("C-5", review="2027-06-01"),
        ],
    )
    h.arrangement("C-3", lapse_at_review=True)
    sync_all(h.app.factory, ("CRM",), date(2026, 12, 1))
    confirm(h.app.factory, ("CRM",), "C-5", "CRM", "raise")
    h.arrangement("C-5", status="ceased", ended_on=date(2027, 1, 7))
    sync_all(h.app.factory, ("CRM",), date(2027, 1, 7))
    h.add_appeal("C-1", date(2027, 1, 8))
    h.at(date(2027, 1, 4), "09:00")
    h.daemon.digests.run(REVIEWS)  # the previous week's digest
    h.at(date(2027, 1, 11), "09:00")

    run = h.daemon.digests.run(REVIEWS)

    text = run.text
    assert (
        "Overdue reviews:\n"
        "- C-2 (Customer C-2), SPOC Sam Spoc: review was due on 1 January 2027, 10 days ago" in text
    )
    assert "- C-1 (Customer C-1), SPOC Sam Spoc: 20 January 2027 (in 9 days)" in text
    assert "- C-3 (Customer C-3), SPOC Sam Spoc: 1 February 2027, in 21 day(s)" in text
    assert "received 8 January 2027, decision due 15 January 2027: 4 working days left" in text
    assert "- Raise the flag in CRM for C-4 (Customer C-4): since 6 January 2027" in text
    assert "- Remove the flag in CRM for C-5 (Customer C-5): since 7 January 2027" in text
    assert "  then: spocbot flags confirm C-5 --system CRM --removed" in text
    h.daemon.deliver()
    (digest,) = h.sent("digest")[-1:]
    assert "<table" in list(texts(digest))[1]


def test_a_digest_with_nothing_to_report_is_one_line(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2028-01-01")])
    h.at(date(2027, 1, 6), "08:00")

    h.daemon.tick()

    for message in h.sent("digest"):
        text, html = list(texts(message))
        assert 1 == len(text.strip().splitlines()), text
        assert text.startswith(("No breaches", "No reviews"))
        assert "image/png" not in parts(message)
        assert 1 == html.count("<p")


def test_a_dry_run_records_and_sends_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-01-20")])
    h.at(date(2027, 1, 11), "09:00")

    run = h.daemon.digests.run(REVIEWS, date(2027, 3, 1), dry_run=True)

    assert "Reviews digest" in run.text and run.digest_id is None
    assert ([], []) == (h.outbox_rows("digest"), h.sender.sent)
    with h.app.factory() as session:
        assert [] == session.scalars(select(m.Digest)).all()


def test_a_slot_in_the_future_is_refused_unless_dry(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    h.at(date(2027, 1, 6), "07:00")

    with pytest.raises(DigestError, match="not due yet"):
        h.daemon.digests.run(BREACHES, date(2027, 1, 6))


def test_digests_never_contain_reasons_or_support_needs(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-01-12"), row("C-2", review="2027-01-01")])
    add_breach(h, "C-1", datetime(2027, 1, 10, 12, tzinfo=UTC), "bypassed-spoc")
    h.add_appeal("C-2", date(2027, 1, 8))
    h.at(date(2027, 1, 11), "09:00")

    h.daemon.tick()

    assert 2 == len(h.sent("digest"))
    for message in h.sent("digest"):
        for secret in (SECRET_REASONS, SECRET_NEEDS, "ZEBRA", "OKAPI"):
            assert secret not in message.as_string()
            assert all(secret not in t for t in texts(message))


def test_a_flag_task_is_in_every_reviews_digest_until_it_is_confirmed(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-03-01", start="2026-06-01")])
    h.arrangement("C-1", status="warning", review_months=6)
    lifecycle.decide(
        h.app.factory,
        "C-1",
        agreed=True,
        on=date(2026, 12, 2),
        today=date(2026, 12, 2),
        reasons="ZEBRA",
        flag_systems=("CRM",),
    )
    flagged = []
    for monday in (date(2026, 12, 7), date(2026, 12, 14), date(2026, 12, 21)):
        h.at(monday, "09:00")
        flagged.append(
            "Raise the flag in CRM for C-1 (Customer C-1): since 2 December 2026"
            in h.daemon.digests.run(REVIEWS).text
        )
        if monday == date(2026, 12, 14):
            confirm(h.app.factory, ("CRM",), "C-1", "CRM", "raise")

    assert [True, True, False] == flagged
