"""IMAP adapter for :class:`bot.mail.ports.MailStore` (imapclient).

Login is by password, or by SASL XOAUTH2 with an app-only token (Microsoft 365).
Reading never changes what the mailbox's owner sees: folders are opened read-write only to
add our keyword, bodies are read with ``BODY.PEEK`` so ``\\Seen`` is never set, and nothing is
moved, expunged or deleted.  A pass over a folder with nothing new costs one SELECT: the
folder's UIDNEXT is compared with the stored cursor before anything is fetched.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from bot.mail.ports import (
    FolderState,
    HeaderItem,
    MailAuthError,
    MailServerError,
    MailStore,
    MessageRefused,
)

_NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, IMAPClientError, EOFError)


class ImapMailbox:
    """One mailbox on an IMAP server, connected lazily and reconnected after a failure."""

    def __init__(
        self,
        *,
        address: str,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str | None = None,
        oauth_token: Callable[[], str] | None = None,
        timeout: float = 60,
    ) -> None:
        if (password is None) == (oauth_token is None):
            raise ValueError("give a password or an OAuth token source, not both or neither")
        self.address = address
        self._host, self._port, self._security = host, port, security
        self._username, self._password, self._timeout = username, password, timeout
        self._oauth_token = oauth_token
        self._client: imapclient.IMAPClient | None = None
        self._selected: str | None = None
        self._keywords_ok = False

    def __repr__(self) -> str:  # never show the password
        return f"ImapMailbox({self.address!r} at {self._host}:{self._port})"

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> imapclient.IMAPClient:
        if self._client is not None:
            return self._client
        try:
            client = imapclient.IMAPClient(
                self._host,
                port=self._port,
                ssl=self._security == "tls",
                ssl_context=ssl.create_default_context() if self._security != "none" else None,
                timeout=self._timeout,
            )
            client.normalise_times = False
            if self._security == "starttls":
                client.starttls(ssl.create_default_context())
            if self._oauth_token is not None:
                # SASL XOAUTH2 with an app-only token (Exchange Online: IMAP.AccessAsApp)
                client.oauth2_login(self._username, self._oauth_token())
            else:
                assert self._password is not None
                client.login(self._username, self._password)
        except LoginError as exc:
            raise MailAuthError(f"IMAP login refused for {self.address}") from exc
        except _NETWORK_ERRORS as exc:
            raise MailServerError(
                f"cannot reach IMAP server {self._host}:{self._port} for {self.address}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._client = client
        self._selected = None
        return client

    def close(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            # Closing a broken connection may fail in many ways; it is gone either way.
            with contextlib.suppress(Exception):
                client.logout()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _NETWORK_ERRORS as exc:
            self.close()
            raise MailServerError(
                f"IMAP {what} failed for {self.address}: {type(exc).__name__}: {exc}"
            ) from exc

    # -- MailStore -----------------------------------------------------------------------------

    def select(self, folder: str) -> FolderState:
        client = self._connect()
        info = self._call("SELECT", client.select_folder, folder, readonly=False)
        self._selected = folder
        permanent = {f.lower() for f in info.get(b"PERMANENTFLAGS", ())}
        self._keywords_ok = b"\\*" in permanent
        uidnext = info.get(b"UIDNEXT")
        if uidnext is None:  # rare servers omit it from SELECT; ask for it
            status = self._call("STATUS", client.folder_status, folder, [b"UIDNEXT"])
            uidnext = status[b"UIDNEXT"]
        return FolderState(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(uidnext),
            exists=int(info.get(b"EXISTS", 0)),
        )

    def _ensure(self, folder: str) -> imapclient.IMAPClient:
        if self._client is None or self._selected != folder:
            self.select(folder)
        assert self._client is not None
        return self._client

    def headers_after(self, folder: str, last_uid: int, batch: int) -> Iterator[HeaderItem]:
        client = self._ensure(folder)
        uids = self._call("UID SEARCH", client.search, ["UID", f"{last_uid + 1}:*"])
        uids = sorted(u for u in uids if u > last_uid)  # "n:*" always matches the last message
        for start in range(0, len(uids), batch):
            chunk = uids[start : start + batch]
            try:
                data = self._fetch_headers(folder, chunk)
            except MailServerError as exc:
                if not _server_refused(exc):
                    raise
                # The server refused the batch (e.g. one unreadable message file): fetch one by
                # one so that a single bad message cannot block the folder for ever.
                yield from self._headers_one_by_one(folder, chunk)
                continue
            yield from _items(chunk, data)

    def _fetch_headers(self, folder: str, uids: list[int]) -> dict[int, Any]:
        client = self._ensure(folder)
        data: dict[int, Any] = self._call(
            "UID FETCH", client.fetch, uids, ["BODY.PEEK[HEADER]", "INTERNALDATE", "RFC822.SIZE"]
        )
        return data

    def _headers_one_by_one(self, folder: str, uids: list[int]) -> Iterator[HeaderItem]:
        for uid in uids:
            try:
                data = self._fetch_headers(folder, [uid])
            except MailServerError as exc:
                if not _server_refused(exc):
                    raise
                yield HeaderItem(uid, b"", datetime.now(UTC), 0, error=str(exc))
                continue
            yield from _items([uid], data)

    def start_uid(self, folder: str, since: datetime) -> int:
        client = self._ensure(folder)
        # SINCE compares the internal (receipt) date, by day, in the server's zone.
        found = self._call("UID SEARCH", client.search, ["SINCE", since.date()])
        if found:
            return int(min(found)) - 1
        return self.select(folder).uidnext - 1

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        client = self._ensure(folder)
        try:
            data = self._call("UID FETCH", client.fetch, [uid], ["BODY.PEEK[]"])
        except MailServerError as exc:
            if _server_refused(exc):  # NO/BAD, or Dovecot ending the session on a bad file
                raise MessageRefused(str(exc)) from exc
            raise
        if uid not in data or b"BODY[]" not in data[uid]:
            raise MailServerError(f"message UID {uid} vanished from {self.address}/{folder}")
        raw: bytes = data[uid][b"BODY[]"]
        return raw

    def fetch_starts(self, folder: str, uids: Sequence[int], max_bytes: int) -> dict[int, bytes]:
        if not uids:
            return {}
        client = self._ensure(folder)
        data = self._call("UID FETCH", client.fetch, list(uids), [f"BODY.PEEK[]<0.{max_bytes}>"])
        found = {}
        for uid in uids:
            item = data.get(uid, {})
            # The server names the partial item BODY[]<0>; some name it BODY[] when all was sent.
            raw = item.get(b"BODY[]<0>", item.get(b"BODY[]"))
            if raw is not None:
                found[uid] = bytes(raw)
        return found

    def tag(self, folder: str, uids: Sequence[int], keyword: str, seen: bool) -> None:
        if not uids:
            return
        client = self._ensure(folder)
        flags: list[bytes] = []
        if keyword and self._keywords_ok:
            flags.append(keyword.encode("ascii"))
        if seen:
            flags.append(b"\\Seen")
        if flags:
            self._call("UID STORE", client.add_flags, list(uids), flags, silent=True)

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        client = self._ensure(folder)
        found = self._call("UID SEARCH", client.search, ["HEADER", "Message-ID", message_id])
        return bool(found)


def _items(uids: list[int], data: dict[int, Any]) -> Iterator[HeaderItem]:
    for uid in uids:
        item = data.get(uid)
        if item is None:  # expunged between SEARCH and FETCH
            continue
        yield HeaderItem(
            uid=uid,
            header=item.get(b"BODY[HEADER]") or b"",
            received_at=_aware(item.get(b"INTERNALDATE")),
            size=int(item.get(b"RFC822.SIZE") or 0),
        )


def _server_refused(exc: MailServerError) -> bool:
    """The server answered with an error (NO, BAD, or BYE after an internal error) rather than
    the network failing.  Dovecot ends the session after failing to read a message file, so
    an abort counts too: the next fetch reconnects, and if the server is really unreachable
    that reconnection raises and stops the folder as an outage."""
    return isinstance(exc.__cause__, IMAPClientError)


def _aware(value: Any) -> datetime:
    if not isinstance(value, datetime):
        return datetime.now(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class InboxSentLog:
    """The bot's own inbox, which gets a copy of everything the bot sends over SMTP."""

    def __init__(self, store: MailStore, folder: str = "INBOX") -> None:
        self._store, self._folder = store, folder
        self.copy_to: tuple[str, ...] = (store.address,)

    def check(self) -> None:
        self._store.select(self._folder)

    def contains(self, message_id: str) -> bool:
        found: bool = self._store.contains_message_id(self._folder, message_id)
        return found
