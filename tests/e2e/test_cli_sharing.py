"""``spocbot share ...`` and ``spocbot flags ...`` end to end: our export imported by a second
installation as the partner's read-only entries, listed with their source, refused by the
lifecycle commands, and the flag tasks listed and confirmed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner

from tests.e2e.test_cli import CONFIG, GOOD_ROW, HEADER, register_json, run

Cli = tuple[CliRunner, Path]


def installation(root: Path) -> Cli:
    root.mkdir()
    (root / "spocbot.toml").write_text(CONFIG + '\n[flags]\nsystems = ["CRM", "Housing system"]\n')
    return CliRunner(), root


def test_export_then_import_by_the_partner(tmp_path: Path) -> None:
    ours, theirs = installation(tmp_path / "ours"), installation(tmp_path / "theirs")
    (tmp_path / "register.csv").write_text(HEADER + GOOD_ROW)
    assert 0 == run(ours, "register", "import", str(tmp_path / "register.csv"))[0]
    out = tmp_path / "share.csv"

    code, said, err = run(ours, "share", "export", "--out", str(out), "--operator", "Dee")

    assert (0, f"Exported 1 arrangement(s) for the partner council to {out}.\n") == (code, said), (
        err
    )
    assert 0o600 == stat.S_IMODE(out.stat().st_mode)
    code, _, err = run(ours, "share", "export", "--out", str(out))
    assert (1, True) == (code, "already exists" in err)

    code, said, err = run(
        theirs, "share", "import", str(out), "--partner", "Homes Ltd", "--dry-run"
    )

    assert (0, f"Would import {out} for Homes Ltd: 1 new, 0 updated, 0 unchanged, 0 ended.") == (
        code,
        said.splitlines()[0],
    ), err
    assert ("Dry run: nothing was stored.", []) == (said.splitlines()[-1], register_json(theirs))

    code, said, err = run(theirs, "share", "import", str(out), "--partner", "Homes Ltd")

    assert (0, "1 new, 0 updated, 0 unchanged, 0 ended.") == (
        code,
        said.splitlines()[0].split(": ")[-1],
    ), err
    assert "  new C-1" == said.splitlines()[1]
    [entry] = register_json(theirs)
    assert ("C-1", "partner: Homes Ltd") == (entry["customer_ref"], entry["source"])
    code, said, _ = run(theirs, "register", "list")
    assert "partner: Homes Ltd" in said
    code, _, err = run(theirs, "arrangement", "end", "C-1")
    assert (1, True) == (
        code,
        "C-1 is Homes Ltd's arrangement, imported by `spocbot share import`; it is read-only here"
        in err,
    )


def test_flags_are_listed_and_confirmed(tmp_path: Path) -> None:
    ours = installation(tmp_path / "ours")
    (tmp_path / "register.csv").write_text(HEADER + GOOD_ROW)
    assert 0 == run(ours, "register", "import", str(tmp_path / "register.csv"))[0]

    code, said, _ = run(ours, "flags", "list", "--json")
    assert [("C-1", "CRM", "raise"), ("C-1", "Housing system", "raise")] == [
        (t["customer_ref"], t["system"], t["action"]) for t in json.loads(said)
    ]

    code, said, err = run(ours, "flags", "confirm", "C-1", "--system", "crm", "--raised")
    assert (0, "Recorded: C-1's flag raised in CRM.\n") == (code, said), err
    code, _, err = run(ours, "flags", "confirm", "C-1", "--system", "crm", "--raised")
    assert (1, True) == (code, "already confirmed raised" in err)
    code, _, err = run(ours, "flags", "confirm", "C-1", "--system", "Repairs", "--raised")
    assert (1, True) == (code, "the systems are: 'CRM', 'Housing system'" in err)
    code, _, err = run(ours, "flags", "confirm", "C-1", "--system", "CRM")
    assert (2, True) == (code, "give one of --raised or --removed" in err)
    code, _, err = run(ours, "flags", "confirm", "C-1", "--system", "CRM", "--raised", "--removed")
    assert (2, True) == (code, "give one of --raised or --removed" in err)

    code, said, _ = run(ours, "flags", "list")
    assert ("Housing system" in said, "CRM" in said) == (True, False)
    code, said, _ = run(ours, "flags", "list", "--all", "--json")
    assert 2 == len(json.loads(said))

    assert 0 == run(ours, "arrangement", "end", "C-1", "--on", "2026-11-30")[0]
    code, said, _ = run(ours, "flags", "list", "--json")
    assert [("CRM", "remove"), ("Housing system", "remove")] == sorted(
        (t["system"], t["action"]) for t in json.loads(said)
    )
