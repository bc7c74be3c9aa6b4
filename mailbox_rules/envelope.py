"""The message envelope the decision core reasons about, and how to read one from headers.

:func:`parse_envelope` turns the raw header block of a message (``BODY.PEEK[HEADER]`` over
IMAP) into an :class:`Envelope`.  It is pure — bytes in, value out — and never raises for
odd mail: real mail has missing headers, several From fields, undecodable bytes and bad
dates, so problems are recorded in :attr:`Envelope.problems` for the rules to judge.

Identity is taken from the addr-spec (``local@domain``) only, lower-cased; a display name is
never used for matching, however much it looks like an address.
"""

from __future__ import annotations

import contextlib
import email.policy
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import Policy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

_ADDR_SPEC = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
# Subjects that Exchange, Outlook, Gmail and common vacation responders give their replies, in
# English and German (Exchange's "Abwesenheitsnotiz"), when they add no header saying so.
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic\s+reply|auto[\s_-]?reply|auto[\s_-]?response|autoresponder"
    r"|out\s+of\s+(the\s+)?office(\s+(auto[\s_-]?)?reply)?|abwesenheitsnotiz"
    r"|automatische\s+antwort)\s*:",
    re.IGNORECASE,
)
_BOUNCE_LOCALPARTS = frozenset({"mailer-daemon", "postmaster"})
# Only these fields are parsed.  Each is capped in size and count first, so that a message
# with megabytes of hostile headers costs milliseconds, not minutes (the stdlib parser's time
# grows faster than the header's size).
_WANTED_FIELDS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "delivered-to",
        "x-original-to",
        "subject",
        "date",
        "message-id",
        "content-type",
        "auto-submitted",
        "x-autoreply",
        "x-autorespond",
        "x-auto-reply",
        "precedence",
        "return-path",
        "in-reply-to",
        "references",
        "list-id",
    }
)
MAX_FIELD_BYTES = 8192
MAX_FIELDS_PER_NAME = 10
# Author fields are parsed by the slowest part of the stdlib (its time grows with the square
# of a field's length) and a real one is short: cap them harder.
MAX_AUTHOR_BYTES = 1024
MAX_AUTHOR_FIELDS = 3
_AUTHOR_FIELDS = ("from", "sender")
# Other address fields only matter for spotting a watched mailbox among the recipients.
MAX_ADDRESS_BYTES = 2048
MAX_ADDRESS_FIELDS = 3
_ADDRESS_FIELDS = ("to", "cc", "reply-to", "delivered-to", "x-original-to")
_ADDRESS_TOKEN = re.compile(r"[^\s<>()\[\],;:\"']+@[A-Za-z0-9.-]+")
_ADDRESS_TOKEN_BYTES = re.compile(rb"[^\s<>()\[\],;:\"'=?]+@[A-Za-z0-9.-]+")
_REPORT_TYPES = (
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
)


class EnvelopeError(ValueError):
    """Raised only for programming errors (e.g. empty input); bad mail never raises."""


@dataclass(frozen=True)
class Envelope:
    """What the core needs to know about one message found in one watched mailbox."""

    found_in: str
    folder: str
    message_id: str
    received_at: datetime
    from_addresses: tuple[str, ...] = ()
    sender_addresses: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    delivered_to: tuple[str, ...] = ()
    date: datetime | None = None
    subject: str = ""
    automatic: str | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
    unparsed_sender_tokens: tuple[str, ...] = ()
    """Address-like text in From/Sender when they could not be parsed (for review only)."""
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    bulk: bool = False  # mailing-list or bulk mail (Precedence: bulk/list/junk, List-Id)
    display_name_addresses: tuple[str, ...] = ()
    """Addresses written in From display names (never identity; a lookalike goes to review)."""

    subject_key: str = field(init=False, compare=False)
    """The subject without Re:/Fwd: prefixes and tags, case-folded: what a thread keeps."""
    identities: tuple[str, ...] = field(init=False, compare=False)
    """The addresses that say who wrote the message: From, then Sender."""
    recipients: frozenset[str] = field(init=False, compare=False)
    """Every address the message was addressed or delivered to."""

    def __post_init__(self) -> None:
        # Derived once here, not on every rule's access: decisions run in the hot path.
        extra = tuple(a for a in self.sender_addresses if a not in self.from_addresses)
        object.__setattr__(self, "identities", self.from_addresses + extra)
        object.__setattr__(self, "recipients", frozenset(self.to + self.cc + self.delivered_to))
        object.__setattr__(self, "subject_key", subject_key(self.subject))

    @property
    def is_reply(self) -> bool:
        """Whether the message answers an earlier one (threading headers or a Re: subject)."""
        return bool(self.in_reply_to or self.references) or bool(_REPLY.match(self.subject))


_REPLY = re.compile(r"^\s*(re|aw|sv|antw)\s*(\[\d+\])?\s*:", re.IGNORECASE)
_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|antw|tr)\s*(?:\[\d+\])?\s*:|\[[^\]]*\])\s*", re.IGNORECASE
)


def subject_key(subject: str) -> str:
    """``Re: [Ticket 4] FW: Damp`` and ``damp`` are the same thread."""
    previous = None
    key = subject
    while key != previous:
        previous, key = key, _SUBJECT_PREFIX.sub("", key, count=1)
    return " ".join(key.casefold().split())


def is_addr_spec(value: str) -> bool:
    """True for a plausible ``local@domain`` address (the register's validation uses it too).

    Invisible and control characters (e.g. a zero-width space pasted from a document) are
    refused: an address containing them could never match real mail.
    """
    return (
        len(value) <= 320
        and value.isprintable()
        and bool(_ADDR_SPEC.match(value))
        and ".." not in value
    )


def normalise_address(value: str) -> str:
    """The form addresses are compared in: lower case, the domain as ASCII (IDNA A-labels,
    so ``bücher.example`` and ``xn--bcher-kva.example`` match) without a trailing dot."""
    local, at, domain = value.strip().lower().rpartition("@")
    if not at:
        return domain
    domain = domain.rstrip(".")
    if not domain.isascii():
        with contextlib.suppress(UnicodeError):  # if it fails, is_addr_spec refuses it
            domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def header_block(raw: bytes) -> bytes:
    """A whole message's header block (up to and including the empty line that ends it)."""
    match = re.search(rb"\r?\n\r?\n", raw)
    return raw[: match.end()] if match else raw


def parse_envelope(
    header_bytes: bytes,
    *,
    found_in: str,
    folder: str = "INBOX",
    received_at: datetime,
) -> Envelope:
    """Read an :class:`Envelope` from a message's raw header block."""
    if received_at.tzinfo is None:
        raise EnvelopeError("received_at must be timezone-aware")
    problems: list[str] = []
    fields = _essential_fields(header_bytes, problems)
    counts = fields.counts
    raw = _parse_headers(fields.essential, email.policy.compat32)
    headers = _parse_headers(fields.essential, email.policy.default)

    from_addresses = _addresses(headers, raw, "From", problems)
    sender_addresses = _addresses(headers, raw, "Sender", problems)
    if counts["from"] > 1:
        problems.append("several From fields")
    elif len(from_addresses) > 1:
        problems.append("several addresses in From")
    if not counts["from"]:
        problems.append("no From field")
    elif not from_addresses:
        problems.append("From field has no usable address")
    tokens: tuple[str, ...] = ()
    if fields.author_cut:
        problems.append("sender fields too long or too many to read in full")
    if fields.author_cut or (not from_addresses and not sender_addresses):
        tokens = _unique(
            (
                *fields.author_tokens,
                *(
                    t.lower().rstrip(".")
                    for name in ("From", "Sender")
                    for value in _raw_all(raw, name)
                    for t in _ADDRESS_TOKEN.findall(value)
                ),
            )
        )

    message_id = _message_id(headers, raw)
    subject = _text(headers, "Subject")  # parsed once: a hostile subject can be slow to decode
    return Envelope(
        found_in=normalise_address(found_in),
        folder=folder,
        message_id=message_id,
        received_at=received_at.astimezone(UTC),
        from_addresses=from_addresses,
        sender_addresses=sender_addresses,
        reply_to=_addresses(headers, raw, "Reply-To", problems),
        to=_addresses(headers, raw, "To", problems),
        cc=_addresses(headers, raw, "Cc", problems),
        delivered_to=_addresses(headers, raw, "Delivered-To", problems)
        + _addresses(headers, raw, "X-Original-To", problems),
        date=_date(headers),
        subject=subject,
        automatic=automatic_marker(headers, subject=subject),
        problems=tuple(problems),
        unparsed_sender_tokens=tokens,
        in_reply_to=_message_ids(headers, "In-Reply-To"),
        references=_message_ids(headers, "References"),
        bulk=_text(headers, "Precedence").strip().lower() in ("bulk", "list", "junk")
        or bool(_text(headers, "List-Id")),
        display_name_addresses=_display_name_addresses(headers),
    )


def _display_name_addresses(headers: EmailMessage) -> tuple[str, ...]:
    try:
        names = [a.display_name for v in headers.get_all("From") or [] for a in v.addresses]
    except Exception:  # unreadable From: other rules deal with it
        return ()
    return _unique(
        normalise_address(t) for name in names for t in _ADDRESS_TOKEN.findall(name or "")
    )


def _message_ids(headers: EmailMessage, name: str) -> tuple[str, ...]:
    return _unique(re.findall(r"<[^<>\s]+>", _text(headers, name)))


def _parse_headers(essential: bytes, policy: Policy) -> Any:
    """Headers as text: UTF-8 where they are valid UTF-8 (RFC 6532 internationalised mail),
    otherwise bytes with the undecodable ones kept as surrogates."""
    try:
        text = essential.decode("utf-8")
    except UnicodeDecodeError:
        return BytesHeaderParser(policy=policy).parsebytes(essential)
    return HeaderParser(policy=policy).parsestr(text)


def _count_limit(name: str) -> int:
    if name in _AUTHOR_FIELDS:
        return MAX_AUTHOR_FIELDS
    return MAX_ADDRESS_FIELDS if name in _ADDRESS_FIELDS else MAX_FIELDS_PER_NAME


def _byte_limit(name: str) -> int:
    if name in _AUTHOR_FIELDS:
        return MAX_AUTHOR_BYTES
    return MAX_ADDRESS_BYTES if name in _ADDRESS_FIELDS else MAX_FIELD_BYTES


@dataclass
class _Fields:
    essential: bytes
    counts: Counter[str]
    author_cut: bool  # a From/Sender field was too long or too many to read in full
    author_tokens: tuple[str, ...]  # address-like text anywhere in every From/Sender field


def _essential_fields(header_bytes: bytes, problems: list[str]) -> _Fields:
    """The header fields the core reads, each capped in size and number, names made canonical
    (``From :`` is ``From:``); their counts; and what capping may have hidden."""
    fields: list[tuple[str, list[bytes]]] = []
    for line in re.split(rb"\r?\n", header_bytes):
        if not line:
            if fields:
                break  # the empty line that ends the header block
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1].append(line)  # a continuation (even of spaces only) as mail servers do
            continue
        name_bytes, colon, rest = line.partition(b":")
        name = name_bytes.strip().lower().decode("ascii", "replace")
        fields.append((name, [name_bytes.strip() + colon + rest]))
    counts: Counter[str] = Counter()
    kept: list[bytes] = []
    author_cut = False
    author_text: list[bytes] = []
    for name, lines in fields:
        if name not in _WANTED_FIELDS:
            continue
        counts[name] += 1
        author = name in _AUTHOR_FIELDS
        value = b"\r\n".join(lines)
        if author:
            author_text.append(value)
        if counts[name] > _count_limit(name):
            author_cut |= author
            continue
        limit = _byte_limit(name)
        if len(value) > limit:
            problems.append(f"{name} field over {limit} bytes; the rest was not read")
            author_cut |= author
            value = value[:limit]
        kept.append(value)
    for name, count in counts.items():
        limit = _count_limit(name)
        if count > limit:
            problems.append(f"{count} {name} fields; only the first {limit} read")
    tokens = _unique(
        t.decode("ascii", "replace").lower().rstrip(".")
        for value in author_text
        for t in _ADDRESS_TOKEN_BYTES.findall(value)
    )
    return _Fields(b"\r\n".join(kept) + b"\r\n\r\n", counts, author_cut, tokens)


REPORT_MARKER = "delivery or disposition report"
"""How :func:`automatic_marker` begins for a delivery or disposition report (not an auto-reply)."""


def automatic_marker(headers: EmailMessage, *, subject: str | None = None) -> str | None:
    """Why a message is a delivery report or an auto-reply, or None for a person's message.

    Follows RFC 3834 (Auto-Submitted), RFC 3462/6522 (multipart/report) and the markers that
    Exchange and common autoresponders add.
    """
    content_type = _text(headers, "Content-Type").lower()
    if content_type.startswith("multipart/report"):
        report = re.search(r"report-type\s*=\s*\"?([\w-]+)", content_type)
        kind = report.group(1) if report else "unknown"
        return f"{REPORT_MARKER} (multipart/report; report-type={kind})"
    for report_type in _REPORT_TYPES:
        if content_type.startswith(report_type):
            return f"{REPORT_MARKER} ({report_type})"
    auto_submitted = _text(headers, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted.split(';')[0]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if headers.get(name) is not None:
            return f"{name} header present"
    precedence = _text(headers, "Precedence").strip().lower()
    if precedence in ("auto_reply", "bulk", "junk", "list"):
        # Vacation responders set bulk or junk (RFC 3834 section 3.1.8 names the practice).
        return f"Precedence: {precedence}"
    if _text(headers, "Return-Path").strip() == "<>":
        return "null return path (Return-Path: <>)"
    sender = _first_addr_spec([_text(headers, "From")])
    if sender and sender.split("@", 1)[0] in _BOUNCE_LOCALPARTS:
        return f"sent by {sender.split('@', 1)[0]}"
    if _AUTO_SUBJECT.match(_text(headers, "Subject") if subject is None else subject):
        return "subject marks an automatic reply"
    return None


def _addresses(
    headers: EmailMessage, raw: Message, name: str, problems: list[str]
) -> tuple[str, ...]:
    values = _raw_all(raw, name)
    if not values:
        return ()
    found: list[str] = []
    try:
        for value in headers.get_all(name) or []:
            if not hasattr(value, "addresses"):
                # Delivered-To and X-Original-To are not address headers to the stdlib's
                # header registry, so they come back as plain text: read them as a list.
                found.extend(addr for _, addr in getaddresses([str(value)]))
                continue
            for address in value.addresses:
                found.append(address.addr_spec)
    except Exception as exc:  # the stdlib header parser raises many kinds on hostile input
        problems.append(f"{name} could not be parsed ({type(exc).__name__})")
        found = []
        if name.lower() not in ("from", "sender"):  # identity never comes from a fallback
            try:
                found = [addr for _, addr in getaddresses(values)]
            except Exception:  # e.g. RecursionError on deeply nested comments
                found = []
    cleaned = [normalise_address(a) for a in found if a]
    bad = [a for a in cleaned if not is_addr_spec(a)]
    if bad:
        problems.append(f"{name} has {len(bad)} malformed address(es)")
    return _unique(a for a in cleaned if is_addr_spec(a))


def _raw_all(raw: Message, name: str) -> list[str]:
    """Header values as strings from the lenient (compat32) parse: this never raises."""
    return [str(v) for v in raw.get_all(name) or []]


def _text(headers: EmailMessage, name: str) -> str:
    try:
        value = headers.get(name)
    except Exception:  # a hostile encoded-word can make even get() fail
        return ""
    return "" if value is None else " ".join(str(value).split())


def _first_addr_spec(values: list[str]) -> str | None:
    try:
        pairs = getaddresses(values)
    except Exception:  # e.g. RecursionError on deeply nested comments
        return None
    for _, addr in pairs:
        if addr and is_addr_spec(addr.lower()):
            return addr.lower()
    return None


def _date(headers: EmailMessage) -> datetime | None:
    raw = _text(headers, "Date")
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def _message_id(headers: EmailMessage, raw: Message) -> str:
    """The Message-ID, or a stable synthetic one from the headers that identify the message.

    The synthetic id uses From, Date, Subject, To and Cc only, which stay the same when one
    message is delivered into several mailboxes (unlike Received or Delivered-To).
    """
    value = _text(headers, "Message-ID").strip()
    match = re.search(r"<[^<>\s]+>", value)
    if match:
        return match.group(0)
    if value:
        return f"<{value.strip('<>').replace(' ', '')}>"
    basis = "\n".join(
        " ".join(_raw_all(raw, name)) for name in ("From", "Date", "Subject", "To", "Cc")
    )
    digest = hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f"<synthetic-{digest}@spocbot.invalid>"


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
