"""`spocbot letter send` end to end on the embedded mail servers: sent now through the
outbox, and a repeat sends nothing (the real Postfix/Dovecot version is in
tests/integration/test_letters_dovecot.py)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.bootstrap import build_app
from tests.lettertest import set_fields
from tests.unit.test_letters import REGISTER, cli, write_config


def test_send_delivers_now_and_a_repeat_says_already_sent(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "register.csv").write_text(REGISTER)
    assert 0 == cli(config, "register", "import", str(tmp_path / "register.csv"))[0]
    set_fields(build_app(config), "NV-1")
    send = ("letter", "send", "introduction", "--customer", "NV-1", "--as-of", "2026-12-03")

    first = cli(config, *send)
    second = cli(config, *send)
    _, listed, _ = cli(config, "letter", "list", "--json")

    assert (0, 0) == (first[0], second[0]), first[2] + second[2]
    assert "Sent the introduction letter for NV-1" in first[1]
    assert "Already sent" in second[1]
    assert [("introduction", "sent", "zoe@mail.example")] == [
        (r["kind"], r["status"], r["to"]) for r in json.loads(listed)
    ]
