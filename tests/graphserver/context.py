"""What a Graph handler is given: the tenant and server parts it needs, and its request.

Handlers are plain functions `Call -> Response`; they raise `GraphError` for any error
answer.  Lookups that every handler needs (the mailbox's folder or message by id) live
here so that unknown ids get the same documented error everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from .faults import FaultPlan
from .store import Folder, Mailbox, StoredMessage, Tenant, UnknownFolder, UnknownMessage
from .uploads import UploadRegistry
from .wire import GraphError, Preferences, Request, Response


@dataclass(frozen=True)
class GraphContext:
    """The parts of the server the Graph handlers use."""

    tenant: Tenant
    uploads: UploadRegistry
    faults: FaultPlan
    authority: str  # https://127.0.0.1:PORT
    base_url: str  # https://127.0.0.1:PORT/v1.0

    def user_url(self, mailbox: Mailbox) -> str:
        """The base of links Graph builds for a user: `.../v1.0/users('a@b')`."""
        return f"{self.base_url}/users('{quote(mailbox.address, safe='@')}')"

    def metadata(self, fragment: str) -> str:
        return f"{self.base_url}/$metadata#{fragment}"


@dataclass(frozen=True)
class Call:
    """One routed Graph request."""

    context: GraphContext
    request: Request
    preferences: Preferences
    mailbox: Mailbox
    params: tuple[str, ...]  # the {placeholders} of the route, in order

    @property
    def tenant(self) -> Tenant:
        return self.context.tenant

    def folder(self, reference: str) -> Folder:
        try:
            return self.mailbox.folder(reference)
        except UnknownFolder:
            raise not_found() from None

    def message(self, message_id: str) -> StoredMessage:
        try:
            return self.mailbox.message(message_id)
        except UnknownMessage:
            raise not_found() from None


Handler = Callable[[Call], Response]


def not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def not_modelled(what: str) -> GraphError:
    """Graph would do something here that this fake does not model (not a Graph error)."""
    return GraphError(501, "NotImplemented", f"graphserver does not model {what}")
