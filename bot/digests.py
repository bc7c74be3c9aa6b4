"""The DMO's digests: breaches (daily) and reviews (weekly), once per scheduled slot.

A digest belongs to a **slot**: the latest scheduled time (``[schedule] breaches_digest_at``
each day, ``reviews_digest_on`` each week, in the organisation's time zone) at or before now.
It reports from the previous digest's ``period_end`` to the slot (the first one: the day, or
the week, before), so nothing falls between two digests.  One ``digests`` row per (kind,
slot), written in the same transaction as the message's outbox rows (one per recipient):

- a repeated tick finds the row and does nothing;
- after downtime only the latest slot is sent, covering the whole gap since the last digest.

Digests are HTML (simple tables with inline styles, which Outlook renders) with a plain-text
alternative; the breaches digest embeds a weekly chart as a ``cid:`` PNG.  A digest with
nothing to report says so in one line.  Need-to-know: digests name customers and what
happened, never an arrangement's reasons or a customer's support needs.
"""

from __future__ import annotations

import io
import shlex
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.config import Settings
from bot.errors import DomainError
from bot.evidence import EvidenceStore
from bot.evidence_chain import head as chain_head
from bot.flag_tasks import list_tasks
from bot.mail.compose import InlineImage, build_notice
from bot.mail.forward import OutgoingHeaders, new_outgoing_message_id
from bot.outbox import DIGEST, FAILED, queue_notice
from bot.partner_entries import PARTNER
from bot.store import models as m
from bot.templating import Templates
from mailbox_rules.calendar import long_date, working_days_between

BREACHES, REVIEWS = "breaches", "reviews"
KINDS = (BREACHES, REVIEWS)
CHART_CID = "breaches-chart@spocbot"
_CHART_CUSTOMERS = 8  # more customers than this share one "others" colour


class DigestError(DomainError):
    """A digest was refused (a slot in the future, one already covered by a later digest)."""


# -- slots ----------------------------------------------------------------------------------------


def _at(day: date, clock: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=zone).astimezone(UTC)


def slot_on(kind: str, day: date, settings: Settings) -> datetime:
    """The slot a digest for ``day`` belongs to: that day's time (breaches), or the latest
    weekly time on or before that day (reviews); in UTC."""
    zone = ZoneInfo(settings.organisation.timezone)
    schedule = settings.schedule
    if kind == BREACHES:
        return _at(day, schedule.breaches_digest_at, zone)
    back = (day.weekday() - schedule.reviews_weekday) % 7
    return _at(day - timedelta(days=back), schedule.reviews_time, zone)


def latest_slot(kind: str, now: datetime, settings: Settings) -> datetime:
    """The latest slot at or before ``now`` (UTC)."""
    today = now.astimezone(ZoneInfo(settings.organisation.timezone)).date()
    slot = slot_on(kind, today, settings)
    if slot > now:
        slot = slot_on(kind, today - timedelta(days=1 if kind == BREACHES else 7), settings)
    return slot


def _previous_slot(kind: str, slot: datetime, settings: Settings) -> datetime:
    """The slot before ``slot``: a day or a week earlier on the local clock."""
    local = slot.astimezone(ZoneInfo(settings.organisation.timezone)).date()
    return slot_on(kind, local - timedelta(days=1 if kind == BREACHES else 7), settings)


# -- results ---------------------------------------------------------------------------------


@dataclass
class DigestRun:
    kind: str
    slot_at: datetime
    period_start: datetime
    period_end: datetime
    dry_run: bool
    existing_id: int | None = None  # the digest already recorded for this slot
    digest_id: int | None = None
    outbox_ids: list[int] = field(default_factory=list)
    recipients: tuple[str, ...] = ()
    subject: str = ""
    text: str = ""
    nothing_to_report: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "slot_at": self.slot_at.isoformat(),
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "dry_run": self.dry_run,
            "already_sent": self.existing_id is not None,
            "digest_id": self.digest_id or self.existing_id,
            "outbox_ids": self.outbox_ids,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "nothing_to_report": self.nothing_to_report,
        }


@dataclass
class _Content:
    subject: str
    text: str
    html: str
    images: list[InlineImage]
    empty: bool


class DigestService:
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
        self._zone = ZoneInfo(settings.organisation.timezone)

    def run(self, kind: str, day: date | None = None, *, dry_run: bool = False) -> DigestRun:
        """Send the digest of ``kind`` for its latest slot (or the slot of ``day``) unless it
        was sent already; with ``dry_run``, only render it."""
        if kind not in KINDS:
            raise DigestError(f"no such digest: {kind!r} (give one of {', '.join(KINDS)})")
        now = self._clock()
        slot = (
            latest_slot(kind, now, self._settings)
            if day is None
            else slot_on(kind, day, self._settings)
        )
        if slot > now and not dry_run:
            raise DigestError(
                f"the {kind} digest for {_local(slot, self._zone)} is not due yet; use "
                "--dry-run to see what it would say"
            )
        try:
            with self._factory() as session:
                run = self._run(session, kind, slot, now, dry_run)
                if not dry_run and run.digest_id is not None:
                    session.commit()  # the digest row and its outbox rows, or nothing
        except IntegrityError:
            raise DigestError(
                f"another run recorded the {kind} digest for this slot at the same time; "
                "nothing was sent by this one"
            ) from None
        return run

    def _run(
        self, session: Session, kind: str, slot: datetime, now: datetime, dry_run: bool
    ) -> DigestRun:
        existing = session.scalar(
            select(m.Digest).where(m.Digest.kind == kind, m.Digest.slot_at == slot)
        )
        previous = session.scalar(
            select(m.Digest)
            .where(m.Digest.kind == kind, m.Digest.slot_at < slot)
            .order_by(m.Digest.slot_at.desc())
            .limit(1)
        )
        start = previous.period_end if previous else _previous_slot(kind, slot, self._settings)
        run = DigestRun(kind, slot, start, slot, dry_run, recipients=self._recipients())
        if existing is not None:
            run.existing_id, run.period_start = existing.id, existing.period_start
            if not dry_run:
                return run  # sent already: a repeated tick does nothing
        later = session.scalar(
            select(m.Digest.slot_at).where(m.Digest.kind == kind, m.Digest.slot_at > slot).limit(1)
        )
        if later is not None and existing is None and not dry_run:
            raise DigestError(
                f"the {kind} digest of {_local(later, self._zone)} already covers this period"
            )
        content = self._content(session, kind, run.period_start, slot)
        run.subject, run.text, run.nothing_to_report = content.subject, content.text, content.empty
        if dry_run or existing is not None:
            return run
        digest = m.Digest(kind=kind, slot_at=slot, period_start=run.period_start, period_end=slot)
        session.add(digest)
        session.flush()  # a digest another run recorded for this slot fails here
        run.digest_id = digest.id
        org = self._settings.organisation
        domain = org.bot_address.rsplit("@", 1)[1]
        for address in run.recipients:
            message_id = new_outgoing_message_id(DIGEST, domain)
            name = "the Data Management Officer" if address == org.dmo_email else address
            headers = OutgoingHeaders(
                from_name=f"spocbot ({org.name})",
                from_address=org.bot_address,
                to_name=name,
                to_address=address,
                subject=content.subject,
                message_id=message_id,
                date=now,
                kind=DIGEST,
                reference=f"{kind} digest {digest.id}",
            )
            row = queue_notice(
                session,
                kind=DIGEST,
                key=f"{kind} digest {digest.id} ({slot.isoformat()}) to {address}",
                message=build_notice(headers, content.text, content.html, images=content.images),
                message_id=message_id,
                recipient_name=name,
                recipient_email=address,
                reason=f"{kind} digest for {_local(slot, self._zone)}",
                evidence=self._evidence,
            )
            run.outbox_ids.append(row.id)
        digest.outbox_id = run.outbox_ids[0]  # one column: the first recipient's message
        return run

    def _recipients(self) -> tuple[str, ...]:
        return self._settings.digest_recipients

    # -- content ---------------------------------------------------------------------------

    def _content(self, session: Session, kind: str, start: datetime, end: datetime) -> _Content:
        org = self._settings.organisation.name
        local_start, local_end = _local(start, self._zone), _local(end, self._zone)
        context: dict[str, Any] = {
            "organisation": org,
            "period_start": local_start,
            "period_end": local_end,
        }
        if kind == BREACHES:
            context |= breaches_facts(session, start, end, self._zone)
            empty = not (
                context["customers"]
                or context["review_open"]
                or context["quarantined"]
                or context["failed_other"]
            )
            subject = f"Breaches digest, {long_date(end.astimezone(self._zone).date())} ({org})"
        else:
            today = end.astimezone(self._zone).date()
            context |= reviews_facts(
                session, start, end, today, self._settings.digests.reviews_ahead_days, self._zone
            )
            empty = not any(context[k] for k in ("due", "overdue", "lapsing", "appeals", "flags"))
            subject = f"Reviews digest, week of {long_date(today)} ({org})"
        if empty:
            line = self._templates.render_line("digests/nothing.txt.j2", kind=kind, **context)
            html = f'<p style="font-family: Arial, Helvetica, sans-serif;">{escape(line)}</p>'
            return _Content(subject, line + "\n", html, [], True)
        images: list[InlineImage] = []
        if kind == BREACHES:
            weeks = self._settings.digests.chart_weeks
            counts = weekly_counts(session, end, weeks, self._zone)
            context["chart_weeks"] = weeks
            context["chart"] = bool(counts)
            if counts:
                images.append(
                    InlineImage(CHART_CID, breaches_chart(counts, weeks), filename="breaches.png")
                )
            context["chart_cid"] = CHART_CID
        text = self._templates.render(f"digests/{kind}.txt.j2", **context)
        html = self._templates.render(f"digests/{kind}.html.j2", **context)
        return _Content(subject, text, html, images, False)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%-d %B %Y %H:%M")


def _screen(new_issue: bool, status: str, rules: Sequence[str]) -> bool:
    """Flagged "NEW ISSUE — please screen" in the forward (as bot.outbox decides it)."""
    over_limit = bool({"over-contact-limit", "over-issue-limit"} & set(rules))
    return new_issue and (status == "cease_and_desist" or over_limit)


def breaches_facts(
    session: Session, start: datetime, end: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """What was recorded in (start, end], per customer, and what needs a person now."""
    customers = {
        c.id: c
        for c in session.scalars(select(m.Customer).options(selectinload(m.Customer.arrangement)))
    }
    rows: dict[int, dict[str, Any]] = {}

    def row(customer_id: int) -> dict[str, Any]:
        if customer_id not in rows:
            customer = customers[customer_id]
            rows[customer_id] = {
                "customer_ref": customer.ref,
                "customer_name": customer.name,
                "breaches": 0,
                "by_kind": Counter[str](),
                "emergencies": 0,
                "to_screen": 0,
                "failed": 0,
            }
        return rows[customer_id]

    def status(customer_id: int) -> str:
        arrangement = customers[customer_id].arrangement
        return arrangement.status if arrangement else ""

    in_period = (m.Breach.created_at > start) & (m.Breach.created_at <= end)
    for breach in session.scalars(select(m.Breach).where(in_period)):
        rules = [r for r in breach.rules.split(",") if r]
        entry = row(breach.customer_id)
        entry["breaches"] += 1
        entry["by_kind"].update(r for r in rules if r != "emergency")
        entry["emergencies"] += "emergency" in rules
        entry["to_screen"] += _screen(breach.new_issue, status(breach.customer_id), rules)
    contact_period = (m.Contact.created_at > start) & (m.Contact.created_at <= end)
    for contact in session.scalars(select(m.Contact).where(contact_period)):
        emergency = contact.kind == "emergency"
        screen = _screen(contact.new_issue, status(contact.customer_id), ())
        if emergency or screen:
            entry = row(contact.customer_id)
            entry["emergencies"] += emergency
            entry["to_screen"] += screen
    failed_other = 0
    for outbox in session.scalars(select(m.Outbox).where(m.Outbox.status == FAILED)):
        if outbox.customer_id is None:
            failed_other += 1  # a reminder or a digest
        else:
            row(outbox.customer_id)["failed"] += 1
    review_open = session.scalar(
        select(func.count(m.ReviewItem.id)).where(m.ReviewItem.status == "open")
    )
    review_new = session.scalar(
        select(func.count(m.ReviewItem.id)).where(
            m.ReviewItem.status == "open",
            m.ReviewItem.created_at > start,
            m.ReviewItem.created_at <= end,
        )
    )
    quarantined = [
        {
            "at": q.created_at.astimezone(zone).strftime("%-d %b %H:%M"),
            "mailbox": q.mailbox,
            "folder": q.folder,
            "uid": q.uid,
            "reason": q.reason if len(q.reason) <= 160 else q.reason[:157] + "...",
        }
        for q in session.scalars(
            select(m.Quarantine)
            .where(m.Quarantine.created_at > start, m.Quarantine.created_at <= end)
            .order_by(m.Quarantine.id)
        )
    ]
    table = []
    for entry in sorted(rows.values(), key=lambda e: (-e["breaches"], e["customer_ref"])):
        by_kind = entry.pop("by_kind")
        entry["kinds"] = ", ".join(
            f"{rule.replace('-', ' ')} {n}" for rule, n in sorted(by_kind.items())
        )
        entry["line"] = _customer_line(entry)
        table.append(entry)
    return {
        "customers": table,
        "total_breaches": sum(e["breaches"] for e in table),
        "review_open": review_open or 0,
        "review_new": review_new or 0,
        "quarantined": quarantined,
        "failed_other": failed_other,
        # An anchor kept outside the database: the DMO's mailbox holds the head as it was,
        # so `evidence verify --head` can later show that no newest links were removed.
        "chain_links": session.scalar(select(func.count()).select_from(m.EvidenceLink)) or 0,
        "chain_head": chain_head(session),
    }


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _customer_line(entry: dict[str, Any]) -> str:
    """One customer's line in the text digest."""
    parts = [_plural(entry["breaches"], "breach", "breaches")]
    if entry["kinds"]:
        parts[0] += f" ({entry['kinds']})"
    if entry["emergencies"]:
        parts.append(_plural(entry["emergencies"], "emergency", "emergencies"))
    if entry["to_screen"]:
        parts.append(_plural(entry["to_screen"], "new issue", "new issues") + " - please screen")
    if entry["failed"]:
        parts.append(
            _plural(entry["failed"], "forward", "forwards") + " or acknowledgements failed"
        )
    return f"{entry['customer_ref']} ({entry['customer_name']}): " + "; ".join(parts)


def weekly_counts(
    session: Session, end: datetime, weeks: int, zone: ZoneInfo
) -> dict[str, list[int]]:
    """Breaches per week (Monday to Sunday, by when received) per customer ref, over the
    ``weeks`` weeks up to and including the week of ``end``; customers with none left out."""
    last_monday = end.astimezone(zone).date() - timedelta(days=end.astimezone(zone).weekday())
    first_monday = last_monday - timedelta(weeks=weeks - 1)
    since = datetime.combine(first_monday, time(), tzinfo=zone).astimezone(UTC)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * weeks)
    rows = session.execute(
        select(m.Breach.received_at, m.Customer.ref)
        .join(m.Customer, m.Customer.id == m.Breach.customer_id)
        .where(m.Breach.received_at >= since, m.Breach.received_at <= end)
    )
    for received, ref in rows:
        week = (received.astimezone(zone).date() - first_monday).days // 7
        if 0 <= week < weeks:
            counts[ref][week] += 1
    return dict(counts)


def breaches_chart(counts: dict[str, list[int]], weeks: int) -> bytes:
    """A small PNG: breaches per week, stacked by customer (Agg backend; no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    ranked = sorted(counts, key=lambda ref: (-sum(counts[ref]), ref))
    shown = ranked[:_CHART_CUSTOMERS]
    series = [(ref, counts[ref]) for ref in shown]
    if len(ranked) > _CHART_CUSTOMERS:
        others = [sum(counts[ref][w] for ref in ranked[_CHART_CUSTOMERS:]) for w in range(weeks)]
        series.append((f"{len(ranked) - _CHART_CUSTOMERS} others", others))
    figure = Figure(figsize=(6.4, 2.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bottom = [0] * weeks
    labels = [str(w - weeks + 1) if w < weeks - 1 else "this" for w in range(weeks)]
    for ref, values in series:
        axes.bar(range(weeks), values, bottom=bottom, label=ref)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(range(weeks), labels)
    axes.set_xlabel("week (0 = last week)" if weeks > 1 else "week")
    axes.set_ylabel("breaches")
    axes.set_title(f"Breaches per week, last {weeks} weeks")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize="small", loc="upper left", frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def reviews_facts(
    session: Session,
    start: datetime,
    end: datetime,
    today: date,
    ahead_days: int,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """Reviews due and overdue, lapses and open appeals of our own arrangements (a partner's
    are reviewed by the partner), and the open tasks to raise or remove flags in other
    systems (ours and the partner's customers alike: the flags are in our systems)."""
    arrangements = session.scalars(
        select(m.Arrangement)
        .join(m.Customer)
        .where(m.Customer.source != PARTNER)
        .options(selectinload(m.Arrangement.customer), selectinload(m.Arrangement.spoc))
    ).all()
    horizon = today + timedelta(days=ahead_days)

    def base(a: m.Arrangement) -> dict[str, Any]:
        return {
            "customer_ref": a.customer.ref,
            "customer_name": a.customer.name,
            "spoc": a.spoc.name,
            "status": a.status.replace("_", " "),
            "review_date": long_date(a.review_date),
        }

    due: list[dict[str, Any]] = []
    overdue: list[dict[str, Any]] = []
    lapsing: list[dict[str, Any]] = []
    for a in sorted(arrangements, key=lambda a: (a.review_date, a.customer.ref)):
        days = (a.review_date - today).days
        if a.status != "ceased":
            if a.lapse_at_review and a.review_date <= horizon:
                note = (
                    f"in {days} day(s)"
                    if days > 0
                    else "today"
                    if days == 0
                    else (f"{-days} day(s) ago, not yet recorded as ended")
                )
                lapsing.append({**base(a), "when": note})
            elif not a.lapse_at_review and today <= a.review_date <= horizon:
                due.append({**base(a), "days": days})
            elif not a.lapse_at_review and a.review_date < today:
                overdue.append({**base(a), "days": -days})
    # Flags in other systems: the open tasks (bot.flag_tasks), until someone confirms them.
    flags: list[dict[str, Any]] = []
    for task in list_tasks(session):
        partner = task["source"] if task["source"] != "register" else ""
        flags.append(
            {
                "system": task["system"],
                "action": task["action"],
                "customer_ref": task["customer_ref"],
                "customer_name": task["customer_name"],
                "partner": partner,
                "since": long_date(date.fromisoformat(str(task["due_on"]))),
                "command": (
                    f"spocbot flags confirm {shlex.quote(str(task['customer_ref']))} --system "
                    f"{shlex.quote(str(task['system']))} "
                    f"--{'raised' if task['action'] == 'raise' else 'removed'}"
                ),
            }
        )
    appeals: list[dict[str, Any]] = []
    query = (
        select(m.Appeal, m.Customer.ref, m.Customer.name)
        .join(m.Arrangement, m.Arrangement.id == m.Appeal.arrangement_id)
        .join(m.Customer, m.Customer.id == m.Arrangement.customer_id)
        .where(m.Appeal.status == "open", m.Customer.source != PARTNER)
        .order_by(m.Appeal.decision_due, m.Appeal.id)
    )
    for appeal, ref, name in session.execute(query):
        left = working_days_between(today, appeal.decision_due)
        appeals.append(
            {
                "customer_ref": ref,
                "customer_name": name,
                "received_on": long_date(appeal.received_on),
                "decision_due": long_date(appeal.decision_due),
                "left": left,
                "late": appeal.late,
            }
        )
    overdue.sort(key=lambda r: -r["days"])

    def who(r: dict[str, Any]) -> str:
        return f"{r['customer_ref']} ({r['customer_name']})"

    def days_left(a: dict[str, Any]) -> str:
        n = a["left"]
        return f"{n}" if n > 0 else "due today" if n == 0 else f"{-n} overdue"

    return {
        "rows_overdue": [[who(r), r["spoc"], r["review_date"], r["days"]] for r in overdue],
        "rows_due": [[who(r), r["spoc"], r["review_date"], r["days"]] for r in due],
        "rows_lapsing": [[who(r), r["spoc"], r["review_date"], r["when"]] for r in lapsing],
        "rows_appeals": [
            [
                who(a),
                a["received_on"] + (" (late)" if a["late"] else ""),
                a["decision_due"],
                days_left(a),
            ]
            for a in appeals
        ],
        "rows_flags": [
            [
                r["system"],
                r["action"],
                who(r) + (f" ({r['partner']})" if r["partner"] else ""),
                r["since"],
                r["command"],
            ]
            for r in flags
        ],
        "today": long_date(today),
        "ahead_days": ahead_days,
        "due": due,
        "overdue": overdue,
        "lapsing": lapsing,
        "appeals": appeals,
        "flags": flags,
    }


def list_digests(session: Session, kind: str | None = None) -> list[dict[str, Any]]:
    query = select(m.Digest, m.Outbox).outerjoin(m.Outbox, m.Outbox.id == m.Digest.outbox_id)
    if kind:
        query = query.where(m.Digest.kind == kind)
    return [
        {
            "id": d.id,
            "kind": d.kind,
            "slot_at": d.slot_at.isoformat(),
            "period_start_at": d.period_start.isoformat(),
            "period_end_at": d.period_end.isoformat(),
            "status": o.status if o else None,
            "sent_at": o.sent_at.isoformat() if o and o.sent_at else None,
        }
        for d, o in session.execute(query.order_by(m.Digest.slot_at))
    ]
