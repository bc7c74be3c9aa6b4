"""The readable text of a message: decoded subject and body, HTML turned into text.

Used for the rules that look at what a message is about (subject matters, emergencies).
Pure and defensive: broken MIME gives whatever text could be read, never an exception, and
the text is capped so that a huge message costs no more than a normal one.
"""

from __future__ import annotations

import contextlib
import email.policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser

MAX_TEXT = 200_000


def message_text(raw: bytes) -> str:
    """Subject and body text of ``raw``; attachments and enclosed messages are skipped.

    The subject is the first line (line breaks in it become spaces); see :func:`body_of`.
    """
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
    except Exception:  # the parser is lenient, but hostile input can still upset it
        return "\n" + raw.decode("utf-8", "replace")[:MAX_TEXT]  # no subject line read
    subject = ""
    with contextlib.suppress(Exception):  # an undecodable subject: the body may say enough
        subject = " ".join(str(message.get("Subject", "")).splitlines())
    pieces = [subject]
    size = 0
    for part in _text_parts(message):
        try:
            content = part.get_content()
        except Exception:  # unknown charset or bad transfer encoding: use the raw bytes
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if not isinstance(content, str):
            continue
        text = _html_to_text(content) if part.get_content_subtype() == "html" else content
        pieces.append(text)
        size += len(text)
        if size > MAX_TEXT:
            break
    return "\n".join(pieces)[:MAX_TEXT]


def body_of(text: str) -> str:
    """The body part of a :func:`message_text` result (everything after the subject line)."""
    return text.partition("\n")[2]


def _text_parts(message: EmailMessage) -> list[EmailMessage]:
    parts = []
    try:
        for part in message.walk():
            attachment = part.get_content_disposition() == "attachment"
            if part.get_content_maintype() != "text" or attachment:
                continue
            parts.append(part)
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
