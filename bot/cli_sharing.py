"""The ``spocbot share`` and ``spocbot flags`` commands: the partner council's file (policy §7)
and the flags in other systems (§6).

``share export`` writes the need-to-know view of our arrangements in force for the partner's
contact centre; ``share import`` records the partner's own arrangements, read-only here, so
that mail is routed the same way.  ``flags list`` shows the raise/remove tasks and ``flags
confirm`` records one as done.  Each command that changes or exports anything is audited.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import click

COMMANDS: list[click.Command] = []
"""Filled at the end of this module (see :mod:`bot.cli_schedule` for why it comes first)."""

from bot import flag_tasks, sharing  # noqa: E402 (after COMMANDS: see above)
from bot.cli import _OPERATOR, _Context, _emit, _errors  # noqa: E402


@click.group("share")
def share() -> None:
    """Arrangements shared with the partner council (data sharing agreement, policy §7)."""


@share.command("export")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV file to write (owner-only).",
)
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
@_OPERATOR
@click.pass_obj
def share_export(obj: _Context, out: Path, force: bool, operator: str | None) -> None:
    """Write the partner's need-to-know view of our arrangements in force to a CSV file.

    Customer, SPOC and cover officer with their contact details, the restrictions in plain
    words and as the register's columns (so the partner's spocbot can import it), office
    visits, status, start and review dates. Never the reasons, support needs or change
    required. Audited: one event per customer shared.
    """
    with _errors():
        app = obj.app
        partner = app.settings.sharing.partner_name
        count = sharing.export_shared(
            app.factory, out, partner=partner, force=force, operator=operator
        )
    click.echo(f"Exported {count} arrangement(s) for {partner} to {out}.")


@share.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--partner",
    metavar="NAME",
    help="Whose arrangements these are (default: [sharing] partner_name).",
)
@click.option(
    "--dry-run", is_flag=True, help="Check the file and say what would change; store nothing."
)
@click.option(
    "--confirm-ending",
    is_flag=True,
    help="Allow a file that ends more than half of the partner's arrangements in force.",
)
@_OPERATOR
@click.pass_obj
def share_import(
    obj: _Context,
    file: Path,
    partner: str | None,
    dry_run: bool,
    confirm_ending: bool,
    operator: str | None,
) -> None:
    """Import the partner's own arrangements from FILE (the `share export` format).

    All or nothing. They are routed as ours but read-only here; re-importing replaces the
    partner's set, and an arrangement missing from the new file is ended today (its evidence
    stays until retention purges it). A file that would end more than half of those in force
    is refused unless --confirm-ending (a cut-short export must not end the rest). A
    reference or customer address of our own register is an error.
    """
    with _errors():
        app = obj.app
        name = (partner or app.settings.sharing.partner_name).strip()
        result = sharing.import_shared(
            app.factory,
            file,
            partner=name,
            staff_addresses=app.staff_addresses,
            staff_domains=app.settings.organisation.staff_domains,
            topics=app.settings.topics,
            flag_systems=app.settings.flags.systems,
            today=app.today(),
            operator=operator,
            dry_run=dry_run,
            confirm_ending=confirm_ending,
            not_officers=app.not_officers,
        )
    verb = "Would import" if result.dry_run else "Imported"
    click.echo(
        f"{verb} {file} for {result.partner}: {len(result.created)} new, "
        f"{len(result.updated)} updated, {len(result.unchanged)} unchanged, "
        f"{len(result.ended)} ended."
    )
    for ref in result.created:
        click.echo(f"  new {ref}")
    for ref in result.updated:
        click.echo(f"  updated {ref}")
    for ref, why in result.endings:
        click.echo(f"  ended {ref}: {why} (its flags must be removed)")
    if result.refusal:
        click.echo(f"Without --confirm-ending the import would be refused: {result.refusal}.")
    if result.dry_run:
        click.echo("Dry run: nothing was stored.")


@click.group("flags")
def flags() -> None:
    """Flags in other systems ([flags] systems): raise when an arrangement starts, remove when
    it ends (policy §6)."""


@flags.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the tasks already confirmed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def flags_list(obj: _Context, show_all: bool, as_json: bool) -> None:
    """List the open flag tasks (with --all, the confirmed ones too)."""
    with _errors(), obj.app.factory() as session:
        rows = flag_tasks.list_tasks(session, include_confirmed=show_all)
    _emit(
        obj,
        rows,
        as_json,
        [
            "customer_ref",
            "customer_name",
            "source",
            "system",
            "action",
            "due_on",
            *(["confirmed_at", "confirmed_by"] if show_all else []),
        ],
        "No flag tasks are open." if not show_all else "There are no flag tasks.",
    )


@flags.command("confirm")
@click.argument("ref", metavar="REF")
@click.option("--system", "system", required=True, metavar="NAME", help="As in [flags] systems.")
@click.option("--raised", is_flag=True, help="The flag was raised.")
@click.option("--removed", is_flag=True, help="The flag was removed.")
@_OPERATOR
@click.pass_obj
def flags_confirm(
    obj: _Context, ref: str, system: str, raised: bool, removed: bool, operator: str | None
) -> None:
    """Record that customer REF's flag was raised or removed in a system; audited."""
    if raised == removed:
        raise click.UsageError("give one of --raised or --removed")
    action = flag_tasks.RAISE if raised else flag_tasks.REMOVE
    with _errors():
        app = obj.app
        done = flag_tasks.confirm(
            app.factory,
            app.settings.flags.systems,
            ref,
            system,
            action,
            now=app.clock(),
            operator=operator,
            zone=ZoneInfo(app.settings.organisation.timezone),
        )
    what = "raised" if done.action == flag_tasks.RAISE else "removed"
    click.echo(f"Recorded: {done.customer_ref}'s flag {what} in {done.system}.")


COMMANDS.extend([share, flags])
