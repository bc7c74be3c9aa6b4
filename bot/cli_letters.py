"""The ``spocbot letter`` commands: kinds, render, send and list."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from bot.audit import current_operator
from bot.bootstrap import App, deliver_now
from bot.cli import _OPERATOR, _Context, _emit, _errors, _iso_date
from bot.letters import KINDS, LetterOptions
from bot.letters.formats import FORMATS
from bot.letters.service import letter_status, list_letters, render_letter, send_letter

_KIND_HELP = "\n".join(f"  {k.name:<17} {k.summary}" for k in KINDS.values())


def _kind_argument(f: click.decorators.FC) -> click.decorators.FC:
    return click.argument("kind", type=click.Choice(list(KINDS)), metavar="KIND")(f)


def _letter_options(f: click.decorators.FC) -> click.decorators.FC:
    outcomes = sorted({o for k in KINDS.values() for o in k.outcomes})
    for option in reversed(
        [
            click.option(
                "--customer",
                "customer",
                metavar="REF",
                required=True,
                help="The customer's reference (customer_ref in the register).",
            ),
            click.option(
                "--outcome",
                type=click.Choice(outcomes),
                help="review-outcome: continued, varied or ended; appeal-outcome: "
                "dismissed, varied or upheld (default: as recorded).",
            ),
            click.option(
                "--from",
                "cover_from",
                metavar="YYYY-MM-DD",
                callback=_iso_date,
                help="cover-notice: the first day of the SPOC's absence.",
            ),
            click.option(
                "--to",
                "cover_to",
                metavar="YYYY-MM-DD",
                callback=_iso_date,
                help="cover-notice: the last day of the SPOC's absence.",
            ),
            click.option(
                "--as-of",
                "as_of",
                metavar="YYYY-MM-DD",
                callback=_iso_date,
                help="The letter's date (default: today).",
            ),
            _OPERATOR,
        ]
    ):
        f = option(f)
    return f


def _options(
    app: App,
    as_of: date | None,
    outcome: str | None,
    cover_from: date | None,
    cover_to: date | None,
    operator: str,
) -> LetterOptions:
    today = app.today()
    return LetterOptions(
        as_of=as_of or today,
        outcome=outcome,
        cover_from=cover_from,
        cover_to=cover_to,
        operator=operator,
    )


@click.group(
    help=f"Letters to customers, and the referral form to the DMO.\n\n\b\nKinds:\n{_KIND_HELP}"
)
def letter() -> None:
    pass


@letter.command("kinds")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def letter_kinds(as_json: bool) -> None:
    """List the letters spocbot writes, whom each goes to and the options it takes."""
    rows = [
        {
            "kind": k.name,
            "to": "customer" if k.to_customer else "DMO",
            "summary": k.summary,
            "options": k.options or "-",
        }
        for k in KINDS.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['kind']:<17} to {row['to']:<8} {row['summary']}")
        if row["options"] != "-":
            click.echo(f"{'':<29} options: {row['options']}")


@letter.command("render")
@_kind_argument
@_letter_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="eml: the email as it would be sent (HTML, text and the PDF); docx: Word on "
    "the letterhead; pdf.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    metavar="FILE",
    help="Where to write it (readable by you only).",
)
@click.pass_obj
def letter_render(
    obj: _Context,
    kind: str,
    customer: str,
    outcome: str | None,
    cover_from: date | None,
    cover_to: date | None,
    as_of: date | None,
    operator: str | None,
    fmt: str,
    out: Path,
) -> None:
    """Write the letter KIND for a customer to FILE, to check or print; nothing is sent.

    Refused, naming what is missing, when the letter would lack an element the policy requires
    (the reasons, the change required, the SPOC, the contact details, the restrictions, the
    review date, how to appeal, the emergency number). Audited, without the content.
    """
    with _errors():
        app = obj.app
        who = current_operator(operator)
        rendered = render_letter(
            app.factory,
            app.settings,
            kind,
            customer,
            _options(app, as_of, outcome, cover_from, cover_to, who),
            fmt,
            now=app.clock(),
            operator=who,
        )
        try:
            out.write_bytes(rendered.data)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(
        f"Wrote the {kind} letter for {rendered.letter.customer_ref} ({rendered.letter.about}) "
        f"as {fmt} to {out}."
    )
    for warning in rendered.letter.warnings:
        click.echo(f"Warning: {warning}", err=True)


@letter.command("send")
@_kind_argument
@_letter_options
@click.option(
    "--resend",
    is_flag=True,
    help="Send another copy of a letter already sent about the same decision.",
)
@click.pass_obj
def letter_send(
    obj: _Context,
    kind: str,
    customer: str,
    outcome: str | None,
    cover_from: date | None,
    cover_to: date | None,
    as_of: date | None,
    operator: str | None,
    resend: bool,
) -> None:
    """Email the letter KIND to the customer (their first address in the register), with the
    PDF attached; the referral form goes to the DMO.

    The message is kept as evidence and sent exactly once, now if the mail server answers;
    otherwise it stays queued and the next `spocbot watch` pass sends it. A letter is about
    one decision (or review, appeal, absence): sending it again says it was already sent and
    sends nothing, unless --resend asks for another copy.
    """
    with _errors():
        app = obj.app
        who = current_operator(operator)
        result = send_letter(
            app.factory,
            app.settings,
            app.evidence,
            kind,
            customer,
            _options(app, as_of, outcome, cover_from, cover_to, who),
            now=app.clock(),
            operator=who,
            resend=resend,
        )
        for warning in result.warnings:
            click.echo(f"Warning: {warning}", err=True)
        what = f"the {kind} letter for {customer} ({result.about})"
        if result.already_sent and result.status != "pending":
            click.echo(
                f"Already sent: {what} is letter {result.letter_id}, to {result.recipient_email}"
                f" ({result.status}); nothing was sent again (--resend sends another copy)."
            )
            return
        if result.already_sent:
            click.echo(f"Already queued: {what} is letter {result.letter_id}; sending it now.")
        problem = deliver_now(app, who).problem
        status = letter_status(app.factory, result.letter_id)
    if status == "sent":
        click.echo(f"Sent {what} to {result.recipient_email} (letter {result.letter_id}).")
        return
    click.echo(
        f"Queued {what} for {result.recipient_email} (letter {result.letter_id}), but it is not "
        f"sent yet ({status}): {problem or 'see `spocbot forwards list`'}. The next "
        "`spocbot watch` pass sends it.",
        err=True,
    )
    raise SystemExit(1)


@letter.command("list")
@click.option("--customer", metavar="REF", help="Only this customer.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def letter_list(obj: _Context, customer: str | None, as_json: bool) -> None:
    """List letters sent: kind, customer, what about, to whom, delivery status (no content;
    the message as sent is in the evidence store under sha256)."""
    with _errors(), obj.app.factory() as session:
        rows = list_letters(session, customer)
    _emit(
        obj,
        rows,
        as_json,
        ["id", "customer_ref", "kind", "about", "to", "status", "created_at", "created_by"],
        "No letters sent." if customer is None else "No letters for this customer.",
    )


COMMANDS: list[click.Command] = [letter]
