"""Handlers that send mail: sendMail (JSON or MIME), drafts, attachments, upload, send.

Delivery: every To/Cc/Bcc address that is a mailbox of this tenant gets a copy in its
Inbox; other addresses go nowhere.  A MIME message is delivered with exactly the bytes
the client sent.  Real Exchange adds trace headers and drops the Bcc header from the
recipients' copies; the fake keeps the bytes intact so tests can compare them.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .context import Call, GraphContext, not_modelled
from .mime import (
    MimeInputError,
    attach_to_raw,
    build_mime,
    new_internet_message_id,
    parse_mail,
    prepend_missing_headers,
    recipients_from_json,
)
from .render import render_message, view_for
from .store import StoredMessage, Tenant
from .uploads import UploadSession, session_resource
from .wire import GraphError, Response, format_datetime, json_response

# --- sendMail ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """A message accepted for sending."""

    sender_copy: bytes  # for the sender's Sent Items
    recipient_copy: bytes  # for each recipient's Inbox
    recipients: list[str]
    internet_message_id: str
    save_to_sent_items: bool


def send_mail(call: Call) -> Response:
    """POST /users/{u}/sendMail: 202 and no body, like Graph."""
    if call.request.content_type == "text/plain":
        outgoing = _mime_outgoing(call)
    else:
        outgoing = _json_outgoing(call)
    if outgoing.save_to_sent_items:
        call.tenant.insert(
            call.mailbox.address,
            outgoing.sender_copy,
            "sentitems",
            is_read=True,
            internet_message_id=outgoing.internet_message_id,
        )
    deliver_copies(
        call.context, outgoing.recipient_copy, outgoing.recipients, outgoing.internet_message_id
    )
    return _accepted(call)


def _mime_outgoing(call: Call) -> Outgoing:
    """sendMail with a base64 MIME body: delivered exactly as given."""
    raw = decode_mime_body(call.request.body)
    parsed = parse_mail(raw)
    recipients = [address for _, address in parsed.recipients]
    if not recipients:
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
    return Outgoing(
        sender_copy=raw,
        recipient_copy=raw,
        recipients=recipients,
        # Exchange would also add the Message-ID header it invents; the bytes stay intact.
        internet_message_id=parsed.message_id or new_internet_message_id(),
        save_to_sent_items=True,
    )


def _json_outgoing(call: Call) -> Outgoing:
    """sendMail with a JSON message: built as MIME; recipients' copies without Bcc."""
    message, save = _json_send_request(call)
    internet_message_id = str(message.get("internetMessageId") or new_internet_message_id())
    message = {**message, "internetMessageId": internet_message_id}
    recipients = [address for _, address in _json_recipients(message)]
    now = datetime.now(UTC)
    return Outgoing(
        sender_copy=_build(message, call.mailbox.address, date=now),
        recipient_copy=_build(message, call.mailbox.address, date=now, include_bcc=False),
        recipients=recipients,
        internet_message_id=internet_message_id,
        save_to_sent_items=save,
    )


def decode_mime_body(body: bytes) -> bytes:
    """The MIME message in a text/plain body of base64, or Graph's 400 for bad base64."""
    compact = b"".join(body.split())  # line-wrapped base64 is still base64
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise GraphError(
            400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
        )
    return raw


def _json_send_request(call: Call) -> tuple[dict[str, Any], bool]:
    if call.request.content_type != "application/json":
        raise GraphError(415, "UnsupportedMediaType", "Use application/json or text/plain (MIME).")
    payload = call.request.json()
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidParameter", "The 'message' parameter is required.")
    save = payload.get("saveToSentItems", True)
    # The docs' own example sends "saveToSentItems": "false" (a string); Graph accepts it.
    return message, str(save).lower() != "false"


def _json_recipients(message: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        recipients = recipients_from_json(message)
    except MimeInputError as exc:
        raise GraphError(400, exc.code, str(exc)) from None
    if not recipients:
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
    return recipients


def _build(
    message: dict[str, Any],
    default_from: str | None,
    *,
    date: datetime | None = None,
    include_bcc: bool = True,
) -> bytes:
    try:
        raw = build_mime(message, default_from, include_bcc=include_bcc)
    except MimeInputError as exc:
        status = 501 if exc.code == "NotImplemented" else 400
        raise GraphError(status, exc.code, str(exc)) from None
    if date is not None:
        raw = prepend_missing_headers(raw, {"Date": email.utils.format_datetime(date)})
    return raw


def deliver_copies(
    context: GraphContext, raw: bytes, recipients: Iterable[str], internet_message_id: str
) -> None:
    """A copy in the Inbox of each distinct recipient that is a mailbox of the tenant."""
    seen: set[str] = set()
    for address in recipients:
        key = address.strip().lower()
        if key in seen or not context.tenant.has_mailbox(key):
            continue
        seen.add(key)
        context.tenant.insert(key, raw, "inbox", internet_message_id=internet_message_id)


def _accepted(call: Call) -> Response:
    # drop_connection_after_send(): the send has happened; only the answer gets lost.
    return Response(202, {}, b"", drop_connection=call.context.faults.take_drop())


# --- drafts -----------------------------------------------------------------------------------


def create_draft(call: Call) -> Response:
    """POST /users/{u}/messages (MIME or JSON): 201 with the draft, in Drafts."""
    if call.request.content_type == "text/plain":
        raw = decode_mime_body(call.request.body)
        message_id = parse_mail(raw).message_id
        if message_id is None:
            # Exchange gives every item a Message-ID; adding it leaves the rest untouched.
            message_id = new_internet_message_id()
            raw = prepend_missing_headers(raw, {"Message-ID": message_id})
    elif call.request.content_type == "application/json":
        message = call.request.json()
        if not isinstance(message, dict):
            raise GraphError(400, "BadRequest", "The message must be a JSON object.")
        message_id = str(message.get("internetMessageId") or new_internet_message_id())
        # A draft has no sender until it is sent (unless the client names one).
        raw = _build({**message, "internetMessageId": message_id}, None)
    else:
        raise GraphError(415, "UnsupportedMediaType", "Use application/json or text/plain (MIME).")
    draft = call.tenant.insert(
        call.mailbox.address,
        raw,
        "drafts",
        is_read=True,
        is_draft=True,
        internet_message_id=message_id,
    )
    view = view_for(None, None, call.preferences)
    with call.tenant.lock:
        payload = render_message(draft, call.mailbox, view)
    payload["@odata.context"] = call.context.metadata(
        f"users('{call.mailbox.address}')/messages/$entity"
    )
    return json_response(201, payload)


def send_draft(call: Call) -> Response:
    """POST .../messages/{id}/send: 202; the draft moves to Sent Items, keeping its id."""
    with call.tenant.lock:
        draft = _draft(call, call.params[0])
        recipients = [address for _, address in draft.parsed.recipients]
        if not recipients:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        # Exchange stamps the sender and the send time on the way out.
        raw = prepend_missing_headers(
            draft.raw,
            {
                "From": call.mailbox.address,
                "Date": email.utils.format_datetime(datetime.now(UTC)),
            },
        )
        call.tenant.update(call.mailbox.address, draft.id, raw=raw, is_draft=False)
        call.tenant.move(call.mailbox.address, draft.id, "sentitems")
        internet_message_id = draft.internet_message_id
    deliver_copies(call.context, raw, recipients, internet_message_id)
    return _accepted(call)


def _draft(call: Call, message_id: str) -> StoredMessage:
    message = call.message(message_id)
    if not message.is_draft:
        raise not_modelled("this operation on a message that is not a draft")
    return message


# --- attachments --------------------------------------------------------------------------------


def add_attachment(call: Call) -> Response:
    """POST .../messages/{id}/attachments with a fileAttachment (small files, under 3 MB)."""
    attachment = call.request.json()
    if not isinstance(attachment, dict):
        raise GraphError(400, "BadRequest", "The attachment must be a JSON object.")
    if str(attachment.get("@odata.type", "")).lower() != "#microsoft.graph.fileattachment":
        raise not_modelled("attachments other than #microsoft.graph.fileAttachment")
    try:
        data = base64.b64decode(str(attachment.get("contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise GraphError(400, "BadRequest", "Invalid base64 string for contentBytes.") from None
    name = str(attachment.get("name") or "attachment")
    content_type = str(attachment.get("contentType") or "application/octet-stream")
    inline = bool(attachment.get("isInline"))
    content_id = attachment.get("contentId")
    attachment_id = attach(
        call.tenant,
        call.mailbox.address,
        call.params[0],
        name=name,
        content_type=content_type,
        data=data,
        inline=inline,
        content_id=content_id,
    )
    payload = {
        "@odata.context": call.context.metadata(
            f"users('{call.mailbox.address}')/messages('{call.params[0]}')/attachments/$entity"
        ),
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": attachment_id,
        "lastModifiedDateTime": format_datetime(datetime.now(UTC)),
        "name": name,
        "contentType": content_type,
        "size": len(data),
        "isInline": inline,
        "contentId": content_id,
        "contentLocation": None,
        "contentBytes": base64.b64encode(data).decode(),
    }
    return json_response(201, payload)


def create_upload_session(call: Call) -> Response:
    """POST .../messages/{id}/attachments/createUploadSession: 201 with the uploadSession."""
    body = call.request.json()
    item = _case_insensitive(body, "AttachmentItem") if isinstance(body, dict) else None
    if not isinstance(item, dict):
        raise GraphError(
            400, "ErrorInvalidParameter", "The 'AttachmentItem' parameter is required."
        )
    if str(item.get("attachmentType", "file")).lower() != "file":
        raise not_modelled("upload sessions for attachments other than files")
    size, name = item.get("size"), item.get("name")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not name:
        raise GraphError(400, "ErrorInvalidParameter", "AttachmentItem needs a name and a size.")
    with call.tenant.lock:
        _draft(call, call.params[0])
    session = call.context.uploads.create(
        mailbox=call.mailbox.address,
        message_id=call.params[0],
        name=str(name),
        content_type=str(item.get("contentType") or "application/octet-stream"),
        size=size,
        inline=bool(item.get("isInline")),
        content_id=item.get("contentId"),
    )
    upload_url = f"{call.context.authority}/upload/{session.token}"
    return json_response(201, session_resource(session, upload_url))


def attach_uploaded(tenant: Tenant, session: UploadSession, data: bytes) -> str:
    """The upload registry's callback once the last byte of a session has arrived."""
    return attach(
        tenant,
        session.mailbox,
        session.message_id,
        name=session.name,
        content_type=session.content_type,
        data=data,
        inline=session.inline,
        content_id=session.content_id,
    )


def attach(
    tenant: Tenant,
    address: str,
    message_id: str,
    *,
    name: str,
    content_type: str,
    data: bytes,
    inline: bool,
    content_id: str | None,
) -> str:
    """Add an attachment part to a draft's MIME; returns a new opaque attachment id."""
    with tenant.lock:  # read-modify-write of the draft's MIME must not interleave
        try:
            draft = tenant.mailbox(address).message(message_id)
        except LookupError:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            ) from None
        if not draft.is_draft:
            raise not_modelled("attachments on a message that is not a draft")
        raw = attach_to_raw(
            draft.raw,
            name=name,
            content_type=content_type,
            data=data,
            inline=inline,
            content_id=content_id,
        )
        tenant.update(address, message_id, raw=raw)
    return message_id[:40] + base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()


def _case_insensitive(mapping: dict[str, Any], key: str) -> Any:
    for name, value in mapping.items():
        if name.lower() == key.lower():
            return value
    return None
