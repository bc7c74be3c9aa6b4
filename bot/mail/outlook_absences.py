"""Officers away according to Outlook: their automatic replies (Graph ``mailboxSettings``).

An officer whose ``automaticRepliesSetting`` is ``alwaysEnabled``, or ``scheduled`` with now
inside the window, is treated as absent, together with the absences recorded in the register,
so mail goes to the cover officer without anyone having to record the leave twice.

The settings are read for every SPOC and cover officer in the register, 20 mailboxes per
``$batch`` request, at most once every ``refresh_seconds``.  A mailbox that cannot be read (not
in the app's RBAC scope, say) is reported once in the log and counts as present; a failed
refresh keeps the last answer, so an outage of Graph never changes anyone's routing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.log_privacy import address as log_address
from bot.log_privacy import scrub
from bot.mail.graph_client import BatchCall, GraphClient
from bot.mail.ports import MailServerError

log = logging.getLogger(__name__)

# Windows time zone names Outlook may use (Graph usually answers in UTC): the common ones,
# from the Unicode CLDR mapping; anything else is read as UTC and logged.
WINDOWS_ZONES = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Arabian Standard Time": "Asia/Dubai",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
}


class OutlookAbsences:
    """An :class:`bot.mail.ports.AbsenceSource` reading Outlook's automatic replies."""

    def __init__(
        self,
        client: GraphClient,
        *,
        refresh_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._settings: dict[str, dict[str, Any]] = {}
        self._read_at: float | None = None
        self._unreadable: set[str] = set()

    def absent(self, officers: Collection[str], now: datetime) -> set[str]:
        """The officers whose automatic replies are on at ``now``."""
        wanted = {o.lower() for o in officers}
        stale = self._read_at is None or self._monotonic() - self._read_at >= self._refresh
        if stale or not wanted <= self._settings.keys() | self._unreadable:
            self._read(sorted(wanted))
        return {o for o in wanted if replies_on(self._settings.get(o), now)}

    def _read(self, officers: list[str]) -> None:
        calls = [
            BatchCall("GET", f"/users/{quote(o)}/mailboxSettings/automaticRepliesSetting", o)
            for o in officers
        ]
        try:
            results = self._client.batch(calls)
        except MailServerError as exc:
            log.warning(
                "cannot read officers' automatic replies (%s); keeping the last", scrub(str(exc))
            )
            return
        complete = True
        for officer, result in zip(officers, results, strict=True):
            if result.ok and isinstance(result.body, dict):
                self._settings[officer] = result.body
                self._unreadable.discard(officer)
            elif result.status in (0, 429, 503, 504):
                # Throttled or unavailable: the last answer stands (none yet: present).
                log.warning(
                    "automatic replies of %s not read this time (%d %s); trying again later",
                    log_address(officer),
                    result.status,
                    result.code,
                )
                complete = False
            elif officer not in self._unreadable:
                self._unreadable.add(officer)
                log.warning(
                    "cannot read the automatic replies of %s (%d %s); check the address, and "
                    "that the mailbox is in the app's scope (MailboxSettings.Read)",
                    log_address(officer),
                    result.status,
                    result.code,
                )
        # Anything not read is tried again on the next pass, not a whole interval later.
        self._read_at = self._monotonic() if complete else None


def replies_on(setting: dict[str, Any] | None, now: datetime) -> bool:
    """Whether an ``automaticRepliesSetting`` says the officer is away at ``now``."""
    if not setting:
        return False
    status = str(setting.get("status", "")).lower()
    if status == "alwaysenabled":
        return True
    if status != "scheduled":
        return False
    start = _when(setting.get("scheduledStartDateTime"))
    end = _when(setting.get("scheduledEndDateTime"))
    return start is not None and end is not None and start <= now < end


def _when(value: Any) -> datetime | None:
    """A Graph ``dateTimeTimeZone`` as an aware datetime."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    text = value["dateTime"]
    if "." in text:  # Graph gives seven fractional digits; Python reads six
        head, _, fraction = text.partition(".")
        text = f"{head}.{fraction[:6]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    zone_name = str(value.get("timeZone") or "UTC")
    try:
        zone = ZoneInfo(WINDOWS_ZONES.get(zone_name, zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r in automatic replies; read as UTC", zone_name)
        zone = ZoneInfo("UTC")
    return moment.replace(tzinfo=zone).astimezone(UTC) if moment.tzinfo is None else moment
