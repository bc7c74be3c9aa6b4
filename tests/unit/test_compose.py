"""Messages the bot writes itself: structure, and no header injection from names or subjects."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from bot.mail.compose import Attachment, InlineImage, build_notice
from bot.mail.forward import OutgoingHeaders


def _headers(subject: str = "Review due", to_name: str = "Amelia Hart") -> OutgoingHeaders:
    return OutgoingHeaders(
        from_name="spocbot (Northvale Homes)",
        from_address="spocbot@northvale-homes.example",
        to_name=to_name,
        to_address="amelia.hart@northvale-homes.example",
        subject=subject,
        message_id="<spocbot.reminder.1@northvale-homes.example>",
        date=datetime(2026, 12, 3, 8, 0, tzinfo=UTC),
        kind="reminder",
        reference="NV-1001",
    )


def test_a_line_break_in_a_subject_or_name_cannot_add_a_header() -> None:
    raw = build_notice(
        _headers(subject="Review\r\nBcc: attacker@evil.example", to_name="A\nCc: x@evil.example"),
        "text",
    )
    message = message_from_bytes(raw, policy=policy.default)

    assert (None, None) == (message["Bcc"], message["Cc"])
    assert "Review Bcc: attacker@evil.example" == message["Subject"]


def test_a_non_ascii_name_with_a_colon_cannot_put_another_address_in_to() -> None:
    raw = build_notice(_headers(to_name="Zoë Bcc: a@evil.example, x@evil.example"), "t")
    message = message_from_bytes(raw, policy=policy.default)

    assert [("Zoë Bcc: a@evil.example, x@evil.example", "amelia.hart")] == [
        (a.display_name, a.username) for a in message["To"].addresses
    ]


def test_html_with_an_inline_image_and_an_attachment_is_alternative_related_mixed() -> None:
    raw = build_notice(
        _headers(),
        "plain £",
        "<p>html <img src='cid:chart@spocbot'></p>",
        images=[InlineImage("chart@spocbot", b"\x89PNG\r\n")],
        attachments=[Attachment("letter.pdf", b"%PDF-1.4", "application", "pdf")],
    )
    message = message_from_bytes(raw, policy=policy.default)

    assert [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "application/pdf",
    ] == [part.get_content_type() for part in message.walk()]
    assert "<chart@spocbot>" == next(p for p in message.walk() if p["Content-ID"])["Content-ID"]
    assert "auto-generated" == message["Auto-Submitted"]
    assert all(b < 128 for b in raw)


def test_images_without_html_are_refused() -> None:
    with pytest.raises(ValueError, match="HTML"):
        build_notice(_headers(), "text", images=[InlineImage("c@x", b"png")])
