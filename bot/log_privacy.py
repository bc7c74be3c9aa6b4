"""What the logs may say about an email address: ``[logging] addresses``.

The logs are read by whoever runs the service, and end up in journald, log shippers and bug
reports; the register's people are in dispute with their landlord.  So an address in a log
line is reduced to what an operator needs, as configured (full, partial, domain or none),
by the one function :func:`address`.  Log sites that name an address pass it through
:func:`address`; text that may *contain* addresses without the code knowing (an exception's
message: SMTP servers echo recipients, parsers echo header values) goes through
:func:`scrub`, and :class:`RedactingFilter` applies :func:`scrub` to every record a handler
emits, the traceback included, as a net under the log sites.

Message bodies, subjects, reasons and support needs are never logged at all: no setting
makes them appear.  Subjects are personal (customers write "my son's diagnosis" in them), so
log lines name a message by mailbox, folder and UID instead; a failure to handle one message
is logged with its stack but without the exception's message
(:func:`stack_without_messages`), which can quote the message, and which is kept in full with
the quarantine entry instead.
"""

from __future__ import annotations

import logging
import re
import traceback

from bot.config import AddressesInLogs

ELLIPSIS = "…"
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")

_mode = AddressesInLogs.PARTIAL


def configure(mode: AddressesInLogs | str) -> None:
    """Set how addresses are shown from now on (start-up reads ``[logging] addresses``)."""
    global _mode
    _mode = AddressesInLogs(mode)


def mode() -> AddressesInLogs:
    return _mode


def address(value: str | None, how: AddressesInLogs | None = None) -> str:
    """``value`` as the logs may show it: full ``jo@x.org``, partial ``j…@x.org``, domain
    ``…@x.org`` or none ``…``."""
    how = how or _mode
    if value is None:
        return ELLIPSIS
    if how is AddressesInLogs.FULL:
        return value
    local, at, domain = value.rpartition("@")
    if not at:
        local, domain = value, ""
    if how is AddressesInLogs.NONE or not domain:
        return ELLIPSIS
    if how is AddressesInLogs.DOMAIN:
        return f"{ELLIPSIS}@{domain}"
    return f"{local[:1]}{ELLIPSIS}@{domain}"


def scrub(text: str, how: AddressesInLogs | None = None) -> str:
    """``text`` with every address in it shown as :func:`address` would."""
    how = how or _mode
    if how is AddressesInLogs.FULL:
        return text
    return _ADDRESS.sub(lambda found: address(found.group(0), how), text)


def stack_without_messages(exc: BaseException) -> str:
    """Where ``exc`` (and what caused it) was raised, with the exception types but not their
    messages: for a failure about one message, whose exception may quote its headers or text.
    The whole reason is kept with the quarantined message, in the database, for the DMO."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__}\n{frames}")
        current = current.__cause__ or current.__context__
    return "caused by ".join(reversed(parts)).rstrip()


class RedactingFilter(logging.Filter):
    """Scrubs the addresses from a record's message and traceback before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _mode is AddressesInLogs.FULL:
            return True
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def install(handlers: list[logging.Handler] | None = None) -> None:
    """Put the filter on ``handlers`` (default: the root logger's) once each."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
