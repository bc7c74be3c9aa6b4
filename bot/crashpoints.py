"""Named points where tests can make the process die, to prove exactly-once handling.

Set ``SPOCBOT_CRASH_AT`` to a point's name (for example ``after-smtp-send``) and the process
ends at once with ``os._exit(137)`` — no clean-up, no commit, as if killed — the first time
it passes that point.  Unset (always, in production), :func:`crash_point` does nothing.
"""

from __future__ import annotations

import os

POINTS = (
    "after-evidence-write",  # raw message stored, decision not yet committed
    "after-decision-commit",  # breach and outbox row committed, nothing sent
    "before-smtp-send",  # outbox row marked 'sending'
    "after-smtp-send",  # SMTP server accepted the forward, not yet marked 'sent'
    "after-mark-sent",  # forward marked 'sent'
)


def crash_point(name: str) -> None:
    if os.environ.get("SPOCBOT_CRASH_AT") == name:
        os._exit(137)
