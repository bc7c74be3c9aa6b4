"""The Graph backend end to end: the real ``spocbot`` process (msal + httpx) against the local
Graph test server, in the scenarios the IMAP tests cover and the failure modes Graph has."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.crashpoints import POINTS
from bot.mail.forward import attached_original
from tests.graphtest import GraphOrg, customer_message, graph_org, header


@pytest.fixture
def org(tmp_path: Path) -> Iterator[GraphOrg]:
    with graph_org(tmp_path) as organisation:
        yield organisation


def breaches(org: GraphOrg) -> list[dict[str, object]]:
    return json.loads(org.spocbot("breaches", "list", "--json").stdout)  # type: ignore[no-any-return]


def test_a_bypass_is_forwarded_to_the_spoc_with_the_original_intact(org: GraphOrg) -> None:
    raw = customer_message(org.customer, org.info)
    original_id = org.deliver(raw, org.info)

    org.spocbot("watch", "--once")

    [forward] = org.forwards(org.spoc)
    assert raw == attached_original(forward)
    assert "auto-generated" == header(forward, "Auto-Submitted")
    assert "All" == header(forward, "X-Auto-Response-Suppress")
    [row] = breaches(org)
    assert [org.info] == row["mailboxes"]
    [original] = [m for m in org.server.messages(org.info, "inbox") if m.id == original_id]
    assert ["Recorded by spocbot"] == original.categories
    assert not original.is_read  # never marked read unless configured
    assert raw == original.raw  # never altered


def test_every_request_asks_for_immutable_ids_and_stays_within_four_per_mailbox(
    org: GraphOrg,
) -> None:
    for n in range(12):
        org.deliver(customer_message(org.customer, org.info, subject=f"Complaint {n}"), org.info)

    org.spocbot("watch", "--once")

    assert 12 == len(org.forwards(org.spoc))
    assert [] == [r.path for r in org.server.requests if not r.immutable_id_preferred]
    assert max(org.server.peak_concurrency.values()) <= 4


def test_the_cover_officer_gets_it_while_outlook_says_the_spoc_is_away(org: GraphOrg) -> None:
    now = datetime.now(UTC)
    org.server.set_automatic_replies(
        org.spoc, "scheduled", start=now - timedelta(hours=1), end=now + timedelta(days=2)
    )
    org.deliver(customer_message(org.customer, org.info), org.info)

    org.spocbot("watch", "--once")

    assert [] == org.forwards(org.spoc)
    assert 1 == len(org.forwards(org.cover))


def test_automatic_replies_outside_their_window_change_nothing(org: GraphOrg) -> None:
    now = datetime.now(UTC)
    org.server.set_automatic_replies(
        org.spoc, "scheduled", start=now + timedelta(days=1), end=now + timedelta(days=2)
    )
    org.deliver(customer_message(org.customer, org.info), org.info)

    org.spocbot("watch", "--once")

    assert 1 == len(org.forwards(org.spoc))
    assert [] == org.forwards(org.cover)


def test_the_same_message_in_three_mailboxes_is_one_breach_and_one_forward(
    org: GraphOrg,
) -> None:
    raw = customer_message(org.customer, org.info, cc=f"{org.staff}, {org.cover}")
    for mailbox in (org.info, org.staff, org.cover):
        org.deliver(raw, mailbox)

    org.spocbot("watch", "--once")
    org.spocbot("watch", "--once")

    assert 1 == len(org.forwards(org.spoc))
    [row] = breaches(org)
    assert sorted([org.info, org.staff, org.cover]) == sorted(row["mailboxes"])  # type: ignore[arg-type]


def test_a_second_pass_with_nothing_new_costs_one_delta_request_per_folder(
    org: GraphOrg,
) -> None:
    org.deliver(customer_message(org.customer, org.info), org.info)
    org.spocbot("watch", "--once")
    org.spocbot("watch", "--once")  # picks up the forward in the SPOC's inbox (ignored)
    org.server.reset_counters()

    org.spocbot("watch", "--once")

    graph = [r for r in org.server.requests if r.path.startswith("/v1.0/") and not r.in_batch]
    deltas = [r for r in graph if r.path.endswith("/messages/delta")]
    folders = 4 * 2  # four watched mailboxes, inbox and junkemail
    assert folders == len(deltas)
    assert [] == [r.path for r in graph if "$value" in r.path]
    assert len(graph) <= folders + 2  # + the bot's Sent Items check + one automatic-replies batch


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_any_step_the_breach_is_forwarded_exactly_once(org: GraphOrg, point: str) -> None:
    org.deliver(customer_message(org.customer, org.info), org.info)

    crashed = org.spocbot("watch", "--once", env={"SPOCBOT_CRASH_AT": point}, check=False)
    assert 137 == crashed.returncode, crashed.stderr
    org.spocbot("watch", "--once")
    org.spocbot("watch", "--once")

    assert 1 == len(org.forwards(org.spoc))
    [row] = breaches(org)
    assert ["sent"] == [f["status"] for f in row["forwarded_to"]]  # type: ignore[index,union-attr]


def test_a_lost_response_after_sendmail_is_settled_from_sent_items(org: GraphOrg) -> None:
    org.deliver(customer_message(org.customer, org.info), org.info)
    org.server.drop_connection_after_send(times=1)

    first = org.spocbot("watch", "--once", check=False)
    org.spocbot("watch", "--once")

    assert 1 == first.returncode  # the uncertain send is reported...
    assert 1 == len(org.forwards(org.spoc))  # ...and never repeated
    [row] = breaches(org)
    assert ["sent"] == [f["status"] for f in row["forwarded_to"]]  # type: ignore[index,union-attr]


def test_delta_pages_replays_and_updates_never_hand_a_message_over_twice(
    org: GraphOrg,
) -> None:
    raws = [customer_message(org.customer, org.info, subject=f"Issue {n}") for n in range(11)]
    for raw in raws:
        org.deliver(raw, org.info)
    org.server.replay_next_delta_page(org.info, "inbox")

    org.spocbot("watch", "--once")  # 11 messages in pages of 5, one page served twice
    org.spocbot("watch", "--once")  # our categories come back as updates

    assert 11 == len(org.forwards(org.spoc))
    assert 11 == len(breaches(org))


def test_an_expired_delta_token_resyncs_without_repeating_anything(org: GraphOrg) -> None:
    org.deliver(customer_message(org.customer, org.info, subject="First"), org.info)
    org.spocbot("watch", "--once")
    org.server.expire_delta_tokens(org.info, "inbox")
    org.deliver(customer_message(org.customer, org.info, subject="Second"), org.info)

    result = org.spocbot("watch", "--once")

    assert 2 == len(org.forwards(org.spoc))
    assert 2 == len(breaches(org))
    assert "expired" in result.stderr  # said once, for the operator


def test_a_message_moved_to_junk_keeps_its_id_and_is_not_forwarded_again(
    org: GraphOrg,
) -> None:
    message_id = org.deliver(customer_message(org.customer, org.info), org.info)
    org.spocbot("watch", "--once")
    org.server.move(org.info, message_id, "junkemail")

    org.spocbot("watch", "--once")

    assert 1 == len(org.forwards(org.spoc))
    [moved] = org.server.messages(org.info, "junkemail")
    assert message_id == moved.id


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1.0), (429, None), (503, None)])
def test_throttling_and_outages_are_retried_within_the_pass(
    org: GraphOrg, status: int, retry_after: float | None
) -> None:
    org.deliver(customer_message(org.customer, org.info), org.info)
    org.server.fail("GET", r"/messages/delta", status, times=2, retry_after=retry_after)
    org.server.fail("GET", r"/\$value", status, times=1, retry_after=retry_after)
    org.server.fail("POST", r"/sendMail", status, times=1, retry_after=retry_after)

    org.spocbot("watch", "--once")

    assert 1 == len(org.forwards(org.spoc))


def test_a_gateway_timeout_on_send_is_settled_before_sending_again(org: GraphOrg) -> None:
    """A 504 may come after Exchange accepted the message: never resend blindly."""
    org.deliver(customer_message(org.customer, org.info), org.info)
    org.server.fail("GET", r"/messages/delta", 504, times=1)
    org.server.fail("POST", r"/sendMail", 504, times=1)

    first = org.spocbot("watch", "--once", check=False)
    org.spocbot("watch", "--once")  # not in Sent Items: sent now, once

    assert 1 == first.returncode
    assert 1 == len(org.forwards(org.spoc))


def test_a_long_retry_after_waits_for_the_next_pass_and_loses_nothing(org: GraphOrg) -> None:
    org.deliver(customer_message(org.customer, org.info), org.info)
    org.server.fail("GET", r"/mailFolders/inbox/messages/delta", 429, times=1, retry_after=600)

    first = org.spocbot("watch", "--once", check=False)
    org.spocbot("watch", "--once")

    assert 1 == first.returncode
    assert "throttled" in first.stdout + first.stderr
    assert 1 == len(org.forwards(org.spoc))


def test_a_large_message_goes_through_an_upload_session_byte_for_byte(org: GraphOrg) -> None:
    attachment = bytes(range(256)) * (10 * 1024 * 1024 // 256)  # 10 MB of every byte value
    raw = _with_attachment(customer_message(org.customer, org.info), attachment)
    org.deliver(raw, org.info)

    org.spocbot("watch", "--once")

    [forward] = org.forwards(org.spoc)
    assert raw == attached_original(forward)
    uploads = [r for r in org.server.requests if r.path.startswith("/upload/")]
    assert uploads  # it did not fit in one sendMail request


def test_a_message_with_only_inline_images_is_forwarded_whole(org: GraphOrg) -> None:
    raw = _inline_image_message(org.customer, org.info)
    org.deliver(raw, org.info)

    org.spocbot("watch", "--once")

    [forward] = org.forwards(org.spoc)
    assert raw == attached_original(forward)


def test_an_out_of_office_reply_from_a_customer_is_not_contact(org: GraphOrg) -> None:
    raw = customer_message(org.customer, org.info, subject="Automatic reply: Your repair")
    raw = raw.replace(b"MIME-Version", b"Auto-Submitted: auto-replied\r\nMIME-Version", 1)
    org.deliver(raw, org.info)

    org.spocbot("watch", "--once")

    assert [] == org.forwards(org.spoc)
    assert [] == breaches(org)


def test_doctor_passes_on_a_working_tenant_and_names_a_missing_permission(
    org: GraphOrg,
) -> None:
    good = org.spocbot("doctor", "--send-test")
    org.server.roles = ["Mail.ReadWrite"]
    bad = org.spocbot("doctor", check=False)

    assert "All checks passed." in good.stdout
    assert 1 == bad.returncode
    assert "without Mail.Send, MailboxSettings.Read" in bad.stdout


def _with_attachment(raw: bytes, data: bytes) -> bytes:
    import base64

    head, _, body = raw.partition(b"\r\n\r\n")
    head = head.replace(
        b"Content-Type: text/plain; charset=utf-8",
        b'Content-Type: multipart/mixed; boundary="b1"',
    )
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        head
        + b"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body
        + b"\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
        + b'Content-Disposition: attachment; filename="photos.zip"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + encoded
        + b"--b1--\r\n"
    )


def _inline_image_message(sender: str, to: str) -> bytes:
    import base64

    png = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).replace(b"\n", b"\r\n")
    return (
        (
            f"From: Margaret Ellis <{sender}>\r\nTo: {to}\r\nSubject: Photo of the damp\r\n"
            "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <inline-1@customer.example>\r\n"
            'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="r1"\r\n\r\n'
            "--r1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            '<p>See the wall:</p><img src="cid:damp@x">\r\n'
            "--r1\r\nContent-Type: image/png\r\nContent-ID: <damp@x>\r\n"
            "Content-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + png
        + b"--r1--\r\n"
    )


def test_after_a_long_outage_an_expired_link_is_read_again_from_before_it_stopped(
    org: GraphOrg,
) -> None:
    """The watcher was down for 40 days; mail that came 35 days ago is older than the usual
    first-pass window (30 days here) but newer than the last good round: it must be read."""
    import sqlite3

    org.spocbot("watch", "--once")
    database = sqlite3.connect(org.root / "state" / "spocbot.db")
    with database:
        database.execute("UPDATE graph_folder_sync SET updated_at = datetime('now', '-40 days')")
    database.close()
    org.server.deliver(
        org.info,
        customer_message(org.customer, org.info),
        received_at=datetime.now(UTC) - timedelta(days=35),
    )
    org.server.expire_delta_tokens(org.info, "inbox")

    org.spocbot("watch", "--once")

    assert 1 == len(org.forwards(org.spoc))


def test_a_rescan_after_a_late_import_forwards_what_was_missed_once(org: GraphOrg) -> None:
    late = "late.customer@customer.example"
    org.deliver(customer_message(late, org.info), org.info)
    org.spocbot("watch", "--once")  # not in the register yet: no action
    register = org.root / "register.csv"
    register.write_text(
        register.read_text()
        + f"NV-1009,Lee Late,{late},Amelia Hart,{org.spoc},,,,active,2026-01-01,2027-01-01\n"
    )
    org.spocbot("register", "import", str(register))
    since = datetime.now(UTC).date().isoformat()

    rescanned = org.spocbot("rescan", "--since", since)
    org.spocbot("watch", "--once")
    org.spocbot("rescan", "--since", since)
    org.spocbot("watch", "--once")

    assert f"{org.info}/inbox: 1 message(s) already seen" in rescanned.stdout
    assert 1 == len(org.forwards(org.spoc))
    assert ["NV-1009"] == [b["customer_ref"] for b in breaches(org)]


def test_a_watch_with_an_empty_register_says_so(tmp_path: Path) -> None:
    with graph_org(tmp_path) as org:
        org.root.joinpath("state", "spocbot.db").unlink()  # a new deployment: nothing imported
        result = org.spocbot("watch", "--once")

    assert "the register is empty" in result.stderr


def test_doctor_without_a_token_skips_what_needs_one(org: GraphOrg) -> None:
    from tests.graphtest import app_certificate

    other, _ = app_certificate(org.root / "state")  # a certificate Entra has never seen
    org.config.write_text(
        org.config.read_text().replace(str(org.root / "spocbot-app.pem"), str(other))
    )

    result = org.spocbot("doctor", check=False)

    assert 1 == result.returncode
    assert "SKIP  watched mailboxes: skipped: no token" in result.stdout
    assert result.stdout.count("AADSTS") == 1  # said once, not for every mailbox


# -- from the adversarial review ------------------------------------------------------------


def test_an_internationalised_address_neither_crashes_the_pass_nor_holds_up_others(
    org: GraphOrg,
) -> None:
    stranger = (
        "From: =?utf-8?q?J=C3=B6rg?= <jörg@bücher.example>\r\nTo: housing@homes.example\r\n"
        "Cc: =?utf-8?q?Zo=C3=AB?= <zoë@bücher.example>\r\nSubject: Grüße\r\n"
        "Message-ID: <idn-1@bücher.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHallo.\r\n"
    ).encode()
    org.deliver(stranger, org.info)
    org.deliver(customer_message(org.customer, org.staff), org.staff)

    result = org.spocbot("watch", "--once")

    assert "Traceback" not in result.stderr
    assert 1 == len(org.forwards(org.spoc))


def test_a_throttled_raw_fetch_is_an_outage_not_a_bad_message(org: GraphOrg) -> None:
    org.deliver(customer_message(org.customer, org.info), org.info)
    org.server.fail("GET", r"/\$value", 503, times=6)  # more than one pass's five tries

    first = org.spocbot("watch", "--once", check=False)
    org.spocbot("watch", "--once")

    assert 1 == first.returncode
    assert "[]" == org.spocbot("quarantine", "list", "--json").stdout.strip()
    assert 1 == len(org.forwards(org.spoc))


def test_a_message_moved_out_and_back_before_it_was_handled_is_handled(
    org: GraphOrg,
) -> None:
    message_id = org.deliver(customer_message(org.customer, org.info), org.info)
    org.server.fail("GET", r"/\$value", 503, times=6)
    org.spocbot("watch", "--once", check=False)  # numbered, not handled: Graph was failing
    org.server.move(org.info, message_id, "deleteditems")
    org.spocbot("watch", "--once")  # reported as removed from the inbox
    org.server.move(org.info, message_id, "inbox")

    org.spocbot("watch", "--once")

    assert 1 == len(org.forwards(org.spoc))


def test_a_failing_token_endpoint_is_an_outage_with_a_plain_message(org: GraphOrg) -> None:
    org.deliver(customer_message(org.customer, org.info), org.info)
    org.server.fail("POST", r"/oauth2/v2.0/token", 503, times=1)

    first = org.spocbot("watch", "--once", check=False)
    org.spocbot("watch", "--once")

    assert 1 == first.returncode
    assert "Traceback" not in first.stderr
    assert "[]" == org.spocbot("quarantine", "list", "--json").stdout.strip()
    assert 1 == len(org.forwards(org.spoc))


@pytest.mark.parametrize(
    "lost",
    [
        r"/attachments$",  # a small file attachment to the draft
        r"^/upload/",  # an upload-session chunk
        r"/messages/[^/]+$",  # deleting a leftover draft (after a lost send)
    ],
)
def test_a_lost_answer_during_a_large_forward_sends_it_once_with_one_original(
    org: GraphOrg, lost: str
) -> None:
    attachment = bytes(range(256)) * (2_500_000 // 256)  # a draft + a small attachment
    if lost == r"^/upload/":
        attachment = bytes(range(256)) * (8 * 1024 * 1024 // 256)  # an upload session
    raw = _with_attachment(customer_message(org.customer, org.info), attachment)
    org.deliver(raw, org.info)
    if lost == r"/messages/[^/]+$":
        org.server.drop_answer("POST", r"/send$")  # leaves a draft to delete...
        org.server.drop_answer("DELETE", lost)  # ...whose deletion loses its answer too
    else:
        org.server.drop_answer("*", lost)

    for _ in range(3):
        org.spocbot("watch", "--once", check=False)

    [forward] = org.forwards(org.spoc)
    assert raw == attached_original(forward)
    assert 1 == forward.count(b'filename="original-message.eml"')
    assert [] == [m for m in org.server.messages(org.bot, "drafts")]
    [row] = breaches(org)
    assert ["sent"] == [f["status"] for f in row["forwarded_to"]]  # type: ignore[index,union-attr]


def test_an_original_just_under_three_megabytes_is_forwarded(org: GraphOrg) -> None:
    raw = customer_message(org.customer, org.info)
    raw = _with_attachment(raw, bytes(range(256)) * (2_350_000 // 256))  # ~3.15 MB as MIME
    org.deliver(raw, org.info)

    org.spocbot("watch", "--once")

    [forward] = org.forwards(org.spoc)
    assert raw == attached_original(forward)


def test_a_category_someone_added_meanwhile_is_kept(org: GraphOrg) -> None:
    """The category PATCH is conditional on the version it was computed from."""
    from bot.bootstrap import build_app, mail_connections

    message_id = org.deliver(customer_message(org.customer, org.info), org.info)
    app = build_app(org.config)
    with mail_connections(app.settings, app.factory) as connections:
        mailbox = connections.stores[org.info]
        mailbox.select("inbox")  # the summary (and its etag) is read here
        person = connections.stores[org.info]._client  # type: ignore[attr-defined]
        person.request(
            "PATCH",
            f"users/{org.info}/messages/{message_id}",
            mailbox=org.info,
            json_body={"categories": ["Red category"]},
        )
        mailbox.tag("inbox", [1], "$SpocbotHandled", False)

    [message] = [m for m in org.server.messages(org.info, "inbox") if m.id == message_id]
    assert ["Red category", "Recorded by spocbot"] == message.categories
