"""spocbot.example.toml is valid and documents every configuration key."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from bot.config import (
    Acknowledge,
    Backend,
    Digests,
    Emergency,
    Graph,
    Imap,
    Letters,
    Mailbox,
    Matching,
    Organisation,
    Reminders,
    Schedule,
    Settings,
    Smtp,
    Storage,
    Watch,
    load_settings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "spocbot.example.toml"


def test_example_configuration_loads() -> None:
    settings = load_settings(EXAMPLE)

    assert "imap" == settings.backend.kind.value


def test_example_configuration_mentions_every_key() -> None:
    text = EXAMPLE.read_text()
    sections: dict[str, type[BaseModel]] = {
        "organisation": Organisation,
        "storage": Storage,
        "backend": Backend,
        "imap": Imap,
        "smtp": Smtp,
        "mailboxes": Mailbox,
        "watch": Watch,
        "matching": Matching,
        "emergency": Emergency,
        "acknowledge": Acknowledge,
        "graph": Graph,
        "schedule": Schedule,
        "reminders": Reminders,
        "letters": Letters,
        "digests": Digests,
    }
    missing = [
        f"{name}.{key}"
        for name, model in sections.items()
        for key in model.model_fields
        if not re.search(rf"^\s*#?\s*{key}\s*=|{key} = ", text, re.MULTILINE)
    ]
    missing += [s for s in Settings.model_fields if f"[{s}]" not in text and f"[[{s}]]" not in text]
    assert [] == missing


def test_the_graph_example_configuration_loads() -> None:
    settings = load_settings(EXAMPLE.with_name("spocbot.graph.example.toml"))

    assert "graph" == settings.backend.kind.value
    assert ("inbox", "junkemail") == settings.mailboxes[0].folders
