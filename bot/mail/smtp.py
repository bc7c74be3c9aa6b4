"""SMTP adapter for :class:`bot.mail.ports.MailSender` (smtplib).

The message bytes are sent as they are.  4xx replies and network failures become
:class:`MailServerError` (retry later); 5xx replies become :class:`DeliveryRejected`.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence

from bot.mail.ports import DeliveryRejected, MailAuthError, MailServerError


class SmtpSender:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60,
    ) -> None:
        self._host, self._port, self._security = host, port, security
        self._username, self._password, self._timeout = username, password, timeout
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
            if self._username:
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
        smtp = self._open()
        try:
            options = ["BODY=8BITMIME"] if self._eight_bit and _is_8bit(message) else []
            refused = smtp.sendmail(envelope_from, list(recipients), message, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _classify(exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise DeliveryRejected(f"SMTP server refused the message: {exc.smtp_code}") from exc
            raise MailServerError(f"SMTP server deferred the message: {exc.smtp_code}") from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise MailServerError(f"SMTP send failed: {type(exc).__name__}: {exc}") from exc
        finally:
            try:
                smtp.quit()
            except Exception:  # the message is already accepted or refused; closing is best effort
                smtp.close()
        if refused:  # some recipients accepted, some refused: report, the accepted ones got it
            raise DeliveryRejected(f"SMTP server refused {len(refused)} recipient(s)")


def _is_8bit(message: bytes) -> bool:
    return any(b > 127 for b in message)


def _classify(recipients: dict[str, tuple[int, bytes]]) -> Exception:
    codes = [code for code, _ in recipients.values()]
    if codes and all(500 <= c < 600 for c in codes):
        return DeliveryRejected(f"SMTP server refused every recipient ({codes[0]})")
    return MailServerError(f"SMTP server deferred recipients ({codes[0] if codes else '?'})")
