"""The ``spocbot`` command line: a thin layer over the services.

Each command builds what it needs through :mod:`bot.bootstrap`, calls one service, prints the
result (a table, or JSON with ``--json``) and turns domain errors into a clear message and a
non-zero exit status.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot import log_privacy, reports, review_service
from bot.audit import audit, current_operator
from bot.audit import events as audit_events
from bot.bootstrap import App, build_app, build_watcher, mail_connections, watcher_lock_if_free
from bot.config import ConfigError, config_path
from bot.doctor import run as run_doctor
from bot.errors import DomainError
from bot.evidence import EvidenceError
from bot.forward_service import retry_forward
from bot.mail.ports import MailError
from bot.outbox import OutboxError
from bot.partner_entries import PARTNER
from bot.policy import Policy
from bot.register_file import RegisterFileError
from bot.register_service import (
    RegisterError,
    add_absence,
    export_register,
    import_register,
    list_absences,
    register_rows,
    remove_absence,
)
from bot.rescan import rescan as rescan_folders
from bot.store import models
from bot.watcher import PassReport

log = logging.getLogger("spocbot")
_OPERATOR = click.option(
    "--operator", metavar="NAME", help="Who is acting, for the audit log (default: OS user)."
)
_DOMAIN_ERRORS = (
    DomainError,
    ConfigError,
    RegisterError,
    MailError,
    EvidenceError,
    OutboxError,
    reports.UnknownCustomer,
    review_service.ReviewError,
)


WATCHER_LOCK_WAIT_SECONDS = 60
"""How long `watch` and `run` wait for a command that is sending mail to finish."""


class _Context:
    def __init__(self, config: str | None) -> None:
        self.config_file = config_path(config)
        self._app: App | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = build_app(self.config_file)
        return self._app


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except RegisterFileError as exc:
        click.echo(f"File rejected; nothing was imported ({len(exc.errors)} problem(s)):", err=True)
        for error in exc.errors:
            click.echo(f"  {error}", err=True)
        raise SystemExit(1) from None
    except _DOMAIN_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    except DBAPIError as exc:  # the driver's message only: the SQL parameters hold personal data
        raise click.ClickException(
            f"database error: {exc.orig} (another command may be holding the database; try again)"
        ) from None


def _iso_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None


def _print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str, zone: ZoneInfo
) -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [
        [_cell(_local(row.get(c), zone) if c.endswith("_at") else row.get(c)) for c in columns]
        for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _local(value: Any, zone: ZoneInfo) -> Any:
    """ISO UTC timestamps (as in --json) shown in the organisation's zone for people."""
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    except ValueError:
        return value


def _cell(value: Any, zone: ZoneInfo | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_item(v, zone) for v in value) or "-"
    return str(value)


def _item(value: Any, zone: ZoneInfo | None) -> str:
    """One element of a listed value: a forward, a sighting, or plain text."""
    if not isinstance(value, dict):
        return str(value)
    if "email" in value:  # a forward
        sent = value.get("sent_at")
        when = f", {_local(sent, zone)}" if sent and zone else ""
        return f"{value['name']} <{value['email']}> ({value['status']}{when})"
    if "mailbox" in value:  # a sighting
        return f"{value['mailbox']} ({value['folder']}, UID {value['uid']})"
    return ", ".join(f"{k} {v}" for k, v in value.items())


def _emit(
    obj: _Context, rows: list[dict[str, Any]], as_json: bool, columns: Sequence[str], empty: str
) -> None:
    """Rows as JSON (times in UTC) or as a table (times in the organisation's time zone)."""
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        _print_table(rows, columns, empty, ZoneInfo(obj.app.settings.organisation.timezone))


_VERBOSE = click.option(
    "-v", "--verbose", is_flag=True, help="Also log each message's decision (never its content)."
)


_NOISY = (
    "alembic",
    "sqlalchemy",
    "imapclient",
    "pymap",
    "mail.log",
    "aiosmtpd",
    "asyncio",
    "httpx",
    "httpcore",
    "msal",
    "urllib3",
    "requests",
)


def _log_decisions() -> None:
    """spocbot's own DEBUG lines (each message's decision); never the libraries' (they log
    URLs with delta tokens, token caches and wire traffic)."""
    for name in ("bot", "spocbot"):
        logging.getLogger(name).setLevel(logging.DEBUG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    metavar="FILE",
    envvar="SPOCBOT_CONFIG",
    help="Configuration file (default: $SPOCBOT_CONFIG, else ./spocbot.toml).",
)
@_VERBOSE
@click.version_option(package_name="spocbot", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """spocbot enforces Single Point of Contact arrangements over the organisation's mailboxes."""
    os.umask(0o077)  # the database, evidence and exports hold personal data: owner only
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log_privacy.install()  # addresses in any line, tracebacks too, as [logging] addresses says
    if verbose:
        _log_decisions()
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = _Context(config)


# -- database -----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: _Context) -> None:
    """Create the database or bring its schema up to date (also done by every command)."""
    with _errors():
        obj.app  # noqa: B018 (building the app applies the migrations)
    url = make_url(obj.app.settings.storage.database_url).render_as_string(hide_password=True)
    click.echo(f"Database is up to date: {url}")


# -- register -------------------------------------------------------------------------------------


@main.group()
def register() -> None:
    """The SPOC register: import, export, list, correct and erase entries."""


@register.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_OPERATOR
@click.pass_obj
def register_import(obj: _Context, file: Path, operator: str | None) -> None:
    """Import FILE (.csv or .xlsx). All or nothing: any bad row rejects the whole file.

    Existing customers are updated by customer_ref; customers not in the file are left as they are.
    A review date already past, or a SPOC whose inbox is not watched, is imported with a warning.
    """
    with _errors():
        app = obj.app
        result = import_register(
            app.factory,
            file,
            staff_addresses=app.staff_addresses,
            staff_domains=app.settings.organisation.staff_domains,
            topics=app.settings.topics,
            operator=operator,
            today=app.today(),
            watched=[mailbox.address for mailbox in app.settings.watched],
            flag_systems=app.settings.flags.systems,
            not_officers=app.not_officers,
        )
    click.echo(
        f"Imported {file}: {result.created} new, {result.updated} updated, "
        f"{result.unchanged} unchanged."
    )
    for ref, address in result.kept_from_review:
        click.echo(
            f"  kept {address} for {ref}: confirmed from the review queue but not in the file "
            "(add it to the file to keep it there too)"
        )
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)


_INCLUDE_REASONS = click.option(
    "--include-reasons",
    is_flag=True,
    help="Also the restricted reasons and support needs (need-to-know; audited).",
)


@register.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_INCLUDE_REASONS
@_OPERATOR
@click.pass_obj
def register_export(obj: _Context, file: Path, include_reasons: bool, operator: str | None) -> None:
    """Write the register to FILE (.csv or .xlsx) in the import format.

    The reasons and support_needs columns are left out unless --include-reasons; either way
    the export is written to the audit log.  Importing the file keeps the stored values.
    """
    with _errors():
        count = export_register(
            obj.app.factory, file, include_reasons=include_reasons, operator=operator
        )
        if not include_reasons:  # with them, the service audits it (register.export.restricted)
            with obj.app.factory.begin() as session:
                audit(
                    session,
                    current_operator(operator),
                    "register.export",
                    f"register_file:{file.name}"[:200],
                    details=f"{count} arrangement(s), without reasons and support needs",
                )
    left_out = "" if include_reasons else " (without reasons and support needs)"
    click.echo(f"Exported {count} arrangement(s) to {file}{left_out}.")


@register.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every column of the register).")
@_INCLUDE_REASONS
@_OPERATOR
@click.pass_obj
def register_list(
    obj: _Context, as_json: bool, include_reasons: bool, operator: str | None
) -> None:
    """List arrangements, with their restrictions.

    The table names officers and writes the SPOC's own address as "SPOC"; --json gives every
    field in full, except the restricted reasons and support needs unless --include-reasons
    (audited).
    """
    with _errors(), obj.app.factory.begin() as session:
        sources = {  # where each entry came from: our register, or a partner's shared file
            ref: f"partner: {partner}" if source == PARTNER else source
            for ref, source, partner in session.execute(
                select(models.Customer.ref, models.Customer.source, models.Customer.partner)
            )
        }
        rows: list[dict[str, Any]] = [
            {
                "customer_ref": r.customer_ref,
                "customer_name": r.customer_name,
                "source": sources.get(r.customer_ref, "register"),
                "customer_emails": list(r.customer_emails),
                "spoc": f"{r.spoc_name} <{r.spoc_email}>",
                "cover": f"{r.cover_name} <{r.cover_email}>" if r.cover_email else None,
                "spoc_name": r.spoc_name,
                "spoc_email": r.spoc_email,
                "cover_name": r.cover_name,
                "cover_email": r.cover_email,
                "restricted_to": list(r.restricted_to),
                "status": r.status.value,
                "start_date": r.start_date.isoformat(),
                "review_date": r.review_date.isoformat(),
                "representative_emails": list(r.representative_emails),
                "channels": list(r.channels),
                "contact_hours": str(r.contact_hours) if r.contact_hours else None,
                "max_contacts": str(r.max_contacts) if r.max_contacts else None,
                "max_issues": str(r.max_issues) if r.max_issues else None,
                "subject_matters": list(r.subject_matters),
                "acknowledge": r.acknowledge,
                "customer_address": r.customer_address,
                "spoc_phone": r.spoc_phone,
                "cover_phone": r.cover_phone,
                "office_visits": r.office_visits,
                "change_required": r.change_required,
                "review_months": r.review_months,
                "lapse_at_review": r.lapse_at_review,
                "decided_on": r.decided_on.isoformat() if r.decided_on else None,
                **(
                    {"reasons": r.reasons, "support_needs": r.support_needs}
                    if include_reasons
                    else {}
                ),
            }
            for r in register_rows(session)
        ]
        if include_reasons:
            audit(
                session,
                current_operator(operator),
                "register.list.restricted",
                "register",
                details=f"{len(rows)} arrangement(s), with reasons and support needs",
            )
    if not as_json:  # officers by name, and the SPOC's address as "SPOC", to stay readable
        rows = [
            {
                **row,
                "spoc": row["spoc_name"],
                "cover": row["cover_name"],
                "restricted_to": [
                    "SPOC" if a == row["spoc_email"] else a for a in row["restricted_to"]
                ],
                "restrictions": _restrictions(row),
            }
            for row in rows
        ]
    _emit(
        obj,
        rows,
        as_json,
        [
            "customer_ref",
            "customer_name",
            "source",
            "customer_emails",
            "status",
            "spoc",
            "cover",
            "restricted_to",
            "restrictions",
            "review_date",
            *(["reasons", "support_needs"] if include_reasons else []),
        ],
        "The register is empty.",
    )


def _restrictions(row: dict[str, Any]) -> str | None:
    """The optional restrictions in one cell, e.g. "channels email; max 3/week; acknowledged"."""
    parts = [
        f"{label} {'/'.join(value) if isinstance(value, list) else value}"
        for label, value in (
            ("representatives", row["representative_emails"]),
            ("channels", row["channels"]),
            ("hours", row["contact_hours"]),
            ("max", row["max_contacts"]),
            ("issues", row["max_issues"]),
            ("topics", row["subject_matters"]),
        )
        if value
    ]
    if row["acknowledge"]:
        parts.append("acknowledged")
    return "; ".join(parts) or None


# -- officers -------------------------------------------------------------------------------------


@main.group()
def officer() -> None:
    """Officers: leave and absences for cover routing."""


@officer.group()
def absence() -> None:
    """Record and list officer absences."""


@absence.command("add")
@click.argument("email")
@click.option(
    "--from",
    "starts_on",
    required=True,
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="First day of absence (inclusive).",
)
@click.option(
    "--to",
    "ends_on",
    required=True,
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="Last day of absence (inclusive).",
)
@_OPERATOR
@click.pass_obj
def absence_add(
    obj: _Context, email: str, starts_on: date, ends_on: date, operator: str | None
) -> None:
    """Record that the officer with EMAIL is away: their mail is routed to cover meanwhile.

    An absence overlapping another of the officer's, or wholly in the past, is recorded with
    a warning.
    """
    app = obj.app
    with _errors():
        today = app.today()
        added = add_absence(app.factory, email, starts_on, ends_on, today=today, operator=operator)
    a = added.absence
    click.echo(
        f"Recorded absence {a.id}: {a.officer_name} <{a.officer_email}> away from "
        f"{a.starts_on} to {a.ends_on}."
    )
    for other in added.overlapping:
        click.echo(
            f"Warning: it overlaps absence {other.id} of {other.officer_name} "
            f"({other.starts_on} to {other.ends_on}); if one was entered by mistake, remove it "
            "with `spocbot officer absence remove ID`.",
            err=True,
        )
    if added.in_the_past:
        click.echo(
            f"Warning: it is wholly in the past (it ended on {a.ends_on}), so it changes no "
            "routing; check the dates.",
            err=True,
        )


@absence.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def absence_list(obj: _Context, as_json: bool) -> None:
    """List recorded absences."""
    with _errors(), obj.app.factory() as session:
        rows = [
            {
                "id": a.id,
                "officer": a.officer.name,
                "email": a.officer.email,
                "from": a.starts_on.isoformat(),
                "to": a.ends_on.isoformat(),
            }
            for a in list_absences(session)
        ]
    _emit(obj, rows, as_json, ["id", "officer", "email", "from", "to"], "No absences recorded.")


@absence.command("remove")
@click.argument("absence_id", metavar="ID", type=int)
@_OPERATOR
@click.pass_obj
def absence_remove(obj: _Context, absence_id: int, operator: str | None) -> None:
    """Remove the absence with ID (from `officer absence list`), e.g. when leave is cancelled."""
    with _errors():
        removed = remove_absence(obj.app.factory, absence_id, operator=operator)
    click.echo(
        f"Removed absence {absence_id}: {removed.officer_name} <{removed.officer_email}> "
        f"({removed.starts_on} to {removed.ends_on})."
    )


# -- watching -------------------------------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="Run one pass and exit (status 1 if it had errors).")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the pass report as JSON.")
@click.option(
    "--since",
    metavar="YYYY-MM-DD",
    callback=_iso_date,
    help="A folder watched for the first time is read from this date (default: [watch] "
    "first_sync_days ago); folders already being followed are not affected.",
)
@_VERBOSE
@click.pass_obj
def watch(obj: _Context, once: bool, as_json: bool, since: date | None, verbose: bool) -> None:
    """Watch the configured mailboxes and route SPOC breaches (runs until stopped)."""
    if as_json and not once:
        raise click.UsageError("--json needs --once: the daemon logs its passes to stderr instead")
    if verbose:
        _log_decisions()
    with _errors():
        app = obj.app
        start = (
            datetime.combine(
                since, datetime.min.time(), tzinfo=ZoneInfo(app.settings.organisation.timezone)
            )
            if since
            else None
        )
        with (
            _single_watcher(app),
            mail_connections(app.settings, app.factory, since=start) as connections,
        ):
            watcher = build_watcher(app, connections)
            if once:
                report = watcher.run_pass()
                if as_json:
                    click.echo(json.dumps(report.as_dict(), indent=2))
                else:
                    _print_pass(report)
                    if since and not report.new_folders:
                        click.echo(
                            "  note: --since changed nothing: every folder was already being "
                            "followed (`spocbot rescan --since DATE` reads them again)",
                            err=True,
                        )
                if not report.ok or report.attention:
                    raise SystemExit(1)  # a failed forward needs a person: make monitoring see it
                return
            # The daemon reports its passes and forwards (INFO) without -v; -v adds decisions.
            for name in ("bot", "spocbot"):
                logger = logging.getLogger(name)
                logger.setLevel(min(logging.INFO, logger.getEffectiveLevel()))
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            log.info(
                "watching %d mailbox(es); stop with Ctrl-C or SIGTERM", len(app.settings.watched)
            )
            watcher.run_forever(stop, _PassLogger())
            log.info("stopped")


@main.command()
@click.option(
    "--since",
    metavar="YYYY-MM-DD",
    callback=_iso_date,
    required=True,
    help="Decide again every message received on or after this date.",
)
@click.option(
    "--mailbox",
    "only",
    metavar="ADDRESS",
    multiple=True,
    help="Only this watched mailbox (repeatable; default: all).",
)
@_OPERATOR
@click.pass_obj
def rescan(obj: _Context, since: date, only: tuple[str, ...], operator: str | None) -> None:
    """Read watched folders again from a date on the next pass (e.g. after a late register
    import).  Nothing already recorded or sent is repeated; the change is audited."""
    with _errors():
        app = obj.app
        wanted = {a.strip().lower() for a in only}
        mailboxes = [m for m in app.settings.watched if not wanted or m.address in wanted]
        unknown = wanted - {m.address for m in app.settings.watched}
        if unknown:
            raise click.ClickException(f"not a watched mailbox: {', '.join(sorted(unknown))}")
        start = datetime.combine(
            since, datetime.min.time(), tzinfo=ZoneInfo(app.settings.organisation.timezone)
        )
        with _single_watcher(app), mail_connections(app.settings, app.factory) as connections:
            done = rescan_folders(
                app.factory,
                connections.stores,
                mailboxes,
                start,
                operator=current_operator(operator),
            )
    for item in done:
        click.echo(f"{item.mailbox}/{item.folder}: {item.detail}")
    click.echo("The next `spocbot watch` pass reads them again.")


@main.command()
@click.option(
    "--send-test",
    is_flag=True,
    help="Also send one message from the bot mailbox to itself and look for it.",
)
@click.pass_obj
def doctor(obj: _Context, send_test: bool) -> None:
    """Check the deployment: configuration, storage, token, mailboxes and sending."""
    failed = 0
    for check in run_doctor(obj.config_file, build_app, send_test=send_test):
        click.echo(check.line())
        failed += not check.ok
    if failed:
        click.echo(f"{failed} check(s) failed.", err=True)
        raise SystemExit(1)
    click.echo("All checks passed.")


@contextmanager
def _single_watcher(app: App) -> Iterator[None]:
    """Only one watcher per database: two would race to send the same forwards."""
    with watcher_lock_if_free(app) as free:
        if not free:
            raise click.ClickException(
                f"another spocbot watcher is already running with this storage ({app.watcher_lock})"
            )
        yield


def _pass_summary(report: PassReport) -> str:
    d = report.as_dict()
    kinds = report.decisions
    return (
        f"Checked {d['folders_checked']} folder(s): {d['headers_fetched']} new message(s) "
        f"({kinds.get('emergency', 0)} emergency, {d['new_breaches']} new breach(es), "
        f"{kinds.get('allowed', 0)} permitted, {d['to_review']} for review, "
        f"{d['quarantined']} quarantined, {kinds.get('ignore', 0)} no action), "
        f"{d['full_messages_fetched']} fetched in full; forwards sent {d['forwards_sent']}, "
        f"deferred {d['forwards_deferred']}, failed {d['forwards_failed']}."
    )


def _print_pass(report: PassReport) -> None:
    """The pass on stderr, which cron and systemd keep like a log: addresses in error texts
    (servers echo them) as ``[logging] addresses`` says."""
    d = report.as_dict()
    click.echo(_pass_summary(report))
    for warning in report.warnings:
        click.echo(f"  warning: {log_privacy.scrub(warning)}", err=True)
    for error in d["errors"]:  # type: ignore[attr-defined]
        click.echo(f"  error: {log_privacy.scrub(error)}", err=True)
    for line in d["needs_attention"]:  # type: ignore[attr-defined]
        click.echo(f"  needs attention: {log_privacy.scrub(line)}", err=True)


class _PassLogger:
    """Passes that did something are logged at INFO, failures at WARNING, idle ones at DEBUG;
    things needing a person (failed forwards) at WARNING whenever that list changes."""

    def __init__(self) -> None:
        self._attention: list[str] = []

    def __call__(self, report: PassReport) -> None:
        summary = report.as_dict()
        busy = any(
            summary[k]
            for k in (
                "headers_fetched",
                "forwards_sent",
                "forwards_recovered",
                "quarantined",
                "to_review",
            )
        )
        level = logging.WARNING if not report.ok else logging.INFO if busy else logging.DEBUG
        log.log(level, "%s", _pass_summary(report))
        for line in report.errors + report.delivery.errors:
            log.warning("error: %s", line)
        for warning in report.warnings:
            log.log(level, "warning: %s", warning)
        if report.attention != self._attention:
            for line in report.attention:
                log.warning("needs attention: %s", line)
            self._attention = list(report.attention)


# -- evidence listings ----------------------------------------------------------------------------


@main.group()
def breaches() -> None:
    """Recorded breaches."""


@breaches.command("list")
@click.option("--customer", metavar="REF", help="Only this customer.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def breaches_list(obj: _Context, customer: str | None, as_json: bool) -> None:
    """List breaches: one per customer and message, with every mailbox it reached."""
    with _errors(), obj.app.factory() as session:
        rows = reports.breaches(session, customer)
    _emit(
        obj,
        rows,
        as_json,
        ["id", "customer_ref", "received_at", "mailboxes", "forwarded_to", "reason"],
        "No breaches recorded.",
    )


@breaches.command("show")
@click.argument("breach_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def breaches_show(obj: _Context, breach_id: int, as_json: bool) -> None:
    """Show one breach in full: where it was found, why, who it went to, the raw message."""
    with _errors(), obj.app.factory() as session:
        rows = reports.breaches(session, breach_id=breach_id)
    if not rows:
        raise click.ClickException(f"there is no breach {breach_id} (see `spocbot breaches list`)")
    _show(obj.app, rows[0], as_json)


@main.group()
def contacts() -> None:
    """Recorded contacts that were not breaches."""


@contacts.command("list")
@click.option("--customer", metavar="REF", help="Only this customer.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def contacts_list(obj: _Context, customer: str | None, as_json: bool) -> None:
    """List contacts by the permitted route and at the warning stage."""
    with _errors(), obj.app.factory() as session:
        rows = reports.contacts(session, customer)
    _emit(
        obj,
        rows,
        as_json,
        ["id", "customer_ref", "kind", "received_at", "mailbox", "forwarded_to"],
        "No contacts recorded.",
    )


@main.group(name="quarantine")
def quarantine_group() -> None:
    """Messages that could not be handled automatically."""


@quarantine_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def quarantine_list(obj: _Context, as_json: bool) -> None:
    """List quarantined messages with the reason for each (and the customer, when known)."""
    app = obj.app
    with _errors(), app.factory() as session:
        rows = reports.quarantine(session, app.evidence)
    _emit(
        obj,
        rows,
        as_json,
        ["id", "mailbox", "folder", "uid", "customer_ref", "quarantined_at", "size", "reason"],
        "Nothing in quarantine.",
    )


@quarantine_group.command("show")
@click.argument("item_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def quarantine_show(obj: _Context, item_id: int, as_json: bool) -> None:
    """Show one quarantined message: why, its size, and where the raw message is kept."""
    app = obj.app
    with _errors(), app.factory() as session:
        rows = reports.quarantine(session, app.evidence, item_id)
    if not rows:
        raise click.ClickException(
            f"there is no quarantined message {item_id} (see `spocbot quarantine list`)"
        )
    _show(app, rows[0], as_json)


@main.group(name="forwards")
def forwards_group() -> None:
    """Forwards to officers, and acknowledgements to customers, with their delivery status."""


_FORWARD_STATUSES = ("pending", "sending", "sent", "failed", "superseded")


@forwards_group.command("list")
@click.option("--customer", metavar="REF", help="Only this customer.")
@click.option("--status", type=click.Choice(_FORWARD_STATUSES), help="Only with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def forwards_list(obj: _Context, customer: str | None, status: str | None, as_json: bool) -> None:
    """List forwards and acknowledgements: to whom, about which breach or contact, their
    delivery status, when sent, and the last error."""
    with _errors(), obj.app.factory() as session:
        rows = reports.forwards(session, customer, status)
    if not as_json:
        rows = [{**row, "to": f"{row['name']} <{row['email']}>"} for row in rows]
    _emit(
        obj,
        rows,
        as_json,
        [
            "id",
            "kind",
            "customer_ref",
            "about",
            "to",
            "status",
            "attempts",
            "sent_at",
            "last_error",
        ],
        "No forwards." if not (customer or status) else "No forwards match.",
    )


@forwards_group.command("retry")
@click.argument("forward_id", metavar="ID", type=int)
@click.option("--to", "to", metavar="EMAIL", help="Send it to this officer (or the DMO) instead.")
@_OPERATOR
@click.pass_obj
def forwards_retry(obj: _Context, forward_id: int, to: str | None, operator: str | None) -> None:
    """Queue a failed forward (see `forwards list`) to be sent again by the watcher."""
    app = obj.app
    with _errors():
        result = retry_forward(
            app.factory,
            forward_id,
            operator=current_operator(operator),
            now=app.clock(),
            dmo=Policy(app.settings).dmo,
            to=to,
        )
    click.echo(
        f"Forward {forward_id} will be sent to {result.recipient_name} "
        f"<{result.recipient_email}> on the watcher's next pass."
    )


# -- review queue -------------------------------------------------------------------------

_NOTE = click.option("--note", metavar="TEXT", help="Why, for the record.")


@main.group()
def review() -> None:
    """Messages whose sender a person must identify (possible matches and unclear senders)."""


@review.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include confirmed and dismissed items.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def review_list(obj: _Context, show_all: bool, as_json: bool) -> None:
    """List the review queue: who the message may be from, and why it is here."""
    with _errors(), obj.app.factory() as session:
        rows = reports.review_items(session, None if show_all else "open")
    columns = ["id", "received_at", "mailbox", "sender", "subject", "candidates", "reason"]
    if show_all:
        columns[5:5] = ["status", "customer_ref", "decided_by"]
    _emit(obj, rows, as_json, columns, "Nothing to review.")


@review.command("show")
@click.argument("item_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def review_show(obj: _Context, item_id: int, as_json: bool) -> None:
    """Show one review item in full, answered or not."""
    app = obj.app
    with _errors(), app.factory() as session:
        rows = reports.review_items(session, None, item_id)
    if not rows:
        raise click.ClickException(f"there is no review item {item_id} (see `spocbot review list`)")
    _show(app, rows[0], as_json)


def _show(app: App, row: dict[str, Any], as_json: bool) -> None:
    """One record in full, one field a line, with the path of its raw message if kept."""
    row = {**row, "raw_message": None}
    if row["sha256"]:
        row["raw_message"] = str(app.evidence.path_for(str(row["sha256"])))
    if as_json:
        click.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    zone = ZoneInfo(app.settings.organisation.timezone)
    for key, value in row.items():
        shown = _local(value, zone) if key.endswith("_at") else value
        if key == "raw_message" and value is None:
            shown = "not kept"
        click.echo(f"{key.replace('_', ' '):>14}: {_cell(shown, zone)}")


@review.command("confirm")
@click.argument("item_id", metavar="ID", type=int)
@click.option("--customer", metavar="REF", help="Whose message it is (needed when unclear).")
@click.option(
    "--no-add-address",
    is_flag=True,
    help="Process the message as the customer's without adding the sender's address.",
)
@_NOTE
@_OPERATOR
@click.pass_obj
def review_confirm(
    obj: _Context,
    item_id: int,
    customer: str | None,
    no_add_address: bool,
    note: str | None,
    operator: str | None,
) -> None:
    """Confirm whose message it is: add the sender's address and process it as theirs."""
    app = obj.app
    with _errors():
        result = review_service.confirm(
            app.factory,
            Policy(app.settings),
            app.evidence,
            item_id,
            operator=current_operator(operator),
            now=app.clock(),
            bot_address=app.settings.organisation.bot_address,
            customer_ref=customer,
            add_address=not no_add_address,
            note=note,
        )
    click.echo(f"Review item {item_id} confirmed as customer {result.customer_ref}.")
    click.echo(f"  {result.address_note}.")
    for sighting, decision in result.decisions:
        click.echo(
            f"  The copy in {sighting.mailbox} (review item {sighting.id}) is recorded as "
            f"{decision.kind.value.replace('_', ' ')}: {'; '.join(decision.reasons[:-1])}"
        )
    if result.forwards_queued:
        click.echo("  The forward will be sent on the watcher's next pass.")


@review.command("dismiss")
@click.argument("item_id", metavar="ID", type=int)
@_NOTE
@_OPERATOR
@click.pass_obj
def review_dismiss(obj: _Context, item_id: int, note: str | None, operator: str | None) -> None:
    """Record that the message is not a registered customer's; nothing is sent."""
    app = obj.app
    with _errors():
        closed = review_service.dismiss(
            app.factory,
            app.evidence,
            item_id,
            operator=current_operator(operator),
            now=app.clock(),
            note=note,
            zone=ZoneInfo(app.settings.organisation.timezone),
        )
    also = (
        f" (with {', '.join(f'#{i}' for i in closed[1:])}, the same message)" if closed[1:] else ""
    )
    click.echo(f"Review item {item_id} dismissed{also}.")


@main.group(name="audit")
def audit_group() -> None:
    """What people and the service did: imports, edits, decisions, letters, forwards sent,
    breaches recorded, exports, review answers."""


@audit_group.command("list")
@click.option("--customer", metavar="REF", help="Only this customer.")
@click.option(
    "--action", metavar="PREFIX", help="Only actions starting so (e.g. register., breach)."
)
@click.option(
    "--since",
    metavar="YYYY-MM-DD",
    callback=_iso_date,
    help="Only events on or after this day (in the organisation's time zone).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def audit_list(
    obj: _Context, customer: str | None, action: str | None, since: date | None, as_json: bool
) -> None:
    """List the audit log, oldest first."""
    with _errors(), obj.app.factory() as session:
        start = (
            datetime.combine(
                since,
                datetime.min.time(),
                tzinfo=ZoneInfo(obj.app.settings.organisation.timezone),
            )
            if since
            else None
        )
        rows = audit_events(session, customer, action=action, since=start)
    _emit(
        obj,
        rows,
        as_json,
        ["id", "recorded_at", "operator", "action", "record", "customer_ref", "details"],
        "The audit log is empty." if not (customer or action or since) else "No events match.",
    )


# -- demo --------------------------------------------------------------------------------


@main.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Demo data folder (default: data/demo next to the config).",
)
@click.pass_obj
def demo(obj: _Context, data_dir: Path | None) -> None:
    """Run the demo: embedded mail servers, demo register and mail, three passes, a summary.

    Between the second and third watcher passes the demo confirms a review item as the DMO
    would (`spocbot review confirm`); the third pass sends its forward.  Then, as the DMO, it
    records a decision and an appeal, renders and sends a letter (var/demo/letters/), shows
    which reminders fall due when, and sends the reviews digest.

    Starts afresh each time (the demo's database and evidence folder are replaced).
    """
    from bot.demo import run_demo

    with _errors():
        ok = run_demo(obj.config_file, data_dir or obj.config_file.parent, click.echo)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":  # pragma: no cover
    # `python -m bot.cli`: this file runs as __main__, but the command modules import
    # `bot.cli`; run that module's group, so that they register on one group and import once.
    from bot.cli import main as _main

    _main()
else:
    # Command groups in their own modules (they import what they share from this one).
    from bot import (
        cli_evidence,
        cli_letters,
        cli_lifecycle,
        cli_privacy,
        cli_schedule,
        cli_sharing,
    )

    for _group in (
        cli_lifecycle.COMMANDS,
        cli_letters.COMMANDS,
        cli_schedule.COMMANDS,
        cli_sharing.COMMANDS,
        cli_evidence.COMMANDS,
        cli_privacy.COMMANDS,
    ):
        for _command in _group:
            main.add_command(_command)
    for _command in cli_privacy.REGISTER_COMMANDS:
        register.add_command(_command)
