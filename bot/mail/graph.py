"""Microsoft Graph adapter for :class:`bot.mail.ports.MailStore` (delta queries).

Change detection is Graph's per-folder delta query.  :meth:`GraphMailbox.select` runs the
folder's delta round from the stored link (the first round starts from ``since``, not the
whole history), records each page with its next link in one transaction, and numbers every
new message (:class:`bot.store.graph_sync.GraphSyncStore`), so the watcher's cursor and its
exactly-once bookkeeping work unchanged.  A folder with nothing new costs one request.  An
expired link (410 / ``SyncStateNotFound``) restarts the folder from ``since``; the messages
already numbered are recognised and not handed over again.

The delta pages carry only what the decision needs (``$select``): senders, recipients,
Message-ID, dates, subject, categories, the size (``PidTagMessageSize``) and, when possible
matches are searched for, the body as text.  From these a *summary* header block is built for
the watcher's first look; it lacks the auto-reply and bounce markers that only the real header
has, so :attr:`HeaderItem.complete` is False and the watcher decides again from the raw
message (``$value``), which it fetches for every message that needs action.

Nothing is ever moved, deleted or marked read (unless ``[watch] mark_seen``): handled messages
get an Outlook category (``[graph] category``), added to the categories they already have.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlencode

from bot.log_privacy import address as log_address
from bot.mail.graph_client import (
    BatchCall,
    ForeignLink,
    GraphClient,
    GraphError,
    GraphNotFound,
    GraphSyncReset,
)
from bot.mail.ports import FolderState, HeaderItem, MailError, MailServerError, MessageRefused
from bot.store.graph_sync import UIDVALIDITY, GraphSyncStore, Numbered, Reported

log = logging.getLogger(__name__)

SIZE_PROPERTY = "Integer 0x0E08"  # PidTagMessageSize: the message's size in bytes
SUMMARY_FIELDS = (
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "replyTo",
    "internetMessageId",
    "receivedDateTime",
    "sentDateTime",
    "subject",
    "conversationId",
    "categories",
    "isDraft",
)
TEXT_PREFERENCE = 'outlook.body-content-type="text"'
CACHE_BYTES = 64 * 1024 * 1024  # bodies kept between a folder's delta round and its scan
RESYNC_MARGIN = timedelta(days=1)


class MessageTooLarge(MailError):
    """The message is bigger than the configured limit: quarantined, not fetched."""


class GraphMailbox:
    """One mailbox through Microsoft Graph, app-only."""

    def __init__(
        self,
        address: str,
        client: GraphClient,
        sync: GraphSyncStore,
        *,
        since: datetime,
        page_size: int,
        category: str,
        read_text: bool,
        text_bytes: int,
        max_message_bytes: int,
    ) -> None:
        self.address = address
        self._client, self._sync = client, sync
        self._since = since.astimezone(UTC)
        self._page_size = page_size
        self._category = category
        self._read_text, self._text_bytes = read_text, text_bytes
        self._max_message_bytes = max_message_bytes
        self._summaries: dict[tuple[str, str], dict[str, Any]] = {}
        self._cached_bytes = 0

    def __repr__(self) -> str:
        return f"GraphMailbox({self.address!r})"

    @property
    def _user(self) -> str:
        return f"users/{quote(self.address)}"

    # -- MailStore -----------------------------------------------------------------------------

    def select(self, folder: str) -> FolderState:
        """Run the folder's delta round and report the numbered messages still in it."""
        self._forget(folder)
        self._delta_round(folder)
        highest, count = self._sync.newest(self.address, folder)
        return FolderState(uidvalidity=UIDVALIDITY, uidnext=highest + 1, exists=count)

    def headers_after(self, folder: str, last_uid: int, batch: int) -> Iterator[HeaderItem]:
        entries = self._sync.after(self.address, folder, last_uid)
        for start in range(0, len(entries), batch):
            chunk = entries[start : start + batch]
            self._fill(folder, [e for e in chunk if (folder, e.graph_id) not in self._summaries])
            for entry in chunk:
                summary = self._summaries.get((folder, entry.graph_id))
                if summary is None:
                    continue  # gone from the folder since it was reported
                error: str | None = None
                try:
                    header = summary_header(summary)
                except Exception as exc:  # one odd message must never stop the folder
                    header, error = b"", f"its fields could not be read: {exc}"
                yield HeaderItem(
                    uid=entry.uid,
                    header=header,
                    received_at=entry.received_at,
                    size=entry.size,
                    error=error,
                    complete=False,
                )

    def start_uid(self, folder: str, since: datetime) -> int:
        return 0  # the delta query itself starts at ``since``

    def rescan(self, folder: str, since: datetime) -> int:
        """Read the folder again from ``since`` on the next pass (``spocbot rescan``)."""
        url, params = self._first_request(folder, since)
        link = f"{self._client.base_url}/{url}?{urlencode(params, quote_via=quote, safe='$,()')}"
        return self._sync.rescan(self.address, folder, since, link)

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        graph_id = self._graph_id(folder, uid)
        try:
            return self._client.download(
                f"{self._user}/messages/{quote(graph_id)}/$value",
                mailbox=self.address,
                limit=self._max_message_bytes,
            )
        except GraphNotFound:
            self._sync.mark_removed(self.address, folder, [graph_id])
            raise MessageRefused(
                f"message {uid} vanished from {self.address}/{folder} before it was read"
            ) from None
        except GraphError as exc:
            if exc.status == 413:  # over our own limit (the size Graph reported was lower)
                raise MessageTooLarge(str(exc)) from exc
            if 400 <= exc.status < 500 and exc.status not in (408, 429):
                raise MessageRefused(str(exc)) from exc
            raise  # throttling or an outage: the pass stops here and tries again later

    def fetch_starts(self, folder: str, uids: Sequence[int], max_bytes: int) -> dict[int, bytes]:
        if not uids:
            return {}
        ids = self._sync.graph_ids(self.address, folder, uids)
        missing = [
            Numbered(uid, graph_id, datetime.now(UTC), 0)
            for uid, graph_id in ids.items()
            if "body" not in self._summaries.get((folder, graph_id), {})
        ]
        self._fill(folder, missing, with_text=True)
        found = {}
        for uid, graph_id in ids.items():
            summary = self._summaries.get((folder, graph_id))
            if summary is not None and "body" in summary:
                found[uid] = summary_message(summary)[:max_bytes]
        return found

    def tag(self, folder: str, uids: Sequence[int], keyword: str, seen: bool) -> None:
        """Add the configured category (``keyword`` empty: none) and, if asked, mark read.

        Categories are replaced as a whole by a PATCH, so each carries the ``@odata.etag`` it
        was computed from (``If-Match``): a category someone added meanwhile makes Graph
        refuse it (412), and it is read again and tried once more.  Tagging is for people;
        a failure is logged, never held against the message.
        """
        if not uids or not (keyword or seen):
            return
        ids = list(self._sync.graph_ids(self.address, folder, uids).items())
        for attempt in (1, 2):
            self._fill(
                folder,
                [
                    Numbered(u, g, datetime.now(UTC), 0)
                    for u, g in ids
                    if (folder, g) not in self._summaries
                ],
            )
            calls, targets = [], []
            for uid, graph_id in ids:
                call = self._tag_call(folder, graph_id, keyword, seen)
                if call is not None:
                    calls.append(call)
                    targets.append((uid, graph_id))
            stale = []
            for target, result in zip(targets, self._client.batch(calls), strict=True):
                if result.status == 412 and attempt == 1:
                    stale.append(target)
                    self._summaries.pop((folder, target[1]), None)  # read it again
                elif not result.ok and result.status != 404:
                    log.warning(
                        "%s/%s: could not add the category to a message (%d %s)",
                        log_address(self.address),
                        folder,
                        result.status,
                        result.code,
                    )
            if not stale:
                return
            ids = stale

    def _tag_call(self, folder: str, graph_id: str, keyword: str, seen: bool) -> BatchCall | None:
        summary = self._summaries.get((folder, graph_id))
        if summary is None:
            return None
        change: dict[str, Any] = {}
        categories = [str(c) for c in summary.get("categories") or []]
        if keyword and self._category not in categories:
            change["categories"] = [*categories, self._category]
        if seen:
            change["isRead"] = True
        if not change:
            return None
        etag = summary.get("@odata.etag")
        return BatchCall(
            "PATCH",
            f"/{self._user}/messages/{quote(graph_id)}",
            self.address,
            body=change,
            headers={"If-Match": str(etag)} if etag else {},
        )

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """Whether a sent (not draft) message with this Message-ID is anywhere in the mailbox
        (Graph searches every folder, Sent Items included; ``folder`` is not needed)."""
        return any(not m.get("isDraft") for m in self.find_by_message_id(message_id))

    def find_by_message_id(self, message_id: str) -> list[dict[str, Any]]:
        escaped = message_id.replace("'", "''")
        page = self._client.get_json(
            f"{self._user}/messages",
            mailbox=self.address,
            params={
                "$filter": f"internetMessageId eq '{escaped}'",
                "$select": "id,isDraft,parentFolderId",
                "$top": "10",
            },
        )
        return [m for m in page.get("value", []) if isinstance(m, dict)]

    def close(self) -> None:
        self._summaries.clear()
        self._cached_bytes = 0

    # -- delta rounds --------------------------------------------------------------------------

    def _delta_round(self, folder: str) -> None:
        state = self._sync.link(self.address, folder)
        url, params = (state.link, None) if state.link else self._first_request(folder)
        restarted = False
        while True:
            try:
                page = self._client.get_json(
                    url, mailbox=self.address, params=params, prefer=self._preferences()
                )
            except (GraphSyncReset, ForeignLink):
                if restarted:
                    raise
                restarted = True
                # Read again from before the folder last moved on (a link can expire after a
                # long outage: starting at the usual first-pass date could skip mail).
                since = min(self._since, (state.followed_since or self._since) - RESYNC_MARGIN)
                log.warning(
                    "%s/%s: the delta link has expired; reading the folder again from %s "
                    "(messages already handled are not handed over again)",
                    log_address(self.address),
                    folder,
                    since.date().isoformat(),
                )
                self._sync.restart(self.address, folder)
                url, params = self._first_request(folder, since)
                continue
            reported, removed = self._read_page(folder, page.get("value"))
            next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
            if not isinstance(next_link or delta_link, str):
                raise GraphError(f"{self.address}/{folder}: a delta page without a link", 0)
            self._sync.record_page(
                self.address,
                folder,
                reported,
                removed,
                str(next_link or delta_link),
                complete=not next_link,
            )
            if not next_link:
                return
            url, params = str(next_link), None

    def _first_request(
        self, folder: str, since: datetime | None = None
    ) -> tuple[str, dict[str, str]]:
        start = (since or self._since).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"{self._user}/mailFolders/{quote(folder)}/messages/delta",
            {
                "$select": ",".join(self._fields()),
                "$expand": f"singleValueExtendedProperties($filter=id eq '{SIZE_PROPERTY}')",
                "$filter": f"receivedDateTime ge {start}",
            },
        )

    def _fields(self, with_text: bool | None = None) -> tuple[str, ...]:
        text = self._read_text if with_text is None else with_text
        return (*SUMMARY_FIELDS, "body") if text else SUMMARY_FIELDS

    def _preferences(self) -> list[str]:
        preferences = [f"odata.maxpagesize={self._page_size}"]
        if self._read_text:
            preferences.append(TEXT_PREFERENCE)
        return preferences

    def _read_page(self, folder: str, value: Any) -> tuple[list[Reported], list[str]]:
        reported, removed = [], []
        for item in value if isinstance(value, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if "@removed" in item:
                removed.append(item["id"])
                self._summaries.pop((folder, item["id"]), None)
                continue
            if item.get("isDraft"):
                continue  # not received mail
            reported.append(Reported(item["id"], received_at(item), message_size(item)))
            self._keep(folder, item)
        return reported, removed

    # -- summaries ----------------------------------------------------------------------------

    def _keep(self, folder: str, item: dict[str, Any]) -> None:
        body = item.get("body")
        if isinstance(body, dict):
            text = str(body.get("content") or "")[: self._text_bytes]
            item = {**item, "body": {"contentType": body.get("contentType"), "content": text}}
            if self._cached_bytes + len(text) > CACHE_BYTES:
                item.pop("body")  # read again, if needed, when its turn comes
            else:
                self._cached_bytes += len(text)
        self._summaries[(folder, item["id"])] = item

    def _forget(self, folder: str) -> None:
        for key in [k for k in self._summaries if k[0] == folder]:
            body = self._summaries.pop(key).get("body")
            if isinstance(body, dict):
                self._cached_bytes -= len(str(body.get("content") or ""))

    def _fill(self, folder: str, entries: Sequence[Numbered], with_text: bool = False) -> None:
        """Read the summaries of messages not in memory (after a restart), 20 per request;
        a message that has gone is marked so and skipped."""
        if not entries:
            return
        query = urlencode(
            {
                "$select": ",".join(self._fields(with_text or None)),
                "$expand": f"singleValueExtendedProperties($filter=id eq '{SIZE_PROPERTY}')",
            },
            quote_via=quote,
            safe="$,()'",
        )
        headers = {"Prefer": TEXT_PREFERENCE} if with_text or self._read_text else {}
        calls = [
            BatchCall(
                "GET", f"/{self._user}/messages/{quote(e.graph_id)}?{query}", self.address, headers
            )
            for e in entries
        ]
        gone = []
        for entry, result in zip(entries, self._client.batch(calls), strict=True):
            if result.ok and isinstance(result.body, dict):
                self._keep(folder, result.body)
            elif result.status == 404:
                gone.append(entry.graph_id)
            else:
                raise GraphError(
                    f"{self.address}/{folder}: cannot read message {entry.uid} "
                    f"({result.status} {result.code})",
                    result.status,
                    result.code,
                )
        if gone:
            self._sync.mark_removed(self.address, folder, gone)

    def _graph_id(self, folder: str, uid: int) -> str:
        graph_id = self._sync.graph_ids(self.address, folder, [uid]).get(uid)
        if graph_id is None:
            raise MailServerError(f"{self.address}/{folder}: no message numbered {uid}")
        return graph_id


# -- summary header blocks (pure) ---------------------------------------------------------------


def summary_header(item: dict[str, Any]) -> bytes:
    """An RFC 5322 header block built from a Graph message's fields, for the first look.

    Every value is cleaned of line breaks and display names are quoted, so nothing in a
    message's fields can add a header line or split an address.  It never raises: what it
    cannot use is left out (the raw header decides anything that matters).
    """
    fields: list[tuple[str, str]] = []
    sender = _addresses([item.get("from")])
    if sender:
        fields.append(("From", sender))
    actual = _addresses([item.get("sender")])
    if actual and actual != sender:
        fields.append(("Sender", actual))
    for name, key in (("To", "toRecipients"), ("Cc", "ccRecipients"), ("Reply-To", "replyTo")):
        value = _addresses(item.get(key) or [])
        if value:
            fields.append((name, value))
    if item.get("internetMessageId"):
        fields.append(("Message-ID", str(item["internetMessageId"])))
    sent = _timestamp(item.get("sentDateTime"))
    if sent is not None:
        fields.append(("Date", format_datetime(sent)))
    if item.get("subject"):
        fields.append(("Subject", str(item["subject"])))
    lines = [f"{name}: {_one_line(value)}\r\n" for name, value in fields]
    return ("".join(lines) + "\r\n").encode("utf-8")


def summary_message(item: dict[str, Any]) -> bytes:
    """The summary header and the body text as one small text/plain message."""
    body = item.get("body") if isinstance(item.get("body"), dict) else {}
    assert isinstance(body, dict)
    header = summary_header(item)[:-2]
    header += b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    header += b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    text = str(body.get("content") or "").replace("\r\n", "\n").replace("\n", "\r\n")
    return header + text.encode("utf-8")


def received_at(item: dict[str, Any]) -> datetime:
    return _timestamp(item.get("receivedDateTime")) or datetime.now(UTC)


def message_size(item: dict[str, Any]) -> int:
    for prop in item.get("singleValueExtendedProperties") or []:
        if isinstance(prop, dict) and str(prop.get("id", "")).lower() in (
            SIZE_PROPERTY.lower(),
            "integer 0xe08",
        ):
            try:
                return int(prop.get("value", 0))
            except (TypeError, ValueError):
                return 0
    return 0


def _addresses(values: Iterable[Any]) -> str:
    """Graph's address objects as a header value, in UTF-8 where they are (RFC 6532): an
    internationalised address such as ``jörg@bücher.example`` is kept as it is."""
    found = []
    for value in values:
        email = value.get("emailAddress") if isinstance(value, dict) else None
        if not isinstance(email, dict):
            continue
        address = _one_line(str(email.get("address") or "")).replace(" ", "")
        if not address or any(c in address for c in '<>",'):
            continue  # not an addr-spec Graph could have delivered to; nothing to match
        name = _one_line(str(email.get("name") or ""))
        if name:
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            found.append(f'"{quoted}" <{address}>')
        else:
            found.append(f"<{address}>")
    return ", ".join(found)


def _one_line(value: str) -> str:
    return _LINE_BREAKS.sub(" ", value).strip()


_LINE_BREAKS = re.compile(r"[\r\n\x00\u2028\u2029\x85]+")


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
