"""Read-only listings for the command line: breaches, contacts, quarantine, forwards.

Each function returns plain dictionaries (JSON-ready; times in UTC ISO 8601) so that the CLI
can print them as a table or as ``--json``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.store import models as m


class UnknownCustomer(LookupError):
    """A listing was asked for a customer reference that is not in the register."""


def _check_customer(session: Session, customer_ref: str | None) -> None:
    if (
        customer_ref
        and session.scalar(select(m.Customer.id).where(m.Customer.ref == customer_ref)) is None
    ):
        raise UnknownCustomer(f"no customer with reference {customer_ref} in the register")


def breaches(session: Session, customer_ref: str | None = None) -> list[dict[str, Any]]:
    query = (
        select(m.Breach)
        .join(m.Customer)
        .options(selectinload(m.Breach.customer), selectinload(m.Breach.sightings))
        .order_by(m.Breach.id)
    )
    _check_customer(session, customer_ref)
    if customer_ref:
        query = query.where(m.Customer.ref == customer_ref)
    forwards: dict[int, list[dict[str, Any]]] = {}
    for row in session.scalars(select(m.Outbox).where(m.Outbox.breach_id.is_not(None))):
        assert row.breach_id is not None
        forwards.setdefault(row.breach_id, []).append(_forward_brief(row))
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
            "sha256": b.sha256,
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


def quarantine(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "id": q.id,
            "mailbox": q.mailbox,
            "folder": q.folder,
            "uidvalidity": q.uidvalidity,
            "uid": q.uid,
            "message_id": q.message_id,
            "reason": q.reason,
            "sha256": q.sha256,
            "size": q.size,
            "quarantined_at": q.created_at.isoformat(),
        }
        for q in session.scalars(select(m.Quarantine).order_by(m.Quarantine.id))
    ]


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


def forwards(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(m.Outbox).options(selectinload(m.Outbox.customer)).order_by(m.Outbox.id)
    )
    return [
        {
            **_forward_brief(o),
            "id": o.id,
            "kind": o.kind,
            "customer_ref": o.customer.ref,
            "breach_id": o.breach_id,
            "contact_id": o.contact_id,
            "original_message_id": o.original_message_id,
            "outgoing_message_id": o.outgoing_message_id,
            "route_reason": o.route_reason,
            "attempts": o.attempts,
            "last_error": o.last_error,
            "created_at": o.created_at.isoformat(),
        }
        for o in rows
    ]


def _forward_brief(row: m.Outbox) -> dict[str, Any]:
    return {
        "name": row.recipient_name,
        "email": row.recipient_email,
        "status": row.status,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }
