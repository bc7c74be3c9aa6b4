"""The ``spocbot`` commands for the person's rights and retention (UK GDPR art. 15-17,
policy §8): `sar export`, `register amend`, `register erase` and `retention purge`.

Each calls one service (:mod:`bot.sar`, :mod:`bot.register_amend`, :mod:`bot.erasure`,
:mod:`bot.retention`), prints what it did and turns a refusal into its message and exit
status 1.  Every change and export is audited.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from bot import erasure, retention, sar
from bot.audit import current_operator
from bot.cli import _OPERATOR, _Context, _errors, _iso_date
from bot.register_amend import FILE_WARNING, Amendment, amend

_DRY_RUN = click.option("--dry-run", is_flag=True, help="Show what would go; change nothing.")
_REMOVE_FROM_FILE = (
    "Remove {refs} from the DMO's register file too, or the next `register import` brings "
    "them back as new customers."
)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(counts.items()) if v)


# -- register amend / erase ---------------------------------------------------------------------


@click.command("amend")
@click.argument("ref", metavar="REF")
@click.option("--reason", required=True, metavar="TEXT", help="Why the record is corrected.")
@click.option("--name", metavar="TEXT", help="The customer's name as it should be.")
@click.option("--add-email", multiple=True, metavar="EMAIL", help="Add an address (repeatable).")
@click.option(
    "--remove-email", multiple=True, metavar="EMAIL", help="Remove an address (repeatable)."
)
@click.option("--address", metavar="TEXT", help="Postal address, lines separated by ';'.")
@click.option("--spoc-phone", metavar="PHONE", help="The SPOC's phone number ('' clears it).")
@click.option("--cover-phone", metavar="PHONE", help="The cover officer's phone number.")
@click.option(
    "--support-needs-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Replace the support needs (restricted) with this UTF-8 file's text.",
)
@_OPERATOR
@click.pass_obj
def register_amend(
    obj: _Context,
    ref: str,
    reason: str,
    name: str | None,
    add_email: tuple[str, ...],
    remove_email: tuple[str, ...],
    address: str | None,
    spoc_phone: str | None,
    cover_phone: str | None,
    support_needs_file: Path | None,
    operator: str | None,
) -> None:
    """Correct customer REF's factual data (rectification, UK GDPR article 16), audited.

    Restrictions change only by a decision (`spocbot arrangement review`). The audit log keeps
    old and new values, except for the support needs (only that they changed). Correct the
    DMO's register file too, or the next import restores the old value.
    """
    needs = None
    if support_needs_file is not None:
        try:
            needs = support_needs_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"cannot read {support_needs_file}: {exc}") from None
    with _errors():
        app = obj.app
        result = amend(
            app.factory,
            ref,
            Amendment(
                reason=reason,
                name=name,
                add_emails=add_email,
                remove_emails=remove_email,
                postal_address=address,
                spoc_phone=spoc_phone,
                cover_phone=cover_phone,
                support_needs=needs,
            ),
            operator=current_operator(operator),
            staff_addresses=app.staff_addresses,
            staff_domains=app.settings.organisation.staff_domains,
        )
    click.echo(f"Corrected {result.customer_ref}:")
    for change in result.changes:
        click.echo(f"  {change}")
    click.echo(f"Warning: {FILE_WARNING}.", err=True)


@click.command("erase")
@click.argument("ref", metavar="REF")
@_DRY_RUN
@_OPERATOR
@click.pass_obj
def register_erase(obj: _Context, ref: str, dry_run: bool, operator: str | None) -> None:
    """Erase everything about customer REF (UK GDPR article 17); a count-only tombstone stays.

    Refused while the arrangement is in force or within its retention period ([retention]
    months_after_end after its end), and while something about them is unfinished: an open
    flag task (a flag in another system not yet confirmed removed, `spocbot flags list`) or
    an unsent message about them (`spocbot forwards list --status pending`). The evidence
    chain keeps its links, marked purged.
    """
    with _errors():
        app = obj.app
        result = erasure.erase_customer(
            app.factory,
            app.evidence,
            ref,
            operator=current_operator(operator),
            now=app.clock(),
            today=obj.app.today(),
            months_after_end=app.settings.retention.months_after_end,
            dry_run=dry_run,
        )
    ref = result.customer_ref or ref
    if dry_run:
        click.echo(f"Would erase {ref}: {_counts(result.counts)}.")
        click.echo(f"  raw messages that would be deleted: {result.raw_files}")
        return
    click.echo(f"Erased {ref} (erasure {result.erasure_id}): {_counts(result.counts)}.")
    click.echo(f"  raw messages deleted: {result.raw_files}")
    click.echo(_REMOVE_FROM_FILE.format(refs=ref))


REGISTER_COMMANDS: list[click.Command] = [register_amend, register_erase]
"""Added to the ``register`` group by :mod:`bot.cli`."""


# -- retention ------------------------------------------------------------------------------------


@click.group("retention")
def retention_group() -> None:
    """Deleting records once their retention period has passed (policy §8)."""


@retention_group.command("purge")
@click.option(
    "--as-of",
    "as_of",
    callback=_iso_date,
    metavar="YYYY-MM-DD",
    help="Purge as of this date (default: today); a later date only with --dry-run.",
)
@_DRY_RUN
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_OPERATOR
@click.pass_obj
def retention_purge(
    obj: _Context, as_of: date | None, dry_run: bool, as_json: bool, operator: str | None
) -> None:
    """Erase every arrangement (the register's or the partner's) that ended more than
    [retention] months_after_end months before today (or --as-of), and our copies of
    quarantined messages and dismissed review items older than [retention]
    quarantine_months (the mailbox keeps the original); nothing else.

    `spocbot run` does this daily. One count-only tombstone and audit event per run (none
    when nothing was due). An arrangement with open flag tasks (a flag in another system not
    yet confirmed removed) or unsent messages about the person is held back for a later run.
    A date later than today (--as-of) is allowed only with --dry-run, to preview a purge.
    """
    today = obj.app.today()
    if as_of is not None and as_of > today and not dry_run:
        raise click.ClickException(
            "a purge as of a future date would erase records early: add --dry-run to preview it"
        )
    with _errors():
        app = obj.app
        months = app.settings.retention.months_after_end
        run = retention.purge(
            app.factory,
            app.evidence,
            as_of=as_of or today,
            months_after_end=months,
            quarantine_months=app.settings.retention.quarantine_months,
            operator=current_operator(operator),
            now=app.clock(),
            dry_run=dry_run,
        )
    if as_json:
        click.echo(json.dumps(run.as_dict(), indent=2, ensure_ascii=False))
        return
    verb = "Would erase" if dry_run else "Erased"
    if not run.anything_done and not run.skipped:
        click.echo(
            f"Nothing to delete as of {run.as_of} ([retention] months_after_end = "
            f"{months}, quarantine_months = {run.quarantine_months})."
        )
    for purged in run.purged:
        click.echo(
            f"{verb} {purged.customer_ref} (ended {purged.ended_on}): {_counts(purged.counts)}"
        )
    if run.skipped:
        click.echo(
            f"{len(run.skipped)} arrangement(s) past retention are held back"
            + (" (a later run erases them once settled):" if not dry_run else ":")
        )
        for _ref, why in run.skipped:
            click.echo(f"  - {why}")
    if run.quarantine_deleted or run.dismissed_deleted:
        click.echo(
            f"{'Would delete' if dry_run else 'Deleted'} {run.quarantine_deleted} quarantined "
            f"message(s) and {run.dismissed_deleted} dismissed review item(s) older than "
            f"{run.quarantine_months} months ([retention] quarantine_months); the mailboxes "
            "keep the originals."
        )
    if run.open_review_items_past:
        click.echo(
            f"{run.open_review_items_past} review item(s) older than {run.quarantine_months} "
            "months are still open: kept until decided (`spocbot review list`)."
        )
    if run.anything_done and dry_run:
        click.echo(f"Raw messages that would be deleted: {run.raw_files}")
    if run.anything_done and not dry_run:
        click.echo(
            f"Erasure {run.erasure_id}: raw messages deleted {run.raw_files}"
            + (f"; unreferenced files swept {run.swept_files}" if run.swept_files else "")
        )
        if run.purged:
            click.echo(_REMOVE_FROM_FILE.format(refs=", ".join(p.customer_ref for p in run.purged)))


# -- subject access -----------------------------------------------------------------------------


@click.group("sar")
def sar_group() -> None:
    """Subject access requests (UK GDPR article 15)."""


@sar_group.command("export")
@click.option("--customer", "ref", required=True, metavar="REF", help="The customer.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .zip file to write (owner-only).",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@_OPERATOR
@click.pass_obj
def sar_export(obj: _Context, ref: str, out: Path, force: bool, operator: str | None) -> None:
    """Write every record about customer REF to a zip: index.html (readable), data.json and
    the raw messages, with other customers' details removed; audited.
    """
    with _errors():
        app = obj.app
        result = sar.export(
            app.factory,
            app.evidence,
            app.settings,
            app.templates,
            ref,
            out,
            operator=current_operator(operator),
            now=app.clock(),
            force=force,
        )
    records = {k: v for k, v in result.sections.items() if k != "raw_messages"}
    click.echo(
        f"Wrote {result.path}: {sum(records.values())} records ({_counts(records)}) and "
        f"{result.messages} raw messages."
    )
    if result.unchecked:
        click.echo(
            f"Warning: {len(result.unchecked)} part(s) of messages could not be checked for other "
            "customers' details (listed on the summary page); read them before sending.",
            err=True,
        )


COMMANDS: list[click.Command] = [retention_group, sar_group]
