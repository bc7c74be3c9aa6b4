"""A register with two customers whose records reach every table, for the erasure, retention
and subject access tests: Erin Quill (``ERASE-7``, two addresses) and Kim Oakes (``KEEP-2``).

Erin gets a breach forwarded and acknowledged, a contact, a letter, reminders, a breaches
digest that also names Kim, an event and an appeal, a flag task, a quarantined message, a
review item confirmed as hers (a copy of Kim's message, so the raw file is shared), an open
item from a stranger writing on her behalf (her the only candidate), another open item whose
message, reason, subject and note name both as candidates, audit entries, and evidence
links as helper A's chain writes them.  Kim gets a breach of her own.  Everything goes
through the services where a service exists; the rest is written as those services write it.
"""

from __future__ import annotations

from datetime import date
from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import compat32
from pathlib import Path

from sqlalchemy import select, update

from bot import evidence_chain
from bot.audit import audit
from bot.digests import BREACHES
from bot.letters import LetterOptions
from bot.letters.service import send_letter
from bot.store import models as m
from tests.schedtest import Harness

ERIN, KIM = "ERASE-7", "KEEP-2"
ERIN_TERMS = ("erase-7", "erin quill", "quill", "erin.quill@mail.example", "eq@work.example")
KIM_TERMS = ("keep-2", "kim oakes", "oakes", "kim.oakes@mail.example")
ROWS = [
    "ERASE-7,Erin Quill,erin.quill@mail.example;eq@work.example,Sam Spoc,spoc@homes.example,"
    ",,,active,2026-06-01,2026-12-10\n",
    "KEEP-2,Kim Oakes,kim.oakes@mail.example,Sam Spoc,spoc@homes.example,,,,active,"
    "2026-06-01,2026-12-10\n",
]
EXTRA = (
    '\n[letters]\nemergency_phone = "0300 000 0000"\n\n[sharing]\npartner_name = "Vale Council"\n'
)


def message(sender: str, subject: str, body: str, message_id: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: info@homes.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{message_id}@mail.example>\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def populated(root: Path) -> Harness:
    h = Harness(root, ROWS, EXTRA)
    h.arrangement(
        ERIN, acknowledge=True, decided_on=date(2026, 6, 1), change_required="Write to the SPOC"
    )
    h.at(date(2026, 12, 3), "12:00")
    h.info.deliver(message("Erin Quill <erin.quill@mail.example>", "The fence", "Fence.", "e1"))
    h.info.deliver(message("Kim Oakes <kim.oakes@mail.example>", "The gate", "Gate.", "k1"))
    assert 2 == h.watcher.run_pass().new_breaches
    with h.app.factory.begin() as session:  # "now" on the test's clock, for the digest
        session.execute(update(m.Outbox).values(created_at=h.now))
    assert h.daemon.reminders.run().messages  # both reviews are a week away
    h.at(date(2026, 12, 4), "08:00")
    assert not h.daemon.digests.run(BREACHES).nothing_to_report
    send_letter(
        h.app.factory,
        h.app.settings,
        h.app.evidence,
        "introduction",
        ERIN,
        LetterOptions(as_of=date(2026, 12, 4)),
        now=h.now,
        operator="dmo",
    )
    assert 0 == h.daemon.deliver().failed
    with h.app.factory.begin() as session:
        erin = session.scalars(select(m.Customer).where(m.Customer.ref == ERIN)).one()
        kim_breach = session.scalars(
            select(m.Breach).join(m.Customer).where(m.Customer.ref == KIM)
        ).one()
        assert erin.arrangement is not None
        arrangement_id = erin.arrangement.id
        contact_raw = message("erin.quill@mail.example", "Thanks", "Thank you.", "e2")
        contact_sha = h.app.evidence.put(contact_raw)
        contact = m.Contact(
            customer_id=erin.id,
            message_id="<e2@mail.example>",
            kind="permitted",
            mailbox="spoc@homes.example",
            received_at=h.now,
            reason="to the SPOC",
            sha256=contact_sha,
        )
        session.add(contact)
        quarantined = message("Erin Quill <eq@work.example>", "Broken", "?", "e3")
        session.add(
            m.Quarantine(
                mailbox="info@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=99,
                message_id="<e3@mail.example>",
                reason="could not be processed",
                sha256=h.app.evidence.put(quarantined),
                size=len(quarantined),
            )
        )
        # A copy of Kim's message in another mailbox, confirmed (wrongly) as Erin's: the raw
        # file is shared with Kim's breach and must outlive Erin's erasure.
        session.add(
            m.ReviewItem(
                mailbox="spoc@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=5,
                message_id="<k1@mail.example>",
                received_at=h.now,
                sender="someone@elsewhere.example",
                subject="The gate",
                rules="possible-match",
                reason="signs with a customer's name",
                candidates=ERIN,
                sha256=kim_breach.sha256,
                status="confirmed",
                customer_ref=ERIN,
                decided_by="dmo",
            )
        )
        # A stranger's message naming both: open, with both as candidates (kept for Kim).
        both = message(
            "neighbour@elsewhere.example", "Noise", "Erin Quill and Kim Oakes are noisy.", "x1"
        )
        session.add(
            m.ReviewItem(
                mailbox="info@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=6,
                message_id="<x1@elsewhere.example>",
                received_at=h.now,
                sender="neighbour@elsewhere.example",
                subject="Noise from Erin Quill",
                rules="possible-match",
                reason=f"may be a registered customer's: {ERIN} (signed with the customer's "
                f"name), {KIM} (gives the reference)",
                candidates=f"{ERIN};{KIM}",
                sha256=h.app.evidence.put(both),
                status="open",
                note="ask Erin Quill's SPOC",
            )
        )
        # A stranger writing on her behalf: open, with her the only candidate (about her).
        behalf = message(
            "Helper <helper@elsewhere.example>",
            "Repairs",
            "I am writing on behalf of Erin Quill about her repairs.",
            "x2",
        )
        session.add(
            m.ReviewItem(
                mailbox="info@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=7,
                message_id="<x2@elsewhere.example>",
                received_at=h.now,
                sender="helper@elsewhere.example",
                subject="Repairs",
                rules="possible-match",
                reason=f"the sender's display name is the address of customer {ERIN} "
                "(erin.quill@mail.example)",
                candidates=ERIN,
                sha256=h.app.evidence.put(behalf),
                status="open",
            )
        )
        event = m.ArrangementEvent(
            arrangement_id=arrangement_id,
            kind="decision",
            on=date(2026, 6, 1),
            outcome="agreed",
            decided_by="Dee Manager",
            reasons="ZEBRA reasons",
            recorded_by="dmo",
        )
        session.add(event)
        session.flush()
        session.add(
            m.Appeal(
                arrangement_id=arrangement_id,
                against_event_id=event.id,
                decision_on=date(2026, 6, 1),
                received_on=date(2026, 6, 10),
                deadline=date(2026, 6, 29),
                decision_due=date(2026, 6, 17),
                status="decided",
                outcome="dismissed",
                decided_on=date(2026, 6, 15),
                decided_by="Dee Manager",
            )
        )
        session.add(
            m.FlagTask(
                arrangement_id=arrangement_id, system="CRM", action="raise", due_on=date(2026, 6, 1)
            )
        )
        session.flush()
        audit(
            session,
            "dmo",
            "share.export",
            f"customer:{ERIN}",
            customer_ref=ERIN,
            details="to Vale Council",
        )
        # The breaches and the letter were chained as the watcher and the letter service
        # recorded them; this contact is added by hand, so it is chained by hand.
        evidence_chain.link(session, contact)
    return h


def erin_breach_id(session: object) -> int:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return session.scalars(select(m.Breach.id).join(m.Customer).where(m.Customer.ref == ERIN)).one()


def end(h: Harness, ref: str, on: date) -> None:
    h.arrangement(ref, status="ceased", ended_on=on)


def readable(raw: bytes) -> str:
    """A stored message as a search sees it: its bytes, decoded headers and decoded text."""
    texts = [raw.decode("utf-8", "replace")]
    try:
        parsed = message_from_bytes(raw, policy=compat32)
        for part in parsed.walk():
            for _, value in part.items():
                texts.append(str(make_header(decode_header(str(value)))))
            if not part.is_multipart():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    except Exception:
        pass
    return "\n".join(texts).casefold()


def rows_mentioning(h: Harness, terms: tuple[str, ...]) -> list[str]:
    """Every text value in every table that contains one of ``terms`` (any case)."""
    found = []
    with h.app.engine.connect() as connection:
        for table in m.Base.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                for column, value in row._mapping.items():
                    if isinstance(value, str) and any(t in value.casefold() for t in terms):
                        found.append(f"{table.name}.{column}: {value[:80]!r}")
    return found


def files_mentioning(root: Path, terms: tuple[str, ...]) -> list[str]:
    return [
        str(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and any(t in readable(path.read_bytes()) for t in terms)
    ]
