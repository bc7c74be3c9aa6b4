"""The SMTP adapter against a real SMTP server on loopback (aiosmtpd) that misbehaves on cue.

All or nothing: when any recipient is refused, nothing is sent, so a copy in the bot's mailbox
always means the officer's copy was accepted.  A connection lost after the message data was
sent is "uncertain", never "failed, send again".
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bot.mail.ports import DeliveryRejected, DeliveryUncertain, MailServerError
from bot.mail.smtp import SmtpSender

MESSAGE = b"From: bot@homes.example\r\nTo: spoc@homes.example\r\nSubject: t\r\n\r\nbody\r\n"


class Handler:
    def __init__(self) -> None:
        self.refuse: dict[str, str] = {}
        self.drop_after_data = False
        self.data_reply = "250 queued"
        self.received: list[tuple[str, list[str]]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.drop_after_data:
            server.transport.close()
            return "250 never seen"
        return self.data_reply


@pytest.fixture
def smtp() -> Iterator[tuple[Handler, SmtpSender]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, SmtpSender(host="127.0.0.1", port=port, security="none", timeout=10)
    finally:
        controller.stop()


def test_both_recipients_get_one_transaction(smtp: tuple[Handler, SmtpSender]) -> None:
    handler, sender = smtp

    sender.send("bot@homes.example", ["spoc@homes.example", "bot@homes.example"], MESSAGE)

    assert [("bot@homes.example", ["spoc@homes.example", "bot@homes.example"])] == handler.received


def test_temporary_refusal_of_the_officer_sends_nothing_and_is_retryable(
    smtp: tuple[Handler, SmtpSender],
) -> None:
    handler, sender = smtp
    handler.refuse["spoc@homes.example"] = "450 4.2.0 mailbox busy"

    with pytest.raises(MailServerError) as caught:
        sender.send("bot@homes.example", ["spoc@homes.example", "bot@homes.example"], MESSAGE)

    assert not isinstance(caught.value, DeliveryRejected)
    assert [] == handler.received  # the bot's copy was not sent either


def test_permanent_refusal_of_every_refused_recipient_is_rejected(
    smtp: tuple[Handler, SmtpSender],
) -> None:
    handler, sender = smtp
    handler.refuse["spoc@homes.example"] = "550 5.1.1 no such user"

    with pytest.raises(DeliveryRejected):
        sender.send("bot@homes.example", ["spoc@homes.example", "bot@homes.example"], MESSAGE)
    assert [] == handler.received


def test_connection_lost_after_data_is_uncertain(smtp: tuple[Handler, SmtpSender]) -> None:
    handler, sender = smtp
    handler.drop_after_data = True

    with pytest.raises(DeliveryUncertain):
        sender.send("bot@homes.example", ["spoc@homes.example"], MESSAGE)
    assert 1 == len(handler.received)


@pytest.mark.parametrize(
    ("reply", "error"),
    [("451 4.3.0 try later", MailServerError), ("554 5.6.0 rejected", DeliveryRejected)],
)
def test_refusal_of_the_message_after_data_is_not_success(
    smtp: tuple[Handler, SmtpSender], reply: str, error: type[Exception]
) -> None:
    handler, sender = smtp
    handler.data_reply = reply

    with pytest.raises(error):
        sender.send("bot@homes.example", ["spoc@homes.example"], MESSAGE)
