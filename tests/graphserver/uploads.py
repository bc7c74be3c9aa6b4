"""Upload sessions for large attachments (createUploadSession, then PUT byte ranges).

Follows "Attach large files to Outlook messages or events": the session is for 3 MB to
150 MB; the upload URL is pre-authenticated (no Authorization header needed); ranges go
in order; a PUT answers 200 with `nextExpectedRanges: ["{next start}"]` until the last
byte, which answers 201 with a Location header and an empty body.

Two rules here come from the brief rather than Outlook's page, which only says "keep each
byte range less than 4 MB": a chunk over 4 MiB is refused, and every chunk but the last
must be a multiple of 320 KiB (OneDrive's documented rule; Graph SDK upload tasks obey it).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .wire import GraphError, Response, empty_response, format_datetime, json_response

CHUNK_UNIT = 320 * 1024
MAX_CHUNK = 4 * 1024 * 1024
# "between 3 MB and 150 MB".  The exact byte thresholds are not documented; the decimal
# reading is the lenient one for the lower bound, the binary one for the upper.
MIN_SESSION_SIZE = 3_000_000
MAX_SESSION_SIZE = 150 * 1024 * 1024
# Outlook does not document a session lifetime; the examples show about 15 minutes.
SESSION_LIFETIME = timedelta(minutes=15)

AttachCallback = Callable[["UploadSession", bytes], str]  # returns the attachment id
LocationCallback = Callable[["UploadSession"], str]  # the session's attachments URL


@dataclass
class UploadSession:
    token: str
    mailbox: str
    message_id: str
    name: str
    content_type: str
    size: int
    inline: bool
    content_id: str | None
    expires_at: datetime
    received: bytearray = field(default_factory=bytearray)


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class UploadRegistry:
    """Open upload sessions, by the opaque token in their URL."""

    def __init__(self, attach: AttachCallback, location: LocationCallback) -> None:
        self._attach = attach
        self._location = location
        self._lock = threading.Lock()
        self._sessions: dict[str, UploadSession] = {}

    def create(
        self,
        *,
        mailbox: str,
        message_id: str,
        name: str,
        content_type: str,
        size: int,
        inline: bool,
        content_id: str | None,
    ) -> UploadSession:
        if size < MIN_SESSION_SIZE:
            raise GraphError(
                400,
                "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                "Attachment size must be at least 3 MB for an upload session; POST smaller "
                "files to the attachments collection.",
            )
        if size > MAX_SESSION_SIZE:
            raise GraphError(400, "BadRequest", "Attachment size must not exceed 150 MB.")
        session = UploadSession(
            token=secrets.token_urlsafe(24),
            mailbox=mailbox,
            message_id=message_id,
            name=name,
            content_type=content_type,
            size=size,
            inline=inline,
            content_id=content_id,
            expires_at=datetime.now(UTC) + SESSION_LIFETIME,
        )
        with self._lock:
            self._sessions[session.token] = session
        return session

    def put(self, token: str, content_range: str | None, body: bytes) -> Response:
        """One PUT of a byte range: 200 with the next expected start, 201 when complete."""
        with self._lock:
            session = self._live_session(token)
            end = self._check_range(session, content_range, body)
            session.received.extend(body)
            if end + 1 < session.size:
                return json_response(200, _progress(session))
            del self._sessions[token]
        attachment_id = self._attach(session, bytes(session.received))
        return empty_response(201, {"Location": f"{self._location(session)}/{attachment_id}"})

    def cancel(self, token: str) -> Response:
        with self._lock:
            self._live_session(token)
            del self._sessions[token]
        return empty_response(204)

    def _live_session(self, token: str) -> UploadSession:
        session = self._sessions.get(token)
        if session is None or session.expires_at < datetime.now(UTC):
            self._sessions.pop(token, None)
            raise GraphError(404, "ErrorItemNotFound", "The upload session was not found.")
        return session

    @staticmethod
    def _check_range(session: UploadSession, content_range: str | None, body: bytes) -> int:
        """The end of the range, once the range and body are checked."""
        match = _CONTENT_RANGE.fullmatch((content_range or "").strip())
        if match is None:
            raise GraphError(
                400, "invalidRange", "Content-Range must be 'bytes {start}-{end}/{total}'."
            )
        start, end, total = (int(group) for group in match.groups())
        if total != session.size or start != len(session.received) or end < start:
            raise GraphError(
                416,
                "invalidRange",
                f"The range {start}-{end}/{total} is not the expected "
                f"{len(session.received)}-/{session.size}; ranges must be uploaded in order.",
            )
        if end >= session.size or len(body) != end - start + 1:
            raise GraphError(400, "invalidRange", "The body length does not match Content-Range.")
        last = end + 1 == session.size
        if len(body) > MAX_CHUNK:
            raise GraphError(413, "RequestEntityTooLarge", "A byte range must not exceed 4 MB.")
        if not last and len(body) % CHUNK_UNIT:
            raise GraphError(
                400,
                "invalidRequest",
                "Every byte range except the last must be a multiple of 320 KiB.",
            )
        return end


def _progress(session: UploadSession) -> dict[str, object]:
    # Outlook answers a partial upload with Outlook REST casing ("ExpirationDateTime"),
    # as its documentation shows.
    return {
        "ExpirationDateTime": format_datetime(session.expires_at),
        "nextExpectedRanges": [str(len(session.received))],
    }


def session_resource(session: UploadSession, upload_url: str) -> dict[str, object]:
    """The uploadSession createUploadSession returns."""
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession",
        "uploadUrl": upload_url,
        "expirationDateTime": format_datetime(session.expires_at),
        "nextExpectedRanges": ["0-"],
    }
