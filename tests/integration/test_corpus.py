"""Every real-world message in ../shared/corpus through a watcher pass on the real server.

The messages are appended byte-for-byte into a watched mailbox with IMAP APPEND (SMTP would
refuse or repair some of them).  None of their senders is registered, so nothing may be
forwarded; the pass must not crash, and whatever could not be handled is quarantined and
counted — every message is accounted for.
"""

from __future__ import annotations

import json
import sqlite3

from tests.corpus import corpus_messages, require_corpus
from tests.mailtest import Org, imap


def test_every_corpus_message_is_handled_or_quarantined_never_forwarded(org: Org) -> None:
    require_corpus()
    messages = corpus_messages()
    client = imap(org.info)
    appended = 0
    for path in messages:
        client.append("INBOX", path.read_bytes())
        appended += 1
    client.logout()

    report = json.loads(org.spocbot("watch", "--once", "--json").stdout)

    assert appended == report["headers_fetched"]
    assert report["forwards_sent"] == 0
    assert report["new_breaches"] == 0
    assert report["errors"] == []
    quarantined = json.loads(org.spocbot("quarantine", "list", "--json").stdout)
    assert report["quarantined"] == len(quarantined)
    assert all(q["reason"] for q in quarantined)
    database = sqlite3.connect(org.root / "state" / "spocbot.db")
    decided = database.execute("select count(*) from processed_messages").fetchone()[0]
    errors = report["decisions"].get("error", 0)
    assert appended == decided + errors  # every message has a decision or a quarantine entry
    assert {"ignore", "review"} >= set(report["decisions"]) - {"error"}
