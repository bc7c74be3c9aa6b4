"""Which reminders are due: review dates, overdue reviews, lapses and appeal decisions.

Pure: given the arrangements' facts, the open appeals, the configured offsets, an as-of date
and the keys of the reminders already recorded, :func:`reminders_due` returns every reminder
that fell due on or before that date and is not recorded yet.  Each kind is a small rule with
the same ``due`` method (like the decision rules in :mod:`mailbox_rules.rules`):

- ``review``: to the SPOC and the DMO, ``review_days_before`` days before the review date
  (0 is the day itself).  For an arrangement that lapses at review the DMO gets ``lapse``
  reminders instead (there is no review meeting to prepare); its SPOC still gets these.
- ``overdue``: to the DMO every ``overdue_every_days`` after the review date, until a review
  moves the date or the arrangement ends (``offset_days`` negative).  Not for arrangements
  that lapse at review: they end on that date.
- ``lapse``: to the DMO, ``lapse_days_before`` days before a lapse-at-review arrangement ends.
- ``appeal``: to the DMO, ``appeal_working_days_before`` working days before an open appeal's
  decision is due, then every working day it is overdue until it is decided.

Ceased arrangements get none, and nothing falls due before an arrangement's start date.  A
reminder is identified by its key (arrangement, kind, target date, offset, recipient): the
review date moving makes new keys, and the old ones simply stop falling due.

:func:`plan_messages` then groups what is due into one message per recipient, with one item
per arrangement and matter (its review, or one appeal): the most pressing reminder, and the
earlier ones it covers (those that fell due while nothing was sent, e.g. during an outage).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import ClassVar, Protocol

from mailbox_rules.calendar import add_working_days, is_working_day
from mailbox_rules.register import ArrangementStatus


class ReminderKind(enum.StrEnum):
    REVIEW = "review"
    OVERDUE = "overdue"
    LAPSE = "lapse"
    APPEAL = "appeal"


class Recipient(enum.StrEnum):
    SPOC = "spoc"
    DMO = "dmo"


ReminderKey = tuple[int, str, date, int, str]
"""(arrangement id, kind, target date, offset in days, recipient): recorded once."""


@dataclass(frozen=True)
class ArrangementFacts:
    """What the reminders need to know of an arrangement (never its reasons)."""

    arrangement_id: int
    customer_ref: str
    status: ArrangementStatus
    start_date: date
    review_date: date
    lapse_at_review: bool
    spoc_email: str


@dataclass(frozen=True)
class AppealFacts:
    appeal_id: int
    arrangement_id: int
    received_on: date
    decision_due: date


@dataclass(frozen=True)
class Offsets:
    """When reminders fall due ([reminders] in the configuration)."""

    review_days_before: tuple[int, ...] = (28, 14, 7, 1, 0)
    overdue_every_days: int = 7
    lapse_days_before: tuple[int, ...] = (28, 7, 1)
    appeal_working_days_before: tuple[int, ...] = (2, 1, 0)


@dataclass(frozen=True, order=True)
class DueReminder:
    due_on: date
    arrangement_id: int
    kind: ReminderKind
    target_on: date
    offset_days: int
    recipient: Recipient
    appeal_id: int | None = None

    @property
    def key(self) -> ReminderKey:
        return (
            self.arrangement_id,
            self.kind.value,
            self.target_on,
            self.offset_days,
            self.recipient.value,
        )

    @property
    def when(self) -> str:
        """The reminder's timing in words: "7 days before", "on the day", "2 weeks overdue"."""
        return describe_offset(self.kind, self.offset_days)


def describe_offset(kind: ReminderKind | str, offset_days: int) -> str:
    unit = "working day" if kind == ReminderKind.APPEAL else "day"
    if offset_days == 0:
        return "on the day"
    count = abs(offset_days)
    words = f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{words} before" if offset_days > 0 else f"{words} overdue"


class ReminderRule(Protocol):
    name: ClassVar[ReminderKind]

    def due(
        self,
        arrangement: ArrangementFacts,
        appeals: Sequence[AppealFacts],
        offsets: Offsets,
        as_of: date,
    ) -> Iterator[DueReminder]:
        """Every reminder of this kind for ``arrangement`` due on or before ``as_of``."""
        ...


class ReviewReminders:
    name: ClassVar[ReminderKind] = ReminderKind.REVIEW

    def due(
        self,
        arrangement: ArrangementFacts,
        appeals: Sequence[AppealFacts],
        offsets: Offsets,
        as_of: date,
    ) -> Iterator[DueReminder]:
        recipients = [Recipient.SPOC]
        if not arrangement.lapse_at_review:
            recipients.append(Recipient.DMO)  # the DMO gets lapse reminders instead
        target = arrangement.review_date
        for days in offsets.review_days_before:
            due_on = target - timedelta(days=days)
            if due_on <= as_of:
                for recipient in recipients:
                    yield DueReminder(
                        due_on, arrangement.arrangement_id, self.name, target, days, recipient
                    )


class OverdueReminders:
    name: ClassVar[ReminderKind] = ReminderKind.OVERDUE

    def due(
        self,
        arrangement: ArrangementFacts,
        appeals: Sequence[AppealFacts],
        offsets: Offsets,
        as_of: date,
    ) -> Iterator[DueReminder]:
        if arrangement.lapse_at_review:
            return  # it ends at its review date: nothing can be overdue
        target, every = arrangement.review_date, offsets.overdue_every_days
        days = every
        while (due_on := target + timedelta(days=days)) <= as_of:
            yield DueReminder(
                due_on, arrangement.arrangement_id, self.name, target, -days, Recipient.DMO
            )
            days += every


class LapseReminders:
    name: ClassVar[ReminderKind] = ReminderKind.LAPSE

    def due(
        self,
        arrangement: ArrangementFacts,
        appeals: Sequence[AppealFacts],
        offsets: Offsets,
        as_of: date,
    ) -> Iterator[DueReminder]:
        if not arrangement.lapse_at_review:
            return
        target = arrangement.review_date
        for days in offsets.lapse_days_before:
            due_on = target - timedelta(days=days)
            if due_on <= as_of:
                yield DueReminder(
                    due_on, arrangement.arrangement_id, self.name, target, days, Recipient.DMO
                )


class AppealReminders:
    name: ClassVar[ReminderKind] = ReminderKind.APPEAL

    def due(
        self,
        arrangement: ArrangementFacts,
        appeals: Sequence[AppealFacts],
        offsets: Offsets,
        as_of: date,
    ) -> Iterator[DueReminder]:
        for appeal in appeals:
            if appeal.arrangement_id != arrangement.arrangement_id:
                continue
            target = appeal.decision_due

            def reminder(due_on: date, offset: int, appeal: AppealFacts = appeal) -> DueReminder:
                return DueReminder(
                    due_on,
                    arrangement.arrangement_id,
                    self.name,
                    appeal.decision_due,
                    offset,
                    Recipient.DMO,
                    appeal.appeal_id,
                )

            for before in offsets.appeal_working_days_before:
                due_on = subtract_working_days(target, before)
                if due_on <= as_of:
                    yield reminder(due_on, before)
            after = 1
            while (due_on := add_working_days(target, after)) <= as_of:
                yield reminder(due_on, -after)
                after += 1


RULES: tuple[ReminderRule, ...] = (
    ReviewReminders(),
    OverdueReminders(),
    LapseReminders(),
    AppealReminders(),
)


def subtract_working_days(end: date, count: int) -> date:
    """The working day ``count`` working days before ``end`` (``end`` itself for 0)."""
    day = end
    while count:
        day -= timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return day


def reminders_due(
    arrangements: Iterable[ArrangementFacts],
    appeals: Iterable[AppealFacts],
    offsets: Offsets,
    as_of: date,
    recorded: Collection[ReminderKey],
) -> list[DueReminder]:
    """Every reminder due on or before ``as_of`` and not yet recorded, oldest first.

    ``appeals`` are the open ones (decided appeals get no reminders)."""
    open_appeals = list(appeals)
    due: list[DueReminder] = []
    for arrangement in arrangements:
        if arrangement.status is ArrangementStatus.CEASED:
            continue
        for rule in RULES:
            for reminder in rule.due(arrangement, open_appeals, offsets, as_of):
                if reminder.due_on >= arrangement.start_date and reminder.key not in recorded:
                    due.append(reminder)
    return sorted(set(due))


def reminders_as_of(now_local: datetime, reminders_at: time) -> date:
    """The date the reminders job runs as of: today once the local clock has reached
    ``reminders_at``, else yesterday (``now_local`` is in the organisation's time zone)."""
    today = now_local.date()
    return today if now_local.time() >= reminders_at else today - timedelta(days=1)


# -- grouping into messages ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderItem:
    """One line of a reminder message: the most pressing reminder of one matter, and the
    earlier reminders of it that fell due without being sent (oldest first; sent with it)."""

    arrangement: ArrangementFacts
    lead: DueReminder
    covered: tuple[DueReminder, ...] = ()

    @property
    def reminders(self) -> tuple[DueReminder, ...]:
        return (self.lead, *self.covered)


@dataclass(frozen=True)
class PlannedMessage:
    recipient: Recipient
    address: str
    items: tuple[ReminderItem, ...] = field(default_factory=tuple)


def _matter(reminder: DueReminder) -> tuple[int, str, int]:
    """The thing a reminder is about: an arrangement's review, or one appeal."""
    if reminder.kind is ReminderKind.APPEAL:
        return (reminder.arrangement_id, "appeal", reminder.appeal_id or 0)
    return (reminder.arrangement_id, "review", 0)


def _pressing(reminder: DueReminder) -> tuple[date, int]:
    # The one that fell due last; on the same day, the closest to (or furthest past) the target.
    return (reminder.due_on, -reminder.offset_days)


def plan_messages(
    due: Iterable[DueReminder], arrangements: Iterable[ArrangementFacts], dmo_address: str
) -> list[PlannedMessage]:
    """One message per recipient address, one item per arrangement and matter."""
    facts = {a.arrangement_id: a for a in arrangements}
    by_address: dict[tuple[Recipient, str], dict[tuple[int, str, int], list[DueReminder]]] = {}
    for reminder in due:
        arrangement = facts[reminder.arrangement_id]
        address = dmo_address if reminder.recipient is Recipient.DMO else arrangement.spoc_email
        matters = by_address.setdefault((reminder.recipient, address), {})
        matters.setdefault(_matter(reminder), []).append(reminder)
    messages = []
    for (recipient, address), matters in sorted(by_address.items()):
        items = []
        for reminders in matters.values():
            ordered = sorted(reminders, key=_pressing, reverse=True)
            items.append(
                ReminderItem(
                    facts[ordered[0].arrangement_id], ordered[0], tuple(reversed(ordered[1:]))
                )
            )
        items.sort(key=lambda i: (i.lead.target_on, i.arrangement.customer_ref, i.lead.kind))
        messages.append(PlannedMessage(recipient, address, tuple(items)))
    return messages
