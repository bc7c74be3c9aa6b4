"""Sending the reminders that are due, exactly once, and catching up after downtime.

A run works *as of* a date (:func:`effective_date`: today in the organisation's time zone once
the clock has passed ``[schedule] reminders_at``, else yesterday).  In **one transaction** it
reads the register, the open appeals and the reminders already recorded, asks the pure core
(:mod:`mailbox_rules.reminders`) what fell due on or before that date and is not recorded, and
for each recipient queues **one** message in the outbox (:func:`bot.outbox.queue_notice`)
while recording every reminder it covers, pointing at that message's outbox row.  So:

- a repeated run finds every key recorded and does nothing;
- after downtime, the reminders that fell due meanwhile go out together, one message per
  recipient, each arrangement's most pressing reminder first with the earlier ones it covers;
- two runs at once cannot both record a key (the table's unique constraint): the second rolls
  back and sends nothing.

Reminders name the customer, the date and what is due, never the arrangement's reasons or
the customer's support needs (need-to-know).  Sending is the outbox's job (see README,
"Exactly once").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.config import Settings
from bot.errors import DomainError
from bot.evidence import EvidenceStore
from bot.mail.compose import build_notice
from bot.mail.forward import OutgoingHeaders, new_outgoing_message_id
from bot.outbox import REMINDER, queue_notice
from bot.partner_entries import PARTNER
from bot.store import models as m
from bot.templating import Templates
from mailbox_rules.calendar import long_date, working_days_between
from mailbox_rules.register import ArrangementStatus
from mailbox_rules.reminders import (
    AppealFacts,
    ArrangementFacts,
    DueReminder,
    Offsets,
    PlannedMessage,
    Recipient,
    ReminderItem,
    ReminderKey,
    ReminderKind,
    describe_offset,
    plan_messages,
    reminders_as_of,
    reminders_due,
)

DMO_NAME = "the Data Management Officer"


class ReminderError(DomainError):
    """A reminders run was refused (a date in the future, a concurrent run)."""


def effective_date(now: datetime, settings: Settings) -> date:
    """The date a reminders run at ``now`` works as of (see the module docstring)."""
    zone = ZoneInfo(settings.organisation.timezone)
    return reminders_as_of(now.astimezone(zone), time.fromisoformat(settings.schedule.reminders_at))


def offsets(settings: Settings) -> Offsets:
    r = settings.reminders
    return Offsets(
        review_days_before=r.review_days_before,
        overdue_every_days=r.overdue_every_days,
        lapse_days_before=r.lapse_days_before,
        appeal_working_days_before=r.appeal_working_days_before,
    )


@dataclass
class MessageOut:
    """One reminder message: to whom, what it lists, and its outbox row once queued."""

    recipient: str  # "spoc" or "dmo"
    name: str
    email: str
    subject: str
    items: list[dict[str, Any]]
    keys: int  # how many reminders it records (the items' leads and what they cover)
    outbox_id: int | None = None


@dataclass
class ReminderRun:
    as_of: date
    dry_run: bool
    messages: list[MessageOut] = field(default_factory=list)

    @property
    def recorded(self) -> int:
        return 0 if self.dry_run else sum(message.keys for message in self.messages)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "reminders_recorded": self.recorded,
            "messages": [
                {
                    "recipient": msg.recipient,
                    "to": msg.email,
                    "name": msg.name,
                    "subject": msg.subject,
                    "outbox_id": msg.outbox_id,
                    "items": msg.items,
                }
                for msg in self.messages
            ],
        }


class ReminderService:
    def __init__(
        self,
        factory: sessionmaker[Session],
        evidence: EvidenceStore,
        templates: Templates,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self._factory, self._evidence, self._templates = factory, evidence, templates
        self._settings, self._clock = settings, clock

    def _local_today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self._settings.organisation.timezone)).date()

    def today_as_of(self) -> date:
        return effective_date(self._clock(), self._settings)

    def run(self, as_of: date | None = None, *, dry_run: bool = False) -> ReminderRun:
        """Record and queue every reminder due on or before ``as_of`` (default: the effective
        date now) that is not yet recorded; with ``dry_run``, only say what that would be."""
        now = self._clock()
        effective = effective_date(now, self._settings)
        as_of = as_of or effective
        if as_of > effective and not dry_run:
            raise ReminderError(
                f"reminders as of {as_of.isoformat()} are not due yet (today's run is as of "
                f"{effective.isoformat()}); use --dry-run to see what would be sent then"
            )
        run = ReminderRun(as_of=as_of, dry_run=dry_run)
        try:
            with self._factory() as session:
                arrangements, appeals, people = _facts(session)
                recorded = _recorded(session)
                due = reminders_due(arrangements, appeals, offsets(self._settings), as_of, recorded)
                planned = plan_messages(due, arrangements, self._settings.organisation.dmo_email)
                for plan in planned:
                    # A message is read on the day it is sent: "in 3 days" counts from then
                    # (a run before reminders_at works as of yesterday); a dry run counts
                    # from the date it is asked about.
                    read_on = as_of if dry_run else max(as_of, self._local_today(now))
                    out = self._message(plan, people, read_on)
                    run.messages.append(out)
                    if not dry_run:
                        out.outbox_id = self._queue(session, plan, out, as_of, now)
                if not dry_run:
                    session.commit()  # every message and every key it covers, or nothing
        except IntegrityError:
            raise ReminderError(
                "another reminders run recorded some of these reminders at the same time; "
                "nothing was sent by this one (run it again to see what is left)"
            ) from None
        return run

    # -- composing ----------------------------------------------------------------------------

    def _message(self, plan: PlannedMessage, people: _People, as_of: date) -> MessageOut:
        items = [_item_row(item, people, as_of) for item in plan.items]
        if plan.recipient is Recipient.SPOC:
            name = people.spoc_names.get(plan.address, plan.address)
        else:
            name = DMO_NAME
        count = len(items)
        subject = self._templates.render_line(
            "reminders/subject.txt.j2",
            count=count,
            items=items,
            organisation=self._settings.organisation.name,
        )
        return MessageOut(
            recipient=plan.recipient.value,
            name=name,
            email=plan.address,
            subject=subject,
            items=items,
            keys=sum(len(item.reminders) for item in plan.items),
        )

    def _queue(
        self,
        session: Session,
        plan: PlannedMessage,
        out: MessageOut,
        as_of: date,
        now: datetime,
    ) -> int:
        org = self._settings.organisation
        context = {
            "organisation": org.name,
            "greeting": "Data Management Officer" if plan.recipient is Recipient.DMO else out.name,
            "to_dmo": plan.recipient is Recipient.DMO,
            "as_of": long_date(as_of),
            "items": out.items,
        }
        text = self._templates.render("reminders/reminder.txt.j2", **context)
        html = self._templates.render("reminders/reminder.html.j2", **context)
        message_id = new_outgoing_message_id(REMINDER, org.bot_address.rsplit("@", 1)[1])
        headers = OutgoingHeaders(
            from_name=f"spocbot ({org.name})",
            from_address=org.bot_address,
            to_name=out.name,
            to_address=out.email,
            subject=out.subject,
            message_id=message_id,
            date=now,
            kind=REMINDER,
            reference=f"reminders as of {as_of.isoformat()}",
        )
        row = queue_notice(
            session,
            kind=REMINDER,
            key=f"reminders as of {as_of.isoformat()} to {plan.recipient.value} {out.email}: "
            + ", ".join(f"{i['customer_ref']} {i['kind']}" for i in out.items),
            message=build_notice(headers, text, html),
            message_id=message_id,
            recipient_name=out.name,
            recipient_email=out.email,
            reason=f"{len(out.items)} reminder(s) as of {as_of.isoformat()}",
            evidence=self._evidence,
        )
        for item in plan.items:
            for reminder in item.reminders:
                session.add(_row(reminder, row.id))
        session.flush()  # a key another run recorded meanwhile fails here, before the commit
        return row.id


@dataclass
class _People:
    customers: dict[int, tuple[str, str]]  # arrangement id -> (customer ref, customer name)
    spoc_names: dict[str, str]  # SPOC address -> name
    appeals: dict[int, AppealFacts]


def _facts(session: Session) -> tuple[list[ArrangementFacts], list[AppealFacts], _People]:
    rows = session.scalars(
        select(m.Arrangement)
        .join(m.Customer)
        .where(m.Customer.source != PARTNER)  # the partner reminds its own officers
        .options(selectinload(m.Arrangement.customer), selectinload(m.Arrangement.spoc))
    ).all()
    arrangements = [
        ArrangementFacts(
            arrangement_id=a.id,
            customer_ref=a.customer.ref,
            status=ArrangementStatus(a.status),
            start_date=a.start_date,
            review_date=a.review_date,
            lapse_at_review=a.lapse_at_review,
            spoc_email=a.spoc.email,
        )
        for a in rows
    ]
    appeals = [
        AppealFacts(p.id, p.arrangement_id, p.received_on, p.decision_due)
        for p in session.scalars(select(m.Appeal).where(m.Appeal.status == "open"))
    ]
    people = _People(
        customers={a.id: (a.customer.ref, a.customer.name) for a in rows},
        spoc_names={a.spoc.email: a.spoc.name for a in rows},
        appeals={p.appeal_id: p for p in appeals},
    )
    return arrangements, appeals, people


def _recorded(session: Session) -> set[ReminderKey]:
    """The reminders already recorded for the dates now in force (each arrangement's review
    date, each open appeal's decision date): the only ones the core can find due again.  Those
    of earlier review dates and decided appeals stay in the table but are not read, so a tick
    reads a few rows per arrangement however long the service has run."""
    current = or_(
        and_(
            m.Reminder.kind != ReminderKind.APPEAL.value,
            m.Reminder.target_on == m.Arrangement.review_date,
        ),
        and_(
            m.Reminder.kind == ReminderKind.APPEAL.value,
            m.Reminder.appeal_id.in_(select(m.Appeal.id).where(m.Appeal.status == "open")),
        ),
    )
    rows = session.execute(
        select(
            m.Reminder.arrangement_id,
            m.Reminder.kind,
            m.Reminder.target_on,
            m.Reminder.offset_days,
            m.Reminder.recipient,
        )
        .join(m.Arrangement, m.Arrangement.id == m.Reminder.arrangement_id)
        .where(current)
    )
    return {(a, k, t, o, r) for a, k, t, o, r in rows}


def _row(reminder: DueReminder, outbox_id: int) -> m.Reminder:
    return m.Reminder(
        arrangement_id=reminder.arrangement_id,
        appeal_id=reminder.appeal_id,
        kind=reminder.kind.value,
        target_on=reminder.target_on,
        offset_days=reminder.offset_days,
        recipient=reminder.recipient.value,
        due_on=reminder.due_on,
        outbox_id=outbox_id,
    )


def _item_row(item: ReminderItem, people: _People, as_of: date) -> dict[str, Any]:
    """One line of a message, as plain values (also the ``--json`` of a dry run)."""
    lead = item.lead
    ref, name = people.customers[lead.arrangement_id]
    target = long_date(lead.target_on)
    days = (lead.target_on - as_of).days
    if lead.kind is ReminderKind.APPEAL:
        appeal = people.appeals.get(lead.appeal_id or 0)
        left = working_days_between(as_of, lead.target_on)
        received = f"received on {long_date(appeal.received_on)}, " if appeal else ""
        headline = f"Appeal {received}decision due on {target} " + (
            f"({left} working day{'s' if left != 1 else ''} left)"
            if left > 0
            else "(today)"
            if left == 0
            else f"({-left} working day{'s' if left != -1 else ''} overdue)"
        )
    elif lead.kind is ReminderKind.LAPSE or item.arrangement.lapse_at_review:
        headline = f"The arrangement lapses (ends) at its review on {target} " + _in_days(days)
    elif days >= 0:
        headline = f"Review due on {target} " + _in_days(days)
    else:
        headline = (
            f"Review overdue: it was due on {target} ({-days} day{'s' if days != -1 else ''} ago)"
        )
    return {
        "customer_ref": ref,
        "customer_name": name,
        "kind": lead.kind.value,
        "target_on": lead.target_on.isoformat(),
        "when": lead.when,
        "headline": headline,
        "covers": [describe_offset(r.kind, r.offset_days) for r in item.covered],
        "covers_summary": _summary([describe_offset(r.kind, r.offset_days) for r in item.covered]),
        "keys": [_key_text(r) for r in item.reminders],
    }


def _summary(covered: list[str]) -> str:
    """The earlier reminders a line stands for, short enough to read after a long outage."""
    if len(covered) <= 3:
        return ", ".join(covered)
    return f"{len(covered)} earlier reminders, from {covered[0]} to {covered[-1]}"


def _in_days(days: int) -> str:
    if days == 0:
        return "(today)"
    return f"(in {days} day{'s' if days != 1 else ''})"


def _key_text(reminder: DueReminder) -> str:
    return (
        f"{reminder.kind.value} {reminder.target_on.isoformat()} {reminder.when} "
        f"to {reminder.recipient.value}"
    )


def list_reminders(session: Session, customer_ref: str | None = None) -> list[dict[str, Any]]:
    """Recorded reminders, oldest first, with the message that carried each."""
    query = (
        select(m.Reminder, m.Customer.ref, m.Outbox)
        .join(m.Arrangement, m.Arrangement.id == m.Reminder.arrangement_id)
        .join(m.Customer, m.Customer.id == m.Arrangement.customer_id)
        .outerjoin(m.Outbox, m.Outbox.id == m.Reminder.outbox_id)
        .order_by(m.Reminder.due_on, m.Reminder.id)
    )
    if customer_ref is not None:
        query = query.where(m.Customer.ref == customer_ref)
    return [
        {
            "id": r.id,
            "customer_ref": ref,
            "kind": r.kind,
            "target_on": r.target_on.isoformat(),
            "when": describe_offset(r.kind, r.offset_days),
            "recipient": r.recipient,
            "due_on": r.due_on.isoformat(),
            "outbox_id": r.outbox_id,
            "to": outbox.recipient_email if outbox else None,
            "status": outbox.status if outbox else None,
            "sent_at": outbox.sent_at.isoformat() if outbox and outbox.sent_at else None,
        }
        for r, ref, outbox in session.execute(query)
    ]


def describe_run(run: ReminderRun) -> Sequence[str]:
    """Lines for people: one per message, one per item under it."""
    verb = "would send" if run.dry_run else "queued"
    if not run.messages:
        return [f"No reminders due as of {run.as_of.isoformat()} that have not been sent."]
    lines = [
        f"Reminders as of {run.as_of.isoformat()}: {verb} {len(run.messages)} message(s)"
        + ("" if run.dry_run else f", recording {run.recorded} reminder(s)")
        + "."
    ]
    for msg in run.messages:
        lines.append(f"  to {msg.name} <{msg.email}>: {msg.subject}")
        for item in msg.items:
            covers = f" (also covers: {item['covers_summary']})" if item["covers"] else ""
            lines.append(f"    {item['customer_ref']}: {item['headline']}{covers}")
    return lines
