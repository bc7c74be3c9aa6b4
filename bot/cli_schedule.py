"""The ``spocbot`` commands for reminders, digests and the `spocbot run` daemon."""

from __future__ import annotations

import json
import logging
import signal
import threading
from datetime import date

import click
from sqlalchemy import func, select

from bot.bootstrap import (
    App,
    build_digests,
    build_outbox_sender,
    build_reminders,
    build_watcher,
    deliver_now,
    mail_connections,
)
from bot.digests import KINDS, list_digests
from bot.lifecycle import lapse_due
from bot.outbox import DIGEST, FAILED, PENDING, REMINDER, SENDING
from bot.reminder_service import describe_run, list_reminders
from bot.scheduler import OPERATOR, Daemon
from bot.store import models as m

COMMANDS: list[click.Command] = []
"""Filled at the end of this module.  Defined before ``bot.cli`` is imported: under
``python -m bot.cli`` that import runs a second copy of ``bot.cli``, which reads this list
while this module is still half-imported (it then finds it empty; ``__main__`` finds it full)."""

from bot.cli import (  # noqa: E402 (after COMMANDS: see above)
    _Context,
    _emit,
    _errors,
    _iso_date,
    _PassLogger,
    _single_watcher,
)

log = logging.getLogger("spocbot")

_AS_OF = click.option(
    "--as-of",
    "as_of",
    metavar="YYYY-MM-DD",
    callback=_iso_date,
    help="Work as of this date (a date in the future needs --dry-run).",
)
_DRY_RUN = click.option(
    "--dry-run", is_flag=True, help="Only show what would be sent: nothing is recorded or sent."
)


def _send_queued(app: App, kind: str) -> None:
    """Send what is queued now, unless another process is sending (the service sends it on
    its next pass); exit 1 if anything of ``kind`` is left unsent, saying what sends it."""
    delivery = deliver_now(app)
    report = delivery.report
    if delivery.lock_held:
        click.echo(f"Queued, not sent by this command: {delivery.problem}.")
        return
    left = _unsent(app, kind)
    click.echo(
        f"Sent {report.sent} message(s)"
        + (f"; {left} not sent yet" if left else "")
        + (f" ({report.failed} failed)" if report.failed else "")
        + "."
    )
    if delivery.problem or left:
        click.echo(
            f"{left} {kind} message(s) are queued but not sent"
            + (f": {delivery.problem}" if delivery.problem else "")
            + ". They stay queued: `spocbot run` (or a `spocbot watch` pass, or this command "
            "run again) sends them; a failed one is retried with `spocbot forwards retry ID`.",
            err=True,
        )
        raise SystemExit(1)


def _unsent(app: App, kind: str) -> int:
    """Messages of ``kind`` (reminder, digest) queued and not yet sent or given up."""
    with app.factory() as session:
        return (
            session.scalar(
                select(func.count(m.Outbox.id)).where(
                    m.Outbox.kind == kind, m.Outbox.status.in_((PENDING, SENDING, FAILED))
                )
            )
            or 0
        )


# -- reminders ----------------------------------------------------------------------------------


@click.group()
def reminders() -> None:
    """Reminders of review dates, lapses and appeal decisions (to SPOCs and the DMO)."""


@reminders.command("send")
@_AS_OF
@_DRY_RUN
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def reminders_send(obj: _Context, as_of: date | None, dry_run: bool, as_json: bool) -> None:
    """Send every reminder due and not yet sent: one message per recipient.

    Without --as-of it works as of today once [schedule] reminders_at has passed, else as of
    yesterday, like `spocbot run`.  Reminders that fell due while nothing ran go out together
    (each arrangement's most pressing one, saying which earlier ones it covers); a repeated run
    sends nothing.  With --dry-run, any date shows what would be sent if the next run were then.

    Like the daily job of `spocbot run`, a real run first ends the arrangements that lapse at
    a review date that has come (`lapse_at_review`), so that they get no reminder.
    """
    with _errors():
        app = obj.app
        service = build_reminders(app)
        if not dry_run:
            for lapsed in lapse_due(app.factory, service.today_as_of(), OPERATOR):
                if not as_json:
                    click.echo(f"Lapsed: {lapsed.customer_ref}: {lapsed.recorded}")
        run = service.run(as_of, dry_run=dry_run)
        waiting = 0 if dry_run or run.messages else _unsent(app, REMINDER)
        if as_json:
            click.echo(json.dumps(run.as_dict(), indent=2, ensure_ascii=False))
        elif waiting:
            click.echo(
                f"No new reminders are due; {waiting} reminder message(s) queued earlier are "
                "not sent yet: sending them now."
            )
        else:
            for line in describe_run(run):
                click.echo(line)
        if not dry_run and (run.messages or waiting):
            _send_queued(app, REMINDER)


@reminders.command("list")
@click.option("--customer", metavar="REF", help="Only this customer.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def reminders_list(obj: _Context, customer: str | None, as_json: bool) -> None:
    """List the reminders recorded, with the message that carried each and its status."""
    with _errors(), obj.app.factory() as session:
        rows = list_reminders(session, customer)
    _emit(
        obj,
        rows,
        as_json,
        ["id", "customer_ref", "kind", "target_on", "when", "recipient", "due_on", "to", "status"],
        "No reminders recorded." if customer is None else "No reminders for this customer.",
    )


# -- digests --------------------------------------------------------------------------------------


@click.group()
def digest() -> None:
    """The DMO's digests: breaches (daily) and reviews (weekly)."""


@digest.command("send")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="Which digest.")
@_AS_OF
@_DRY_RUN
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def digest_send(obj: _Context, kind: str, as_of: date | None, dry_run: bool, as_json: bool) -> None:
    """Send the digest for its latest scheduled slot (or the slot of --as-of), once.

    It covers everything since the previous digest of its kind.  A slot already sent is not
    sent again; --dry-run prints what the digest says (its text version) without sending.
    """
    with _errors():
        app = obj.app
        service = build_digests(app)
        run = service.run(kind, as_of, dry_run=dry_run)
        if as_json:
            click.echo(json.dumps(run.as_dict() | {"text": run.text}, indent=2, ensure_ascii=False))
        elif dry_run:
            state = " (already sent)" if run.existing_id else ""
            click.echo(f"Subject: {run.subject}{state}\nTo: {', '.join(run.recipients)}\n")
            click.echo(run.text, nl=False)
        elif run.existing_id is not None:
            waiting = _unsent(app, DIGEST)
            click.echo(
                f"The {kind} digest for this slot is recorded (digest {run.existing_id}) but "
                "not sent yet: sending it now."
                if waiting
                else f"The {kind} digest for this slot was sent already (digest {run.existing_id})."
            )
        else:
            click.echo(f"Queued the {kind} digest {run.digest_id} to {', '.join(run.recipients)}.")
        if not dry_run and (run.digest_id is not None or _unsent(app, DIGEST)):
            _send_queued(app, DIGEST)


@digest.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def digest_list(obj: _Context, kind: str | None, as_json: bool) -> None:
    """List the digests sent: their slot, the period each covered, and delivery."""
    with _errors(), obj.app.factory() as session:
        rows = list_digests(session, kind)
    _emit(
        obj,
        rows,
        as_json,
        ["id", "kind", "slot_at", "period_start_at", "period_end_at", "status", "sent_at"],
        "No digests sent.",
    )


# -- the daemon ---------------------------------------------------------------------------------


@click.command("run")
@click.pass_obj
def run_daemon(obj: _Context) -> None:
    """Run the service until stopped (SIGTERM or Ctrl-C): the watcher every poll interval,
    reminders and digests at their [schedule] times; anything missed while it was down is
    caught up once at start-up."""
    with _errors():
        app = obj.app
        with (
            _single_watcher(app),
            mail_connections(app.settings, app.factory) as connections,
        ):
            for name in ("bot", "spocbot"):
                logger = logging.getLogger(name)
                logger.setLevel(min(logging.INFO, logger.getEffectiveLevel()))
            daemon = Daemon(
                app,
                build_watcher(app, connections),
                build_outbox_sender(app, connections),
                on_pass=_PassLogger(),
            )
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            schedule = app.settings.schedule
            log.info(
                "running: %d mailbox(es) every %g s; reminders at %s, breaches digest at %s, "
                "reviews digest on %s; stop with Ctrl-C or SIGTERM",
                len(app.settings.watched),
                app.settings.poll_seconds,
                schedule.reminders_at,
                schedule.breaches_digest_at,
                schedule.reviews_digest_on,
            )
            daemon.run(stop)
            log.info("stopped")


COMMANDS.extend([reminders, digest, run_daemon])
