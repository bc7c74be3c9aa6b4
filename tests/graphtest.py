"""Helpers for tests of the Microsoft Graph backend against the local Graph test server.

:func:`graph_org` starts a :class:`tests.graphserver.GraphTestServer` (HTTPS on loopback, a
token endpoint that checks the app's signed client assertion, and Graph's mail endpoints),
writes a spocbot configuration pointing at it with a freshly made app certificate, and
imports a one-customer register.  Tests then drive the real ``spocbot`` command, so the code
path is the production one: msal for the token, httpx for Graph.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.graphserver import GraphTestServer
from tests.mailtest import REPO, SPOCBOT

TENANT, CLIENT = "tenant-7f3c", "app-2b91"
DOMAIN = "homes.example"


def app_certificate(directory: Path) -> tuple[Path, bytes]:
    """A new key pair and self-signed certificate, as the admin would upload it to Entra:
    the PEM file spocbot reads (key + certificate) and the certificate alone."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spocbot test app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path = directory / "spocbot-app.pem"
    path.write_bytes(key_pem + cert_pem)
    path.chmod(0o600)
    return path, cert_pem


@dataclass
class GraphOrg:
    """An organisation on the local Graph server, with its configuration and register."""

    server: GraphTestServer
    root: Path
    config: Path
    info: str
    spoc: str
    cover: str
    staff: str
    bot: str
    dmo: str
    customer: str

    @property
    def watched(self) -> list[str]:
        return [self.info, self.spoc, self.cover, self.staff]

    def spocbot(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k != "SPOCBOT_CRASH_AT"}
        result = subprocess.run(
            [*SPOCBOT, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            env={**base, **(env or {})},
            cwd=REPO,
            timeout=180,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"spocbot {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def deliver(self, raw: bytes, mailbox: str, folder: str = "inbox") -> str:
        return self.server.deliver(mailbox, raw, folder=folder)

    def forwards(self, address: str) -> list[bytes]:
        """What spocbot sent to ``address``: messages in its inbox carrying X-Spocbot-Kind."""
        return [
            m.raw
            for m in self.server.messages(address, "inbox")
            if b"\nX-Spocbot-Kind:" in m.raw.partition(b"\r\n\r\n")[0].replace(b"\r\n", b"\n")
        ]


def customer_message(
    sender: str, to: str, subject: str = "Repair request", body: str = "", cc: str | None = None
) -> bytes:
    lines = [
        f"From: Margaret Ellis <{sender}>",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        "Date: Thu, 03 Dec 2026 10:00:00 +0000",
        f"Message-ID: <{uuid.uuid4().hex}@customer.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body or "The kitchen tap is still leaking. Please send someone.",
        "",
    ]
    return "\r\n".join(lines).encode()


def header(raw: bytes, name: str) -> str:
    return str(message_from_bytes(raw, policy=default_policy)[name] or "")


@contextmanager
def graph_org(root: Path, *, extra_config: str = "", page_size: int = 5) -> Iterator[GraphOrg]:
    pem, cert = app_certificate(root)
    with GraphTestServer(tenant_id=TENANT, client_id=CLIENT) as server:
        server.register_certificate(cert)
        org = GraphOrg(
            server=server,
            root=root,
            config=root / "spocbot.toml",
            info=f"housing@{DOMAIN}",
            spoc=f"amelia.hart@{DOMAIN}",
            cover=f"chloe.price@{DOMAIN}",
            staff=f"repairs@{DOMAIN}",
            bot=f"spocbot@{DOMAIN}",
            dmo=f"dmo@{DOMAIN}",
            customer="margaret.ellis@customer.example",
        )
        for address in (*org.watched, org.bot, org.dmo):
            server.add_mailbox(address)
        mailboxes = "".join(
            f'\n[[mailboxes]]\naddress = "{address}"\nrole = "{role}"\n'
            for address, role in [
                (org.info, "information"),
                (org.spoc, "spoc"),
                (org.cover, "spoc"),
                (org.staff, "staff"),
                (org.bot, "bot"),
            ]
        )
        org.config.write_text(
            textwrap.dedent(f"""
                [organisation]
                name = "Northvale Homes"
                dmo_email = "{org.dmo}"
                bot_address = "{org.bot}"
                staff_domains = ["{DOMAIN}"]

                [storage]
                database_url = "sqlite:///state/spocbot.db"
                evidence_dir = "state/evidence"

                [backend]
                kind = "graph"

                [graph]
                tenant_id = "{TENANT}"
                client_id = "{CLIENT}"
                certificate_path = "{pem}"
                authority = "{server.authority}"
                base_url = "{server.base_url}"
                resource = "https://graph.microsoft.com"
                validate_authority = false
                ca_bundle = "{server.ca_path}"
                page_size = {page_size}
                max_retry_after_seconds = 5
                automatic_replies_refresh_seconds = 0

                [watch]
                first_sync_days = 30
                confirm_seconds = 3
                retry_initial_seconds = 0.2
                retry_max_seconds = 1

                [letters]
                emergency_phone = "0300 000 0000"
            """)
            + extra_config
            + mailboxes
        )
        (root / "register.csv").write_text(
            "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,"
            "cover_email,restricted_to,status,start_date,review_date\n"
            f"NV-1001,Margaret Ellis,{org.customer},Amelia Hart,{org.spoc},Chloe Price,"
            f"{org.cover},,active,2026-01-01,2027-01-01\n"
        )
        org.spocbot("register", "import", str(root / "register.csv"))
        yield org
