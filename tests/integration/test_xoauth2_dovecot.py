"""IMAP and SMTP with app-only OAuth (SASL XOAUTH2), as Exchange Online asks: the real msal
client gets a token from the local Entra ID stand-in, and the real Dovecot (IMAP) and Postfix
submission (SMTP, through Dovecot's auth service) check it (tests/servers/check-xoauth2-token).
No mailbox password is configured anywhere."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.mail.forward import attached_original
from tests.graphserver import GraphTestServer
from tests.graphtest import CLIENT, TENANT, app_certificate
from tests.mailtest import (
    HOST,
    IMAP_PORT,
    Org,
    deliver_and_wait,
    make_org,
    message,
    require_servers,
    wait_for_count,
)

SUBMISSION_PORT = 10587
STATE = Path(os.environ.get("SPOCBOT_TEST_STATE", "/var/tmp/spocbot-test"))


@pytest.fixture
def oauth_org(tmp_path: Path) -> Iterator[tuple[Org, GraphTestServer]]:
    require_servers()
    key = bytes.fromhex((STATE / "oauth" / "xoauth2.key").read_text().strip())
    pem, cert = app_certificate(tmp_path)
    with GraphTestServer(TENANT, CLIENT, outlook_signing_key=key) as idp:
        idp.register_certificate(cert)
        org = make_org(tmp_path)
        text = org.config.read_text()
        text = text.replace('password_env = "SPOCBOT_TEST_PW"\n', "")
        text = text.replace(
            f'[imap]\nhost = "{HOST}"\nport = {IMAP_PORT}\nsecurity = "none"\n',
            f'[imap]\nhost = "{HOST}"\nport = {IMAP_PORT}\nsecurity = "none"\nauth = "xoauth2"\n',
        )
        text = text.replace(
            '[smtp]\nhost = "127.0.0.1"\nport = 10025\nsecurity = "none"\n',
            f'[smtp]\nhost = "{HOST}"\nport = {SUBMISSION_PORT}\nsecurity = "none"\n'
            f'auth = "xoauth2"\nusername = "{org.bot}"\n',
        )
        text += textwrap.dedent(f"""
            [graph]
            tenant_id = "{TENANT}"
            client_id = "{CLIENT}"
            certificate_path = "{pem}"
            authority = "{idp.authority}"
            validate_authority = false
            ca_bundle = "{idp.ca_path}"
        """)
        assert 'auth = "xoauth2"' in text and "SPOCBOT_TEST_PW" not in text
        org.config.write_text(text)
        org.spocbot("register", "import", str(tmp_path / "register.csv"))
        yield org, idp


def test_a_breach_is_read_and_forwarded_with_app_only_tokens(
    oauth_org: tuple[Org, GraphTestServer],
) -> None:
    org, idp = oauth_org
    raw = message(org.customer, org.info)
    deliver_and_wait(raw, [org.info])

    org.spocbot("watch", "--once", env={"SPOCBOT_TEST_PW": ""})

    [forward] = wait_for_count(org.spoc, 1)
    [delivered] = wait_for_count(org.info, 1)  # as Dovecot stored it (with Return-Path)
    assert delivered == attached_original(forward)
    assert 1 <= idp.token_requests  # msal fetched it (and cached it for every mailbox)


def test_doctor_checks_the_outlook_token_and_its_roles(
    oauth_org: tuple[Org, GraphTestServer],
) -> None:
    org, idp = oauth_org
    good = org.spocbot("doctor")
    idp.outlook_roles = ["IMAP.AccessAsApp"]
    bad = org.spocbot("doctor", check=False)

    assert "All checks passed." in good.stdout
    assert 1 == bad.returncode
    assert "without SMTP.SendAsApp" in bad.stdout


def test_a_token_without_the_imap_role_is_refused_by_the_server(
    oauth_org: tuple[Org, GraphTestServer],
) -> None:
    org, idp = oauth_org
    idp.outlook_roles = ["SMTP.SendAsApp"]

    result = org.spocbot("watch", "--once", check=False)

    assert 1 == result.returncode
    assert "IMAP login refused" in result.stderr
