"""The readable text of a message: decoded subject and body, HTML turned into text.

Used for the rules that look at what a message is about (subject matters, emergencies).
Pure and defensive: broken MIME gives whatever text could be read, never an exception, and
the text is capped so that a huge message costs no more than a large normal one.

:func:`message_text` returns a :class:`MessageText`: a ``str`` (the subject line, then the
body text) that also carries the text of the message's ``text/plain`` attachments (only the
emergency scan reads those: what a message is *about* is what the sender wrote, not what they
attached) and the SHA-256 of the message's body (to tell a different message that reuses a
Message-ID from another copy of the same one).
"""

from __future__ import annotations

import hashlib
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from html.parser import HTMLParser

MAX_TEXT = 1_000_000
"""Characters of subject and body read (a generous start: the subject always comes first, and
an emergency is written near the top).  Attachments have the same allowance of their own."""


class MessageText(str):
    """A message's subject line and body text, with what else the core may need of it.

    ``attached``: the text of its ``text/plain`` attachments (read for emergencies only);
    ``body_sha256``: the SHA-256 of the raw body (as :func:`body_digest`), None if unknown.
    """

    attached: str
    body_sha256: str | None

    def __new__(cls, text: str, attached: str = "", body_sha256: str | None = None) -> MessageText:
        value = super().__new__(cls, text)
        value.attached = attached
        value.body_sha256 = body_sha256
        return value


def body_digest(raw: bytes) -> str:
    """SHA-256 of the body alone: the same for every copy of one message, however many
    mailboxes it was delivered to (their trace headers differ, the body does not)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        _, found, body = raw.partition(separator)
        if found:
            return hashlib.sha256(body).hexdigest()
    return hashlib.sha256(b"").hexdigest()


def message_text(raw: bytes) -> MessageText:
    """Subject and body text of ``raw``; attachments and enclosed messages are skipped, except
    that the text of ``text/plain`` attachments is kept apart (:class:`MessageText`).

    The subject is the first line (line breaks in it become spaces); see :func:`body_of`.
    Parsed with the lenient ``compat32`` policy: headers are not parsed beyond the subject, so
    reading an unknown sender's text for a possible match costs a fraction of a millisecond.
    """
    digest = body_digest(raw)
    try:
        message = BytesParser(policy=compat32).parsebytes(raw)
    except Exception:  # the parser is lenient, but hostile input can still upset it
        text = "\n" + raw.decode("utf-8", "replace")[:MAX_TEXT]  # no subject line read
        return MessageText(text, body_sha256=digest)
    body, attached = _Collector(), _Collector()
    body.add(" ".join(_subject(message).splitlines()))
    for part, is_attachment in _text_parts(message):
        collector = attached if is_attachment else body
        if collector.full:
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # a transfer encoding that cannot be undone: skip the part
            continue
        if not isinstance(payload, bytes):
            continue
        # Decoded text can be no longer than its bytes; HTML is longer than the text in it.
        content = _decode(payload[: MAX_TEXT * 4], part)
        html = part.get_content_subtype() == "html"
        collector.add(_html_to_text(content) if html else content)
    return MessageText(body.text(), attached.text(), digest)


class _Collector:
    """Pieces of text up to :data:`MAX_TEXT` characters in all."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.size = 0

    @property
    def full(self) -> bool:
        return self.size > MAX_TEXT

    def add(self, text: str) -> None:
        self.pieces.append(text)
        self.size += len(text) + 1

    def text(self) -> str:
        return "\n".join(self.pieces)[:MAX_TEXT]


def _subject(message: Message) -> str:
    value = message.get("Subject")
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # a broken encoded word or unknown charset: the text as it stands
        return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _decode(payload: bytes, part: Message) -> str:
    """The part's text in its declared charset; unknown or plain-ASCII labels read as UTF-8
    (a superset that real mail often needs), never an exception."""
    try:
        charset = part.get_content_charset() or "us-ascii"
    except Exception:
        charset = "us-ascii"
    if charset in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        charset = "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError):
        return payload.decode("utf-8", "replace")


def body_of(text: str) -> str:
    """The body part of a :func:`message_text` result (everything after the subject line)."""
    return text.partition("\n")[2]


def _text_parts(message: Message) -> list[tuple[Message, bool]]:
    """The text parts to read, each with whether it is an attachment (only ``text/plain``
    attachments are read: other attached text, such as HTML or CSV files, is not)."""
    parts = []
    try:
        for part in message.walk():
            if part.get_content_maintype() != "text":
                continue
            attachment = part.get_content_disposition() == "attachment"
            if attachment and part.get_content_subtype() != "plain":
                continue
            parts.append((part, attachment))
    except Exception:  # a malformed multipart: keep the parts read so far
        pass
    return parts


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3"):
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def _html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # unbalanced markup: keep what was read
        pass
    return "".join(extractor.chunks)
