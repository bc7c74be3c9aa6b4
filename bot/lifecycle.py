"""An arrangement's lifecycle (policy §4, §5, §6): referral to the DMO, the decision, reviews,
appeals, cover notices, cease and desist, the end, and the lapse of arrangements that end at
their review.

One function per step, each in one transaction.  A step checks that it can be done (if not,
:class:`LifecycleError` says why and what to do instead), updates the arrangement, adds an
:class:`~bot.store.models.ArrangementEvent` to its history and writes the audit log.  The
audit log never holds the restricted reasons (need-to-know, policy §1): only the step, its
dates, its outcome and who decided.

Dates are Europe/London calendar dates.  ``today`` is passed in from the application's clock
and never read here, so that the steps are the same in tests, in the CLI and in the scheduler
(:func:`lapse_due`, called daily).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.audit import audit, current_operator
from bot.errors import DomainError
from bot.flag_tasks import sync_flag_tasks
from bot.partner_entries import PARTNER, refuse_partner
from bot.store import models as m
from mailbox_rules.calendar import (
    REVIEW_MONTHS_MAX,
    REVIEW_MONTHS_MIN,
    add_months,
    appeal_deadline,
    appeal_decision_due,
    review_date_problem,
    working_days_between,
)
from mailbox_rules.register import ArrangementStatus

__all__ = [
    "FLAGS_NOTE",
    "AppealOutcome",
    "DecisionInForce",
    "DecisionKind",
    "EventKind",
    "LifecycleError",
    "ReviewOutcome",
    "StepResult",
    "appeal",
    "appeal_decide",
    "cease_and_desist",
    "check_text",
    "cover_notice",
    "decide",
    "decision_in_force",
    "end",
    "history",
    "lapse_due",
    "refer",
    "review",
]

MAX_TEXT = 4000
"""The longest reasons or notes a step takes (as the register's ``reasons`` column)."""
MAX_CHANGE_REQUIRED = 2000
"""The longest change required (as the register's ``change_required`` column)."""
MAX_NAME = 200
"""The longest ``--by`` name (as the register's officer names)."""

FLAGS_NOTE = "remove its flags in other systems (see `spocbot flags list`)"
"""What to do when an arrangement ends (§6), said by every step that ends one."""
_VARIED_NOTE = (
    "update the restrictions in the register to match (register import) before sending the "
    "{letter} letter: it states the restrictions as the register holds them"
)


class LifecycleError(DomainError):
    """A lifecycle step that cannot be done; the message says why and what to do instead."""


class EventKind(enum.StrEnum):
    """The kinds of step in an arrangement's history."""

    REFERRAL = "referral"
    DECISION = "decision"
    REVIEW = "review"
    APPEAL_RECEIVED = "appeal_received"
    APPEAL_DECIDED = "appeal_decided"
    COVER_NOTICE = "cover_notice"
    CEASE_AND_DESIST = "cease_and_desist"
    END = "end"
    LAPSED = "lapsed"


class ReviewOutcome(enum.StrEnum):
    CONTINUED = "continued"
    VARIED = "varied"
    ENDED = "ended"


class AppealOutcome(enum.StrEnum):
    DISMISSED = "dismissed"  # the decision stands
    VARIED = "varied"  # the restrictions change (in the register)
    UPHELD = "upheld"  # the decision is overturned: the arrangement ends


_IN_FORCE = (ArrangementStatus.ACTIVE.value, ArrangementStatus.CEASE_AND_DESIST.value)
_CEASED = ArrangementStatus.CEASED.value


@dataclass(frozen=True)
class StepResult:
    """What a step recorded, and the dates that follow from it."""

    customer_ref: str
    arrangement_id: int
    event_id: int
    kind: EventKind
    status: str
    """The arrangement's status after the step."""
    recorded: str
    """One sentence: what was recorded."""
    review_date: date | None = None
    """The next review, while the arrangement is in force."""
    appeal_deadline: date | None = None
    """The last day to appeal, when the step is a decision the customer may appeal."""
    decision_due: date | None = None
    """When an appeal must be decided (5 working days after its receipt)."""
    appeal_id: int | None = None
    notes: tuple[str, ...] = ()
    """What the person recording it should know (a deadline counted from the start date, an
    appeal decided late...)."""
    late_working_days: int = 0
    """An appeal decided after it was due: by how many working days."""
    warnings: tuple[str, ...] = ()
    """What was recorded but is probably not all that is needed (a cover notice with no
    absence recorded to route the mail)."""


# -- helpers ------------------------------------------------------------------------------------


def _arrangement(session: Session, ref: str, *, editing: bool = True) -> m.Arrangement:
    """The arrangement of customer ``ref`` (compared ignoring case, as the register does);
    ``editing`` refuses a partner's entry, which is read-only here."""
    found = session.scalars(
        select(m.Arrangement)
        .join(m.Customer)
        .where(func.lower(m.Customer.ref) == ref.strip().lower())
        .options(
            selectinload(m.Arrangement.customer),
            selectinload(m.Arrangement.spoc),
            selectinload(m.Arrangement.cover),
            selectinload(m.Arrangement.events),
            selectinload(m.Arrangement.appeals),
        )
    ).all()
    if not found:
        raise LifecycleError(f"no customer {ref} in the register (see `spocbot register list`)")
    if editing:
        refuse_partner(found[0].customer)
    return found[0]


def _sync_flags(
    session: Session, arrangement: m.Arrangement, systems: Sequence[str] | None, today: date
) -> None:
    """The flag tasks of an arrangement that started or ended (:mod:`bot.flag_tasks`), in
    the step's transaction; ``None``: the caller keeps them in step itself."""
    if systems is not None:
        sync_flag_tasks(session, systems, today, arrangement_ids=[arrangement.id])


def _not_after_today(on: date, today: date, what: str) -> None:
    if on > today:
        raise LifecycleError(
            f"the {what} date {on} is after today ({today}): record a step once it has happened"
        )


def check_text(value: str, what: str, limit: int = MAX_TEXT, *, lines: bool = True) -> str:
    """``value`` stripped, checked as the register import checks its free-text columns: no
    control characters (line breaks only where ``lines``), at most ``limit`` characters.
    :class:`LifecycleError` names ``what`` and the problem (never the text, which may be
    restricted)."""
    text = value.replace("\r\n", "\n").strip()
    for position, char in enumerate(text, start=1):
        if char == "\n" and lines:
            continue
        if not char.isprintable():
            kind = "a line break" if char in "\r\n" else "a control character"
            raise LifecycleError(
                f"{what}: contains {kind} (U+{ord(char):04X}, character {position}); remove it"
            )
    if len(text) > limit:
        raise LifecycleError(f"{what}: longer than {limit} characters ({len(text)})")
    return text


def _text(value: str, what: str, limit: int = MAX_TEXT) -> str:
    return check_text(value, f"the {what}", limit)


def _name(value: str | None, operator: str) -> str:
    """Who decided: ``--by`` (one line, as an officer's name in the register), else the
    operator."""
    if value is None or not value.strip():
        return operator
    return check_text(value, "--by", MAX_NAME, lines=False)


def _end_in_history(arrangement: m.Arrangement) -> bool:
    """Whether a recorded step ended the arrangement (an end, a lapse, a review that ended it,
    an upheld appeal), rather than a register import that gave it as ceased."""
    return any(
        e.kind in (EventKind.END, EventKind.LAPSED)
        or (e.kind == EventKind.REVIEW and e.outcome == ReviewOutcome.ENDED)
        or (e.kind == EventKind.APPEAL_DECIDED and e.outcome == AppealOutcome.UPHELD)
        for e in arrangement.events
    )


def _not_ended(arrangement: m.Arrangement, step: str, instead: str) -> None:
    if arrangement.status == _CEASED:
        ended = f" on {arrangement.ended_on}" if arrangement.ended_on else ""
        raise LifecycleError(
            f"{arrangement.customer.ref}'s arrangement has ended{ended}: cannot {step}; {instead}"
        )


def _event(
    session: Session,
    arrangement: m.Arrangement,
    kind: EventKind,
    on: date,
    operator: str,
    **fields: Any,
) -> m.ArrangementEvent:
    event = m.ArrangementEvent(kind=kind.value, on=on, recorded_by=operator, **fields)
    arrangement.events.append(event)
    session.flush()
    return event


def _audit(
    session: Session,
    operator: str,
    action: str,
    arrangement: m.Arrangement,
    details: Sequence[str],
) -> None:
    audit(
        session,
        operator,
        f"arrangement.{action}",
        f"arrangement:{arrangement.id}",
        customer_ref=arrangement.customer.ref,
        details="; ".join(details),
    )


def _review_date(
    on: date, given: date | None, months: int | None, stored_months: int | None, option: str
) -> date:
    """The next review: as given, or ``months`` (else the arrangement's review_months) after
    ``on``; it must fall 3 to 12 months after ``on``."""
    if given is not None and months is not None:
        raise LifecycleError(f"give {option} or --review-months, not both")
    if months is not None and not REVIEW_MONTHS_MIN <= months <= REVIEW_MONTHS_MAX:
        raise LifecycleError(
            f"--review-months {months}: reviews are every {REVIEW_MONTHS_MIN} to "
            f"{REVIEW_MONTHS_MAX} months"
        )
    if given is None:
        months = months if months is not None else stored_months
        if months is None:
            raise LifecycleError(
                f"give {option} or --review-months (the arrangement has no review_months "
                "in the register)"
            )
        given = add_months(on, months)
    problem = review_date_problem(on, given)
    if problem:
        raise LifecycleError(problem)
    return given


def _result(
    arrangement: m.Arrangement,
    event: m.ArrangementEvent,
    recorded: str,
    **fields: Any,
) -> StepResult:
    in_force = arrangement.status in _IN_FORCE
    return StepResult(
        customer_ref=arrangement.customer.ref,
        arrangement_id=arrangement.id,
        event_id=event.id,
        kind=EventKind(event.kind),
        status=arrangement.status,
        recorded=recorded,
        review_date=fields.pop("review_date", arrangement.review_date if in_force else None),
        **fields,
    )


def _open_appeal(arrangement: m.Arrangement) -> m.Appeal | None:
    return next((a for a in arrangement.appeals if a.status == "open"), None)


# -- the decision in force --------------------------------------------------------------------


class DecisionKind(enum.StrEnum):
    """What made the decision in force."""

    DECISION = "decision"  # the decision on the referral (decided_on)
    REVIEW = "review"  # a review that continued or varied the arrangement
    CEASE_AND_DESIST = "cease_and_desist"  # a cease and desist decision (§5)
    APPEAL = "appeal"  # an appeal decided dismissed or varied: the last internal stage
    START = "start"  # nothing recorded: an imported arrangement, counted from its start


_DECISION_WORDS = {
    DecisionKind.DECISION: "decision",
    DecisionKind.REVIEW: "review",
    DecisionKind.CEASE_AND_DESIST: "cease and desist decision",
    DecisionKind.APPEAL: "appeal decision",
    DecisionKind.START: "start",
}


@dataclass(frozen=True)
class DecisionInForce:
    """The latest decision about an arrangement, and whether (until when) it may be
    appealed.  See :func:`decision_in_force`."""

    kind: DecisionKind
    on: date
    event_id: int | None = None
    """The step that made it (None: the register's ``decided_on``, or the start date)."""
    outcome: str = ""
    """A review's or an appeal's outcome."""

    @property
    def appealable(self) -> bool:
        """An appeal's outcome is the last internal stage: it is not appealed again (the
        customer may go to the complaints procedure or the Housing Ombudsman)."""
        return self.kind is not DecisionKind.APPEAL

    @property
    def deadline(self) -> date | None:
        """The last day an appeal against it is in time (28 days); None if not appealable."""
        return appeal_deadline(self.on) if self.appealable else None

    @property
    def counted_from_start(self) -> bool:
        """No decision is recorded: the period is counted from the start date."""
        return self.kind is DecisionKind.START

    @property
    def words(self) -> str:
        """``the review of 2027-01-10 (continued)``, for messages."""
        outcome = f" ({self.outcome})" if self.outcome else ""
        return f"the {_DECISION_WORDS[self.kind]} of {self.on}{outcome}"


_DECISION_EVENTS: dict[tuple[str, str], DecisionKind] = {
    (EventKind.DECISION, "agreed"): DecisionKind.DECISION,
    (EventKind.REVIEW, ReviewOutcome.CONTINUED): DecisionKind.REVIEW,
    (EventKind.REVIEW, ReviewOutcome.VARIED): DecisionKind.REVIEW,
    (EventKind.APPEAL_DECIDED, AppealOutcome.DISMISSED): DecisionKind.APPEAL,
    (EventKind.APPEAL_DECIDED, AppealOutcome.VARIED): DecisionKind.APPEAL,
}


def decision_in_force(arrangement: m.Arrangement) -> DecisionInForce:
    """The decision in force about ``arrangement`` (with its ``events`` loaded): the latest
    of the decision (the register's ``decided_on``, or a decision recorded), a review that
    continued or varied it, a cease and desist (§5, a decision of its own), and an appeal
    decided dismissed or varied; with nothing recorded, its start date.

    The one source of truth for the appeal window: ``arrangement appeal`` and every letter
    that offers an appeal use it, so no letter offers a date that ``arrangement appeal``
    refuses.  Steps on the same day are taken in the order recorded; the register's
    ``decided_on`` counts only when no step of that day made it.
    """
    found: list[tuple[date, int, DecisionInForce]] = []
    for event in arrangement.events:
        kind = (
            DecisionKind.CEASE_AND_DESIST
            if event.kind == EventKind.CEASE_AND_DESIST
            else _DECISION_EVENTS.get((event.kind, event.outcome))
        )
        if kind is not None:
            outcome = event.outcome if kind in (DecisionKind.REVIEW, DecisionKind.APPEAL) else ""
            found.append(
                (event.on, event.id or 0, DecisionInForce(kind, event.on, event.id, outcome))
            )
    decided_on = arrangement.decided_on
    if decided_on is not None and not any(
        on == decided_on and d.kind in (DecisionKind.DECISION, DecisionKind.REVIEW)
        for on, _, d in found
    ):
        found.append((decided_on, -1, DecisionInForce(DecisionKind.DECISION, decided_on)))
    if not found:
        return DecisionInForce(DecisionKind.START, arrangement.start_date)
    return max(found, key=lambda item: (item[0], item[1]))[2]


def _not_before_decision(arrangement: m.Arrangement, on: date, step: str) -> None:
    decision = decision_in_force(arrangement)
    if not decision.counted_from_start and on < decision.on:
        raise LifecycleError(
            f"the {step} date {on} is before the decision in force ({decision.words})"
        )


# -- the steps ----------------------------------------------------------------------------------


def refer(
    factory: sessionmaker[Session],
    ref: str,
    *,
    on: date,
    today: date,
    by: str | None = None,
    notes: str = "",
    operator: str | None = None,
) -> StepResult:
    """Record the referral form's arrival at the DMO (the formal stage, §4): a decision
    follows."""
    operator = current_operator(operator)
    _not_after_today(on, today, "referral")
    with factory.begin() as session:
        arrangement = _arrangement(session, ref)
        by = _name(by, operator)
        event = _event(
            session,
            arrangement,
            EventKind.REFERRAL,
            on,
            operator,
            decided_by=by,
            notes=_text(notes, "notes"),
        )
        _audit(session, operator, "refer", arrangement, [f"referred on {on} by {by}"])
        return _result(arrangement, event, f"referral to the DMO on {on} by {by}")


def decide(
    factory: sessionmaker[Session],
    ref: str,
    *,
    agreed: bool,
    on: date,
    today: date,
    reasons: str = "",
    change_required: str = "",
    review_date: date | None = None,
    review_months: int | None = None,
    start: date | None = None,
    by: str | None = None,
    notes: str = "",
    operator: str | None = None,
    flag_systems: Sequence[str] | None = None,
) -> StepResult:
    """Record the decision on a referral.  Agreed: the arrangement is in force (status
    ``active``) from ``start`` (default: the decision date), with its reasons (required;
    restricted), the change required of the customer and a review date 3 to 12 months after
    the decision (given, or ``review_months`` after it).  Not agreed: nothing is restricted
    and the status stays as it is.  An arrangement already in force is reviewed instead."""
    operator = current_operator(operator)
    _not_after_today(on, today, "decision")
    reasons = _text(reasons, "reasons")
    change_required = _text(change_required, "change required", MAX_CHANGE_REQUIRED)
    with factory.begin() as session:
        arrangement = _arrangement(session, ref)
        if arrangement.status in _IN_FORCE:
            since = f", decided on {arrangement.decided_on}" if arrangement.decided_on else ""
            raise LifecycleError(
                f"{arrangement.customer.ref}'s arrangement is already in force (status "
                f"{arrangement.status}{since}): record a review instead "
                "(`spocbot arrangement review`)"
            )
        by = _name(by, operator)
        if not agreed:
            event = _event(
                session,
                arrangement,
                EventKind.DECISION,
                on,
                operator,
                outcome="not_agreed",
                decided_by=by,
                reasons=reasons,
                notes=_text(notes, "notes"),
            )
            _audit(session, operator, "decide", arrangement, [f"not agreed on {on} by {by}"])
            return _result(
                arrangement,
                event,
                f"decision on {on} by {by}: not agreed; nothing is restricted (status stays "
                f"{arrangement.status})",
            )
        if not reasons:
            raise LifecycleError(
                "give the reasons for the decision (--reasons or --reasons-file): the decision "
                "letter must state them"
            )
        next_review = _review_date(
            on, review_date, review_months, arrangement.review_months, "--review-date"
        )
        start = start or on
        if start < on:
            raise LifecycleError(
                f"the start date {start} is before the decision of {on}: an arrangement cannot "
                "restrict mail sent before it was decided"
            )
        if start > next_review:
            raise LifecycleError(f"the start date {start} is after the review date {next_review}")
        arrangement.status = ArrangementStatus.ACTIVE.value
        arrangement.decided_on = on
        arrangement.start_date = start
        arrangement.review_date = next_review
        arrangement.reasons = reasons
        if change_required:
            arrangement.change_required = change_required
        if review_months is not None:
            arrangement.review_months = review_months
        arrangement.ended_on = None
        event = _event(
            session,
            arrangement,
            EventKind.DECISION,
            on,
            operator,
            outcome="agreed",
            decided_by=by,
            next_review=next_review,
            reasons=reasons,
            notes=_text(notes, "notes"),
        )
        _audit(
            session,
            operator,
            "decide",
            arrangement,
            [f"agreed on {on} by {by}", f"starts {start}", f"review {next_review}"],
        )
        _sync_flags(session, arrangement, flag_systems, today)
        notes_out: tuple[str, ...] = ()
        if not arrangement.change_required:
            notes_out = ("no change required is recorded: the decision letter needs it",)
        return _result(
            arrangement,
            event,
            f"decision on {on} by {by}: agreed; in force from {start}",
            appeal_deadline=appeal_deadline(on),
            notes=notes_out,
        )


def review(
    factory: sessionmaker[Session],
    ref: str,
    *,
    outcome: ReviewOutcome,
    on: date,
    today: date,
    next_review: date | None = None,
    reasons: str = "",
    by: str | None = None,
    notes: str = "",
    operator: str | None = None,
    flag_systems: Sequence[str] | None = None,
) -> StepResult:
    """Record a review of an arrangement in force.  Continued or varied: the next review
    (given, or the arrangement's review_months after the review) must fall 3 to 12 months
    after it, and the review is the decision in force (it can be appealed).  Ended: the
    arrangement ends on the review date."""
    operator = current_operator(operator)
    _not_after_today(on, today, "review")
    reasons = _text(reasons, "reasons")
    with factory.begin() as session:
        arrangement = _arrangement(session, ref)
        _not_ended(arrangement, "review it", "a new arrangement starts with `arrangement decide`")
        if arrangement.status not in _IN_FORCE:
            raise LifecycleError(
                f"{arrangement.customer.ref} is at the {arrangement.status} stage: no arrangement "
                "is in force to review; record the decision on the referral with "
                "`spocbot arrangement decide`"
            )
        _not_before_decision(arrangement, on, "review")
        pending = _open_appeal(arrangement)
        if pending is not None:
            raise LifecycleError(
                f"{arrangement.customer.ref} has an open appeal (received {pending.received_on}, "
                f"decision due {pending.decision_due}) against the decision in force: decide it "
                "first with `spocbot arrangement appeal-decide`, then record the review"
            )
        by = _name(by, operator)
        ended = outcome is ReviewOutcome.ENDED
        if ended:
            if next_review is not None:
                raise LifecycleError("an arrangement ended at review has no next review date")
            arrangement.status = _CEASED
            arrangement.ended_on = on
        else:
            next_review = _review_date(
                on, next_review, None, arrangement.review_months, "--next-review"
            )
            arrangement.review_date = next_review
            arrangement.decided_on = on
            if reasons:
                arrangement.reasons = reasons
        event = _event(
            session,
            arrangement,
            EventKind.REVIEW,
            on,
            operator,
            outcome=outcome.value,
            decided_by=by,
            next_review=next_review,
            reasons=reasons,
            notes=_text(notes, "notes"),
        )
        details = [f"{outcome.value} on {on} by {by}"]
        details += [f"next review {next_review}"] if next_review else []
        _audit(session, operator, "review", arrangement, details)
        _sync_flags(session, arrangement, flag_systems, today)
        recorded = f"review on {on} by {by}: {outcome.value}"
        notes_out: tuple[str, ...] = ()
        if ended:
            notes_out = (f"the arrangement has ended: {FLAGS_NOTE}",)
        elif outcome is ReviewOutcome.VARIED:
            notes_out = (_VARIED_NOTE.format(letter="review-outcome"),)
        return _result(
            arrangement,
            event,
            recorded + ("; the arrangement has ended" if ended else ""),
            appeal_deadline=None if ended else decision_in_force(arrangement).deadline,
            notes=notes_out,
        )


def appeal(
    factory: sessionmaker[Session],
    ref: str,
    *,
    received: date,
    today: date,
    late: bool = False,
    late_reason: str = "",
    notes: str = "",
    operator: str | None = None,
) -> StepResult:
    """Record an appeal against the decision in force, received on ``received``.

    The decision in force is :func:`decision_in_force`'s (the decision, a review, a cease and
    desist; for an arrangement imported with no decision recorded, its start date, and the
    result says so); after an appeal's outcome there is no further appeal.  It is in time
    until 28 days after that decision; a later one is refused unless ``late`` with a reason.
    One appeal is open at a time; it is due to be decided 5 working days after receipt."""
    operator = current_operator(operator)
    _not_after_today(received, today, "received")
    late_reason = _text(late_reason, "reason for accepting it late")
    with factory.begin() as session:
        arrangement = _arrangement(session, ref)
        customer = arrangement.customer.ref
        _not_ended(arrangement, "appeal against it", "there is no decision in force")
        if arrangement.status not in _IN_FORCE:
            raise LifecycleError(
                f"{customer} is at the {arrangement.status} stage: there is no decision in "
                "force to appeal against"
            )
        already = _open_appeal(arrangement)
        if already is not None:
            raise LifecycleError(
                f"appeal {already.id} received on {already.received_on} is still open (decision "
                f"due {already.decision_due}): decide it first with "
                "`spocbot arrangement appeal-decide`"
            )
        notes_out: list[str] = []
        decision = decision_in_force(arrangement)
        if decision.deadline is None:
            raise LifecycleError(
                f"{customer}'s decision in force is {decision.words}: an appeal's outcome is "
                "the last internal stage and is not appealed again; the customer may use the "
                "complaints procedure, then the Housing Ombudsman"
            )
        decision_on, deadline = decision.on, decision.deadline
        if decision.counted_from_start:
            notes_out.append(
                f"no decision is recorded for {customer}: the 28 days are counted from its "
                f"start date ({decision_on})"
            )
        if received < decision_on:
            raise LifecycleError(
                f"the appeal was received on {received}, before {decision.words} it appeals against"
            )
        if received > deadline:
            if not late:
                raise LifecycleError(
                    f"the appeal was received on {received}, after the deadline of {deadline} "
                    f"(28 days after {decision.words}); to accept it all the same, "
                    "give --late with --reason TEXT"
                )
            if not late_reason:
                raise LifecycleError("give --reason TEXT: why the late appeal is accepted")
            notes_out.append(f"accepted late: received {(received - deadline).days} day(s) late")
        elif late:
            late = False
            notes_out.append(f"it is in time (deadline {deadline}): not recorded as late")
        due = appeal_decision_due(received)
        record = m.Appeal(
            against_event_id=decision.event_id,
            decision_on=decision_on,
            received_on=received,
            deadline=deadline,
            decision_due=due,
            late=late,
            late_reason=late_reason if late else "",
        )
        arrangement.appeals.append(record)
        session.flush()
        event = _event(
            session,
            arrangement,
            EventKind.APPEAL_RECEIVED,
            received,
            operator,
            notes=_text(notes, "notes"),
        )
        details = [f"appeal {record.id} received {received}", f"decision due {due}"]
        details += ["accepted late"] if late else []
        _audit(session, operator, "appeal", arrangement, details)
        return _result(
            arrangement,
            event,
            f"appeal {record.id} received on {received} against {decision.words}",
            appeal_deadline=deadline,
            decision_due=due,
            appeal_id=record.id,
            notes=tuple(notes_out),
        )


def appeal_decide(
    factory: sessionmaker[Session],
    ref: str,
    *,
    outcome: AppealOutcome,
    on: date,
    today: date,
    by: str | None = None,
    notes: str = "",
    operator: str | None = None,
    flag_systems: Sequence[str] | None = None,
) -> StepResult:
    """Record the decision on the open appeal.  Dismissed: the decision stands.  Varied: the
    restrictions change (import them into the register).  Upheld: the decision is overturned
    and the arrangement ends.  A decision after the due date is recorded, with how many
    working days late it is."""
    operator = current_operator(operator)
    _not_after_today(on, today, "appeal decision")
    with factory.begin() as session:
        arrangement = _arrangement(session, ref)
        record = _open_appeal(arrangement)
        if record is None:
            raise LifecycleError(
                f"{arrangement.customer.ref} has no open appeal (record one with "
                "`spocbot arrangement appeal`)"
            )
        if on < record.received_on:
            raise LifecycleError(
                f"the decision date {on} is before the appeal was received ({record.received_on})"
            )
        by = _name(by, operator)
        late_days = working_days_between(record.decision_due, on) if on > record.decision_due else 0
        record.status = "decided"
        record.outcome = outcome.value
        record.decided_on = on
        record.decided_by = by
        notes_out: list[str] = []
        if late_days:
            notes_out.append(
                f"decided {late_days} working day(s) after it was due ({record.decision_due})"
            )
        if outcome is AppealOutcome.UPHELD:
            arrangement.status = _CEASED
            arrangement.ended_on = on
            notes_out.append(f"the arrangement has ended: {FLAGS_NOTE}")
        elif outcome is AppealOutcome.VARIED:
            notes_out.append(_VARIED_NOTE.format(letter="appeal-outcome"))
        event = _event(
            session,
            arrangement,
            EventKind.APPEAL_DECIDED,
            on,
            operator,
            outcome=outcome.value,
            decided_by=by,
            notes=_text(notes, "notes"),
        )
        details = [f"appeal {record.id} {outcome.value} on {on} by {by}"]
        details += [f"{late_days} working day(s) late"] if late_days else []
        _audit(session, operator, "appeal_decide", arrangement, details)
        _sync_flags(session, arrangement, flag_systems, today)
        effect = {
            AppealOutcome.DISMISSED: "the decision stands",
            AppealOutcome.VARIED: "the decision is varied",
            AppealOutcome.UPHELD: "the decision is overturned and the arrangement has ended",
        }[outcome]
        return _result(
            arrangement,
            event,
            f"appeal {record.id} decided on {on} by {by}: {outcome.value} ({effect})",
            decision_due=record.decision_due,
            appeal_id=record.id,
            notes=tuple(notes_out),
            late_working_days=late_days,
        )


def cover_notice(
    factory: sessionmaker[Session],
    ref: str,
    *,
    starts_on: date,
    ends_on: date,
    cover_email: str | None = None,
    notes: str = "",
    operator: str | None = None,
) -> StepResult:
    """Record that the customer was told of a temporary change of contact (§4.1, §6): the
    cover officer (default: the arrangement's) acts from ``starts_on`` to ``ends_on``,
    inclusive.  Routing follows the SPOC's recorded absences (`officer absence add`): a notice
    for days with no absence recorded is recorded with a warning saying so."""
    operator = current_operator(operator)
    if ends_on < starts_on:
        raise LifecycleError(f"--to {ends_on} is before --from {starts_on}")
    with factory.begin() as session:
        arrangement = _arrangement(session, ref)
        customer = arrangement.customer.ref
        _not_ended(arrangement, "give a cover notice", "there is no contact to cover")
        if cover_email is not None:
            officer = session.scalar(
                select(m.Officer).where(m.Officer.email == cover_email.strip().lower())
            )
            if officer is None:
                raise LifecycleError(
                    f"no officer with email {cover_email} in the register (officers come from "
                    "the spoc_email and cover_email columns of an import)"
                )
        elif arrangement.cover is None:
            raise LifecycleError(
                f"{customer} has no cover officer: give one with --cover EMAIL, or add "
                "cover_name and cover_email to the register"
            )
        else:
            officer = arrangement.cover
        if officer.id == arrangement.spoc_id:
            raise LifecycleError(f"{officer.email} is {customer}'s SPOC, not a cover officer")
        event = _event(
            session,
            arrangement,
            EventKind.COVER_NOTICE,
            starts_on,
            operator,
            until=ends_on,
            officer=officer,
            notes=_text(notes, "notes"),
        )
        _audit(
            session,
            operator,
            "cover_notice",
            arrangement,
            [f"cover by {officer.email} from {starts_on} to {ends_on}"],
        )
        notices: list[str] = []
        if not _absent_throughout(session, arrangement.spoc_id, starts_on, ends_on):
            notices.append(
                f"{arrangement.spoc.email} (the SPOC) has no absence recorded for every day from "
                f"{starts_on} to {ends_on}: mail is routed by `spocbot officer absence add`; "
                "record the absence too"
            )
        if arrangement.cover is None or officer.id != arrangement.cover_id:
            routed = arrangement.cover.email if arrangement.cover else "the DMO"
            notices.append(
                f"mail the customer sends while the SPOC is away is routed to {routed} (the "
                f"register's cover officer), not {officer.email}: change cover_email in the "
                "register if they should receive it"
            )
        if _absent_on_any_day(session, officer.id, starts_on, ends_on):
            notices.append(
                f"{officer.email} has an absence recorded within {starts_on} to {ends_on}: on "
                "those days mail goes to the DMO, not to them"
            )
        warnings = tuple(notices)
        return _result(
            arrangement,
            event,
            f"cover notice: {officer.name} <{officer.email}> deals with the customer's contact "
            f"from {starts_on} to {ends_on}",
            warnings=warnings,
        )


def _absent_on_any_day(session: Session, officer_id: int, first: date, last: date) -> bool:
    """Whether any recorded absence of the officer falls within ``first`` to ``last``."""
    return (
        session.scalar(
            select(m.OfficerAbsence.id).where(
                m.OfficerAbsence.officer_id == officer_id,
                m.OfficerAbsence.starts_on <= last,
                m.OfficerAbsence.ends_on >= first,
            )
        )
        is not None
    )


def _absent_throughout(session: Session, officer_id: int, first: date, last: date) -> bool:
    """Whether the officer's recorded absences cover every day from ``first`` to ``last``."""
    absences = session.scalars(
        select(m.OfficerAbsence)
        .where(
            m.OfficerAbsence.officer_id == officer_id,
            m.OfficerAbsence.starts_on <= last,
            m.OfficerAbsence.ends_on >= first,
        )
        .order_by(m.OfficerAbsence.starts_on)
    )
    covered_to = first - timedelta(days=1)
    for absence in absences:
        if absence.starts_on > covered_to + timedelta(days=1):
            return False
        covered_to = max(covered_to, absence.ends_on)
        if covered_to >= last:
            return True
    return covered_to >= last


def cease_and_desist(
    factory: sessionmaker[Session],
    ref: str,
    *,
    on: date,
    today: date,
    reasons: str,
    by: str | None = None,
    notes: str = "",
    operator: str | None = None,
) -> StepResult:
    """Record a cease and desist decision (§5) on an active arrangement whose restrictions
    were overridden: from now on every message is acknowledged but not answered.  It is a
    decision the customer may appeal within 28 days (:func:`decision_in_force`), with its own
    reasons (on its event; the arrangement's reasons stay those of the decision)."""
    operator = current_operator(operator)
    _not_after_today(on, today, "cease and desist")
    reasons = _text(reasons, "reasons")
    if not reasons:
        raise LifecycleError("give the reasons for the cease and desist (--reasons)")
    with factory.begin() as session:
        arrangement = _arrangement(session, ref)
        customer = arrangement.customer.ref
        _not_ended(arrangement, "cease and desist", "a new arrangement starts with a decision")
        if arrangement.status != ArrangementStatus.ACTIVE.value:
            raise LifecycleError(
                f"{customer}'s arrangement is {arrangement.status}, not active: cease and desist "
                "follows restrictions that were overridden"
            )
        _not_before_decision(arrangement, on, "cease and desist")
        by = _name(by, operator)
        # Not decided_on: that is the decision the register's review date is counted from;
        # decision_in_force reads this step from its event.
        arrangement.status = ArrangementStatus.CEASE_AND_DESIST.value
        event = _event(
            session,
            arrangement,
            EventKind.CEASE_AND_DESIST,
            on,
            operator,
            decided_by=by,
            reasons=reasons,
            notes=_text(notes, "notes"),
        )
        _audit(session, operator, "cease_and_desist", arrangement, [f"on {on} by {by}"])
        return _result(
            arrangement,
            event,
            f"cease and desist from {on}, decided by {by}",
            appeal_deadline=decision_in_force(arrangement).deadline,
        )


def end(
    factory: sessionmaker[Session],
    ref: str,
    *,
    on: date,
    today: date,
    by: str | None = None,
    notes: str = "",
    operator: str | None = None,
    flag_systems: Sequence[str] | None = None,
) -> StepResult:
    """End an arrangement on ``on`` (status ``ceased``): it restricts nothing from then, and
    its system flags must be removed (§6).  An arrangement already ``ceased`` with no end
    recorded (``ended_on``; ceased by a register import) has its end recorded; only a
    recorded end refuses a second one."""
    operator = current_operator(operator)
    _not_after_today(on, today, "end")
    with factory.begin() as session:
        arrangement = _arrangement(session, ref)
        recorded = _end_in_history(arrangement)
        if arrangement.ended_on is not None and recorded:
            _not_ended(arrangement, "end it again", "see `spocbot arrangement history`")
        # Ceased in the register: no end recorded, or only the import day (register import)
        unrecorded = arrangement.status == _CEASED and not recorded
        if on < arrangement.start_date and (unrecorded or arrangement.status in _IN_FORCE):
            raise LifecycleError(
                f"the end date {on} is before the arrangement started ({arrangement.start_date})"
            )
        by = _name(by, operator)
        arrangement.status = _CEASED
        arrangement.ended_on = on
        event = _event(
            session,
            arrangement,
            EventKind.END,
            on,
            operator,
            decided_by=by,
            notes=_text(notes, "notes"),
        )
        _audit(session, operator, "end", arrangement, [f"ended on {on} by {by}"])
        _sync_flags(session, arrangement, flag_systems, today)
        still_open = _open_appeal(arrangement)
        notes_out: list[str] = []
        if unrecorded:
            notes_out.append(
                "it was already ceased in the register with no end recorded: the end is now "
                "recorded"
            )
        if still_open:
            notes_out.append(
                f"appeal {still_open.id} is still open (decision due {still_open.decision_due})"
            )
        return _result(
            arrangement,
            event,
            f"arrangement ended on {on} by {by}; {FLAGS_NOTE}",
            notes=tuple(notes_out),
        )


def lapse_due(
    factory: sessionmaker[Session], today: date, operator: str = "spocbot"
) -> list[StepResult]:
    """End every arrangement that lapses at review and whose review date has come (event
    ``lapsed``, on the review date), each in its own transaction; a second call the same day
    finds nothing to do.  For the daily scheduler."""
    with factory() as session:
        due = session.scalars(
            select(m.Arrangement.id)
            .where(
                m.Arrangement.lapse_at_review.is_(True),
                m.Arrangement.status != _CEASED,
                # A partner's arrangement is theirs to end (share import), never lapsed here.
                m.Arrangement.customer.has(m.Customer.source != PARTNER),
                m.Arrangement.review_date <= today,
            )
            .order_by(m.Arrangement.id)
        ).all()
    results = []
    for arrangement_id in due:
        with factory.begin() as session:
            arrangement = session.get(m.Arrangement, arrangement_id)
            if (
                arrangement is None
                or arrangement.status == _CEASED
                or not arrangement.lapse_at_review
                or arrangement.review_date > today
            ):
                continue  # changed since the query (a review, an end, an import)
            on = arrangement.review_date
            arrangement.status = _CEASED
            arrangement.ended_on = on
            event = _event(session, arrangement, EventKind.LAPSED, on, operator)
            _audit(session, operator, "lapse", arrangement, [f"lapsed at its review on {on}"])
            results.append(_result(arrangement, event, f"arrangement lapsed at its review on {on}"))
    return results


def history(
    factory: sessionmaker[Session],
    ref: str,
    *,
    include_reasons: bool = False,
    operator: str | None = None,
) -> dict[str, Any]:
    """The arrangement's steps and appeals, oldest first.  The restricted reasons (of each
    step, of the arrangement, and why a late appeal was accepted) and support needs are shown
    only with ``include_reasons`` (need-to-know), and such a look is audited."""
    with factory.begin() as session:
        arrangement = _arrangement(session, ref, editing=False)
        events = []
        for e in arrangement.events:
            row: dict[str, Any] = {
                "id": e.id,
                "kind": e.kind,
                "on": e.on.isoformat(),
                "outcome": e.outcome or None,
                "decided_by": e.decided_by or None,
                "next_review": e.next_review.isoformat() if e.next_review else None,
                "until": e.until.isoformat() if e.until else None,
                "officer": f"{e.officer.name} <{e.officer.email}>" if e.officer else None,
                "notes": e.notes or None,
                "recorded_by": e.recorded_by,
                "recorded_at": e.recorded_at.isoformat(),
            }
            if include_reasons:
                row["reasons"] = e.reasons or None
            events.append(row)
        appeals = []
        for a in arrangement.appeals:
            appeal_row: dict[str, Any] = {
                "id": a.id,
                "decision_on": a.decision_on.isoformat(),
                "received_on": a.received_on.isoformat(),
                "deadline": a.deadline.isoformat(),
                "decision_due": a.decision_due.isoformat(),
                "late": a.late,
                "status": a.status,
                "outcome": a.outcome or None,
                "decided_on": a.decided_on.isoformat() if a.decided_on else None,
                "decided_by": a.decided_by or None,
            }
            if include_reasons:  # why a late appeal was accepted is restricted like reasons
                appeal_row["late_reason"] = a.late_reason or None
            appeals.append(appeal_row)
        result: dict[str, Any] = {
            "customer_ref": arrangement.customer.ref,
            "status": arrangement.status,
            "start_date": arrangement.start_date.isoformat(),
            "review_date": arrangement.review_date.isoformat(),
            "decided_on": arrangement.decided_on.isoformat() if arrangement.decided_on else None,
            "ended_on": arrangement.ended_on.isoformat() if arrangement.ended_on else None,
            "lapse_at_review": arrangement.lapse_at_review,
            "events": events,
            "appeals": appeals,
        }
        if include_reasons:
            result["reasons"] = arrangement.reasons or None
            result["support_needs"] = arrangement.support_needs or None
            operator = current_operator(operator)
            _audit(session, operator, "history.restricted", arrangement, ["with reasons"])
        return result
