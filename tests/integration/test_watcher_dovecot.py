"""The watcher against real Dovecot (IMAP) and Postfix (SMTP): routing, evidence, tagging."""

from __future__ import annotations

import hashlib
import json
import os
import time
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from bot.mail.forward import attached_original
from tests.mailtest import (
    Org,
    deliver_and_wait,
    imap,
    inbox,
    message,
    smtp_send,
    wait_for_count,
)


def watch_once(org: Org) -> dict[str, object]:
    result = org.spocbot("watch", "--once", "--json")
    report: dict[str, object] = json.loads(result.stdout)
    return report


def breaches(org: Org) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(org.spocbot("breaches", "list", "--json").stdout)
    return rows


def test_breach_reaches_spoc_with_original_attached_byte_for_byte(org: Org) -> None:
    raw = message(org.customer, org.info, subject="Damp in the bedroom – £50 café")
    deliver_and_wait(raw, [org.info])
    stored = next(iter(inbox(org.info).values()))[b"BODY[]"]

    report = watch_once(org)

    assert report["new_breaches"] == 1
    assert report["forwards_sent"] == 1
    forward = wait_for_count(org.spoc, 1)[0]
    assert stored == attached_original(forward)
    parsed = message_from_bytes(forward, policy=default_policy)
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Auto-Response-Suppress"] == "All"
    assert "Damp" not in str(parsed["Subject"])  # the original's headers are never copied
    attachment = next(iter(parsed.iter_attachments()))
    assert attachment.get_content_type() == "message/rfc822"
    row = breaches(org)[0]
    assert [org.info] == row["mailboxes"]
    assert hashlib.sha256(stored).hexdigest() == row["sha256"]
    assert [{"name": "Sam Spoc", "email": org.spoc, "status": "sent"}] == [
        {k: f[k] for k in ("name", "email", "status")}
        for f in row["forwarded_to"]  # type: ignore[union-attr]
    ]


def test_original_is_left_unread_in_place_and_tagged(org: Org) -> None:
    deliver_and_wait(message(org.customer, org.info), [org.info])

    watch_once(org)

    [data] = inbox(org.info).values()
    flags = {f.decode() for f in data[b"FLAGS"]}  # type: ignore[union-attr]
    assert "\\Seen" not in flags
    assert "$SpocbotHandled" in flags
    assert "\\Deleted" not in flags


def test_unrelated_mail_is_not_tagged_or_fetched(org: Org) -> None:
    deliver_and_wait(message("someone@elsewhere.example", org.info), [org.info])

    report = watch_once(org)

    assert report["full_messages_fetched"] == 0
    [data] = inbox(org.info).values()
    assert data[b"FLAGS"] == () or b"$SpocbotHandled" not in data[b"FLAGS"]  # type: ignore[operator]


def test_one_message_in_three_mailboxes_is_one_breach_and_one_forward(org: Org) -> None:
    raw = message(org.customer, org.info, cc=f"{org.staff}, {org.spoc}")
    deliver_and_wait(raw, [org.info, org.staff, org.spoc])

    report = watch_once(org)

    assert report["new_breaches"] == 1
    assert report["forwards_sent"] == 1
    assert [sorted([org.info, org.staff, org.spoc])] == [b["mailboxes"] for b in breaches(org)]
    forwards = [m for m in wait_for_count(org.spoc, 2) if b"X-Spocbot-Kind" in m]
    assert len(forwards) == 1


def test_second_pass_forwards_nothing_and_fetches_no_message(org: Org) -> None:
    deliver_and_wait(message(org.customer, org.info), [org.info])
    watch_once(org)
    wait_for_count(org.spoc, 1)
    watch_once(org)  # reads the forward that arrived in the SPOC's inbox (from the bot: ignored)

    report = watch_once(org)

    assert report["headers_fetched"] == 0
    assert report["full_messages_fetched"] == 0
    assert report["forwards_sent"] == 0
    assert len(wait_for_count(org.spoc, 1)) == 1


def test_permitted_route_is_recorded_as_contact_without_forward(org: Org) -> None:
    deliver_and_wait(message(org.customer, org.spoc), [org.spoc])

    report = watch_once(org)

    assert report["decisions"] == {"allowed": 1}
    assert report["forwards_sent"] == 0
    contacts = json.loads(org.spocbot("contacts", "list", "--json").stdout)
    assert [c["kind"] for c in contacts] == ["allowed"]


def test_breach_goes_to_cover_officer_while_spoc_is_absent(org: Org) -> None:
    org.spocbot("officer", "absence", "add", org.spoc, "--from", "2020-01-01", "--to", "2099-12-31")
    deliver_and_wait(message(org.customer, org.staff), [org.staff])

    watch_once(org)

    forward = wait_for_count(org.cover, 1)[0]
    assert b"to cover officer Chris Cover" in forward.replace(b"=\r\n", b"")
    assert len(inbox(org.spoc)) == 0


def test_imap_outage_is_reported_and_loses_nothing(org: Org) -> None:
    deliver_and_wait(message(org.customer, org.info), [org.info])
    broken = org.config.read_text().replace("port = 10143", "port = 1")
    org.config.write_text(broken)

    failed = org.spocbot("watch", "--once", check=False)

    assert failed.returncode == 1
    assert "cannot reach IMAP server 127.0.0.1:1" in failed.stderr
    org.config.write_text(broken.replace("port = 1\n", "port = 10143\n"))
    report = watch_once(org)
    assert report["new_breaches"] == 1


def test_missing_folder_is_reported_and_other_folders_still_watched(org: Org) -> None:
    deliver_and_wait(message(org.customer, org.info), [org.info])
    config = org.config.read_text()
    block = f'address = "{org.info}"\nrole = "information"\n'
    org.config.write_text(config.replace(block, block + 'folders = ["No such folder", "INBOX"]\n'))

    result = org.spocbot("watch", "--once", "--json", check=False)

    report = json.loads(result.stdout)
    assert 1 == result.returncode
    assert 1 == report["new_breaches"]
    assert [f"{org.info}/No such folder"] == [e.split(": ")[0] for e in report["errors"]]


def test_message_the_server_cannot_read_is_quarantined_and_folder_goes_on(org: Org) -> None:
    deliver_and_wait(message("someone@elsewhere.example", org.info), [org.info])
    maildir = Path(os.environ.get("SPOCBOT_TEST_STATE", "/var/tmp/spocbot-test"))
    files = list((maildir / "mail" / "test.example" / org.info.split("@")[0]).rglob("Maildir/*/*"))
    if not files or os.geteuid() != 0:
        pytest.skip("needs root and the test servers' maildir to make a message unreadable")
    for path in files:
        path.chmod(0)
    smtp_send(message(org.customer, org.info), [org.info])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # count by SEARCH: fetching would hit the bad file
        client = imap(org.info)
        client.select_folder("INBOX", readonly=True)
        count = len(client.search(["ALL"]))
        client.logout()
        if count == 2:
            break
        time.sleep(0.2)

    result = org.spocbot("watch", "--once", "--json", check=False)

    report = json.loads(result.stdout)
    assert (1, 1) == (report["quarantined"], report["new_breaches"])
    [entry] = json.loads(org.spocbot("quarantine", "list", "--json").stdout)
    assert "the mail server would not return it" in entry["reason"]


def test_doctor_passes_on_the_real_servers_and_names_a_wrong_password(org: Org) -> None:
    good = org.spocbot("doctor", "--send-test")
    bad = org.spocbot("doctor", env={"SPOCBOT_TEST_PW": "wrong"}, check=False)

    assert "All checks passed." in good.stdout
    assert "PASS  bot mailbox can send: a test message" in good.stdout
    assert 1 == bad.returncode
    assert f"FAIL  mailbox {org.info}/INBOX: IMAP login refused" in bad.stdout


def test_a_rescan_on_imap_decides_the_folder_again_without_repeating_anything(
    org: Org,
) -> None:
    deliver_and_wait(message(org.customer, org.info), [org.info])
    org.spocbot("watch", "--once")

    result = org.spocbot("rescan", "--since", "2026-01-01", "--mailbox", org.info)
    org.spocbot("watch", "--once")

    assert f"{org.info}/INBOX: 1 message(s) already seen" in result.stdout
    assert 1 == len(wait_for_count(org.spoc, 1))
    events = json.loads(org.spocbot("audit", "list", "--action", "folders.", "--json").stdout)
    assert "folders.rescan" == events[-1]["action"]
