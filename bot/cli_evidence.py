"""The ``spocbot evidence`` commands: verify the evidence chain, export a customer's bundle."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from bot.audit import current_operator
from bot.evidence_chain import holds_link, verify
from bot.evidence_export import export_audited

COMMANDS: list[click.Command] = []
"""Filled at the end of this module (see :mod:`bot.cli_schedule` for why it comes first)."""

from bot.cli import _OPERATOR, _Context, _errors  # noqa: E402 (after COMMANDS: see above)


@click.group(name="evidence")
def evidence_group() -> None:
    """The tamper-evident evidence chain: verify it, export a customer's bundle."""


@evidence_group.command("verify")
@click.option(
    "--head",
    "noted_heads",
    metavar="HASH",
    multiple=True,
    help="A head noted earlier: fail unless it is still a link of the chain (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def evidence_verify(obj: _Context, noted_heads: tuple[str, ...], as_json: bool) -> None:
    """Recompute the evidence chain, every record's hash and every raw message file.

    Exits 0 with a one-line summary when all is intact; exits 1 naming the first problem (the
    record, its link and what is wrong).  Note the head it prints somewhere else (a ticket, a
    letter) and give it with --head later: links removed from the newest end can only be
    detected against a head noted earlier.  Read-only.
    """
    for noted in noted_heads:
        if not _is_hash(noted):
            raise click.BadParameter(
                f"{noted!r} is not a head: a head is a 64-digit hex SHA-256 (as the digest "
                "prints it); check it was copied whole",
                param_hint="--head",
            )
    app = obj.app
    with _errors(), app.factory() as session:
        report = verify(session, app.evidence)
        lost = [noted for noted in noted_heads if not holds_link(session, noted)]
    lines = [
        f"Evidence chain BROKEN: the head {noted} noted earlier is no longer in the chain: "
        "links were removed from its end, or the chain was rebuilt"
        for noted in lost
    ]
    lines += [
        f"The head {noted} noted earlier is still in the chain."
        for noted in noted_heads
        if noted not in lost
    ]
    if as_json:
        click.echo(
            json.dumps(
                {**report.as_dict(), "ok": report.ok and not lost, "lost_heads": lost}, indent=2
            )
        )
    else:
        for line in lines:
            click.echo(line)
        if lost and report.ok:
            click.echo(f"Otherwise the chain verifies: {report.summary()}")
        else:
            click.echo(report.summary())
    if lost or not report.ok:
        raise SystemExit(1)


def _is_hash(text: str) -> bool:
    return len(text.strip()) == 64 and all(c in "0123456789abcdef" for c in text.strip().lower())


@evidence_group.command("export")
@click.option("--customer", "customer_ref", metavar="REF", required=True, help="The customer.")
@click.option(
    "--out",
    metavar="DIR",
    required=True,
    type=click.Path(path_type=Path),
    help="A new or empty folder for the bundle.",
)
@_OPERATOR
@click.pass_obj
def evidence_export(obj: _Context, customer_ref: str, out: Path, operator: str | None) -> None:
    """Write one customer's evidence bundle for an ombudsman or a court.

    index.html and index.csv list every breach, contact and letter; messages/ holds the raw
    .eml files byte for byte; chain.csv the customer's chain links with salts and contents;
    README.txt says how to check them without spocbot.  The whole chain is verified first and
    the result is in the bundle.  Owner-only files; audited.
    """
    app = obj.app
    with _errors():
        result = export_audited(
            app.factory,
            app.evidence,
            app.templates,
            customer_ref,
            out,
            zone=ZoneInfo(app.settings.organisation.timezone),
            now=app.clock(),
            organisation=app.settings.organisation.name,
            operator=current_operator(operator),
        )
    ref = result.customer_ref
    click.echo(
        f"Exported the evidence of {ref} to {out}: {result.records} record(s), "
        f"{result.messages} message file(s), {result.links} chain link(s)."
    )
    click.echo(result.report.summary())
    if result.not_included:
        click.echo(
            f"Warning: {result.not_included} record(s) have no intact raw message in the "
            "evidence store; index.html says which.",
            err=True,
        )
    if not result.report.ok:
        click.echo(
            "Warning: the evidence chain is broken (see above); the bundle says so too. "
            "Run `spocbot evidence verify` for every problem.",
            err=True,
        )


COMMANDS.extend([evidence_group])
