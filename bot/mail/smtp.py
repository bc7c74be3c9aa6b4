"""SMTP adapter for :class:`bot.mail.ports.MailSender` (smtplib).

The message bytes are sent as they are.  Login is by password or by SASL XOAUTH2 with an
app-only token: Exchange Online is switching basic authentication off for SMTP client
submission, so Microsoft 365 tenants need the token.  4xx replies and network failures become
:class:`MailServerError` (retry later); 5xx replies become :class:`DeliveryRejected`.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Callable, Sequence

from bot.mail.ports import DeliveryRejected, DeliveryUncertain, MailAuthError, MailServerError


class SmtpSender:
    keeps_attached_messages = True  # SMTP relays pass message/rfc822 parts on untouched

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str | None = None,
        password: str | None = None,
        oauth_token: Callable[[], str] | None = None,
        timeout: float = 60,
    ) -> None:
        self._host, self._port, self._security = host, port, security
        self._username, self._password, self._timeout = username, password, timeout
        self._oauth_token = oauth_token
        self._eight_bit: bool | None = None

    def __repr__(self) -> str:
        return f"SmtpSender({self._host}:{self._port})"

    def _open(self) -> smtplib.SMTP:
        try:
            if self._security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self._host,
                    self._port,
                    timeout=self._timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
            smtp.ehlo()
            if self._security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self._oauth_token is not None and self._username:
                token = self._oauth_token()
                user = self._username
                # SASL XOAUTH2 (Exchange Online: SMTP.SendAsApp), sent as the initial response
                smtp.auth(
                    "XOAUTH2",
                    lambda challenge=None: f"user={user}\x01auth=Bearer {token}\x01\x01",
                )
            elif self._username:
                smtp.login(self._username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise MailAuthError(f"SMTP login refused at {self._host}:{self._port}") from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise MailServerError(
                f"cannot reach SMTP server {self._host}:{self._port}: {type(exc).__name__}: {exc}"
            ) from exc
        self._eight_bit = smtp.has_extn("8bitmime")
        return smtp

    def supports_8bit(self) -> bool:
        if self._eight_bit is None:
            smtp = self._open()
            smtp.quit()
        return bool(self._eight_bit)

    def send(self, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
        """Submit ``message`` to every recipient in one SMTP transaction, or to none.

        If the server refuses any recipient, the transaction is abandoned before DATA, so a
        copy in the bot's mailbox always means the officer's copy was accepted too.
        """
        smtp = self._open()
        try:
            options = ["BODY=8BITMIME"] if self._eight_bit and _is_8bit(message) else []
            code, _ = smtp.mail(envelope_from, options)
            if code != 250:
                raise _by_code(code, "sender")
            refused = {}
            for recipient in recipients:
                code, _ = smtp.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = code
            if refused:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    smtp.rset()  # the refusal is what matters; a failed reset changes nothing
                raise _by_codes(refused)
            try:
                code, _ = smtp.data(message)
            except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was sent
                raise _by_code(exc.smtp_code, "message") from exc
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                raise DeliveryUncertain(
                    f"connection lost while sending the message: {type(exc).__name__}"
                ) from exc
            if code != 250:  # data() returns the server's verdict on the message, not raises
                raise _by_code(code, "message")
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, "command") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailServerError(f"SMTP send failed: {type(exc).__name__}: {exc}") from exc
        finally:
            try:
                smtp.quit()
            except Exception:  # the outcome is already known; closing is best effort
                smtp.close()


def _is_8bit(message: bytes) -> bool:
    return any(b > 127 for b in message)


def _by_code(code: int, what: str) -> Exception:
    if 500 <= code < 600:
        return DeliveryRejected(f"SMTP server refused the {what} ({code})")
    return MailServerError(f"SMTP server deferred the {what} ({code})")


def _by_codes(refused: dict[str, int]) -> Exception:
    """Permanent only if every refusal was permanent; any temporary one means retry later."""
    codes = sorted(set(refused.values()))
    if all(500 <= c < 600 for c in codes):
        return DeliveryRejected(f"SMTP server refused {len(refused)} recipient(s) ({codes})")
    return MailServerError(f"SMTP server deferred {len(refused)} recipient(s) ({codes}); not sent")
