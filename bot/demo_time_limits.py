"""The second half of ``spocbot demo``: the policy's time limits, letters and digests.

After the watcher passes, the demo acts as the DMO: it records a decision for the customer
at the warning stage (Priya Shah, NV-1003) and an appeal against it, renders her
introduction letter in the three formats and sends it, shows which reminders fall due and
when, and sends the reviews digest and a breaches digest to the DMO, then reads the
customer's and the DMO's inboxes back over IMAP.  Everything goes through the same services
as the commands (``spocbot arrangement``, ``letter``, ``reminders``, ``digest``).
"""

from __future__ import annotations

import contextlib
import imaplib
from collections.abc import Callable
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import default
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import lifecycle
from bot.bootstrap import App, MailConnections, build_digests, build_outbox_sender, build_reminders
from bot.digests import BREACHES, REVIEWS, slot_on
from bot.letters import LetterOptions
from bot.letters.service import render_letter, send_letter
from bot.outbox import DeliveryReport
from bot.reminder_service import describe_run
from mailbox_rules.calendar import add_working_days, long_date

Echo = Callable[[str], None]
CUSTOMER = "NV-1003"
REASONS = (
    "Between 3 and 28 November 2026 sent 57 emails to 8 staff mailboxes about one damp "
    "report already inspected on 6 November, after the Fair Treatment Letter of 20 July 2026"
)
CHANGE = "Send all contact about housing matters to Amelia Hart only, by email"


def tour(app: App, connections: MailConnections, out_dir: Path, operator: str, echo: Echo) -> bool:
    """Run the tour; True if the letter and the digests reached their inboxes."""
    zone = ZoneInfo(app.settings.organisation.timezone)
    now = app.clock()
    today = now.astimezone(zone).date()
    echo("\nTime limits, letters and digests (as the DMO):")

    decision = lifecycle.decide(
        app.factory,
        CUSTOMER,
        agreed=True,
        on=today,
        today=today,
        reasons=REASONS,
        change_required=CHANGE,
        review_months=6,
        by="Housing Manager",
        operator=operator,
        flag_systems=app.settings.flags.systems,
    )
    assert decision.review_date is not None and decision.appeal_deadline is not None
    echo(
        f"  Decision: {CUSTOMER} moves from the warning stage to a SPOC arrangement; review on "
        f"{long_date(decision.review_date)}, appeals in time until "
        f"{long_date(decision.appeal_deadline)} (`spocbot arrangement decide`)."
    )
    appeal = lifecycle.appeal(app.factory, CUSTOMER, received=today, today=today, operator=operator)
    assert appeal.decision_due is not None
    echo(
        f"  Appeal received today: to be decided by {appeal.decision_due:%A} "
        f"{long_date(appeal.decision_due)}, 5 working days (bank holidays excluded)."
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    options = LetterOptions(as_of=today, operator=operator)
    written = []
    for fmt in ("eml", "docx", "pdf"):
        rendered = render_letter(
            app.factory,
            app.settings,
            "introduction",
            CUSTOMER,
            options,
            fmt,
            now=now,
            operator=operator,
        )
        target = out_dir / f"{CUSTOMER}-introduction.{fmt}"
        target.write_bytes(rendered.data)
        written.append(target.name)
    echo(f"  Introduction letter rendered as {', '.join(written)} in {out_dir}.")
    sent = send_letter(
        app.factory,
        app.settings,
        app.evidence,
        "introduction",
        CUSTOMER,
        options,
        now=now,
        operator=operator,
    )

    reminders = build_reminders(app)
    for line in describe_run(reminders.run()):
        echo(f"  {line}")
    for as_of, why in (
        (add_working_days(today, 3), "two working days before the appeal decision is due"),
        (decision.review_date - timedelta(days=28), "28 days before the review"),
        (decision.review_date + timedelta(days=7), "a week after the review, if none is recorded"),
    ):
        echo(f"  Dry run {why} (`spocbot reminders send --as-of {as_of} --dry-run`):")
        for line in describe_run(reminders.run(as_of, dry_run=True)):
            echo(f"    {line}")

    digests = build_digests(app)
    reviews = digests.run(REVIEWS)
    echo(f"  Reviews digest for {reviews.slot_at.astimezone(zone):%A %-d %B %H:%M}: queued.")
    # The next breaches digest: today's if its time has not come yet, else tomorrow's.
    day = today if slot_on(BREACHES, today, app.settings) > now else today + timedelta(days=1)
    upcoming = digests.run(BREACHES, day, dry_run=True)
    echo(
        f"  The next breaches digest (`spocbot digest send --kind breaches --as-of {day} "
        "--dry-run`):"
    )
    for line in upcoming.text.strip().splitlines()[:14]:
        echo(f"    {line}" if line.strip() else "")

    report = DeliveryReport()
    sender = build_outbox_sender(app, connections)
    sender.recover(report)
    sender.deliver(report)
    customer_inbox = _subjects(connections, sent.recipient_email)
    dmo_inbox = _subjects(connections, app.settings.organisation.dmo_email)
    echo(f"  Sent {report.sent} message(s). Read back over IMAP:")
    for address, subjects in ((sent.recipient_email, customer_inbox), ("the DMO", dmo_inbox)):
        for subject in subjects:
            echo(f"    {address}: {subject}")
    return bool(customer_inbox) and bool(dmo_inbox) and not report.failed


def _subjects(connections: MailConnections, address: str) -> list[str]:
    """The subjects in ``address``'s inbox on the embedded server (empty if it has none)."""
    assert connections.embedded is not None
    server = connections.embedded
    client = imaplib.IMAP4("127.0.0.1", server.imap_port)  # the demo's own loopback server
    try:
        client.login(address, server.password)
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        subjects = []
        for number in data[0].split():
            _, parts = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            header = parts[0][1] if parts and isinstance(parts[0], tuple) else b""
            subjects.append(str(BytesHeaderParser(policy=default).parsebytes(header)["Subject"]))
        return subjects
    except imaplib.IMAP4.error:
        return []
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
