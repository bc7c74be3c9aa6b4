"""`spocbot letter send` through the real Postfix into Dovecot: received once, kept as evidence
byte for byte, a repeat sends nothing, and a letter queued while the mail server is down is
sent by the next watcher pass."""

from __future__ import annotations

import json
import time
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from bot.bootstrap import build_app
from tests.lettertest import LETTERS_SECTION, email_text, set_fields
from tests.mailtest import BASE_LETTERS, SMTP_PORT, Org, inbox, wait_for_count

pytestmark = pytest.mark.servers


@pytest.fixture
def letters_org(org: Org) -> Org:
    org.config.write_text(org.config.read_text().replace(BASE_LETTERS, "") + LETTERS_SECTION)
    set_fields(build_app(org.config), "T-1")
    return org


def letters(org: Org) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(org.spocbot("letter", "list", "--json").stdout)
    return rows


def test_a_letter_is_received_once_and_kept_as_evidence_as_sent(letters_org: Org) -> None:
    org = letters_org
    send = ("letter", "send", "introduction", "--customer", "T-1", "--as-of", "2026-12-03")

    first = org.spocbot(*send)
    [received] = wait_for_count(org.customer, 1)
    second = org.spocbot(*send)
    time.sleep(1.5)  # let any duplicate arrive before counting

    assert "Sent the introduction letter for T-1" in first.stdout
    assert "Already sent" in second.stdout and "nothing was sent again" in second.stdout
    assert 1 == len(inbox(org.customer))
    [row] = letters(org)
    assert ("sent", org.customer, "introduction") == (row["status"], row["to"], row["kind"])
    kept = build_app(org.config).evidence.get(str(row["sha256"]))
    assert received.endswith(kept), "the delivered message is the evidence copy, byte for byte"
    message = message_from_bytes(received, policy=default_policy)
    assert org.spoc == message["Reply-To"], "replies go to the SPOC, not the unread bot mailbox"
    assert "application/pdf" in [p.get_content_type() for p in message.walk()]
    assert "0300 123 4567" in email_text(received)
    audit = json.loads(org.spocbot("audit", "list", "--customer", "T-1", "--json").stdout)
    # The command's decision to send, then the outbox's record of the one delivery (the
    # second `letter send` sent nothing, so neither is repeated).
    assert ["letter.send", "letter.sent"] == [
        e["action"] for e in audit if e["action"].startswith("letter")
    ]


def test_the_referral_form_goes_to_the_dmo(letters_org: Org) -> None:
    org = letters_org
    org.spocbot("letter", "send", "referral-form", "--customer", "T-1", "--as-of", "2026-12-03")

    [received] = wait_for_count(org.dmo, 1)
    assert "Hearing impairment: prefers email." in email_text(received)
    assert [] == list(inbox(org.customer))


def test_a_letter_queued_while_smtp_is_down_is_sent_by_the_next_watcher_pass(
    letters_org: Org,
) -> None:
    org = letters_org
    good = org.config.read_text()
    org.config.write_text(good.replace(f"port = {SMTP_PORT}", "port = 9"))  # nothing listens

    down = org.spocbot(
        "letter",
        "send",
        "introduction",
        "--customer",
        "T-1",
        "--as-of",
        "2026-12-03",
        check=False,
    )
    assert 1 == down.returncode
    assert "not sent yet" in down.stderr and "next `spocbot watch` pass sends it" in down.stderr
    assert ["pending"] == [r["status"] for r in letters(org)]

    org.config.write_text(good)
    time.sleep(2.5)  # the deferred attempt's backoff ([watch] retry_max_seconds = 2)
    org.spocbot("watch", "--once")

    wait_for_count(org.customer, 1)
    assert ["sent"] == [r["status"] for r in letters(org)]
