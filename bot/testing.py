"""Working in-memory fakes of the mail ports, for tests and experiments.

:class:`FakeMailStore` behaves like one IMAP mailbox (UIDVALIDITY, UIDs, flags, a SELECT
counter, fetch counters) and :class:`FakeSender` records what would have been sent and can
deliver it into fake mailboxes.  Both can be told to fail, to exercise outage handling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.mail.ports import FolderState, HeaderItem, MailServerError, MessageRefused


@dataclass
class _Message:
    raw: bytes
    received_at: datetime
    flags: set[str] = field(default_factory=set)


class FakeMailStore:
    def __init__(self, address: str, uidvalidity: int = 1) -> None:
        self.address = address
        self.folders: dict[str, dict[int, _Message]] = {"INBOX": {}}
        self.uidvalidity: dict[str, int] = {"INBOX": uidvalidity}
        self._next_uid: dict[str, int] = {"INBOX": 1}
        self.keywords_supported = True
        self.fail_with: Exception | None = None
        self.unreadable: set[int] = set()  # UIDs whose whole message the "server" will not return
        self.selects = 0
        self.header_fetches = 0
        self.raw_fetches = 0
        self.partial_fetches = 0

    # -- test helpers ---------------------------------------------------------------------------

    def deliver(
        self, raw: bytes, folder: str = "INBOX", received_at: datetime | None = None
    ) -> int:
        self.folders.setdefault(folder, {})
        self.uidvalidity.setdefault(folder, 1)
        uid = self._next_uid.setdefault(folder, 1)
        self._next_uid[folder] = uid + 1
        self.folders[folder][uid] = _Message(raw, received_at or datetime.now(UTC))
        return uid

    def recreate(self, folder: str = "INBOX") -> None:
        """Simulate the folder being deleted and recreated: new UIDVALIDITY, UIDs from 1."""
        messages = list(self.folders[folder].values())
        self.folders[folder] = {}
        self.uidvalidity[folder] += 1
        self._next_uid[folder] = 1
        for message in messages:
            self.deliver(message.raw, folder, message.received_at)

    def flags(self, uid: int, folder: str = "INBOX") -> set[str]:
        return self.folders[folder][uid].flags

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    # -- MailStore ------------------------------------------------------------------------------

    def select(self, folder: str) -> FolderState:
        self._check()
        if folder not in self.folders:
            raise MailServerError(f"no folder {folder}")
        self.selects += 1
        return FolderState(
            self.uidvalidity[folder], self._next_uid[folder], len(self.folders[folder])
        )

    def start_uid(self, folder: str, since: datetime) -> int:
        self._check()
        messages = self.folders[folder]
        recent = [u for u, m in messages.items() if m.received_at.date() >= since.date()]
        return min(recent) - 1 if recent else self._next_uid[folder] - 1

    def headers_after(self, folder: str, last_uid: int, batch: int) -> Iterator[HeaderItem]:
        self._check()
        for uid in sorted(u for u in self.folders[folder] if u > last_uid):
            message = self.folders[folder][uid]
            self.header_fetches += 1
            header = re.split(rb"\r?\n\r?\n", message.raw, maxsplit=1)[0] + b"\r\n\r\n"
            yield HeaderItem(uid, header, message.received_at, len(message.raw))

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        self._check()
        if uid in self.unreadable:
            raise MessageRefused(f"UID FETCH failed for UID {uid}: socket error: EOF")
        self.raw_fetches += 1
        return self.folders[folder][uid].raw

    def fetch_starts(self, folder: str, uids: Sequence[int], max_bytes: int) -> dict[int, bytes]:
        self._check()
        self.partial_fetches += 1
        messages = self.folders[folder]
        return {uid: messages[uid].raw[:max_bytes] for uid in uids if uid in messages}

    def tag(self, folder: str, uids: Sequence[int], keyword: str, seen: bool) -> None:
        self._check()
        for uid in uids:
            if keyword and self.keywords_supported:
                self.folders[folder][uid].flags.add(keyword)
            if seen:
                self.folders[folder][uid].flags.add("\\Seen")

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        self._check()
        # As an IMAP server's HEADER search does: unfold the header, compare without case.
        needle = message_id.lower().encode()
        for message in self.folders.get(folder, {}).values():
            head = message.raw.partition(b"\r\n\r\n")[0]
            unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head).lower()
            for line in unfolded.splitlines():
                name, _, value = line.partition(b":")
                if name.strip() == b"message-id" and value.strip() == needle:
                    return True
        return False

    def close(self) -> None:
        pass


@dataclass
class SentMessage:
    envelope_from: str
    recipients: tuple[str, ...]
    message: bytes


class FakeSender:
    keeps_attached_messages = True

    def __init__(self, mailboxes: dict[str, FakeMailStore] | None = None) -> None:
        self.sent: list[SentMessage] = []
        self.mailboxes = mailboxes or {}
        self.fail_with: Exception | None = None
        self.eight_bit = True

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(SentMessage(envelope_from, tuple(recipients), message))
        for recipient in recipients:
            if recipient in self.mailboxes:
                self.mailboxes[recipient].deliver(message)

    def supports_8bit(self) -> bool:
        return self.eight_bit
