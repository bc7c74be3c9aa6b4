"""Everything the fake knows about a message comes from its raw MIME, read here.

`parse_mail` never raises: a malformed message must still become a Graph message (as
Exchange accepts and shows almost anything), so every field falls back to something
plain when the email package cannot make sense of it.  The module also builds MIME from
Graph's JSON message (sendMail JSON, drafts) and adds attachments to a draft's MIME.
"""

from __future__ import annotations

import base64
import binascii
import email.header
import email.utils
import html
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import Any

# Serialise what we build with CRLF, as Exchange stores and serves MIME.
CRLF_POLICY = policy.default.clone(linesep="\r\n")

Address = tuple[str, str]  # (display name, address)


@dataclass(frozen=True)
class Attachment:
    """A MIME part that is not the message body."""

    name: str
    content_type: str
    data: bytes
    inline: bool
    content_id: str | None = None


@dataclass(frozen=True)
class ParsedMail:
    """The Graph-visible facts of one raw message."""

    subject: str = ""
    from_: tuple[Address, ...] = ()
    sender: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    message_id: str | None = None
    thread_root: str | None = None  # first References entry, else In-Reply-To
    date: datetime | None = None
    importance: str = "normal"
    body_html: str | None = None
    body_text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def file_attachments(self) -> tuple[Attachment, ...]:
        """Attachments Outlook lists as attachments (not inline images)."""
        return tuple(part for part in self.attachments if not part.inline)

    @property
    def recipients(self) -> tuple[Address, ...]:
        return self.to + self.cc + self.bcc


def parse_mail(raw: bytes) -> ParsedMail:
    """Read the Graph-visible facts of `raw`.  Never raises.

    Each field already falls back on its own; the outer guard is for the email package
    raising somewhere nobody foresaw (it has had such bugs), so one odd header can never
    cost the server a message.
    """
    try:
        return _parse(BytesParser(policy=policy.default).parsebytes(raw))
    except Exception:
        return ParsedMail(body_text=raw.decode("utf-8", "replace"))


def _parse(message: EmailMessage) -> ParsedMail:
    body_html, body_text, body_parts = _bodies(message)
    return ParsedMail(
        subject=_text_header(message, "Subject"),
        from_=_addresses(message, "From"),
        sender=next(iter(_addresses(message, "Sender")), None),
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        bcc=_addresses(message, "Bcc"),
        reply_to=_addresses(message, "Reply-To"),
        message_id=_message_id(message, "Message-ID"),
        thread_root=_thread_root(message),
        date=_date(message),
        importance=_importance(message),
        body_html=body_html,
        body_text=body_text,
        attachments=_attachments(message, body_parts, body_html or ""),
        headers=_raw_headers(message),
    )


# --- headers -------------------------------------------------------------------------


def _raw_value(message: Message, name: str) -> str | None:
    """The undecoded value of the first `name` header (bypasses header parsing)."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words the forgiving, legacy way."""
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:
        return value


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", value).strip()


def _text_header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
        return "" if value is None else _unfold(str(value))
    except Exception:
        raw = _raw_value(message, name)
        return "" if raw is None else _unfold(_decode_words(raw))


def _addresses(message: Message, name: str) -> tuple[Address, ...]:
    """Addresses of every `name` header; display name defaults to the address.

    Graph's emailAddress.name is the address itself when the header has no display
    name (seen on real mailboxes; not spelled out in the docs).
    """
    try:
        found: list[Address] = []
        for header in message.get_all(name) or []:
            for address in getattr(header, "addresses", ()):
                if address.addr_spec and address.addr_spec != "<>":
                    found.append((address.display_name or address.addr_spec, address.addr_spec))
        return tuple(found)
    except Exception:
        raw = [str(value) for key, value in message.raw_items() if key.lower() == name.lower()]
        pairs = email.utils.getaddresses([_decode_words(value) for value in raw])
        return tuple((display or addr, addr) for display, addr in pairs if addr)


def _message_id(message: Message, name: str) -> str | None:
    raw = _raw_value(message, name)
    if raw is None:
        return None
    match = re.search(r"<[^<>\s]+>", raw)
    return match.group(0) if match else (_unfold(raw) or None)


def _thread_root(message: Message) -> str | None:
    for name in ("References", "In-Reply-To"):
        raw = _raw_value(message, name)
        found = re.findall(r"<[^<>\s]+>", raw or "")
        if found:
            return str(found[0])
    return None


def _date(message: Message) -> datetime | None:
    raw = _raw_value(message, "Date")
    if not raw:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(_unfold(raw))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _importance(message: Message) -> str:
    value = (_raw_value(message, "Importance") or "").strip().lower()
    if value in ("low", "normal", "high"):
        return value
    priority = (_raw_value(message, "X-Priority") or "").strip()[:1]
    return {"1": "high", "2": "high", "4": "low", "5": "low"}.get(priority, "normal")


def _raw_headers(message: Message) -> tuple[tuple[str, str], ...]:
    return tuple((key, _unfold(_decode_words(str(value)))) for key, value in message.raw_items())


# --- body and attachments -----------------------------------------------------------


def _bodies(message: EmailMessage) -> tuple[str | None, str | None, list[Message]]:
    """The HTML and plain-text bodies and the parts they came from."""
    html_part = _body_part(message, "html")
    text_part = _body_part(message, "plain")
    parts = [part for part in (html_part, text_part) if part is not None]
    body_html = _part_text(html_part) if html_part is not None else None
    body_text = _part_text(text_part) if text_part is not None else None
    if (
        body_html is None
        and body_text is None
        and not message.is_multipart()
        and message.get_content_maintype() == "text"
    ):
        # A single text part get_body() passed over (e.g. text/enriched, or a broken
        # Content-Type): show its bytes rather than an empty body.
        body_text = _part_text(message)
        parts.append(message)
    return body_html, body_text, parts


def _body_part(message: EmailMessage, subtype: str) -> Message | None:
    try:
        return message.get_body(preferencelist=(subtype,))
    except Exception:
        return None


def _part_text(part: Message) -> str:
    """The decoded text of a part, whatever its charset or transfer encoding claims."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except Exception:
        pass
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else str(part.get_payload()).encode()
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _leaf_parts(part: Message) -> list[Message]:
    """Every non-multipart part; an attached message (message/rfc822) is one leaf."""
    if part.get_content_maintype() != "multipart":
        return [part]
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    leaves: list[Message] = []
    for child in payload:
        if isinstance(child, Message):
            leaves.extend(_leaf_parts(child))
    return leaves


def _attachments(
    message: Message, body_parts: list[Message], body_html: str
) -> tuple[Attachment, ...]:
    if not message.is_multipart():
        leaves = [] if _is_same(message, body_parts) else [message]
    else:
        leaves = [part for part in _leaf_parts(message) if not _is_same(part, body_parts)]
    referenced = set(re.findall(r"cid:([^\"'\s>)]+)", body_html, flags=re.IGNORECASE))
    found = []
    for part in leaves:
        if _is_alternative_text(part):
            continue
        try:
            found.append(_attachment(part, referenced))
        except Exception:
            continue  # a part we cannot decode at all is not worth crashing for
    return tuple(found)


def _is_same(part: Message, parts: list[Message]) -> bool:
    return any(part is other for other in parts)


def _is_alternative_text(part: Message) -> bool:
    """A text part without a filename that is not marked as an attachment.

    Such parts are alternative or additional bodies (Exchange folds them into the body),
    not attachments.
    """
    return (
        part.get_content_maintype() == "text"
        and part.get_content_disposition() != "attachment"
        and not part.get_filename()
    )


def _attachment(part: Message, referenced_cids: set[str]) -> Attachment:
    content_type = part.get_content_type()
    content_id = (_raw_value(part, "Content-ID") or "").strip().strip("<>") or None
    # Outlook treats a part as inline when it says so, or when the HTML body shows it
    # through a cid: URL; Graph then reports hasAttachments false for it.
    inline = part.get_content_disposition() == "inline" or (
        content_id is not None and content_id in referenced_cids
    )
    if content_type == "message/rfc822":
        # Graph names an attached message (an itemAttachment) after its subject.
        inner = part.get_payload(0)
        if isinstance(inner, Message):
            data, subject = inner.as_bytes(), _text_header(inner, "Subject")
        else:
            data, subject = b"", ""
        name = part.get_filename() or subject
    else:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        name = part.get_filename() or ""
    return Attachment(
        name=str(name or "attachment"),
        content_type=content_type,
        data=data,
        inline=inline,
        content_id=content_id,
    )


# --- HTML and text ---------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """Collect the visible text of an HTML document, with line breaks at block tags."""

    _BLOCKS = frozenset(
        (
            "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
            "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
            "pre", "section", "table", "tr", "ul",
        )
    )  # fmt: skip
    _HIDDEN = frozenset(("script", "style", "head", "title"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth += 1
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.chunks.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(markup: str) -> str:
    """Plain text for `Prefer: outlook.body-content-type="text"`.

    Exchange's own converter output is not documented; this keeps the visible text and
    paragraph breaks, which is what a client can rely on.
    """
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except Exception:
        return re.sub(r"<[^>]*>", " ", markup)
    lines = [line.strip() for line in "".join(extractor.chunks).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\r\n".join(lines).replace("\r\n", "\n")).strip()


def text_to_html(text: str) -> str:
    """HTML for a text body when a client prefers HTML (shape modelled on Outlook's)."""
    escaped = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\r\n")
    return (
        '<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        f'\r\n</head>\r\n<body>\r\n<div class="PlainText">{escaped}</div>\r\n</body>\r\n</html>'
    )


def preview(text: str) -> str:
    """bodyPreview: the first 255 characters of the text body, whitespace collapsed."""
    return re.sub(r"\s+", " ", text).strip()[:255]


# --- building and editing MIME ------------------------------------------------------------


class MimeInputError(ValueError):
    """A JSON message that cannot become MIME; the message says what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def new_internet_message_id() -> str:
    return f"<{uuid.uuid4().hex}@graphserver.test>"


def build_mime(
    message: dict[str, Any], default_from: str | None, *, include_bcc: bool = True
) -> bytes:
    """MIME for a Graph JSON message (sendMail JSON body, or a draft created from JSON).

    `default_from` is the sender when the message names none (None: no From header, as
    for a draft).
    """
    mime = EmailMessage(policy=CRLF_POLICY)
    sender = _json_address(message.get("from"))
    if sender is None and default_from is not None:
        sender = (default_from, default_from)
    if sender is not None:
        mime["From"] = _format_address(sender)
    for header, prop in (("To", "toRecipients"), ("Cc", "ccRecipients"), ("Reply-To", "replyTo")):
        _set_address_header(mime, header, message.get(prop))
    if include_bcc:
        _set_address_header(mime, "Bcc", message.get("bccRecipients"))
    mime["Subject"] = str(message.get("subject") or "")
    mime["Message-ID"] = str(message.get("internetMessageId") or new_internet_message_id())
    importance = str(message.get("importance") or "normal").lower()
    if importance in ("low", "high"):
        mime["Importance"] = importance
    for header in message.get("internetMessageHeaders") or []:
        _set_custom_header(mime, header)
    _set_body(mime, message.get("body") or {})
    attachments = [_json_attachment(item) for item in message.get("attachments") or []]
    raw = mime.as_bytes()
    for attachment in attachments:
        raw = attach_to_raw(raw, **attachment)
    return raw


def recipients_from_json(message: dict[str, Any]) -> list[Address]:
    """Every To, Cc and Bcc address of a JSON message."""
    found = []
    for prop in ("toRecipients", "ccRecipients", "bccRecipients"):
        for item in message.get(prop) or []:
            address = _json_address(item)
            if address is None:
                raise MimeInputError(
                    "ErrorInvalidRecipients", "At least one recipient isn't valid."
                )
            found.append(address)
    return found


def _json_address(value: Any) -> Address | None:
    if not isinstance(value, dict):
        return None
    inner = value.get("emailAddress")
    if not isinstance(inner, dict) or not str(inner.get("address") or "").strip():
        return None
    address = str(inner["address"]).strip()
    return (str(inner.get("name") or ""), address)


def _format_address(address: Address) -> str:
    name, addr = address
    return email.utils.formataddr((name, addr)) if name and name != addr else addr


def _set_address_header(mime: EmailMessage, header: str, recipients: Any) -> None:
    if not recipients:
        return
    addresses = []
    for item in recipients:
        address = _json_address(item)
        if address is None:
            raise MimeInputError("ErrorInvalidRecipients", "At least one recipient isn't valid.")
        addresses.append(_format_address(address))
    mime[header] = ", ".join(addresses)


def _set_custom_header(mime: EmailMessage, header: Any) -> None:
    name = str(header.get("name") or "") if isinstance(header, dict) else ""
    # Graph only lets a client add custom "x-" headers through internetMessageHeaders.
    if not name.lower().startswith("x-"):
        raise MimeInputError(
            "InvalidInternetMessageHeader",
            f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
        )
    mime[name] = str(header.get("value") or "")


def _set_body(mime: EmailMessage, body: Any) -> None:
    content = str(body.get("content") or "") if isinstance(body, dict) else ""
    kind = str(body.get("contentType") or "text").lower() if isinstance(body, dict) else "text"
    mime.set_content(content, subtype="html" if kind == "html" else "plain")


def _json_attachment(attachment: Any) -> dict[str, Any]:
    """The attach_to_raw() arguments for a JSON fileAttachment."""
    if not isinstance(attachment, dict):
        raise MimeInputError("BadRequest", "An attachment must be a JSON object.")
    kind = str(attachment.get("@odata.type") or "")
    if kind.lower() != "#microsoft.graph.fileattachment":
        raise MimeInputError(
            "NotImplemented", f"graphserver models only file attachments, not {kind or '?'}"
        )
    try:
        data = base64.b64decode(str(attachment.get("contentBytes") or ""), validate=True)
    except binascii.Error:
        raise MimeInputError("BadRequest", "Invalid base64 string for contentBytes.") from None
    return {
        "name": str(attachment.get("name") or "attachment"),
        "content_type": str(attachment.get("contentType") or "application/octet-stream"),
        "data": data,
        "inline": bool(attachment.get("isInline")),
        "content_id": attachment.get("contentId"),
    }


def attach_to_raw(
    raw: bytes,
    *,
    name: str,
    content_type: str,
    data: bytes,
    inline: bool = False,
    content_id: str | None = None,
) -> bytes:
    """`raw` with one more attachment part; every existing byte stays as it was.

    The part goes before the closing delimiter of a multipart/mixed message; any other
    message is first wrapped in a new multipart/mixed whose first part is the old body
    with its Content-* headers.  The part is base64, except message/* types, which RFC
    2046 allows only unencoded, so they carry the bytes as they are.
    """
    newline = b"\r\n" if b"\r\n" in raw[:8192] or not raw else b"\n"
    part = _part_bytes(name, content_type, data, inline, content_id, newline)
    header = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    boundary = header.get_boundary() if header.get_content_type() == "multipart/mixed" else None
    closing = f"--{boundary}--".encode() if boundary else b""
    position = raw.rfind(closing) if boundary else -1
    if boundary and position >= 0:
        opening = f"--{boundary}".encode() + newline
        return raw[:position] + opening + part + newline + raw[position:]
    return _wrap_mixed(raw, part, newline)


def _part_bytes(
    name: str,
    content_type: str,
    data: bytes,
    inline: bool,
    content_id: str | None,
    newline: bytes,
) -> bytes:
    """Headers, blank line and body of one attachment part (without the delimiter)."""
    maintype, _, subtype = content_type.partition("/")
    if not maintype or not subtype:
        content_type, maintype = "application/octet-stream", "application"
    headers = MIMEPart(policy=CRLF_POLICY)
    headers["Content-Type"] = content_type
    headers["Content-Disposition"] = "inline" if inline else "attachment"
    headers.set_param("filename", name, header="Content-Disposition")
    if content_id:
        headers["Content-ID"] = f"<{content_id.strip('<>')}>"
    if maintype.lower() == "message":
        headers["Content-Transfer-Encoding"] = "7bit" if data.isascii() else "8bit"
        body = data  # all of it: the newline before the next delimiter is the delimiter's
    else:
        headers["Content-Transfer-Encoding"] = "base64"
        body = base64.encodebytes(data).replace(b"\n", newline).removesuffix(newline)
    folded = b"".join(
        CRLF_POLICY.fold_binary(key, value).replace(b"\r\n", newline)
        for key, value in headers.items()
    )
    return folded + newline + body


def _wrap_mixed(raw: bytes, part: bytes, newline: bytes) -> bytes:
    head, separator, body = raw.partition(newline + newline)
    if not separator:  # no body at all: the whole thing is headers
        head, body = raw.removesuffix(newline), b""
    top, content = _split_content_headers(head.split(newline) if head else [])
    if not content:
        content = [b"Content-Type: text/plain; charset=us-ascii"]  # RFC 2045's default
    boundary = _new_boundary(raw)
    top.append(f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode())
    if not any(line.lower().startswith(b"mime-version:") for line in top):
        top.append(b"MIME-Version: 1.0")
    delimiter = f"--{boundary}".encode()
    return newline.join(
        [
            *top,
            b"",
            delimiter,
            *content,
            b"",
            body,  # unchanged: the newline joined after it belongs to the delimiter
            delimiter,
            part,
            delimiter + b"--",
            b"",
        ]
    )


def _split_content_headers(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Header lines (with their continuation lines) split into other and Content-* ones."""
    top: list[bytes] = []
    content: list[bytes] = []
    current = top
    for line in lines:
        if line[:1] not in (b" ", b"\t"):
            current = content if line.lower().startswith(b"content-") else top
        current.append(line)
    return top, content


def _new_boundary(raw: bytes) -> str:
    while True:
        boundary = f"graphserver-{secrets.token_hex(12)}"
        if boundary.encode() not in raw:
            return boundary


def replace_headers(raw: bytes, headers: dict[str, str | None]) -> bytes:
    """`raw` with each named header replaced (or removed when the value is None)."""
    mime = BytesParser(policy=CRLF_POLICY).parsebytes(raw)
    for name, value in headers.items():
        del mime[name]
        if value:
            mime[name] = value
    return mime.as_bytes()


def prepend_missing_headers(raw: bytes, headers: dict[str, str]) -> bytes:
    """Add headers `raw` lacks in front of it, leaving every existing byte untouched."""
    existing = parse_header_names(raw)
    newline = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    added = b"".join(
        f"{name}: {value}".encode() + newline
        for name, value in headers.items()
        if name.lower() not in existing
    )
    return added + raw


def parse_header_names(raw: bytes) -> set[str]:
    message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    return {key.lower() for key in message}


def format_address_list(addresses: list[Address]) -> str:
    return ", ".join(_format_address(address) for address in addresses)
