"""Sending forwards exactly once.

The mechanism (also in the README):

1. The watcher writes the breach (or contact) and an ``outbox`` row in **one transaction**.
   The row's ``outgoing_message_id`` is chosen then (at random, so nobody can plant it in the
   bot's mailbox) and never changes.
2. :meth:`OutboxSender.deliver` renders the forward, marks the row ``sending`` and commits,
   submits it (over SMTP to the officer **and the bot's own mailbox** in one transaction; or
   with Graph's ``sendMail``, which keeps a copy in the bot's Sent Items), then marks it
   ``sent``.
3. After a crash, a row left ``sending`` may or may not have gone out.
   :meth:`OutboxSender.recover` looks for its Message-ID in the :class:`SentLog` (waiting up to
   ``[watch] confirm_seconds`` for delivery): found means it was sent; not found means it was
   not, and it goes back to ``pending``.

So a forward is never lost (the intent is committed before anything is sent) and never sent
twice (a send is confirmed by finding it before it is repeated).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.audit import SCHEDULER, WATCHER, audit
from bot.crashpoints import crash_point
from bot.evidence import EvidenceStore
from bot.log_privacy import address as log_address
from bot.log_privacy import stack_without_messages
from bot.mail.forward import (
    OutgoingHeaders,
    build_acknowledgement,
    build_forward,
    can_attach_as_message,
)
from bot.mail.ports import (
    DeliveryRejected,
    DeliveryUncertain,
    MailSender,
    MailServerError,
    SentLog,
)
from bot.store import models as m
from bot.templating import Templates
from mailbox_rules import header_block, parse_envelope

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
SUPERSEDED = "superseded"  # not sent: another forward of the same message covers it
BREACH_FORWARD, COVER_FORWARD = "breach-forward", "cover-forward"
EMERGENCY_FORWARD, EMERGENCY_ROUTE = "emergency-forward", "emergency-route"
SCREENING_FORWARD = "screening-forward"  # cease and desist: every message is screened
ACKNOWLEDGEMENT = "acknowledgement"  # to the customer; route_reason names their officer
# Notices: messages the bot writes itself, rendered in full when queued and kept in the
# evidence store (``original_sha256``), so every attempt sends the same bytes.
# ``original_message_id`` holds the notice's own key (what it is about), not a customer's mail.
REMINDER, DIGEST, LETTER = "reminder", "digest", "letter"
NOTICE_KINDS = frozenset({REMINDER, DIGEST, LETTER})


class OutboxError(Exception):
    """An outbox operation was refused; the message says why."""


def queue_notice(
    session: Session,
    *,
    kind: str,
    key: str,
    message: bytes,
    message_id: str,
    recipient_name: str,
    recipient_email: str,
    reason: str,
    evidence: EvidenceStore,
    customer_id: int | None = None,
) -> m.Outbox:
    """Queue a complete message (``message``, whose Message-ID is ``message_id``) to be sent
    exactly once, in the caller's transaction: the caller records what the notice is for in
    the same transaction, so that it is queued once or not at all."""
    if kind not in NOTICE_KINDS:
        raise ValueError(f"not a notice kind: {kind}")
    sha256 = evidence.put(message)
    row = m.Outbox(
        kind=kind,
        customer_id=customer_id,
        original_message_id=key[:998],
        original_sha256=sha256,
        recipient_name=recipient_name,
        recipient_email=recipient_email,
        route_reason=reason,
        outgoing_message_id=message_id,
        status=PENDING,
    )
    session.add(row)
    session.flush()
    return row


@dataclass
class DeliveryReport:
    sent: int = 0
    recovered: int = 0
    requeued: int = 0
    deferred: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SenderIdentity:
    organisation: str
    bot_address: str
    timezone: str
    emergency_name: str = ""
    emergency_address: str | None = None


class OutboxSender:
    def __init__(
        self,
        factory: sessionmaker[Session],
        sender: MailSender,
        sent_log: SentLog,
        evidence: EvidenceStore,
        templates: Templates,
        identity: SenderIdentity,
        *,
        confirm_seconds: float,
        retry_initial_seconds: float,
        retry_max_seconds: float,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        operator: str | None = None,
    ) -> None:
        self._factory, self._sender, self._sent_log = factory, sender, sent_log
        self._operator = operator
        self._evidence, self._templates, self._identity = evidence, templates, identity
        self._confirm_seconds = confirm_seconds
        self._retry_initial, self._retry_max = retry_initial_seconds, retry_max_seconds
        self._clock, self._sleep = clock, sleep

    # -- recovery -----------------------------------------------------------------------------

    def recover(self, report: DeliveryReport) -> None:
        """Settle rows left ``sending`` by a crash: sent if found in the bot's mailbox.

        The bot's mailbox is opened on every pass, crash or not, so that a wrong password
        or a missing mailbox is reported at once rather than on the day it is needed.
        """
        self._sent_log.check()
        with self._factory() as session:
            rows = session.execute(
                select(m.Outbox.id, m.Outbox.outgoing_message_id).where(m.Outbox.status == SENDING)
            )
            waiting = {row_id: message_id for row_id, message_id in rows}
        if not waiting:
            return
        log.warning("%d forward(s) were interrupted; checking whether they went out", len(waiting))
        deadline = time.monotonic() + self._confirm_seconds
        while True:
            for row_id, message_id in list(waiting.items()):
                if self._sent_log.contains(message_id):
                    self._finish(row_id, SENT, note="confirmed in the bot mailbox after a restart")
                    report.recovered += 1
                    del waiting[row_id]
            if not waiting or time.monotonic() >= deadline:
                break
            self._sleep(1.0)
        for row_id in waiting:
            self._finish(row_id, PENDING, note="not found in the bot mailbox; will be sent")
            report.requeued += 1

    # -- delivery -----------------------------------------------------------------------------

    def deliver(self, report: DeliveryReport) -> None:
        """Send every pending forward that is due."""
        now = self._clock()
        with self._factory() as session:
            due = list(
                session.scalars(
                    select(m.Outbox.id)
                    .where(m.Outbox.status == PENDING)
                    .where(or_(m.Outbox.next_attempt_at.is_(None), m.Outbox.next_attempt_at <= now))
                    .order_by(m.Outbox.id)
                )
            )
        if not due:
            return
        eight_bit = self._sender.supports_8bit()
        for row_id in due:
            if self._superseded(row_id):
                continue
            try:
                message, recipient, kind = self._render(row_id, eight_bit)
            except (SQLAlchemyError, OSError):
                raise  # our own storage failed: the row stays pending for the next pass
            except Exception as exc:  # missing evidence, a value email refuses in a header...
                log.error(
                    "forward %d cannot be built (%s; see `spocbot forwards list`)\n%s",
                    row_id,
                    type(exc).__name__,
                    stack_without_messages(exc),
                )
                note = f"cannot build the forward: {type(exc).__name__}: {exc}"
                self._finish(row_id, FAILED, note=note)
                report.failed += 1
                report.errors.append(f"forward {row_id}: {note}")
                continue
            attempts = self._claim(row_id)
            if attempts is None:
                continue  # someone else has it (it is no longer pending)
            crash_point("before-smtp-send")
            try:
                self._sender.send(
                    self._identity.bot_address, [recipient, *self._sent_log.copy_to], message
                )
            except DeliveryRejected as exc:
                self._finish(row_id, FAILED, note=str(exc))
                report.failed += 1
                report.errors.append(f"forward {row_id} refused: {exc}")
                continue
            except DeliveryUncertain as exc:
                # It may have gone: leave it 'sending' so that recover() looks for it before
                # anything is sent again.
                report.errors.append(f"forward {row_id} may not have been sent: {exc}")
                break
            except MailServerError as exc:
                delay = min(self._retry_max, self._retry_initial * 2 ** (attempts - 1))
                delay *= random.uniform(0.8, 1.2)
                self._finish(
                    row_id, PENDING, note=str(exc), retry_at=now + timedelta(seconds=delay)
                )
                report.deferred += 1
                report.errors.append(f"forward {row_id} deferred: {exc}")
                break  # the server is unwell; the rest wait for the next pass
            crash_point("after-smtp-send")
            self._finish(row_id, SENT)
            crash_point("after-mark-sent")
            report.sent += 1
            log.info("%s %d sent (%s)", kind, row_id, log_address(recipient))

    def _superseded(self, row_id: int) -> bool:
        """A cover notice ("not a breach") for a message that turned out to be a breach too
        (e.g. Bcc'd to another mailbox) is not sent: the breach forward says it all."""
        with self._factory.begin() as session:
            row = session.get_one(m.Outbox, row_id)
            if row.kind not in (COVER_FORWARD, SCREENING_FORWARD):
                return False
            breach_sent = session.scalar(
                select(m.Outbox.id).where(
                    m.Outbox.kind.in_((BREACH_FORWARD, EMERGENCY_FORWARD)),
                    m.Outbox.customer_id == row.customer_id,
                    m.Outbox.original_message_id == row.original_message_id,
                    m.Outbox.recipient_email == row.recipient_email,
                )
            )
            if breach_sent is None:
                return False
            row.status = SUPERSEDED
            row.last_error = f"superseded by forward {breach_sent} of the same message"
            return True

    def _claim(self, row_id: int) -> int | None:
        """Atomically move a row from pending to sending; its attempt count, or None."""
        with self._factory.begin() as session:
            claimed = session.execute(
                update(m.Outbox)
                .where(m.Outbox.id == row_id, m.Outbox.status == PENDING)
                .values(status=SENDING, attempts=m.Outbox.attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            attempts: int = session.scalars(
                select(m.Outbox.attempts).where(m.Outbox.id == row_id)
            ).one()
            return attempts

    def needs_attention(self) -> list[str]:
        """Failed forwards, one line each, until someone retries them (``forwards retry``)."""
        with self._factory() as session:
            failed = session.scalars(
                select(m.Outbox).where(m.Outbox.status == FAILED).order_by(m.Outbox.id)
            )
            return [
                f"{'notice' if row.kind in NOTICE_KINDS else 'forward'} {row.id} ({row.kind}) to "
                f"{row.recipient_name} failed: {row.last_error}; fix the cause, then run "
                f"`spocbot forwards retry {row.id}`"
                for row in failed
            ]

    def _finish(
        self, row_id: int, status: str, *, note: str | None = None, retry_at: datetime | None = None
    ) -> None:
        with self._factory.begin() as session:
            row = session.get_one(m.Outbox, row_id)
            row.status = status
            row.last_error = note  # a forward sent after a deferral no longer shows the error
            row.next_attempt_at = retry_at
            if status == SENT:
                row.sent_at = self._clock()
                self._audit_sent(session, row)

    def _audit_sent(self, session: Session, row: m.Outbox) -> None:
        """One audit event per message that went out, in the transaction that marks it sent:
        what, to whom, about which record; never its text or the arrangement's reasons."""
        automatic = SCHEDULER if row.kind in (REMINDER, DIGEST) else WATCHER
        about = (
            f" about breach {row.breach_id}"
            if row.breach_id
            else f" about contact {row.contact_id}"
            if row.contact_id
            else ""
        )
        audit(
            session,
            self._operator or automatic,
            f"{row.kind}.sent",
            f"outbox:{row.id}",
            customer_ref=row.customer.ref if row.customer is not None else None,
            details=f"{row.kind} to {row.recipient_name} <{row.recipient_email}>{about}; "
            f"Message-ID {row.outgoing_message_id}",
            at=row.sent_at,
        )

    def _render(self, row_id: int, eight_bit: bool) -> tuple[bytes, str, str]:
        """The message to send, its recipient and its kind (for the log)."""
        with self._factory() as session:
            row = session.get_one(m.Outbox, row_id)
            if row.kind in NOTICE_KINDS:
                return self._evidence.get(row.original_sha256), row.recipient_email, row.kind
            if row.kind == ACKNOWLEDGEMENT:
                return (
                    self._render_acknowledgement(session, row),
                    row.recipient_email,
                    row.kind,
                )
            row = session.scalars(
                select(m.Outbox)
                .where(m.Outbox.id == row_id)
                .options(
                    selectinload(m.Outbox.customer)
                    .selectinload(m.Customer.arrangement)
                    .options(
                        selectinload(m.Arrangement.spoc), selectinload(m.Arrangement.permitted)
                    ),
                    selectinload(m.Outbox.breach).selectinload(m.Breach.sightings),
                    selectinload(m.Outbox.contact),
                )
            ).one()
            raw = self._evidence.get(row.original_sha256)
            context = self._context(session, row)
            context["representative"] = _representative(raw, _customer_of(row).arrangement)
            attached_as_file = not (
                self._sender.keeps_attached_messages and can_attach_as_message(raw, eight_bit)
            )
            context["attached_as_file"] = attached_as_file
            note = self._templates.render("forward_cover_note.txt.j2", **context)
            subject = self._templates.render_line("forward_subject.txt.j2", **context)
            headers = OutgoingHeaders(
                from_name=f"spocbot ({self._identity.organisation})",
                from_address=self._identity.bot_address,
                to_name=row.recipient_name,
                to_address=row.recipient_email,
                subject=subject,
                message_id=row.outgoing_message_id,
                date=row.created_at,
                kind=row.kind,
                reference=f"breach {row.breach_id}"
                if row.breach_id
                else f"contact {row.contact_id}",
                importance_high=row.kind in (EMERGENCY_FORWARD, EMERGENCY_ROUTE),
            )
            forward = build_forward(
                headers, note, raw, eight_bit_ok=eight_bit, as_file=attached_as_file
            )
            return forward, row.recipient_email, row.kind

    def _render_acknowledgement(self, session: Session, row: m.Outbox) -> bytes:
        zone = ZoneInfo(self._identity.timezone)
        customer = _customer_of(row)
        arrangement = customer.arrangement
        # A reply to the acknowledgement must reach a person, not the unread bot mailbox:
        # it goes to the address the customer may write to.
        permitted = sorted(p.address for p in arrangement.permitted) if arrangement else []
        reply_to = permitted[0] if permitted else arrangement.spoc.email if arrangement else None
        text = self._templates.render(
            "acknowledgement.txt.j2",
            customer_name=customer.name,
            received_at=(row.original_received_at or row.created_at)
            .astimezone(zone)
            .strftime("%-d %B %Y at %H:%M"),
            officer_name=row.route_reason,
            cease_and_desist=arrangement is not None and arrangement.status == "cease_and_desist",
            organisation=self._identity.organisation,
            emergency_name=self._identity.emergency_name,
            emergency_address=self._identity.emergency_address,
            reply_to=reply_to,
        )
        headers = OutgoingHeaders(
            from_name=self._identity.organisation,
            from_address=self._identity.bot_address,
            to_name=row.recipient_name,
            to_address=row.recipient_email,
            subject=f"We have received your message ({self._identity.organisation})",
            message_id=row.outgoing_message_id,
            date=row.created_at,
            kind=row.kind,
            reference="",
        )
        return build_acknowledgement(headers, text, row.original_message_id, reply_to=reply_to)

    def _context(self, session: Session, row: m.Outbox) -> dict[str, object]:
        zone = ZoneInfo(self._identity.timezone)
        if row.breach is not None:
            mailboxes = sorted({s.mailbox for s in row.breach.sightings})
            received = row.breach.received_at
            reason = row.breach.reason
            number = session.scalar(
                select(func.count(m.Breach.id)).where(
                    m.Breach.customer_id == row.customer_id, m.Breach.id <= row.breach.id
                )
            )
            breach_number = f"#{row.breach.id} ({_ordinal(number or 1)} for this customer)"
            new_issue, rules = row.breach.new_issue, row.breach.rules.split(",")
        else:
            assert row.contact is not None
            mailboxes = [row.contact.mailbox]
            received = row.contact.received_at
            reason = row.contact.reason
            breach_number = ""
            new_issue, rules = row.contact.new_issue, []
        customer = _customer_of(row)
        arrangement = customer.arrangement
        cease_and_desist = arrangement is not None and arrangement.status == "cease_and_desist"
        over_limit = bool({"over-contact-limit", "over-issue-limit"} & set(rules))
        spoc_name = arrangement.spoc.name if arrangement is not None else "the SPOC"
        permitted = {p.address for p in arrangement.permitted} if arrangement is not None else set()
        bypassed = [mb for mb in mailboxes if mb not in permitted] or mailboxes
        return {
            "kind": row.kind,
            "organisation": self._identity.organisation,
            "customer_ref": customer.ref,
            "customer_name": customer.name,
            "mailboxes": mailboxes,
            "bypassed": bypassed,
            "received_at": received.astimezone(zone).strftime("%A %-d %B %Y at %H:%M %Z"),
            "reason": reason,
            "route_reason": row.route_reason,
            "breach_number": breach_number,
            "spoc_name": spoc_name,
            # Filed mail must still be screened for new issues (the ombudsman's guidance).
            "screen_new_issue": new_issue and (cease_and_desist or over_limit),
        }


def _customer_of(row: m.Outbox) -> m.Customer:
    """The customer a forward or acknowledgement is about (every one has one)."""
    if row.customer is None:
        raise OutboxError(f"outbox row {row.id} ({row.kind}) names no customer")
    return row.customer


def _representative(raw: bytes, arrangement: m.Arrangement | None) -> str | None:
    """The agreed representative's address when they, not the customer, wrote the message."""
    if arrangement is None or not arrangement.representative_emails:
        return None
    agreed = {a.strip().lower() for a in arrangement.representative_emails.split(";") if a.strip()}
    envelope = parse_envelope(header_block(raw), found_in="", received_at=datetime.now(UTC))
    authors = [a.lower() for a in (*envelope.from_addresses, *envelope.sender_addresses)]
    return next((a for a in authors if a in agreed), None)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
