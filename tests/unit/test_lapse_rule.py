"""An arrangement that lapses at review restricts nothing from its review date, in the pure
core, whether or not the daily job has yet recorded it as ended."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from mailbox_rules import Decision, DecisionKind, Register, decide
from tests.unit.test_decisions import ARRANGEMENTS, MARGARET, WATCHED, envelope

REVIEW_ON = date(2027, 1, 5)  # the review date of every arrangement in the table


def decision_at(received_at: datetime, lapses_on: date | None) -> Decision:
    arrangements = [
        dataclasses.replace(a, lapses_on=lapses_on) if a.customer_ref == "NV-1001" else a
        for a in ARRANGEMENTS
    ]
    message = dataclasses.replace(
        envelope(MARGARET, "housing@northvale-homes.example"), received_at=received_at
    )
    return decide(message, Register.build(arrangements, (), WATCHED), received_at)


def test_mail_on_the_review_date_of_a_lapsing_arrangement_is_ignored() -> None:
    decision = decision_at(datetime(2027, 1, 5, 9, 0, tzinfo=UTC), REVIEW_ON)

    assert (DecisionKind.IGNORE, ("arrangement-lapsed",)) == (decision.kind, decision.rules)


def test_the_lapse_reason_gives_the_review_date() -> None:
    decision = decision_at(datetime(2027, 2, 1, 9, 0, tzinfo=UTC), REVIEW_ON)

    assert ("the arrangement lapsed at its review date (2027-01-05)",) == decision.reasons


def test_mail_the_day_before_the_lapse_is_still_restricted() -> None:
    decision = decision_at(datetime(2027, 1, 4, 23, 59, tzinfo=UTC), REVIEW_ON)

    assert DecisionKind.BREACH == decision.kind


def test_an_arrangement_that_does_not_lapse_restricts_after_its_review_date() -> None:
    decision = decision_at(datetime(2027, 2, 1, 9, 0, tzinfo=UTC), None)

    assert DecisionKind.BREACH == decision.kind


def test_the_lapse_day_is_the_london_calendar_date() -> None:
    # 23:30 UTC on 30 June is already 1 July in London (BST).
    decision = decision_at(datetime(2027, 6, 30, 23, 30, tzinfo=UTC), date(2027, 7, 1))

    assert ("arrangement-lapsed",) == decision.rules
