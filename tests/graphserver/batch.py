"""POST /v1.0/$batch: up to 20 sub-requests, run through the same pipeline as any request.

Scheduling: sub-requests run in waves.  A wave is every sub-request whose dependencies
have all answered; its members are admitted to their mailboxes' concurrency counts
together (in request order) and then run at the same time on a thread pool.  Running
them together is what makes Graph throttle a batch of five requests for one mailbox
(its fifth gets 429, as users of Outlook-backed batches report); admitting them together
makes that outcome deterministic here.  A sub-request whose dependency failed (any status
of 400 or more) is not run and answers 424 Failed Dependency.

Bodies: a JSON sub-request body is a JSON value.  Other bodies are strings: for a text/*
content type the string is the body as it is (so a text/plain MIME sendMail carries its
base64 text unchanged); for any other type the string is base64 of the bytes, as the
batching docs say for binary bodies.  The text/* reading is our interpretation; the docs
only show JSON and binary.  Binary response bodies (e.g. $value) come back base64.
"""

from __future__ import annotations

import base64
import binascii
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from .counters import Slot
from .wire import GraphError, Request, Response, json_response

MAX_REQUESTS = 20


class Pipeline(Protocol):
    """The part of the request pipeline a batch uses."""

    def admit(self, request: Request) -> Slot: ...

    def handle(self, request: Request, slot: Slot | None = None) -> Response: ...


@dataclass(frozen=True)
class SubRequest:
    id: str
    key: str  # id folded to lower case: batch ids are not case-sensitive
    depends_on: tuple[str, ...]  # keys
    request: Request


def execute_batch(outer: Request, pipeline: Pipeline) -> Response:
    subs = parse_batch(outer)
    results: dict[str, Response] = {}
    pending = list(subs)
    with ThreadPoolExecutor(max_workers=MAX_REQUESTS, thread_name_prefix="graph-batch") as pool:
        while pending:
            wave = [sub for sub in pending if all(key in results for key in sub.depends_on)]
            pending = [sub for sub in pending if sub not in wave]
            runnable = []
            for sub in wave:
                if any(results[key].status >= 400 for key in sub.depends_on):
                    results[sub.key] = _failed_dependency()
                else:
                    runnable.append(sub)
            slots = [pipeline.admit(sub.request) for sub in runnable]
            futures = [
                pool.submit(pipeline.handle, sub.request, slot)
                for sub, slot in zip(runnable, slots, strict=True)
            ]
            for sub, future in zip(runnable, futures, strict=True):
                results[sub.key] = future.result()
    responses = [_render(sub.id, results[sub.key]) for sub in subs]
    response = json_response(200, {"responses": responses})
    # A sub-request that lost its answer (drop_connection_after_send) loses the batch's.
    response.drop_connection = any(result.drop_connection for result in results.values())
    return response


def parse_batch(outer: Request) -> list[SubRequest]:
    payload = outer.json()
    items = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise _invalid("The batch needs a non-empty 'requests' array.")
    if len(items) > MAX_REQUESTS:
        raise GraphError(
            400,
            "BadRequest",
            f"Number of requests in a batch exceeds the limit of {MAX_REQUESTS}.",
        )
    subs = [_sub_request(item, outer) for item in items]
    keys = [sub.key for sub in subs]
    if len(set(keys)) != len(keys):
        raise _invalid("Request ids must be unique within a batch.")
    for sub in subs:
        if any(key not in keys or key == sub.key for key in sub.depends_on):
            raise _invalid(f"Request '{sub.id}' depends on a request not in the batch.")
    _check_acyclic(subs)
    return subs


def _sub_request(item: Any, outer: Request) -> SubRequest:
    if not isinstance(item, dict):
        raise _invalid("Each request must be a JSON object.")
    request_id, method, url = item.get("id"), item.get("method"), item.get("url")
    if not (isinstance(request_id, str) and isinstance(method, str) and isinstance(url, str)):
        raise _invalid("Each request needs string 'id', 'method' and 'url' properties.")
    if not (request_id and method and url):
        raise _invalid("A request's 'id', 'method' and 'url' must not be empty.")
    if "://" in url:
        raise _invalid("The url of a request must be relative, e.g. /users/{id}/messages.")
    depends_on = item.get("dependsOn") or []
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise _invalid("dependsOn must be an array of request ids.")
    headers = _headers(item.get("headers"))
    # Sub-requests are authorised by the batch request's own token.
    headers["authorization"] = outer.header("authorization") or ""
    target = "/v1.0/" + url.lstrip("/")
    if target.lower().startswith("/v1.0/$batch"):
        raise _invalid("A batch cannot contain a batch.")
    body = _body(item, headers)
    return SubRequest(
        id=request_id,
        key=request_id.lower(),
        depends_on=tuple(d.lower() for d in depends_on),
        request=Request.from_target(method, target, headers, body, in_batch=True),
    )


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("headers must be a JSON object.")
    return {str(name).lower(): str(header) for name, header in value.items()}


def _body(item: dict[str, Any], headers: dict[str, str]) -> bytes:
    if item.get("body") is None:
        return b""
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not content_type:
        raise _invalid("A request with a body must have a Content-Type header.")
    body = item["body"]
    if content_type == "application/json" or not isinstance(body, str):
        return json.dumps(body).encode()
    if content_type.startswith("text/"):
        return body.encode()
    # "base64 URL-encoded": accept either alphabet, padded or not.
    text = body.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _invalid("A non-JSON body must be base64.") from None


def _check_acyclic(subs: list[SubRequest]) -> None:
    depends = {sub.key: sub.depends_on for sub in subs}
    done: set[str] = set()
    while len(done) < len(depends):
        ready = {key for key, deps in depends.items() if key not in done and set(deps) <= done}
        if not ready:
            raise _invalid("The dependsOn references form a cycle.")
        done |= ready


def _render(request_id: str, response: Response) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": request_id,
        "status": response.status,
        "headers": dict(response.headers),
    }
    if response.body:
        if response.content_type == "application/json":
            entry["body"] = json.loads(response.body)
        else:
            entry["body"] = base64.b64encode(response.body).decode()
    return entry


def _failed_dependency() -> Response:
    return json_response(
        424,
        {"error": {"code": "FailedDependency", "message": "A dependency of this request failed."}},
    )


def _invalid(detail: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid batch payload format. {detail}")
