"""The local Graph/Entra stand-in (tests/graphserver), exercised with plain httpx and msal.

These pin the behaviour spocbot's Graph backend tests rely on: real token issuance and
client-assertion checks, delta rounds, byte-exact MIME, sending, drafts with upload
sessions, $batch, throttling, injected faults, counters and a clean shutdown.
"""

from __future__ import annotations

import base64
import email
import email.policy
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import jwt
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.graphserver import GraphTestServer

TENANT = "tenant-1"
CLIENT_ID = "app-1"
SECRET = "app-secret-value"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
OUTLOOK_SCOPE = "https://outlook.office365.com/.default"
INFO = "info@homes.example"
SPOC = "spoc@homes.example"
BOT = "bot@homes.example"
IMMUTABLE = 'IdType="ImmutableId"'


# --- credentials and fixtures -------------------------------------------------------------


@dataclass(frozen=True)
class AppCredential:
    key_pem: str
    cert_pem: str


def make_credential(common_name: str) -> AppCredential:
    """An RSA key and a self-signed certificate, as an app registration would hold."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    return AppCredential(key_pem.decode(), cert_pem.decode())


@pytest.fixture(scope="module")
def credential() -> AppCredential:
    return make_credential("spocbot")


@pytest.fixture(scope="module")
def stranger() -> AppCredential:
    return make_credential("someone else")


@pytest.fixture
def server(credential: AppCredential, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphTestServer]:
    # requests (msal's HTTP client) lets these variables override its verify= setting.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with GraphTestServer(tenant_id=TENANT, client_id=CLIENT_ID) as graph_server:
        graph_server.register_certificate(credential.cert_pem.encode())
        graph_server.register_secret(SECRET)
        for address in (INFO, SPOC, BOT):
            graph_server.add_mailbox(address)
        yield graph_server
        assert [] == graph_server.internal_errors


def token_response(server: GraphTestServer, scope: str = GRAPH_SCOPE) -> httpx.Response:
    with httpx.Client(verify=server.client_ssl_context()) as client:
        return client.post(
            f"{server.authority}/{TENANT}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "scope": scope,
            },
        )


def fetch_token(server: GraphTestServer, scope: str = GRAPH_SCOPE) -> str:
    response = token_response(server, scope)
    assert 200 == response.status_code, response.text
    return str(response.json()["access_token"])


@contextmanager
def graph_client(server: GraphTestServer, token: str | None = None) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {token or fetch_token(server)}"}
    with httpx.Client(
        base_url=server.base_url,
        verify=server.client_ssl_context(),
        headers=headers,
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
def graph(server: GraphTestServer) -> Iterator[httpx.Client]:
    with graph_client(server) as client:
        yield client


@contextmanager
def msal_app(
    server: GraphTestServer, client_credential: Any
) -> Iterator[msal.ConfidentialClientApplication]:
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        authority=f"{server.authority}/{TENANT}",
        client_credential=client_credential,
        verify=str(server.ca_path),
        instance_discovery=False,
    )
    try:
        yield app
    finally:
        app.http_client.close()  # its requests session keeps a keep-alive connection


# --- mail ---------------------------------------------------------------------------------


def plain_mail(
    subject: str = "Boiler",
    *,
    sender: str = "tenant@example.org",
    to: str = INFO,
    body: str = "The boiler is broken.",
    message_id: str | None = None,
) -> bytes:
    mid = message_id or f"<{abs(hash((subject, body, time.monotonic_ns())))}@example.org>"
    return (
        f"From: A Tenant <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {mid}\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def mail_with_attachment(sender: str, to: str, data: bytes, *, cc: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = "Your tenancy agreement"
    message["Message-ID"] = "<agreement.1@homes.example>"
    message.set_content("Please find the agreement attached.")
    message.add_attachment(data, maintype="application", subtype="pdf", filename="agreement.pdf")
    return message.as_bytes(policy=email.policy.SMTP)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def attachment_parts(raw: bytes) -> list[tuple[str, bytes]]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return [
        (str(part.get_filename()), part.get_payload(decode=True))
        for part in message.iter_attachments()
    ]


def send_mime(graph: httpx.Client, sender: str, raw: bytes) -> httpx.Response:
    return graph.post(
        f"/users/{sender}/sendMail", content=b64(raw), headers={"Content-Type": "text/plain"}
    )


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# --- Entra ID and msal --------------------------------------------------------------------


def test_msal_certificate_credential_gets_a_graph_token(
    server: GraphTestServer, credential: AppCredential
) -> None:
    client_credential = {
        "private_key": credential.key_pem,
        "public_certificate": credential.cert_pem,
    }
    with msal_app(server, client_credential) as app:
        result = app.acquire_token_for_client([GRAPH_SCOPE])

    assert "access_token" in result, result
    assert "Bearer" == result["token_type"]
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert "https://graph.microsoft.com" == claims["aud"]
    assert server.roles == claims["roles"]
    assert (TENANT, CLIENT_ID) == (claims["tid"], claims["appid"])
    assert 1 == server.token_requests


def test_msal_sha1_thumbprint_credential_signs_rs256_and_is_accepted(
    server: GraphTestServer, credential: AppCredential
) -> None:
    certificate = x509.load_pem_x509_certificate(credential.cert_pem.encode())
    thumbprint = certificate.fingerprint(hashes.SHA1()).hex()
    with msal_app(server, {"private_key": credential.key_pem, "thumbprint": thumbprint}) as app:
        result = app.acquire_token_for_client([GRAPH_SCOPE])

    assert "access_token" in result, result


def test_msal_assertion_signed_with_the_wrong_key_is_refused(
    server: GraphTestServer, credential: AppCredential, stranger: AppCredential
) -> None:
    # The registered certificate, but a key that is not its own.
    client_credential = {"private_key": stranger.key_pem, "public_certificate": credential.cert_pem}
    with msal_app(server, client_credential) as app:
        result = app.acquire_token_for_client([GRAPH_SCOPE])

    assert "access_token" not in result
    assert "invalid_client" == result["error"]
    assert [700027] == result["error_codes"]
    assert result["error_description"].startswith("AADSTS700027:")


def test_msal_unregistered_certificate_is_refused(
    server: GraphTestServer, stranger: AppCredential
) -> None:
    client_credential = {"private_key": stranger.key_pem, "public_certificate": stranger.cert_pem}
    with msal_app(server, client_credential) as app:
        result = app.acquire_token_for_client([GRAPH_SCOPE])

    assert "invalid_client" == result["error"]
    assert "The key was not found" in result["error_description"]


def test_msal_client_secret_works_and_a_wrong_secret_is_refused(server: GraphTestServer) -> None:
    with msal_app(server, SECRET) as app:
        good = app.acquire_token_for_client([GRAPH_SCOPE])
    with msal_app(server, "not-the-secret") as app:
        bad = app.acquire_token_for_client([GRAPH_SCOPE])

    assert "access_token" in good, good
    assert "invalid_client" == bad["error"]
    assert [7000215] == bad["error_codes"]
    assert bad["error_description"].startswith("AADSTS7000215:")


def test_token_endpoint_refuses_a_scope_without_default_suffix(server: GraphTestServer) -> None:
    response = token_response(server, scope="https://graph.microsoft.com/Mail.Read")

    assert 400 == response.status_code
    assert "invalid_scope" == response.json()["error"]


def test_outlook_token_carries_imap_roles_and_is_no_good_for_graph(
    server: GraphTestServer,
) -> None:
    token = fetch_token(server, OUTLOOK_SCOPE)
    claims = jwt.decode(token, options={"verify_signature": False})
    with graph_client(server, token) as graph:
        response = graph.get(f"/users/{INFO}/mailFolders/inbox")

    assert "https://outlook.office365.com" == claims["aud"]
    assert ["IMAP.AccessAsApp", "SMTP.SendAsApp"] == claims["roles"]
    assert 401 == response.status_code
    assert "InvalidAuthenticationToken" == error_code(response)


def test_graph_requests_need_a_valid_unexpired_token(server: GraphTestServer) -> None:
    server.token_lifetime = -60
    expired = fetch_token(server)
    with httpx.Client(base_url=server.base_url, verify=server.client_ssl_context()) as anonymous:
        missing = anonymous.get(f"/users/{INFO}/mailFolders/inbox")
        forged = anonymous.get(
            f"/users/{INFO}/mailFolders/inbox", headers={"Authorization": "Bearer abc.def.ghi"}
        )
        stale = anonymous.get(
            f"/users/{INFO}/mailFolders/inbox", headers={"Authorization": f"Bearer {expired}"}
        )

    for response in (missing, forged, stale):
        assert 401 == response.status_code
        assert "InvalidAuthenticationToken" == error_code(response)
    assert "expired" in stale.json()["error"]["message"]


def test_roles_decide_what_a_token_may_do(server: GraphTestServer) -> None:
    server.roles = ["Mail.Read"]
    with graph_client(server) as graph:
        read = graph.get(f"/users/{INFO}/messages")
        send = send_mime(graph, INFO, plain_mail())
        settings = graph.get(f"/users/{INFO}/mailboxSettings/automaticRepliesSetting")

    assert 200 == read.status_code
    assert (403, "ErrorAccessDenied") == (send.status_code, error_code(send))
    assert 403 == settings.status_code


def test_unknown_mailbox_and_unknown_message(graph: httpx.Client) -> None:
    no_user = graph.get("/users/nobody@homes.example/mailFolders/inbox")
    no_message = graph.get(f"/users/{INFO}/messages/AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0Anope=")

    assert (404, "ErrorInvalidUser") == (no_user.status_code, error_code(no_user))
    assert (404, "ErrorItemNotFound") == (no_message.status_code, error_code(no_message))
    assert (
        "The specified object was not found in the store."
        == (no_message.json()["error"]["message"])
    )


# --- folders and messages -----------------------------------------------------------------


def test_mail_folder_by_well_known_name_or_id(server: GraphTestServer, graph: httpx.Client) -> None:
    server.deliver(INFO, plain_mail("one"))
    server.deliver(INFO, plain_mail("two"))
    by_name = graph.get(f"/users/{INFO}/mailFolders/Inbox").json()
    by_id = graph.get(f"/users/{INFO}/mailFolders/{by_name['id']}").json()

    assert ("Inbox", 2, 2, 0) == (
        by_name["displayName"],
        by_name["totalItemCount"],
        by_name["unreadItemCount"],
        by_name["childFolderCount"],
    )
    assert by_name["id"] == by_id["id"]
    assert "parentFolderId" in by_name


def test_message_json_is_derived_from_the_mime(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    raw = (
        b"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.org>\r\n"
        b"To: Info <info@homes.example>, other@example.org\r\n"
        b"Cc: cc@example.org\r\nReply-To: replies@example.org\r\n"
        b"Subject: Leak in flat 3\r\nMessage-ID: <leak.3@example.org>\r\n"
        b"Date: Tue, 01 Dec 2026 09:30:00 +0100\r\nImportance: high\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWater everywhere.\r\n"
        b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><p>Water <b>everywhere</b>.</p></body></html>\r\n--b1--\r\n"
    )
    message_id = server.deliver(INFO, raw, received_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    message = graph.get(f"/users/{INFO}/messages/{message_id}").json()

    assert "#microsoft.graph.message" == message["@odata.type"]
    assert message["@odata.etag"].startswith('W/"')
    assert message_id == message["id"]
    assert "Leak in flat 3" == message["subject"]
    assert "<leak.3@example.org>" == message["internetMessageId"]
    assert {"name": "Renée", "address": "renee@example.org"} == message["from"]["emailAddress"]
    assert message["from"] == message["sender"]
    assert ["info@homes.example", "other@example.org"] == [
        r["emailAddress"]["address"] for r in message["toRecipients"]
    ]
    assert "Info" == message["toRecipients"][0]["emailAddress"]["name"]
    assert "cc@example.org" == message["ccRecipients"][0]["emailAddress"]["address"]
    assert "replies@example.org" == message["replyTo"][0]["emailAddress"]["address"]
    assert "2026-12-01T09:00:00Z" == message["receivedDateTime"]
    assert "2026-12-01T08:30:00Z" == message["sentDateTime"]
    assert "high" == message["importance"]
    assert "html" == message["body"]["contentType"]
    assert "<b>everywhere</b>" in message["body"]["content"]
    assert "Water everywhere." == message["bodyPreview"]
    assert (False, False, False) == (
        message["isRead"],
        message["isDraft"],
        message["hasAttachments"],
    )
    folder = graph.get(f"/users/{INFO}/mailFolders/inbox").json()
    assert folder["id"] == message["parentFolderId"]


def test_select_limits_properties_and_text_body_preference(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    raw = (
        b"From: a@example.org\r\nSubject: Rent\r\nContent-Type: text/html\r\n\r\n"
        b"<html><head><style>p {color: red}</style></head>"
        b"<body><p>Rent is <b>due</b>.</p><p>Thanks</p></body></html>\r\n"
    )
    message_id = server.deliver(INFO, raw)
    selected = graph.get(
        f"/users/{INFO}/messages/{message_id}", params={"$select": "subject,isRead"}
    ).json()
    as_text = graph.get(
        f"/users/{INFO}/messages/{message_id}",
        params={"$select": "body"},
        headers={"Prefer": f'{IMMUTABLE}, outlook.body-content-type="text"'},
    )
    unknown = graph.get(f"/users/{INFO}/messages/{message_id}", params={"$select": "nonsense"})

    assert {"@odata.context", "@odata.type", "@odata.etag", "id", "subject", "isRead"} == set(
        selected
    )
    assert {"contentType": "text", "content": "Rent is due.\n\nThanks"} == as_text.json()["body"]
    assert 'outlook.body-content-type="text"' in as_text.headers["Preference-Applied"]
    assert 400 == unknown.status_code


def test_value_is_byte_exact_for_crlf_and_8bit_mail(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    raw = (
        b"From: a@example.org\r\nSubject: caf\xc3\xa9 in 8bit\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n"
        b"\r\nna\xefve\r\nbare LF\nlone CR\r trailing spaces   \r\n\x00nul\r\n"
    )
    message_id = server.deliver(INFO, raw)
    response = graph.get(f"/users/{INFO}/messages/{message_id}/$value")

    assert 200 == response.status_code
    assert "text/plain" == response.headers["Content-Type"]
    assert raw == response.content


def test_value_of_a_ten_megabyte_message(server: GraphTestServer, graph: httpx.Client) -> None:
    line = b"0123456789" * 7 + b"abcdef\r\n"
    raw = b"From: a@example.org\r\nSubject: big\r\n\r\n" + line * (10 * 1024 * 1024 // len(line))
    message_id = server.deliver(INFO, raw)
    response = graph.get(f"/users/{INFO}/messages/{message_id}/$value")

    assert len(raw) > 10_000_000
    assert raw == response.content


def test_has_attachments_ignores_inline_images_and_size_property(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    inline_only = (
        b"From: a@example.org\r\nSubject: logo\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/related; boundary=rel\r\n\r\n"
        b'--rel\r\nContent-Type: text/html\r\n\r\n<p>Hi <img src="cid:logo@x"></p>\r\n'
        b"--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--rel--\r\n"
    )
    attached = mail_with_attachment("a@example.org", INFO, b"%PDF-1.4 body")
    inline_id = server.deliver(INFO, inline_only)
    attached_id = server.deliver(INFO, attached)
    params = {
        "$select": "hasAttachments",
        "$expand": "singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')",
    }
    inline = graph.get(f"/users/{INFO}/messages/{inline_id}", params=params).json()
    with_file = graph.get(f"/users/{INFO}/messages/{attached_id}", params=params).json()

    assert False is inline["hasAttachments"]
    assert True is with_file["hasAttachments"]
    assert [{"id": "Integer 0xe08", "value": str(len(inline_only))}] == inline[
        "singleValueExtendedProperties"
    ]
    assert [] == server.messages(INFO, "inbox")[0].attachments
    assert [("agreement.pdf", "application/pdf", b"%PDF-1.4 body")] == (
        server.messages(INFO, "inbox")[1].attachments
    )


def test_malformed_mail_still_becomes_a_message(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    broken = [
        b"\xff\xfe\x00 no headers at all",
        b"From: <<<@@@>>>\r\nDate: yesterday-ish\r\nSubject: =?bogus?x?zzz?=\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nno boundary anywhere\r\n",
        b"Content-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
        b"",
    ]
    for raw in broken:
        message_id = server.deliver(INFO, raw)
        message = graph.get(f"/users/{INFO}/messages/{message_id}")
        value = graph.get(f"/users/{INFO}/messages/{message_id}/$value")
        assert 200 == message.status_code
        assert message_id == message.json()["id"]
        assert raw == value.content


def test_randomly_damaged_mail_never_breaks_the_server(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    original = mail_with_attachment("a@example.org", INFO, b"%PDF-1.4 body", cc="c@example.org")
    randomness = random.Random(20261203)  # fixed seed: the same damage on every run
    for _ in range(40):
        damaged = bytearray(original[: randomness.randrange(len(original) + 1)])
        for _ in range(randomness.randrange(1, 12)):
            if damaged:
                damaged[randomness.randrange(len(damaged))] = randomness.randrange(256)
        message_id = server.deliver(INFO, bytes(damaged))
        response = graph.get(f"/users/{INFO}/messages/{message_id}")
        assert 200 == response.status_code, response.text
    pages, _ = delta_round(graph, delta_url(INFO, "inbox"), page_size=50)
    assert 40 == len(pages[0])


def test_patch_categories_and_is_read(server: GraphTestServer, graph: httpx.Client) -> None:
    message_id = server.deliver(INFO, plain_mail())
    response = graph.patch(
        f"/users/{INFO}/messages/{message_id}",
        json={"categories": ["SPOC breach"], "isRead": True},
    )
    subject_change = graph.patch(f"/users/{INFO}/messages/{message_id}", json={"subject": "x"})
    nonsense = graph.patch(f"/users/{INFO}/messages/{message_id}", json={"colour": "blue"})

    assert 200 == response.status_code
    assert (["SPOC breach"], True) == (response.json()["categories"], response.json()["isRead"])
    stored = server.messages(INFO, "inbox")[0]
    assert (["SPOC breach"], True) == (stored.categories, stored.is_read)
    assert "ErrorInvalidPropertyUpdateSentMessage" == error_code(subject_change)
    assert (400, "RequestBodyRead") == (nonsense.status_code, error_code(nonsense))


def test_find_by_internet_message_id_in_any_folder_with_quote_escaping(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    wanted = "<o'brien+1@example.org>"
    message_id = server.deliver(INFO, plain_mail(message_id=wanted), folder="junkemail")
    server.deliver(INFO, plain_mail("other"))
    escaped = wanted.replace("'", "''")
    response = graph.get(
        f"/users/{INFO}/messages",
        params={"$filter": f"internetMessageId eq '{escaped}'", "$select": "id,subject"},
    )

    assert 200 == response.status_code
    assert [message_id] == [item["id"] for item in response.json()["value"]]


# --- delta --------------------------------------------------------------------------------


def delta_url(address: str, folder: str) -> str:
    return f"/users/{address}/mailFolders/{folder}/messages/delta"


def delta_round(
    graph: httpx.Client, url: str, *, page_size: int = 10, params: dict[str, str] | None = None
) -> tuple[list[list[dict[str, Any]]], str]:
    """Follow a round's nextLinks; return its pages and the deltaLink that ends it."""
    headers = {"Prefer": f"{IMMUTABLE}, odata.maxpagesize={page_size}"}
    pages: list[list[dict[str, Any]]] = []
    response = graph.get(url, params=params, headers=headers)
    while True:
        assert 200 == response.status_code, response.text
        payload = response.json()
        pages.append(payload["value"])
        # A page carries one link, never both.
        assert ("@odata.nextLink" in payload) != ("@odata.deltaLink" in payload)
        if "@odata.deltaLink" in payload:
            return pages, str(payload["@odata.deltaLink"])
        response = graph.get(payload["@odata.nextLink"], headers=headers)


def test_delta_initial_round_pages_with_next_links_then_a_delta_link(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    ids = {server.deliver(INFO, plain_mail(f"m{n}")) for n in range(5)}
    pages, delta_link = delta_round(graph, delta_url(INFO, "inbox"), page_size=2)

    assert [2, 2, 1] == [len(page) for page in pages]
    assert ids == {item["id"] for page in pages for item in page}
    assert "$deltatoken=" in delta_link
    again, _ = delta_round(graph, delta_link)
    assert [[]] == again  # no changes: an empty page that still carries a deltaLink


def test_delta_reports_new_moved_and_updated_messages(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    stays, moves = server.deliver(INFO, plain_mail("stays")), server.deliver(INFO, plain_mail("mv"))
    _, inbox_link = delta_round(graph, delta_url(INFO, "inbox"))
    _, junk_link = delta_round(graph, delta_url(INFO, "junkemail"))

    new = server.deliver(INFO, plain_mail("new"))
    server.move(INFO, moves, "junkemail")
    graph.patch(f"/users/{INFO}/messages/{stays}", json={"categories": ["Reviewed"]})
    inbox_pages, inbox_link = delta_round(graph, inbox_link)
    junk_pages, _ = delta_round(graph, junk_link)

    inbox = {item["id"]: item for page in inbox_pages for item in page}
    junk = {item["id"]: item for page in junk_pages for item in page}
    assert {stays, moves, new} == set(inbox)
    assert {"reason": "deleted"} == inbox[moves]["@removed"]
    assert ["Reviewed"] == inbox[stays]["categories"]
    assert "@removed" not in inbox[new]
    assert [moves] == list(junk)  # the immutable id survives the move
    junk_folder = graph.get(f"/users/{INFO}/mailFolders/junkemail").json()
    assert junk_folder["id"] == junk[moves]["parentFolderId"]
    server.delete(INFO, stays)
    deleted, _ = delta_round(graph, inbox_link)
    assert [
        {"@odata.type": "#microsoft.graph.message", "id": stays, "@removed": {"reason": "deleted"}}
    ] == deleted[0]


def test_delta_filter_on_received_date_is_kept_in_the_links(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    old, recent = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    server.deliver(INFO, plain_mail("old"), received_at=old)
    wanted = server.deliver(INFO, plain_mail("recent"), received_at=recent)
    params = {"$filter": "receivedDateTime ge 2026-06-01T00:00:00Z", "$select": "subject"}
    pages, delta_link = delta_round(graph, delta_url(INFO, "inbox"), params=params)

    server.deliver(INFO, plain_mail("old again"), received_at=old)
    newer = server.deliver(INFO, plain_mail("recent again"), received_at=recent)
    later, _ = delta_round(graph, delta_link)

    assert [[wanted]] == [[item["id"] for item in page] for page in pages]
    assert [[newer]] == [[item["id"] for item in page] for page in later]
    assert {"@odata.type", "@odata.etag", "id", "subject"} == set(later[0][0])
    quoted = graph.get(
        delta_url(INFO, "inbox"), params={"$filter": "receivedDateTime gt '2026-06-01'"}
    )
    assert 400 == quoted.status_code


def test_delta_replay_serves_the_same_page_twice(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    for n in range(3):
        server.deliver(INFO, plain_mail(f"m{n}"))
    server.replay_next_delta_page(INFO, "inbox")
    headers = {"Prefer": "odata.maxpagesize=1"}
    first = graph.get(delta_url(INFO, "inbox"), headers=headers).json()
    replayed = graph.get(first["@odata.nextLink"], headers=headers).json()
    moved_on = graph.get(replayed["@odata.nextLink"], headers=headers).json()

    assert first == replayed
    assert first["value"][0]["id"] != moved_on["value"][0]["id"]


def test_expired_delta_tokens_answer_410_sync_state_not_found(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    server.deliver(INFO, plain_mail("a"))
    server.deliver(INFO, plain_mail("b"))
    first_page = graph.get(delta_url(INFO, "inbox"), headers={"Prefer": "odata.maxpagesize=1"})
    _, delta_link = delta_round(graph, delta_url(INFO, "inbox"))
    server.expire_delta_tokens(INFO, "inbox")
    expired = graph.get(delta_link)
    expired_skip = graph.get(first_page.json()["@odata.nextLink"])
    pages, fresh_link = delta_round(graph, delta_url(INFO, "inbox"))

    for response in (expired, expired_skip):
        assert (410, "SyncStateNotFound") == (response.status_code, error_code(response))
        assert response.json()["error"]["message"].startswith("The sync state generation")
    assert 2 == len(pages[0])
    assert 200 == graph.get(fresh_link).status_code
    malformed = graph.get(delta_url(INFO, "inbox"), params={"$deltatoken": "not-a-token"})
    assert 400 == malformed.status_code


# --- sending ------------------------------------------------------------------------------


def test_mime_send_mail_delivers_byte_exact_copies(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    data = bytes(range(256)) * 40
    raw = mail_with_attachment(BOT, SPOC, data, cc="outside@example.org")
    response = send_mime(graph, BOT, raw)

    assert (202, b"") == (response.status_code, response.content)
    [received] = server.messages(SPOC, "inbox")
    [sent] = server.messages(BOT, "sentitems")
    assert raw == received.raw == sent.raw
    assert "<agreement.1@homes.example>" == received.internet_message_id
    assert [("agreement.pdf", "application/pdf", data)] == received.attachments
    assert (False, True) == (received.is_read, sent.is_read)


def test_json_send_mail(server: GraphTestServer, graph: httpx.Client) -> None:
    message = {
        "subject": "Your SPOC",
        "body": {"contentType": "Text", "content": "Please write to your SPOC."},
        "toRecipients": [{"emailAddress": {"address": SPOC, "name": "SPOC"}}],
        "bccRecipients": [{"emailAddress": {"address": INFO}}],
        "internetMessageHeaders": [{"name": "X-Spocbot", "value": "notice"}],
    }
    response = graph.post(
        f"/users/{BOT}/sendMail", json={"message": message, "saveToSentItems": False}
    )

    assert 202 == response.status_code
    [to_copy] = server.messages(SPOC, "inbox")
    [bcc_copy] = server.messages(INFO, "inbox")
    parsed = email.message_from_bytes(to_copy.raw, policy=email.policy.default)
    assert "Your SPOC" == parsed["Subject"]
    assert BOT == parsed["From"]
    assert "notice" == parsed["X-Spocbot"]
    assert parsed["Bcc"] is None  # recipients do not see the Bcc list
    assert to_copy.internet_message_id == bcc_copy.internet_message_id == parsed["Message-ID"]
    assert [] == server.messages(BOT, "sentitems")
    bad_header = graph.post(
        f"/users/{BOT}/sendMail",
        json={"message": {**message, "internetMessageHeaders": [{"name": "From", "value": "x"}]}},
    )
    assert 400 == bad_header.status_code


def test_send_mail_refuses_bad_base64_and_bodies_over_4_mb(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    bad = graph.post(
        f"/users/{BOT}/sendMail", content="@@ not base64 @@", headers={"Content-Type": "text/plain"}
    )
    huge = mail_with_attachment(BOT, SPOC, b"x" * (3 * 1024 * 1024 + 200_000))
    too_big = send_mime(graph, BOT, huge)

    assert (400, "ErrorMimeContentInvalidBase64String") == (bad.status_code, error_code(bad))
    assert "Invalid base64 string for MIME content." == bad.json()["error"]["message"]
    assert (413, "RequestEntityTooLarge") == (too_big.status_code, error_code(too_big))
    assert [] == server.messages(SPOC, "inbox")


def test_dropped_connection_after_send_still_delivers(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    server.drop_connection_after_send()
    with pytest.raises(httpx.RemoteProtocolError):
        send_mime(graph, BOT, plain_mail(sender=BOT, to=SPOC))
    again = send_mime(graph, BOT, plain_mail(sender=BOT, to=SPOC))

    assert 202 == again.status_code
    assert 2 == len(server.messages(SPOC, "inbox"))
    assert [202, 202] == [r.status for r in server.requests if r.path.endswith("/sendMail")]


def test_draft_with_upload_session_then_send(server: GraphTestServer, graph: httpx.Client) -> None:
    draft_raw = plain_mail("Evidence", sender=BOT, to=SPOC, message_id="<evidence.7@homes.example>")
    created = graph.post(
        f"/users/{BOT}/messages",
        content=b64(draft_raw),
        headers={"Content-Type": "text/plain", "Prefer": IMMUTABLE},
    )
    assert 201 == created.status_code
    draft = created.json()
    assert (True, "<evidence.7@homes.example>") == (draft["isDraft"], draft["internetMessageId"])

    data = bytes((n * 7) % 251 for n in range(3_500_000))
    session = graph.post(
        f"/users/{BOT}/messages/{draft['id']}/attachments/createUploadSession",
        json={
            "AttachmentItem": {
                "attachmentType": "file",
                "name": "evidence.bin",
                "size": len(data),
                "contentType": "application/octet-stream",
            }
        },
    )
    assert 201 == session.status_code
    assert ["0-"] == session.json()["nextExpectedRanges"]
    upload_url = session.json()["uploadUrl"]
    assert upload_url.startswith(f"{server.authority}/upload/")

    chunk = 4 * 320 * 1024
    answers = []
    with httpx.Client(verify=server.client_ssl_context()) as uploader:  # no Authorization
        for start in range(0, len(data), chunk):
            piece = data[start : start + chunk]
            answers.append(
                uploader.put(
                    upload_url,
                    content=piece,
                    headers={
                        "Content-Range": f"bytes {start}-{start + len(piece) - 1}/{len(data)}",
                        "Content-Type": "application/octet-stream",
                    },
                )
            )
    assert [200, 200, 201] == [answer.status_code for answer in answers]
    assert [str(chunk)] == answers[0].json()["nextExpectedRanges"]
    assert "Location" in answers[-1].headers

    sent = graph.post(f"/users/{BOT}/messages/{draft['id']}/send")
    assert 202 == sent.status_code
    [received] = server.messages(SPOC, "inbox")
    [in_sent_items] = server.messages(BOT, "sentitems")
    assert [] == server.messages(BOT, "drafts")
    assert (draft["id"], False) == (in_sent_items.id, in_sent_items.is_draft)
    assert [("evidence.bin", "application/octet-stream", data)] == received.attachments
    assert [("evidence.bin", data)] == attachment_parts(received.raw)
    assert "<evidence.7@homes.example>" == received.internet_message_id


def test_upload_session_rules(server: GraphTestServer, graph: httpx.Client) -> None:
    draft = graph.post(
        f"/users/{BOT}/messages",
        json={"subject": "d", "toRecipients": [{"emailAddress": {"address": SPOC}}]},
    ).json()
    url = f"/users/{BOT}/messages/{draft['id']}/attachments/createUploadSession"
    small = graph.post(url, json={"AttachmentItem": {"name": "a", "size": 1000}})
    session = graph.post(url, json={"AttachmentItem": {"name": "a", "size": 3_200_000}}).json()

    def put(start: int, body: bytes) -> httpx.Response:
        with httpx.Client(verify=server.client_ssl_context()) as uploader:
            end = start + len(body) - 1
            return uploader.put(
                session["uploadUrl"],
                content=body,
                headers={"Content-Range": f"bytes {start}-{end}/3200000"},
            )

    unaligned = put(0, b"x" * 100_000)
    out_of_order = put(327_680, b"x" * 327_680)

    assert (400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize") == (
        small.status_code,
        error_code(small),
    )
    assert 400 == unaligned.status_code
    assert 416 == out_of_order.status_code
    assert True is draft["isDraft"]


def test_small_attachment_by_post_then_send(server: GraphTestServer, graph: httpx.Client) -> None:
    draft = graph.post(
        f"/users/{BOT}/messages",
        json={"subject": "Notice", "toRecipients": [{"emailAddress": {"address": SPOC}}]},
    ).json()
    added = graph.post(
        f"/users/{BOT}/messages/{draft['id']}/attachments",
        json={
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "notice.txt",
            "contentType": "text/plain",
            "contentBytes": b64(b"notice body"),
        },
    )
    sent = graph.post(f"/users/{BOT}/messages/{draft['id']}/send")

    assert (201, 202) == (added.status_code, sent.status_code)
    [received] = server.messages(SPOC, "inbox")
    assert [("notice.txt", "text/plain", b"notice body")] == received.attachments
    assert BOT in email.message_from_bytes(received.raw)["From"]


def test_attaching_to_a_draft_keeps_its_bytes_and_sends_messages_unencoded(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    # No Content-Type at all: the body is text/plain by default and must survive.
    draft_raw = f"From: {BOT}\r\nTo: {SPOC}\r\nSubject: Forward\r\n\r\nCover note.\r\n".encode()
    original = b"From: x@example.org\r\nSubject: caf\xc3\xa9\r\n\r\nThe original.\r\n"
    draft = graph.post(
        f"/users/{BOT}/messages", content=b64(draft_raw), headers={"Content-Type": "text/plain"}
    ).json()
    added = graph.post(
        f"/users/{BOT}/messages/{draft['id']}/attachments",
        json={
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "original.eml",
            "contentType": "message/rfc822",
            "contentBytes": b64(original),
        },
    )
    with_attachment = graph.get(f"/users/{BOT}/messages/{draft['id']}/$value").content

    assert 201 == added.status_code
    head, _, body = draft_raw.partition(b"\r\n\r\n")
    assert with_attachment.startswith(b"Message-ID: <")  # Exchange gives every item one
    assert head + b"\r\n" in with_attachment  # the old headers, unchanged
    assert b"\r\n\r\n" + body + b"\r\n--" in with_attachment  # the old body, unchanged
    assert b"Content-Transfer-Encoding: 8bit\r\n\r\n" + original + b"\r\n--" in with_attachment
    message = graph.get(f"/users/{BOT}/messages/{draft['id']}").json()
    assert ("Cover note.\r\n", True) == (message["body"]["content"], message["hasAttachments"])


# --- batching, throttling, faults, counters -----------------------------------------------


def test_batch_with_depends_on_and_failed_dependency(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    raw = plain_mail("batched")
    message_id = server.deliver(INFO, raw)
    missing = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0Agone="
    requests = [
        {"id": "1", "method": "GET", "url": f"/users/{INFO}/messages/{missing}"},
        {
            "id": "2",
            "method": "PATCH",
            "url": f"/users/{INFO}/messages/{missing}",
            "dependsOn": ["1"],
            "headers": {"Content-Type": "application/json"},
            "body": {"isRead": True},
        },
        {"id": "3", "method": "GET", "url": f"/users/{INFO}/messages/{message_id}/$value"},
        {
            "id": "4",
            "method": "PATCH",
            "url": f"/users/{INFO}/messages/{message_id}",
            "dependsOn": ["3"],
            "headers": {"Content-Type": "application/json", "Prefer": IMMUTABLE},
            "body": {"categories": ["Batched"]},
        },
    ]
    response = graph.post("/$batch", json={"requests": requests})

    assert 200 == response.status_code
    answers = {item["id"]: item for item in response.json()["responses"]}
    assert (404, 424, 200, 200) == tuple(answers[key]["status"] for key in "1234")
    assert raw == base64.b64decode(answers["3"]["body"])
    assert ["Batched"] == answers["4"]["body"]["categories"]
    inner = [r for r in server.requests if r.in_batch]
    assert 3 == len(inner)  # the 424 never ran
    assert [True] == [r.immutable_id_preferred for r in inner if r.method == "PATCH"]
    too_many = graph.post(
        "/$batch",
        json={"requests": [{"id": str(n), "method": "GET", "url": "/users"} for n in range(21)]},
    )
    assert 400 == too_many.status_code


def test_batch_of_six_for_one_mailbox_gets_two_429s(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    requests = [
        {"id": str(n), "method": "GET", "url": f"/users/{INFO}/mailFolders/inbox"}
        for n in range(1, 7)
    ]
    answers = graph.post("/$batch", json={"requests": requests}).json()["responses"]

    statuses = {item["id"]: item["status"] for item in answers}
    assert {"1": 200, "2": 200, "3": 200, "4": 200, "5": 429, "6": 429} == statuses
    throttled = next(item for item in answers if item["status"] == 429)
    assert "ApplicationThrottled" == throttled["body"]["error"]["code"]
    assert "1" == throttled["headers"]["Retry-After"]
    assert 6 == server.peak_concurrency[INFO]


def test_more_than_four_concurrent_requests_for_a_mailbox_are_throttled(
    server: GraphTestServer, graph: httpx.Client
) -> None:
    server.latency = 1.0  # hold each admitted request long enough for all six to overlap
    server.throttle_retry_after = 0.5
    barrier = threading.Barrier(6)

    def call(_: int) -> httpx.Response:
        barrier.wait()
        return graph.get(f"/users/{INFO}/mailFolders/inbox")

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(call, range(6)))
    server.latency = 0
    other = graph.get(f"/users/{SPOC}/mailFolders/inbox")

    statuses = sorted(response.status_code for response in responses)
    assert [200, 200, 200, 200, 429, 429] == statuses
    throttled = [response for response in responses if response.status_code == 429]
    assert all("0.5" == response.headers["Retry-After"] for response in throttled)
    assert (
        "Application is over its MailboxConcurrency limit."
        == (throttled[0].json()["error"]["message"])
    )
    # A 429 is answered at once, so the sixth may arrive after the fifth has gone.
    assert server.peak_concurrency[INFO] in (5, 6)
    assert (200, 1) == (other.status_code, server.peak_concurrency[SPOC])


def test_injected_faults_with_retry_after(server: GraphTestServer, graph: httpx.Client) -> None:
    server.fail("GET", r"/mailFolders/inbox$", 503, times=2, retry_after=2)
    server.fail("*", r"/sendMail$", 429, code="TooManyRequests", retry_after=0.25)
    first, second, third = (graph.get(f"/users/{INFO}/mailFolders/inbox") for _ in range(3))
    batch = graph.post(
        "/$batch",
        json={
            "requests": [
                {
                    "id": "send",
                    "method": "POST",
                    "url": f"/users/{BOT}/sendMail",
                    "headers": {"Content-Type": "text/plain"},
                    "body": b64(plain_mail(sender=BOT, to=SPOC)),
                }
            ]
        },
    ).json()["responses"][0]

    assert [503, 503, 200] == [first.status_code, second.status_code, third.status_code]
    assert ("2", "ServiceUnavailable") == (first.headers["Retry-After"], error_code(first))
    assert (429, "0.25") == (batch["status"], batch["headers"]["Retry-After"])
    assert "TooManyRequests" == batch["body"]["error"]["code"]
    assert [] == server.messages(SPOC, "inbox")
    retried = send_mime(graph, BOT, plain_mail(sender=BOT, to=SPOC))
    assert 202 == retried.status_code


def test_counters_record_requests_and_reset(server: GraphTestServer, graph: httpx.Client) -> None:
    graph.get(f"/users/{INFO.upper()}/mailFolders/inbox", headers={"Prefer": IMMUTABLE})
    graph.get(f"/users/{INFO}/messages", params={"$top": "5"})
    graph.post(
        "/$batch",
        json={"requests": [{"id": "a", "method": "GET", "url": f"/users/{SPOC}/messages"}]},
    )

    records = server.requests  # Graph requests only: msal's token request is just counted
    assert [
        ("GET", INFO, True, False, 200),
        ("GET", INFO, False, False, 200),
        ("GET", SPOC, False, True, 200),
        ("POST", None, False, False, 200),
    ] == [(r.method, r.mailbox, r.immutable_id_preferred, r.in_batch, r.status) for r in records]
    assert {"$top": "5"} == records[1].query
    assert 1 == server.token_requests
    server.reset_counters()
    assert ([], 0, {}) == (server.requests, server.token_requests, server.peak_concurrency)


@pytest.mark.parametrize("status", ["disabled", "alwaysEnabled", "scheduled"])
def test_automatic_replies_setting(
    server: GraphTestServer, graph: httpx.Client, status: Any
) -> None:
    start, end = datetime(2026, 12, 20, tzinfo=UTC), datetime(2027, 1, 3, 9, 30, tzinfo=UTC)
    server.set_automatic_replies(SPOC, status, start, end)
    setting = graph.get(f"/users/{SPOC}/mailboxSettings/automaticRepliesSetting").json()

    assert status == setting["status"]
    assert "all" == setting["externalAudience"]
    assert {"dateTime": "2026-12-20T00:00:00.0000000", "timeZone": "UTC"} == (
        setting["scheduledStartDateTime"]
    )
    assert "2027-01-03T09:30:00.0000000" == setting["scheduledEndDateTime"]["dateTime"]
    assert {"internalReplyMessage", "externalReplyMessage", "@odata.context"} <= set(setting)


# --- lifecycle ----------------------------------------------------------------------------


def test_stop_closes_idle_keep_alive_connections_and_joins_threads(
    credential: AppCredential, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    before = set(threading.enumerate())
    server = GraphTestServer(tenant_id=TENANT, client_id=CLIENT_ID)
    server.register_secret(SECRET)
    server.add_mailbox(INFO)
    server.start()
    with msal_app(server, SECRET) as app, graph_client(server) as graph:
        assert "access_token" in app.acquire_token_for_client([GRAPH_SCOPE])
        assert 200 == graph.get(f"/users/{INFO}/mailFolders/inbox").status_code
        started = time.monotonic()
        server.stop()  # both clients still hold open keep-alive connections
        assert time.monotonic() - started < 5
        with pytest.raises(httpx.TransportError):
            graph.get(f"/users/{INFO}/mailFolders/inbox")
    server.stop()  # idempotent

    assert set(threading.enumerate()) <= before
