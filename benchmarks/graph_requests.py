"""Benchmark: how many Microsoft Graph requests the watcher makes, on the local Graph server.

Microsoft throttles per app and per mailbox, so the Graph backend is measured in requests,
not seconds.  Against the local Graph test server (tests/graphserver, the same stand-in the
integration tests use), with four watched mailboxes (Inbox and Junk each) and the default
``[graph] page_size``:

* pass 1 — ``BENCH_UNFLAGGED`` (1,000) new messages from strangers and staff, none of them a
  registered customer's: requests per 1,000 unflagged messages (target ≤ 15);
* pass 2 — ``BENCH_BREACHES`` (20) new breaches: requests per breach (target ≤ 5);
* pass 3 — nothing new: the fixed cost of a pass;
* the peak number of requests served at once for any one mailbox (must be ≤ 4).

"Round trips" are HTTP requests the client sent; "calls" also count each request inside a
``$batch`` (Graph applies its limits to those one by one).  Prints one JSON object; not a test.
Run with ``make bench-graph`` (no servers or root needed).
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
from tests.graphserver import GraphTestServer
from tests.graphtest import customer_message, graph_org

UNFLAGGED = int(os.environ.get("BENCH_UNFLAGGED", "1000"))
BREACHES = int(os.environ.get("BENCH_BREACHES", "20"))


def stranger_message(n: int, to: str) -> bytes:
    sender = f"resident{n}@freemail.example" if n % 5 else f"colleague{n}@homes.example"
    return (
        f"From: Resident {n} <{sender}>\r\nTo: {to}\r\nSubject: Enquiry {n}\r\n"
        f"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <bench-{n}@freemail.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, a question about my tenancy ({n}). Kind regards, Resident {n}\r\n"
    ).encode()


def counts(server: GraphTestServer) -> dict[str, int]:
    graph = [r for r in server.requests if r.path.startswith("/v1.0/")]
    return {
        "round_trips": len([r for r in graph if not r.in_batch]),
        "calls": len([r for r in graph if r.in_batch or not r.path.endswith("$batch")]),
        "uploads": len([r for r in server.requests if r.path.startswith("/upload/")]),
    }


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="spocbot-graph-bench-"))
    with graph_org(root, page_size=500) as org:
        server = org.server
        mailboxes = org.watched
        app = build_app(org.config)
        results: dict[str, object] = {"unflagged": UNFLAGGED, "breaches": BREACHES}
        with mail_connections(app.settings, app.factory) as connections:
            watcher = build_watcher(app, connections)
            watcher.run_pass()  # first rounds of every folder: empty
            passes = []
            seeds = [
                lambda: [
                    server.deliver(mailboxes[n % 4], stranger_message(n, mailboxes[n % 4]))
                    for n in range(UNFLAGGED)
                ],
                lambda: [
                    server.deliver(
                        mailboxes[n % 2 * 2],  # housing@ and repairs@: bypasses
                        customer_message(org.customer, mailboxes[n % 2 * 2], subject=f"B{n}"),
                    )
                    for n in range(BREACHES)
                ],
                lambda: [],
            ]
            for seed in seeds:
                seed()
                server.reset_counters()
                started = time.monotonic()
                report = watcher.run_pass().as_dict()
                passes.append(
                    {
                        "seconds": round(time.monotonic() - started, 2),
                        **counts(server),
                        "new_breaches": report["new_breaches"],
                        "forwards_sent": report["forwards_sent"],
                        "full_messages_fetched": report["full_messages_fetched"],
                        "errors": report["errors"],
                        "peak_concurrency": max(server.peak_concurrency.values(), default=0),
                    }
                )
        unflagged, breaches, idle = passes
        results["pass_1_unflagged"] = unflagged
        results["pass_2_breaches"] = breaches
        results["pass_3_idle"] = idle
        results["round_trips_per_1000_unflagged"] = round(
            unflagged["round_trips"] * 1000 / UNFLAGGED, 1
        )
        extra = breaches["round_trips"] - idle["round_trips"]
        results["round_trips_per_breach"] = round(extra / BREACHES, 2)
        results["calls_per_breach"] = round((breaches["calls"] - idle["calls"]) / BREACHES, 2)
        results["peak_concurrency_per_mailbox"] = max(p["peak_concurrency"] for p in passes)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
