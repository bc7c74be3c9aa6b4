"""Need-to-know (policy §1, §8; issue 5): an arrangement's reasons and the customer's support
needs reach only DMO outputs — the register export and listing with ``--include-reasons``,
the customer's own letters and the referral form.

One arrangement with distinctive reasons and support needs goes through everything else the
product produces: the watcher's forward and cover note to the SPOC, the acknowledgement to
the customer, the reminders to the SPOC and the DMO, both digests, every listing and JSON
output of the command line, the audit log and the log records.  None may contain either
text; the DMO outputs must (so the search is known to work).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from bot.bootstrap import build_app
from bot.cli import main
from bot.digests import BREACHES, REVIEWS, DigestService
from bot.letters import LetterOptions
from bot.letters.service import send_letter
from bot.mail.imap import InboxSentLog
from bot.outbox import LETTER, DeliveryReport, OutboxSender, SenderIdentity
from bot.register_service import import_register
from bot.reminder_service import ReminderService
from bot.store import models as m
from bot.testing import FakeMailStore, FakeSender
from bot.watcher import Watcher

REASONS = "Sent ninety-nine identical complaints about the zebra-striped fence"
SUPPORT = "Needs letters read aloud by the tenancy sustainment officer"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # a Thursday
CONFIG = """
[organisation]
name = "Fake Homes"
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
address = "spoc@homes.example"
role = "spoc"

[[mailboxes]]
address = "bot@homes.example"
role = "bot"

[watch]
confirm_seconds = 0

[letters]
emergency_phone = "0300 000 0000"
"""
REGISTER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date,acknowledge,reasons,support_needs,"
    "change_required,decided_on\n"
    "C-1,Casey Customer,casey@mail.example,Sam Spoc,spoc@homes.example,Chris Cover,"
    f"cover@homes.example,,active,2026-06-10,2026-12-10,yes,{REASONS},{SUPPORT},"
    "Write only to Sam Spoc,2026-06-10\n"
)
MESSAGE = (
    b"From: Casey <casey@mail.example>\r\nTo: info@homes.example\r\nSubject: The fence\r\n"
    b"Message-ID: <fence-1@mail.example>\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\n"
    b"\r\nPlease look at the fence again.\r\n"
)


def texts(raw: bytes) -> str:
    """Every text part of a message, decoded, with its headers (what a reader sees)."""
    message = message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    seen = [str(value) for _, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            seen.append(part.get_content())
    return "\n".join(seen)


def assert_absent(where: str, text: str) -> None:
    assert (False, False) == (REASONS in text, SUPPORT in text), where


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "spocbot.toml").write_text(CONFIG)
    (tmp_path / "register.csv").write_text(REGISTER)
    return tmp_path


def test_reasons_and_support_needs_reach_only_dmo_outputs(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = build_app(root / "spocbot.toml")
    app.clock = lambda: NOW
    import_register(app.factory, root / "register.csv", staff_addresses=(), staff_domains=())
    info, spoc, bot = (FakeMailStore(f"{n}@homes.example") for n in ("info", "spoc", "bot"))
    stores = {s.address: s for s in (info, spoc, bot)}
    sender = FakeSender(stores)

    def outbox() -> OutboxSender:
        return OutboxSender(
            app.factory,
            sender,
            InboxSentLog(bot),
            app.evidence,
            app.templates,
            SenderIdentity("Fake Homes", "bot@homes.example", "Europe/London"),
            confirm_seconds=0,
            retry_initial_seconds=5,
            retry_max_seconds=60,
            clock=app.clock,
            sleep=lambda _s: None,
        )

    # The watcher: a breach (to info@, bypassing the SPOC), forwarded and acknowledged.
    info.deliver(MESSAGE)
    report = Watcher(app.settings, app.factory, stores, outbox(), app.evidence, clock=app.clock)
    assert 1 == report.run_pass().new_breaches
    with app.factory.begin() as session:  # recorded "now" on the test's clock, for the digest
        session.execute(update(m.Breach).values(created_at=NOW))
        session.execute(update(m.Outbox).values(created_at=NOW))
    # Reminders: the review on 10 December is 7 days away (to the SPOC and the DMO).
    assert 2 == len(
        ReminderService(app.factory, app.evidence, app.templates, app.settings, app.clock)
        .run()
        .messages
    )
    # Both digests, the next morning.
    app.clock = lambda: datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    digests = DigestService(app.factory, app.evidence, app.templates, app.settings, app.clock)
    assert (False, False) == tuple(
        digests.run(kind).nothing_to_report for kind in (BREACHES, REVIEWS)
    )
    # The DMO outputs, as positive controls: the customer's letter and the referral form.
    for kind in ("introduction", "referral-form"):
        send_letter(
            app.factory,
            app.settings,
            app.evidence,
            kind,
            "C-1",
            LetterOptions(as_of=date(2026, 12, 4)),
            now=app.clock(),
            operator="dmo",
        )
    delivered = DeliveryReport()
    outbox().deliver(delivered)
    assert 0 == delivered.failed

    with app.factory() as session:
        kinds = {row.outgoing_message_id: row.kind for row in session.query(m.Outbox)}
    by_kind: dict[str, list[str]] = {}
    for sent in sender.sent:
        message_id = message_from_bytes(sent.message, policy=default_policy)["Message-ID"]
        by_kind.setdefault(kinds[message_id.strip()], []).append(texts(sent.message))
    assert {"breach-forward", "acknowledgement", "reminder", "digest", LETTER} == set(by_kind)
    for kind, bodies in by_kind.items():
        if kind != LETTER:
            for body in bodies:
                assert_absent(f"{kind} message", body)
    letters = "\n".join(by_kind[LETTER])
    assert (True, True) == (REASONS in letters, SUPPORT in letters)  # the search works

    runner = CliRunner()
    config = ["--config", str(root / "spocbot.toml")]
    non_dmo = [
        ["register", "list"],
        ["register", "list", "--json"],
        ["arrangement", "history", "C-1"],
        ["arrangement", "history", "C-1", "--json"],
        ["breaches", "list", "--json"],
        ["forwards", "list", "--json"],
        ["reminders", "list", "--json"],
        ["digest", "list", "--json"],
        ["letter", "list", "--json"],
        ["audit", "list", "--json"],
        ["reminders", "send", "--as-of", "2026-12-09", "--dry-run", "--json"],
        ["digest", "send", "--kind", "reviews", "--as-of", "2026-12-07", "--dry-run"],
        ["digest", "send", "--kind", "breaches", "--as-of", "2026-12-05", "--dry-run"],
    ]
    for args in non_dmo:
        result = runner.invoke(main, [*config, *args], catch_exceptions=False)
        assert 0 == result.exit_code, (args, result.output)
        assert_absent(" ".join(args), result.output)
    export = root / "export.csv"
    assert 0 == runner.invoke(main, [*config, "register", "export", str(export)]).exit_code
    assert_absent("register export", export.read_text())
    assert (
        0
        == runner.invoke(
            main, [*config, "register", "export", "--include-reasons", str(export)]
        ).exit_code
    )
    assert (True, True) == (REASONS in export.read_text(), SUPPORT in export.read_text())
    assert_absent("log records", caplog.text)
