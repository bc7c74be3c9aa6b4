"""Handlers that read and change messages: folders, delta, get, $value, list, PATCH, DELETE."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from .context import Call, not_modelled
from .delta import (
    DEFAULT_PAGE_SIZE,
    DeltaState,
    check_change_type,
    decode_token,
    expired_token,
    next_page,
    parse_filter,
)
from .mime import format_address_list, replace_headers
from .render import (
    MessageView,
    etag_of,
    parse_expand,
    parse_select,
    removed_entry,
    render_folder,
    render_message,
    view_for,
)
from .store import Folder, StoredMessage
from .wire import GraphError, Response, empty_response, json_bytes_response, json_response

# --- folders ---------------------------------------------------------------------------


def get_folder(call: Call) -> Response:
    with call.tenant.lock:
        folder = call.folder(call.params[0])
        payload = {
            "@odata.context": call.context.metadata(
                f"users('{call.mailbox.address}')/mailFolders/$entity"
            ),
            **render_folder(call.mailbox, folder.name),
        }
    return json_response(200, payload)


# --- delta ------------------------------------------------------------------------------


def delta(call: Call) -> Response:
    """GET .../mailFolders/{folder}/messages/delta (initial round, skip or delta token)."""
    with call.tenant.lock:
        folder = call.folder(call.params[0])
        if folder.replay_page is not None:
            # replay_next_delta_page(): the previous page again, item for item.
            body, folder.replay_page = folder.replay_page, None
            return _delta_response(call, body)
        state = _round_state(call, folder)
        page = next_page(call.mailbox, folder, state, _page_size(call))
        view = _delta_view(call, state)
        items = [
            render_message(call.mailbox.messages[message_id], call.mailbox, view)
            if entry.present
            else removed_entry(message_id)
            for message_id, entry in page.entries
        ]
        link_name = "@odata.nextLink" if page.next_state.kind == "skip" else "@odata.deltaLink"
        payload = {
            "@odata.context": call.context.metadata("Collection(message)"),
            link_name: _delta_link(call, folder, page.next_state),
            "value": items,
        }
        body = json.dumps(payload).encode()
        if folder.replay_armed:
            folder.replay_armed, folder.replay_page = False, body
    return _delta_response(call, body)


def _round_state(call: Call, folder: Folder) -> DeltaState:
    """The state of the round this request continues or starts (caller holds the lock)."""
    request = call.request
    skip_token, delta_token = request.option("$skiptoken"), request.option("$deltatoken")
    if skip_token is not None and delta_token is not None:
        raise GraphError(400, "ErrorInvalidUrlQuery", "Use $skiptoken or $deltatoken, not both.")
    if skip_token is None and delta_token is None:
        return _initial_state(call, folder)
    state = decode_token(skip_token or delta_token or "", "skip" if skip_token else "delta")
    if state.mailbox != call.mailbox.address or state.folder_id != folder.id:
        raise GraphError(400, "ErrorInvalidUrlQuery", "The sync state is for another folder.")
    if state.epoch != folder.token_epoch:
        raise expired_token()
    if state.kind == "delta":
        # A deltaLink starts a new round: everything changed since the last one, up to now.
        return replace(state, upto=call.tenant.current_seq, after=None)
    return state


def _initial_state(call: Call, folder: Folder) -> DeltaState:
    request = call.request
    if request.option("$orderby") or request.option("$search"):
        raise not_modelled("$orderby or $search on message delta")
    filter_ = request.option("$filter")
    select, expand = request.option("$select"), request.option("$expand")
    parse_filter(filter_)  # validate now: a bad option is a 400 on the first request
    parse_select(select)
    parse_expand(expand)
    return DeltaState(
        kind="skip",
        mailbox=call.mailbox.address,
        folder_id=folder.id,
        epoch=folder.token_epoch,
        since=0,
        upto=call.tenant.current_seq,
        after=None,
        filter=filter_,
        select=select,
        expand=expand,
        change_type=check_change_type(request.option("changeType")),
    )


def _delta_view(call: Call, state: DeltaState) -> MessageView:
    # The round's options travel in its tokens; options given again explicitly win.
    select = call.request.option("$select") or state.select
    expand = call.request.option("$expand") or state.expand
    return view_for(select, expand, call.preferences)


def _page_size(call: Call) -> int:
    return call.preferences.max_page_size or DEFAULT_PAGE_SIZE


def _delta_link(call: Call, folder: Folder, state: DeltaState) -> str:
    option = "$skiptoken" if state.kind == "skip" else "$deltatoken"
    return (
        f"{call.context.user_url(call.mailbox)}/mailFolders('{folder.id}')/messages/delta"
        f"?{option}={state.encode()}"
    )


def _delta_response(call: Call, body: bytes) -> Response:
    return _with_preferences(call, json_bytes_response(200, body))


# --- single messages ----------------------------------------------------------------------


def get_message(call: Call) -> Response:
    view = view_for(
        call.request.option("$select"), call.request.option("$expand"), call.preferences
    )
    with call.tenant.lock:
        message = call.message(call.params[0])
        payload = _message_payload(call, message, view)
    return _with_preferences(call, json_response(200, payload))


def get_mime(call: Call) -> Response:
    """GET .../messages/{id}/$value: the MIME exactly as stored."""
    with call.tenant.lock:
        raw = call.message(call.params[0]).raw
    return Response(200, {"Content-Type": "text/plain"}, raw)


def delete_message(call: Call) -> Response:
    # Graph moves the item to Recoverable Items, which no well-known folder of this fake
    # exposes, so here it simply leaves the mailbox (and delta reports it removed).
    with call.tenant.lock:
        message = call.message(call.params[0])
        call.tenant.delete(call.mailbox.address, message.id)
    return empty_response(204)


# PATCH properties: any message / drafts only (Graph: "updatable only if isDraft = true").
_ALWAYS_UPDATABLE = ("categories", "isRead")
_DRAFT_HEADERS = {
    "subject": "Subject",
    "toRecipients": "To",
    "ccRecipients": "Cc",
    "bccRecipients": "Bcc",
    "replyTo": "Reply-To",
    "internetMessageId": "Message-ID",
}
_KNOWN_BUT_NOT_MODELLED = (
    "body",
    "from",
    "sender",
    "importance",
    "flag",
    "inferenceClassification",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "internetMessageHeaders",
)


def update_message(call: Call) -> Response:
    """PATCH .../messages/{id} with categories, isRead and (drafts) header properties."""
    changes = call.request.json()
    if not isinstance(changes, dict):
        raise GraphError(400, "BadRequest", "The PATCH body must be a JSON object.")
    view = view_for(None, None, call.preferences)
    with call.tenant.lock:
        message = call.message(call.params[0])
        wanted = call.request.header("If-Match")
        if wanted and wanted not in ("*", etag_of(message)):
            # Graph refuses a change computed from an older version of the item.
            raise GraphError(412, "ErrorIrresolvableConflict", "The change key is out of date.")
        _check_patch(changes, message)
        headers = _draft_headers(changes)
        updated = call.tenant.update(
            call.mailbox.address,
            message.id,
            categories=_categories(changes),
            is_read=_is_read(changes),
            raw=replace_headers(message.raw, headers) if headers else None,
            internet_message_id=changes.get("internetMessageId"),
        )
        payload = _message_payload(call, updated, view)
    return _with_preferences(call, json_response(200, payload))


def _check_patch(changes: dict[str, Any], message: StoredMessage) -> None:
    for name in changes:
        if name.startswith("@odata."):
            continue
        if name in _ALWAYS_UPDATABLE:
            continue
        if name in _DRAFT_HEADERS:
            if not message.is_draft:
                raise GraphError(
                    400,
                    "ErrorInvalidPropertyUpdateSentMessage",
                    "Update operation is invalid for property of a sent message.",
                )
            continue
        if name in _KNOWN_BUT_NOT_MODELLED:
            raise not_modelled(f"PATCH of {name!r}")
        raise GraphError(
            400,
            "RequestBodyRead",
            f"The property '{name}' does not exist on type 'microsoft.graph.message'. Make "
            "sure to only use property names that are defined by the type or mark the type "
            "as open type.",
        )


def _categories(changes: dict[str, Any]) -> list[str] | None:
    if "categories" not in changes:
        return None
    value = changes["categories"]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise GraphError(400, "BadRequest", "categories must be a list of strings.")
    return value


def _is_read(changes: dict[str, Any]) -> bool | None:
    if "isRead" not in changes:
        return None
    if not isinstance(changes["isRead"], bool):
        raise GraphError(400, "BadRequest", "isRead must be true or false.")
    return bool(changes["isRead"])


def _draft_headers(changes: dict[str, Any]) -> dict[str, str | None]:
    headers: dict[str, str | None] = {}
    for prop, header in _DRAFT_HEADERS.items():
        if prop not in changes:
            continue
        value = changes[prop]
        if prop.endswith("Recipients") or prop == "replyTo":
            headers[header] = format_address_list(_addresses(value)) or None
        else:
            headers[header] = str(value) if value else None
    return headers


def _addresses(value: Any) -> list[tuple[str, str]]:
    found = []
    for item in value or []:
        inner = item.get("emailAddress") if isinstance(item, dict) else None
        if not isinstance(inner, dict) or not inner.get("address"):
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        found.append((str(inner.get("name") or ""), str(inner["address"])))
    return found


# --- lists -------------------------------------------------------------------------------------

_IMID_FILTER = re.compile(r"\s*internetMessageId\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)
MAX_TOP = 1000


def list_messages(call: Call) -> Response:
    """GET /users/{u}/messages: every folder (Deleted Items too, as on Graph)."""
    return _list(call, folder_name=None)


def list_folder_messages(call: Call) -> Response:
    """GET /users/{u}/mailFolders/{folder}/messages."""
    with call.tenant.lock:
        folder_name = call.folder(call.params[0]).name
    return _list(call, folder_name=folder_name)


def _list(call: Call, folder_name: str | None) -> Response:
    request = call.request
    if request.option("$orderby") or request.option("$search"):
        raise not_modelled("$orderby or $search on message lists")
    wanted_imid = _internet_message_id_filter(request.option("$filter"))
    view = view_for(request.option("$select"), request.option("$expand"), call.preferences)
    top, skip = _int_option(call, "$top", 10), _int_option(call, "$skip", 0)
    with call.tenant.lock:
        found = [
            message
            for message in call.mailbox.messages.values()
            if (folder_name is None or message.folder == folder_name)
            and (wanted_imid is None or message.internet_message_id == wanted_imid)
        ]
        # Graph's default order for message lists is newest first.
        found.sort(key=lambda m: (m.received_at, m.change_number), reverse=True)
        page = found[skip : skip + top]
        payload: dict[str, Any] = {
            "@odata.context": call.context.metadata(f"users('{call.mailbox.address}')/messages"),
            "value": [render_message(message, call.mailbox, view) for message in page],
        }
    if skip + top < len(found):
        payload["@odata.nextLink"] = _next_list_link(call, skip + top)
    return _with_preferences(call, json_response(200, payload))


def _internet_message_id_filter(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    match = _IMID_FILTER.fullmatch(value)
    if match is None:
        raise not_modelled(f"$filter={value!r} (only internetMessageId eq '...')")
    return match.group(1).replace("''", "'")  # OData escapes a quote by doubling it


def _int_option(call: Call, name: str, default: int) -> int:
    value = call.request.option(name)
    if value is None:
        return default
    if not value.isdigit() or (name == "$top" and not 0 < int(value) <= MAX_TOP):
        raise GraphError(400, "BadRequest", f"Invalid value for {name}: {value!r}.")
    return int(value)


def _next_list_link(call: Call, skip: int) -> str:
    query = {k: v for k, v in call.request.query.items() if k.lower() != "$skip"}
    query["$skip"] = str(skip)
    return f"{call.context.authority}{call.request.path}?{urlencode(query)}"


# --- shared ---------------------------------------------------------------------------------------


def _message_payload(call: Call, message: StoredMessage, view: MessageView) -> dict[str, Any]:
    context = call.context.metadata(f"users('{call.mailbox.address}')/messages/$entity")
    return {"@odata.context": context, **render_message(message, call.mailbox, view)}


def _with_preferences(call: Call, response: Response) -> Response:
    applied = call.preferences.applied()
    if applied:
        response.headers["Preference-Applied"] = applied
    return response
