"""The tenant's mailboxes, folders and messages, and the change log delta queries read.

One lock guards the whole tenant: the fake serves a handful of concurrent requests, and a
single lock makes every operation (a move is a removal from one folder and an addition
to another) atomic without further thought.

Change tracking: every mutation takes the next number of a tenant-wide sequence.  Each
folder keeps, per message id, the latest event for that id in that folder (present with
the sequence number of its last change, or removed).  A delta round is then "entries with
a sequence number in (since, upto]", which is all `delta.py` needs.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from .mime import ParsedMail, new_internet_message_id, parse_mail

# Outlook's well-known folder names (the ones spocbot needs) and their display names.
WELL_KNOWN_FOLDERS = {
    "inbox": "Inbox",
    "junkemail": "Junk Email",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "deleteditems": "Deleted Items",
}
ReplyStatus = Literal["disabled", "alwaysEnabled", "scheduled"]


class UnknownMailbox(LookupError):
    """No mailbox has that address."""


class UnknownFolder(LookupError):
    """The mailbox has no folder with that well-known name or id."""


class UnknownMessage(LookupError):
    """The mailbox has no message with that id."""


@dataclass
class FakeMessage:
    """A snapshot of one stored message, for tests to inspect."""

    id: str
    raw: bytes
    folder: str  # well-known folder name
    categories: list[str]
    is_read: bool
    is_draft: bool
    internet_message_id: str
    received_at: datetime
    attachments: list[tuple[str, str, bytes]]  # (name, content type, bytes); not inline parts


@dataclass
class StoredMessage:
    """A message as the tenant holds it."""

    id: str
    raw: bytes
    parsed: ParsedMail
    folder: str
    internet_message_id: str
    received_at: datetime
    created_at: datetime
    last_modified_at: datetime
    change_number: int  # sequence number of its last change (its etag/changeKey)
    stored_seq: int  # sequence number when it was stored: the order tests see
    categories: list[str] = field(default_factory=list)
    is_read: bool = False
    is_draft: bool = False

    def snapshot(self) -> FakeMessage:
        return FakeMessage(
            id=self.id,
            raw=self.raw,
            folder=self.folder,
            categories=list(self.categories),
            is_read=self.is_read,
            is_draft=self.is_draft,
            internet_message_id=self.internet_message_id,
            received_at=self.received_at,
            attachments=[
                (part.name, part.content_type, part.data) for part in self.parsed.file_attachments
            ],
        )


@dataclass(frozen=True)
class FolderEntry:
    """The latest event for one message id in one folder."""

    seq: int  # sequence number of that event
    present: bool  # False: deleted or moved out
    entered_seq: int  # when the message last came into the folder (for changeType=created)


@dataclass
class Folder:
    name: str  # well-known name
    id: str
    display_name: str
    log: dict[str, FolderEntry] = field(default_factory=dict)
    # Delta tokens carry the epoch they were issued in; expire_delta_tokens() bumps it.
    token_epoch: int = 0
    replay_armed: bool = False
    replay_page: bytes | None = None


@dataclass
class AutomaticReplies:
    status: ReplyStatus = "disabled"
    start: datetime | None = None
    end: datetime | None = None
    internal_message: str = ""
    external_message: str = ""
    external_audience: str = "all"


@dataclass
class Mailbox:
    address: str  # lower-case
    folders: dict[str, Folder]
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    automatic_replies: AutomaticReplies = field(default_factory=AutomaticReplies)
    root_folder_id: str = ""

    def folder(self, reference: str) -> Folder:
        """A folder by well-known name (case-insensitive) or by its id (case-sensitive)."""
        by_name = self.folders.get(reference.lower())
        if by_name is not None:
            return by_name
        for folder in self.folders.values():
            if folder.id == reference:
                return folder
        raise UnknownFolder(reference)

    def message(self, message_id: str) -> StoredMessage:
        try:
            return self.messages[message_id]
        except KeyError:
            raise UnknownMessage(message_id) from None


def new_item_id() -> str:
    """An opaque id in the shape of Graph's REST immutable ids (URL-safe base64, '=' pad)."""
    return "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A" + _token(23)


def _new_folder_id() -> str:
    return "AAMkAGI2TG93AAA" + _token(20).rstrip("=") + "AAA="


def _token(length: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(length)).decode()


def conversation_id(parsed: ParsedMail, internet_message_id: str) -> str:
    """An opaque conversation id shared by a thread.

    Exchange derives it from the conversation index / thread topic; hashing the thread's
    root Message-ID gives the same grouping for well-threaded mail (a guess at fidelity).
    """
    root = parsed.thread_root or internet_message_id
    digest = hashlib.sha256(root.encode("utf-8", "replace")).digest()[:24]
    return "AAQkAGI2" + base64.urlsafe_b64encode(digest).decode()


class Tenant:
    """All mailboxes; every method is atomic under the tenant lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._mailboxes: dict[str, Mailbox] = {}
        self._seq = 0

    # --- mailboxes and lookups --------------------------------------------------------

    def add_mailbox(self, address: str) -> Mailbox:
        key = address.strip().lower()
        with self.lock:
            if key in self._mailboxes:
                raise ValueError(f"mailbox {address!r} already exists")
            folders = {
                name: Folder(name=name, id=_new_folder_id(), display_name=display)
                for name, display in WELL_KNOWN_FOLDERS.items()
            }
            mailbox = Mailbox(address=key, folders=folders, root_folder_id=_new_folder_id())
            self._mailboxes[key] = mailbox
            return mailbox

    def mailbox(self, address: str) -> Mailbox:
        with self.lock:
            try:
                return self._mailboxes[address.strip().lower()]
            except KeyError:
                raise UnknownMailbox(address) from None

    def has_mailbox(self, address: str) -> bool:
        with self.lock:
            return address.strip().lower() in self._mailboxes

    @property
    def current_seq(self) -> int:
        with self.lock:
            return self._seq

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # --- mutations ------------------------------------------------------------------------

    def insert(
        self,
        address: str,
        raw: bytes,
        folder: str,
        *,
        received_at: datetime | None = None,
        is_read: bool = False,
        is_draft: bool = False,
        internet_message_id: str | None = None,
    ) -> StoredMessage:
        """Store a new message; `internet_message_id` defaults to its Message-ID header."""
        parsed = parse_mail(raw)  # outside the lock: a 10 MB message takes a moment
        now = datetime.now(UTC)
        with self.lock:
            mailbox = self.mailbox(address)
            target = mailbox.folder(folder)
            seq = self._next_seq()
            message = StoredMessage(
                id=new_item_id(),
                raw=raw,
                parsed=parsed,
                folder=target.name,
                internet_message_id=internet_message_id
                or parsed.message_id
                or new_internet_message_id(),
                received_at=received_at or now,
                created_at=now,
                last_modified_at=now,
                change_number=seq,
                stored_seq=seq,
                is_read=is_read,
                is_draft=is_draft,
            )
            mailbox.messages[message.id] = message
            target.log[message.id] = FolderEntry(seq=seq, present=True, entered_seq=seq)
            return message

    def move(self, address: str, message_id: str, folder: str) -> StoredMessage:
        """Move a message to another folder; its (immutable) id stays the same."""
        with self.lock:
            mailbox = self.mailbox(address)
            message = mailbox.message(message_id)
            target = mailbox.folder(folder)
            if target.name == message.folder:
                return message
            seq = self._next_seq()
            self._log_removal(mailbox.folders[message.folder], message_id, seq)
            target.log[message_id] = FolderEntry(seq=seq, present=True, entered_seq=seq)
            message.folder = target.name
            self._touch(message, seq)
            return message

    def delete(self, address: str, message_id: str) -> None:
        """Remove a message from the mailbox entirely."""
        with self.lock:
            mailbox = self.mailbox(address)
            message = mailbox.message(message_id)
            seq = self._next_seq()
            self._log_removal(mailbox.folders[message.folder], message_id, seq)
            del mailbox.messages[message_id]

    def update(
        self,
        address: str,
        message_id: str,
        *,
        categories: list[str] | None = None,
        is_read: bool | None = None,
        is_draft: bool | None = None,
        raw: bytes | None = None,
        internet_message_id: str | None = None,
    ) -> StoredMessage:
        """Change a message in place; it shows as updated in its folder's delta."""
        parsed = parse_mail(raw) if raw is not None else None
        with self.lock:
            mailbox = self.mailbox(address)
            message = mailbox.message(message_id)
            if categories is not None:
                message.categories = list(categories)
            if is_read is not None:
                message.is_read = is_read
            if is_draft is not None:
                message.is_draft = is_draft
            if raw is not None and parsed is not None:
                message.raw, message.parsed = raw, parsed
            if internet_message_id is not None:
                message.internet_message_id = internet_message_id
            seq = self._next_seq()
            folder = mailbox.folders[message.folder]
            entry = folder.log[message_id]
            folder.log[message_id] = replace(entry, seq=seq, present=True)
            self._touch(message, seq)
            return message

    def expire_tokens(self, address: str, folder: str) -> None:
        with self.lock:
            self.mailbox(address).folder(folder).token_epoch += 1

    def arm_replay(self, address: str, folder: str) -> None:
        with self.lock:
            self.mailbox(address).folder(folder).replay_armed = True

    def set_automatic_replies(self, address: str, settings: AutomaticReplies) -> None:
        with self.lock:
            self.mailbox(address).automatic_replies = settings

    # --- reads ------------------------------------------------------------------------------

    def snapshots(self, address: str, folder: str) -> list[FakeMessage]:
        with self.lock:
            mailbox = self.mailbox(address)
            name = mailbox.folder(folder).name
            found = [m for m in mailbox.messages.values() if m.folder == name]
            return [m.snapshot() for m in sorted(found, key=lambda m: m.stored_seq)]

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _log_removal(folder: Folder, message_id: str, seq: int) -> None:
        entry = folder.log.get(message_id)
        entered = entry.entered_seq if entry else seq
        folder.log[message_id] = FolderEntry(seq=seq, present=False, entered_seq=entered)

    @staticmethod
    def _touch(message: StoredMessage, seq: int) -> None:
        message.change_number = seq
        message.last_modified_at = datetime.now(UTC)
