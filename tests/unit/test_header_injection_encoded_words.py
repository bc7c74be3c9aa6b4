"""Register values that are RFC 2047 encoded words hiding CR LF and a Bcc field cannot add a
header to a reminder, a letter or a forward.

The register refuses real line breaks in names and references, but a *printable* value such
as ``=?utf-8?q?X=0D=0ABcc=3A_evil=40x.example?=`` is decoded by the ``email`` package when it
is assigned to a header, and written back out with a raw CR LF: the message then carries a
real ``Bcc:`` header line unless the value is decoded and made one line first
(``bot.mail.forward.header_text``).  Over SMTP the envelope would still name only the intended
recipients, but Graph's ``sendMail`` delivers to the MIME's own To/Cc/Bcc."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from bot.bootstrap import build_app
from bot.mail.forward import OutgoingHeaders, build_forward
from tests.lettertest import set_fields
from tests.schedtest import Harness, row
from tests.unit.test_letters import REGISTER, cli, write_config

EVIL_REF = "=?utf-8?q?X=0D=0ABcc=3A_evil=40x.example?="
EVIL_NAME = "=?utf-8?q?Bob=0D=0ABcc=3A_evil2=40x.example?="


def _header_lines(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    return [line for line in head.split("\r\n") if line and not line[0].isspace()]


def _assert_no_injected_bcc(raw: bytes) -> None:
    names = [line.split(":", 1)[0].lower() for line in _header_lines(raw)]
    parsed = message_from_bytes(raw, policy=default_policy)
    assert "bcc" not in names and parsed["Bcc"] is None, _header_lines(raw)


def test_a_reminder_subject_cannot_carry_a_bcc_header(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2026-12-10").replace("C-1,", EVIL_REF + ",", 1)])
    h.at(date(2026, 12, 3), "09:00")
    h.daemon.tick()

    assert h.sender.sent
    for sent in h.sender.sent:
        _assert_no_injected_bcc(sent.message)


def test_a_letter_to_a_customer_cannot_carry_a_bcc_header(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "register.csv").write_text(REGISTER.replace("Zoë Łukasiewicz", EVIL_NAME))
    assert 0 == cli(config, "register", "import", str(tmp_path / "register.csv"))[0]
    set_fields(build_app(config), "NV-1")
    out = tmp_path / "letter.eml"

    code, _, err = cli(
        config,
        "letter",
        "render",
        "introduction",
        "--customer",
        "NV-1",
        "--format",
        "eml",
        "--out",
        str(out),
        "--as-of",
        "2026-12-03",
    )

    assert 0 == code, err
    _assert_no_injected_bcc(out.read_bytes())


def test_the_referral_form_subject_cannot_carry_a_bcc_header(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "register.csv").write_text(REGISTER.replace("Zoë Łukasiewicz", EVIL_NAME))
    assert 0 == cli(config, "register", "import", str(tmp_path / "register.csv"))[0]
    set_fields(build_app(config), "NV-1")
    out = tmp_path / "form.eml"

    code, _, err = cli(
        config,
        "letter",
        "render",
        "referral-form",
        "--customer",
        "NV-1",
        "--format",
        "eml",
        "--out",
        str(out),
        "--as-of",
        "2026-12-03",
    )

    assert 0 == code, err
    _assert_no_injected_bcc(out.read_bytes())


def test_a_forward_subject_cannot_carry_a_bcc_header() -> None:
    """The same in the (older) forward builder, whose subject names the customer."""
    raw = b"From: c@mail.example\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n"
    headers = OutgoingHeaders(
        from_name="spocbot",
        from_address="bot@homes.example",
        to_name="Sam Spoc",
        to_address="spoc@homes.example",
        subject=f"[SPOC breach #1] {EVIL_REF} Customer wrote to info@homes.example",
        message_id="<f@homes.example>",
        date=datetime(2026, 12, 3, tzinfo=UTC),
        kind="breach-forward",
        reference="breach 1",
    )

    _assert_no_injected_bcc(build_forward(headers, "note", raw, eight_bit_ok=True))
