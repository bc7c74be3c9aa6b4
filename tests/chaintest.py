"""A harness for the evidence-chain tests: a real SQLite database and evidence store with
breaches, contacts and letters recorded through the real code paths (the watcher on the mail
fakes of bot.testing, and the letter service), and the raw-sqlite3 tools a tamperer would use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from bot.bootstrap import App, build_app
from bot.cli import main
from bot.evidence_chain import VerifyReport, verify
from bot.letters import LetterOptions
from bot.letters.service import send_letter
from bot.mail.imap import InboxSentLog
from bot.outbox import OutboxSender, SenderIdentity
from bot.register_service import import_register
from bot.store import models as m
from bot.testing import FakeMailStore, FakeSender
from bot.watcher import Watcher
from tests.lettertest import LETTERS_SECTION, set_fields

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CONFIG = (
    """
[organisation]
name = "Chain Homes"
dmo_email = "dmo@homes.example"
bot_address = "bot@homes.example"
staff_domains = ["homes.example"]

[storage]
database_url = "sqlite:///state/db.sqlite"
evidence_dir = "state/evidence"

[backend]
kind = "embedded"

[[mailboxes]]
address = "info@homes.example"
role = "information"

[[mailboxes]]
address = "amelia@homes.example"
role = "spoc"

[[mailboxes]]
address = "bot@homes.example"
role = "bot"

[watch]
confirm_seconds = 0
"""
    + LETTERS_SECTION
)
REGISTER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date\n"
    "NV-1,Zoë Łukasiewicz,zoe@mail.example,Amelia Hart,amelia@homes.example,Chris Cover,"
    "chris@homes.example,amelia@homes.example,active,2026-12-03,2027-06-03\n"
    "NV-2,Ben Other,ben@mail.example,Amelia Hart,amelia@homes.example,Chris Cover,"
    "chris@homes.example,amelia@homes.example,active,2026-12-03,2027-06-03\n"
)
SENDERS = {"NV-1": "zoe@mail.example", "NV-2": "ben@mail.example"}


def message(n: int, sender: str, to: str, subject: str = "Repairs") -> bytes:
    return (
        f"From: <{sender}>\r\nTo: {to}\r\nSubject: {subject} {n}\r\n"
        f"Message-ID: <m{n}@mail.example>\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\n"
        f"\r\nPlease fix the boiler ({n}).\r\n"
    ).encode()


class ChainHarness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "spocbot.toml"
        self.config.write_text(CONFIG)
        (root / "register.csv").write_text(REGISTER)
        self.now = NOW
        self.app: App = build_app(self.config)
        self.app.clock = lambda: self.now
        import_register(
            self.app.factory, root / "register.csv", staff_addresses=(), staff_domains=()
        )
        for ref in SENDERS:
            set_fields(self.app, ref)
        self.info = FakeMailStore("info@homes.example")
        self.spoc = FakeMailStore("amelia@homes.example")
        self.bot = FakeMailStore("bot@homes.example")
        stores = {s.address: s for s in (self.info, self.spoc, self.bot)}
        outbox = OutboxSender(
            self.app.factory,
            FakeSender(stores),
            InboxSentLog(self.bot),
            self.app.evidence,
            self.app.templates,
            SenderIdentity("Chain Homes", "bot@homes.example", "Europe/London"),
            confirm_seconds=0,
            retry_initial_seconds=5,
            retry_max_seconds=60,
            clock=lambda: self.now,
            sleep=lambda _s: None,
        )
        self.watcher = Watcher(
            self.app.settings,
            self.app.factory,
            stores,
            outbox,
            self.app.evidence,
            clock=lambda: self.now,
        )
        self._n = 0

    @property
    def database(self) -> Path:
        return self.root / "state" / "db.sqlite"

    def breach(self, ref: str = "NV-1", subject: str = "Repairs") -> None:
        """A message to the information mailbox: a breach, recorded by the watcher."""
        self._n += 1
        self.info.deliver(
            message(self._n, SENDERS[ref], "info@homes.example", subject), received_at=self.now
        )
        self.tick()

    def contact(self, ref: str = "NV-1") -> None:
        """A message to the SPOC: an allowed contact, recorded by the watcher."""
        self._n += 1
        self.spoc.deliver(
            message(self._n, SENDERS[ref], "amelia@homes.example"), received_at=self.now
        )
        self.tick()

    def letter(self, ref: str = "NV-1", kind: str = "introduction") -> None:
        send_letter(
            self.app.factory,
            self.app.settings,
            self.app.evidence,
            kind,
            ref,
            LetterOptions(as_of=date(2026, 12, 3), operator="Priya Shah"),
            now=self.now,
            operator="Priya Shah",
            resend=True,
        )
        self.now += timedelta(minutes=1)

    def tick(self) -> None:
        report = self.watcher.run_pass()
        assert report.ok, report.errors
        self.now += timedelta(minutes=1)

    def populate(self) -> None:
        """Breaches, contacts and letters of two customers, interleaved."""
        self.breach("NV-1")
        self.contact("NV-1")
        self.breach("NV-2")
        self.letter("NV-1")
        self.breach("NV-1")
        self.contact("NV-2")
        self.letter("NV-2")
        self.breach("NV-1")

    def verify(self) -> VerifyReport:
        with self.app.factory() as session:
            return verify(session, self.app.evidence)

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, ["--config", str(self.config), *args])
        return result.exit_code, result.stdout, result.stderr

    def ids(self, model: type[m.Breach] | type[m.Contact] | type[m.Letter]) -> list[int]:
        with self.app.factory() as session:
            return list(session.scalars(select(model.id).order_by(model.id)))

    @contextmanager
    def tamper(self, *, drop_triggers: bool = True) -> Iterator[sqlite3.Connection]:
        """A raw sqlite3 connection to the database, as a determined tamperer would open it
        (no foreign keys; the append-only triggers dropped first unless told otherwise)."""
        self.app.engine.dispose()
        connection = sqlite3.connect(self.database)
        try:
            if drop_triggers:
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                ).fetchall():
                    connection.execute(f"DROP TRIGGER {name}")
            yield connection
            connection.commit()
        finally:
            connection.close()

    def raw_path(self, sha256: str) -> Path:
        return self.app.evidence.path_for(sha256)
