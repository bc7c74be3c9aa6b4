"""Reminders over a simulated year on a real SQLite database, with the daemon's ticks driven
by a frozen clock: every reminder recorded and sent exactly once, catch-up after an outage,
repeated ticks, dry runs and need-to-know."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.reminder_service import ReminderError
from bot.store import models as m
from tests.schedtest import (
    DMO,
    SECRET_NEEDS,
    SECRET_REASONS,
    SPOC,
    SPOC2,
    Harness,
    day_range,
    row,
    texts,
)


def weekly(first: date, count: int) -> list[date]:
    return [first + timedelta(weeks=n) for n in range(count)]


def test_a_year_of_daily_ticks_sends_every_reminder_exactly_once(tmp_path: Path) -> None:
    """C-1 is reviewed late (the review date moves) and ends in October; C-2 lapses at its
    review; C-3 has an appeal over Christmas, decided two working days late."""
    h = Harness(
        tmp_path,
        [
            row("C-1", SPOC, review="2027-03-01"),
            row("C-2", SPOC2, review="2027-06-15"),
            row("C-3", SPOC, review="2028-03-31"),
        ],
    )
    h.arrangement("C-2", lapse_at_review=True)
    appeal = 0
    for day in day_range(date(2027, 1, 1), date(2027, 12, 31)):
        if day == date(2027, 3, 16):  # the review happened: next review on 1 September
            h.arrangement("C-1", review_date=date(2027, 9, 1))
        if day == date(2027, 10, 1):
            h.arrangement("C-1", status="ceased", ended_on=day)
        if day == date(2027, 12, 16):
            appeal = h.add_appeal("C-3", day)
        if day == date(2027, 12, 30):
            h.decide_appeal(appeal, day)
        h.at(day, "09:00")
        h.daemon.tick()
        if day.day == 1:  # a repeated tick the same day finds everything recorded
            before = (h.reminder_count(), len(h.sender.sent))
            h.daemon.tick()
            assert before == (h.reminder_count(), len(h.sender.sent))

    def review(ref: str, target: date, who: str) -> set[tuple[str, str, date, int, str, date]]:
        return {
            (ref, "review", target, n, who, target - timedelta(days=n)) for n in (28, 14, 7, 1, 0)
        }

    march, september = date(2027, 3, 1), date(2027, 9, 1)
    expected = (
        review("C-1", march, "spoc")
        | review("C-1", march, "dmo")
        | {("C-1", "overdue", march, -7 * n, "dmo", march + timedelta(weeks=n)) for n in (1, 2)}
        | review("C-1", september, "spoc")
        | review("C-1", september, "dmo")
        | {
            ("C-1", "overdue", september, -7 * n, "dmo", september + timedelta(weeks=n))
            for n in (1, 2, 3, 4)  # 8, 15, 22, 29 September; ceased on 1 October
        }
        | review("C-2", date(2027, 6, 15), "spoc")
        | {
            ("C-2", "lapse", date(2027, 6, 15), n, "dmo", date(2027, 6, 15) - timedelta(days=n))
            for n in (28, 7, 1)
        }
        | {
            ("C-3", "appeal", date(2027, 12, 23), offset, "dmo", due)
            for offset, due in [
                (2, date(2027, 12, 21)),
                (1, date(2027, 12, 22)),
                (0, date(2027, 12, 23)),
                (-1, date(2027, 12, 24)),
                (-2, date(2027, 12, 29)),  # 25-28 December: weekend and bank holidays
            ]
        }
    )
    assert expected == h.recorded()
    assert len(expected) == h.reminder_count()  # each key once

    # No outage: one message per recipient per day that something fell due, each reminder
    # in exactly one message, and every message sent once.
    by_day = Counter((who, due) for _ref, _k, _t, _o, who, due in expected)
    rows = h.outbox_rows("reminder")
    assert len(by_day) == len(rows)
    assert {"sent"} == {r.status for r in rows}
    reminders = h.sent("reminder")
    assert len(rows) == len(reminders)
    assert sorted(r.outgoing_message_id for r in rows) == sorted(
        msg["Message-ID"].strip() for msg in reminders
    )
    to = Counter(msg["To"].addresses[0].addr_spec for msg in reminders)
    assert {
        SPOC: len({d for _r, _k, _t, _o, who, d in expected if who == "spoc" and _r != "C-2"}),
        SPOC2: 5,
        DMO: len({d for _r, _k, _t, _o, who, d in expected if who == "dmo"}),
    } == dict(to)
    # Digests ran on the same ticks: one breaches digest a day, one reviews digest a week
    # (the first for the slot of Monday 28 December 2026).
    with h.app.factory() as session:
        kinds = Counter(session.scalars(select(m.Digest.kind)))
    assert {"breaches": 365, "reviews": 53} == dict(kinds)


def test_a_ten_day_outage_is_caught_up_in_one_message_per_recipient(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-03-01"), row("C-2", review="2027-03-03")])
    for day in day_range(date(2027, 2, 1), date(2027, 2, 13)):
        h.at(day)
        h.daemon.tick()
    before = len(h.outbox_rows("reminder"))

    h.at(date(2027, 2, 24))  # down from 14 to 23 February
    h.daemon.tick()

    new = h.outbox_rows("reminder")[before:]
    assert [DMO, SPOC] == sorted(r.recipient_email for r in new)
    with h.app.factory() as session:
        for outbox in new:
            covered = session.scalars(
                select(m.Reminder).where(m.Reminder.outbox_id == outbox.id)
            ).all()
            assert {(a, n) for a in (1, 2) for n in (14, 7)} == {
                (r.arrangement_id, r.offset_days) for r in covered
            }
    spoc_id = next(r.outgoing_message_id for r in new if r.recipient_email == SPOC)
    (spoc_message,) = [m for m in h.sent("reminder") if m["Message-ID"].strip() == spoc_id]
    text = next(texts(spoc_message))
    assert "covers the earlier reminder not sent separately: 14 days before" in text
    h.daemon.tick()
    assert len(new) + before == len(h.outbox_rows("reminder"))


def test_reminders_wait_for_reminders_at_in_local_time_across_the_clock_change(
    tmp_path: Path,
) -> None:
    """Review on Monday 29 March 2027, the day after the clocks go forward: the 1-day
    reminder is due on the 28th and goes out at 08:00 BST (07:00 UTC), not 08:00 UTC."""
    h = Harness(tmp_path, [row("C-1", review="2027-03-29")])
    h.at(date(2027, 3, 27), "12:00")
    h.daemon.tick()

    h.at(date(2027, 3, 28), "07:59")
    assert date(2027, 3, 27) == h.daemon.reminders.today_as_of()
    h.daemon.tick()
    assert not {k for k in h.recorded() if k[3] == 1}

    h.at(date(2027, 3, 28), "08:00")  # 07:00 UTC
    assert "07:00" == h.now.strftime("%H:%M")
    h.daemon.tick()
    assert {("spoc", date(2027, 3, 28)), ("dmo", date(2027, 3, 28))} == {
        (k[4], k[5]) for k in h.recorded() if k[3] == 1
    }


def test_a_dry_run_records_nothing_and_sends_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-03-01")])
    h.at(date(2027, 1, 10))

    run = h.daemon.reminders.run(date(2027, 3, 20), dry_run=True)

    assert [DMO, SPOC] == sorted(msg.email for msg in run.messages)
    assert ("C-1", "overdue") == (run.messages[0].items[0]["customer_ref"], "overdue")
    assert (0, [], []) == (h.reminder_count(), h.outbox_rows("reminder"), h.sender.sent)


def test_a_run_as_of_a_future_date_is_refused_unless_dry(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])
    h.at(date(2027, 1, 10))

    with pytest.raises(ReminderError, match="not due yet"):
        h.daemon.reminders.run(date(2027, 1, 11))


def test_reminders_never_contain_reasons_or_support_needs(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-03-01"), row("C-2", SPOC2, "2027-03-02")])
    h.arrangement("C-2", lapse_at_review=True)
    h.add_appeal("C-1", date(2027, 2, 22))
    h.at(date(2027, 3, 20))

    h.daemon.tick()

    assert h.sent("reminder")
    for message in h.sent():
        raw = message.as_string()
        for secret in (SECRET_REASONS, SECRET_NEEDS, "ZEBRA", "OKAPI"):
            assert secret not in raw
            assert all(secret not in text for text in texts(message))


def test_a_long_overdue_review_gives_the_dmo_one_short_reminder(tmp_path: Path) -> None:
    """Imported years overdue: one message, summarising the earlier reminders it covers."""
    h = Harness(tmp_path, [row("C-1", review="2021-03-01", start="2020-09-01")])
    h.at(date(2026, 12, 1), "09:00")

    h.daemon.tick()

    [to_dmo] = [msg for msg in h.sent("reminder") if "dmo@" in str(msg["To"])]
    text = next(texts(to_dmo))
    assert text.count("overdue") < 10, f"{text.count('overdue')} mentions; {len(text)} chars"
    assert "earlier reminders, from 28 days before to" in text


def test_a_reminder_sent_before_reminders_at_counts_its_days_from_the_day_it_is_read(
    tmp_path: Path,
) -> None:
    """At 04:00 the run works as of yesterday, but the reader reads it today: yesterday's
    review is not "today"."""
    h = Harness(tmp_path, [row("C-1", review="2026-12-03")])
    h.at(date(2026, 12, 4), "04:00")

    run = h.daemon.reminders.run()

    assert date(2026, 12, 3) == run.as_of
    headlines = {item["headline"] for message in run.messages for item in message.items}
    assert {"Review overdue: it was due on 3 December 2026 (1 day ago)"} == headlines
