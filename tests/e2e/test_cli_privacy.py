"""`spocbot register amend`, `register erase`, `retention purge` and `sar export` end to end:
corrections validated and audited (support needs only as "changed"), partner entries
refused, erasure refused with its reason and date, the purge's dry run and JSON, and the
subject access zip."""

from __future__ import annotations

import json
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.bootstrap import build_app
from bot.store import models as m
from tests.e2e.test_cli import HEADER, cli, run  # noqa: F401 (cli is a fixture)

Cli = tuple[CliRunner, Path]
REGISTER = HEADER + (
    "C-1,Casey One,casey@mail.example,Sam Spoc,spoc@homes.example,Chris Cover,"
    "cover@homes.example,,active,2026-01-01,2027-01-01\n"
    "C-2,Dana Two,dana@mail.example,Sam Spoc,spoc@homes.example,,,,ceased,2025-01-01,2025-06-01\n"
)
SECRET = "OKAPI-NEEDS-4411 uses a screen reader"


@pytest.fixture
def registered(cli: Cli) -> Cli:  # noqa: F811
    (cli[1] / "register.csv").write_text(REGISTER)
    code, _, err = run(cli, "register", "import", str(cli[1] / "register.csv"))
    assert 0 == code, err
    return cli


def audit_details(runner: Cli, action: str) -> list[str]:
    code, out, _ = run(runner, "audit", "list", "--json")
    assert 0 == code
    return [e["details"] for e in json.loads(out) if e["action"] == action]


def set_ended(runner: Cli, ref: str, on: str) -> None:
    app = build_app(runner[1] / "spocbot.toml")
    with app.factory.begin() as session:
        arrangement = session.scalars(
            select(m.Arrangement).join(m.Customer).where(m.Customer.ref == ref)
        ).one()
        arrangement.ended_on = date.fromisoformat(on)


def test_amend_changes_the_name_audits_old_and_new_and_warns_about_the_file(
    registered: Cli,
) -> None:
    code, out, err = run(
        registered, "register", "amend", "C-1", "--name", "Casey Oneill", "--reason", "typo"
    )

    assert (0, True, True) == (
        code,
        "name: 'Casey One' -> 'Casey Oneill'" in out,
        "register file" in err,
    )
    assert ["name: 'Casey One' -> 'Casey Oneill'; reason: typo"] == audit_details(
        registered, "register.amend"
    )


def test_amend_audits_support_needs_only_as_changed(registered: Cli) -> None:
    (registered[1] / "needs.txt").write_text(SECRET)

    code, out, _ = run(
        registered,
        "register",
        "amend",
        "C-1",
        "--support-needs-file",
        str(registered[1] / "needs.txt"),
        "--reason",
        "the customer told us",
    )

    details = audit_details(registered, "register.amend")
    assert (
        0,
        False,
        ["support needs: changed (restricted; not shown); reason: the customer told us"],
    ) == (
        code,
        SECRET in out,
        details,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--add-email", "not-an-address"], "is not an email address"),
        (["--add-email", "dana@mail.example"], "already belongs to customer C-2"),
        (["--remove-email", "casey@mail.example"], "would have no email address left"),
        (["--spoc-phone", "call me"], "not a phone number"),
        (["--name", "Casey One"], "nothing to change"),
        ([], "nothing to change: give at least one of --name, --add-email, --remove-email"),
        (["--add-email", "someone@homes.example"], "is in our staff domains"),
        (["--add-email", "x@mail.homes.example"], "is in our staff domains"),
    ],
)
def test_amend_refuses_what_it_cannot_do(registered: Cli, args: list[str], message: str) -> None:
    code, _, err = run(registered, "register", "amend", "C-1", *args, "--reason", "x")

    assert (1, True) == (code, message in " ".join(err.split()))


def test_amend_refuses_a_partner_officers_address(registered: Cli) -> None:
    app = build_app(registered[1] / "spocbot.toml")
    with app.factory.begin() as session:  # as `share import` stores the partner's SPOC
        session.add(m.Officer(name="Pat Council", email="pat@council.example"))

    code, _, err = run(
        registered,
        "register",
        "amend",
        "C-1",
        "--add-email",
        "Pat@Council.Example",
        "--reason",
        "x",
    )

    assert (1, True) == (
        code,
        "--add-email: pat@council.example is the address of officer Pat Council, not a "
        "customer's" in " ".join(err.split()),
    )


def test_amend_replaces_an_address_in_one_command(registered: Cli) -> None:
    code, out, _ = run(
        registered,
        "register",
        "amend",
        "C-1",
        "--add-email",
        "Casey.New@Mail.Example",
        "--remove-email",
        "casey@mail.example",
        "--reason",
        "new address",
    )

    assert (0, True, True) == (
        code,
        "email added: casey.new@mail.example" in out,
        "email removed: casey@mail.example" in out,
    )


def test_amend_refuses_a_partner_entry(registered: Cli) -> None:
    app = build_app(registered[1] / "spocbot.toml")
    with app.factory.begin() as session:
        customer = session.scalars(select(m.Customer).where(m.Customer.ref == "C-1")).one()
        customer.source, customer.partner = "partner", "Vale Council"

    code, _, err = run(registered, "register", "amend", "C-1", "--name", "X", "--reason", "x")

    assert (1, True) == (
        code,
        "C-1 is Vale Council's arrangement, imported by `spocbot share import`; it is "
        "read-only here" in err,
    )


def test_erase_is_refused_while_the_arrangement_is_in_force(registered: Cli) -> None:
    code, _, err = run(registered, "register", "erase", "C-1")

    assert (1, True) == (code, "C-1 cannot be erased: the arrangement is in force" in err)


def test_erase_is_refused_within_retention_with_the_date(registered: Cli) -> None:
    set_ended(registered, "C-2", "2026-11-01")

    code, _, err = run(registered, "register", "erase", "C-2")

    assert (1, True) == (
        code,
        "kept until 2027-05-01 under [retention] months_after_end = 6 (policy §8)" in err,
    )


def test_erase_after_retention_prints_counts_and_the_register_file_reminder(
    registered: Cli,
) -> None:
    set_ended(registered, "C-2", "2025-06-01")

    dry = run(registered, "register", "erase", "C-2", "--dry-run")
    code, out, _ = run(registered, "register", "erase", "C-2")

    assert (0, True, 0, True, True) == (
        dry[0],
        "Would erase C-2: " in dry[1],
        code,
        "Erased C-2 (erasure 1): " in out,
        "Remove C-2 from the DMO's register file" in out,
    )
    code, out, _ = run(registered, "register", "list", "--json")
    assert ["C-1"] == [r["customer_ref"] for r in json.loads(out)]


def test_retention_purge_dry_run_json_lists_what_would_go(registered: Cli) -> None:
    set_ended(registered, "C-2", "2025-06-01")

    code, out, _ = run(registered, "retention", "purge", "--dry-run", "--json")

    data = json.loads(out)
    assert (0, [("C-2", "2025-06-01", 1)], None) == (
        code,
        [(p["customer_ref"], p["ended_on"], p["customers"]) for p in data["purged"]],
        data["erasure_id"],
    )


def test_retention_purge_as_of_a_date_before_the_end_of_retention_purges_nothing(
    registered: Cli,
) -> None:
    set_ended(registered, "C-2", "2026-06-01")

    code, out, _ = run(registered, "retention", "purge", "--as-of", "2026-12-01")

    assert (0, True) == (code, out.startswith("Nothing to delete as of 2026-12-01"))


def test_retention_purge_deletes_old_quarantined_copies_and_says_so(registered: Cli) -> None:
    app = build_app(registered[1] / "spocbot.toml")
    raw = b"Subject: unreadable\r\n\r\nx\r\n"
    with app.factory.begin() as session:
        session.add(
            m.Quarantine(
                mailbox="info@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=1,
                reason="malformed MIME",
                sha256=app.evidence.put(raw),
                size=len(raw),
                created_at=datetime(2025, 1, 10, 9, 0, tzinfo=ZoneInfo("UTC")),
            )
        )

    code, out, _ = run(registered, "retention", "purge")

    assert 0 == code
    assert (
        "Deleted 1 quarantined message(s) and 0 dismissed review item(s) older than 6 months "
        "([retention] quarantine_months); the mailboxes keep the originals." in out
    )
    assert "raw messages deleted 1" in out
    code, out, _ = run(registered, "retention", "purge")
    assert out.startswith("Nothing to delete")


def test_evidence_verify_refuses_a_head_that_is_not_a_sha256(registered: Cli) -> None:
    code, out, err = run(registered, "evidence", "verify", "--head", "deadbeef")

    assert (2, "", True) == (
        code,
        out,
        "'deadbeef' is not a head: a head is a 64-digit hex SHA-256" in " ".join(err.split()),
    )


def test_sar_export_writes_the_zip_and_refuses_to_overwrite(registered: Cli) -> None:
    out = registered[1] / "c1.zip"

    code, printed, _ = run(registered, "sar", "export", "--customer", "C-1", "--out", str(out))
    again = run(registered, "sar", "export", "--customer", "C-1", "--out", str(out))

    with zipfile.ZipFile(out) as archive:
        page = archive.read("index.html").decode()
    assert (0, True, 1, True, False) == (
        code,
        printed.startswith(f"Wrote {out}"),
        again[0],
        "Casey One" in page,
        "Dana Two" in page,
    )


def _tomorrow() -> str:
    return (datetime.now(ZoneInfo("Europe/London")).date() + timedelta(days=1)).isoformat()


def test_retention_purge_as_of_a_future_date_is_refused_without_dry_run(registered: Cli) -> None:
    set_ended(registered, "C-2", "2025-06-01")

    code, _, err = run(registered, "retention", "purge", "--as-of", _tomorrow())

    assert (1, True) == (
        code,
        "a purge as of a future date would erase records early: add --dry-run to preview it" in err,
    )
    code, out, _ = run(registered, "register", "list", "--json")
    assert ["C-1", "C-2"] == sorted(r["customer_ref"] for r in json.loads(out))


def test_retention_purge_as_of_a_future_date_may_be_previewed(registered: Cli) -> None:
    set_ended(registered, "C-2", "2025-06-01")

    code, out, _ = run(registered, "retention", "purge", "--as-of", _tomorrow(), "--dry-run")

    assert (0, True) == (code, "Would erase C-2" in out)


def test_sar_amend_erase_and_audit_list_find_the_customer_ignoring_case(registered: Cli) -> None:
    set_ended(registered, "C-2", "2025-06-01")
    out = registered[1] / "c1.zip"

    sar_code, _, _ = run(registered, "sar", "export", "--customer", "c-1", "--out", str(out))
    amend = run(registered, "register", "amend", "c-1", "--name", "Casey Oneill", "--reason", "x")
    erase = run(registered, "register", "erase", "c-2")
    listed = run(registered, "audit", "list", "--customer", "c-1", "--json")

    assert (0, 0, "Corrected C-1:", 0, "Erased C-2 (erasure 1)") == (
        sar_code,
        amend[0],
        amend[1].splitlines()[0],
        erase[0],
        erase[1][: len("Erased C-2 (erasure 1)")],
    )
    assert ["register.amend", "sar.export"] == sorted(
        e["action"] for e in json.loads(listed[1]) if e["customer_ref"] == "C-1"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["sar", "export", "--customer", "C-9", "--out", "x.zip"],
        ["register", "erase", "C-9"],
        ["register", "amend", "C-9", "--name", "X", "--reason", "x"],
    ],
)
def test_an_unknown_reference_says_it_may_have_been_erased(
    registered: Cli, args: list[str]
) -> None:
    code, _, err = run(registered, *args)

    assert (1, True) == (
        code,
        "no customer with reference C-9 in the register (it may have been erased or purged: "
        "see `spocbot audit list --action register.erase` and `--action retention.purge`)"
        in " ".join(err.split()),
    )


@pytest.mark.parametrize("command", [["register", "erase"], ["retention", "purge"]])
def test_the_help_says_open_flag_tasks_and_unsent_messages_hold_an_erasure_back(
    cli: Cli,  # noqa: F811
    command: list[str],
) -> None:
    code, out, _ = run(cli, *command, "--help")

    text = " ".join(out.split())
    assert (0, True, True) == (code, "open flag task" in text, "unsent message" in text)


def test_retention_purge_dry_run_says_what_is_held_back_rather_than_nothing(
    registered: Cli,
) -> None:
    set_ended(registered, "C-2", "2025-06-01")
    app = build_app(registered[1] / "spocbot.toml")
    with app.factory.begin() as session:
        arrangement = session.scalars(
            select(m.Arrangement).join(m.Customer).where(m.Customer.ref == "C-2")
        ).one()
        session.add(
            m.FlagTask(
                arrangement_id=arrangement.id,
                system="CRM",
                action="remove",
                due_on=date(2025, 6, 1),
            )
        )

    code, out, _ = run(registered, "retention", "purge", "--dry-run")

    assert (0, False, True, True) == (
        code,
        "Nothing to delete" in out,
        "1 arrangement(s) past retention are held back:" in out,
        "C-2 still has flags to remove in CRM" in out,
    )
