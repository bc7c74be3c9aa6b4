"""The watcher and outbox on in-memory mail fakes (bot.testing) and a real SQLite database.

These cover what is hard to provoke on a real server: a folder recreated with a new
UIDVALIDITY, a message that makes processing fail, outages of IMAP and SMTP, a permanent
refusal, an oversized message, and recovery when an interrupted send never went out.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import reports
from bot.bootstrap import App, build_app
from bot.evidence import EvidenceError
from bot.forward_service import retry_forward
from bot.mail.imap import InboxSentLog
from bot.mail.ports import DeliveryRejected, DeliveryUncertain, FolderState, MailServerError
from bot.outbox import OutboxError, OutboxSender, SenderIdentity
from bot.policy import Policy
from bot.register_service import import_register
from bot.store import models as m
from bot.testing import FakeMailStore, FakeSender
from bot.watcher import Watcher

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
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
max_message_bytes = 5000
"""
REGISTER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date\n"
    "C-1,Casey Customer,casey@mail.example,Sam Spoc,spoc@homes.example,Chris Cover,"
    "cover@homes.example,,active,2026-01-01,2027-01-01\n"
)


class Harness:
    def __init__(self, root: Path) -> None:
        (root / "spocbot.toml").write_text(CONFIG)
        (root / "register.csv").write_text(REGISTER)
        self.app: App = build_app(root / "spocbot.toml")
        self.app.clock = lambda: NOW
        import_register(
            self.app.factory, root / "register.csv", staff_addresses=(), staff_domains=()
        )
        self.info = FakeMailStore("info@homes.example")
        self.spoc = FakeMailStore("spoc@homes.example")
        self.bot = FakeMailStore("bot@homes.example")
        self.cover = FakeMailStore("cover@homes.example")
        stores = {s.address: s for s in (self.info, self.spoc, self.bot, self.cover)}
        self.sender = FakeSender(stores)
        self.outbox = OutboxSender(
            self.app.factory,
            self.sender,
            InboxSentLog(self.bot),
            self.app.evidence,
            self.app.templates,
            SenderIdentity("Fake Homes", "bot@homes.example", "Europe/London"),
            confirm_seconds=0,
            retry_initial_seconds=5,
            retry_max_seconds=60,
            clock=lambda: NOW,
            sleep=lambda _s: None,
        )
        self.watcher = Watcher(
            self.app.settings,
            self.app.factory,
            stores,
            self.outbox,
            self.app.evidence,
            clock=lambda: NOW,
        )

    def breaches(self) -> list[dict[str, object]]:
        with self.app.factory() as session:
            return reports.breaches(session)

    def outbox_rows(self) -> list[m.Outbox]:
        with self.app.factory() as session:
            return list(session.scalars(select(m.Outbox)))


def customer_message(n: int = 1, sender: str = "casey@mail.example", extra: str = "") -> bytes:
    return (
        f"From: Casey <{sender}>\r\nTo: info@homes.example\r\nSubject: Repairs {n}\r\n"
        f"Message-ID: <m{n}@mail.example>\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\n{extra}"
        f"\r\nPlease fix the boiler.\r\n"
    ).encode()


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def retry(h: Harness, forward_id: int, to: str | None = None) -> tuple[str, str]:
    """``spocbot forwards retry``, by the operator "ops"; who the forward will go to."""
    result = retry_forward(
        h.app.factory,
        forward_id,
        operator="ops",
        now=NOW,
        dmo=Policy(h.app.settings).dmo,
        to=to,
    )
    return result.recipient_name, result.recipient_email


def test_breach_is_forwarded_to_spoc_and_copied_to_bot_mailbox(h: Harness) -> None:
    h.info.deliver(customer_message())

    report = h.watcher.run_pass()

    assert 1 == report.new_breaches
    assert [("spoc@homes.example", "bot@homes.example")] == [s.recipients for s in h.sender.sent]
    assert 1 == len(h.bot.folders["INBOX"])


def test_a_breach_is_recorded_at_the_watchers_clock_not_the_machines(h: Harness) -> None:
    """The chain hashes the time a breach was recorded, and the digests select by it."""
    h.info.deliver(customer_message())

    h.watcher.run_pass()

    with h.app.factory() as session:
        (recorded,) = session.scalars(select(m.Breach.created_at)).all()
    assert NOW == recorded


def test_nothing_new_costs_one_select_per_folder_and_no_fetch(h: Harness) -> None:
    h.info.deliver(customer_message())
    h.watcher.run_pass()
    h.watcher.run_pass()  # the forward that landed in the SPOC's inbox
    before = (h.info.header_fetches, h.info.raw_fetches, h.info.selects)

    h.watcher.run_pass()

    assert (before[0], before[1], before[2] + 1) == (
        h.info.header_fetches,
        h.info.raw_fetches,
        h.info.selects,
    )


def test_new_uidvalidity_rereads_folder_without_repeating_forwards(h: Harness) -> None:
    h.info.deliver(customer_message(1))
    h.watcher.run_pass()
    h.info.recreate()
    h.info.deliver(customer_message(2))

    report = h.watcher.run_pass()

    assert 2 == report.headers_fetched - 1  # both messages again (+1: the forward in spoc)
    assert 1 == report.new_breaches
    assert 2 == len(h.sender.sent)


def test_message_that_breaks_processing_is_quarantined_and_pass_goes_on(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.watcher as watcher_module

    real_parse = watcher_module.parse_envelope

    def parse(header: bytes, **kwargs: object) -> object:
        if b"Repairs 1" in header:
            raise UnicodeError("simulated parser failure")
        return real_parse(header, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(watcher_module, "parse_envelope", parse)
    h.info.deliver(customer_message(1))
    h.info.deliver(customer_message(2))

    report = h.watcher.run_pass()

    with h.app.factory() as session:
        quarantined = reports.quarantine(session)
    assert ["could not be processed: UnicodeError: simulated parser failure"] == [
        q["reason"] for q in quarantined
    ]
    assert quarantined[0]["sha256"] is not None  # the raw message is kept with it
    assert 1 == report.new_breaches


def test_a_quarantined_message_whose_entry_expired_is_not_kept_again_on_a_rescan(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the retention purge or an erasure deleted its entry (``expired_copies``), a
    rescan reads the message again: no new entry, and its raw message is not written back."""
    import bot.watcher as watcher_module
    from bot.recording import remember_expired

    def parse(header: bytes, **kwargs: object) -> object:
        raise UnicodeError("simulated parser failure")

    monkeypatch.setattr(watcher_module, "parse_envelope", parse)
    h.info.deliver(customer_message(1))
    h.watcher.run_pass()
    with h.app.factory.begin() as session:  # as the purge does
        (entry,) = session.scalars(select(m.Quarantine)).all()
        remember_expired(session, "quarantine", [entry])
        session.delete(entry)
    h.app.evidence.path_for(entry.sha256 or "").unlink()
    with h.app.factory.begin() as session:  # a rescan: the folder is read from the start
        session.execute(sa_delete(m.MailboxCursor))

    report = h.watcher.run_pass()

    with h.app.factory() as session:
        assert [] == session.scalars(select(m.Quarantine)).all()
    assert ([], 0, 0) == (
        sorted(h.app.evidence.root.rglob("*.eml")),
        report.quarantined,
        report.decisions["error"],
    )


def test_unidentifiable_sender_goes_to_review_with_raw_message(h: Harness) -> None:
    h.info.deliver(b"From: Casey\r\nSubject: hi\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n")

    report = h.watcher.run_pass()

    assert (1, 0) == (report.to_review, report.quarantined)
    with h.app.factory() as session:
        [entry] = reports.review_items(session)
    assert entry["reason"].startswith("sender cannot be identified")
    assert h.app.evidence.get(entry["sha256"]).startswith(b"From: Casey")


def test_message_over_size_limit_is_quarantined_not_fetched(h: Harness) -> None:
    h.info.deliver(customer_message(extra="X-Padding: " + "x" * 6000 + "\r\n"))

    h.watcher.run_pass()

    assert 0 == h.info.raw_fetches
    with h.app.factory() as session:
        [entry] = reports.quarantine(session)
    assert "max_message_bytes" in entry["reason"]


def test_imap_outage_stops_that_mailbox_and_is_reported(h: Harness) -> None:
    h.info.deliver(customer_message())
    h.info.fail_with = MailServerError("connection refused")

    report = h.watcher.run_pass()

    assert ["info@homes.example/INBOX: connection refused"] == report.errors
    h.info.fail_with = None
    assert 1 == h.watcher.run_pass().new_breaches


def test_smtp_outage_defers_forward_and_retries_after_backoff(h: Harness) -> None:
    h.info.deliver(customer_message())
    h.sender.fail_with = MailServerError("451 try later")

    h.watcher.run_pass()

    [row] = h.outbox_rows()
    assert ("pending", 1) == (row.status, row.attempts)
    assert row.next_attempt_at is not None and row.next_attempt_at > NOW
    h.sender.fail_with = None
    h.watcher.run_pass()
    assert "pending" == h.outbox_rows()[0].status  # not due yet: backoff respected
    h.outbox._clock = lambda: row.next_attempt_at  # type: ignore[assignment,return-value]
    h.watcher.run_pass()
    assert "sent" == h.outbox_rows()[0].status
    assert 1 == len(h.sender.sent)


def test_permanent_refusal_marks_forward_failed_and_reports_it(h: Harness) -> None:
    h.info.deliver(customer_message())
    h.sender.fail_with = DeliveryRejected("550 no such user")

    report = h.watcher.run_pass()

    assert ["failed"] == [r.status for r in h.outbox_rows()]
    assert 1 == report.delivery.failed


def test_interrupted_send_not_found_in_bot_mailbox_is_sent_again(h: Harness) -> None:
    h.info.deliver(customer_message())
    h.sender.fail_with = MailServerError("down")
    h.watcher.run_pass()
    with h.app.factory.begin() as session:  # as if killed after marking 'sending'
        session.scalars(select(m.Outbox)).one().status = "sending"
    h.sender.fail_with = None
    h.outbox._clock = lambda: datetime(2027, 1, 1, tzinfo=UTC)  # type: ignore[assignment]

    report = h.watcher.run_pass()

    assert (0, 1, 1) == (report.delivery.recovered, report.delivery.requeued, report.delivery.sent)


def test_interrupted_send_found_in_bot_mailbox_is_not_sent_again(h: Harness) -> None:
    h.info.deliver(customer_message())
    h.watcher.run_pass()
    with h.app.factory.begin() as session:  # as if killed after SMTP accepted it
        session.scalars(select(m.Outbox)).one().status = "sending"

    report = h.watcher.run_pass()

    assert (1, 0, 0) == (report.delivery.recovered, report.delivery.requeued, report.delivery.sent)
    assert 1 == len(h.sender.sent)


def test_daemon_backs_off_after_failures_and_stops_on_request(h: Harness) -> None:
    h.info.fail_with = MailServerError("down")
    stop = threading.Event()
    delays: list[float] = []
    passes: list[bool] = []

    def on_pass(report: object) -> None:
        passes.append(bool(getattr(report, "ok")))  # noqa: B009
        if len(passes) == 3:
            stop.set()

    original_wait = stop.wait

    def wait(timeout: float | None = None) -> bool:
        delays.append(timeout or 0)
        return original_wait(0)

    stop.wait = wait  # type: ignore[method-assign]
    h.watcher.run_forever(stop, on_pass)

    assert [False, False, False] == passes
    assert delays[0] < delays[1] < delays[2]  # exponential backoff (with jitter)


def test_database_failure_is_reported_and_message_retried_not_quarantined(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.watcher as watcher_module

    real = watcher_module.record_decision
    calls = {"n": 0}

    def locked_once(*args: object, **kwargs: object) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError(
                "INSERT ...", {"secret": "<m1@mail.example>"}, Exception("database is locked")
            )
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(watcher_module, "record_decision", locked_once)
    h.info.deliver(customer_message())

    first = h.watcher.run_pass()
    second = h.watcher.run_pass()

    assert ["scanning stopped: database error: database is locked"] == first.errors
    assert (0, 1) == (first.quarantined, second.new_breaches)
    with h.app.factory() as session:
        assert [] == reports.quarantine(session)


def test_full_evidence_disk_stops_scanning_but_pending_forwards_still_go(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.info.deliver(customer_message(1))
    h.sender.fail_with = MailServerError("down")
    h.watcher.run_pass()  # breach 1 recorded, its forward pending
    h.sender.fail_with = None
    h.outbox._clock = lambda: datetime(2027, 1, 1, tzinfo=UTC)  # type: ignore[assignment]

    def full(raw: bytes) -> object:
        raise EvidenceError("No space left on device")

    monkeypatch.setattr(h.app.evidence, "keep", full)
    h.info.deliver(customer_message(2))

    report = h.watcher.run_pass()

    assert ["scanning stopped: No space left on device"] == report.errors
    assert 1 == report.delivery.sent


def test_different_messages_reusing_a_message_id_are_separate_breaches(h: Harness) -> None:
    first = customer_message(1)
    second = first.replace(b"Please fix the boiler.", b"This is a different complaint.")
    h.info.deliver(first)
    h.info.deliver(second)
    h.spoc.deliver(
        first.replace(b"To: info@", b"To: spoc@").replace(
            b"Subject", b"Cc: info@homes.example\r\nSubject"
        )
    )

    h.watcher.run_pass()

    rows = h.breaches()
    assert ["<m1@mail.example>", "<m1@mail.example>#body-"] == [
        str(r["message_id"])[: len("<m1@mail.example>#body-")] for r in rows
    ]
    assert 2 == len(h.sender.sent)


def test_forward_that_cannot_be_built_fails_alone_and_can_be_retried(h: Harness) -> None:
    h.info.deliver(customer_message(1))
    h.info.deliver(customer_message(2))
    h.sender.fail_with = MailServerError("down")
    h.watcher.run_pass()
    h.sender.fail_with = None
    h.outbox._clock = lambda: datetime(2027, 1, 1, tzinfo=UTC)  # type: ignore[assignment]
    first_sha = h.outbox_rows()[0].original_sha256
    path = h.app.evidence.path_for(first_sha)
    saved = path.read_bytes()
    path.chmod(0o600)
    path.write_bytes(b"tampered")

    report = h.watcher.run_pass()

    assert ["failed", "sent"] == [r.status for r in h.outbox_rows()]
    assert 1 == len(report.attention) and "spocbot forwards retry 1" in report.attention[0]
    path.write_bytes(saved)
    retry(h, 1)
    h.watcher.run_pass()
    assert ["sent", "sent"] == [r.status for r in h.outbox_rows()]


def test_lost_reply_after_data_leaves_forward_for_recovery_not_resend(h: Harness) -> None:
    h.info.deliver(customer_message())
    real_send = h.sender.send

    def send_then_drop(envelope_from: str, recipients: object, message: bytes) -> None:
        real_send(envelope_from, recipients, message)  # type: ignore[arg-type]
        raise DeliveryUncertain("connection lost while sending the message")

    h.sender.send = send_then_drop  # type: ignore[method-assign]
    first = h.watcher.run_pass()
    h.sender.send = real_send  # type: ignore[method-assign]
    second = h.watcher.run_pass()

    assert ["sent"] == [r.status for r in h.outbox_rows()]
    assert (1, 1, 0) == (len(h.sender.sent), second.delivery.recovered, second.delivery.sent)
    assert first.delivery.errors[0].startswith("forward 1 may not have been sent")


def test_bot_mailbox_outage_still_scans_but_sends_nothing(h: Harness) -> None:
    h.bot.fail_with = MailServerError("login refused")
    h.info.deliver(customer_message())

    report = h.watcher.run_pass()

    assert 1 == report.new_breaches
    assert [] == h.sender.sent
    assert report.errors[0].startswith("cannot check the bot mailbox, so nothing is sent")


def test_emergency_goes_to_spoc_and_emergency_route_marked_high_importance(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    emergency = h.app.settings.emergency.model_copy(
        update={"forward_to": "cc@homes.example", "name": "Contact centre"}
    )
    settings = h.app.settings.model_copy(update={"emergency": emergency})
    monkeypatch.setattr(h.watcher, "_settings", settings)
    monkeypatch.setattr(h.watcher, "_policy", Policy(settings))
    h.spoc.deliver(
        customer_message()
        .replace(b"To: info@", b"To: spoc@")
        .replace(b"Please fix the boiler.", b"I can smell gas in the kitchen.")
    )

    report = h.watcher.run_pass()

    assert {"emergency": 1} == dict(report.decisions)
    assert [
        ("spoc@homes.example", "bot@homes.example"),
        ("cc@homes.example", "bot@homes.example"),
    ] == [s.recipients for s in h.sender.sent]
    assert all(b"Importance: high" in s.message for s in h.sender.sent)
    assert all(b"[POSSIBLE EMERGENCY]" in s.message for s in h.sender.sent)


def test_failed_forward_can_be_retried_to_another_officer(h: Harness) -> None:
    h.info.deliver(customer_message())
    h.sender.fail_with = DeliveryRejected("550 no such user")
    h.watcher.run_pass()
    h.sender.fail_with = None

    with pytest.raises(OutboxError, match="neither an officer in the register nor the DMO"):
        retry(h, 1, to="stranger@else.example")
    assert ("Chris Cover", "cover@homes.example") == retry(h, 1, to="cover@homes.example")
    h.watcher.run_pass()

    assert [("cover@homes.example", "bot@homes.example")] == [s.recipients for s in h.sender.sent]


def test_bcc_to_absent_spoc_and_info_gives_cover_officer_one_notice_not_two(h: Harness) -> None:
    with h.app.factory.begin() as session:
        spoc = session.scalars(
            select(m.Officer).where(m.Officer.email == "spoc@homes.example")
        ).one()
        session.add(m.OfficerAbsence(officer=spoc, starts_on=NOW.date(), ends_on=NOW.date()))
    raw = customer_message().replace(b"To: info@homes.example", b"To: councillor@else.example")
    h.spoc.deliver(raw)  # Bcc copy in the SPOC's own inbox: permitted, SPOC away -> cover notice
    h.info.deliver(raw)  # Bcc copy in info: a breach -> breach forward to the cover officer

    h.watcher.run_pass()

    assert [("cover@homes.example", "bot@homes.example")] == [s.recipients for s in h.sender.sent]
    assert {"sent", "superseded"} == {r.status for r in h.outbox_rows()}


def test_different_permitted_messages_reusing_a_message_id_are_separate_contacts(
    h: Harness,
) -> None:
    first = customer_message(1).replace(b"To: info@", b"To: spoc@")
    h.spoc.deliver(first)
    h.spoc.deliver(first.replace(b"Please fix the boiler.", b"Another matter entirely."))

    h.watcher.run_pass()

    with h.app.factory() as session:
        assert 2 == len(reports.contacts(session))


def enable_acknowledgements(h: Harness) -> None:
    with h.app.factory.begin() as session:
        session.scalars(select(m.Arrangement)).one().acknowledge = True


def test_acknowledgement_goes_to_the_customer_once_per_day(h: Harness) -> None:
    enable_acknowledgements(h)
    h.info.deliver(customer_message(1))
    h.info.deliver(customer_message(2))

    h.watcher.run_pass()

    acks = [s for s in h.sender.sent if b"X-Spocbot-Kind: acknowledgement" in s.message]
    assert [("casey@mail.example", "bot@homes.example")] == [a.recipients for a in acks]
    assert b"Auto-Submitted: auto-replied" in acks[0].message
    assert b"In-Reply-To: <m1@mail.example>" in acks[0].message
    assert b"Sam Spoc will deal with it" in acks[0].message.replace(b"=\r\n", b"")
    assert b"Reply-To: spoc@homes.example" in acks[0].message  # not the unread bot mailbox


def test_no_acknowledgement_to_bulk_or_no_reply_mail(h: Harness) -> None:
    enable_acknowledgements(h)
    with h.app.factory.begin() as session:
        session.add(m.CustomerEmail(customer_id=1, address="noreply@mail.example"))
    h.info.deliver(customer_message(1, extra="Precedence: bulk\r\n"))
    h.info.deliver(customer_message(2, sender="noreply@mail.example"))

    h.watcher.run_pass()

    assert [] == [s for s in h.sender.sent if b"X-Spocbot-Kind: acknowledgement" in s.message]


def test_cease_and_desist_mail_is_screened_and_new_issues_flagged(h: Harness) -> None:
    with h.app.factory.begin() as session:
        session.scalars(select(m.Arrangement)).one().status = "cease_and_desist"
    h.spoc.deliver(customer_message(1).replace(b"To: info@", b"To: spoc@"))

    h.watcher.run_pass()

    [forward] = h.sender.sent
    text = forward.message.replace(b"=\r\n", b"")
    assert b"[SPOC screening] C-1 Casey Customer: new issue, please screen" in text
    assert (
        b"NEW ISSUE =E2=80=94 please screen" in text or "NEW ISSUE — please screen".encode() in text
    )


def test_acknowledgement_names_when_the_message_was_received(h: Harness) -> None:
    enable_acknowledgements(h)
    h.info.deliver(customer_message(1), received_at=datetime(2026, 12, 3, 9, 15, tzinfo=UTC))

    h.watcher.run_pass()

    [ack] = [s for s in h.sender.sent if b"X-Spocbot-Kind: acknowledgement" in s.message]
    assert b"3 December 2026 at 09:15" in ack.message.replace(b"=\r\n", b"")


def test_old_mail_is_never_acknowledged(h: Harness) -> None:
    enable_acknowledgements(h)
    h.info.deliver(customer_message(1), received_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))

    h.watcher.run_pass()

    assert [] == [s for s in h.sender.sent if b"X-Spocbot-Kind: acknowledgement" in s.message]
    assert 1 == len(h.breaches())  # still evidence, still forwarded


def test_a_new_folder_is_read_from_the_since_date_not_its_whole_history(h: Harness) -> None:
    h.info.deliver(customer_message(1), received_at=datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    h.info.deliver(customer_message(2), received_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    watcher = Watcher(
        h.app.settings,
        h.app.factory,
        {s.address: s for s in (h.info, h.spoc, h.bot, h.cover)},
        h.outbox,
        h.app.evidence,
        clock=lambda: NOW,
        since=datetime(2026, 11, 26, tzinfo=UTC),
    )

    watcher.run_pass()
    h.info.deliver(customer_message(3), received_at=datetime(2026, 9, 1, 9, 0, tzinfo=UTC))
    watcher.run_pass()  # once followed, every new message counts, whatever its date

    assert ["<m2@mail.example>", "<m3@mail.example>"] == [b["message_id"] for b in h.breaches()]


def test_the_cover_note_says_when_the_agreed_representative_wrote_it(h: Harness) -> None:
    with h.app.factory.begin() as session:
        session.scalars(select(m.Arrangement)).one().representative_emails = "ken@mail.example"
    h.info.deliver(customer_message(1, sender="ken@mail.example"))

    h.watcher.run_pass()

    [forward] = h.sender.sent
    text = forward.message.replace(b"=\r\n", b"")
    assert b"ken@mail.example, the agreed representative of Casey Customer" in text
    subject = message_from_bytes(forward.message, policy=default_policy)["Subject"]
    assert "C-1 Casey Customer's representative wrote to info@homes.example" in subject


def test_a_message_the_server_will_not_return_is_quarantined_and_the_pass_goes_on(
    h: Harness,
) -> None:
    for n in (1, 2, 3):
        h.info.deliver(customer_message(n))
    h.info.unreadable = {2}

    first = h.watcher.run_pass()
    second = h.watcher.run_pass()

    assert ["<m1@mail.example>", "<m3@mail.example>"] == [b["message_id"] for b in h.breaches()]
    assert 1 == first.quarantined
    assert 0 == second.quarantined  # decided once: the folder is not stuck on it
    with h.app.factory() as session:
        [entry] = session.scalars(select(m.Quarantine))
        assert "would not return it" in entry.reason


def test_an_outage_while_fetching_is_not_blamed_on_the_message(h: Harness) -> None:
    """The fetch fails and so does opening the folder again: the server is down, so the
    message is not quarantined, the pass reports an error and the next pass decides it."""
    h.info.deliver(customer_message(1))
    h.info.unreadable = {1}
    real_select = h.info.select
    calls = 0

    def select_then_go_down(folder: str) -> FolderState:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise MailServerError("cannot reach IMAP server")
        return real_select(folder)

    h.info.select = select_then_go_down  # type: ignore[method-assign]
    report = h.watcher.run_pass()
    h.info.select = real_select  # type: ignore[method-assign]
    h.info.unreadable = set()
    h.watcher.run_pass()

    assert 0 == report.quarantined
    assert report.errors
    assert 1 == len(h.breaches())  # nothing lost: decided once the server is back


def with_emergency_route(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    emergency = h.app.settings.emergency.model_copy(
        update={"forward_to": "cc@homes.example", "name": "Contact centre"}
    )
    settings = h.app.settings.model_copy(update={"emergency": emergency})
    monkeypatch.setattr(h.watcher, "_settings", settings)
    monkeypatch.setattr(h.watcher, "_policy", Policy(settings))


GAS_LEAK = b"The gas is leaking in the kitchen, please come."


def kinds_sent(h: Harness) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (
            message_from_bytes(s.message, policy=default_policy)["X-Spocbot-Kind"],
            s.recipients,
        )
        for s in h.sender.sent
    ]


def test_an_emergency_in_bulk_mail_from_a_customer_is_forwarded_not_ignored(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_emergency_route(h, monkeypatch)
    enable_acknowledgements(h)
    h.info.deliver(
        customer_message(1, extra="Precedence: bulk\r\n").replace(
            b"Please fix the boiler.", GAS_LEAK
        )
    )

    report = h.watcher.run_pass()

    assert {"emergency": 1} == dict(report.decisions)
    assert [
        ("emergency-forward", ("spoc@homes.example", "bot@homes.example")),
        ("emergency-route", ("cc@homes.example", "bot@homes.example")),
    ] == kinds_sent(h)  # and no acknowledgement to automatic mail
    with h.app.factory() as session:
        [contact] = reports.contacts(session)
    assert ("emergency", []) == (contact["kind"], h.breaches())


def test_bulk_mail_from_a_customer_without_emergency_words_is_still_ignored(h: Harness) -> None:
    h.info.deliver(customer_message(1, extra="Precedence: bulk\r\n"))

    report = h.watcher.run_pass()

    assert ({"ignore": 1}, [], 0, 1) == (
        dict(report.decisions),
        h.sender.sent,
        h.info.raw_fetches,
        h.info.partial_fetches,  # only the start of it was read, for emergency words
    )


def test_an_emergency_from_a_customer_and_another_author_is_forwarded_and_queued_for_review(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_emergency_route(h, monkeypatch)
    h.info.deliver(
        customer_message(1)
        .replace(b"From: Casey <casey@mail.example>", b"From: casey@mail.example, pat@else.example")
        .replace(b"Please fix the boiler.", GAS_LEAK)
    )

    report = h.watcher.run_pass()

    assert {"emergency": 1} == dict(report.decisions)
    assert [
        ("emergency-forward", ("spoc@homes.example", "bot@homes.example")),
        ("emergency-route", ("cc@homes.example", "bot@homes.example")),
    ] == kinds_sent(h)
    with h.app.factory() as session:
        [item] = reports.review_items(session)
    assert (["C-1"], True) == (item["candidates"], "ambiguous-sender" in item["rules"])


def test_an_emergency_from_two_customers_goes_to_both_officers(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_emergency_route(h, monkeypatch)
    (tmp_path / "more.csv").write_text(
        REGISTER.splitlines()[0]
        + "\nC-2,Dana Other,dana@mail.example,Olly Officer,olly@homes.example,,,,active,"
        "2026-01-01,2027-01-01\n"
    )
    import_register(h.app.factory, tmp_path / "more.csv", staff_addresses=(), staff_domains=())
    h.info.deliver(
        customer_message(1, extra="Sender: dana@mail.example\r\n").replace(
            b"Please fix the boiler.", GAS_LEAK
        )
    )

    h.watcher.run_pass()

    assert [
        ("emergency-forward", ("olly@homes.example", "bot@homes.example")),
        ("emergency-forward", ("spoc@homes.example", "bot@homes.example")),
        ("emergency-route", ("cc@homes.example", "bot@homes.example")),
    ] == sorted(kinds_sent(h))
    olly = next(s for s in h.sender.sent if "olly@homes.example" in s.recipients)
    assert b"Dana Other (C-2)" in olly.message.replace(b"=\r\n", b"")
    with h.app.factory() as session:
        [item] = reports.review_items(session)
    assert ["C-1", "C-2"] == item["candidates"]


def limit_contacts(h: Harness, limit: str) -> None:
    with h.app.factory.begin() as session:
        session.scalars(select(m.Arrangement)).one().max_contacts = limit


def decisions_in_order(h: Harness) -> list[tuple[str, str, str]]:
    with h.app.factory() as session:
        rows = session.scalars(select(m.ProcessedMessage).order_by(m.ProcessedMessage.id))
        return [(r.mailbox, r.decision, r.rules) for r in rows]


def test_one_message_seen_in_two_mailboxes_counts_once_towards_a_contact_limit(
    h: Harness,
) -> None:
    limit_contacts(h, "2/week")
    first = customer_message(1).replace(b"To: info@", b"To: spoc@")  # Bcc'd to info too
    h.info.deliver(first)
    h.spoc.deliver(first)
    h.spoc.deliver(customer_message(2).replace(b"To: info@", b"To: spoc@"))

    h.watcher.run_pass()

    assert [
        ("info@homes.example", "breach", "bypassed-spoc"),
        ("spoc@homes.example", "allowed", "permitted-route"),
        ("spoc@homes.example", "allowed", "permitted-route"),  # the second message of two
    ] == decisions_in_order(h)


def test_messages_reusing_a_message_id_with_other_bodies_each_count(h: Harness) -> None:
    limit_contacts(h, "1/week")
    first = customer_message(1).replace(b"To: info@", b"To: spoc@")
    for body in (b"Please fix the boiler.", b"The boiler again.", b"And the boiler."):
        h.spoc.deliver(first.replace(b"Please fix the boiler.", body))

    h.watcher.run_pass()

    assert [
        ("spoc@homes.example", "allowed", "permitted-route"),
        ("spoc@homes.example", "breach", "over-contact-limit"),
        ("spoc@homes.example", "breach", "over-contact-limit"),
    ] == decisions_in_order(h)


def test_a_cease_and_desist_reply_in_a_known_thread_is_not_flagged_as_a_new_issue(
    h: Harness,
) -> None:
    """No limits set: the thread is still known, so only new issues are flagged for screening."""
    with h.app.factory.begin() as session:
        session.scalars(select(m.Arrangement)).one().status = "cease_and_desist"
    h.spoc.deliver(customer_message(1).replace(b"To: info@", b"To: spoc@"))
    h.watcher.run_pass()
    reply = customer_message(2, extra="In-Reply-To: <m1@mail.example>\r\n")
    h.spoc.deliver(
        reply.replace(b"To: info@", b"To: spoc@").replace(b"Repairs 2", b"Re: Repairs 1")
    )

    h.watcher.run_pass()

    subjects = [
        message_from_bytes(s.message, policy=default_policy)["Subject"] for s in h.sender.sent
    ]
    assert ["new issue, please screen" in subject for subject in subjects] == [True, False]


def test_an_emergency_is_forwarded_even_where_a_review_item_of_the_message_expired(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header alone sends a message with a customer among several authors to review; its
    text makes it an emergency.  An expired review item for it (a rescan after the purge)
    must not stop that: the expiry is checked only once the text has been read."""
    with_emergency_route(h, monkeypatch)
    with h.app.factory.begin() as session:
        session.add(
            m.ExpiredCopy(
                kind="review_item",
                mailbox="info@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=1,
            )
        )
    h.info.deliver(
        customer_message(1)
        .replace(b"From: Casey <casey@mail.example>", b"From: casey@mail.example, pat@else.example")
        .replace(b"Please fix the boiler.", GAS_LEAK)
    )

    h.watcher.run_pass()

    assert "cc@homes.example" in {r for _, recipients in kinds_sent(h) for r in recipients}
    with h.app.factory() as session:
        assert [] == session.scalars(select(m.ReviewItem)).all()
