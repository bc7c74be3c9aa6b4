"""The readable text of a message: decoded subject and body, HTML turned into text.

Used for the rules that look at what a message is about (subject matters, emergencies).
Pure and defensive: broken MIME gives whatever text could be read, never an exception, and
the text is capped so that a huge message costs no more than a normal one.
"""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from html.parser import HTMLParser

MAX_TEXT = 200_000


def message_text(raw: bytes) -> str:
    """Subject and body text of ``raw``; attachments and enclosed messages are skipped.

    The subject is the first line (line breaks in it become spaces); see :func:`body_of`.
    Parsed with the lenient ``compat32`` policy: headers are not parsed beyond the subject, so
    reading an unknown sender's text for a possible match costs a fraction of a millisecond.
    """
    try:
        message = BytesParser(policy=compat32).parsebytes(raw)
    except Exception:  # the parser is lenient, but hostile input can still upset it
        return "\n" + raw.decode("utf-8", "replace")[:MAX_TEXT]  # no subject line read
    pieces = [" ".join(_subject(message).splitlines())]
    size = 0
    for part in _text_parts(message):
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # a transfer encoding that cannot be undone: skip the part
            continue
        if not isinstance(payload, bytes):
            continue
        content = _decode(payload, part)
        text = _html_to_text(content) if part.get_content_subtype() == "html" else content
        pieces.append(text)
        size += len(text)
        if size > MAX_TEXT:
            break
    return "\n".join(pieces)[:MAX_TEXT]


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


def _text_parts(message: Message) -> list[Message]:
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
