"""The review queue: messages whose sender a person must identify.

The watcher puts a message here instead of deciding it when whose message it is cannot be
settled by machine: an unknown address that gives a customer's reference or signs with their
name (``possible-match``), a display name copying a customer's address, several customers or
authors in one message, an unreadable sender.  Nothing is forwarded meanwhile.

The DMO then either *confirms* an item — the message is that customer's: the sender's address
is added to the customer (unless told not to) and the message is decided and recorded as
theirs, so breaches, forwards and contacts follow exactly as if the watcher had recognised
it — or *dismisses* it.  Either answer covers every sighting of the same message (one copy in
the information mailbox, another in a staff inbox) and is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import audit
from bot.evidence import Evidence, EvidenceError, EvidenceStore, body_digest
from bot.partner_entries import PARTNER
from bot.policy import Policy
from bot.recording import HISTORY_WINDOW, prior_contacts, record_decision
from bot.store import models as m
from mailbox_rules import Decision, Register, header_block, message_text, parse_envelope
from mailbox_rules.rules import LONDON


class ReviewError(Exception):
    """A review step was refused; the message says why."""


@dataclass
class ConfirmResult:
    customer_ref: str
    address_added: str | None
    address_note: str
    decisions: list[tuple[m.ReviewItem, Decision]] = field(default_factory=list)

    @property
    def forwards_queued(self) -> bool:
        return any(d.forwards or d.emergency_route for _, d in self.decisions)


def confirm(
    factory: sessionmaker[Session],
    policy: Policy,
    evidence: EvidenceStore,
    item_id: int,
    *,
    operator: str,
    now: datetime,
    bot_address: str,
    customer_ref: str | None = None,
    add_address: bool = True,
    note: str | None = None,
) -> ConfirmResult:
    """Confirm that review item ``item_id`` (and every sighting of its message) is
    ``customer_ref``'s, and record it as theirs in one transaction."""
    with factory.begin() as session:
        item = _open_item(session, item_id, policy.zone)
        ref = _customer_for(item, customer_ref)
        customer = session.scalar(select(m.Customer).where(m.Customer.ref == ref))
        if customer is None or customer.arrangement is None:
            raise ReviewError(f"there is no customer {ref} with an arrangement in the register")
        register = policy.register(session)
        added, address_note = _add_sender_address(session, item, customer, register, add_address)
        history = prior_contacts(session, ref, now - HISTORY_WINDOW)
        result = ConfirmResult(ref, added, address_note)
        for sighting, raw in _sightings(session, evidence, item):
            assert raw is not None  # need_raw: every sighting returned has its message
            envelope = parse_envelope(
                header_block(raw),
                found_in=sighting.mailbox,
                folder=sighting.folder,
                received_at=sighting.received_at,
            )
            decision = policy.decide(
                envelope, register, now, history, message_text(raw), confirmed_customer=ref
            )
            who = envelope.identities[0] if envelope.identities else "the sender"
            decision = replace(
                decision,
                reasons=(
                    *decision.reasons,
                    f"{who} was confirmed as the customer's from the review queue by {operator}",
                ),
            )
            kept = Evidence(sighting.sha256 or "", len(raw), body_digest(raw))
            record_decision(
                session,
                envelope,
                decision,
                sighting.uid,
                sighting.uidvalidity,
                kept,
                bot_address,
                now,
            )
            _close(sighting, "confirmed", operator, now, note, ref)
            result.decisions.append((sighting, decision))
        audit(
            session,
            operator,
            "review.confirm",
            f"review_item:{item.id}",
            customer_ref=ref,
            details="; ".join(
                [
                    *(
                        f"review item {s.id} ({s.mailbox}) recorded as {d.kind.value} "
                        f"({','.join(d.rules)})"
                        for s, d in result.decisions
                    ),
                    address_note,
                    *([f"note: {note}"] if note else []),
                ]
            ),
            at=now,
        )
    return result


def dismiss(
    factory: sessionmaker[Session],
    evidence: EvidenceStore,
    item_id: int,
    *,
    operator: str,
    now: datetime,
    note: str | None = None,
    zone: ZoneInfo = LONDON,
) -> list[int]:
    """Record that review item ``item_id``'s message is nobody's concern; the ids closed."""
    with factory.begin() as session:
        item = _open_item(session, item_id, zone)
        closed = []
        for sighting, _ in _sightings(session, evidence, item, need_raw=False):
            _close(sighting, "dismissed", operator, now, note, None)
            closed.append(sighting.id)
        audit(
            session,
            operator,
            "review.dismiss",
            f"review_item:{item.id}",
            details=f"review items {', '.join(map(str, closed))} dismissed"
            + (f"; note: {note}" if note else ""),
            at=now,
        )
    return closed


def _open_item(session: Session, item_id: int, zone: ZoneInfo) -> m.ReviewItem:
    item = session.get(m.ReviewItem, item_id)
    if item is None:
        raise ReviewError(f"there is no review item {item_id} (see `spocbot review list`)")
    if item.status != "open":
        decided = item.decided_at.astimezone(zone) if item.decided_at else None
        when = f"{decided:%Y-%m-%d %H:%M %Z}" if decided else "earlier"
        raise ReviewError(
            f"review item {item_id} was already {item.status} by {item.decided_by} ({when})"
        )
    return item


def _customer_for(item: m.ReviewItem, given: str | None) -> str:
    candidates = [c for c in item.candidates.split(";") if c]
    if given is not None:
        return given
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ReviewError(
            f"review item {item.id} may be from {', '.join(candidates)}: say which with --customer"
        )
    raise ReviewError(f"review item {item.id} names no customer: say whose with --customer")


def _add_sender_address(
    session: Session, item: m.ReviewItem, customer: m.Customer, register: Register, wanted: bool
) -> tuple[str | None, str]:
    """Add the sender's address to ``customer`` when that is wanted and safe; and say why not."""
    address = item.sender
    if not wanted:
        return None, "sender's address not added (--no-add-address)"
    if address is None:
        return None, "no sender address could be read, so none was added"
    if customer.source == PARTNER:  # read-only here: the partner keeps its own register
        return None, (
            f"{address} not added: {customer.ref} is {customer.partner}'s arrangement, read-only "
            f"here (ask {customer.partner} to add it to the file they share)"
        )
    owner = session.scalar(
        select(m.Customer.ref).join(m.CustomerEmail).where(m.CustomerEmail.address == address)
    )
    if owner is not None:
        return None, f"{address} is already customer {owner}'s address; not added again"
    representatives = session.scalars(select(m.Arrangement.representative_emails)).all()
    if any(address in (r or "").split(";") for r in representatives):
        return None, f"{address} is a representative's address; not added"
    if register.is_staff(address):
        return None, f"{address} is a staff address; not added"
    customer.emails.append(m.CustomerEmail(address=address, source="review"))
    session.flush()
    return address, f"{address} added to customer {customer.ref}"


def _sightings(
    session: Session, evidence: EvidenceStore, item: m.ReviewItem, *, need_raw: bool = True
) -> list[tuple[m.ReviewItem, bytes | None]]:
    """Every open sighting of ``item``'s message with its raw bytes, ``item`` first.

    Sightings share the Message-ID; a copy whose body differs is another message that reused
    the id, and is left for its own answer.
    """
    raw = _raw(evidence, item) if need_raw else _raw_if_kept(evidence, item)
    found: list[tuple[m.ReviewItem, bytes | None]] = [(item, raw)]
    others = session.scalars(
        select(m.ReviewItem)
        .where(
            m.ReviewItem.message_id == item.message_id,
            m.ReviewItem.status == "open",
            m.ReviewItem.id != item.id,
        )
        .order_by(m.ReviewItem.id)
    )
    for other in others:
        other_raw = _raw_if_kept(evidence, other)
        if raw is not None and other_raw is not None:
            if body_digest(other_raw) != body_digest(raw):
                continue
        elif need_raw:
            continue  # cannot tell, or cannot process: it keeps its own entry
        found.append((other, other_raw))
    return found


def _raw(evidence: EvidenceStore, item: m.ReviewItem) -> bytes:
    if item.sha256 is None:
        raise ReviewError(
            f"review item {item.id}: the raw message was not kept, so it cannot be processed; "
            "dismiss it and deal with the original in the mailbox"
        )
    try:
        return evidence.get(item.sha256)
    except EvidenceError as exc:
        raise ReviewError(f"review item {item.id}: {exc}") from None


def _raw_if_kept(evidence: EvidenceStore, item: m.ReviewItem) -> bytes | None:
    try:
        return _raw(evidence, item)
    except ReviewError:
        return None


def _close(
    item: m.ReviewItem,
    status: str,
    operator: str,
    now: datetime,
    note: str | None,
    customer_ref: str | None,
) -> None:
    item.status = status
    item.decided_by = operator
    item.decided_at = now
    item.note = note
    item.customer_ref = customer_ref
