"""Writing the watcher's decisions to the database.

Each function writes what one decision calls for — a breach and its sighting, a contact, an
outbox row, a quarantine entry, the processed-message record and the cursor — inside the
caller's transaction.  Every write is idempotent (see :func:`add_once`): after a crash the
same message is decided again and nothing is recorded twice.  A new breach or contact is
chained into the evidence chain (:mod:`bot.evidence_chain`) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.evidence import Evidence
from bot.evidence_chain import link as chain_link
from bot.mail.forward import new_outgoing_message_id
from bot.outbox import (
    ACKNOWLEDGEMENT,
    BREACH_FORWARD,
    COVER_FORWARD,
    EMERGENCY_FORWARD,
    EMERGENCY_ROUTE,
    SCREENING_FORWARD,
)
from bot.store import models as m
from mailbox_rules import Decision, DecisionKind, Envelope, PriorContact

Row = TypeVar("Row", bound=m.Base)

# Far enough back to hold the current calendar month and the current week.
HISTORY_WINDOW = timedelta(days=40)
BODY_KEY = "#body-"  # in a record's key: another message (this body) reusing a Message-ID


def add_once(
    session: Session, model: type[Row], key: dict[str, Any], **values: Any
) -> tuple[Row, bool]:
    """The row of ``model`` matching ``key``, added with ``values`` if there is none yet."""
    row = session.scalars(
        select(model).where(*(getattr(model, name) == value for name, value in key.items()))
    ).first()
    if row is not None:
        return row, False
    row = model(**key, **values)
    session.add(row)
    session.flush()
    return row, True


def record_decision(
    session: Session,
    envelope: Envelope,
    decision: Decision,
    uid: int,
    uidvalidity: int,
    evidence: Evidence | None,
    bot_address: str,
    now: datetime | None = None,
) -> bool:
    """Write what ``decision`` calls for; True if a new breach was recorded.

    ``evidence`` is the stored raw message's (sha256, size, body sha256), when it was fetched;
    ``now`` (the caller's clock) is when the breach or contact is recorded, default the real
    time.  Both are chained (:mod:`bot.evidence_chain`), so they are right when written.
    """
    stamp = {} if now is None else {"created_at": now}
    domain = bot_address.rsplit("@", 1)[1]
    reason = "; ".join(decision.reasons)
    sha256 = evidence.sha256 if evidence else None
    if decision.kind is DecisionKind.REVIEW and "message-too-large" not in decision.rules:
        add_review_item(session, envelope, decision, uid, uidvalidity, evidence)
        return False
    if decision.kind is DecisionKind.REVIEW:
        add_quarantine(
            session,
            envelope.found_in,
            envelope.folder,
            uidvalidity,
            uid,
            envelope.message_id,
            reason,
            evidence,
        )
        return False
    if decision.kind is DecisionKind.EMERGENCY and decision.candidates:
        # An emergency from a sender nobody has identified yet: forwarded now (below), and
        # in the review queue as well, for a person to say whose it is.
        add_review_item(session, envelope, decision, uid, uidvalidity, evidence)
    if decision.breached:
        assert decision.customer_ref and evidence is not None
        customer = _customer(session, decision.customer_ref)
        key = _message_key(
            session, m.Breach, customer.id, envelope.message_id, evidence.body_sha256
        )
        breach, is_new = add_once(
            session,
            m.Breach,
            {"customer_id": customer.id, "message_id": key},
            received_at=envelope.received_at,
            reason=reason,
            rules=",".join(decision.rules),
            sha256=evidence.sha256,
            body_sha256=evidence.body_sha256,
            size=evidence.size,
            subject_key=envelope.subject_key[:200],
            new_issue=decision.new_issue,
            **stamp,
        )
        if is_new:
            chain_link(session, breach)
        add_once(
            session,
            m.BreachSighting,
            {"breach_id": breach.id, "mailbox": envelope.found_in, "folder": envelope.folder},
            uid=uid,
        )
        if decision.kind is DecisionKind.EMERGENCY:
            _enqueue_emergency(
                session,
                customer,
                decision,
                breach.message_id,
                breach.sha256,
                domain,
                breach_id=breach.id,
            )
        elif decision.route_to is not None:
            _enqueue(
                session,
                BREACH_FORWARD,
                customer,
                decision,
                breach.message_id,
                breach.sha256,
                domain,
                breach_id=breach.id,
            )
        return is_new
    if decision.kind in (
        DecisionKind.ALLOWED,
        DecisionKind.WARNING_CONTACT,
        DecisionKind.EMERGENCY,
    ):
        assert decision.customer_ref
        customer = _customer(session, decision.customer_ref)
        body = evidence.body_sha256 if evidence else None
        key = _message_key(session, m.Contact, customer.id, envelope.message_id, body)
        contact, contact_is_new = add_once(
            session,
            m.Contact,
            {"customer_id": customer.id, "message_id": key},
            body_sha256=body,
            kind={
                DecisionKind.ALLOWED: "allowed",
                DecisionKind.WARNING_CONTACT: "warning",
                DecisionKind.EMERGENCY: "emergency",
            }[decision.kind],
            mailbox=envelope.found_in,
            received_at=envelope.received_at,
            reason=reason,
            sha256=sha256,
            subject_key=envelope.subject_key[:200],
            new_issue=decision.new_issue,
            **stamp,
        )
        if contact_is_new:
            chain_link(session, contact)
        if decision.kind is DecisionKind.EMERGENCY and sha256:
            _enqueue_emergency(
                session,
                customer,
                decision,
                key,
                sha256,
                domain,
                contact_id=contact.id,
            )
        elif decision.route_to is not None and sha256:
            _enqueue(
                session,
                SCREENING_FORWARD
                if decision.route_reason.startswith("cease and desist")
                else COVER_FORWARD,
                customer,
                decision,
                key,
                sha256,
                domain,
                contact_id=contact.id,
            )
    return False


def prior_contacts(session: Session, customer_ref: str, since: datetime) -> list[PriorContact]:
    """Every message from the customer since ``since``: breaches and other contacts alike."""
    customer_id = select(m.Customer.id).where(m.Customer.ref == customer_ref).scalar_subquery()
    found: list[PriorContact] = []
    for model in (m.Breach, m.Contact):
        rows = session.execute(
            select(
                model.received_at,
                model.message_id,
                model.subject_key,
                model.new_issue,
                model.body_sha256,
            ).where(model.customer_id == customer_id, model.received_at >= since)
        )
        # The record's key is the Message-ID, with "#body-…" when another message already
        # held it (see _message_key): the core tells messages apart by the body's hash.
        found.extend(
            PriorContact(at, key.split(BODY_KEY, 1)[0], subject, new_issue, body)
            for at, key, subject, new_issue, body in rows
        )
    return sorted(found, key=lambda p: p.received_at)


def record_acknowledgement(
    session: Session,
    envelope: Envelope,
    decision: Decision,
    evidence: Evidence | None,
    bot_address: str,
    *,
    now: datetime,
    min_hours_between: float,
    max_age_hours: float = 72,
) -> bool:
    """Queue an automatic acknowledgement (RFC 3834) if the decision asks for one, the
    message is recent (``max_age_hours``: old mail found on a first pass is not answered) and
    the customer has had none in the last ``min_hours_between`` hours; True if queued."""
    if decision.acknowledge_to is None or decision.customer_ref is None:
        return False
    if envelope.received_at < now - timedelta(hours=max_age_hours):
        return False
    if decision.kind not in (DecisionKind.ALLOWED, DecisionKind.BREACH, DecisionKind.EMERGENCY):
        return False
    customer = _customer(session, decision.customer_ref)
    recent = session.scalar(
        select(m.Outbox.id).where(
            m.Outbox.kind == ACKNOWLEDGEMENT,
            m.Outbox.customer_id == customer.id,
            m.Outbox.created_at > now - timedelta(hours=min_hours_between),
        )
    )
    if recent is not None:
        return False
    officer = decision.contact_officer
    _, added = add_once(
        session,
        m.Outbox,
        {
            "kind": ACKNOWLEDGEMENT,
            "customer_id": customer.id,
            "original_message_id": envelope.message_id,
        },
        outgoing_message_id=new_outgoing_message_id(ACKNOWLEDGEMENT, bot_address.rsplit("@")[1]),
        original_sha256=evidence.sha256 if evidence else "",
        recipient_name=customer.name,
        recipient_email=decision.acknowledge_to,
        route_reason=officer.name if officer else "",
        created_at=now,
        original_received_at=envelope.received_at,
    )
    return added


def expired(
    session: Session, kind: str, mailbox: str, folder: str, uidvalidity: int, uid: int
) -> bool:
    """Whether the retention purge deleted this message's quarantine entry or review item
    (``kind``): a rescan must not record it again as new."""
    return (
        session.scalar(
            select(m.ExpiredCopy.id).where(
                m.ExpiredCopy.kind == kind,
                m.ExpiredCopy.mailbox == mailbox,
                m.ExpiredCopy.folder == folder,
                m.ExpiredCopy.uidvalidity == uidvalidity,
                m.ExpiredCopy.uid == uid,
            )
        )
        is not None
    )


def remember_expired(
    session: Session, kind: str, rows: Iterable[m.Quarantine] | Iterable[m.ReviewItem]
) -> None:
    """Keep where each of ``rows`` (about to be deleted by a purge or an erasure) was, so
    that :func:`add_quarantine` and :func:`add_review_item` do not record it again."""
    for row in rows:
        add_once(
            session,
            m.ExpiredCopy,
            {
                "kind": kind,
                "mailbox": row.mailbox,
                "folder": row.folder,
                "uidvalidity": row.uidvalidity,
                "uid": row.uid,
            },
        )


def add_quarantine(
    session: Session,
    mailbox: str,
    folder: str,
    uidvalidity: int,
    uid: int,
    message_id: str | None,
    reason: str,
    evidence: Evidence | None,
) -> bool:
    """Quarantine a message once; False if it already was (or its entry expired)."""
    if expired(session, "quarantine", mailbox, folder, uidvalidity, uid):
        return False
    _, added = add_once(
        session,
        m.Quarantine,
        {"mailbox": mailbox, "folder": folder, "uidvalidity": uidvalidity, "uid": uid},
        message_id=message_id,
        reason=reason,
        sha256=evidence.sha256 if evidence else None,
        size=evidence.size if evidence else None,
    )
    return added


def add_review_item(
    session: Session,
    envelope: Envelope,
    decision: Decision,
    uid: int,
    uidvalidity: int,
    evidence: Evidence | None,
) -> None:
    """Put a message whose sender a person must identify in the review queue (not again
    once the retention purge deleted its dismissed item)."""
    if expired(session, "review_item", envelope.found_in, envelope.folder, uidvalidity, uid):
        return
    add_once(
        session,
        m.ReviewItem,
        {
            "mailbox": envelope.found_in,
            "folder": envelope.folder,
            "uidvalidity": uidvalidity,
            "uid": uid,
        },
        message_id=envelope.message_id,
        received_at=envelope.received_at,
        sender=envelope.identities[0] if envelope.identities else None,
        subject=envelope.subject[:200],
        rules=",".join(decision.rules)[:200],
        reason="; ".join(decision.reasons),
        candidates=";".join(decision.candidates),
        sha256=evidence.sha256 if evidence else None,
        size=evidence.size if evidence else None,
    )


def record_processed(
    session: Session, envelope: Envelope, decision: Decision, uid: int, uidvalidity: int
) -> None:
    add_once(
        session,
        m.ProcessedMessage,
        {
            "mailbox": envelope.found_in,
            "folder": envelope.folder,
            "uidvalidity": uidvalidity,
            "uid": uid,
        },
        message_id=envelope.message_id,
        decision=decision.kind.value,
        rules=",".join(decision.rules),
        customer_ref=decision.customer_ref,
    )


def advance_cursor(session: Session, mailbox: str, folder: str, uid: int) -> None:
    cursor = session.scalars(
        select(m.MailboxCursor).where(
            m.MailboxCursor.mailbox == mailbox, m.MailboxCursor.folder == folder
        )
    ).one()
    cursor.last_uid = max(cursor.last_uid, uid)


def _customer(session: Session, ref: str) -> m.Customer:
    return session.scalars(select(m.Customer).where(m.Customer.ref == ref)).one()


def _message_key(
    session: Session,
    model: type[m.Breach] | type[m.Contact],
    customer_id: int,
    message_id: str,
    body_sha256: str | None,
) -> str:
    """The Message-ID, unless a different message (another body) already holds it."""
    holder = session.scalars(
        select(model.body_sha256).where(
            model.customer_id == customer_id, model.message_id == message_id
        )
    ).first()
    if holder is None or body_sha256 is None or holder == body_sha256:
        return message_id
    return f"{message_id}{BODY_KEY}{body_sha256[:16]}"


def _enqueue_emergency(
    session: Session,
    customer: m.Customer,
    decision: Decision,
    message_key: str,
    sha256: str,
    domain: str,
    *,
    breach_id: int | None = None,
    contact_id: int | None = None,
) -> None:
    """An emergency goes to the officer and, separately, to the emergency route; one whose
    sender addresses belong to several customers goes to each of their officers."""
    links = {"breach_id": breach_id, "contact_id": contact_id}
    if decision.route_to is not None:
        _enqueue(
            session, EMERGENCY_FORWARD, customer, decision, message_key, sha256, domain, **links
        )
    for copy in decision.also_to:
        other = _customer(session, copy.customer_ref)
        routed = replace(decision, route_to=copy.route_to, route_reason=copy.route_reason)
        _enqueue(session, EMERGENCY_FORWARD, other, routed, message_key, sha256, domain, **links)
    if decision.emergency_route is not None:
        routed = replace(
            decision, route_to=decision.emergency_route, route_reason="to the emergency route"
        )
        _enqueue(session, EMERGENCY_ROUTE, customer, routed, message_key, sha256, domain, **links)


def _enqueue(
    session: Session,
    kind: str,
    customer: m.Customer,
    decision: Decision,
    message_key: str,
    sha256: str,
    domain: str,
    *,
    breach_id: int | None = None,
    contact_id: int | None = None,
) -> None:
    assert decision.route_to is not None
    add_once(
        session,
        m.Outbox,
        {"kind": kind, "customer_id": customer.id, "original_message_id": message_key},
        outgoing_message_id=new_outgoing_message_id(kind, domain),
        breach_id=breach_id,
        contact_id=contact_id,
        original_sha256=sha256,
        recipient_name=decision.route_to.name,
        recipient_email=decision.route_to.email,
        route_reason=decision.route_reason,
    )
