"""Graph's JSON for a message and a mailFolder, with $select, $expand and body preferences.

Property names and shapes follow the v1.0 `message` resource.  `$select` property names
are matched case-insensitively (Graph does; OData itself would not), and the response
always carries `@odata.type`, `@odata.etag` and `id`, as Graph's does.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

from .mime import Address, html_to_text, preview, text_to_html
from .store import Mailbox, StoredMessage, conversation_id
from .wire import GraphError, Preferences, format_datetime

MESSAGE_TYPE = "#microsoft.graph.message"

# Returned when no $select is given (Graph's default message projection).
DEFAULT_PROPERTIES = (
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
)
# Only returned when selected.
SELECT_ONLY_PROPERTIES = ("internetMessageHeaders", "uniqueBody")
# Navigation properties: valid in $select, rendered only through $expand.
NAVIGATION_PROPERTIES = (
    "attachments",
    "extensions",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
)
_CANONICAL = {
    name.lower(): name
    for name in (*DEFAULT_PROPERTIES, *SELECT_ONLY_PROPERTIES, *NAVIGATION_PROPERTIES, "id")
}
# MAPI properties the fake can report through singleValueExtendedProperties.
PID_TAG_MESSAGE_SIZE = 0x0E08


@dataclass(frozen=True)
class MessageView:
    """How a request wants messages rendered."""

    select: tuple[str, ...] | None = None  # canonical names; None = default projection
    extended_properties: tuple[str, ...] = ()  # normalised ids, e.g. "Integer 0xe08"
    body_content_type: str | None = None
    immutable_ids: bool = False


def parse_select(value: str | None) -> tuple[str, ...] | None:
    """`$select=subject,isRead` → canonical names; an unknown name is a 400 as on Graph."""
    if value is None or not value.strip():
        return None
    names = []
    for item in value.split(","):
        name = item.strip()
        canonical = _CANONICAL.get(name.lower())
        if canonical is None:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type 'microsoft.graph.message'.",
            )
        names.append(canonical)
    return tuple(names)


_EXPAND_EXTENDED = re.compile(
    r"singleValueExtendedProperties\(\s*\$filter\s*=\s*(?P<filter>.*)\)", re.IGNORECASE
)
_EXTENDED_ID = re.compile(r"id\s+eq\s+'([^']*)'", re.IGNORECASE)


def parse_expand(value: str | None) -> tuple[str, ...]:
    """`$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')` → ids."""
    if value is None or not value.strip():
        return ()
    match = _EXPAND_EXTENDED.fullmatch(value.strip())
    if match is None:
        raise GraphError(501, "NotImplemented", f"graphserver does not model $expand={value!r}")
    ids = _EXTENDED_ID.findall(match.group("filter"))
    if not ids:
        raise GraphError(400, "BadRequest", "Invalid filter clause for extended properties.")
    return tuple(normalise_property_id(item) for item in ids)


def normalise_property_id(property_id: str) -> str:
    """'Integer 0x0E08' → 'Integer 0xe08', the form Graph echoes back."""
    kind, _, tag = property_id.strip().partition(" ")
    try:
        number = int(tag, 16)
    except ValueError:
        return property_id.strip()
    return f"{kind[:1].upper()}{kind[1:].lower()} {hex(number)}"


def view_for(select: str | None, expand: str | None, preferences: Preferences) -> MessageView:
    return MessageView(
        select=parse_select(select),
        extended_properties=parse_expand(expand),
        body_content_type=preferences.body_content_type,
        immutable_ids=preferences.immutable_id,
    )


def render_message(message: StoredMessage, mailbox: Mailbox, view: MessageView) -> dict[str, Any]:
    """The Graph JSON of one message (only the wanted properties are computed)."""
    facts = _MessageFacts(message, mailbox, view)
    wanted = view.select if view.select is not None else DEFAULT_PROPERTIES
    rendered: dict[str, Any] = {
        "@odata.type": MESSAGE_TYPE,
        "@odata.etag": etag_of(message),
        "id": message.id,
    }
    for name in wanted:
        renderer = _RENDERERS.get(name)  # navigation properties render only via $expand
        if renderer is not None:
            rendered[name] = renderer(facts)
    if view.extended_properties:
        rendered["singleValueExtendedProperties"] = _extended_properties(message, view)
    return rendered


def removed_entry(message_id: str) -> dict[str, Any]:
    """How delta reports a message deleted from, or moved out of, the folder."""
    return {"@odata.type": MESSAGE_TYPE, "id": message_id, "@removed": {"reason": "deleted"}}


def render_folder(mailbox: Mailbox, folder_name: str) -> dict[str, Any]:
    folder = mailbox.folders[folder_name]
    inside = [m for m in mailbox.messages.values() if m.folder == folder_name]
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": mailbox.root_folder_id,
        "childFolderCount": 0,
        "unreadItemCount": sum(1 for m in inside if not m.is_read),
        "totalItemCount": len(inside),
        "isHidden": False,
    }


class _MessageFacts:
    """One message being rendered; the body is worked out once, and only if needed."""

    def __init__(self, message: StoredMessage, mailbox: Mailbox, view: MessageView) -> None:
        self.message = message
        self.parsed = message.parsed
        self.mailbox = mailbox
        self.view = view

    @cached_property
    def body(self) -> dict[str, str]:
        content_type, content = _body(self.message, self.view.body_content_type)
        return {"contentType": content_type, "content": content}

    @cached_property
    def text(self) -> str:
        body = self.body
        return body["content"] if body["contentType"] == "text" else html_to_text(body["content"])


def _recipients(addresses: tuple[Address, ...]) -> list[dict[str, Any] | None]:
    return [_recipient(address) for address in addresses]


_RENDERERS: dict[str, Callable[[_MessageFacts], Any]] = {
    "createdDateTime": lambda f: format_datetime(f.message.created_at),
    "lastModifiedDateTime": lambda f: format_datetime(f.message.last_modified_at),
    "changeKey": lambda f: _change_key(f.message),
    "categories": lambda f: list(f.message.categories),
    "receivedDateTime": lambda f: format_datetime(f.message.received_at),
    # Exchange takes sentDateTime from the Date header (the received time when it has none).
    "sentDateTime": lambda f: format_datetime(f.parsed.date or f.message.received_at),
    "hasAttachments": lambda f: bool(f.parsed.file_attachments),
    "internetMessageId": lambda f: f.message.internet_message_id,
    "subject": lambda f: f.parsed.subject,
    "bodyPreview": lambda f: preview(f.text),
    "importance": lambda f: f.parsed.importance,
    "parentFolderId": lambda f: f.mailbox.folders[f.message.folder].id,
    "conversationId": lambda f: conversation_id(f.parsed, f.message.internet_message_id),
    "conversationIndex": lambda f: base64.b64encode(f.message.id.encode()[:22]).decode(),
    "isDeliveryReceiptRequested": lambda f: False,
    "isReadReceiptRequested": lambda f: False,
    "isRead": lambda f: f.message.is_read,
    "isDraft": lambda f: f.message.is_draft,
    "webLink": lambda f: (
        "https://outlook.office365.com/owa/?ItemID="
        f"{quote(f.message.id, safe='')}&exvsurl=1&viewmodel=ReadMessageItem"
    ),
    "inferenceClassification": lambda f: "focused",
    "body": lambda f: f.body,
    "uniqueBody": lambda f: f.body,
    # null when the MIME names no sender (a draft created without "from").
    "sender": lambda f: _recipient(f.parsed.sender or next(iter(f.parsed.from_), None)),
    "from": lambda f: _recipient(next(iter(f.parsed.from_), None)),
    "toRecipients": lambda f: _recipients(f.parsed.to),
    "ccRecipients": lambda f: _recipients(f.parsed.cc),
    "bccRecipients": lambda f: _recipients(f.parsed.bcc),
    "replyTo": lambda f: _recipients(f.parsed.reply_to),
    "flag": lambda f: {"flagStatus": "notFlagged"},
    "internetMessageHeaders": lambda f: [
        {"name": name, "value": value} for name, value in f.parsed.headers
    ],
}


def _body(message: StoredMessage, preferred: str | None) -> tuple[str, str]:
    """(contentType, content): HTML if the message has it, unless text is preferred."""
    parsed = message.parsed
    if parsed.body_html is not None:
        if preferred == "text":
            return "text", html_to_text(parsed.body_html)
        return "html", parsed.body_html
    text = parsed.body_text or ""
    if preferred == "html":
        return "html", text_to_html(text)
    return "text", text


def _recipient(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    name, addr = address
    return {"emailAddress": {"name": name, "address": addr}}


def _change_key(message: StoredMessage) -> str:
    version = message.change_number.to_bytes(8, "big")
    return "CQAAABYAAAB" + base64.b64encode(version).decode()


def etag_of(message: StoredMessage) -> str:
    """The item's ``@odata.etag``: what ``If-Match`` is compared with."""
    return f'W/"{_change_key(message)}"'


def _extended_properties(message: StoredMessage, view: MessageView) -> list[dict[str, str]]:
    """Values of the requested MAPI properties; Graph omits properties not set."""
    values = {
        # PidTagMessageSize.  Exchange counts its own storage size, which differs a little
        # from the MIME size; the MIME size is the stand-in.
        f"Integer {hex(PID_TAG_MESSAGE_SIZE)}": str(len(message.raw)),
    }
    return [
        {"id": prop, "value": values[prop]} for prop in view.extended_properties if prop in values
    ]
