"""The ports the watcher uses to reach mail systems, and the errors adapters raise.

Small protocols, one per external system: :class:`MailStore` reads one mailbox (IMAP or
Microsoft Graph), :class:`MailSender` submits a message (SMTP or Graph ``sendMail``) and
:class:`SentLog` tells whether a message was sent (the bot's inbox or its Sent Items), and
:class:`AbsenceSource` says which officers are away by another system's account.  Adapters
translate their library's exceptions into this hierarchy, chained with ``from``::

    MailError
    ├── MailServerError        the server could not be reached or failed: retry later
    │   ├── MailAuthError      credentials were refused: retrying will not help until fixed
    │   ├── MessageRefused     the server answers, but will not return this one message
    │   └── DeliveryUncertain  the message was handed over but no reply came: it may have gone
    └── DeliveryRejected       the server permanently refused a message we tried to send
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class MailError(Exception):
    """Base class for mail system failures."""


class MailServerError(MailError):
    """A transient failure: connection refused or dropped, timeout, server error."""


class MailAuthError(MailServerError):
    """The server refused the credentials."""


class MessageRefused(MailServerError):
    """The server refused to return one message (not an outage or throttling): if it still
    does once the folder has been opened again, the message is quarantined."""


class DeliveryUncertain(MailServerError):
    """The connection failed after the message data was sent: it may or may not have gone.

    Sending it again blindly could deliver it twice; the outbox settles it by looking for it
    (see :mod:`bot.outbox`).
    """


class DeliveryRejected(MailError):
    """The server permanently refused a message (5xx); sending it again will not help."""


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    uidnext: int
    exists: int


@dataclass(frozen=True)
class HeaderItem:
    """A new message's header block as seen in a folder, without its body."""

    uid: int
    header: bytes
    received_at: datetime
    size: int
    error: str | None = None  # the server would not give this message's headers
    complete: bool = True
    """False when ``header`` is a summary (Graph) that may lack auto-reply and bounce markers:
    a message that needs action is then decided again from its raw header."""


class MailStore(Protocol):
    """One mailbox on a mail server."""

    address: str

    def select(self, folder: str) -> FolderState:
        """Open ``folder`` for reading and tagging and report its state."""
        ...

    def headers_after(self, folder: str, last_uid: int, batch: int) -> Iterator[HeaderItem]:
        """Headers of messages with UID greater than ``last_uid``, in UID order."""
        ...

    def start_uid(self, folder: str, since: datetime) -> int:
        """Where a cursor starts in a folder watched for the first time: the UID before the
        first message received on or after ``since`` (older mail is left alone)."""
        ...

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        """The whole message, byte-for-byte, without marking it read."""
        ...

    def fetch_starts(self, folder: str, uids: Sequence[int], max_bytes: int) -> dict[int, bytes]:
        """The first ``max_bytes`` of each message, in one request (for reading their text,
        not for evidence); a message that has vanished is missing from the result."""
        ...

    def tag(self, folder: str, uids: Sequence[int], keyword: str, seen: bool) -> None:
        """Add ``keyword`` (and \\Seen if ``seen``) to messages; a no-op if unsupported."""
        ...

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """Whether a message with this Message-ID is in ``folder``."""
        ...

    def close(self) -> None: ...


class MailSender(Protocol):
    """Submits messages for delivery."""

    keeps_attached_messages: bool
    """Whether a ``message/rfc822`` part reaches the recipient byte-for-byte.  SMTP relays do;
    Exchange (Graph) re-renders attached messages, so there the original goes as a file."""

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
        """Send ``message`` unchanged; raise MailServerError or DeliveryRejected."""
        ...

    def supports_8bit(self) -> bool:
        """Whether the server accepts 8-bit message bodies (8BITMIME)."""
        ...


class SentLog(Protocol):
    """Where the bot can see what it has sent: how a send interrupted by a crash is settled.

    On IMAP/SMTP it is the bot's own inbox, which gets a copy of every forward
    (``copy_to``); on Graph it is the bot mailbox's Sent Items, which need no copy.
    """

    copy_to: tuple[str, ...]

    def check(self) -> None:
        """Raise :class:`MailServerError` if the log cannot be read (checked every pass)."""
        ...

    def contains(self, message_id: str) -> bool:
        """Whether a message with this Message-ID was sent."""
        ...


class AbsenceSource(Protocol):
    """Another system's account of who is away now (Outlook's automatic replies)."""

    def absent(self, officers: Collection[str], now: datetime) -> set[str]:
        """Which of ``officers`` (lower-case addresses) are away at ``now``; never raises for
        an outage (the last known answer stands)."""
        ...
