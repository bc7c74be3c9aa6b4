"""The audit log: an append-only record of what people did with the register and evidence.

Every command that changes a record, or decides something about a message on a person's
word, writes one event here: who (the operator), what, when and to which record.
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store import models as m

WATCHER = "spocbot (watcher)"
"""The operator of what the service does by itself: forwards, acknowledgements, breaches."""
SCHEDULER = "spocbot (scheduler)"
"""The operator of the scheduled jobs: reminders, digests, daily hooks."""


def current_operator(given: str | None = None) -> str:
    """The operator's name: as given (``--operator``), else the operating-system user."""
    if given and given.strip():
        return given.strip()[:200]
    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment or the password database
        return f"uid {os.getuid()}"


def audit(
    session: Session,
    operator: str,
    action: str,
    record: str,
    *,
    customer_ref: str | None = None,
    details: str = "",
    at: datetime | None = None,
) -> None:
    """Append one event, in the caller's transaction (so it stands or falls with the change)."""
    session.add(
        m.AuditEvent(
            at=at or datetime.now(UTC),
            operator=operator,
            action=action,
            record=record,
            customer_ref=customer_ref,
            details=details,
        )
    )


def events(
    session: Session,
    customer_ref: str | None = None,
    *,
    action: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """The events, oldest first: for one customer, with an action starting ``action`` (e.g.
    ``register.`` or ``breach``), recorded at or after ``since``."""
    query = select(m.AuditEvent).order_by(m.AuditEvent.id)
    if customer_ref is not None:
        # References are unique ignoring case, as the register compares them.
        query = query.where(func.lower(m.AuditEvent.customer_ref) == customer_ref.strip().lower())
    if action:
        query = query.where(m.AuditEvent.action.startswith(action, autoescape=True))
    if since is not None:
        query = query.where(m.AuditEvent.at >= since)
    return [
        {
            "id": e.id,
            "recorded_at": e.at.isoformat(),
            "operator": e.operator,
            "action": e.action,
            "record": e.record,
            "customer_ref": e.customer_ref,
            "details": e.details,
        }
        for e in session.scalars(query)
    ]
