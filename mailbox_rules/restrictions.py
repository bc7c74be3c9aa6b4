"""The restrictions an arrangement can carry, and how they are written in the register.

Each value type has a ``parse`` that the register import uses (raising ``ValueError`` with a
message fit for the DMO) and a ``str`` that writes it back the same way, so export and import
round-trip.  All times are local to the organisation (Europe/London by default).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = frozenset({"email", "letter", "phone"})


class Period(enum.StrEnum):
    WEEK = "week"  # calendar week, Monday to Sunday
    MONTH = "month"  # calendar month

    def start(self, local: datetime) -> datetime:
        """The start of the period containing ``local`` (a local, aware datetime)."""
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self is Period.WEEK:
            return midnight - timedelta(days=local.weekday())
        return midnight.replace(day=1)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` per calendar ``period``, written ``3/week`` or ``10/month``."""

    count: int
    period: Period

    @classmethod
    def parse(cls, text: str) -> Limit:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(week|month)\s*", text.lower())
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"{text!r} is not a limit like 3/week or 10/month")
        return cls(int(match.group(1)), Period(match.group(2)))

    def __str__(self) -> str:
        return f"{self.count}/{self.period.value}"


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True)
class ContactHours:
    """When contact is allowed, e.g. ``Mon-Fri 09:00-17:00; Sat 10:00-12:00``."""

    windows: tuple[Window, ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> ContactHours:
        windows = []
        for part in (p.strip() for p in text.split(";")):
            if not part:
                continue
            match = re.fullmatch(
                r"([A-Za-z]{3})(?:\s*-\s*([A-Za-z]{3}))?\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})",
                part,
            )
            if not match:
                raise ValueError(f"{part!r} is not like 'Mon-Fri 09:00-17:00'")
            first, last = match.group(1).lower(), (match.group(2) or match.group(1)).lower()
            if first not in DAYS or last not in DAYS:
                raise ValueError(f"{part!r}: days are Mon, Tue, Wed, Thu, Fri, Sat, Sun")
            a, b = DAYS.index(first), DAYS.index(last)
            days = (
                frozenset(range(a, b + 1)) if a <= b else frozenset([*range(a, 7), *range(b + 1)])
            )
            start, end = _clock(match.group(3), part), _clock(match.group(4), part)
            if end <= start:
                raise ValueError(f"{part!r}: the end time must be after the start time")
            windows.append(Window(days, start, end))
        if not windows:
            raise ValueError("no contact hours given")
        return cls(tuple(windows), "; ".join(p.strip() for p in text.split(";") if p.strip()))

    def allows(self, local: datetime) -> bool:
        return any(w.contains(local) for w in self.windows)

    def __str__(self) -> str:
        return self.text


def parse_channels(text: str) -> frozenset[str]:
    channels = frozenset(c.strip().lower() for c in text.split(";") if c.strip())
    unknown = sorted(channels - CHANNELS)
    if unknown:
        raise ValueError(f"unknown channel(s) {', '.join(unknown)} (use email, letter, phone)")
    return channels


def parse_topics(text: str, known: Iterable[str]) -> frozenset[str]:
    topics = frozenset(t.strip().lower() for t in text.split(";") if t.strip())
    unknown = sorted(topics - {k.lower() for k in known})
    if unknown:
        raise ValueError(
            f"unknown topic(s) {', '.join(unknown)} (topics are defined in [topics] in the "
            "configuration)"
        )
    return topics


def parse_yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in ("yes", "y", "true", "1"):
        return True
    if value in ("", "no", "n", "false", "0"):
        return False
    raise ValueError(f"{text!r} is not yes or no")


def _clock(text: str, part: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ValueError(f"{part!r}: {text} is not a time of day")
    return time(23, 59, 59, 999999) if hours == 24 else time(hours, minutes)
