"""Flags in other systems (policy §6): a "raise flag" task per configured system when an
arrangement comes into force, a "remove flag" task when it ends, open until someone confirms
that it was done (``spocbot flags confirm``).

The tasks are derived from the register's state, never from the steps that changed it:
:func:`sync_flag_tasks` reconciles ``flag_tasks`` with the arrangements and can run any number
of times (after a register or partner import, after each lifecycle step that starts or ends an
arrangement, and daily from the scheduler) with the same result.

* An arrangement **in force** (``active`` or ``cease_and_desist``, as :mod:`bot.lifecycle`
  counts it) has a raise task per system, due on its start date.  Made live again after its
  flags were removed, its raise task opens again.
* A **ceased** arrangement that had a raise task gets a remove task per system, due on its
  end date (today when no end is recorded).  A raise task never confirmed is dropped then:
  there is nothing left to raise.
* Open tasks of a system no longer in ``[flags] systems`` are dropped; confirmed ones stay as
  the record of what was done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.audit import audit, current_operator
from bot.errors import DomainError
from bot.store import models as m
from mailbox_rules.register import ArrangementStatus
from mailbox_rules.rules import LONDON

RAISE = "raise"
REMOVE = "remove"
IN_FORCE = frozenset({ArrangementStatus.ACTIVE.value, ArrangementStatus.CEASE_AND_DESIST.value})
CEASED = ArrangementStatus.CEASED.value


class FlagTaskError(DomainError):
    """A flag task that cannot be confirmed; the message says why."""


@dataclass(frozen=True)
class SyncResult:
    created: int = 0
    reopened: int = 0
    dropped: int = 0


def sync_flag_tasks(
    session: Session,
    systems: Sequence[str],
    today: date,
    *,
    arrangement_ids: Iterable[int] | None = None,
) -> SyncResult:
    """Bring the flag tasks in line with the arrangements (all, or only ``arrangement_ids``),
    in the caller's transaction.  Idempotent: a second call changes nothing."""
    query = select(m.Arrangement).options(selectinload(m.Arrangement.customer))
    if arrangement_ids is not None:
        query = query.where(m.Arrangement.id.in_(list(arrangement_ids)))
    arrangements = session.scalars(query).all()
    tasks: dict[int, dict[tuple[str, str], m.FlagTask]] = {}
    task_query = select(m.FlagTask)
    if arrangement_ids is not None:
        task_query = task_query.where(m.FlagTask.arrangement_id.in_([a.id for a in arrangements]))
    for task in session.scalars(task_query):
        tasks.setdefault(task.arrangement_id, {})[(task.system.casefold(), task.action)] = task
    configured = {name.casefold(): name for name in systems}
    created = reopened = dropped = 0
    for arrangement in arrangements:
        own = tasks.get(arrangement.id, {})
        for (folded, _action), task in list(own.items()):
            if folded not in configured and task.confirmed_at is None:
                session.delete(task)
                del own[(folded, _action)]
                dropped += 1
        for folded, name in configured.items():
            raised, removed = own.get((folded, RAISE)), own.get((folded, REMOVE))
            if arrangement.status in IN_FORCE:
                if removed is not None:
                    # Live again: a removal not yet done is not needed; one done means the
                    # flag must go up again.
                    if removed.confirmed_at is not None and raised is not None:
                        raised.confirmed_at, raised.confirmed_by = None, None
                        raised.due_on = arrangement.start_date
                        reopened += 1
                    session.delete(removed)
                    dropped += 1
                if raised is None:
                    session.add(
                        m.FlagTask(
                            arrangement_id=arrangement.id,
                            system=name,
                            action=RAISE,
                            due_on=arrangement.start_date,
                        )
                    )
                    created += 1
            elif arrangement.status == CEASED and (raised is not None or removed is not None):
                if removed is None:
                    session.add(
                        m.FlagTask(
                            arrangement_id=arrangement.id,
                            system=name,
                            action=REMOVE,
                            due_on=arrangement.ended_on or today,
                        )
                    )
                    created += 1
                if raised is not None and raised.confirmed_at is None:
                    session.delete(raised)
                    dropped += 1
    session.flush()
    return SyncResult(created, reopened, dropped)


def sync_all(factory: sessionmaker[Session], systems: Sequence[str], today: date) -> SyncResult:
    """:func:`sync_flag_tasks` over the whole register in its own transaction."""
    with factory.begin() as session:
        return sync_flag_tasks(session, systems, today)


def daily_sync(
    systems: Sequence[str],
) -> Callable[[sessionmaker[Session], date, str], SyncResult]:
    """The scheduler's daily hook (``hook(factory, today, operator)``) for ``systems``."""

    def flag_tasks(factory: sessionmaker[Session], today: date, _operator: str) -> SyncResult:
        return sync_all(factory, systems, today)

    return flag_tasks


def list_tasks(session: Session, *, include_confirmed: bool = False) -> list[dict[str, object]]:
    """Flag tasks, open ones first by due date (with ``include_confirmed``, every task)."""
    query = (
        select(m.FlagTask, m.Customer)
        .join(m.Arrangement, m.Arrangement.id == m.FlagTask.arrangement_id)
        .join(m.Customer, m.Customer.id == m.Arrangement.customer_id)
    )
    if not include_confirmed:
        query = query.where(m.FlagTask.confirmed_at.is_(None))
    rows = session.execute(
        query.order_by(
            m.FlagTask.confirmed_at.is_not(None),
            m.FlagTask.due_on,
            m.Customer.ref,
            m.FlagTask.system,
            m.FlagTask.action,
        )
    ).all()
    return [
        {
            "id": task.id,
            "customer_ref": customer.ref,
            "customer_name": customer.name,
            "source": _source(customer),
            "system": task.system,
            "action": task.action,
            "due_on": task.due_on.isoformat(),
            "created_at": task.created_at.isoformat(),
            "confirmed_at": task.confirmed_at.isoformat() if task.confirmed_at else None,
            "confirmed_by": task.confirmed_by,
        }
        for task, customer in rows
    ]


def _source(customer: m.Customer) -> str:
    return f"partner: {customer.partner}" if customer.source == "partner" else "register"


@dataclass(frozen=True)
class Confirmed:
    customer_ref: str
    system: str
    action: str
    due_on: date


def confirm(
    factory: sessionmaker[Session],
    systems: Sequence[str],
    ref: str,
    system: str,
    action: str,
    *,
    now: datetime | None = None,
    operator: str | None = None,
    zone: ZoneInfo = LONDON,
) -> Confirmed:
    """Record that the flag of customer ``ref`` was raised or removed in ``system`` (named as
    configured, ignoring case); audited.  A time in a refusal is shown in ``zone``."""
    if action not in (RAISE, REMOVE):
        raise FlagTaskError(f"unknown flag action {action!r} (raise or remove)")
    named = next((s for s in systems if s.casefold() == system.strip().casefold()), None)
    if named is None:
        known = ", ".join(repr(s) for s in systems) or "none are configured"
        raise FlagTaskError(f"no system {system!r} in [flags] systems (the systems are: {known})")
    operator = current_operator(operator)
    done = "raised" if action == RAISE else "removed"
    with factory.begin() as session:
        customer = session.scalars(
            select(m.Customer).where(func.lower(m.Customer.ref) == ref.strip().lower())
        ).first()
        if customer is None or customer.arrangement is None:
            raise FlagTaskError(f"no customer {ref} in the register (see `spocbot register list`)")
        task = session.scalar(
            select(m.FlagTask).where(
                m.FlagTask.arrangement_id == customer.arrangement.id,
                m.FlagTask.system == named,
                m.FlagTask.action == action,
            )
        )
        if task is None:
            raise FlagTaskError(
                f"{customer.ref} has no task to {action} a flag in {named} (see `spocbot flags "
                "list`)"
            )
        if task.confirmed_at is not None:
            raise FlagTaskError(
                f"the {named} flag of {customer.ref} was already confirmed {done}, on "
                f"{task.confirmed_at.astimezone(zone):%Y-%m-%d %H:%M} "
                f"({'UK time' if zone.key == LONDON.key else zone.key}) by {task.confirmed_by}"
            )
        task.confirmed_at = now or datetime.now(UTC)
        task.confirmed_by = operator
        audit(
            session,
            operator,
            f"flags.confirm_{action}",
            f"flag_task:{task.id}",
            customer_ref=customer.ref,
            details=f"flag {done} in {named} (task due {task.due_on})",
            at=task.confirmed_at,
        )
        return Confirmed(customer.ref, named, action, task.due_on)
