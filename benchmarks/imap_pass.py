"""Benchmark: one watcher pass over 10,000 messages in 4 mailboxes on the real Dovecot server.

Seeds 10,000 messages (IMAP APPEND) over four watched mailboxes, 1% of them from registered
customers — a quarter of those to the customer's SPOC (allowed) and the rest to other
mailboxes (breaches: stored and forwarded), and 0.1% from strangers who sign with a
customer's name (possible matches: kept for review).  Every message from a customer under an
arrangement needs action — it is read in full to screen it for emergencies — and so does each
possible match; no other message is fetched in full.  Every stranger's message is read in part
(the first ``[matching] scan_bytes``) to look for possible matches; set
``BENCH_POSSIBLE_MATCHES=0`` to measure the pass without that.  Then runs:

* pass 1 — everything new;
* pass 2 — only the forwards that pass 1 delivered into the SPOC's inbox are new;
* pass 3 — nothing new: must cost one SELECT per folder and fetch nothing.

Prints one JSON object.  Needs the test servers (``make servers`` as root); run with
``make bench``.  Not a test: it asserts only what the issue requires (full-body fetches equal
the messages that need action; a pass with nothing new fetches no message) and says so.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.bootstrap import build_app, build_watcher, mail_connections
from bot.register_service import import_register
from tests.mailtest import PASSWORD, imap, make_org, message, require_servers

TOTAL = int(os.environ.get("BENCH_MESSAGES", "10000"))
POSSIBLE_MATCHES = os.environ.get("BENCH_POSSIBLE_MATCHES", "1") != "0"
CUSTOMERS = 10
NAMES = [
    "Ada Brook",
    "Ben Carr",
    "Cy Dale",
    "Di Eyre",
    "Ed Ford",
    "Flo Gray",
    "Gus Hale",
    "Hal Irwin",
    "Ivy Jones",
    "Jo Kemp",
]


def main() -> None:
    require_servers()
    os.environ["SPOCBOT_TEST_PW"] = PASSWORD
    root = Path(tempfile.mkdtemp(prefix="spocbot-bench-"))
    org = make_org(root)
    customers = [f"bench-{i}-{org.tag}@customer.example" for i in range(CUSTOMERS)]
    lines = (root / "register.csv").read_text().splitlines()[:1]
    for i, address in enumerate(customers):
        lines.append(
            f"B-{i},{NAMES[i]},{address},Sam Spoc,{org.spoc},Chris Cover,"
            f"{org.cover},,active,2026-01-01,2027-01-01"
        )
    (root / "register.csv").write_text("\n".join(lines) + "\n")
    if not POSSIBLE_MATCHES:
        org.config.write_text(org.config.read_text() + "\n[matching]\npossible_matches = false\n")

    mailboxes = [org.info, org.spoc, org.staff, org.cover]
    from_customers = TOTAL // 100
    need_action = signed = 0
    seed_started = time.monotonic()
    clients = {address: imap(address) for address in mailboxes}
    for n in range(TOTAL):
        target = mailboxes[n % len(mailboxes)]
        if n % 100 == 0:
            target = mailboxes[(n // 100) % len(mailboxes)]
            sender = customers[(n // 100) % CUSTOMERS]
            need_action += 1  # screened for emergency words, breach or not
        else:
            sender = f"member{n}@public.example"
        body = ""
        if n % 1000 == 550:  # a stranger signing with a customer's name: a possible match
            body = f"Please call me back.\r\n\r\nRegards,\r\n{NAMES[(n // 1000) % CUSTOMERS]}"
            signed += 1
            need_action += POSSIBLE_MATCHES
        clients[target].append("INBOX", message(sender, target, subject=f"Enquiry {n}", body=body))
    for client in clients.values():
        client.logout()
    seed_seconds = time.monotonic() - seed_started

    app = build_app(org.config)
    import_register(
        app.factory, root / "register.csv", staff_addresses=app.staff_addresses, staff_domains=()
    )
    passes = []
    with mail_connections(app.settings) as connections:
        watcher = build_watcher(app, connections)
        for _ in range(3):
            started = time.monotonic()
            report = watcher.run_pass().as_dict()
            seconds = time.monotonic() - started
            passes.append(
                {
                    "messages": report["headers_fetched"],
                    "seconds": round(seconds, 3),
                    "messages_per_second": round(report["headers_fetched"] / seconds, 1),  # type: ignore[operator]
                    "full_body_fetches": report["full_messages_fetched"],
                    "texts_scanned": report["texts_scanned"],
                    "to_review": report["to_review"],
                    "breaches": report["new_breaches"],
                    "forwards_sent": report["forwards_sent"],
                    "errors": report["errors"],
                }
            )
            time.sleep(1)  # let the forwards land in the SPOC's inbox before the next pass
    result = {
        "messages_seeded": TOTAL,
        "mailboxes": len(mailboxes),
        "from_registered_customers": from_customers,
        "possible_matches_on": POSSIBLE_MATCHES,
        "signed_by_strangers_with_a_customers_name": signed,
        "needing_action": need_action,
        "seed_seconds": round(seed_seconds, 1),
        "pass_1_everything_new": passes[0],
        "pass_2_only_forwards_new": passes[1],
        "pass_3_nothing_new": passes[2],
        "full_fetches_equal_needing_action": passes[0]["full_body_fetches"] == need_action,
        "nothing_new_fetches_nothing": passes[2]["messages"] == 0
        and passes[2]["full_body_fetches"] == 0,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
