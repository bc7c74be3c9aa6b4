"""Request and response values shared by the HTTP front end, the Graph handlers and $batch.

A `Request` is what a handler sees whether it arrived over HTTPS or inside a JSON batch, so
every handler, fault and counter treats both the same way.  Handlers raise `GraphError`;
the pipeline turns it into Graph's documented error body
`{"error": {"code": ..., "message": ..., "innerError": {...}}}`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

JSON_TYPE = "application/json"
# Graph's JSON responses carry the OData flavour of the media type.
ODATA_JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"

# Graph documents a 4 MB limit on a request body.  It does not say whether that is 10^6 or
# 2^20 based; we use 4 MiB (the Graph SDKs' own chunk limit), so a client that keeps under
# 4,000,000 bytes is safe either way.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


class GraphError(Exception):
    """A Graph error response: raised by handlers, rendered by the pipeline."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class Request:
    """One HTTP request, top-level or a $batch sub-request.

    `path` is percent-decoded segment by segment only later (ids and addresses may hold
    encoded characters), so here it is the raw path without the query string.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""
    in_batch: bool = False

    @classmethod
    def from_target(
        cls,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        in_batch: bool = False,
    ) -> Request:
        """Build a request from a request-target such as `/v1.0/users/x?$select=id`."""
        parts = urlsplit(target)
        # parse_qsl turns '+' into a space, as Graph's front end (ASP.NET) does: a client
        # that puts a raw '+' of a Message-ID into a URL is wrong there too.
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        return cls(
            method=method.upper(),
            path=parts.path,
            query=query,
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            in_batch=in_batch,
        )

    def header(self, name: str) -> str | None:
        """The value of a header, by case-insensitive name."""
        return self.headers.get(name.lower())

    def option(self, name: str) -> str | None:
        """A query option by case-insensitive name (`$select` and `$SELECT` are the same)."""
        wanted = name.lower()
        for key, value in self.query.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-case, without parameters."""
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON, or a 400 as Graph answers a body it cannot read."""
        if not self.body.strip():
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GraphError(
                400, "BadRequest", f"Unable to read JSON request payload: {exc}"
            ) from None


@dataclass
class Response:
    """One HTTP response.  `drop_connection` means: close the socket, write nothing."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop_connection: bool = False

    @property
    def content_type(self) -> str:
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return value.split(";", 1)[0].strip().lower()
        return ""


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with Graph's content type."""
    return json_bytes_response(status, json.dumps(payload).encode(), headers)


def json_bytes_response(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> Response:
    """A response whose body is JSON already serialised."""
    all_headers = {"Content-Type": ODATA_JSON_TYPE, "OData-Version": "4.0"}
    all_headers.update(headers or {})
    return Response(status, all_headers, body)


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A response without a body (202 Accepted, 204 No Content)."""
    return Response(status, dict(headers or {}))


def error_response(error: GraphError, request: Request | None = None) -> Response:
    """Graph's error body for `error`, with the innerError block Graph always adds."""
    client_request_id = (request.header("client-request-id") if request else None) or str(
        uuid.uuid4()
    )
    payload = {
        "error": {
            "code": error.code,
            "message": error.message,
            "innerError": {
                "date": format_datetime(datetime.now(UTC)),
                "request-id": str(uuid.uuid4()),
                "client-request-id": client_request_id,
            },
        }
    }
    return json_response(error.status, payload, error.headers)


def format_datetime(moment: datetime) -> str:
    """Graph's DateTimeOffset form for message properties: `2026-12-03T12:00:00Z`."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_retry_after(seconds: float) -> str:
    """A Retry-After value.  HTTP wants whole seconds; fractions are a test convenience."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def path_segments(path: str) -> list[str]:
    """Split a URL path into decoded segments, turning OData key syntax into a segment.

    Graph accepts `mailFolders/{id}` and `mailFolders('{id}')` alike, and its own
    nextLink/deltaLink URLs use the second form, so both must route the same way.
    """
    segments: list[str] = []
    for raw in path.split("/"):
        if not raw:
            continue
        decoded = unquote(raw)
        match = _KEY_SEGMENT.fullmatch(decoded)
        if match:
            segments.append(match.group(1))
            segments.append(match.group(2).replace("''", "'"))
        else:
            segments.append(decoded)
    return segments


_KEY_SEGMENT = re.compile(r"([A-Za-z]+)\('((?:[^']|'')*)'\)")


@dataclass(frozen=True)
class Preferences:
    """What a request's Prefer header asks for (several may share one header)."""

    immutable_id: bool = False
    max_page_size: int | None = None
    body_content_type: str | None = None  # "text" or "html"

    def applied(self) -> str | None:
        """The Preference-Applied header Graph returns for the preferences it honoured."""
        parts = []
        if self.immutable_id:
            parts.append('IdType="ImmutableId"')
        if self.max_page_size is not None:
            parts.append(f"odata.maxpagesize={self.max_page_size}")
        if self.body_content_type:
            parts.append(f'outlook.body-content-type="{self.body_content_type}"')
        return ", ".join(parts) or None


def parse_prefer(header: str | None) -> Preferences:
    """Parse `Prefer: IdType="ImmutableId", odata.maxpagesize=50, ...`.

    Names and values compare case-insensitively (RFC 7240 preference names are
    case-insensitive; Graph also accepts `idtype="immutableid"`).  Unknown preferences are
    ignored, as RFC 7240 requires.
    """
    if not header:
        return Preferences()
    values: dict[str, str] = {}
    for item in _split_preferences(header):
        name, _, value = item.partition("=")
        values[name.strip().lower()] = value.strip().strip('"')
    page_size = values.get("odata.maxpagesize", "")
    body_type = values.get("outlook.body-content-type", "").lower()
    return Preferences(
        immutable_id=values.get("idtype", "").lower() == "immutableid",
        max_page_size=int(page_size) if page_size.isdigit() and int(page_size) > 0 else None,
        body_content_type=body_type if body_type in ("text", "html") else None,
    )


def _split_preferences(header: str) -> list[str]:
    """Split on commas and semicolons that are not inside double quotes."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char in ",;" and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]
