"""Golden cases: real .eml files in tests/golden/, each paired with its expected decision.

Every ``NAME.eml`` there has a ``NAME.expected.json`` (see tests/golden/README.md); the header
block is parsed and decided against the register below, the demo's Northvale Homes.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from mailbox_rules import (
    Absence,
    Arrangement,
    ArrangementStatus,
    Officer,
    Register,
    decide,
    message_text,
    parse_envelope,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
DOMAIN = "northvale-homes.example"
AMELIA = Officer("Amelia Hart", f"amelia.hart@{DOMAIN}")
BEN = Officer("Ben Okafor", f"ben.okafor@{DOMAIN}")
CHLOE = Officer("Chloe Price", f"chloe.price@{DOMAIN}")
DMO = Officer("Data Management Officer", f"dmo@{DOMAIN}")


def _arrangement(
    ref: str, name: str, emails: set[str], spoc: Officer, status: str, *permitted: str
) -> Arrangement:
    return Arrangement(
        customer_ref=ref,
        customer_name=name,
        customer_emails=frozenset(emails),
        spoc=spoc,
        cover=CHLOE,
        restricted_to=frozenset(permitted or (spoc.email,)),
        status=ArrangementStatus(status),
        start_date=date(2026, 1, 12),
        review_date=date(2027, 3, 16),
    )


REGISTER = Register.build(
    [
        _arrangement(
            "NV-1001",
            "Margaret Ellis",
            {"margaret.ellis@mailbox.example", "m.ellis@work.example"},
            AMELIA,
            "active",
        ),
        _arrangement("NV-1002", "Tom Fraser", {"tom.fraser@freemail.example"}, BEN, "active"),
        _arrangement("NV-1003", "Priya Shah", {"priya.shah@mailbox.example"}, AMELIA, "warning"),
        _arrangement("NV-1004", "Gareth Lewis", {"g.lewis@mailbox.example"}, BEN, "ceased"),
        _arrangement(
            "NV-1005",
            "Sandra Cole",
            {"sandra.cole@freemail.example"},
            AMELIA,
            "active",
            AMELIA.email,
            f"housing@{DOMAIN}",
        ),
        _arrangement("NV-1006", "Owen Price", {"owen@xn--bcher-kva.example"}, AMELIA, "active"),
    ],
    [Absence(BEN.email, date(2026, 11, 1), date(2027, 1, 31))],
    [
        f"{name}@{DOMAIN}"
        for name in ("housing", "amelia.hart", "ben.okafor", "chloe.price", "dev.patel", "repairs")
    ],
    strip_subaddress_domains=["mailbox.example"],
    staff_domains=[DOMAIN],
    staff_addresses=[DMO.email, f"spocbot@{DOMAIN}"],
)


def header_block(raw: bytes) -> bytes:
    """The bytes up to and including the first blank line (CRLF or LF)."""
    match = re.search(rb"\r?\n\r?\n", raw)
    return raw[: match.end()] if match else raw


CASES = sorted(GOLDEN.glob("*.eml"))


def test_golden_directory_has_cases() -> None:
    assert len(CASES) >= 4


@pytest.mark.parametrize("message", CASES, ids=[p.stem for p in CASES])
def test_golden_message_gets_its_expected_decision(message: Path) -> None:
    expected = json.loads(message.with_suffix(".expected.json").read_text(encoding="utf-8"))
    received_at = datetime.fromisoformat(expected["received_at"])
    raw = message.read_bytes()
    envelope = parse_envelope(
        header_block(raw), found_in=expected["found_in"], received_at=received_at
    )
    # Cases about the text (possible matches) are decided on it, as the watcher does once it
    # has read the message; the others on the header block alone.
    content = message_text(raw) if expected.get("content") else None

    decision = decide(envelope, REGISTER, received_at, dmo=DMO, content=content)

    actual = {
        "kind": decision.kind.value,
        "rules": list(decision.rules),
        "customer_ref": decision.customer_ref,
        "route_to": decision.route_to.email if decision.route_to else None,
        "candidates": list(decision.candidates),
        "reply_to": list(envelope.reply_to),
        "message_id": envelope.message_id,
        "date": envelope.date.isoformat() if envelope.date else None,
    }
    assert {key: expected[key] for key in actual if key in expected} == {
        key: value for key, value in actual.items() if key in expected
    }
    assert envelope.received_at == received_at  # evidence time: the server's, never Date


@pytest.mark.parametrize("message", CASES, ids=[p.stem for p in CASES])
def test_golden_message_is_pinned_with_crlf_line_endings(message: Path) -> None:
    """The files must not be rewritten by an editor or by git (see tests/golden/.gitattributes)."""
    raw = message.read_bytes()

    assert raw.count(b"\n") == raw.count(b"\r\n") > 0
