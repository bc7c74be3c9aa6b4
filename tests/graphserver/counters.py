"""What tests count: every request served, and how many ran at once per mailbox.

`ConcurrencyTracker` is also the throttle.  Exchange Online lets an app have at most four
requests in flight against one mailbox ("MailboxConcurrency"); the excess is answered 429
at once.  Peak concurrency counts every request that arrived while others were in flight,
throttled ones included, because that is what a test of a client's own limit must see.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

MAILBOX_CONCURRENCY_LIMIT = 4


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    mailbox: str | None  # lower-case {user} of a /v1.0/users/{user}/... path
    status: int
    immutable_id_preferred: bool  # the request had Prefer: IdType="ImmutableId"
    in_batch: bool


class RequestLog:
    """A thread-safe list of served Graph/upload requests and the token endpoint's count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._token_requests = 0

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def count_token_request(self) -> None:
        with self._lock:
            self._token_requests += 1

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._token_requests = 0


@dataclass(frozen=True)
class Slot:
    """One request's place in its mailbox's concurrency count."""

    mailbox: str | None
    admitted: bool


class ConcurrencyTracker:
    """Counts in-flight requests per mailbox and admits at most `limit` of them."""

    def __init__(self, limit: int = MAILBOX_CONCURRENCY_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._peak: dict[str, int] = {}

    def enter(self, mailbox: str | None) -> Slot:
        if mailbox is None:
            return Slot(None, admitted=True)
        with self._lock:
            busy = self._in_flight.get(mailbox, 0)
            self._in_flight[mailbox] = busy + 1
            self._peak[mailbox] = max(self._peak.get(mailbox, 0), busy + 1)
            return Slot(mailbox, admitted=busy < self.limit)

    def leave(self, slot: Slot) -> None:
        if slot.mailbox is None:
            return
        with self._lock:
            self._in_flight[slot.mailbox] -= 1

    @property
    def peak(self) -> dict[str, int]:
        with self._lock:
            return dict(self._peak)

    def reset_peak(self) -> None:
        with self._lock:
            # Requests still in flight keep counting towards the new peak.
            self._peak = {mailbox: n for mailbox, n in self._in_flight.items() if n}
