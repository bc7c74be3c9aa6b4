"""``spocbot reminders``, ``spocbot digest`` and ``spocbot run --help`` end to end (CliRunner,
embedded mail servers, the real clock: dates are relative to today)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.schedtest import CONFIG, HEADER, row


@pytest.fixture
def cli(tmp_path: Path) -> tuple[CliRunner, Path]:
    review = date.today() + timedelta(days=10)
    (tmp_path / "spocbot.toml").write_text(CONFIG)
    (tmp_path / "r.csv").write_text(
        HEADER + row("C-1", review=review.isoformat(), start="2026-01-01")
    )
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--config", str(tmp_path / "spocbot.toml"), "register", "import", str(tmp_path / "r.csv")],
    )
    assert 0 == result.exit_code, result.output
    return runner, tmp_path


def run(cli: tuple[CliRunner, Path], *args: str) -> tuple[int, str, str]:
    runner, root = cli
    result = runner.invoke(main, ["--config", str(root / "spocbot.toml"), *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_dry_run_on_a_future_date_shows_what_would_be_sent_and_records_nothing(
    cli: tuple[CliRunner, Path],
) -> None:
    future = (date.today() + timedelta(days=20)).isoformat()

    code, out, _ = run(cli, "reminders", "send", "--dry-run", "--as-of", future, "--json")

    assert 0 == code
    plan = json.loads(out)
    assert (True, 0) == (plan["dry_run"], plan["reminders_recorded"])
    assert {"dmo@homes.example", "spoc@homes.example"} == {msg["to"] for msg in plan["messages"]}
    assert (0, "No reminders recorded.\n") == run(cli, "reminders", "list")[:2]


def test_a_real_run_on_a_future_date_is_refused(cli: tuple[CliRunner, Path]) -> None:
    future = (date.today() + timedelta(days=20)).isoformat()

    code, _, err = run(cli, "reminders", "send", "--as-of", future)

    assert 1 == code
    assert "not due yet" in err and "--dry-run" in err


def test_reminders_send_sends_once_and_list_shows_them(cli: tuple[CliRunner, Path]) -> None:
    code, out, err = run(cli, "reminders", "send")
    assert 0 == code, err
    assert "queued 2 message(s)" in out and "Sent 2 message(s)" in out

    code, out, _ = run(cli, "reminders", "send")
    assert (0, True) == (code, out.startswith("No reminders due"))

    code, out, _ = run(cli, "reminders", "list", "--customer", "C-1", "--json")
    rows = json.loads(out)
    assert {("review", 28, "sent"), ("review", 14, "sent")} <= {
        (r["kind"], int(r["when"].split()[0]), r["status"]) for r in rows
    }
    assert {"spoc", "dmo"} == {r["recipient"] for r in rows}


def test_digest_send_dry_run_prints_the_digest_and_a_real_one_is_sent_once(
    cli: tuple[CliRunner, Path],
) -> None:
    code, out, _ = run(cli, "digest", "send", "--kind", "reviews", "--dry-run")
    assert 0 == code
    assert out.startswith("Subject: Reviews digest") and "Reviews due in the next 30 days" in out
    assert (0, "No digests sent.\n") == run(cli, "digest", "list")[:2]

    code, out, err = run(cli, "digest", "send", "--kind", "reviews")
    assert 0 == code, err
    assert "Queued the reviews digest 1" in out and "Sent 1 message(s)" in out
    code, out, _ = run(cli, "digest", "send", "--kind", "reviews")
    assert (0, "The reviews digest for this slot was sent already (digest 1).\n") == (code, out)


def test_run_has_help(cli: tuple[CliRunner, Path]) -> None:
    code, out, _ = run(cli, "run", "--help")

    assert 0 == code and "caught up once" in out


def test_reminders_send_first_ends_an_arrangement_that_lapsed_at_its_review(
    cli: tuple[CliRunner, Path],
) -> None:
    _, root = cli
    start, review = date.today() - timedelta(days=200), date.today() - timedelta(days=2)
    (root / "lapse.csv").write_text(
        HEADER.replace("review_date\n", "review_date,lapse_at_review\n")
        + row("C-9", review=review.isoformat(), start=start.isoformat()).replace("\n", ",yes\n")
    )
    assert 0 == run(cli, "register", "import", str(root / "lapse.csv"))[0]

    code, out, err = run(cli, "reminders", "send")

    assert 0 == code, err
    assert "Lapsed: C-9" in out
    [entry] = [
        r
        for r in json.loads(run(cli, "register", "list", "--json")[1])
        if r["customer_ref"] == "C-9"
    ]
    assert "ceased" == entry["status"]
    assert "C-9" not in run(cli, "reminders", "list")[1]
