"""Read-only listings for the command line: breaches, contacts, quarantine, forwards, review.

Each function returns plain dictionaries (JSON-ready; times in UTC ISO 8601) so that the CLI
can print them as a table or as ``--json``.
"""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session, selectinload

from bot.evidence import EvidenceStore
from bot.outbox import NOTICE_KINDS
from bot.store import models as m
from mailbox_rules.envelope import normalise_address

_HEADER_BYTES = 64 * 1024  # of a quarantined message, read for its sender


class UnknownCustomer(LookupError):
    """A listing was asked for a customer reference that is not in the register."""


def _check_customer(session: Session, customer_ref: str | None) -> None:
    if (
        customer_ref
        and session.scalar(select(m.Customer.id).where(m.Customer.ref == customer_ref)) is None
    ):
        raise UnknownCustomer(f"no customer with reference {customer_ref} in the register")


def breaches(
    session: Session, customer_ref: str | None = None, breach_id: int | None = None
) -> list[dict[str, Any]]:
    query = (
        select(m.Breach)
        .join(m.Customer)
        .options(selectinload(m.Breach.customer), selectinload(m.Breach.sightings))
        .order_by(m.Breach.id)
    )
    _check_customer(session, customer_ref)
    if customer_ref:
        query = query.where(m.Customer.ref == customer_ref)
    if breach_id is not None:
        query = query.where(m.Breach.id == breach_id)
    forwards: dict[int, list[dict[str, Any]]] = {}
    routing: dict[int, list[str]] = {}
    for row in session.scalars(select(m.Outbox).where(m.Outbox.breach_id.is_not(None))):
        assert row.breach_id is not None
        forwards.setdefault(row.breach_id, []).append(_forward_brief(row))
        routing.setdefault(row.breach_id, []).append(f"{row.recipient_name}: {row.route_reason}")
    return [
        {
            "id": b.id,
            "customer_ref": b.customer.ref,
            "customer_name": b.customer.name,
            "mailboxes": sorted({s.mailbox for s in b.sightings}),
            "message_id": b.message_id,
            "received_at": b.received_at.isoformat(),
            "reason": b.reason,
            "rules": b.rules.split(",") if b.rules else [],
            "forwarded_to": forwards.get(b.id, []),
            "routing": routing.get(b.id, []),  # why each went to whom
            "sightings": [
                {
                    "mailbox": s.mailbox,
                    "folder": s.folder,
                    "uid": s.uid,
                    "seen_at": s.seen_at.isoformat(),
                }
                for s in b.sightings
            ],
            "new_issue": b.new_issue,
            "size": b.size,
            "sha256": b.sha256,
            "recorded_at": b.created_at.isoformat(),
        }
        for b in session.scalars(query)
    ]


def contacts(session: Session, customer_ref: str | None = None) -> list[dict[str, Any]]:
    query = select(m.Contact).join(m.Customer).options(selectinload(m.Contact.customer))
    _check_customer(session, customer_ref)
    if customer_ref:
        query = query.where(m.Customer.ref == customer_ref)
    forwards: dict[int, list[dict[str, Any]]] = {}
    for row in session.scalars(select(m.Outbox).where(m.Outbox.contact_id.is_not(None))):
        assert row.contact_id is not None
        forwards.setdefault(row.contact_id, []).append(_forward_brief(row))
    return [
        {
            "id": c.id,
            "customer_ref": c.customer.ref,
            "customer_name": c.customer.name,
            "kind": c.kind,
            "mailbox": c.mailbox,
            "message_id": c.message_id,
            "received_at": c.received_at.isoformat(),
            "reason": c.reason,
            "forwarded_to": forwards.get(c.id, []),
        }
        for c in session.scalars(query.order_by(m.Contact.id))
    ]


def quarantine_with_decisions() -> Select[m.Quarantine, str | None]:
    """Quarantined messages with the customer the watcher decided each was from, if any."""
    processed = m.ProcessedMessage
    return (
        select(m.Quarantine, processed.customer_ref)
        .outerjoin(
            processed,
            and_(
                processed.mailbox == m.Quarantine.mailbox,
                processed.folder == m.Quarantine.folder,
                processed.uidvalidity == m.Quarantine.uidvalidity,
                processed.uid == m.Quarantine.uid,
            ),
        )
        .order_by(m.Quarantine.id)
    )


def quarantine(
    session: Session, evidence: EvidenceStore | None = None, item_id: int | None = None
) -> list[dict[str, Any]]:
    """Quarantined messages, with the customer whose address sent each one when that is known:
    from the watcher's decision, or (given ``evidence``) from the kept message's From/Sender."""
    query = quarantine_with_decisions()
    if item_id is not None:
        query = query.where(m.Quarantine.id == item_id)
    rows = []
    for q, ref in session.execute(query):
        if ref is None and evidence is not None and q.sha256:
            ref = _sender_customer(session, evidence, q.sha256)
        rows.append(
            {
                "id": q.id,
                "mailbox": q.mailbox,
                "folder": q.folder,
                "uidvalidity": q.uidvalidity,
                "uid": q.uid,
                "message_id": q.message_id,
                "customer_ref": ref,
                "reason": q.reason,
                "sha256": q.sha256,
                "size": q.size,
                "quarantined_at": q.created_at.isoformat(),
            }
        )
    return rows


def senders_of(evidence: EvidenceStore, sha256: str) -> set[str]:
    """The From and Sender addresses of a kept message; none if it cannot be read in any way
    (it may be why it is in quarantine)."""
    try:
        raw = evidence.get(sha256)
        end = re.search(rb"\r?\n\r?\n", raw[:_HEADER_BYTES])
        headers = BytesHeaderParser(policy=compat32).parsebytes(
            raw[: end.end() if end else _HEADER_BYTES]
        )
        fields = [str(v) for name in ("From", "Sender") for v in headers.get_all(name, [])]
        return {normalise_address(a) for _, a in getaddresses(fields) if "@" in a}
    except Exception:  # unreadable: no sender known, the caller goes on
        return set()


def _sender_customer(session: Session, evidence: EvidenceStore, sha256: str) -> str | None:
    """The customer whose registered address is in the kept message's From or Sender, if
    exactly one is; None when there is none, or the message cannot be read (it may be why
    it is in quarantine)."""
    addresses = senders_of(evidence, sha256)
    if not addresses:
        return None
    refs = set(
        session.scalars(
            select(m.Customer.ref)
            .join(m.CustomerEmail)
            .where(m.CustomerEmail.address.in_(sorted(addresses)))
        )
    )
    return refs.pop() if len(refs) == 1 else None


def review_items(
    session: Session, status: str | None = "open", item_id: int | None = None
) -> list[dict[str, Any]]:
    """The review queue (``status`` None: every item, decided ones too), oldest first."""
    query = select(m.ReviewItem).order_by(m.ReviewItem.id)
    if status is not None:
        query = query.where(m.ReviewItem.status == status)
    if item_id is not None:
        query = query.where(m.ReviewItem.id == item_id)
    return [
        {
            "id": r.id,
            "received_at": r.received_at.isoformat(),
            "mailbox": r.mailbox,
            "folder": r.folder,
            "uid": r.uid,
            "sender": r.sender,
            "subject": r.subject,
            "message_id": r.message_id,
            "rules": r.rules,
            "reason": r.reason,
            "candidates": [c for c in r.candidates.split(";") if c],
            "sha256": r.sha256,
            "status": r.status,
            "customer_ref": r.customer_ref,
            "decided_by": r.decided_by,
            "decided_at": r.decided_at.isoformat() if r.decided_at else None,
            "note": r.note,
        }
        for r in session.scalars(query)
    ]


def forwards(
    session: Session, customer_ref: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Forwards to officers and acknowledgements to customers, oldest first."""
    query = (
        select(m.Outbox)
        .outerjoin(m.Customer)
        .options(selectinload(m.Outbox.customer))
        .order_by(m.Outbox.id)
    )
    _check_customer(session, customer_ref)
    if customer_ref:
        query = query.where(m.Customer.ref == customer_ref)
    if status:
        query = query.where(m.Outbox.status == status)
    return [
        {
            **_forward_brief(o),
            "id": o.id,
            "kind": o.kind,
            "customer_ref": o.customer.ref if o.customer else None,
            "about": _about(o),
            "breach_id": o.breach_id,
            "contact_id": o.contact_id,
            "original_message_id": o.original_message_id,
            "outgoing_message_id": o.outgoing_message_id,
            "route_reason": o.route_reason,
            "attempts": o.attempts,
            "last_error": o.last_error,
            "created_at": o.created_at.isoformat(),
        }
        for o in session.scalars(query)
    ]


def _about(row: m.Outbox) -> str:
    if row.breach_id:
        return f"breach {row.breach_id}"
    if row.contact_id:
        return f"contact {row.contact_id}"
    if row.kind in NOTICE_KINDS:
        return row.original_message_id  # the notice's key: what it reminds of or reports
    return "the customer's message"  # an acknowledgement answers a message, not a record


def _forward_brief(row: m.Outbox) -> dict[str, Any]:
    return {
        "name": row.recipient_name,
        "email": row.recipient_email,
        "status": row.status,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }
