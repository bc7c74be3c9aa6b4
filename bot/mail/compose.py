"""Composing the messages the bot writes itself: reminders, digests and letters.

Each is plain text with an optional HTML alternative (Outlook shows the HTML; the text is for
everything else and for screen readers), optional inline images referred to from the HTML as
``cid:`` (Outlook blocks ``data:`` images) and optional attachments.  Header values go
through :func:`one_line`, so a line break in a name or a subject (an encoded newline from a
customer's subject, say) can never start a header of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from bot.mail.forward import OutgoingHeaders, header_text, mailbox


@dataclass(frozen=True)
class InlineImage:
    """An image shown inside the HTML as ``<img src="cid:{content_id}">``."""

    content_id: str  # without angle brackets, e.g. "breaches-chart@spocbot"
    data: bytes
    subtype: str = "png"
    filename: str = "chart.png"


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    maintype: str
    subtype: str


def one_line(text: str) -> str:
    """``text`` safe for a header we write: one line, no encoded word that could decode to a
    line break (:func:`bot.mail.forward.header_text`)."""
    return header_text(text)


def build_notice(
    headers: OutgoingHeaders,
    text: str,
    html: str | None = None,
    *,
    images: Sequence[InlineImage] = (),
    attachments: Sequence[Attachment] = (),
    reply_to: str | None = None,
    auto_submitted: str = "auto-generated",
) -> bytes:
    """The complete message, ready to send (CRLF line endings, 7-bit safe)."""
    if images and html is None:
        raise ValueError("inline images need an HTML part to show them")
    message = EmailMessage(policy=SMTP)
    message["From"] = mailbox(headers.from_name, headers.from_address)
    message["To"] = mailbox(headers.to_name, headers.to_address)
    message["Subject"] = one_line(headers.subject)
    message["Date"] = format_datetime(headers.date)
    message["Message-ID"] = headers.message_id
    if reply_to:
        message["Reply-To"] = reply_to
    message["Auto-Submitted"] = auto_submitted
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Spocbot-Kind"] = one_line(headers.kind)
    if headers.reference:
        message["X-Spocbot-Reference"] = one_line(headers.reference)
    if headers.importance_high:
        message["Importance"] = "high"
        message["X-Priority"] = "1"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        html_part = next(
            part for part in message.iter_parts() if part.get_content_subtype() == "html"
        )
        for image in images:
            html_part.add_related(
                image.data,
                maintype="image",
                subtype=image.subtype,
                cid=f"<{image.content_id}>",
                filename=image.filename,
                disposition="inline",
            )
    for attachment in attachments:
        message.add_attachment(
            attachment.data,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    return message.as_bytes()
