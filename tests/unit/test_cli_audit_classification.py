"""Every command of ``spocbot`` is classified: read-only, or audited.

The audit log must record every action (issue 6): a command that changes or exports anything
writes an audit event with its operator.  This test walks every click command of
:data:`bot.cli.main` and looks it up in the table below, so a new command cannot arrive
without someone deciding which it is; an audited command must take ``--operator``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from bot.audit import events
from bot.cli import main
from tests.unit.test_watcher_with_fakes import Harness

READ_ONLY = "read-only"
AUDITED = "audited"  # writes an audit event with the --operator (or the OS user)
AUTOMATIC = "automatic"  # the service's own work, audited as "spocbot (watcher|scheduler)"
MAINTENANCE = "maintenance"  # changes no register or evidence record

COMMANDS: dict[str, str] = {
    "arrangement appeal": AUDITED,
    "arrangement appeal-decide": AUDITED,
    "arrangement cease-and-desist": AUDITED,
    "arrangement cover-notice": AUDITED,
    "arrangement decide": AUDITED,
    "arrangement end": AUDITED,
    "arrangement history": AUDITED,  # read-only, audited when --include-reasons
    "arrangement refer": AUDITED,
    "arrangement review": AUDITED,
    "audit list": READ_ONLY,
    "breaches list": READ_ONLY,
    "breaches show": READ_ONLY,
    "contacts list": READ_ONLY,
    "db upgrade": MAINTENANCE,  # the schema, not the records
    "demo": MAINTENANCE,  # its own demo database, started afresh
    "digest list": READ_ONLY,
    "digest send": AUTOMATIC,  # what the scheduler sends, sent now
    "doctor": MAINTENANCE,  # --send-test: one message from the bot mailbox to itself
    "evidence export": AUDITED,
    "evidence verify": READ_ONLY,
    "flags confirm": AUDITED,
    "flags list": READ_ONLY,
    "forwards list": READ_ONLY,
    "forwards retry": AUDITED,
    "letter kinds": READ_ONLY,
    "letter list": READ_ONLY,
    "letter render": AUDITED,
    "letter send": AUDITED,
    "officer absence add": AUDITED,
    "officer absence list": READ_ONLY,
    "officer absence remove": AUDITED,
    "quarantine list": READ_ONLY,
    "quarantine show": READ_ONLY,
    "register amend": AUDITED,
    "register erase": AUDITED,
    "register export": AUDITED,
    "register import": AUDITED,
    "register list": AUDITED,  # read-only, audited when --include-reasons
    "reminders list": READ_ONLY,
    "reminders send": AUTOMATIC,
    "rescan": AUDITED,
    "retention purge": AUDITED,
    "review confirm": AUDITED,
    "review dismiss": AUDITED,
    "review list": READ_ONLY,
    "review show": READ_ONLY,
    "run": AUTOMATIC,
    "sar export": AUDITED,
    "share export": AUDITED,
    "share import": AUDITED,
    "watch": AUTOMATIC,
}


def commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


def test_every_command_is_classified_as_read_only_or_audited() -> None:
    table = COMMANDS
    unclassified = [name for name, _ in commands(main) if name not in table]
    assert [] == unclassified, (
        f"classify {', '.join(unclassified)} in {Path(__file__).name} (COMMANDS): read-only, "
        "or audited (an audit event per change or export, with --operator)"
    )


def test_the_table_names_only_commands_that_exist() -> None:
    """A renamed command must not leave its old classification behind."""
    present = {name for name, _ in commands(main)}
    assert [] == sorted(set(COMMANDS) - present)


def test_every_audited_command_takes_an_operator() -> None:
    """Who did it comes from ``--operator`` (default: the OS user)."""
    missing = [
        name
        for name, command in commands(main)
        if COMMANDS.get(name) == AUDITED and "operator" not in {p.name for p in command.params}
    ]
    assert [] == missing


def test_a_plain_register_export_is_audited_too(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(tmp_path / "spocbot.toml"),
            "register",
            "export",
            str(tmp_path / "out.csv"),
            "--operator",
            "Dana DMO",
        ],
    )
    assert 0 == result.exit_code, result.output
    with h.app.factory() as session:
        [event] = events(session, action="register.export")
    assert ("Dana DMO", "register_file:out.csv") == (event["operator"], event["record"])
    assert "without reasons" in event["details"]
