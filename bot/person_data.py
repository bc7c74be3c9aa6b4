"""Where one customer's personal data lives: every row about them, found in one place, so
that the subject access export (:mod:`bot.sar`) and erasure (:mod:`bot.erasure`) cover
exactly the same records.

Besides the rows that point at the customer (``customer_id``, ``customer_ref``, their
arrangement), it finds:

- quarantined messages that are theirs (the watcher's decision names them, or the kept
  message is from one of their addresses);
- review items confirmed as them, sent from one of their addresses or naming them as the
  only candidate (a stranger's message about them), and the items that name them among
  other candidates (kept on erasure, with them redacted);
- notices about several people (reminders, digests: no ``customer_id``) whose key or stored
  message mentions them;
- audit entries that mention them without carrying their reference (a register import lists
  the references it created).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from bot.evidence import EvidenceError, EvidenceStore
from bot.outbox import NOTICE_KINDS, REMINDER
from bot.redaction import Redactor
from bot.reports import quarantine_with_decisions, senders_of
from bot.store import models as m


def identifiers(customer: m.Customer) -> list[str]:
    """What identifies the customer in text: reference, name, their addresses and their
    representatives' (a representative writes on their behalf)."""
    terms = [customer.ref, customer.name, *(e.address for e in customer.emails)]
    if customer.arrangement is not None:
        terms += [a for a in customer.arrangement.representative_emails.split(";") if a]
    return [t for t in terms if t.strip()]


def remember_former(customer: m.Customer, kind: str, value: str) -> None:
    """Keep a name or address the customer is losing (``kind`` "name" or "email"), once."""
    if value and (kind, value) not in {(f.kind, f.value) for f in customer.former}:
        customer.former.append(m.FormerIdentifier(kind=kind, value=value[:320]))


def former_identifiers(session: Session, ref: str | None = None) -> dict[str, list[str]]:
    """Names and addresses each customer (or just ``ref``) had before an amendment or an
    import replaced them: what identified them then identifies them still, in the mail and
    notices kept from that time."""
    query = select(m.Customer.ref, m.FormerIdentifier.value).join(m.FormerIdentifier)
    if ref is not None:
        query = query.where(m.Customer.ref == ref)
    found: dict[str, list[str]] = {}
    for who, value in session.execute(query.order_by(m.FormerIdentifier.id)):
        found.setdefault(who, []).append(value)
    return found


@dataclass
class PersonRecords:
    customer: m.Customer
    arrangement: m.Arrangement | None
    breaches: list[m.Breach] = field(default_factory=list)
    contacts: list[m.Contact] = field(default_factory=list)
    letters: list[m.Letter] = field(default_factory=list)
    outbox: list[m.Outbox] = field(default_factory=list)
    """Forwards, acknowledgements and letters about them (and reminders about them alone)."""
    notices_mentioning: list[m.Outbox] = field(default_factory=list)
    """Reminders and digests about several people that mention them: redacted, not deleted."""
    reminders: list[m.Reminder] = field(default_factory=list)
    flag_tasks: list[m.FlagTask] = field(default_factory=list)
    review_items: list[m.ReviewItem] = field(default_factory=list)
    review_candidate_of: list[m.ReviewItem] = field(default_factory=list)
    """Items naming them among other candidates: redacted, not deleted."""
    quarantine: list[m.Quarantine] = field(default_factory=list)
    processed: list[m.ProcessedMessage] = field(default_factory=list)
    audit_events: list[m.AuditEvent] = field(default_factory=list)
    audit_mentioning: list[m.AuditEvent] = field(default_factory=list)
    evidence_links: list[m.EvidenceLink] = field(default_factory=list)
    redactor: Redactor = field(default_factory=lambda: Redactor((), ""))

    @property
    def sightings(self) -> list[m.BreachSighting]:
        return [s for b in self.breaches for s in b.sightings]

    def raw_hashes(self) -> set[str]:
        """The stored raw messages these records point at."""
        hashes = {b.sha256 for b in self.breaches}
        hashes |= {c.sha256 for c in self.contacts if c.sha256}
        hashes |= {letter.sha256 for letter in self.letters}
        hashes |= {o.original_sha256 for o in self.outbox if o.original_sha256}
        hashes |= {r.sha256 for r in self.review_items if r.sha256}
        hashes |= {q.sha256 for q in self.quarantine if q.sha256}
        return hashes

    def unsent(self) -> list[m.Outbox]:
        """Messages about them still to be sent (pending, or being sent now)."""
        return [
            o
            for o in [*self.outbox, *self.notices_mentioning]
            if o.status in ("pending", "sending")
        ]

    def counts(self) -> dict[str, int]:
        a = self.arrangement
        return {
            "customers": 1,
            "customer_emails": len(self.customer.emails),
            "arrangements": int(a is not None),
            "arrangement_events": len(a.events) if a else 0,
            "appeals": len(a.appeals) if a else 0,
            "permitted_addresses": len(a.permitted) if a else 0,
            "reminders": len(self.reminders),
            "flag_tasks": len(self.flag_tasks),
            "breaches": len(self.breaches),
            "breach_sightings": len(self.sightings),
            "contacts": len(self.contacts),
            "letters": len(self.letters),
            "outbox": len(self.outbox),
            "notices_redacted": len(self.notices_mentioning),
            "review_items": len(self.review_items),
            "review_candidates_removed": len(self.review_candidate_of),
            "quarantine": len(self.quarantine),
            "processed_messages_unlinked": len(self.processed),
            "audit_events": len(self.audit_events),
            "audit_events_redacted": len(self.audit_mentioning),
            "evidence_links_purged": len(self.evidence_links),
        }


def not_found(ref: str) -> str:
    """What to say when no customer has reference ``ref``."""
    return (
        f"no customer with reference {ref} in the register (it may have been erased or "
        "purged: see `spocbot audit list --action register.erase` and `--action "
        "retention.purge`)"
    )


def find_customer(session: Session, ref: str) -> m.Customer | None:
    """The customer with reference ``ref``, ignoring case (as the register compares
    references; an exact match first)."""
    wanted = ref.strip()
    exact = session.scalar(select(m.Customer.id).where(m.Customer.ref == wanted))
    if exact is None:
        exact = session.scalars(
            select(m.Customer.id).where(func.lower(m.Customer.ref) == wanted.lower())
        ).first()
    if exact is None:
        return None
    return session.scalar(
        select(m.Customer)
        .where(m.Customer.id == exact)
        .options(
            selectinload(m.Customer.emails),
            selectinload(m.Customer.arrangement).selectinload(m.Arrangement.events),
            selectinload(m.Customer.arrangement).selectinload(m.Arrangement.appeals),
            selectinload(m.Customer.arrangement).selectinload(m.Arrangement.permitted),
        )
    )


def records_about(
    session: Session, evidence: EvidenceStore, customer: m.Customer, replacement: str = ""
) -> PersonRecords:
    """Every row about ``customer``; ``replacement`` is what their identifiers become where
    a row about others mentions them (the records' ``redactor``)."""
    ref, arrangement = customer.ref, customer.arrangement
    former = former_identifiers(session, ref).get(ref, [])
    addresses = {e.address for e in customer.emails} | {t for t in former if "@" in t}
    redactor = Redactor([*identifiers(customer), *former], replacement)
    found = PersonRecords(customer, arrangement, redactor=redactor)
    found.breaches = list(
        session.scalars(
            select(m.Breach)
            .where(m.Breach.customer_id == customer.id)
            .options(selectinload(m.Breach.sightings))
            .order_by(m.Breach.id)
        )
    )
    found.contacts = list(
        session.scalars(
            select(m.Contact).where(m.Contact.customer_id == customer.id).order_by(m.Contact.id)
        )
    )
    found.letters = list(
        session.scalars(
            select(m.Letter).where(m.Letter.customer_id == customer.id).order_by(m.Letter.id)
        )
    )
    if arrangement is not None:
        found.reminders = list(
            session.scalars(
                select(m.Reminder)
                .where(m.Reminder.arrangement_id == arrangement.id)
                .order_by(m.Reminder.id)
            )
        )
        found.flag_tasks = list(
            session.scalars(
                select(m.FlagTask)
                .where(m.FlagTask.arrangement_id == arrangement.id)
                .order_by(m.FlagTask.id)
            )
        )
    breach_ids = [b.id for b in found.breaches]
    contact_ids = [c.id for c in found.contacts]
    found.outbox = list(
        session.scalars(
            select(m.Outbox)
            .where(
                or_(
                    m.Outbox.customer_id == customer.id,
                    m.Outbox.breach_id.in_(breach_ids),
                    m.Outbox.contact_id.in_(contact_ids),
                )
            )
            .order_by(m.Outbox.id)
        )
    )
    _notices(session, evidence, found)
    _review_items(session, evidence, found, addresses)
    found.processed = list(
        session.scalars(
            select(m.ProcessedMessage)
            .where(m.ProcessedMessage.customer_ref == ref)
            .order_by(m.ProcessedMessage.id)
        )
    )
    found.quarantine = _quarantine(session, evidence, ref, addresses)
    found.audit_events = list(
        session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.customer_ref == ref).order_by(m.AuditEvent.id)
        )
    )
    likely = [
        column.ilike(f"%{_like(term)}%", escape="\\")
        for term in _search_words(customer)
        for column in (m.AuditEvent.details, m.AuditEvent.record)
    ]
    found.audit_mentioning = [
        e
        for e in session.scalars(
            select(m.AuditEvent)
            .where(
                or_(m.AuditEvent.customer_ref.is_(None), m.AuditEvent.customer_ref != ref),
                or_(*likely),
            )
            .order_by(m.AuditEvent.id)
        )
        if redactor.found_in(e.details) or redactor.found_in(e.record)
    ]
    record_keys = [
        ("breach", breach_ids),
        ("contact", contact_ids),
        ("letter", [letter.id for letter in found.letters]),
    ]
    found.evidence_links = list(
        session.scalars(
            select(m.EvidenceLink)
            .where(
                or_(
                    m.EvidenceLink.customer_id == customer.id,
                    *(
                        and_(m.EvidenceLink.record_kind == kind, m.EvidenceLink.record_id.in_(ids))
                        for kind, ids in record_keys
                    ),
                ),
                m.EvidenceLink.purged_at.is_(None),
            )
            .order_by(m.EvidenceLink.id)
        )
    )
    return found


def _review_items(
    session: Session, evidence: EvidenceStore, found: PersonRecords, addresses: set[str]
) -> None:
    """Review items about them: confirmed as them, sent from one of their addresses, or
    naming them as the only candidate (and not confirmed as someone else): a stranger's
    message about them, whose reason names them.  Items that name them among other
    candidates are someone else's too, and so are messages that only mention them (an
    unreadable sender signing with their name): kept, with them redacted
    (``review_candidate_of``)."""
    ref = found.customer.ref
    items = session.scalars(
        select(m.ReviewItem)
        .where(
            or_(
                m.ReviewItem.customer_ref == ref,
                m.ReviewItem.sender.in_(sorted(addresses)),
                m.ReviewItem.candidates.contains(ref),
            )
        )
        .order_by(m.ReviewItem.id)
    )
    for item in items:
        candidates = [c for c in item.candidates.split(";") if c]
        if (
            item.customer_ref == ref
            or item.sender in addresses
            or (candidates == [ref] and item.customer_ref in (None, ref))
        ):
            found.review_items.append(item)
        elif ref in candidates:
            found.review_candidate_of.append(item)
    chosen = {i.id for i in (*found.review_items, *found.review_candidate_of)}
    for item in session.scalars(
        select(m.ReviewItem).where(m.ReviewItem.sha256.is_not(None)).order_by(m.ReviewItem.id)
    ):
        if item.id not in chosen and _item_mentions(found.redactor, evidence, item):
            found.review_candidate_of.append(item)


def _search_words(customer: m.Customer) -> list[str]:
    """Words any mention of the customer contains (to narrow a search in SQL)."""
    words = [t for t in identifiers(customer) if t != customer.name]
    words += sorted(customer.name.split(), key=len)[-1:]
    return words


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _notices(session: Session, evidence: EvidenceStore, found: PersonRecords) -> None:
    """Reminders and digests without a customer that mention them.  A reminder message all
    of whose reminders are theirs is about them alone and goes with them; the others are
    kept, with them redacted."""
    own = {o.id for o in found.outbox}
    reminder_ids = {r.id for r in found.reminders}
    for notice in session.scalars(
        select(m.Outbox)
        .where(
            m.Outbox.customer_id.is_(None),
            m.Outbox.kind.in_(sorted(NOTICE_KINDS)),
            m.Outbox.created_at >= found.customer.created_at,
        )
        .order_by(m.Outbox.id)
    ):
        if notice.id in own:
            continue
        if notice.kind == REMINDER:
            carried = set(
                session.scalars(select(m.Reminder.id).where(m.Reminder.outbox_id == notice.id))
            )
            if carried and carried <= reminder_ids:
                found.outbox.append(notice)
                continue
        if _mentions(found.redactor, evidence, notice):
            found.notices_mentioning.append(notice)


def _item_mentions(redactor: Redactor, evidence: EvidenceStore, item: m.ReviewItem) -> bool:
    """Whether a review item's text or kept message names them (read only when needed)."""
    if any(redactor.found_in(t or "") for t in (item.reason, item.subject, item.note)):
        return True
    try:
        raw = evidence.get(item.sha256 or "")
    except EvidenceError:
        return False
    return redactor.message(raw).changed


def _mentions(redactor: Redactor, evidence: EvidenceStore, notice: m.Outbox) -> bool:
    if redactor.found_in(notice.original_message_id) or redactor.found_in(notice.route_reason):
        return True
    try:
        raw = evidence.get(notice.original_sha256)
    except EvidenceError:
        return False
    return redactor.message(raw).changed


def _quarantine(
    session: Session, evidence: EvidenceStore, ref: str, addresses: Iterable[str]
) -> list[m.Quarantine]:
    theirs = []
    wanted = set(addresses)
    for q, decided_for in session.execute(quarantine_with_decisions()):
        if decided_for == ref or (q.sha256 and senders_of(evidence, q.sha256) & wanted):
            theirs.append(q)
    return theirs
