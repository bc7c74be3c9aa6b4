"""A thin Microsoft Graph v1.0 client over httpx: auth, preferences, retries, batching.

Why our own and not a Graph SDK: the O365 package has no delta query for mail, and
msgraph-sdk is async-only and very large; spocbot needs a dozen endpoints, used the same way
every time, so a small client that is easy to read and test wins.

Every request:

- carries ``Authorization: Bearer`` from :class:`bot.mail.entra.AppTokens` (a 401 drops the
  cached token and tries once more) and ``Prefer: IdType="ImmutableId"``, so that a message
  keeps its id when someone moves it to another folder;
- is retried on 429, 503 and 504 after the server's ``Retry-After`` (when it is no longer than
  ``max_retry_after`` seconds; otherwise the call fails and the next pass tries again), or with
  capped exponential backoff and jitter when the server gives no delay; network failures are
  retried the same way, except for a request that may already have taken effect (a send),
  which raises :class:`DeliveryUncertain` instead;
- holds one of ``max_concurrent`` slots for its mailbox (Exchange allows 4 concurrent requests
  per mailbox).

:meth:`GraphClient.batch` sends up to 20 calls per ``$batch`` request, in at most
``max_concurrent`` ``dependsOn`` chains per mailbox so that Graph never runs more than that
many at once against one mailbox, and retries the calls that were throttled.

Errors are translated here, at the edge, into the port's hierarchy::

    MailServerError
    ├── GraphError            Graph answered with an error (status and code kept)
    │   ├── GraphNotFound     404: the message or mailbox does not exist
    │   └── GraphSyncReset    410 / SyncStateNotFound: a delta token expired; resync
    ├── MailAuthError         401 after a fresh token, or 403 (permissions, RBAC scope)
    └── DeliveryUncertain     a send whose outcome is unknown
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from bot.log_privacy import scrub
from bot.mail.ports import DeliveryUncertain, MailAuthError, MailServerError

log = logging.getLogger(__name__)

IMMUTABLE_IDS = 'IdType="ImmutableId"'
BATCH_LIMIT = 20  # Graph's limit of requests in one $batch
RETRYABLE = frozenset({429, 503, 504})
SYNC_RESET_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})


class TokenSource(Protocol):
    def token(self) -> str: ...

    def forget(self) -> None: ...


class GraphError(MailServerError):
    """Graph answered with an error status."""

    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status, self.code = status, code


class GraphNotFound(GraphError):
    """404: the item (or mailbox) is not there."""


class GraphSyncReset(GraphError):
    """The delta token is no longer valid: the folder must be read again from the start."""


class ForeignLink(GraphError):
    """A link (nextLink/deltaLink) outside the configured Graph endpoint: never followed."""


@dataclass(frozen=True)
class BatchCall:
    """One request inside a ``$batch``; ``url`` is relative to the version root."""

    method: str
    url: str
    mailbox: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchResult:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        return _error_code(self.body)


class GraphClient:
    """Graph requests for one app registration; used from one thread at a time per mailbox."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        *,
        ca_bundle: Path | None = None,
        timeout: float = 60,
        max_concurrent: int = 4,
        max_attempts: int = 5,
        max_retry_after: float = 120,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._max_concurrent = max_concurrent
        self._max_attempts = max_attempts
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            verify = ssl.create_default_context()
            verify.load_verify_locations(cafile=str(ca_bundle))
        self._http = httpx.Client(verify=verify, timeout=timeout, follow_redirects=False)
        self._slots: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(max_concurrent)
        )
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"GraphClient({self.base_url})"

    def close(self) -> None:
        self._http.close()

    # -- single requests ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        mailbox: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        prefer: Sequence[str] = (),
        idempotent: bool = True,
    ) -> httpx.Response:
        """One request, retried as the module docstring says; returns a 2xx response."""
        result = self._retrying(
            f"Graph {method} {_describe_url(url)}",
            mailbox,
            idempotent,
            lambda: self._http.request(
                method,
                self._absolute(url),
                params=params,
                json=json_body,
                content=content,
                headers=self._headers(headers, prefer),
            ),
        )
        assert isinstance(result, httpx.Response)
        return result

    def get_json(
        self,
        url: str,
        *,
        mailbox: str,
        params: Mapping[str, str] | None = None,
        prefer: Sequence[str] = (),
    ) -> dict[str, Any]:
        response = self.request("GET", url, mailbox=mailbox, params=params, prefer=prefer)
        return _json(response)

    def download(self, url: str, *, mailbox: str, limit: int) -> bytes:
        """The body of a GET (e.g. a message's ``$value``), streamed, at most ``limit`` bytes."""
        result = self._retrying(
            f"Graph GET {_describe_url(url)}", mailbox, True, lambda: self._stream(url, limit)
        )
        assert isinstance(result, bytes)
        return result

    def _stream(self, url: str, limit: int) -> httpx.Response | bytes:
        with self._http.stream("GET", self._absolute(url), headers=self._headers()) as response:
            if response.status_code >= 300:
                response.read()
                return response
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise GraphError(f"message is over {limit} bytes; not fetched", 413)
                chunks.append(chunk)
            return b"".join(chunks)

    def upload(self, upload_url: str, *, mailbox: str, data: bytes, start: int, total: int) -> None:
        """One chunk to a pre-authenticated upload session URL (no Authorization header)."""
        if not upload_url.startswith("https://"):
            raise GraphError("upload session URL is not https; refused", 0)
        end = start + len(data) - 1
        self._retrying(
            "Graph upload session",
            mailbox,
            True,  # a chunk PUT again at the same range replaces itself
            lambda: self._http.put(
                upload_url,
                content=data,
                # No token: the URL is pre-authenticated, and must not be sent ours.
                headers={"Content-Range": f"bytes {start}-{end}/{total}", "Prefer": IMMUTABLE_IDS},
            ),
        )

    # -- batches ------------------------------------------------------------------------------

    def batch(self, calls: Sequence[BatchCall]) -> list[BatchResult]:
        """Run ``calls`` through ``$batch``; results in the same order.

        Throttled calls (429/503/504) and calls that failed only because an earlier call in
        their chain failed (424) are sent again, up to ``max_attempts`` rounds; whatever is
        still unanswered then comes back with its last status for the caller to handle.
        """
        results: list[BatchResult | None] = [None] * len(calls)
        pending = list(range(len(calls)))
        for round_number in range(1, self._max_attempts + 1):
            again: list[int] = []
            wait = 0.0
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start : start + BATCH_LIMIT]
                answers = self._batch_once([calls[i] for i in chunk])
                for index, answer in zip(chunk, answers, strict=True):
                    results[index] = answer
                    if answer.status in RETRYABLE or answer.status == 424:
                        again.append(index)
                        wait = max(wait, _retry_after(answer.headers) or 0.0)
            pending = again
            if not pending or round_number == self._max_attempts or wait > self._max_retry_after:
                break  # done, out of tries, or asked to wait longer than a pass should
            self._sleep(wait if wait > 0 else self._backoff(round_number))
        return [r if r is not None else BatchResult(0, None) for r in results]

    def _batch_once(self, calls: Sequence[BatchCall]) -> list[BatchResult]:
        requests: list[dict[str, Any]] = []
        lanes: dict[str, list[str]] = defaultdict(list)  # mailbox -> last id in each lane
        per_mailbox: dict[str, int] = defaultdict(int)
        for number, call in enumerate(calls, start=1):
            entry: dict[str, Any] = {
                "id": str(number),
                "method": call.method,
                "url": call.url,
                "headers": {"Prefer": IMMUTABLE_IDS, **call.headers},
            }
            if call.body is not None:
                entry["body"] = call.body
                entry["headers"].setdefault("Content-Type", "application/json")
            lane = per_mailbox[call.mailbox] % self._max_concurrent
            per_mailbox[call.mailbox] += 1
            chain = lanes[call.mailbox]
            if lane < len(chain):
                entry["dependsOn"] = [chain[lane]]
                chain[lane] = entry["id"]
            else:
                chain.append(entry["id"])
            requests.append(entry)
        response = self.request(
            "POST", "$batch", mailbox="$batch", json_body={"requests": requests}
        )
        answers = {str(r.get("id")): r for r in _json(response).get("responses", [])}
        results = []
        for entry in requests:
            answer = answers.get(entry["id"], {})
            results.append(
                BatchResult(
                    int(answer.get("status", 0)),
                    answer.get("body"),
                    {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()},
                )
            )
        return results

    # -- the machinery ------------------------------------------------------------------------

    def _absolute(self, url: str) -> str:
        if url.startswith("https://") or url.startswith("http://"):
            # nextLink/deltaLink come from the server: never send our token anywhere else.
            if not url.startswith(self.base_url + "/"):
                raise ForeignLink(f"refusing to follow a link outside {self.base_url}", 0)
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    def _headers(
        self, extra: Mapping[str, str] | None = None, prefer: Sequence[str] = ()
    ) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._tokens.token()}",
            "Prefer": ", ".join((IMMUTABLE_IDS, *prefer)),
            "Accept": "application/json",
        }
        headers.update(extra or {})
        return headers

    @contextlib.contextmanager
    def _slot(self, mailbox: str) -> Iterator[None]:
        slot = self._slots[mailbox.lower()]
        with slot:
            self.requests_made += 1
            yield

    def _retrying(
        self,
        what: str,
        mailbox: str,
        idempotent: bool,
        send: Callable[[], httpx.Response | bytes],
    ) -> httpx.Response | bytes:
        """Run ``send`` until it gives a 2xx answer, judging each failure as the module says."""
        refreshed = False
        last_error: MailServerError = GraphError(f"{what} failed", 0)
        for attempt in range(1, self._max_attempts + 1):
            delay: float | None = None
            try:
                with self._slot(mailbox):
                    result = send()
            except httpx.ConnectError as exc:  # nothing was sent: always safe to try again
                last_error = MailServerError(f"{what}: cannot connect: {exc}")
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if not idempotent:
                    raise DeliveryUncertain(
                        f"{what}: connection lost after sending ({type(exc).__name__})"
                    ) from exc
                last_error = MailServerError(f"{what}: {type(exc).__name__}")
            else:
                if isinstance(result, bytes) or result.status_code < 300:
                    return result
                status = result.status_code
                code, message = _error_of(result)
                if status == 401 and not refreshed:
                    refreshed = True  # msal's cached token may have been revoked: get a new one
                    self._tokens.forget()
                    continue
                if status in (401, 403):
                    raise MailAuthError(
                        f"{what}: access denied ({status} {code}): check the app's permissions "
                        f"and its RBAC scope for {mailbox}"
                    )
                if status not in RETRYABLE:
                    raise _final_error(what, status, code, message)
                if status == 504 and not idempotent:
                    raise DeliveryUncertain(f"{what}: gateway timeout; it may have gone")
                delay = _retry_after(result.headers)
                if delay is not None and delay > self._max_retry_after:
                    raise GraphError(
                        f"{what}: throttled ({status}); Graph asks to wait {delay:.0f} s, so "
                        "the next pass will try again",
                        status,
                        code,
                    )
                log.info("%s throttled (%d); retrying", scrub(what), status)
                last_error = GraphError(f"{what}: {status} {code}", status, code)
            if attempt < self._max_attempts:
                self._sleep(self._backoff(attempt) if delay is None else delay)
        raise last_error

    def _backoff(self, attempt: int) -> float:
        return min(30.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def _final_error(what: str, status: int, code: str, message: str) -> GraphError:
    if status == 404:
        return GraphNotFound(f"{what}: not found ({code})", status, code)
    if status == 410 or code.lower() in SYNC_RESET_CODES:
        return GraphSyncReset(f"{what}: sync state expired ({code})", status, code)
    return GraphError(f"{what}: {status} {code}: {message}", status, code)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from Graph; fall back to our own backoff


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GraphError("Graph answered with something that is not JSON", 0) from exc
    if not isinstance(body, dict):
        raise GraphError("Graph answered with JSON that is not an object", 0)
    return body


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "", ""
    return _error_code(body), _error_message(body)


def _error_code(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code", ""))
    return ""


def _error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:300]
    return ""


def _describe_url(url: str) -> str:
    """The endpoint without query string or message ids, for messages and logs."""
    return _MESSAGE_ID.sub("/messages/…", url.split("?", 1)[0])


_MESSAGE_ID = re.compile(r"/messages/(?!delta\b)[^/]+")
