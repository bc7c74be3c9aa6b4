"""Need-to-know (policy §1, §8; issue 5): an arrangement's reasons and the customer's support
needs reach only DMO outputs — the register export and listing with ``--include-reasons``,
the customer's own letters and the referral form.

One arrangement (the scheduler harness gives it distinctive reasons and support needs) goes
through everything else the product produces: the watcher's forward and cover note to the
SPOC, the acknowledgement to the customer, the reminders to the SPOC and the DMO, both
digests, every listing and JSON output of the command line, the audit log and the log
records.  None may contain either text; the DMO outputs must (so the search is known to work).
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from bot.cli import main
from bot.digests import BREACHES, REVIEWS
from bot.letters import LetterOptions
from bot.letters.service import send_letter
from bot.outbox import LETTER
from bot.store import models as m
from tests.schedtest import SECRET_NEEDS, SECRET_REASONS, Harness, row, texts

MESSAGE = (
    b"From: Customer <c-1@mail.example>\r\nTo: info@homes.example\r\nSubject: The fence\r\n"
    b"Message-ID: <fence-1@mail.example>\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\n"
    b"\r\nPlease look at the fence again.\r\n"
)
LETTERS = '\n[letters]\nemergency_phone = "0300 000 0000"\n'


def assert_absent(where: str, text: str) -> None:
    assert (False, False) == (SECRET_REASONS in text, SECRET_NEEDS in text), where


def test_reasons_and_support_needs_reach_only_dmo_outputs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The review on 10 December is 7 days away on 3 December: reminders to the SPOC and DMO.
    h = Harness(tmp_path, [row("C-1", review="2026-12-10", start="2026-06-10")], LETTERS)
    h.arrangement(
        "C-1",
        acknowledge=True,
        change_required="Write only to Sam Spoc",
        decided_on=date(2026, 6, 10),
    )
    h.at(date(2026, 12, 3), "12:00")

    # The watcher: a breach (to info@, bypassing the SPOC), forwarded and acknowledged.
    h.info.deliver(MESSAGE)
    assert 1 == h.watcher.run_pass().new_breaches
    with h.app.factory.begin() as session:  # recorded "now" on the test's clock, for the digest
        session.execute(update(m.Breach).values(created_at=h.now))
        session.execute(update(m.Outbox).values(created_at=h.now))
    assert 2 == len(h.daemon.reminders.run().messages)
    # Both digests, the next morning.
    h.at(date(2026, 12, 4), "08:00")
    runs = [h.daemon.digests.run(kind) for kind in (BREACHES, REVIEWS)]
    assert [False, False] == [run.nothing_to_report for run in runs]
    # The DMO outputs, as positive controls: the customer's letter and the referral form.
    for kind in ("introduction", "referral-form"):
        send_letter(
            h.app.factory,
            h.app.settings,
            h.app.evidence,
            kind,
            "C-1",
            LetterOptions(as_of=date(2026, 12, 4)),
            now=h.now,
            operator="dmo",
        )
    assert 0 == h.daemon.deliver().failed

    with h.app.factory() as session:
        kinds = dict(session.execute(select(m.Outbox.outgoing_message_id, m.Outbox.kind)).all())
    by_kind: dict[str, list[str]] = {}
    for message in h.sent():
        seen = "\n".join([*(str(v) for _, v in message.items()), *texts(message)])
        by_kind.setdefault(kinds[message["Message-ID"].strip()], []).append(seen)
    assert {"breach-forward", "acknowledgement", "reminder", "digest", LETTER} == set(by_kind)
    for kind, bodies in by_kind.items():
        if kind != LETTER:
            for body in bodies:
                assert_absent(f"{kind} message", body)
    letters = "\n".join(by_kind[LETTER])
    assert (True, True) == (SECRET_REASONS in letters, SECRET_NEEDS in letters)  # search works

    runner = CliRunner()
    config = ["--config", str(tmp_path / "spocbot.toml")]
    non_dmo = [
        ["register", "list"],
        ["register", "list", "--json"],
        ["arrangement", "history", "C-1"],
        ["arrangement", "history", "C-1", "--json"],
        ["breaches", "list", "--json"],
        ["forwards", "list", "--json"],
        ["reminders", "list", "--json"],
        ["digest", "list", "--json"],
        ["letter", "list", "--json"],
        ["audit", "list", "--json"],
        ["reminders", "send", "--as-of", "2026-12-09", "--dry-run", "--json"],
        ["digest", "send", "--kind", "reviews", "--as-of", "2026-12-07", "--dry-run"],
        ["digest", "send", "--kind", "breaches", "--as-of", "2026-12-05", "--dry-run"],
    ]
    for args in non_dmo:
        result = runner.invoke(main, [*config, *args], catch_exceptions=False)
        assert 0 == result.exit_code, (args, result.output)
        assert_absent(" ".join(args), result.output)
    export = tmp_path / "export.csv"
    assert 0 == runner.invoke(main, [*config, "register", "export", str(export)]).exit_code
    assert_absent("register export", export.read_text())
    with_reasons = [*config, "register", "export", "--include-reasons", str(export)]
    assert 0 == runner.invoke(main, with_reasons).exit_code
    assert (True, True) == (
        SECRET_REASONS in export.read_text(),
        SECRET_NEEDS in export.read_text(),
    )
    assert_absent("log records", caplog.text)
