"""Handlers for mailboxSettings and its automaticRepliesSetting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .context import Call
from .store import AutomaticReplies
from .wire import Response, as_utc, json_response


def automatic_replies(call: Call) -> Response:
    """GET /users/{u}/mailboxSettings/automaticRepliesSetting."""
    with call.tenant.lock:
        settings = call.mailbox.automatic_replies
    payload = {
        "@odata.context": call.context.metadata(
            f"users('{call.mailbox.address}')/mailboxSettings/automaticRepliesSetting"
        ),
        **render_automatic_replies(settings),
    }
    return json_response(200, payload)


def mailbox_settings(call: Call) -> Response:
    """GET /users/{u}/mailboxSettings (the parts the fake knows; UTC, en-GB)."""
    with call.tenant.lock:
        settings = call.mailbox.automatic_replies
    payload = {
        "@odata.context": call.context.metadata(f"users('{call.mailbox.address}')/mailboxSettings"),
        "archiveFolder": call.mailbox.folders["inbox"].id,
        "timeZone": "UTC",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        "dateFormat": "dd/MM/yyyy",
        "timeFormat": "HH:mm",
        "userPurpose": "user",
        "automaticRepliesSetting": render_automatic_replies(settings),
        "language": {"locale": "en-GB", "displayName": "English (United Kingdom)"},
    }
    return json_response(200, payload)


def render_automatic_replies(settings: AutomaticReplies) -> dict[str, Any]:
    # Exchange keeps (and returns) a schedule even when replies are disabled; with none
    # ever set it shows a window starting at the current hour, which is mirrored here.
    start = settings.start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end = settings.end or start + timedelta(days=1)
    return {
        "status": settings.status,
        "externalAudience": settings.external_audience,
        "scheduledStartDateTime": _date_time_zone(start),
        "scheduledEndDateTime": _date_time_zone(end),
        "internalReplyMessage": settings.internal_message,
        "externalReplyMessage": settings.external_message,
    }


def _date_time_zone(moment: datetime) -> dict[str, str]:
    """Graph's dateTimeTimeZone: seven fractional digits, zone named separately."""
    utc = as_utc(moment)
    return {
        "dateTime": utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0",
        "timeZone": "UTC",
    }
