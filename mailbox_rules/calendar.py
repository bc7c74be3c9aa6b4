"""Calendar arithmetic the policy counts in: months for reviews, working days for appeals.

England and Wales working days exclude Saturdays, Sundays and the bank holidays of England
(Wales has the same ones), taken from the ``holidays`` package, including substitute days
("Boxing Day (observed)").  Everything here is a pure function of dates.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

import holidays

APPEAL_WINDOW_DAYS = 28
"""The customer may appeal within 28 days of a decision (policy, "Time limits")."""
APPEAL_DECISION_WORKING_DAYS = 5
"""An appeal is decided within 5 working days of its receipt."""
REVIEW_MONTHS_MIN, REVIEW_MONTHS_MAX = 3, 12
"""Reviews are every 3 to 12 months (§4.1)."""


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def bank_holiday(day: date) -> bool:
    """Whether ``day`` is a bank holiday in England and Wales."""
    return day in _bank_holidays(day.year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not bank_holiday(day)


def add_working_days(start: date, count: int) -> date:
    """The date ``count`` working days after ``start`` (``start`` itself is not counted):
    an appeal received on Friday 18 December 2026 is due on Tuesday 29 December, after the
    weekend, Christmas Day and the substitute Boxing Day."""
    if count < 0:
        raise ValueError("count must not be negative")
    day = start
    while count:
        day += timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """How many working days after ``start`` up to and including ``end`` (negative if
    ``end`` is before ``start``)."""
    if end < start:
        return -working_days_between(end, start)
    return sum(
        1 for n in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=n))
    )


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it is shorter
    (31 August + 6 months = 28 February, or 29 in a leap year)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def appeal_deadline(decided_on: date) -> date:
    """The last day on which an appeal against a decision made on ``decided_on`` is in time."""
    return decided_on + timedelta(days=APPEAL_WINDOW_DAYS)


def appeal_decision_due(received_on: date) -> date:
    """When an appeal received on ``received_on`` must be decided."""
    return add_working_days(received_on, APPEAL_DECISION_WORKING_DAYS)


def review_date_problem(decided_on: date, review_on: date) -> str | None:
    """Why ``review_on`` is not an allowed review date for a decision of ``decided_on``
    (it must fall 3 to 12 months after it), or None when it is."""
    earliest = add_months(decided_on, REVIEW_MONTHS_MIN)
    latest = add_months(decided_on, REVIEW_MONTHS_MAX)
    if earliest <= review_on <= latest:
        return None
    return (
        f"the review date {review_on.isoformat()} must be {REVIEW_MONTHS_MIN} to "
        f"{REVIEW_MONTHS_MAX} months after {decided_on.isoformat()}, so between "
        f"{earliest.isoformat()} and {latest.isoformat()}"
    )


def long_date(day: date) -> str:
    """A date as letters write it: ``3 December 2026``."""
    return f"{day.day} {calendar.month_name[day.month]} {day.year}"
