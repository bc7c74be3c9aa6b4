"""Calendar arithmetic for reviews and appeals: England and Wales working days, months."""

from __future__ import annotations

from datetime import date

import pytest

from mailbox_rules.calendar import (
    add_months,
    add_working_days,
    appeal_deadline,
    appeal_decision_due,
    bank_holiday,
    is_working_day,
    long_date,
    review_date_problem,
    working_days_between,
)


def test_five_working_days_from_friday_18_december_2026_is_tuesday_29_december() -> None:
    # Christmas Day is a Friday, so Boxing Day's substitute is Monday 28 December.
    assert date(2026, 12, 29) == add_working_days(date(2026, 12, 18), 5)


def test_boxing_day_2026_substitute_monday_is_a_bank_holiday() -> None:
    assert True is bank_holiday(date(2026, 12, 28))


def test_good_friday_2027_is_not_a_working_day() -> None:
    assert False is is_working_day(date(2027, 3, 26))


def test_easter_monday_2027_is_not_a_working_day() -> None:
    assert False is is_working_day(date(2027, 3, 29))


def test_an_appeal_received_before_easter_2027_skips_good_friday_and_easter_monday() -> None:
    # Thursday 25 March: Good Friday 26 and Easter Monday 29 March are skipped, so the five
    # working days are 30 and 31 March, 1 and 2 April and Monday 5 April.
    assert date(2027, 4, 5) == appeal_decision_due(date(2027, 3, 25))


def test_zero_working_days_is_the_same_day() -> None:
    assert date(2026, 12, 25) == add_working_days(date(2026, 12, 25), 0)


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(date(2026, 1, 5), -1)


def test_an_ordinary_week_has_five_working_days_after_a_monday() -> None:
    assert date(2026, 1, 12) == add_working_days(date(2026, 1, 5), 5)


def test_working_days_between_counts_across_christmas_2026() -> None:
    assert 5 == working_days_between(date(2026, 12, 18), date(2026, 12, 29))


def test_working_days_between_is_negative_backwards() -> None:
    assert -5 == working_days_between(date(2026, 12, 29), date(2026, 12, 18))


def test_the_appeal_deadline_is_28_days_after_the_decision() -> None:
    assert date(2026, 2, 7) == appeal_deadline(date(2026, 1, 10))


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 8, 31), 6, date(2027, 2, 28)),  # month end: shorter month
        (date(2027, 8, 31), 6, date(2028, 2, 29)),  # leap year
        (date(2028, 2, 29), 12, date(2029, 2, 28)),  # from a leap day
        (date(2026, 1, 31), 3, date(2026, 4, 30)),
        (date(2026, 11, 15), 3, date(2027, 2, 15)),  # across the year
        (date(2026, 3, 16), 12, date(2027, 3, 16)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_month_end(
    start: date, months: int, expected: date
) -> None:
    assert expected == add_months(start, months)


def test_a_review_3_months_after_the_decision_is_allowed() -> None:
    assert None is review_date_problem(date(2026, 1, 10), date(2026, 4, 10))


def test_a_review_12_months_after_the_decision_is_allowed() -> None:
    assert None is review_date_problem(date(2026, 1, 10), date(2027, 1, 10))


def test_a_review_a_day_short_of_3_months_is_a_problem_giving_the_range() -> None:
    assert (
        "the review date 2026-04-09 must be 3 to 12 months after 2026-01-10, so between "
        "2026-04-10 and 2027-01-10"
    ) == review_date_problem(date(2026, 1, 10), date(2026, 4, 9))


def test_a_review_a_day_past_12_months_is_a_problem() -> None:
    assert None is not review_date_problem(date(2026, 1, 10), date(2027, 1, 11))


def test_three_months_after_31_august_is_30_november_for_reviews() -> None:
    assert None is review_date_problem(date(2026, 8, 31), date(2026, 11, 30))


def test_long_date_is_as_letters_write_it() -> None:
    assert "3 December 2026" == long_date(date(2026, 12, 3))
