"""The ``spocbot`` command line end to end: register import/export/list, absences, errors,
and the demo (``make demo``) run as a real process."""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.mail.ports import DeliveryRejected
from tests.unit.test_watcher_with_fakes import Harness, customer_message

REPO = Path(__file__).resolve().parents[2]
HEADER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date\n"
)
CONFIG = """
[organisation]
name = "CLI Homes"
dmo_email = "dmo@homes.example"
bot_address = "bot@homes.example"
staff_domains = ["homes.example"]

[storage]
database_url = "sqlite:///state/db.sqlite"
evidence_dir = "state/evidence"

[backend]
kind = "embedded"

[[mailboxes]]
address = "info@homes.example"
role = "information"

[[mailboxes]]
address = "bot@homes.example"
role = "bot"
"""
GOOD_ROW = (
    "C-1,Casey Customer,casey@mail.example;CASEY@work.example,Sam Spoc,spoc@homes.example,"
    "Chris Cover,cover@homes.example,,active,2026-01-01,2027-01-01\n"
)


@pytest.fixture
def cli(tmp_path: Path) -> tuple[CliRunner, Path]:
    (tmp_path / "spocbot.toml").write_text(CONFIG)
    return CliRunner(), tmp_path


def run(cli: tuple[CliRunner, Path], *args: str) -> tuple[int, str, str]:
    runner, root = cli
    result = runner.invoke(main, ["--config", str(root / "spocbot.toml"), *args])
    return result.exit_code, result.stdout, result.stderr


def register_json(cli: tuple[CliRunner, Path]) -> list[dict[str, object]]:
    code, out, err = run(cli, "register", "list", "--json")
    assert 0 == code, err
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def test_import_lists_customer_with_normalised_addresses(cli: tuple[CliRunner, Path]) -> None:
    (cli[1] / "r.csv").write_text(HEADER + GOOD_ROW)

    code, out, _ = run(cli, "register", "import", str(cli[1] / "r.csv"))

    assert (0, "1 new, 0 updated, 0 unchanged") == (code, out.strip().split(": ")[-1].rstrip("."))
    [row] = register_json(cli)
    assert ["casey@mail.example", "casey@work.example"] == row["customer_emails"]
    assert ["spoc@homes.example"] == row["restricted_to"]


def test_the_spoc_cannot_be_spocbot_nor_the_cover_the_information_mailbox(
    cli: tuple[CliRunner, Path],
) -> None:
    row = GOOD_ROW.replace("spoc@homes.example", "bot@homes.example").replace(
        "cover@homes.example", "info@homes.example"
    )
    (cli[1] / "r.csv").write_text(HEADER + row)

    code, _, err = run(cli, "register", "import", str(cli[1] / "r.csv"))

    assert 1 == code
    assert (
        "2:spoc_email: bot@homes.example is spocbot's own address ([organisation] bot_address)"
        in err
    )
    assert (
        "2:cover_email: info@homes.example is the information mailbox ([[mailboxes]] role "
        '"information")' in err
    )
    assert [] == register_json(cli)


def test_bad_file_is_rejected_whole_with_every_error_located(cli: tuple[CliRunner, Path]) -> None:
    bad = (
        HEADER
        + GOOD_ROW.replace("C-1", "C-0")
        + "C-2,Bad Status,b@mail.example,Sam,spoc@homes.example,,,,sleeping,2026-01-01,2027-01-01\n"
        + "C-3,Bad Date,c@mail.example,Sam,spoc@homes.example,,,,active,2026-13-01,2027-01-01\n"
        + "C-4,Staff,info@homes.example,Sam,spoc@homes.example,,,,active,2026-01-01,2025-01-01\n"
    )
    path = cli[1] / "bad.csv"
    path.write_text(bad)

    code, _, err = run(cli, "register", "import", str(path))

    assert 1 == code
    assert f"{path}:3:status: unknown status 'sleeping'" in err
    assert f"{path}:4:start_date: not a date in YYYY-MM-DD form: '2026-13-01'" in err
    assert f"{path}:5:customer_emails: info@homes.example is a staff address" in err
    assert f"{path}:5:review_date: review date 2025-01-01 is before start date 2026-01-01" in err
    assert [] == register_json(cli)  # the good row on line 2 was not imported either


def test_reimport_updates_by_reference_and_export_round_trips(cli: tuple[CliRunner, Path]) -> None:
    root = cli[1]
    (root / "r.csv").write_text(HEADER + GOOD_ROW)
    run(cli, "register", "import", str(root / "r.csv"))
    (root / "r2.csv").write_text(HEADER + GOOD_ROW.replace("Casey Customer", "Casey Renamed"))

    code, out, _ = run(cli, "register", "import", str(root / "r2.csv"))
    assert (0, True) == (code, "0 new, 1 updated, 0 unchanged" in out)
    for suffix in (".csv", ".xlsx"):
        exported = root / f"export{suffix}"
        assert 0 == run(cli, "register", "export", str(exported))[0]
        assert 0 == run(cli, "register", "import", str(exported))[0]
    assert ["Casey Renamed"] == [r["customer_name"] for r in register_json(cli)]


def test_reimporting_the_same_file_says_how_many_were_unchanged(
    cli: tuple[CliRunner, Path],
) -> None:
    path = cli[1] / "r.csv"
    other = (
        "C-2,Kit Customer,kit@mail.example,Sam Spoc,spoc@homes.example,,,,"
        "active,2026-01-01,2027-01-01\n"
    )
    path.write_text(HEADER + GOOD_ROW + other)
    run(cli, "register", "import", str(path))

    code, out, _ = run(cli, "register", "import", str(path))

    assert (0, f"Imported {path}: 0 new, 0 updated, 2 unchanged.") == (code, out.strip())


def test_only_customers_whose_arrangement_changed_count_as_updated(
    cli: tuple[CliRunner, Path],
) -> None:
    root = cli[1]
    other = GOOD_ROW.replace("C-1", "C-2").replace("casey@mail", "kit@mail").replace("CASEY@", "k@")
    third = GOOD_ROW.replace("C-1", "C-3").replace("casey@mail", "jo@mail").replace("CASEY@", "j@")
    (root / "r.csv").write_text(HEADER + GOOD_ROW + other + third)
    run(cli, "register", "import", str(root / "r.csv"))
    (root / "r2.csv").write_text(
        HEADER + GOOD_ROW.replace("2027-01-01", "2027-02-01") + other + third
    )

    code, out, _ = run(cli, "register", "import", str(root / "r2.csv"))

    assert (0, "0 new, 1 updated, 2 unchanged.") == (code, out.strip().split(": ")[-1])


def test_import_warns_of_a_past_review_date_and_an_unwatched_spoc_inbox(
    cli: tuple[CliRunner, Path],
) -> None:
    path = cli[1] / "r.csv"
    row = GOOD_ROW.replace("2026-01-01", "2025-11-01").replace("2027-01-01", "2026-02-01")
    path.write_text(HEADER + row)

    code, out, err = run(cli, "register", "import", str(path))

    assert (0, "Imported") == (code, out.split(" ")[0])
    assert [
        f"Warning: {path}:2:review_date: the review date 2026-02-01 has already passed",
        f"Warning: {path}:2:spoc_email: spoc@homes.example is not a watched mailbox, so what "
        "the customer sends the SPOC is not seen and their permitted contact cannot be recorded",
    ] == err.splitlines()


def test_a_reference_differing_only_in_case_is_refused_naming_both(
    cli: tuple[CliRunner, Path],
) -> None:
    (cli[1] / "r.csv").write_text(HEADER + GOOD_ROW.replace("C-1", "NC-0001"))
    run(cli, "register", "import", str(cli[1] / "r.csv"))
    path = cli[1] / "lower.csv"
    path.write_text(HEADER + GOOD_ROW.replace("C-1", "nc-0001"))

    code, _, err = run(cli, "register", "import", str(path))

    assert 1 == code
    assert [
        f"  {path}:2:customer_ref: nc-0001 differs only in case from NC-0001, already in the "
        "register (references are compared ignoring case: write NC-0001 to update that customer)"
    ] == err.splitlines()[1:]
    assert ["NC-0001"] == [r["customer_ref"] for r in register_json(cli)]


def test_export_error_reads_as_an_export_error(cli: tuple[CliRunner, Path]) -> None:
    path = cli[1] / "out.json"

    code, _, err = run(cli, "register", "export", str(path))

    assert 1 == code
    assert f"Error: cannot export to {path}: use a .csv or .xlsx file name" in err
    assert "import" not in err
    assert not path.exists()


def test_export_to_a_missing_folder_is_a_clear_error(cli: tuple[CliRunner, Path]) -> None:
    path = cli[1] / "no-such-folder" / "out.csv"

    code, _, err = run(cli, "register", "export", str(path))

    assert (1, f"Error: cannot export to {path}: No such file or directory") == (
        code,
        err.strip(),
    )


def test_file_level_import_problem_has_no_row_or_column(cli: tuple[CliRunner, Path]) -> None:
    path = cli[1] / "x.txt"
    path.write_text(HEADER + GOOD_ROW)

    code, _, err = run(cli, "register", "import", str(path))

    assert 1 == code
    assert f"  {path}: the register must be a .csv or .xlsx file" in err.splitlines()


def test_absence_for_unknown_officer_is_refused(cli: tuple[CliRunner, Path]) -> None:
    code, _, err = run(
        cli,
        "officer",
        "absence",
        "add",
        "nobody@homes.example",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-02",
    )
    assert 1 == code
    assert "no officer with email nobody@homes.example" in err


def test_absence_dates_are_validated_and_listed(cli: tuple[CliRunner, Path]) -> None:
    (cli[1] / "r.csv").write_text(HEADER + GOOD_ROW)
    run(cli, "register", "import", str(cli[1] / "r.csv"))

    bad_date = run(
        cli,
        "officer",
        "absence",
        "add",
        "spoc@homes.example",
        "--from",
        "1/12/2026",
        "--to",
        "2026-12-02",
    )
    backwards = run(
        cli,
        "officer",
        "absence",
        "add",
        "spoc@homes.example",
        "--from",
        "2026-12-05",
        "--to",
        "2026-12-02",
    )
    good = run(
        cli,
        "officer",
        "absence",
        "add",
        "SPOC@homes.example",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-02",
    )

    assert (2, 1, 0) == (bad_date[0], backwards[0], good[0])
    assert "not a date in YYYY-MM-DD form" in bad_date[2]
    _, out, _ = run(cli, "officer", "absence", "list", "--json")
    assert [
        {
            "id": 1,
            "officer": "Sam Spoc",
            "email": "spoc@homes.example",
            "from": "2026-12-01",
            "to": "2026-12-02",
        }
    ] == json.loads(out)
    removed = run(cli, "officer", "absence", "remove", "1")
    missing = run(cli, "officer", "absence", "remove", "1")
    assert (0, 1) == (removed[0], missing[0])
    assert "no absence with id 1" in missing[2]


def add_absence(cli: tuple[CliRunner, Path], starts: str, ends: str) -> tuple[int, str, str]:
    return run(
        cli, "officer", "absence", "add", "spoc@homes.example", "--from", starts, "--to", ends
    )


def test_absence_add_prints_the_new_id_and_remove_names_the_officer(
    cli: tuple[CliRunner, Path],
) -> None:
    (cli[1] / "r.csv").write_text(HEADER + GOOD_ROW)
    run(cli, "register", "import", str(cli[1] / "r.csv"))

    added = add_absence(cli, "2099-12-01", "2099-12-02")
    removed = run(cli, "officer", "absence", "remove", "1")

    assert (
        0,
        "Recorded absence 1: Sam Spoc <spoc@homes.example> away from 2099-12-01 to 2099-12-02.",
        "",
    ) == (added[0], added[1].strip(), added[2])
    assert (0, "Removed absence 1: Sam Spoc <spoc@homes.example> (2099-12-01 to 2099-12-02).") == (
        removed[0],
        removed[1].strip(),
    )


def test_overlapping_absence_is_recorded_with_a_warning(cli: tuple[CliRunner, Path]) -> None:
    (cli[1] / "r.csv").write_text(HEADER + GOOD_ROW)
    run(cli, "register", "import", str(cli[1] / "r.csv"))
    add_absence(cli, "2099-12-01", "2099-12-10")
    add_absence(cli, "2099-12-20", "2099-12-24")

    code, out, err = add_absence(cli, "2099-12-10", "2099-12-12")

    assert (0, True) == (code, out.startswith("Recorded absence 3:"))
    assert [
        "Warning: it overlaps absence 1 of Sam Spoc (2099-12-01 to 2099-12-10); if one was "
        "entered by mistake, remove it with `spocbot officer absence remove ID`."
    ] == err.splitlines()


def test_absence_wholly_in_the_past_is_recorded_with_a_warning(
    cli: tuple[CliRunner, Path],
) -> None:
    (cli[1] / "r.csv").write_text(HEADER + GOOD_ROW)
    run(cli, "register", "import", str(cli[1] / "r.csv"))

    code, out, err = add_absence(cli, "2020-01-01", "2020-01-02")

    assert (0, True) == (code, out.startswith("Recorded absence 1:"))
    assert [
        "Warning: it is wholly in the past (it ended on 2020-01-02), so it changes no "
        "routing; check the dates."
    ] == err.splitlines()


def test_watch_json_without_once_is_a_usage_error_not_the_daemon(
    cli: tuple[CliRunner, Path],
) -> None:
    code, _, err = run(cli, "watch", "--json")

    assert 2 == code
    assert "--json needs --once" in err
    assert not (cli[1] / "state").exists()  # nothing was opened, let alone watched


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_works_before_or_after_the_watch_subcommand(
    cli: tuple[CliRunner, Path], where: str
) -> None:
    ours, library = logging.getLogger("bot"), logging.getLogger("httpx")
    levels = ours.level, library.level
    args = ("-v", "watch", "--once") if where == "before" else ("watch", "--once", "-v")
    try:
        ours.setLevel(logging.NOTSET)
        code, out, err = run(cli, *args)
        logs_decisions = ours.isEnabledFor(logging.DEBUG)
        logs_traffic = library.isEnabledFor(logging.DEBUG)  # URLs with delta tokens: never
    finally:
        ours.setLevel(levels[0])
        library.setLevel(levels[1])

    assert (0, True, False) == (code, logs_decisions, logs_traffic), out + err
    assert out.startswith("Checked 1 folder(s): 0 new message(s)")


def test_retrying_a_forward_that_does_not_exist_says_so(cli: tuple[CliRunner, Path]) -> None:
    code, _, err = run(
        cli, "forwards", "retry", "7", "--to", "dmo@homes.example", "--operator", "Jo"
    )

    assert (1, "Error: no forward with id 7 (see `spocbot forwards list`)") == (code, err.strip())


def test_imports_and_absences_are_audited_with_the_operator_and_no_personal_data(
    cli: tuple[CliRunner, Path],
) -> None:
    (cli[1] / "r.csv").write_text(HEADER + GOOD_ROW)
    run(cli, "register", "import", str(cli[1] / "r.csv"), "--operator", "Dana DMO")
    run(cli, "register", "import", str(cli[1] / "r.csv"), "--operator", "Dana DMO")
    add_absence(cli, "2099-12-01", "2099-12-02")
    run(cli, "officer", "absence", "remove", "1", "--operator", "Dana DMO")

    _, out, _ = run(cli, "audit", "list", "--json")

    events = json.loads(out)
    assert [
        (
            "Dana DMO",
            "register.import",
            "register_file:r.csv",
            "1 new, 0 updated, 0 unchanged; new: C-1",
        ),
        ("Dana DMO", "register.import", "register_file:r.csv", "0 new, 0 updated, 1 unchanged"),
        (
            getpass.getuser(),
            "absence.add",
            "officer_absence:1",
            "Sam Spoc <spoc@homes.example> away 2099-12-01 to 2099-12-02",
        ),
        (
            "Dana DMO",
            "absence.remove",
            "officer_absence:1",
            "Sam Spoc <spoc@homes.example> away 2099-12-01 to 2099-12-02",
        ),
    ] == [(e["operator"], e["action"], e["record"], e["details"]) for e in events]
    assert "casey" not in out.lower()


def test_version_is_printed_without_a_configuration(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(tmp_path / "none.toml"), "--version"], prog_name="spocbot"
    )

    assert (0, f"spocbot {importlib.metadata.version('spocbot')}") == (
        result.exit_code,
        result.stdout.strip(),
    )


def test_bad_config_names_the_key(cli: tuple[CliRunner, Path]) -> None:
    (cli[1] / "spocbot.toml").write_text(CONFIG.replace('kind = "embedded"', 'kind = "pigeon"'))

    code, _, err = run(cli, "register", "list")

    assert 1 == code
    assert "backend.kind: Input should be 'imap', 'graph' or 'embedded'" in err


def test_missing_config_file_says_how_to_give_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.toml"), "register", "list"])

    assert 1 == result.exit_code
    assert "configuration file not found" in result.stderr


def test_demo_runs_every_case_as_expected_and_leaves_state(tmp_path: Path) -> None:
    config = tmp_path / "demo.toml"
    original = (REPO / "data/demo/spocbot.toml").read_text()
    config.write_text(original.replace("../../var/demo/", f"{tmp_path}/state/"))

    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "--config",
            str(config),
            "demo",
            "--data",
            str(REPO / "data/demo"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )

    assert 0 == demo.returncode, demo.stdout + demo.stderr
    assert "All cases behaved as expected." in demo.stdout
    lines = demo.stdout.splitlines()
    assert [
        "      → permitted contact recorded; left where it arrived, in the SPOC's inbox "
        "(amelia.hart@)",
        "      → permitted contact recorded; left where it arrived, in housing@, an address the "
        "arrangement permits",
    ] == [lines[i + 1] for i, line in enumerate(lines) if line[3:6] in ("01 ", "14 ")]
    listed = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "breaches", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=True,
    )
    rows = json.loads(listed.stdout)
    assert 7 == len(rows)  # one of them confirmed from the review queue by the demo
    assert {
        "id",
        "customer_ref",
        "mailboxes",
        "message_id",
        "received_at",
        "reason",
        "forwarded_to",
        "sha256",
    } <= set(rows[0])

    def listing(*args: str) -> list[dict[str, object]]:
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "--config", str(config), *args, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            check=True,
        )
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    waiting = listing("review", "list")
    assert ["display-name-lookalike", "unreadable-sender", "possible-match"] == [
        r["rules"] for r in waiting
    ]
    [confirmed] = [r for r in listing("review", "list", "--all") if r["status"] == "confirmed"]
    assert ("NV-1002", "demo (as the DMO)") == (confirmed["customer_ref"], confirmed["decided_by"])
    everything = listing("audit", "list")
    events = [e for e in everything if not str(e["operator"]).startswith("spocbot (")]
    automatic = {(e["operator"], str(e["action"]).split(".")[-1]) for e in everything} - {
        (e["operator"], str(e["action"]).split(".")[-1]) for e in events
    }
    # What the service did by itself is audited too, under its own name.
    assert {("spocbot (watcher)", "recorded"), ("spocbot (watcher)", "sent")} <= automatic
    assert [
        ("register.import", None),
        ("absence.add", None),
        ("review.confirm", "NV-1002"),
        # The time-limits tour: a decision, an appeal, the letter in three formats, sent.
        ("arrangement.decide", "NV-1003"),
        ("arrangement.appeal", "NV-1003"),
        ("letter.render", "NV-1003"),
        ("letter.render", "NV-1003"),
        ("letter.render", "NV-1003"),
        ("letter.send", "NV-1003"),
        # The data protection tour: exports, sharing, a flag; then NV-1005's arrangement is
        # ended and purged with NV-1004, and their own entries go with them (count-only
        # tombstone).
        ("evidence.export", "NV-1001"),
        ("sar.export", "NV-1001"),
        ("share.export", "NV-1001"),
        ("share.export", "NV-1002"),
        ("share.export", "NV-1003"),
        ("share.export.summary", None),
        ("flags.confirm_raise", "NV-1001"),
        ("retention.purge", None),
    ] == [(e["action"], e["customer_ref"]) for e in events]
    assert [] == [e for e in everything if e["customer_ref"] in ("NV-1004", "NV-1005")]
    chain = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "evidence", "verify"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert (0, True) == (chain.returncode, " 1 purged" in chain.stdout), chain.stdout
    assert {"demo (as the DMO)"} == {e["operator"] for e in events}
    # The register's restricted reasons and support needs never reach a forward, cover note,
    # reminder or digest (NV-1003's own letter holds NV-1003's reasons, and only those).
    kept = b"".join(
        p.read_bytes() for p in (tmp_path / "state" / "evidence").rglob("*") if p.is_file()
    )
    assert (False, False) == (b"64 emails" in kept, b"large print" in kept)
    assert [
        "NV-1003-introduction.docx",
        "NV-1003-introduction.eml",
        "NV-1003-introduction.pdf",
    ] == (sorted(p.name for p in (tmp_path / "state" / "letters").iterdir()))


def test_demo_help_counts_the_passes_it_runs(cli: tuple[CliRunner, Path]) -> None:
    _, out, _ = run(cli, "demo", "--help")

    assert (True, False) == ("three passes" in out, "two passes" in out)


def test_listing_an_unknown_customer_says_so(cli: tuple[CliRunner, Path]) -> None:
    code, _, err = run(cli, "breaches", "list", "--customer", "NV-9999")

    assert 1 == code
    assert "no customer with reference NV-9999" in err


def test_register_list_shows_customer_emails_and_every_restriction(
    cli: tuple[CliRunner, Path],
) -> None:
    header = HEADER.rstrip("\n") + (
        ",representative_emails,channels,contact_hours,max_contacts,max_issues,acknowledge\n"
    )
    row = GOOD_ROW.rstrip("\n") + (
        ",advocate@help.example,email;letter,Mon-Fri 09:00-17:00,3/week,2/month,yes\n"
    )
    (cli[1] / "r.csv").write_text(header + row)
    run(cli, "register", "import", str(cli[1] / "r.csv"))

    _, table, _ = run(cli, "register", "list")
    [listed] = register_json(cli)

    assert "casey@mail.example, casey@work.example" in table
    assert (
        "representatives advocate@help.example; channels email/letter; "
        "hours Mon-Fri 09:00-17:00; max 3/week; issues 2/month; acknowledged"
    ) in table
    assert {
        "customer_emails": ["casey@mail.example", "casey@work.example"],
        "spoc_email": "spoc@homes.example",
        "cover_email": "cover@homes.example",
        "representative_emails": ["advocate@help.example"],
        "channels": ["email", "letter"],
        "contact_hours": "Mon-Fri 09:00-17:00",
        "max_contacts": "3/week",
        "max_issues": "2/month",
        "subject_matters": [],
        "acknowledge": True,
    }.items() <= listed.items()


@pytest.fixture
def watched(tmp_path: Path) -> tuple[Harness, tuple[CliRunner, Path]]:
    """A watcher on fakes (see tests/unit/test_watcher_with_fakes.py), and the CLI on the
    same configuration and database."""
    return Harness(tmp_path), (CliRunner(), tmp_path)


def test_breaches_show_prints_one_breach_in_full_with_its_raw_file(
    watched: tuple[Harness, tuple[CliRunner, Path]],
) -> None:
    h, cli = watched
    h.info.deliver(customer_message())
    h.watcher.run_pass()

    code, out, _ = run(cli, "breaches", "show", "1")
    shown = dict(line.strip().split(": ", 1) for line in out.splitlines())
    missing = run(cli, "breaches", "show", "2")

    [breach] = h.breaches()
    assert 0 == code
    assert {
        "customer ref": "C-1",
        "mailboxes": "info@homes.example",
        "sightings": "info@homes.example (INBOX, UID 1)",
        "rules": "bypassed-spoc",
        "raw message": str(h.app.evidence.path_for(str(breach["sha256"]))),
    }.items() <= shown.items()
    assert shown["forwarded to"].startswith("Sam Spoc <spoc@homes.example> (sent, 2026-12-03")
    assert (1, "Error: there is no breach 2 (see `spocbot breaches list`)") == (
        missing[0],
        missing[2].strip(),
    )


def test_forwards_list_shows_the_error_the_sent_time_and_what_it_is_about(
    watched: tuple[Harness, tuple[CliRunner, Path]],
) -> None:
    h, cli = watched
    h.info.deliver(customer_message(1))
    h.watcher.run_pass()
    h.sender.fail_with = DeliveryRejected("550 no such user")
    h.info.deliver(customer_message(2))
    h.watcher.run_pass()

    _, table, _ = run(cli, "forwards", "list")
    _, failed, _ = run(cli, "forwards", "list", "--status", "failed", "--json")
    _, nobody, _ = run(cli, "forwards", "list", "--customer", "C-1", "--status", "pending")

    assert ["id", "kind", "customer_ref", "about", "to", "status", "attempts", "sent_at"] == (
        table.splitlines()[0].split()[:8]
    )
    assert "breach 1" in table.splitlines()[1] and "2026-12-03" in table.splitlines()[1]
    assert table.splitlines()[2].rstrip().endswith("550 no such user")
    assert [(2, 2, "550 no such user", None)] == [
        (f["id"], f["breach_id"], f["last_error"], f["sent_at"]) for f in json.loads(failed)
    ]
    assert "No forwards match." == nobody.strip()


def test_forwards_help_does_not_call_acknowledgements_forwards_to_officers(
    cli: tuple[CliRunner, Path],
) -> None:
    _, out, _ = run(cli, "--help")

    [line] = [line for line in out.splitlines() if line.strip().startswith("forwards")]
    assert "acknowledgements to customers" in line


def test_quarantine_shows_the_customer_and_where_the_raw_message_is(
    watched: tuple[Harness, tuple[CliRunner, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.watcher as watcher_module

    h, cli = watched
    real_parse = watcher_module.parse_envelope

    def parse(header: bytes, **kwargs: object) -> object:
        if b"Repairs 1" in header:
            raise UnicodeError("simulated parser failure")
        return real_parse(header, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(watcher_module, "parse_envelope", parse)
    h.info.deliver(customer_message(1))  # cannot be processed: the sender is read from the file
    h.info.deliver(customer_message(2, extra="X-Padding: " + "x" * 6000 + "\r\n"))  # too large
    h.info.deliver(customer_message(11, sender="stranger@else.example"))  # "Repairs 11" fails
    h.watcher.run_pass()

    code, listed, err = run(cli, "quarantine", "list", "--json")
    assert 0 == code, err
    code, out, _ = run(cli, "quarantine", "show", "1")
    shown = dict(line.strip().split(": ", 1) for line in out.splitlines())

    assert [("C-1", True), ("C-1", False), (None, True)] == [
        (q["customer_ref"], q["sha256"] is not None) for q in json.loads(listed)
    ]
    sha256 = json.loads(listed)[0]["sha256"]
    assert 0 == code
    assert {
        "customer ref": "C-1",
        "reason": "could not be processed: UnicodeError: simulated parser failure",
        "size": str(len(h.app.evidence.get(sha256))),
        "raw message": str(h.app.evidence.path_for(sha256)),
    }.items() <= shown.items()
    assert "raw message: not kept" in run(cli, "quarantine", "show", "2")[1]
