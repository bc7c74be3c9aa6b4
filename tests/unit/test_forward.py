"""build_forward and attached_original: a safe new message with the original intact inside."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import re
from datetime import UTC, datetime

import pytest

from bot.mail.forward import (
    OutgoingHeaders,
    attached_original,
    build_forward,
    can_attach_as_message,
    new_outgoing_message_id,
)

MESSAGE_ID = new_outgoing_message_id("breach-forward", "northvale-homes.example")
HEADERS = OutgoingHeaders(
    from_name="spocbot (Northvale Homes)",
    from_address="spocbot@northvale-homes.example",
    to_name="Amelia Hart",
    to_address="amelia.hart@northvale-homes.example",
    subject="[SPOC breach #12] NV-1001 Margaret Ellis wrote to housing@northvale-homes.example",
    message_id=MESSAGE_ID,
    date=datetime(2026, 11, 9, 16, 45, tzinfo=UTC),
    kind="breach-forward",
    reference="breach 12",
)
NOTE = "Margaret Ellis wrote to housing@ instead of her SPOC.\nThe original is attached."

PLAIN = (
    b"Received: from mx.mailbox.example by imap.northvale-homes.example; Mon, 9 Nov 2026\r\n"
    b'From: "Margaret Ellis" <margaret.ellis@mailbox.example>\r\n'
    b"To: Northvale Homes Housing <housing@northvale-homes.example>\r\n"
    b"Subject: Still waiting about the extractor fan\r\n"
    b"Date: Mon, 09 Nov 2026 16:42:31 +0000\r\n"
    b"Message-ID: <20261109164231.7b03f1@mailbox.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Dear Sir/Madam,\r\n"
    b"\r\n"
    b"--not-a-boundary-but-looks-like-one\r\n"
    b"Still waiting.\r\n"
)
EIGHT_BIT = PLAIN.replace(b"us-ascii", b"utf-8").replace(
    b"Still waiting.", "£450 for the café shifts – still waiting.".encode()
)


def forward(raw: bytes, *, eight_bit_ok: bool = False, headers: OutgoingHeaders = HEADERS) -> bytes:
    return build_forward(headers, NOTE, raw, eight_bit_ok=eight_bit_ok)


def outer_header_block(message: bytes) -> bytes:
    return message.partition(b"\r\n\r\n")[0] + b"\r\n"


ROUND_TRIPS = {
    "crlf-7bit-as-message": (PLAIN, False, "message/rfc822"),
    "crlf-8bit-as-message-when-8bitmime": (EIGHT_BIT, True, "message/rfc822"),
    "8bit-without-8bitmime-as-base64": (EIGHT_BIT, False, "application/octet-stream"),
    "bare-lf-as-base64": (PLAIN.replace(b"\r\n", b"\n"), True, "application/octet-stream"),
    "bare-cr-as-base64": (PLAIN.replace(b"Dear", b"De\rar"), True, "application/octet-stream"),
    "nul-byte-as-base64": (PLAIN.replace(b"Still", b"St\x00ill"), True, "application/octet-stream"),
    "long-line-as-base64": (PLAIN + b"x" * 999 + b"\r\n", True, "application/octet-stream"),
    "no-final-crlf-as-base64": (PLAIN[:-2], True, "application/octet-stream"),
    "990-byte-line-as-message": (PLAIN + b"x" * 990 + b"\r\n", True, "message/rfc822"),
}


@pytest.mark.parametrize(
    ("raw", "eight_bit_ok", "content_type"), ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys()
)
def test_original_comes_back_byte_for_byte(
    raw: bytes, eight_bit_ok: bool, content_type: str
) -> None:
    message = forward(raw, eight_bit_ok=eight_bit_ok)

    attachment = email.message_from_bytes(message, policy=email.policy.default).get_payload()[1]
    assert (raw, content_type) == (attached_original(message), attachment.get_content_type())


def test_base64_fallback_also_decodes_with_the_email_package() -> None:
    raw = PLAIN.replace(b"\r\n", b"\n")

    attachment = email.message_from_bytes(forward(raw)).get_payload()[1]

    assert raw == attachment.get_payload(decode=True)
    assert "original-message.eml" == attachment.get_filename()


@pytest.mark.parametrize(
    ("raw", "eight_bit_ok", "expected"),
    [
        (PLAIN, False, True),
        (EIGHT_BIT, False, False),
        (EIGHT_BIT, True, True),
        (PLAIN.replace(b"\r\n", b"\n"), True, False),
        (PLAIN[:-2], True, False),
        (b"", True, False),
    ],
    ids=["7bit", "8bit-no-8bitmime", "8bit-8bitmime", "bare-lf", "no-final-crlf", "empty"],
)
def test_can_attach_as_message(raw: bytes, eight_bit_ok: bool, expected: bool) -> None:
    assert expected == can_attach_as_message(raw, eight_bit_ok)


def test_eight_bit_attachment_declares_8bit_transfer_encoding() -> None:
    message = forward(EIGHT_BIT, eight_bit_ok=True)

    attachment = email.message_from_bytes(message, policy=email.policy.default).get_payload()[1]
    assert "8bit" == attachment["Content-Transfer-Encoding"]


def test_forward_is_seven_bit_unless_the_original_needs_eight() -> None:
    assert all(b < 128 for b in forward(PLAIN))
    assert all(b < 128 for b in forward(EIGHT_BIT, eight_bit_ok=False))


def test_forward_uses_crlf_throughout_when_the_original_does() -> None:
    message = forward(PLAIN)

    assert message.count(b"\n") == message.count(b"\r\n")


def test_forward_parses_with_the_expected_headers() -> None:
    parsed = email.message_from_bytes(forward(PLAIN), policy=email.policy.default)

    assert {
        "From": '"spocbot (Northvale Homes)" <spocbot@northvale-homes.example>',
        "To": "Amelia Hart <amelia.hart@northvale-homes.example>",
        "Subject": HEADERS.subject,
        "Date": "Mon, 09 Nov 2026 16:45:00 +0000",
        "Message-ID": MESSAGE_ID,
        "MIME-Version": "1.0",
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
        "X-Spocbot-Kind": "breach-forward",
        "X-Spocbot-Reference": "breach 12",
        "Content-Type": "multipart/mixed",
    } == {
        name: (str(parsed[name]) if name != "Content-Type" else parsed.get_content_type())
        for name in (
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "Auto-Submitted",
            "X-Auto-Response-Suppress",
            "X-Spocbot-Kind",
            "X-Spocbot-Reference",
            "Content-Type",
        )
    }
    assert parsed.defects == []


def test_forward_has_a_cover_note_then_the_original() -> None:
    parsed = email.message_from_bytes(forward(PLAIN), policy=email.policy.default)

    note, original = parsed.get_payload()
    assert (NOTE + "\n", "text/plain", "message/rfc822") == (
        note.get_content().replace("\r\n", "\n"),
        note.get_content_type(),
        original.get_content_type(),
    )


def test_importance_headers_only_when_asked() -> None:
    plain = email.message_from_bytes(forward(PLAIN))
    urgent = email.message_from_bytes(
        forward(PLAIN, headers=dataclasses.replace(HEADERS, importance_high=True))
    )

    assert ((None, None), ("high", "1")) == (
        (plain["Importance"], plain["X-Priority"]),
        (urgent["Importance"], urgent["X-Priority"]),
    )


def test_none_of_the_originals_headers_are_in_the_outer_header_block() -> None:
    head = outer_header_block(forward(PLAIN))

    for fragment in (
        b"Still waiting about the extractor fan",
        b"margaret.ellis@mailbox.example",
        b"Received:",
        b"20261109164231.7b03f1@mailbox.example",
        b"us-ascii",
    ):
        assert fragment not in head


def test_exactly_one_of_each_outer_header() -> None:
    names = re.findall(rb"^([A-Za-z-]+):", outer_header_block(forward(PLAIN)), re.MULTILINE)

    assert len(names) == len(set(names))


@pytest.mark.parametrize("field", ["to_name", "from_name"])
def test_newline_in_a_name_becomes_a_space_not_a_header(field: str) -> None:
    evil = dataclasses.replace(HEADERS, **{field: "Hello\r\nBcc: evil@example.com"})

    head = outer_header_block(forward(PLAIN, headers=evil))

    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)


def test_a_non_ascii_name_holding_a_colon_cannot_add_an_address() -> None:
    evil = dataclasses.replace(HEADERS, to_name="Zoë Bcc: evil@example.com, x")

    message = email.message_from_bytes(forward(PLAIN, headers=evil), policy=email.policy.default)

    assert [HEADERS.to_address] == [a.addr_spec for a in message["To"].addresses]


@pytest.mark.parametrize("field", ["subject", "reference"])
def test_newline_in_a_header_value_cannot_inject_a_header(field: str) -> None:
    """Line breaks in our header values become spaces, so no Bcc can be smuggled in."""
    evil = dataclasses.replace(HEADERS, **{field: "Hello\r\nBcc: evil@example.com"})

    head = outer_header_block(forward(PLAIN, headers=evil))

    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)


def test_subject_that_mentions_a_boundary_does_not_confuse_extraction() -> None:
    tricky = dataclasses.replace(HEADERS, subject='NV-1001 boundary="spocbot-trap" wrote to you')

    assert PLAIN == attached_original(forward(PLAIN, headers=tricky))


def test_non_ascii_subject_is_encoded_not_sent_raw() -> None:
    subject = "[SPOC cover] NV-1002 Siân Ó Dónaill wrote to Ben Okafor"
    message = forward(PLAIN, headers=dataclasses.replace(HEADERS, subject=subject))

    assert subject == email.message_from_bytes(message, policy=email.policy.default)["Subject"]
    assert all(b < 128 for b in outer_header_block(message))


def test_outgoing_message_ids_are_unique_and_unguessable() -> None:
    ids = {new_outgoing_message_id("breach-forward", "northvale-homes.example") for _ in range(100)}

    assert 100 == len(ids)
    assert all(len(i.split(".")[2].split("@")[0]) == 40 for i in ids)


def test_outgoing_message_id_is_a_valid_msg_id() -> None:
    assert re.fullmatch(
        r"<spocbot\.breach-forward\.[0-9a-f]{40}@northvale-homes\.example>", MESSAGE_ID
    )


def _boundary_of(message: bytes) -> bytes:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    boundary = parsed.get_boundary()
    assert boundary is not None
    return boundary.encode()


def test_boundary_is_deterministic() -> None:
    assert forward(PLAIN) == forward(PLAIN)


def test_boundary_never_appears_in_the_original() -> None:
    """An original that contains the first-choice boundary gets a different one."""
    first_choice = _boundary_of(forward(PLAIN))
    trap = PLAIN + b"--" + first_choice + b"--\r\n"

    message = forward(trap)

    boundary = _boundary_of(message)
    assert (False, trap) == (boundary in trap, attached_original(message))


def test_boundary_never_appears_in_the_base64_body() -> None:
    raw = PLAIN.replace(b"\r\n", b"\n")
    message = forward(raw)
    boundary = _boundary_of(message)

    assert 3 == message.count(b"--" + boundary)  # two delimiters and the close
    assert base64.encodebytes(raw).replace(b"\n", b"\r\n") in message


def test_attached_original_rejects_other_messages() -> None:
    with pytest.raises(ValueError, match="not a spocbot forward"):
        attached_original(PLAIN)
