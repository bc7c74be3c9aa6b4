"""The ``spocbot`` commands for an arrangement's lifecycle: decisions, reviews, appeals, ends.

Each command calls one step of :mod:`bot.lifecycle`, prints what was recorded and the dates
that follow (review date, appeal deadline, decision due, with their weekdays), and turns a
refused step into its message and exit status 1.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from bot import lifecycle
from bot.cli import _OPERATOR, _Context, _errors, _iso_date, _print_table
from mailbox_rules.calendar import long_date

_REF = click.argument("ref", metavar="REF")
_ON = click.option(
    "--on",
    "on",
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="The date of the step (default: today, in the organisation's time zone).",
)
_BY = click.option("--by", metavar="NAME", help="Who decided (default: the operator).")
_NOTES = click.option("--notes", default="", metavar="TEXT", help="Factual notes for the record.")


def _day(day: date) -> str:
    """A date with its weekday, as a person checks a deadline: ``Tuesday 29 December 2026``."""
    return f"{day:%A} {long_date(day)} ({day.isoformat()})"


def _print_result(result: lifecycle.StepResult) -> None:
    click.echo(f"Recorded for {result.customer_ref}: {result.recorded}.")
    click.echo(f"  status: {result.status}")
    for label, day in (
        ("review date", result.review_date),
        ("appeal deadline", result.appeal_deadline),
        ("appeal decision due", result.decision_due),
    ):
        if day is not None:
            click.echo(f"  {label}: {_day(day)}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)


def _reasons(text: str | None, file: Path | None) -> str:
    if text is not None and file is not None:
        raise click.UsageError("give --reasons or --reasons-file, not both")
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"cannot read {file}: {exc}") from None
    return text or ""


@click.group("arrangement")
def arrangement() -> None:
    """An arrangement's lifecycle: referral, decision, reviews, appeals, cover notices, cease
    and desist, end, and its history.

    Dates are calendar dates in the organisation's time zone; each step is audited (never
    with its reasons, which are need-to-know).
    """


@arrangement.command("refer")
@_REF
@_ON
@_BY
@_NOTES
@_OPERATOR
@click.pass_obj
def refer(
    obj: _Context,
    ref: str,
    on: date | None,
    by: str | None,
    notes: str,
    operator: str | None,
) -> None:
    """Record that customer REF was referred to the DMO (the formal stage); a decision follows."""
    with _errors():
        today = obj.app.today()
        result = lifecycle.refer(
            obj.app.factory, ref, on=on or today, today=today, by=by, notes=notes, operator=operator
        )
    _print_result(result)


@arrangement.command("decide")
@_REF
@click.option("--agreed/--not-agreed", required=True, help="The decision on the referral.")
@click.option(
    "--reasons", metavar="TEXT", help="Why (restricted: need-to-know). Required if agreed."
)
@click.option(
    "--reasons-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the reasons from a UTF-8 text file.",
)
@click.option(
    "--change-required", default="", metavar="TEXT", help="What the customer must change."
)
@click.option(
    "--review-date",
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="The review date: 3 to 12 months after the decision.",
)
@click.option(
    "--review-months",
    type=int,
    metavar="N",
    help="Review N months (3 to 12) after the decision (default: the register's review_months).",
)
@click.option(
    "--start",
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="When the restrictions start (default: the decision date).",
)
@_BY
@_ON
@_NOTES
@_OPERATOR
@click.pass_obj
def decide(
    obj: _Context,
    ref: str,
    agreed: bool,
    reasons: str | None,
    reasons_file: Path | None,
    change_required: str,
    review_date: date | None,
    review_months: int | None,
    start: date | None,
    by: str | None,
    on: date | None,
    notes: str,
    operator: str | None,
) -> None:
    """Record the decision on REF's referral. Agreed: the arrangement is in force (active)
    from --start, with its reasons, the change required and a review date.

    An arrangement already in force is refused: record a review instead.
    """
    text = _reasons(reasons, reasons_file)
    with _errors():
        today = obj.app.today()
        result = lifecycle.decide(
            obj.app.factory,
            ref,
            agreed=agreed,
            on=on or today,
            today=today,
            reasons=text,
            change_required=change_required,
            review_date=review_date,
            review_months=review_months,
            start=start,
            by=by,
            notes=notes,
            operator=operator,
            flag_systems=obj.app.settings.flags.systems,
        )
    _print_result(result)


@arrangement.command("review")
@_REF
@click.option(
    "--outcome",
    required=True,
    type=click.Choice([o.value for o in lifecycle.ReviewOutcome]),
    help="continued, varied or ended.",
)
@click.option(
    "--next-review",
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="The next review (continued/varied): 3 to 12 months after this one "
    "(default: the register's review_months after it).",
)
@click.option("--reasons", default="", metavar="TEXT", help="Why (restricted), if they changed.")
@_ON
@_BY
@_NOTES
@_OPERATOR
@click.pass_obj
def review(
    obj: _Context,
    ref: str,
    outcome: str,
    next_review: date | None,
    reasons: str,
    on: date | None,
    by: str | None,
    notes: str,
    operator: str | None,
) -> None:
    """Record a review of REF's arrangement: continued or varied (with the next review, and
    a new 28 days to appeal), or ended."""
    with _errors():
        today = obj.app.today()
        result = lifecycle.review(
            obj.app.factory,
            ref,
            outcome=lifecycle.ReviewOutcome(outcome),
            on=on or today,
            today=today,
            next_review=next_review,
            reasons=reasons,
            by=by,
            notes=notes,
            operator=operator,
            flag_systems=obj.app.settings.flags.systems,
        )
    _print_result(result)


@arrangement.command("appeal")
@_REF
@click.option(
    "--received",
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="When the appeal was received (default: today).",
)
@click.option("--late", is_flag=True, help="Accept an appeal received after the 28 days.")
@click.option("--reason", default="", metavar="TEXT", help="Why a late appeal is accepted.")
@_NOTES
@_OPERATOR
@click.pass_obj
def appeal(
    obj: _Context,
    ref: str,
    received: date | None,
    late: bool,
    reason: str,
    notes: str,
    operator: str | None,
) -> None:
    """Record REF's appeal against the decision in force: in time within 28 days of it,
    decided within 5 working days of receipt (England and Wales)."""
    with _errors():
        today = obj.app.today()
        result = lifecycle.appeal(
            obj.app.factory,
            ref,
            received=received or today,
            today=today,
            late=late,
            late_reason=reason,
            notes=notes,
            operator=operator,
        )
    _print_result(result)


@arrangement.command("appeal-decide")
@_REF
@click.option(
    "--outcome",
    required=True,
    type=click.Choice([o.value for o in lifecycle.AppealOutcome]),
    help="dismissed (the decision stands), varied, or upheld (overturned: the arrangement ends).",
)
@_ON
@_BY
@_NOTES
@_OPERATOR
@click.pass_obj
def appeal_decide(
    obj: _Context,
    ref: str,
    outcome: str,
    on: date | None,
    by: str | None,
    notes: str,
    operator: str | None,
) -> None:
    """Record the decision on REF's open appeal (after its due date it is recorded, with how
    many working days late)."""
    with _errors():
        today = obj.app.today()
        result = lifecycle.appeal_decide(
            obj.app.factory,
            ref,
            outcome=lifecycle.AppealOutcome(outcome),
            on=on or today,
            today=today,
            by=by,
            notes=notes,
            operator=operator,
            flag_systems=obj.app.settings.flags.systems,
        )
    _print_result(result)
    if result.late_working_days:
        click.echo(
            f"Warning: decided {result.late_working_days} working day(s) after it was due.",
            err=True,
        )


@arrangement.command("cover-notice")
@_REF
@click.option(
    "--from",
    "starts_on",
    required=True,
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="First day of cover (inclusive).",
)
@click.option(
    "--to",
    "ends_on",
    required=True,
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="Last day of cover (inclusive).",
)
@click.option(
    "--cover", "cover_email", metavar="EMAIL", help="The officer covering (default: REF's cover)."
)
@_NOTES
@_OPERATOR
@click.pass_obj
def cover_notice(
    obj: _Context,
    ref: str,
    starts_on: date,
    ends_on: date,
    cover_email: str | None,
    notes: str,
    operator: str | None,
) -> None:
    """Record that REF was told of a temporary change of contact to the cover officer.

    Mail routing follows the SPOC's absences (`spocbot officer absence add`): without one for
    those days the notice is recorded with a warning.
    """
    with _errors():
        result = lifecycle.cover_notice(
            obj.app.factory,
            ref,
            starts_on=starts_on,
            ends_on=ends_on,
            cover_email=cover_email,
            notes=notes,
            operator=operator,
        )
    _print_result(result)


@arrangement.command("cease-and-desist")
@_REF
@click.option("--reasons", required=True, metavar="TEXT", help="Why (restricted: need-to-know).")
@_ON
@_BY
@_NOTES
@_OPERATOR
@click.pass_obj
def cease_and_desist(
    obj: _Context,
    ref: str,
    reasons: str,
    on: date | None,
    by: str | None,
    notes: str,
    operator: str | None,
) -> None:
    """Record cease and desist on REF's active arrangement: further messages are acknowledged
    but not answered (§5)."""
    with _errors():
        today = obj.app.today()
        result = lifecycle.cease_and_desist(
            obj.app.factory,
            ref,
            on=on or today,
            today=today,
            reasons=reasons,
            by=by,
            notes=notes,
            operator=operator,
        )
    _print_result(result)


@arrangement.command("end")
@_REF
@_ON
@_BY
@_NOTES
@_OPERATOR
@click.pass_obj
def end(
    obj: _Context,
    ref: str,
    on: date | None,
    by: str | None,
    notes: str,
    operator: str | None,
) -> None:
    """End REF's arrangement (status ceased): it restricts nothing from then on."""
    with _errors():
        today = obj.app.today()
        result = lifecycle.end(
            obj.app.factory,
            ref,
            on=on or today,
            today=today,
            by=by,
            notes=notes,
            operator=operator,
            flag_systems=obj.app.settings.flags.systems,
        )
    _print_result(result)


@arrangement.command("history")
@_REF
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--include-reasons", is_flag=True, help="Also the restricted reasons (need-to-know; audited)."
)
@_OPERATOR
@click.pass_obj
def history(
    obj: _Context, ref: str, as_json: bool, include_reasons: bool, operator: str | None
) -> None:
    """Show REF's arrangement history: every step, oldest first, and its appeals."""
    with _errors():
        found = lifecycle.history(
            obj.app.factory, ref, include_reasons=include_reasons, operator=operator
        )
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    zone = ZoneInfo(obj.app.settings.organisation.timezone)
    ended = f", ended {found['ended_on']}" if found["ended_on"] else ""
    click.echo(
        f"{found['customer_ref']}: {found['status']}, started {found['start_date']}, review "
        f"{found['review_date']}{ended}"
        + (" (lapses at review)" if found["lapse_at_review"] else "")
    )
    if include_reasons:
        click.echo(f"Reasons (restricted): {found['reasons'] or '-'}")
        click.echo(f"Support needs (restricted): {found['support_needs'] or '-'}")
    click.echo("")
    columns = ["on", "kind", "outcome", "decided_by", "next_review", "until", "officer", "notes"]
    columns += ["reasons"] if include_reasons else []
    events: list[dict[str, Any]] = found["events"]
    _print_table(events, columns, "No steps recorded.", zone)
    if found["appeals"]:
        click.echo("")
        _print_table(
            found["appeals"],
            [
                "id",
                "received_on",
                "deadline",
                "decision_due",
                "late",
                "status",
                "outcome",
                "decided_on",
            ],
            "",
            zone,
        )


COMMANDS: list[click.Command] = [arrangement]
