"""Faults tests inject: error answers for matching requests, and lost send responses."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

# Error codes for an injected status when the test names none.  Graph's codes vary by
# workload; these are the ones Outlook-backed endpoints are seen to use (429 is the
# MailboxConcurrency/ApplicationThrottled family), otherwise a plain HTTP-derived name.
DEFAULT_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "ErrorAccessDenied",
    404: "ErrorItemNotFound",
    409: "ErrorIrresolvableConflict",
    412: "PreconditionFailed",
    413: "RequestEntityTooLarge",
    429: "ApplicationThrottled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class FaultRule:
    method: str  # upper-case, or "*" for any method
    pattern: re.Pattern[str]
    status: int
    remaining: int
    retry_after: float | None
    code: str | None

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and self.pattern.search(path) is not None

    @property
    def error_code(self) -> str:
        return self.code or DEFAULT_CODES.get(self.status, "UnknownError")


class FaultPlan:
    """Pending faults; each rule answers the next `times` requests that match it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._drops = 0
        self._answer_drops: list[list[Any]] = []  # [method, pattern, times left]

    def add(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int,
        retry_after: float | None,
        code: str | None,
    ) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        rule = FaultRule(
            method=method.upper(),
            pattern=re.compile(path_regex),
            status=status,
            remaining=times,
            retry_after=retry_after,
            code=code,
        )
        with self._lock:
            self._rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule matching the request, used up by one; None when none matches."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def add_answer_drop(self, method: str, path_regex: str, times: int) -> None:
        """The next `times` matching requests are handled in full, then lose their answer."""
        with self._lock:
            self._answer_drops.append([method.upper(), re.compile(path_regex), times])

    def take_answer_drop(self, method: str, path: str) -> bool:
        with self._lock:
            for rule in self._answer_drops:
                if rule[0] in (method, "*") and rule[1].search(path):
                    rule[2] -= 1
                    if rule[2] <= 0:
                        self._answer_drops.remove(rule)
                    return True
        return False

    def add_drops(self, times: int) -> None:
        with self._lock:
            self._drops += times

    def take_drop(self) -> bool:
        """Whether this accepted send should lose its response (uses one up)."""
        with self._lock:
            if self._drops <= 0:
                return False
            self._drops -= 1
            return True
