"""Rendering, sending and listing letters: the service behind ``spocbot letter``.

Sending queues the complete email in the exactly-once outbox (which keeps it in the evidence
store) and records a ``letters`` row, its evidence-chain link and an audit event, all in one
transaction; the caller then delivers it.  A letter is about one decision (an introduction
about the decision of a date, a review outcome about one review, a cover notice about one
absence...): sending the same letter about the same decision again sends nothing and says it
was already sent, unless ``resend`` asks for another copy, which is recorded as a letter of its
own.

Nothing here writes the reasons or support needs anywhere but into the letter itself: audit
details, outbox routing notes and listings name the kind, the customer and the decision only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import audit
from bot.config import Settings
from bot.evidence import EvidenceStore
from bot.evidence_chain import link as chain_link
from bot.letters import formats
from bot.letters.content import LetterDocument, LetterError, LetterOptions, compose
from bot.mail.forward import new_outgoing_message_id
from bot.outbox import LETTER, queue_notice
from bot.partner_entries import refuse_partner
from bot.store import models as m


@dataclass(frozen=True)
class Rendered:
    letter: LetterDocument
    data: bytes


def render_letter(
    factory: sessionmaker[Session],
    settings: Settings,
    kind: str,
    customer_ref: str,
    options: LetterOptions,
    fmt: str,
    *,
    now: datetime,
    operator: str,
) -> Rendered:
    """The letter in one format, for the operator to check or print; audited (what, for whom,
    in which format), never its content."""
    with factory.begin() as session:
        _not_partner(session, customer_ref)
        letter = compose(session, settings, kind, customer_ref, options)
        data = formats.render(
            letter,
            fmt,
            from_address=settings.organisation.bot_address,
            message_id=_message_id(settings),
            date=now,
            letterhead=settings.letters.letterhead,
            templates_dir=settings.letters.templates_dir,
        )
        audit(
            session,
            operator,
            "letter.render",
            f"customer:{letter.customer_ref}",
            customer_ref=letter.customer_ref,
            details=f"{letter.kind} ({letter.about}) as {fmt}",
        )
    return Rendered(letter, data)


@dataclass(frozen=True)
class SendResult:
    letter_id: int
    outbox_id: int | None
    recipient_email: str
    already_sent: bool
    status: str  # the outbox row's status: pending, sent, failed...
    about: str
    warnings: tuple[str, ...] = ()


def send_letter(
    factory: sessionmaker[Session],
    settings: Settings,
    evidence: EvidenceStore,
    kind: str,
    customer_ref: str,
    options: LetterOptions,
    *,
    now: datetime,
    operator: str,
    resend: bool = False,
) -> SendResult:
    """Queue the letter by email (to the customer's first address, or the referral form to
    the DMO) and record it; :meth:`bot.outbox.OutboxSender.deliver` then sends it."""
    args = (factory, settings, evidence, kind, customer_ref, options)
    try:
        return _send(*args, now=now, operator=operator, resend=resend)
    except IntegrityError:
        # Someone queued the same letter at the same moment: theirs is the one sent.
        return _send(*args, now=now, operator=operator, resend=False)


def _send(
    factory: sessionmaker[Session],
    settings: Settings,
    evidence: EvidenceStore,
    kind: str,
    customer_ref: str,
    options: LetterOptions,
    *,
    now: datetime,
    operator: str,
    resend: bool,
) -> SendResult:
    with factory.begin() as session:
        _not_partner(session, customer_ref)
        letter = compose(session, settings, kind, customer_ref, options)
        customer_ref = letter.customer_ref  # as the register writes it (--customer ignores case)
        if not letter.recipient_email:
            raise LetterError(
                f"the register has no email address for {customer_ref}: print the letter "
                f"instead (`spocbot letter render {kind} --customer {customer_ref} --format pdf`)"
            )
        customer_id = session.scalars(
            select(m.Customer.id).where(m.Customer.ref == customer_ref)
        ).one()
        earlier = _earlier(session, customer_id, letter.key)
        if earlier and not resend:
            row, outbox = earlier[0]
            return SendResult(
                row.id,
                row.outbox_id,
                row.recipient_email,
                already_sent=True,
                status=outbox.status if outbox else "unknown",
                about=letter.about,
                warnings=letter.warnings,
            )
        key = letter.key if not earlier else f"{letter.key}:copy-{len(earlier) + 1}"
        message_id = _message_id(settings)
        message = formats.to_email(
            letter,
            from_address=settings.organisation.bot_address,
            message_id=message_id,
            date=now,
            pdf=formats.to_pdf(letter),
            templates_dir=settings.letters.templates_dir,
        )
        outbox = queue_notice(
            session,
            kind=LETTER,
            key=f"letter:{key}",
            message=message,
            message_id=message_id,
            recipient_name=letter.recipient_name,
            recipient_email=letter.recipient_email,
            reason=f"{letter.kind} letter ({letter.about})",
            evidence=evidence,
            customer_id=customer_id,
        )
        record = m.Letter(
            customer_id=customer_id,
            kind=letter.kind,
            sha256=outbox.original_sha256,
            recipient_email=letter.recipient_email,
            outbox_id=outbox.id,
            created_by=operator,
            created_at=now,
        )
        session.add(record)
        session.flush()
        chain_link(session, record)
        audit(
            session,
            operator,
            "letter.resend" if earlier else "letter.send",
            f"letter:{record.id}",
            customer_ref=customer_ref,
            details=f"{letter.kind} ({letter.about}) by email to {letter.recipient_email}; "
            f"outbox {outbox.id}",
            at=now,
        )
        return SendResult(
            record.id,
            outbox.id,
            letter.recipient_email,
            already_sent=False,
            status=outbox.status,
            about=letter.about,
            warnings=letter.warnings,
        )


def _not_partner(session: Session, customer_ref: str) -> None:
    """A partner's arrangement (``share import``) is theirs to write to the customer about."""
    customer = session.scalars(
        select(m.Customer).where(func.lower(m.Customer.ref) == customer_ref.strip().lower())
    ).first()
    if customer is not None:
        refuse_partner(customer)


def _earlier(session: Session, customer_id: int, key: str) -> list[tuple[m.Letter, m.Outbox]]:
    """The letters already queued about the same decision, oldest first."""
    rows = session.execute(
        select(m.Letter, m.Outbox)
        .join(m.Outbox, m.Outbox.id == m.Letter.outbox_id)
        .where(
            m.Outbox.kind == LETTER,
            m.Outbox.customer_id == customer_id,
            (m.Outbox.original_message_id == f"letter:{key}")
            | m.Outbox.original_message_id.like(f"letter:{_like(key)}:copy-%", escape="\\"),
        )
        .order_by(m.Letter.id)
    )
    return [(letter, outbox) for letter, outbox in rows]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def letter_status(factory: sessionmaker[Session], letter_id: int) -> str:
    with factory() as session:
        status = session.scalar(
            select(m.Outbox.status)
            .join(m.Letter, m.Letter.outbox_id == m.Outbox.id)
            .where(m.Letter.id == letter_id)
        )
        return status or "unknown"


def list_letters(session: Session, customer_ref: str | None = None) -> list[dict[str, Any]]:
    """Letters sent, oldest first: kind, customer, to whom, delivery status and the evidence
    hash (no content)."""
    query = (
        select(m.Letter, m.Customer.ref, m.Outbox)
        .join(m.Customer, m.Customer.id == m.Letter.customer_id)
        .outerjoin(m.Outbox, m.Outbox.id == m.Letter.outbox_id)
        .order_by(m.Letter.id)
    )
    if customer_ref is not None:  # compared ignoring case, as the register does
        query = query.where(func.lower(m.Customer.ref) == customer_ref.strip().lower())
    return [
        {
            "id": letter.id,
            "customer_ref": ref,
            "kind": letter.kind,
            "about": outbox.route_reason.partition("(")[2].rstrip(")") if outbox else None,
            "to": letter.recipient_email,
            "status": outbox.status if outbox else None,
            "created_at": letter.created_at.isoformat(),
            "sent_at": outbox.sent_at.isoformat() if outbox and outbox.sent_at else None,
            "created_by": letter.created_by,
            "outbox_id": letter.outbox_id,
            "sha256": letter.sha256,
        }
        for letter, ref, outbox in session.execute(query)
    ]


def _message_id(settings: Settings) -> str:
    return new_outgoing_message_id("letter", settings.organisation.bot_address.rpartition("@")[2])
