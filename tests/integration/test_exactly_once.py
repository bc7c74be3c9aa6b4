"""Exactly once: a real ``spocbot`` process killed at every step neither loses nor repeats.

Each test kills the watcher process — at a named crash point (``SPOCBOT_CRASH_AT``, which
ends the process with ``os._exit`` exactly as a kill would) or with a real SIGKILL at random
moments — restarts it, and then counts what reached the SPOC's real IMAP inbox.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from bot.crashpoints import POINTS
from tests.mailtest import (
    PASSWORD,
    REPO,
    SPOCBOT,
    Org,
    deliver_and_wait,
    inbox,
    message,
    smtp_send,
    wait_for_count,
)


def forwards_in(address: str) -> list[bytes]:
    return [
        data[b"BODY[]"]  # type: ignore[misc]
        for data in inbox(address, ["HEADER", "X-Spocbot-Kind", "forward"]).values()
    ]


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_any_step_the_breach_is_forwarded_exactly_once(org: Org, point: str) -> None:
    deliver_and_wait(message(org.customer, org.info), [org.info])

    crashed = org.spocbot("watch", "--once", env={"SPOCBOT_CRASH_AT": point}, check=False)
    assert crashed.returncode == 137, crashed.stderr
    org.spocbot("watch", "--once")
    org.spocbot("watch", "--once")

    time.sleep(1.5)  # let any duplicate arrive before counting
    assert len(forwards_in(org.spoc)) == 1
    rows = json.loads(org.spocbot("breaches", "list", "--json").stdout)
    assert len(rows) == 1
    assert [f["status"] for f in rows[0]["forwarded_to"]] == ["sent"]


def test_random_sigkills_of_the_daemon_forward_each_breach_exactly_once(org: Org) -> None:
    count = 12
    raws = [message(org.customer, org.info, subject=f"Complaint {i}") for i in range(count)]
    for raw in raws:
        smtp_send(raw, [org.info])
    wait_for_count(org.info, count)
    env = {**os.environ, "SPOCBOT_TEST_PW": PASSWORD}
    rng = random.Random(20261203)
    for _ in range(6):
        daemon = subprocess.Popen(
            [*SPOCBOT, "--config", str(org.config), "watch"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 2.0))
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
    org.spocbot("watch", "--once")
    org.spocbot("watch", "--once")

    time.sleep(1.5)
    forwards = forwards_in(org.spoc)
    ids = [message_from_bytes(f, policy=default_policy)["Message-ID"] for f in forwards]
    assert count == len(forwards)
    assert count == len(set(ids))
    rows = json.loads(org.spocbot("breaches", "list", "--json").stdout)
    assert count == len(rows)
    assert {"sent"} == {f["status"] for r in rows for f in r["forwarded_to"]}
