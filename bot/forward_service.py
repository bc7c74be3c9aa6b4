"""What a person does with the outbox: queue a failed forward again (``spocbot forwards retry``).

:mod:`bot.outbox` sends and recovers; a forward it could not send for good (refused, or its
evidence missing) stays ``failed`` until someone fixes the cause and retries it here, to the
same recipient or to another routing destination (an officer in the register, or the DMO).
The retry is written to the audit log with the operator, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import audit
from bot.outbox import ACKNOWLEDGEMENT, FAILED, NOTICE_KINDS, PENDING, OutboxError
from bot.store import models as m
from mailbox_rules.register import Officer


@dataclass(frozen=True)
class RetryResult:
    forward_id: int
    recipient_name: str
    recipient_email: str
    previous_error: str | None


def retry_forward(
    factory: sessionmaker[Session],
    forward_id: int,
    *,
    operator: str,
    now: datetime,
    dmo: Officer,
    to: str | None = None,
) -> RetryResult:
    """Put failed forward ``forward_id`` back in the queue, optionally to ``to``: an officer
    in the register or the DMO (``dmo``), who are the destinations routing can choose.

    The failure (``last_error``) is cleared from the row, and kept in the audit event."""
    with factory.begin() as session:
        row = session.get(m.Outbox, forward_id)
        if row is None:
            raise OutboxError(f"no forward with id {forward_id} (see `spocbot forwards list`)")
        if row.status != FAILED:
            raise OutboxError(f"forward {forward_id} is {row.status}, not failed; nothing to retry")
        before = f"{row.recipient_name} <{row.recipient_email}>"
        if to is not None:
            if row.kind in NOTICE_KINDS:
                raise OutboxError(
                    f"forward {forward_id} is a {row.kind} written for its recipient, so it "
                    "cannot go to someone else; retry it without --to"
                )
            if row.kind == ACKNOWLEDGEMENT:
                raise OutboxError(
                    f"forward {forward_id} is an acknowledgement to the customer, so it cannot "
                    "go to someone else; retry it without --to"
                )
            name, email = _destination(session, to, dmo)
            if email != row.recipient_email:
                row.recipient_name, row.recipient_email = name, email
                row.route_reason = f"{row.route_reason}; re-sent to {name} by {operator}"
        previous = row.last_error
        row.status = PENDING
        row.next_attempt_at = None
        row.last_error = None
        row.sent_at = None
        # An acknowledgement's recipient is the customer: their address stays out of the log.
        after = (
            "the customer"
            if row.kind == ACKNOWLEDGEMENT
            else f"{row.recipient_name} <{row.recipient_email}>"
        )
        details = f"{row.kind} queued again to {after}"
        if row.kind != ACKNOWLEDGEMENT and after != before:
            details += f" instead of {before}"
        if previous:
            details += f"; it had failed: {previous}"
        audit(
            session,
            operator,
            "forward.retry",
            f"outbox:{row.id}",
            customer_ref=row.customer.ref if row.customer else None,
            details=details,
            at=now,
        )
        return RetryResult(row.id, row.recipient_name, row.recipient_email, previous)


def _destination(session: Session, to: str, dmo: Officer) -> tuple[str, str]:
    address = to.strip().lower()
    officer = session.scalars(select(m.Officer).where(m.Officer.email == address)).first()
    if officer is not None:
        return officer.name, officer.email
    if address == dmo.email.lower():
        return dmo.name, dmo.email
    raise OutboxError(
        f"{to} is neither an officer in the register nor the DMO ({dmo.email}): a forward "
        "can be re-sent only to a destination routing could choose"
    )
