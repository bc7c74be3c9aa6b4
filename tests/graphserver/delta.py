"""Delta query for messages in a folder: state tokens, rounds and pages.

A round runs from `since` (0 for the initial round) to `upto`, the tenant sequence number
when the round began; its pages walk the folder's change log in (seq, id) order, and each
skip token remembers the last key served.  A change made during a round gets a sequence
number above `upto`, so it is left for the next round rather than being skipped or
served twice.  The deltaLink's token starts the next round at `upto`.

Tokens are base64url JSON.  They are opaque to clients, as Graph's are, and carry every
query option of the round (Graph "encodes any OData and custom query options into the
nextLink or deltaLink").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from .store import Folder, FolderEntry, Mailbox
from .wire import GraphError, as_utc

TokenKind = Literal["skip", "delta"]
DEFAULT_PAGE_SIZE = 10
CHANGE_TYPES = ("created", "updated", "deleted")


@dataclass(frozen=True)
class DeltaState:
    """Everything a skip or delta token carries."""

    kind: TokenKind
    mailbox: str
    folder_id: str
    epoch: int
    since: int
    upto: int
    after: tuple[int, str] | None  # last (seq, id) served in this round
    filter: str | None
    select: str | None
    expand: str | None
    change_type: str | None

    def encode(self) -> str:
        payload = asdict(self)
        payload["after"] = list(self.after) if self.after else None
        text = json.dumps(payload, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(token: str, kind: TokenKind) -> DeltaState:
    """The state in `token`, or a 400 for anything that is not a token of that kind."""
    try:
        padded = token + "=" * (-len(token) % 4)
        payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = payload.get("after")
        state = DeltaState(
            kind=payload["kind"],
            mailbox=str(payload["mailbox"]),
            folder_id=str(payload["folder_id"]),
            epoch=int(payload["epoch"]),
            since=int(payload["since"]),
            upto=int(payload["upto"]),
            after=(int(after[0]), str(after[1])) if after else None,
            filter=payload.get("filter"),
            select=payload.get("select"),
            expand=payload.get("expand"),
            change_type=payload.get("change_type"),
        )
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        raise _bad_token() from None
    if state.kind != kind:
        raise _bad_token()
    return state


def _bad_token() -> GraphError:
    # Graph's exact code for a mangled token is not documented; it is a 400.
    return GraphError(400, "ErrorInvalidUrlQuery", "The sync state token is malformed.")


def expired_token() -> GraphError:
    return GraphError(
        410,
        "SyncStateNotFound",
        "The sync state generation is not found. Please start the sync again.",
    )


@dataclass(frozen=True)
class ReceivedFilter:
    """`receivedDateTime ge|gt {value}`, the only $filter message delta supports."""

    inclusive: bool
    moment: datetime

    def matches(self, received_at: datetime) -> bool:
        received = as_utc(received_at)
        return received >= self.moment if self.inclusive else received > self.moment


_FILTER = re.compile(r"\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*", re.IGNORECASE)


def parse_filter(value: str | None) -> ReceivedFilter | None:
    if value is None or not value.strip():
        return None
    match = _FILTER.fullmatch(value)
    if match is None:
        raise GraphError(
            400,
            "ErrorInvalidUrlQueryFilter",
            "The only supported $filter for message delta is receivedDateTime ge|gt {value}.",
        )
    literal = match.group(2)
    if literal.startswith("'"):
        # OData DateTimeOffset literals are unquoted; Graph rejects a quoted one so.
        raise GraphError(
            400,
            "BadRequest",
            "A binary operator with incompatible types was detected. Found operand types "
            "'Edm.DateTimeOffset' and 'Edm.String' for operator kind 'GreaterThanOrEqual'.",
        )
    try:
        moment = datetime.fromisoformat(literal)
    except ValueError:
        raise GraphError(
            400, "BadRequest", f"Invalid DateTimeOffset literal {literal!r}."
        ) from None
    return ReceivedFilter(inclusive=match.group(1).lower() == "ge", moment=as_utc(moment))


def check_change_type(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in CHANGE_TYPES:
        raise GraphError(400, "ErrorInvalidUrlQuery", f"Invalid changeType value {value!r}.")
    return value


@dataclass(frozen=True)
class Page:
    """One delta page: entries to render, and the state for the link it ends with."""

    entries: list[tuple[str, FolderEntry]]
    next_state: DeltaState  # kind "skip" → nextLink, kind "delta" → deltaLink


def next_page(mailbox: Mailbox, folder: Folder, state: DeltaState, page_size: int) -> Page:
    """The page after `state.after` in the round `state` describes (caller holds the lock)."""
    received_filter = parse_filter(state.filter)
    keys = sorted(
        (entry.seq, message_id)
        for message_id, entry in folder.log.items()
        if state.since < entry.seq <= state.upto
        and _wanted(mailbox, message_id, entry, state, received_filter)
    )
    remaining = [key for key in keys if state.after is None or key > state.after]
    served = remaining[:page_size]
    entries = [(message_id, folder.log[message_id]) for _, message_id in served]
    if len(remaining) > page_size:
        following = replace(state, kind="skip", after=served[-1])
    else:
        following = replace(state, kind="delta", since=state.upto, after=None)
    return Page(entries=entries, next_state=following)


def _wanted(
    mailbox: Mailbox,
    message_id: str,
    entry: FolderEntry,
    state: DeltaState,
    received_filter: ReceivedFilter | None,
) -> bool:
    initial = state.since == 0
    if not entry.present:
        # Removal of something the client never saw (it came and went within the round,
        # or this is the initial round) is not reported.
        return (
            not initial
            and entry.entered_seq <= state.since
            and (state.change_type in (None, "deleted"))
        )
    message = mailbox.messages.get(message_id)
    if message is None:
        return False
    if received_filter is not None and not received_filter.matches(message.received_at):
        return False
    if initial or state.change_type is None:
        return True
    created = entry.entered_seq > state.since
    return state.change_type == ("created" if created else "updated")
