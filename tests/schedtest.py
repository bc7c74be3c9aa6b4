"""A harness for the reminders, digests and scheduler tests: real SQLite, fake mail, and a
clock the test moves (``h.at(...)``).

The register is imported from a file, then review dates, lapses and appeals are set through
the ORM (the lifecycle commands live elsewhere).  Every arrangement carries distinctive
reasons and support needs (:data:`SECRET_REASONS`, :data:`SECRET_NEEDS`) so that any test
can check that none of them reaches a reminder or a digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.bootstrap import App, build_app
from bot.mail.imap import InboxSentLog
from bot.outbox import OutboxSender, SenderIdentity
from bot.register_service import import_register
from bot.scheduler import Daemon
from bot.store import models as m
from bot.testing import FakeMailStore, FakeSender
from bot.watcher import Watcher
from mailbox_rules.calendar import appeal_decision_due

LONDON = ZoneInfo("Europe/London")
SECRET_REASONS = "ZEBRA-REASON-7731 repeated abusive calls"
SECRET_NEEDS = "OKAPI-SUPPORT-2290 hearing impairment"
DMO = "dmo@homes.example"
SPOC = "spoc@homes.example"
SPOC2 = "spoc2@homes.example"
CONFIG = """
[organisation]
name = "Sched Homes"
dmo_email = "dmo@homes.example"
bot_address = "bot@homes.example"

[storage]
database_url = "sqlite:///state/db.sqlite"
evidence_dir = "state/evidence"

[backend]
kind = "embedded"

[[mailboxes]]
address = "info@homes.example"
role = "information"

[[mailboxes]]
address = "bot@homes.example"
role = "bot"

[watch]
confirm_seconds = 0
"""
HEADER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date\n"
)


def row(ref: str, spoc: str = SPOC, review: str = "2027-03-01", start: str = "2026-06-01") -> str:
    name = {SPOC: "Sam Spoc", SPOC2: "Pat Spoc"}[spoc]
    return (
        f"{ref},Customer {ref},{ref.lower()}@mail.example,{name},{spoc},,,,active,"
        f"{start},{review}\n"
    )


class Harness:
    def __init__(self, root: Path, rows: list[str], extra_config: str = "") -> None:
        (root / "spocbot.toml").write_text(CONFIG + extra_config)
        (root / "register.csv").write_text(HEADER + "".join(rows))
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        self.app: App = build_app(root / "spocbot.toml")
        self.app.clock = lambda: self.now
        import_register(
            self.app.factory, root / "register.csv", staff_addresses=(), staff_domains=()
        )
        with self.app.factory.begin() as session:
            for arrangement in session.scalars(select(m.Arrangement)):
                arrangement.reasons = SECRET_REASONS
                arrangement.support_needs = SECRET_NEEDS
        self.info = FakeMailStore("info@homes.example")
        self.bot = FakeMailStore("bot@homes.example")
        self.sender = FakeSender({"bot@homes.example": self.bot})
        self.outbox = OutboxSender(
            self.app.factory,
            self.sender,
            InboxSentLog(self.bot),
            self.app.evidence,
            self.app.templates,
            SenderIdentity("Sched Homes", "bot@homes.example", "Europe/London"),
            confirm_seconds=0,
            retry_initial_seconds=5,
            retry_max_seconds=60,
            clock=lambda: self.now,
            sleep=lambda _s: None,
        )
        self.watcher = Watcher(
            self.app.settings,
            self.app.factory,
            {"info@homes.example": self.info, "bot@homes.example": self.bot},
            self.outbox,
            self.app.evidence,
            clock=lambda: self.now,
        )
        self.daemon = Daemon(self.app, self.watcher, self.outbox, hooks=[])

    def at(self, day: date, clock: str = "09:00") -> None:
        """Move the clock to ``clock`` (Europe/London) on ``day``."""
        local = datetime.combine(day, time.fromisoformat(clock), tzinfo=LONDON)
        self.now = local.astimezone(UTC)

    def arrangement(self, ref: str, **changes: object) -> int:
        """Change an arrangement through the ORM (as the lifecycle commands would)."""
        with self.app.factory.begin() as session:
            arrangement = session.scalars(
                select(m.Arrangement).join(m.Customer).where(m.Customer.ref == ref)
            ).one()
            for key, value in changes.items():
                setattr(arrangement, key, value)
            return arrangement.id

    def add_appeal(self, ref: str, received_on: date) -> int:
        arrangement_id = self.arrangement(ref)
        with self.app.factory.begin() as session:
            appeal = m.Appeal(
                arrangement_id=arrangement_id,
                decision_on=received_on,
                received_on=received_on,
                deadline=received_on,
                decision_due=appeal_decision_due(received_on),
            )
            session.add(appeal)
            session.flush()
            return appeal.id

    def decide_appeal(self, appeal_id: int, on: date) -> None:
        with self.app.factory.begin() as session:
            appeal = session.get_one(m.Appeal, appeal_id)
            appeal.status, appeal.decided_on, appeal.outcome = "decided", on, "upheld"

    def recorded(self) -> set[tuple[str, str, date, int, str, date]]:
        """Recorded reminders as (customer ref, kind, target, offset, recipient, due)."""
        with self.app.factory() as session:
            rows = session.execute(
                select(
                    m.Customer.ref,
                    m.Reminder.kind,
                    m.Reminder.target_on,
                    m.Reminder.offset_days,
                    m.Reminder.recipient,
                    m.Reminder.due_on,
                )
                .join(m.Arrangement, m.Arrangement.id == m.Reminder.arrangement_id)
                .join(m.Customer, m.Customer.id == m.Arrangement.customer_id)
            )
            return {tuple(r) for r in rows}  # type: ignore[misc]

    def reminder_count(self) -> int:
        with self.app.factory() as session:
            return len(session.scalars(select(m.Reminder.id)).all())

    def outbox_rows(self, kind: str) -> list[m.Outbox]:
        with self.app.factory() as session:
            return list(
                session.scalars(select(m.Outbox).where(m.Outbox.kind == kind).order_by(m.Outbox.id))
            )

    def sent(self, kind: str | None = None) -> list[EmailMessage]:
        """Messages the fake sender sent (to their recipient, not the bot's own copy)."""
        parsed = [message_from_bytes(s.message, policy=default_policy) for s in self.sender.sent]
        messages = [p for p in parsed if isinstance(p, EmailMessage)]
        return [p for p in messages if kind is None or p["X-Spocbot-Kind"] == kind]


def texts(message: EmailMessage) -> Iterator[str]:
    """Every text part of ``message``, decoded."""
    for part in message.walk():
        if part.get_content_maintype() == "text":
            yield part.get_content()


def day_range(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day = date.fromordinal(day.toordinal() + 1)
