"""Helpers for tests that use the real Dovecot (IMAP) and Postfix (SMTP) servers on loopback.

The servers come from ``tests/servers/start-servers.sh`` (``make test`` starts them as root).
Any address can log in with the password ``testpass``, so each test uses fresh addresses and
never sees another test's mail.  When the servers are not running these tests are skipped —
unless ``SPOCBOT_REQUIRE_SERVERS=1`` (set by ``make test`` as root and by CI), when they fail.
"""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import imapclient
import pytest

IMAP_PORT, SMTP_PORT, HOST = 10143, 10025, "127.0.0.1"
PASSWORD = "testpass"
REPO = Path(__file__).resolve().parents[1]
SPOCBOT = [sys.executable, "-m", "bot.cli"]


def servers_available() -> bool:
    for port in (IMAP_PORT, SMTP_PORT):
        try:
            socket.create_connection((HOST, port), timeout=2).close()
        except OSError:
            return False
    return True


def require_servers() -> None:
    if servers_available():
        return
    message = (
        "Dovecot/Postfix test servers are not running on 127.0.0.1:10143/10025 "
        "(start them with `make servers` as root)"
    )
    if os.environ.get("SPOCBOT_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def imap(address: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(HOST, port=IMAP_PORT, ssl=False, timeout=30)
    client.normalise_times = False
    client.login(address, PASSWORD)
    return client


def smtp_send(raw: bytes, to: list[str], mail_from: str = "sender@outside.example") -> None:
    with smtplib.SMTP(HOST, SMTP_PORT, timeout=30) as smtp:
        options = ["BODY=8BITMIME"] if any(b > 127 for b in raw) else []
        smtp.sendmail(mail_from, to, raw, mail_options=options)


def inbox(address: str, criteria: list[str] | None = None) -> dict[int, dict[bytes, object]]:
    """Every message in the INBOX (read-only, so nothing about it changes)."""
    client = imap(address)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(criteria or ["ALL"])
        if not uids:
            return {}
        return client.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
    finally:
        client.logout()


def wait_for_count(address: str, count: int, timeout: float = 15) -> list[bytes]:
    """Wait until ``address`` has at least ``count`` messages; return their bytes in UID order."""
    deadline = time.monotonic() + timeout
    while True:
        messages = inbox(address)
        if len(messages) >= count or time.monotonic() > deadline:
            return [messages[uid][b"BODY[]"] for uid in sorted(messages)]  # type: ignore[misc]
        time.sleep(0.2)


def deliver_and_wait(raw: bytes, to: list[str]) -> None:
    before = {address: len(inbox(address)) for address in to}
    smtp_send(raw, to)
    for address in to:
        wait_for_count(address, before[address] + 1)


def message(
    sender: str, to: str, subject: str = "Repair request", cc: str | None = None, body: str = ""
) -> bytes:
    unique = uuid.uuid4().hex
    lines = [
        f"From: Test Customer <{sender}>",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        "Date: Thu, 03 Dec 2026 10:00:00 +0000",
        f"Message-ID: <{unique}@customer.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body or "The kitchen tap is still leaking. Please send someone.",
        "",
    ]
    return "\r\n".join(lines).encode()


@dataclass
class Org:
    """A fresh organisation on the test servers: addresses, a config file and a register."""

    root: Path
    tag: str
    info: str
    spoc: str
    cover: str
    staff: str
    bot: str
    dmo: str
    customer: str
    config: Path

    @property
    def watched(self) -> list[str]:
        return [self.info, self.spoc, self.cover, self.staff]

    def spocbot(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k != "SPOCBOT_CRASH_AT"}
        full_env = {**base, "SPOCBOT_TEST_PW": PASSWORD, **(env or {})}
        result = subprocess.run(
            [*SPOCBOT, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=REPO,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"spocbot {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result


BASE_LETTERS = '\n[letters]\nemergency_phone = "0300 000 0000"\n'
"""What every test organisation's letters need (doctor checks it); a test that configures
letters itself replaces it."""


def make_org(
    root: Path, *, imap_port: int = IMAP_PORT, poll_seconds: float = 1, confirm_seconds: float = 3
) -> Org:
    tag = uuid.uuid4().hex[:10]
    d = "test.example"
    org = Org(
        root=root,
        tag=tag,
        info=f"info-{tag}@{d}",
        spoc=f"spoc-{tag}@{d}",
        cover=f"cover-{tag}@{d}",
        staff=f"staff-{tag}@{d}",
        bot=f"bot-{tag}@{d}",
        dmo=f"dmo-{tag}@{d}",
        customer=f"customer-{tag}@customer.example",
        config=root / "spocbot.toml",
    )
    mailboxes = "".join(
        textwrap.dedent(f"""
            [[mailboxes]]
            address = "{address}"
            role = "{role}"
            password_env = "SPOCBOT_TEST_PW"
        """)
        for address, role in [
            (org.info, "information"),
            (org.spoc, "spoc"),
            (org.cover, "staff"),
            (org.staff, "staff"),
            (org.bot, "bot"),
        ]
    )
    org.config.write_text(
        textwrap.dedent(f"""
            [organisation]
            name = "Test Homes"
            dmo_email = "{org.dmo}"
            bot_address = "{org.bot}"

            [storage]
            database_url = "sqlite:///state/spocbot.db"
            evidence_dir = "state/evidence"

            [backend]
            kind = "imap"

            [imap]
            host = "{HOST}"
            port = {imap_port}
            security = "none"
            timeout_seconds = 20

            [smtp]
            host = "{HOST}"
            port = {SMTP_PORT}
            security = "none"

            [watch]
            poll_seconds = {poll_seconds}
            confirm_seconds = {confirm_seconds}
            retry_initial_seconds = 0.5
            retry_max_seconds = 2
        """)
        + BASE_LETTERS
        + mailboxes
    )
    (root / "register.csv").write_text(
        "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
        "restricted_to,status,start_date,review_date\n"
        f"T-1,Test Customer,{org.customer},Sam Spoc,{org.spoc},Chris Cover,{org.cover},,active,"
        "2026-01-01,2027-01-01\n"
    )
    return org
