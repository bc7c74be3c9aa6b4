"""Building a forward: a new message with a cover note and the original attached intact.

The original is attached as ``message/rfc822`` byte-for-byte.  That is only possible when its
bytes can travel over SMTP unchanged: CRLF line endings (a final one too), no NUL, no line over
998 bytes, and 8-bit bytes only if the server takes 8BITMIME.  Anything else is attached
base64-encoded as ``application/octet-stream`` (``original-message.eml``) so that it still
arrives exactly as it was stored; the cover note says so.  None of the original's headers are
copied into the new message's headers, and our own header values are built by :mod:`email`,
which refuses newlines, so nothing in a customer's message or the register can inject a header.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import format_datetime

_LONG_LINE = re.compile(rb"[^\r\n]{999,}")  # RFC 5322: at most 998 characters before CRLF


@dataclass(frozen=True)
class OutgoingHeaders:
    from_name: str
    from_address: str
    to_name: str
    to_address: str
    subject: str
    message_id: str
    date: datetime
    kind: str  # e.g. "breach-forward": shown in X-Spocbot-Kind
    reference: str  # e.g. "breach 12": shown in X-Spocbot-Reference
    importance_high: bool = False


def header_text(value: str) -> str:
    """``value`` made safe to put in a header we write: one line, as a reader will see it.

    The :mod:`email` package decodes RFC 2047 encoded words in a value it is given (so a
    register name such as ``=?utf-8?q?X=0D=0ABcc=3A_x=40evil.example?=``, printable as it
    is, would come out as a line break and a ``Bcc:`` header).  So the value is decoded here
    first, the way the package would decode it, every run of whitespace (line breaks
    included) becomes one space, and any ``=?`` left is broken up so that nothing is decoded
    again."""
    text = value
    for _ in range(3):  # an encoded word may hide another
        decoded = " ".join(str(SMTP.header_factory("subject", text)).split())
        if decoded == text:
            break
        text = decoded
    return " ".join(text.split()).replace("=?", "= ?")


def mailbox(name: str, address: str) -> Address:
    """A From/To value.  An :class:`Address` object, not ``formataddr()``: a non-ASCII name
    holding ":" or "," (say "Zoë Bcc: x@evil.example") would otherwise be encoded, decoded
    and re-read as a group of addresses, putting a stranger in the header."""
    return Address(header_text(name), addr_spec=address)


def can_attach_as_message(raw: bytes, eight_bit_ok: bool) -> bool:
    """Whether ``raw`` can be sent as ``message/rfc822`` without any byte changing."""
    if b"\x00" in raw or _LONG_LINE.search(raw):
        return False
    if raw.count(b"\n") != raw.count(b"\r\n") or raw.count(b"\r") != raw.count(b"\r\n"):
        return False  # bare LF or CR would be rewritten to CRLF by SMTP
    if not raw.endswith(b"\r\n"):
        return False  # the part needs a final CRLF, which would then come back as if it were ours
    return eight_bit_ok or not any(b > 127 for b in raw)


def new_outgoing_message_id(kind: str, domain: str) -> str:
    """A fresh, unguessable Message-ID for something to be sent.

    It is chosen once, when the intent to send is recorded, and reused on every attempt; it is
    how a send interrupted by a crash is found again in the bot's mailbox.  Being random, it
    cannot be planted there in advance by someone who writes to the bot's address.
    """
    return f"<spocbot.{kind}.{secrets.token_hex(20)}@{domain}>"


def build_forward(
    headers: OutgoingHeaders,
    cover_note: str,
    raw: bytes,
    *,
    eight_bit_ok: bool,
    as_file: bool = False,
) -> bytes:
    """The complete forward, ready to send; ``as_file`` attaches the original as a file even
    where ``message/rfc822`` could carry it (for Exchange, which re-renders attached mail)."""
    boundary = _boundary(raw, headers.message_id)
    head = EmailMessage(policy=SMTP)
    head["From"] = mailbox(headers.from_name, headers.from_address)
    head["To"] = mailbox(headers.to_name, headers.to_address)
    head["Subject"] = header_text(headers.subject)
    head["Date"] = format_datetime(headers.date)
    head["Message-ID"] = headers.message_id
    head["MIME-Version"] = "1.0"
    head["Auto-Submitted"] = "auto-generated"
    head["X-Auto-Response-Suppress"] = "All"
    head["X-Spocbot-Kind"] = header_text(headers.kind)
    head["X-Spocbot-Reference"] = header_text(headers.reference)
    if headers.importance_high:
        head["Importance"] = "high"
        head["X-Priority"] = "1"
    header_block = b"".join(SMTP.fold_binary(name, value) for name, value in head.items())
    header_block += f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()

    note = EmailMessage(policy=SMTP)
    note.set_content(cover_note, subtype="plain", charset="utf-8", cte="quoted-printable")
    del note["MIME-Version"]
    note_part = note.as_bytes()

    if not as_file and can_attach_as_message(raw, eight_bit_ok):
        cte = "8bit" if any(b > 127 for b in raw) else "7bit"
        original = (
            b"Content-Type: message/rfc822\r\n"
            b'Content-Disposition: attachment; filename="original-message.eml"\r\n'
            + f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode()
            + raw
            + (b"" if raw.endswith(b"\r\n") else b"\r\n")
        )
    else:
        encoded = base64.encodebytes(raw).replace(b"\n", b"\r\n")
        original = (
            b'Content-Type: application/octet-stream; name="original-message.eml"\r\n'
            b'Content-Disposition: attachment; filename="original-message.eml"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded
        )
    delimiter = f"--{boundary}\r\n".encode()
    return (
        header_block
        + b"This is a multi-part message in MIME format.\r\n"
        + delimiter
        + note_part
        + b"\r\n"
        + delimiter
        + original
        + f"--{boundary}--\r\n".encode()
    )


def attached_original(forward: bytes) -> bytes:
    """The original message's bytes out of a forward built by :func:`build_forward`.

    For ``message/rfc822`` the attachment's bytes are sliced out exactly as they travelled;
    for the base64 fallback they are decoded.
    """
    # Take the boundary from the outer Content-Type, not the first 'boundary="..."' anywhere:
    # the Subject (built from register data) comes earlier in the header block.
    header_block = forward.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    outer = BytesHeaderParser(policy=SMTP).parsebytes(header_block)
    found = outer.get_boundary() if outer.get_content_maintype() == "multipart" else None
    if not found:
        raise ValueError("not a spocbot forward: no multipart boundary")
    boundary = found.encode("ascii")
    parts = forward.split(b"\r\n--" + boundary)
    last = parts[-2] if len(parts) >= 3 else b""
    head, _, body = last.partition(b"\r\n\r\n")
    if b"Content-Transfer-Encoding: base64" in head:
        return base64.b64decode(body)
    if b"message/rfc822" not in head:
        raise ValueError("not a spocbot forward: no attached original")
    return body + b"\r\n"  # the CRLF before the closing delimiter belongs to the delimiter


def _boundary(raw: bytes, seed: str) -> str:
    counter = 0
    while True:
        candidate = "spocbot-" + hashlib.sha256(f"{seed}{counter}".encode()).hexdigest()[:32]
        if candidate.encode() not in raw:
            return candidate
        counter += 1


def build_acknowledgement(
    headers: OutgoingHeaders, text: str, in_reply_to: str, *, reply_to: str | None = None
) -> bytes:
    """An automatic acknowledgement to a customer (RFC 3834: ``Auto-Submitted: auto-replied``).

    It answers the customer's message (In-Reply-To) but copies nothing else from it; replies
    go to ``reply_to`` (the customer's permitted route), never to the unread bot mailbox.
    """
    message = EmailMessage(policy=SMTP)
    message["From"] = mailbox(headers.from_name, headers.from_address)
    message["To"] = mailbox(headers.to_name, headers.to_address)
    message["Subject"] = header_text(headers.subject)
    message["Date"] = format_datetime(headers.date)
    message["Message-ID"] = headers.message_id
    if re.fullmatch(r"<[^<>\s]+>", in_reply_to):
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    if reply_to:
        message["Reply-To"] = reply_to
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Spocbot-Kind"] = header_text(headers.kind)
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()
