"""Routing of /v1.0/users/{user}/... requests to handlers, with Graph's permission checks.

Segment names match case-insensitively (Graph accepts `mailfolders` and `mailFolders`);
ids and addresses are kept as given.  The permission needed is per route, as the Graph
reference lists it for application permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import messages, sending, settings
from .auth import TokenClaims
from .context import Call, GraphContext, Handler
from .store import UnknownMailbox
from .wire import GraphError, Request, Response, parse_prefer, path_segments

READ = frozenset({"Mail.Read", "Mail.ReadWrite"})
WRITE = frozenset({"Mail.ReadWrite"})
SEND = frozenset({"Mail.Send"})
SETTINGS = frozenset({"MailboxSettings.Read", "MailboxSettings.ReadWrite"})
ANY = "{}"  # a placeholder segment in a route pattern


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]  # the segments after /v1.0/users/{user}; lower-case literals
    handler: Handler
    roles: frozenset[str]

    def match(self, segments: list[str]) -> tuple[str, ...] | None:
        """The placeholder values if `segments` fit the pattern, else None."""
        if len(segments) != len(self.pattern):
            return None
        params = []
        for expected, actual in zip(self.pattern, segments, strict=True):
            if expected == ANY:
                params.append(actual)
            elif expected != actual.lower():
                return None
        return tuple(params)


ROUTES = (
    Route("GET", ("mailfolders", ANY), messages.get_folder, READ),
    Route("GET", ("mailfolders", ANY, "messages", "delta"), messages.delta, READ),
    Route("GET", ("mailfolders", ANY, "messages"), messages.list_folder_messages, READ),
    Route("GET", ("messages",), messages.list_messages, READ),
    Route("POST", ("messages",), sending.create_draft, WRITE),
    Route("GET", ("messages", ANY), messages.get_message, READ),
    Route("PATCH", ("messages", ANY), messages.update_message, WRITE),
    Route("DELETE", ("messages", ANY), messages.delete_message, WRITE),
    Route("GET", ("messages", ANY, "$value"), messages.get_mime, READ),
    Route("POST", ("messages", ANY, "send"), sending.send_draft, SEND),
    Route("POST", ("messages", ANY, "attachments"), sending.add_attachment, WRITE),
    Route(
        "POST",
        ("messages", ANY, "attachments", "createuploadsession"),
        sending.create_upload_session,
        WRITE,
    ),
    Route("POST", ("sendmail",), sending.send_mail, SEND),
    Route("GET", ("mailboxsettings",), settings.mailbox_settings, SETTINGS),
    Route(
        "GET", ("mailboxsettings", "automaticrepliessetting"), settings.automatic_replies, SETTINGS
    ),
)


def mailbox_in_path(path: str) -> str | None:
    """The lower-case {user} of a /v1.0/users/{user}/... path, else None."""
    segments = path_segments(path)
    if len(segments) >= 3 and segments[0].lower() == "v1.0" and segments[1].lower() == "users":
        return segments[2].lower()
    return None


def dispatch(context: GraphContext, request: Request, claims: TokenClaims) -> Response:
    """Route an authenticated /v1.0 request (other than $batch) to its handler."""
    segments = path_segments(request.path)[1:]  # without "v1.0"
    if segments[:1] and segments[0].lower() == "me":
        raise GraphError(
            400, "BadRequest", "/me request is only valid with delegated authentication flow."
        )
    if len(segments) < 3 or segments[0].lower() != "users":
        last = segments[-1] if segments else "v1.0"
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{last}'.")
    route, params = _route(request.method, segments[2:])
    if not route.roles.intersection(claims.roles):
        raise GraphError(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    try:
        mailbox = context.tenant.mailbox(segments[1])
    except UnknownMailbox:
        raise GraphError(
            404, "ErrorInvalidUser", f"The requested user '{segments[1]}' is invalid."
        ) from None
    call = Call(
        context=context,
        request=request,
        preferences=parse_prefer(request.header("prefer")),
        mailbox=mailbox,
        params=params,
    )
    return route.handler(call)


def _route(method: str, segments: list[str]) -> tuple[Route, tuple[str, ...]]:
    matched = []
    for route in ROUTES:
        params = route.match(segments)
        if params is not None:  # () is a match for a route without placeholders
            matched.append((route, params))
    if not matched:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segments[-1]}'.")
    for route, params in matched:
        if route.method == method:
            return route, params
    raise GraphError(
        405, "BadRequest", "Specified HTTP method is not allowed for the request target."
    )
