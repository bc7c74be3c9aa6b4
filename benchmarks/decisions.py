"""Benchmark: decisions per second of the pure core, for pre-parsed envelopes.

10,000 arrangements, 50 SPOCs (one of them absent), 100,000 envelopes: a mix of unknown
senders, breaches, permitted contact and automatic messages.  Prints JSON.  Run on one core:
``taskset -c 0 .venv/bin/python benchmarks/decisions.py``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailbox_rules import (
    Absence,
    Arrangement,
    ArrangementStatus,
    Envelope,
    Officer,
    Register,
    decide,
)

ARRANGEMENTS = 10_000
ENVELOPES = 100_000
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def main() -> None:
    spocs = [Officer(f"SPOC {i}", f"spoc{i}@org.example") for i in range(50)]
    cover = Officer("Cover", "cover@org.example")
    register = Register.build(
        [
            Arrangement(
                f"C-{i}",
                f"Customer {i}",
                frozenset({f"c{i}@mail.example"}),
                spocs[i % 50],
                cover,
                frozenset({spocs[i % 50].email}),
                ArrangementStatus.ACTIVE,
                date(2026, 1, 1),
                date(2027, 1, 1),
            )
            for i in range(ARRANGEMENTS)
        ],
        [Absence(spocs[1].email, date(2026, 12, 1), date(2026, 12, 31))],
        ["info@org.example", *(s.email for s in spocs)],
    )
    envelopes = []
    for n in range(ENVELOPES):
        kind = n % 10
        sender = f"c{n % ARRANGEMENTS}@mail.example" if kind < 3 else f"p{n}@public.example"
        found_in = spocs[(n % ARRANGEMENTS) % 50].email if kind == 1 else "info@org.example"
        envelopes.append(
            Envelope(
                found_in=found_in,
                folder="INBOX",
                message_id=f"<{n}@x>",
                received_at=NOW,
                from_addresses=(sender,),
                to=(found_in,),
                automatic="Auto-Submitted: auto-replied" if kind == 9 else None,
            )
        )
    decide(envelopes[0], register, NOW)  # warm up
    started = time.perf_counter()
    kinds: dict[str, int] = {}
    for envelope in envelopes:
        decision = decide(envelope, register, NOW)
        kinds[decision.kind.value] = kinds.get(decision.kind.value, 0) + 1
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "arrangements": ARRANGEMENTS,
                "envelopes": ENVELOPES,
                "seconds": round(seconds, 3),
                "decisions_per_second": round(ENVELOPES / seconds),
                "decisions": kinds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
