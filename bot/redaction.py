"""Replacing a person's identifiers (names, references, email addresses) in text and in raw
messages: other customers' details in a subject access export, an erased customer's in the
notices and audit entries that also concern others.

Matching ignores case, lets a name's words be split by any white space (a folded header)
and respects word edges, so that reference ``C-1`` is not found inside ``C-10`` and
``casey@mail.example`` not inside ``x.casey@mail.example``.  A message is redacted part by
part: header values are decoded (RFC 2047 encoded words), text parts are decoded from
quoted-printable or base64 and re-encoded; parts that are not text (attachments) cannot be
checked and are listed as such.  A last pass replaces any plain occurrence left in the bytes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import Header, decode_header, make_header
from email.message import Message
from email.policy import compat32

__all__ = ["RedactedMessage", "Redactor"]

# A match starts after a non-word character, or right after a URL-encoded one (``%20``):
# the hex digits of ``%20`` are not a word the term is part of.
_BEFORE = r"(?:(?<![\w@.+-])|(?<=%[0-9A-Fa-f]{2}))"
_AFTER = r"(?![\w@+-]|\.\w)"
# In raw bytes a non-ASCII byte belongs to a word; base64 characters count as word characters
# there, so that a short reference is never "found" inside an attachment's base64 lines.
_BEFORE_BYTES = rb"(?:(?<![A-Za-z0-9_@.+/=\x80-\xff-])|(?<=%[0-9A-Fa-f]{2}))"
_AFTER_BYTES = rb"(?![A-Za-z0-9_@+/=\x80-\xff-]|\.[A-Za-z0-9])"


# How a name's parts may be written apart from plain spaces: HTML's non-breaking spaces and
# tags (``Kim&nbsp;Oakes``, ``Kim <b>Oakes</b>``), URL encoding (``Kim%20Oakes``).  Written
# with the characters themselves (not ``\u`` escapes), so that the same pattern, encoded as
# UTF-8, also serves for raw bytes.
_NBSP = "\u00a0"
_GAP = rf"(?:\s|{_NBSP}|&nbsp;|&#160;|&#xa0;|%20|\+|<[^<>]{{0,200}}>)+"
_APOSTROPHE = "(?:'|\u2019|&#0?39;|&#x27;|&apos;|&rsquo;|&#8217;|&#x2019;|%27)"
# Characters written in other ways: an apostrophe (typographic, or escaped by HTML), a
# hyphen (non-breaking), the @ of an address (URL or HTML encoded, as in mailto: links).
_VARIANTS = {
    "'": _APOSTROPHE,
    "\u2019": _APOSTROPHE,
    "-": "(?:-|\u2011|\u2010|\u2013|&#8209;|&#0?45;|%2[Dd])",
    "@": "(?:@|%40|&#64;|&#x40;)",
    ".": "(?:\\.|%2[Ee]|&#0?46;|&#x2[Ee];)",
}


def _pattern(term: str) -> str:
    return _GAP.join("".join(_VARIANTS.get(c, re.escape(c)) for c in word) for word in term.split())


@dataclass(frozen=True)
class RedactedMessage:
    raw: bytes
    changed: bool
    unchecked: tuple[str, ...] = ()
    """Parts that could not be searched (attachments, undecodable text): described, not named
    by content."""


@dataclass
class Redactor:
    """Replaces every one of ``terms`` by ``replacement``."""

    terms: Iterable[str]
    replacement: str
    _text: re.Pattern[str] | None = field(init=False, default=None)
    _bytes: re.Pattern[bytes] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        words = {" ".join(t.split()) for t in self.terms if t and t.strip()}
        words |= {html.escape(w) for w in words}  # as HTML parts write them (O&#x27;Brien)
        ordered = sorted(words, key=lambda w: (-len(w), w))
        if ordered:
            alternatives = "|".join(_pattern(w) for w in ordered)
            self._text = re.compile(f"{_BEFORE}(?:{alternatives}){_AFTER}", re.IGNORECASE)
            encoded = b"|".join(_pattern(w).encode("utf-8") for w in ordered)
            self._bytes = re.compile(
                _BEFORE_BYTES + b"(?:" + encoded + b")" + _AFTER_BYTES, re.IGNORECASE
            )

    def text(self, value: str) -> str:
        return value if self._text is None else self._text.sub(self.replacement, value)

    def found_in(self, value: str) -> bool:
        return self._text is not None and self._text.search(value) is not None

    def data(self, value: object) -> object:
        """Every string in a JSON-like structure (dicts, lists), keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def raw_bytes(self, raw: bytes) -> bytes:
        if self._bytes is None:
            return raw
        return self._bytes.sub(self.replacement.encode("utf-8"), raw)

    def message(self, raw: bytes) -> RedactedMessage:
        """A copy of the raw message with the terms replaced (the original is not touched)."""
        if self._text is None:
            return RedactedMessage(raw, False)
        unchecked: list[str] = []
        try:
            parsed = message_from_bytes(raw, policy=compat32)
            changed = self._headers(parsed)
            for number, part in enumerate(parsed.walk(), start=1):
                if part.is_multipart():
                    continue
                if number > 1:
                    changed |= self._headers(part)
                if part.get_content_maintype() != "text":
                    unchecked.append(f"part {number} ({part.get_content_type()}): not text")
                    continue
                result = self._part(part)
                if result is None:
                    unchecked.append(
                        f"part {number} ({part.get_content_type()}): its text could not be decoded"
                    )
                changed |= bool(result)
            out = parsed.as_bytes(policy=compat32) if changed else raw
        except Exception:  # a message too broken to parse: plain occurrences only
            unchecked.append("the message could not be parsed: only plain text was searched")
            out, changed = raw, False
        final = self.raw_bytes(out)
        return RedactedMessage(final, changed or final != raw, tuple(unchecked))

    def _headers(self, part: Message) -> bool:
        items = part.items()
        new_items: list[tuple[str, str]] = []
        changed = False
        for name, value in items:
            try:
                decoded = str(make_header(decode_header(str(value))))
            except Exception:  # a malformed encoded word: search it as it is
                decoded = str(value)
            redacted = self.text(decoded)
            if redacted != decoded:
                changed = True
                new_items.append(
                    (name, redacted if redacted.isascii() else Header(redacted, "utf-8").encode())
                )
            else:
                new_items.append((name, value))
        if changed:
            for name in {n for n, _ in items}:
                del part[name]
            for name, new in new_items:
                part[name] = new
        return changed

    def _part(self, part: Message) -> bool | None:
        """Redact one text part in place: True if changed, False if not, None if its text
        could not be decoded."""
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return None
        charset = part.get_content_charset() or "us-ascii"
        try:
            text = payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            return None
        redacted = self.text(text)
        if redacted == text:
            return False
        del part["Content-Transfer-Encoding"]
        part.set_payload(redacted, "utf-8")
        return True
