"""An encoded newline in a customer's Subject (or Message-ID) cannot add a header to anything
the product sends (issue 6, "Security basics").

A customer writes with ``Subject: =?utf-8?q?Hello=0D=0ABcc:_x@evil.example?=`` (and the
base64 form, and bare CR or LF in the raw header).  The watcher forwards the message (breach,
cover and emergency forwards, the emergency route) and acknowledges it; every message sent is
parsed and its header set compared with what the product writes (the customer's name in the
register hides an encoded newline too: forward subjects name the customer).  The original
travels as an attachment, byte for byte: its own headers are inside it, not in the forward's.

Reminders, digests and letters take nothing from customers' mail; their subjects and
recipients come from the register, so the same encoded newline is put in a customer's
reference and name there (reminders and letters: test_header_injection_encoded_words.py).
"""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.bootstrap import build_app
from bot.digests import BREACHES, REVIEWS
from bot.mail.forward import attached_original
from bot.policy import Policy
from bot.store import models as m
from tests.lettertest import set_fields
from tests.schedtest import Harness as SchedHarness
from tests.schedtest import row
from tests.unit.test_digests import add_breach
from tests.unit.test_letters import REGISTER as LETTERS_REGISTER
from tests.unit.test_letters import cli, write_config
from tests.unit.test_watcher_with_fakes import NOW, Harness, enable_acknowledgements

SUBJECTS = {
    "q-encoded": b"=?utf-8?q?Hello=0D=0ABcc:_x@evil.example?=",
    "b-encoded": b"=?utf-8?b?" + base64.b64encode(b"Hello\r\nBcc: x@evil.example") + b"?=",
    "q-encoded Cc": b"Repairs =?utf-8?q?=0ACc:_x@evil.example?= please",
    "bare CR": b"Hello\rBcc: x@evil.example",
    "bare LF": b"Hello\nBcc: x@evil.example",
}
REGISTER_NAME = "=?utf-8?q?Casey=0D=0ABcc:_y@evil.example?="
FORWARD_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-spocbot-kind",
    "x-spocbot-reference",
    "content-type",
}
EMERGENCY_HEADERS = FORWARD_HEADERS | {"importance", "x-priority"}
ACKNOWLEDGEMENT_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "reply-to",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-spocbot-kind",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
NOTICE_HEADERS = {  # reminders, digests and letters
    "from",
    "reply-to",
    "x-spocbot-reference",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-spocbot-kind",
    "content-type",
}


def hostile(n: int, subject: bytes, to: str, text: str = "Please fix the boiler.") -> bytes:
    message_id = f"<=?utf-8?q?m{n}=0D=0ABcc:_x@evil.example?=@mail.example>".encode()
    return (
        b"From: Casey <casey@mail.example>\r\nTo: " + to.encode() + b"\r\nSubject: " + subject
        + b"\r\nMessage-ID: " + message_id
        + b"\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\n\r\n" + text.encode() + b"\r\n"
    )  # fmt: skip


def top_level_header_names(raw: bytes) -> list[str]:
    """The header field names as a receiving server reads them: every line of the header
    block (split at CR LF, bare CR or bare LF) not starting with white space."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [
        line.split(":", 1)[0].strip().lower() for line in lines if line and line[0] not in " \t"
    ]


def assert_headers(raw: bytes, allowed: set[str], to: str) -> EmailMessage:
    names = top_level_header_names(raw)
    assert sorted(set(names)) == sorted(set(names) & allowed), names
    assert len(names) == len(set(names)), f"a header appears twice: {names}"
    parsed = message_from_bytes(raw, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    assert (None, None) == (parsed["Bcc"], parsed["Cc"])
    assert [to] == [a.addr_spec for a in parsed["To"].addresses]
    return parsed


@pytest.mark.parametrize("variant", list(SUBJECTS))
def test_no_forward_or_acknowledgement_carries_a_header_from_the_customers_subject(
    tmp_path: Path, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path)
    enable_acknowledgements(h)
    with h.app.factory.begin() as session:  # the register's value is in their subjects too
        session.scalars(select(m.Customer)).one().name = REGISTER_NAME
    emergency = h.app.settings.emergency.model_copy(
        update={"forward_to": "cc@homes.example", "name": "Contact centre"}
    )
    settings = h.app.settings.model_copy(update={"emergency": emergency})
    monkeypatch.setattr(h.watcher, "_settings", settings)
    monkeypatch.setattr(h.watcher, "_policy", Policy(settings))
    subject = SUBJECTS[variant]
    h.info.deliver(hostile(1, subject, "info@homes.example"))  # breach + acknowledgement
    h.watcher.run_pass()
    with h.app.factory.begin() as session:  # the SPOC away: permitted mail goes to cover
        spoc = session.scalars(
            select(m.Officer).where(m.Officer.email == "spoc@homes.example")
        ).one()
        session.add(
            m.OfficerAbsence(officer=spoc, starts_on=NOW.date(), ends_on=NOW.date() + timedelta(1))
        )
    h.spoc.deliver(hostile(2, subject, "spoc@homes.example"))  # cover forward
    h.spoc.deliver(hostile(3, subject, "spoc@homes.example", "I can smell gas in the kitchen."))
    h.watcher.run_pass()

    sent = {}
    for message in h.sender.sent:
        parsed = message_from_bytes(message.message, policy=default_policy)
        sent.setdefault(str(parsed["X-Spocbot-Kind"]), []).append(message)
    assert {
        "breach-forward",
        "acknowledgement",
        "cover-forward",
        "emergency-forward",
        "emergency-route",
    } <= set(sent), sorted(sent)
    for kind, messages in sent.items():
        for message in messages:
            to = message.recipients[0]
            if kind == "acknowledgement":
                assert_headers(message.message, ACKNOWLEDGEMENT_HEADERS, to)
                continue
            allowed = EMERGENCY_HEADERS if kind.startswith("emergency") else FORWARD_HEADERS
            assert_headers(message.message, allowed, to)
            original = attached_original(message.message)
            assert subject in original, "the original is attached as it came"
    # The acknowledgement answers the hostile Message-ID without decoding it into lines.
    (ack,) = sent["acknowledgement"]
    parsed = message_from_bytes(ack.message, policy=default_policy)
    assert "\n" not in str(parsed["In-Reply-To"]) and "\r" not in str(parsed["In-Reply-To"])


EVIL_VALUES = {
    "q-encoded": "=?utf-8?q?X=0D=0ABcc:_x@evil.example?=",
    "b-encoded": "=?utf-8?b?" + base64.b64encode(b"X\r\nBcc: x@evil.example").decode() + "?=",
}


@pytest.mark.parametrize("variant", list(EVIL_VALUES))
def test_no_digest_or_reminder_carries_a_header_from_register_values(
    tmp_path: Path, variant: str
) -> None:
    evil = EVIL_VALUES[variant]
    line = row("C-1", review="2027-01-01").replace("C-1,Customer C-1,", f"{evil},{evil},", 1)
    h = SchedHarness(tmp_path, [line])
    add_breach(h, evil, datetime(2027, 1, 10, 12, 0, tzinfo=NOW.tzinfo), "bypassed-spoc")
    h.at(date(2027, 1, 11), "09:00")
    h.daemon.digests.run(REVIEWS)
    h.daemon.digests.run(BREACHES)
    h.at(date(2026, 12, 18), "09:00")  # 14 days before the review
    h.daemon.reminders.run(date(2026, 12, 18))
    h.daemon.deliver()

    kinds = []
    for message in h.sender.sent:
        parsed = assert_headers(message.message, NOTICE_HEADERS, message.recipients[0])
        kinds.append(str(parsed["X-Spocbot-Kind"]))
    assert {"digest", "reminder"} <= set(kinds), kinds


@pytest.mark.parametrize("variant", list(EVIL_VALUES))
def test_no_letter_carries_a_header_from_register_values(tmp_path: Path, variant: str) -> None:
    evil = EVIL_VALUES[variant]
    config = write_config(tmp_path)
    (tmp_path / "register.csv").write_text(LETTERS_REGISTER.replace("Zoë Łukasiewicz", evil))
    assert 0 == cli(config, "register", "import", str(tmp_path / "register.csv"))[0]
    set_fields(build_app(config), "NV-1")
    for kind in ("introduction", "referral-form"):
        out = tmp_path / f"{kind}.eml"
        code, _, err = cli(
            config, "letter", "render", kind, "--customer", "NV-1", "--format", "eml",
            "--out", str(out), "--as-of", "2026-12-03",
        )  # fmt: skip
        assert 0 == code, err
        raw = out.read_bytes()
        to = message_from_bytes(raw, policy=default_policy)["To"].addresses[0].addr_spec
        assert_headers(raw, NOTICE_HEADERS, to)
