"""Reminders and digests queued while the mail server is down: the command says they are
queued and not sent (exit 1), nothing is lost, and running the command again sends them
(real Postfix and Dovecot)."""

from __future__ import annotations

import json
import time

import pytest

from tests.mailtest import SMTP_PORT, Org, inbox, wait_for_count

pytestmark = pytest.mark.servers


def _smtp_down(org: Org) -> str:
    good = org.config.read_text()
    org.config.write_text(good.replace(f"port = {SMTP_PORT}", "port = 9"))  # nothing listens
    return good


def test_reminders_queued_during_an_outage_are_sent_by_the_next_reminders_send(org: Org) -> None:
    register = org.root / "register.csv"
    register.write_text(register.read_text().replace("2027-01-01", "2026-12-10"))
    org.spocbot("register", "import", str(register))
    good = _smtp_down(org)
    down = org.spocbot("reminders", "send", check=False)
    org.config.write_text(good)
    time.sleep(2.5)  # past the deferral's backoff

    again = org.spocbot("reminders", "send", check=False)

    assert (1, True) == (down.returncode, "queued but not sent" in down.stderr), down.stderr
    assert 0 == again.returncode, again.stdout + again.stderr
    assert "queued earlier are not sent yet" in again.stdout
    statuses = {r["status"] for r in json.loads(org.spocbot("reminders", "list", "--json").stdout)}
    assert {"sent"} == statuses
    assert 1 == len(wait_for_count(org.dmo, 1))


def test_a_digest_queued_during_an_outage_is_not_reported_as_sent_and_is_sent_next_time(
    org: Org,
) -> None:
    good = _smtp_down(org)
    down = org.spocbot("digest", "send", "--kind", "reviews", check=False)
    org.config.write_text(good)
    time.sleep(2.5)

    again = org.spocbot("digest", "send", "--kind", "reviews", check=False)

    assert 1 == down.returncode
    assert "not sent yet: sending it now" in again.stdout, again.stdout
    assert "sent already" not in again.stdout
    [row] = json.loads(org.spocbot("digest", "list", "--json").stdout)
    assert "sent" == row["status"]
    assert 1 == len(wait_for_count(org.dmo, 1))
    assert 1 == len(inbox(org.dmo))
