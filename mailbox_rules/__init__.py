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
* :mod:`mailbox_rules.decision` – the :class:`Decision` value and :func:`decide`;
* :mod:`mailbox_rules.content` – a message's readable text (:func:`message_text`);
* :mod:`mailbox_rules.emergency` – the emergency phrases and how they are found.
"""

from mailbox_rules.content import MessageText, message_text
from mailbox_rules.decision import Decision, DecisionKind, EmergencyCopy, arrangement_of, decide
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
    "EmergencyCopy",
    "Envelope",
    "EnvelopeError",
    "MessageText",
    "Officer",
    "PriorContact",
    "Register",
    "arrangement_of",
    "decide",
    "header_block",
    "message_text",
    "parse_envelope",
]
