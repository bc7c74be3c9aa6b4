"""The pure decision core of spocbot.

Given a parsed message envelope, the SPOC arrangements and officer absences in force and the
time, :func:`decide` returns a :class:`Decision` saying what the service should do with the
message and why.  Nothing in this package touches the network, a database or the filesystem,
so every policy rule can be tested in microseconds (see ``tests/unit``).

Layout:

* :mod:`mailbox_rules.envelope` – the :class:`Envelope` value and :func:`parse_envelope`, which
  reads one from raw header bytes (pure: bytes in, value out);
* :mod:`mailbox_rules.register` – the core's read-only view of the register;
* :mod:`mailbox_rules.rules` – one small named rule per policy check, Mailman-style;
* :mod:`mailbox_rules.decision` – the :class:`Decision` value and :func:`decide`.
"""

from mailbox_rules.content import message_text
from mailbox_rules.decision import Decision, DecisionKind, arrangement_of, decide
from mailbox_rules.envelope import Envelope, EnvelopeError, header_block, parse_envelope
from mailbox_rules.register import (
    Absence,
    Arrangement,
    ArrangementStatus,
    Officer,
    PriorContact,
    Register,
)

__all__ = [
    "Absence",
    "Arrangement",
    "ArrangementStatus",
    "Decision",
    "DecisionKind",
    "Envelope",
    "EnvelopeError",
    "Officer",
    "PriorContact",
    "Register",
    "arrangement_of",
    "decide",
    "header_block",
    "message_text",
    "parse_envelope",
]
