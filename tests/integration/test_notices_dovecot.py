"""Reminders and digests sent through the real Postfix and read back from Dovecot: HTML with a
plain-text alternative, the chart as an inline PNG, nothing restricted in them, and the
``spocbot run`` daemon catching up at start-up and stopping cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from sqlalchemy import select

from bot.bootstrap import build_app
from bot.digests import BREACHES, latest_slot
from bot.store import models as m
from tests.mailtest import PASSWORD, REPO, SPOCBOT, Org, wait_for_count

pytestmark = pytest.mark.servers
SECRET_REASONS = "ZEBRA-REASON-4412 threatening language"
SECRET_NEEDS = "OKAPI-SUPPORT-9087 anxiety disorder"


def prepare(org: Org) -> None:
    """A review due in ten days, restricted text on the arrangement, and a breach recorded
    in the period of the latest breaches digest (so that it has a chart)."""
    app = build_app(org.config)
    slot = latest_slot(BREACHES, datetime.now(UTC), app.settings)
    with app.factory.begin() as session:
        arrangement = session.scalars(select(m.Arrangement)).one()
        arrangement.review_date = date.today() + timedelta(days=10)
        arrangement.reasons, arrangement.support_needs = SECRET_REASONS, SECRET_NEEDS
        session.add(
            m.Breach(
                customer_id=arrangement.customer_id,
                message_id=f"<breach-{org.tag}@customer.example>",
                received_at=slot - timedelta(hours=2),
                reason="sent to the information mailbox",
                rules="bypassed-spoc",
                sha256="0" * 64,
                size=100,
                created_at=slot - timedelta(hours=1),
            )
        )
    app.engine.dispose()


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def kind_of(message: EmailMessage) -> str:
    return str(message["X-Spocbot-Kind"])


def check_need_to_know(message: EmailMessage) -> None:
    texts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
    for secret in ("ZEBRA", "OKAPI", SECRET_REASONS, SECRET_NEEDS):
        assert all(secret not in text for text in texts)


def test_reminders_and_digests_arrive_with_html_text_and_the_chart(org: Org) -> None:
    prepare(org)

    org.spocbot("reminders", "send")
    org.spocbot("digest", "send", "--kind", "breaches")
    org.spocbot("digest", "send", "--kind", "breaches")  # the same slot: nothing more

    (spoc_reminder,) = [parsed(raw) for raw in wait_for_count(org.spoc, 1)]
    dmo = [parsed(raw) for raw in wait_for_count(org.dmo, 2)]
    assert ["digest", "reminder"] == sorted(kind_of(msg) for msg in dmo)
    reminder = next(msg for msg in dmo if kind_of(msg) == "reminder")
    digest = next(msg for msg in dmo if kind_of(msg) == "digest")
    for message in (spoc_reminder, reminder):
        assert ["multipart/alternative", "text/plain", "text/html"] == [
            p.get_content_type() for p in message.walk()
        ]
        assert "T-1 (Test Customer): Review due on" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ] == [p.get_content_type() for p in digest.walk()]
    png = next(p for p in digest.walk() if p.get_content_type() == "image/png")
    assert png.get_content().startswith(b"\x89PNG")
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"cid:{png['Content-ID'].strip('<>')}" in html
    assert (
        "T-1 (Test Customer): 1 breach (bypassed spoc 1)"
        in digest.get_body(("plain",)).get_content()
    )  # type: ignore[union-attr]
    for message in (spoc_reminder, *dmo):
        check_need_to_know(message)
    assert 2 == len(wait_for_count(org.dmo, 3, timeout=3))  # nothing sent twice


def test_spocbot_run_catches_up_at_start_and_stops_on_sigterm(org: Org) -> None:
    prepare(org)
    env = {k: v for k, v in os.environ.items() if k != "SPOCBOT_CRASH_AT"}
    process = subprocess.Popen(
        [*SPOCBOT, "--config", str(org.config), "run"],
        env={**env, "SPOCBOT_TEST_PW": PASSWORD},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The reminder to the DMO, the breaches digest and the reviews digest.
        dmo = [parsed(raw) for raw in wait_for_count(org.dmo, 3, timeout=60)]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)

    assert 0 == process.returncode, stderr
    assert "stopped" in stderr
    assert ["digest", "digest", "reminder"] == sorted(kind_of(msg) for msg in dmo)
    assert 1 == len(wait_for_count(org.spoc, 1))
    for message in dmo:
        check_need_to_know(message)
