"""The pure reminder core: which reminders fall due, and how they are grouped into messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from mailbox_rules.register import ArrangementStatus
from mailbox_rules.reminders import (
    AppealFacts,
    ArrangementFacts,
    Offsets,
    Recipient,
    ReminderKind,
    describe_offset,
    plan_messages,
    reminders_as_of,
    reminders_due,
)

LONDON = ZoneInfo("Europe/London")


def facts(
    review: date = date(2027, 3, 1),
    *,
    status: ArrangementStatus = ArrangementStatus.ACTIVE,
    lapse: bool = False,
    arrangement_id: int = 1,
    spoc: str = "spoc@homes.example",
    start: date = date(2026, 6, 1),
) -> ArrangementFacts:
    return ArrangementFacts(
        arrangement_id, f"C-{arrangement_id}", status, start, review, lapse, spoc
    )


def due_set(
    arrangements: list[ArrangementFacts],
    as_of: date,
    appeals: list[AppealFacts] | None = None,
    recorded: frozenset[tuple[int, str, date, int, str]] = frozenset(),
) -> set[tuple[str, int, str, date]]:
    return {
        (r.kind.value, r.offset_days, r.recipient.value, r.due_on)
        for r in reminders_due(arrangements, appeals or [], Offsets(), as_of, recorded)
    }


def test_review_reminders_go_to_the_spoc_and_the_dmo_at_each_offset() -> None:
    expected = {
        (kind, days, who, due)
        for days, due in [(28, date(2027, 2, 1)), (14, date(2027, 2, 15)), (7, date(2027, 2, 22))]
        for kind, who in [("review", "spoc"), ("review", "dmo")]
    }
    assert expected == due_set([facts()], date(2027, 2, 27))


def test_on_the_day_and_then_weekly_overdue_to_the_dmo_only() -> None:
    due = due_set([facts()], date(2027, 3, 15))

    assert {("review", 0, "spoc", date(2027, 3, 1)), ("review", 0, "dmo", date(2027, 3, 1))} <= due
    assert {
        ("overdue", -7, "dmo", date(2027, 3, 8)),
        ("overdue", -14, "dmo", date(2027, 3, 15)),
    } == {d for d in due if d[0] == "overdue"}


def test_a_lapse_at_review_arrangement_gets_lapse_reminders_for_the_dmo_and_never_overdue() -> None:
    due = due_set([facts(date(2027, 6, 15), lapse=True)], date(2027, 12, 31))

    assert {
        ("lapse", 28, "dmo", date(2027, 5, 18)),
        ("lapse", 7, "dmo", date(2027, 6, 8)),
        ("lapse", 1, "dmo", date(2027, 6, 14)),
    } == {d for d in due if d[2] == "dmo"}
    assert {("review", n, "spoc") for n in (28, 14, 7, 1, 0)} == {
        d[:3] for d in due if d[2] == "spoc"
    }


def test_ceased_arrangements_get_none() -> None:
    assert set() == due_set([facts(status=ArrangementStatus.CEASED)], date(2027, 12, 31))


def test_nothing_falls_due_before_the_arrangement_started() -> None:
    due = due_set([facts(date(2027, 3, 1), start=date(2027, 2, 20))], date(2027, 2, 27))

    assert {
        ("review", 7, "spoc", date(2027, 2, 22)),
        ("review", 7, "dmo", date(2027, 2, 22)),
    } == due


def test_recorded_reminders_are_not_due_again() -> None:
    recorded = frozenset({(1, "review", date(2027, 3, 1), 28, "spoc")})

    due = due_set([facts()], date(2027, 2, 1), recorded=recorded)

    assert {("review", 28, "dmo", date(2027, 2, 1))} == due


def test_appeal_reminders_count_working_days_and_repeat_each_working_day_overdue() -> None:
    """Received Thursday 16 December 2027, due Thursday 23rd; after it, 24th is a working day,
    then the weekend and the substitute Christmas and Boxing Day holidays (27th, 28th)."""
    appeal = AppealFacts(9, 1, date(2027, 12, 16), date(2027, 12, 23))

    due = due_set([facts(date(2028, 6, 1))], date(2027, 12, 30), [appeal])

    assert {
        ("appeal", 2, "dmo", date(2027, 12, 21)),
        ("appeal", 1, "dmo", date(2027, 12, 22)),
        ("appeal", 0, "dmo", date(2027, 12, 23)),
        ("appeal", -1, "dmo", date(2027, 12, 24)),
        ("appeal", -2, "dmo", date(2027, 12, 29)),
        ("appeal", -3, "dmo", date(2027, 12, 30)),
    } == due


def test_the_effective_date_follows_the_local_clock_across_bst_and_gmt() -> None:
    at = time(8, 0)

    def as_of(utc: datetime) -> date:
        return reminders_as_of(utc.astimezone(LONDON), at)

    # 07:30 UTC is 07:30 GMT in winter (not yet time: yesterday) but 08:30 BST in summer.
    assert date(2027, 3, 26) == as_of(datetime(2027, 3, 27, 7, 30, tzinfo=UTC))  # GMT
    assert date(2027, 3, 28) == as_of(datetime(2027, 3, 28, 7, 30, tzinfo=UTC))  # BST begins
    assert date(2027, 10, 30) == as_of(datetime(2027, 10, 30, 7, 30, tzinfo=UTC))  # BST
    assert date(2027, 10, 30) == as_of(datetime(2027, 10, 31, 7, 30, tzinfo=UTC))  # GMT again


def test_one_message_per_recipient_with_the_most_pressing_reminder_covering_the_rest() -> None:
    a, b = facts(arrangement_id=1), facts(date(2027, 3, 3), arrangement_id=2)
    due = reminders_due([a, b], [], Offsets(), date(2027, 2, 24), frozenset())

    messages = plan_messages(due, [a, b], "dmo@homes.example")

    assert [(Recipient.DMO, "dmo@homes.example"), (Recipient.SPOC, "spoc@homes.example")] == [
        (msg.recipient, msg.address) for msg in messages
    ]
    spoc = messages[1]
    assert [(1, 7, (28, 14)), (2, 7, (28, 14))] == [
        (i.arrangement.arrangement_id, i.lead.offset_days, tuple(c.offset_days for c in i.covered))
        for i in spoc.items
    ]


def test_an_appeal_is_its_own_item_beside_the_review() -> None:
    a = facts(date(2027, 12, 24))
    appeal = AppealFacts(9, 1, date(2027, 12, 16), date(2027, 12, 23))
    due = reminders_due([a], [appeal], Offsets(), date(2027, 12, 23), frozenset())

    (dmo,) = [msg for msg in plan_messages(due, [a], "dmo@x.example") if msg.recipient == "dmo"]

    assert [ReminderKind.APPEAL, ReminderKind.REVIEW] == sorted(i.lead.kind for i in dmo.items)


def test_offsets_in_words() -> None:
    assert ["on the day", "1 day before", "14 days overdue", "2 working days before"] == [
        describe_offset("review", 0),
        describe_offset("review", 1),
        describe_offset("overdue", -14),
        describe_offset(ReminderKind.APPEAL, 2),
    ]


def test_a_utc_clock_is_accepted_after_conversion() -> None:
    assert date(2027, 1, 5) == reminders_as_of(
        datetime(2027, 1, 5, 8, 0, tzinfo=UTC).astimezone(LONDON), time(8, 0)
    )
