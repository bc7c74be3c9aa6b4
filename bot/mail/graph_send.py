"""Sending through Microsoft Graph: :class:`GraphSender` (a :class:`MailSender`) and
:class:`GraphSentLog` (a :class:`SentLog`: the bot mailbox's Sent Items).

A message is sent as the MIME we built, so our headers (Message-ID, ``Auto-Submitted``,
``X-Auto-Response-Suppress``) and the cover note go out as they are:

- up to ``mime_limit`` bytes (3 MB: Graph refuses requests over 4 MB, and the MIME travels
  base64-encoded) with one ``sendMail`` request;
- larger, as a draft created from the MIME without its large attachments, which are then
  uploaded through an upload session (up to 150 MB each) before the draft is sent.  A draft
  left by a crash is found by its Message-ID and deleted first (it is the bot's own, never a
  customer's), and a message already sent is not sent again.

Exchange re-renders ``message/rfc822`` parts, so the outbox attaches the original as a file
(``original-message.eml``) for this sender (``keeps_attached_messages`` is False): its bytes
then reach the officer exactly as they are in the evidence store.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Sequence
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses
from urllib.parse import quote

from bot.mail.graph import GraphMailbox
from bot.mail.graph_client import GraphClient, GraphError, GraphNotFound
from bot.mail.ports import DeliveryRejected, MailAuthError

log = logging.getLogger(__name__)

MIME_LIMIT = 3 * 1024 * 1024
# Graph refuses upload sessions for attachments under 3 MB, and requests over 4 MB: from here
# a file goes by upload session, below it as base64 in JSON (4/3 of it, still under 4 MB).
UPLOAD_MINIMUM = 3_000_000
UPLOAD_CHUNK = 10 * 320 * 1024  # upload session chunks: multiples of 320 KiB, under 4 MB


class GraphSender:
    keeps_attached_messages = False

    def __init__(
        self, client: GraphClient, bot: GraphMailbox, *, mime_limit: int = MIME_LIMIT
    ) -> None:
        self._client, self._bot, self._mime_limit = client, bot, mime_limit

    def __repr__(self) -> str:
        return f"GraphSender({self._bot.address!r})"

    def supports_8bit(self) -> bool:
        return True  # the MIME travels base64-encoded inside the request

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
        """Send ``message`` from the bot mailbox to the recipients named in its headers."""
        if envelope_from.lower() != self._bot.address.lower():
            raise ValueError(f"Graph sends only as the bot mailbox, not {envelope_from}")
        _check_recipients(message, recipients)
        try:
            if len(message) <= self._mime_limit:
                self._client.request(
                    "POST",
                    f"users/{quote(self._bot.address)}/sendMail",
                    mailbox=self._bot.address,
                    content=base64.b64encode(message),
                    headers={"Content-Type": "text/plain"},
                    idempotent=False,
                )
            else:
                self._send_large(message)
        except MailAuthError:
            raise
        except GraphError as exc:
            if 400 <= exc.status < 500 and exc.status not in (408, 429):
                raise DeliveryRejected(f"Graph refused the message: {exc}") from exc
            raise

    def _send_large(self, message: bytes) -> None:
        parsed = message_from_bytes(message, policy=policy.compat32)
        message_id = str(parsed.get("Message-ID", "")).strip()
        if message_id and self._already_sent(message_id):
            return
        draft_mime, large, small = _split_attachments(parsed, UPLOAD_MINIMUM, self._mime_limit)
        user = f"users/{quote(self._bot.address)}"
        created = self._client.request(
            "POST",
            f"{user}/messages",
            mailbox=self._bot.address,
            content=base64.b64encode(draft_mime),
            headers={"Content-Type": "text/plain"},
            idempotent=False,
        ).json()
        draft = f"{user}/messages/{quote(str(created['id']))}"
        for name, content_type, data in small:  # under Graph's upload-session minimum
            self._client.request(
                "POST",
                f"{draft}/attachments",
                mailbox=self._bot.address,
                idempotent=False,  # a lost answer must not attach it twice: settle by looking
                json_body={
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": name,
                    "contentType": content_type,
                    "contentBytes": base64.b64encode(data).decode("ascii"),
                },
            )
        for name, content_type, data in large:
            self._upload(draft, name, content_type, data)
        self._client.request("POST", f"{draft}/send", mailbox=self._bot.address, idempotent=False)

    def _upload(self, draft: str, name: str, content_type: str, data: bytes) -> None:
        session = self._client.request(
            "POST",
            f"{draft}/attachments/createUploadSession",
            mailbox=self._bot.address,
            idempotent=False,
            json_body={
                "AttachmentItem": {
                    "attachmentType": "file",
                    "name": name,
                    "size": len(data),
                    "contentType": content_type,
                }
            },
        ).json()
        for start in range(0, len(data), UPLOAD_CHUNK):
            last = start + UPLOAD_CHUNK >= len(data)
            try:
                self._client.upload(
                    str(session["uploadUrl"]),
                    mailbox=self._bot.address,
                    data=data[start : start + UPLOAD_CHUNK],
                    start=start,
                    total=len(data),
                )
            except GraphError as exc:
                # A chunk sent again after its answer was lost: 416 says the range is already
                # there; 404 after the last chunk says the session finished (all received).
                if exc.status == 416 or (exc.status == 404 and last):
                    continue
                raise

    def _already_sent(self, message_id: str) -> bool:
        """Whether this message went out before a crash; its leftover draft is deleted."""
        sent = False
        for found in self._bot.find_by_message_id(message_id):
            if not found.get("isDraft"):
                sent = True
                continue
            log.info("deleting the bot's own unsent draft left by an interrupted send")
            with contextlib.suppress(GraphNotFound):  # gone: an earlier answer was lost
                self._client.request(
                    "DELETE",
                    f"users/{quote(self._bot.address)}/messages/{quote(str(found['id']))}",
                    mailbox=self._bot.address,
                )
        return sent


class GraphSentLog:
    """The bot mailbox's Sent Items (searched by Message-ID across the mailbox)."""

    copy_to: tuple[str, ...] = ()  # sendMail keeps the copy in Sent Items itself

    def __init__(self, client: GraphClient, bot: GraphMailbox) -> None:
        self._client, self._bot = client, bot

    def check(self) -> None:
        self._client.get_json(
            f"users/{quote(self._bot.address)}/mailFolders/sentitems",
            mailbox=self._bot.address,
            params={"$select": "id"},
        )

    def contains(self, message_id: str) -> bool:
        return self._bot.contains_message_id("sentitems", message_id)


def _check_recipients(message: bytes, recipients: Sequence[str]) -> None:
    """Graph delivers to the message's own To/Cc/Bcc: they must be exactly the envelope's
    recipients, no fewer (someone would be missed) and no more (someone unintended would get
    it: a customer's letter holds restricted reasons)."""
    parsed = message_from_bytes(message.partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
    named = {
        address.lower()
        for _, address in getaddresses(
            [str(v) for field in ("To", "Cc", "Bcc") for v in parsed.get_all(field, [])]
        )
    }
    missing = [r for r in recipients if r.lower() not in named]
    if missing:
        raise ValueError(f"recipients not named in the message's headers: {missing}")
    extra = sorted(named - {r.lower() for r in recipients})
    if extra:
        raise DeliveryRejected(
            f"the message's headers name {len(extra)} recipient(s) besides the intended ones; "
            "not sent"
        )


Attachment = tuple[str, str, bytes]  # file name, content type, bytes


def _split_attachments(
    parsed: Message, upload_minimum: int, mime_limit: int
) -> tuple[bytes, list[Attachment], list[Attachment]]:
    """The MIME for a draft, with attachments taken out until it fits in ``mime_limit``:
    those of ``upload_minimum`` bytes or more go through upload sessions, smaller ones (the
    largest first) as ordinary file attachments."""
    if not parsed.is_multipart():
        return parsed.as_bytes(policy=policy.SMTP), [], []
    parts = parsed.get_payload()
    assert isinstance(parts, list)
    kept: list[Message] = []
    files: dict[int, Attachment] = {}  # id(part) -> the file it carries
    large: list[Attachment] = []
    for part in parts:
        assert isinstance(part, Message)
        file = _file_of(part)
        if file is not None and len(file[2]) >= upload_minimum:
            large.append(file)
            continue
        kept.append(part)
        if file is not None:
            files[id(part)] = file
    small: list[Attachment] = []
    by_size = sorted((p for p in kept if id(p) in files), key=lambda p: -len(files[id(p)][2]))
    while True:
        parsed.set_payload(list(kept))
        draft = parsed.as_bytes(policy=policy.SMTP)
        if len(draft) <= mime_limit or not by_size:
            return draft, large, small
        part = by_size.pop(0)
        kept.remove(part)
        small.append(files[id(part)])


def _file_of(part: Message) -> Attachment | None:
    """A leaf part with a file name, as (name, content type, decoded bytes)."""
    name = part.get_filename()
    data = None if part.is_multipart() else part.get_payload(decode=True)
    if not name or not isinstance(data, bytes):
        return None
    return str(name), part.get_content_type(), data
