"""The path every request takes, whether it came over HTTPS or inside a $batch.

Order: count it in its mailbox's concurrency → injected fault → (Graph) size limit,
token check, MailboxConcurrency throttle, simulated latency, handler → record it.
Injected faults come first because they stand for the service being unwell, whatever
the request.  An unexpected exception in a handler becomes a 500 and is kept in
`internal_errors` so that tests can fail loudly on bugs in the fake itself.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from .auth import EntraError, EntraTenant, entra_error_response
from .batch import execute_batch
from .context import GraphContext
from .counters import ConcurrencyTracker, RecordedRequest, RequestLog, Slot
from .faults import FaultPlan, FaultRule
from .graph import dispatch, mailbox_in_path
from .uploads import UploadRegistry
from .wire import (
    MAX_REQUEST_BYTES,
    GraphError,
    Request,
    Response,
    error_response,
    format_retry_after,
    json_response,
    parse_prefer,
    path_segments,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tuning:
    """Knobs the server reads on every request (tests may change them at any time)."""

    latency: Callable[[], float]
    throttle_retry_after: Callable[[], float]


class Pipeline:
    def __init__(
        self,
        *,
        context: GraphContext,
        entra: EntraTenant,
        uploads: UploadRegistry,
        faults: FaultPlan,
        log: RequestLog,
        tracker: ConcurrencyTracker,
        tuning: Tuning,
    ) -> None:
        self._context = context
        self._entra = entra
        self._uploads = uploads
        self._faults = faults
        self._log = log
        self._tracker = tracker
        self._tuning = tuning
        self._errors_lock = threading.Lock()
        self.internal_errors: list[str] = []

    # --- entry points ----------------------------------------------------------------------

    def admit(self, request: Request) -> Slot:
        """Count `request` as in flight for its mailbox now (see $batch waves)."""
        return self._tracker.enter(mailbox_in_path(request.path))

    def handle(self, request: Request, slot: Slot | None = None) -> Response:
        """Serve one request; takes over `slot` if given, else admits the request now."""
        if slot is None:
            slot = self.admit(request)
        try:
            response = self._respond(request, slot)
        finally:
            self._tracker.leave(slot)
        if self._faults.take_answer_drop(request.method, request.path):
            response.drop_connection = True  # done, but the client never hears so
        if _is_recorded(request):
            self._record(request, slot, response)
        return response

    def _record(self, request: Request, slot: Slot, response: Response) -> None:
        self._log.record(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                mailbox=slot.mailbox,
                status=response.status,
                immutable_id_preferred=parse_prefer(request.header("prefer")).immutable_id,
                in_batch=request.in_batch,
            )
        )

    # --- stages ----------------------------------------------------------------------------

    def _respond(self, request: Request, slot: Slot) -> Response:
        try:
            return self._route(request, slot)
        except GraphError as error:
            return error_response(error, request)
        except EntraError as error:
            return entra_error_response(error, self._context.authority)
        except Exception:
            detail = traceback.format_exc()
            logger.error("graphserver: %s %s failed\n%s", request.method, request.path, detail)
            with self._errors_lock:
                self.internal_errors.append(f"{request.method} {request.path}\n{detail}")
            return error_response(
                GraphError(500, "InternalServerError", "graphserver failed; see internal_errors"),
                request,
            )

    def _route(self, request: Request, slot: Slot) -> Response:
        segments = path_segments(request.path)
        is_token_request = _is_token_path(segments) and request.method == "POST"
        if is_token_request:
            self._log.count_token_request()
        fault = self._faults.take(request.method, request.path)
        if fault is not None:
            return self._fault_response(fault, request, entra=is_token_request)
        head = segments[0].lower() if segments else ""
        if head == "v1.0":
            return self._graph(request, slot, segments)
        if head == "upload":
            return self._upload(request, segments)
        return self._entra_endpoint(request, segments)

    def _graph(self, request: Request, slot: Slot, segments: list[str]) -> Response:
        if len(request.body) > MAX_REQUEST_BYTES:
            raise GraphError(
                413,
                "RequestEntityTooLarge",
                f"The request body is {len(request.body)} bytes; the limit is 4 MB.",
            )
        claims = self._entra.verify_graph_token(request.header("authorization"))
        if [s.lower() for s in segments] == ["v1.0", "$batch"] and request.method == "POST":
            return execute_batch(request, self)
        if not slot.admitted:
            retry_after = format_retry_after(self._tuning.throttle_retry_after())
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                headers={"Retry-After": retry_after},
            )
        latency = self._tuning.latency()
        if latency > 0 and slot.mailbox is not None:
            time.sleep(latency)  # holds the mailbox slot, as a slow backend would
        return dispatch(self._context, request, claims)

    def _upload(self, request: Request, segments: list[str]) -> Response:
        if len(segments) != 2:
            raise GraphError(404, "ErrorItemNotFound", "The upload session was not found.")
        if request.method == "PUT":
            return self._uploads.put(segments[1], request.header("content-range"), request.body)
        if request.method == "DELETE":
            return self._uploads.cancel(segments[1])
        raise GraphError(405, "BadRequest", "Use PUT to upload, DELETE to cancel.")

    def _entra_endpoint(self, request: Request, segments: list[str]) -> Response:
        authority = self._context.authority
        if len(segments) < 2:
            raise EntraError(404, "invalid_request", 90002, "Unknown endpoint.")
        tenant, rest = segments[0], [s.lower() for s in segments[1:]]
        if not self._entra.knows_tenant(tenant):
            raise EntraError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )
        if request.method == "GET" and rest == ["v2.0", ".well-known", "openid-configuration"]:
            return json_response(200, self._entra.openid_configuration(authority))
        if request.method == "GET" and rest == ["discovery", "v2.0", "keys"]:
            # Access tokens here are HS256 (see auth.py): there is no public key to publish.
            return json_response(200, {"keys": []})
        if request.method == "POST" and rest == ["oauth2", "v2.0", "token"]:
            return self._entra.token(request, authority)
        raise EntraError(404, "invalid_request", 90002, "Unknown endpoint.")

    def _fault_response(self, fault: FaultRule, request: Request, *, entra: bool) -> Response:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = format_retry_after(fault.retry_after)
        if entra:
            error = EntraError(
                fault.status,
                fault.code or "temporarily_unavailable",
                90033,
                "A transient error has occurred. Please try again. (injected by graphserver)",
            )
            response = entra_error_response(error, self._context.authority)
            response.headers.update(headers)
            return response
        message = f"Injected fault {fault.status} for {request.method} {request.path}."
        return error_response(GraphError(fault.status, fault.error_code, message, headers=headers))


def _is_recorded(request: Request) -> bool:
    """Graph and upload-URL requests are recorded; Entra's are only counted (token_requests).

    msal's discovery and token calls never carry Graph headers such as Prefer, so listing
    them among the Graph requests would only get in the way of assertions about those.
    """
    segments = path_segments(request.path)
    return bool(segments) and segments[0].lower() in ("v1.0", "upload")


def _is_token_path(segments: list[str]) -> bool:
    return len(segments) == 4 and [s.lower() for s in segments[1:]] == ["oauth2", "v2.0", "token"]
