"""Database tables for the register, the evidence log and the watcher's bookkeeping.

Times are stored as UTC (see :class:`UTCDateTime`); calendar dates that the policy counts
(start, review, absences) are plain dates in Europe/London.  Evidence rows (breaches,
sightings, contacts, quarantine) are only ever added to, never edited away.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # "register" (the DMO's register file) or "partner" (``share import``: the partner
    # council's own arrangement, read-only here; ``partner`` names the council).
    source: Mapped[str] = mapped_column(String(16), default="register")
    partner: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    emails: Mapped[list[CustomerEmail]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerEmail.id"
    )
    arrangement: Mapped[Arrangement | None] = relationship(
        back_populates="customer", cascade="all, delete-orphan", uselist=False
    )
    former: Mapped[list[FormerIdentifier]] = relationship(
        cascade="all, delete-orphan", order_by="FormerIdentifier.id"
    )


class FormerIdentifier(Base):
    """A name or address the customer had before `register amend` or `register import`
    replaced it (see :func:`bot.person_data.remember_former`)."""

    __tablename__ = "former_identifiers"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "name" or "email"
    value: Mapped[str] = mapped_column(String(320))
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerEmail(Base):
    __tablename__ = "customer_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320), unique=True)
    # "register" (from an imported file) or "review" (confirmed from the review queue: kept
    # when a file without it is imported, until the DMO adds it to their file or removes it)
    source: Mapped[str] = mapped_column(String(20), default="register")

    customer: Mapped[Customer] = relationship(back_populates="emails")


class Officer(Base):
    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)


class Arrangement(Base):
    __tablename__ = "arrangements"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    spoc_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    cover_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    status: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date] = mapped_column(Date)
    review_date: Mapped[date] = mapped_column(Date)
    # Optional restrictions, stored as written in the register ("" = none); parsed on load.
    representative_emails: Mapped[str] = mapped_column(Text, default="")
    channels: Mapped[str] = mapped_column(String(64), default="")
    contact_hours: Mapped[str] = mapped_column(String(200), default="")
    max_contacts: Mapped[str] = mapped_column(String(32), default="")
    max_issues: Mapped[str] = mapped_column(String(32), default="")
    subject_matters: Mapped[str] = mapped_column(String(200), default="")
    acknowledge: Mapped[bool] = mapped_column(Boolean, default=False)
    # For letters and the partner council (register columns, all optional).
    customer_address: Mapped[str] = mapped_column(Text, default="")  # postal, lines by ";"
    spoc_phone: Mapped[str] = mapped_column(String(40), default="")
    cover_phone: Mapped[str] = mapped_column(String(40), default="")
    office_visits: Mapped[str] = mapped_column(Text, default="")  # restriction in plain words
    review_months: Mapped[int | None] = mapped_column(Integer)
    lapse_at_review: Mapped[bool] = mapped_column(Boolean, default=False)
    # Restricted (need-to-know): only in DMO outputs and letters to the customer.
    reasons: Mapped[str] = mapped_column(Text, default="")
    support_needs: Mapped[str] = mapped_column(Text, default="")
    change_required: Mapped[str] = mapped_column(Text, default="")  # what the customer must change
    # The decision in force and the end, kept here for lookups; the history is in events.
    decided_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="arrangement")
    spoc: Mapped[Officer] = relationship(foreign_keys=[spoc_id])
    cover: Mapped[Officer | None] = relationship(foreign_keys=[cover_id])
    permitted: Mapped[list[PermittedAddress]] = relationship(
        cascade="all, delete-orphan", order_by="PermittedAddress.id"
    )
    events: Mapped[list[ArrangementEvent]] = relationship(
        cascade="all, delete-orphan", order_by="ArrangementEvent.id"
    )
    appeals: Mapped[list[Appeal]] = relationship(cascade="all, delete-orphan", order_by="Appeal.id")


class ArrangementEvent(Base):
    """One step in an arrangement's history (policy §4, §6): referral, decision, start,
    review, appeal received or decided, cover notice, cease and desist, end, lapse.

    Added to, never edited.  ``reasons`` is restricted (need-to-know): it is shown only in DMO
    outputs.  ``on`` is the calendar date of the step (Europe/London); ``recorded_at`` when it
    was entered.
    """

    __tablename__ = "arrangement_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(32), default="")  # agreed, continued, varied ...
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    next_review: Mapped[date | None] = mapped_column(Date)
    reasons: Mapped[str] = mapped_column(Text, default="")  # restricted
    notes: Mapped[str] = mapped_column(Text, default="")  # factual, not restricted
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A cover notice: the officer the customer contacts meanwhile, and the last day (``on`` is
    # the first).  Kept on the event, since the arrangement's cover officer may change later.
    until: Mapped[date | None] = mapped_column(Date)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))

    officer: Mapped[Officer | None] = relationship()


class Appeal(Base):
    """An appeal against a decision: in time until 28 days after it, decided within 5 working
    days of receipt (England and Wales bank holidays excluded)."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id", ondelete="CASCADE"))
    against_event_id: Mapped[int | None] = mapped_column(ForeignKey("arrangement_events.id"))
    decision_on: Mapped[date] = mapped_column(Date)  # the decision appealed against
    received_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)  # last day to appeal in time
    decision_due: Mapped[date] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    late_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, decided
    outcome: Mapped[str] = mapped_column(String(32), default="")
    decided_on: Mapped[date | None] = mapped_column(Date)
    decided_by: Mapped[str] = mapped_column(String(200), default="")


class Reminder(Base):
    """A reminder that fell due, recorded once: (arrangement, kind, target, offset, recipient).

    ``kind`` is ``review`` (before the review date), ``overdue`` (weekly after it), ``lapse``
    (before an arrangement that lapses at review ends by itself) or ``appeal`` (before an
    appeal's decision is due).  ``target_on`` is the date reminded of; ``offset_days`` how many
    days before it (negative: after).  Several reminders that fell due while the service was
    down go out in one message: they share ``outbox_id``.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint(
            "arrangement_id", "kind", "target_on", "offset_days", "recipient", name="uq_reminders"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id", ondelete="CASCADE"))
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    target_on: Mapped[date] = mapped_column(Date)
    offset_days: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(8))  # "spoc" or "dmo"
    due_on: Mapped[date] = mapped_column(Date)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Letter(Base):
    """A letter sent to a customer (or the referral form to the DMO), kept as evidence: the
    message as sent is in the evidence store under ``sha256``."""

    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    recipient_email: Mapped[str] = mapped_column(String(320))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Digest(Base):
    """A DMO digest, one per (kind, scheduled slot): a repeated tick finds it and does nothing.

    It reports what happened from ``period_start`` to ``period_end`` (the previous digest's
    end, so nothing falls between two digests)."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("kind", "slot_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "breaches" or "reviews"
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PermittedAddress(Base):
    """An organisation address the customer may write to (``restricted_to``)."""

    __tablename__ = "permitted_addresses"
    __table_args__ = (UniqueConstraint("arrangement_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))


class OfficerAbsence(Base):
    __tablename__ = "officer_absences"

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    officer: Mapped[Officer] = relationship()


class MailboxCursor(Base):
    """How far the watcher has read one folder: (UIDVALIDITY, highest UID handled)."""

    __tablename__ = "mailbox_cursors"
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GraphFolderSync(Base):
    """Where the Graph delta query of one folder stands: the link to resume from.

    ``link`` is the ``@odata.nextLink`` of a round in progress or the ``@odata.deltaLink`` of
    the last complete round (``complete``); empty before the first request.
    """

    __tablename__ = "graph_folder_sync"
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(200))
    link: Mapped[str] = mapped_column(Text, default="")
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    resyncs: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GraphMessage(Base):
    """A message the Graph delta query has reported in a folder, numbered for the cursor.

    Graph has no UIDs, so each message gets the next number in its folder when first seen
    there; the watcher's cursor then works exactly as on IMAP.  A message reported again in the
    same folder (a replayed page, an update such as our own category) keeps its number and is
    not handed to the watcher twice.  A message moved to another watched folder is new there,
    as on IMAP; the evidence and the outbox already hold it, so nothing is sent twice.  Only
    ids and numbers are kept, no content.
    """

    __tablename__ = "graph_messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "folder", "graph_id"),
        UniqueConstraint("mailbox", "folder", "uid", name="uq_graph_messages_mailbox_uid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    graph_id: Mapped[str] = mapped_column(String(512))
    uid: Mapped[int] = mapped_column(BigInteger)
    folder: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    rescan: Mapped[bool] = mapped_column(Boolean, default=False)  # hand over again when seen
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessedMessage(Base):
    """One decision about one message in one folder (no addresses or content kept)."""

    __tablename__ = "processed_messages"
    __table_args__ = (UniqueConstraint("mailbox", "folder", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(998))
    decision: Mapped[str] = mapped_column(String(32))
    rules: Mapped[str] = mapped_column(String(200))
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Breach(Base):
    """One breach per (customer, Message-ID), however many mailboxes the message reached.

    ``message_id`` is the key: the Message-ID, with ``#body-…`` added when a different message
    (another body) reuses a Message-ID already recorded, so that it is not merged away.
    """

    __tablename__ = "breaches"
    __table_args__ = (UniqueConstraint("customer_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    message_id: Mapped[str] = mapped_column(String(998))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    rules: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    subject_key: Mapped[str] = mapped_column(String(200), default="")
    new_issue: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer] = relationship()
    sightings: Mapped[list[BreachSighting]] = relationship(order_by="BreachSighting.id")


class BreachSighting(Base):
    """A watched mailbox (and folder) in which a breaching message was found."""

    __tablename__ = "breach_sightings"
    __table_args__ = (UniqueConstraint("breach_id", "mailbox", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    breach_id: Mapped[int] = mapped_column(ForeignKey("breaches.id"))
    mailbox: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(200))
    uid: Mapped[int] = mapped_column(BigInteger)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    """Contact that was not a breach: by the permitted route, or at the warning stage."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("customer_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    message_id: Mapped[str] = mapped_column(String(998))
    kind: Mapped[str] = mapped_column(String(32))
    mailbox: Mapped[str] = mapped_column(String(320))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    subject_key: Mapped[str] = mapped_column(String(200), default="")
    new_issue: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer] = relationship()


class Outbox(Base):
    """A message the bot must send exactly once (see README, "Exactly once").

    The row is written in the same transaction as the breach or contact that calls for it, at
    most one per (kind, customer, original message); ``outgoing_message_id`` is chosen then, at
    random, and is the same on every attempt: it is how a send that happened before a crash is
    found again.
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("kind", "customer_id", "original_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # None for a message about no one customer (a digest, a reminder to the DMO of several).
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    breach_id: Mapped[int | None] = mapped_column(ForeignKey("breaches.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    original_message_id: Mapped[str] = mapped_column(String(998))
    original_sha256: Mapped[str] = mapped_column(String(64))
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_email: Mapped[str] = mapped_column(String(320))
    route_reason: Mapped[str] = mapped_column(Text)
    outgoing_message_id: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    original_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer | None] = relationship()
    breach: Mapped[Breach | None] = relationship()
    contact: Mapped[Contact | None] = relationship()


class Quarantine(Base):
    """A message that could not be handled, kept with its reason for a person to look at."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("mailbox", "folder", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(998))
    reason: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewItem(Base):
    """A message whose sender a person must identify: one row per sighting, like quarantine.

    ``status`` is ``open`` until the DMO confirms whose it is (``confirmed``, then processed
    as that customer's) or dismisses it (``dismissed``).
    """

    __tablename__ = "review_items"
    __table_args__ = (UniqueConstraint("mailbox", "folder", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(998))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sender: Mapped[str | None] = mapped_column(String(320))  # first From/Sender addr-spec
    subject: Mapped[str] = mapped_column(String(200), default="")
    rules: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    candidates: Mapped[str] = mapped_column(Text, default="")  # ;-separated customer refs
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open")
    customer_ref: Mapped[str | None] = mapped_column(String(64))  # confirmed as
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExpiredCopy(Base):
    """A quarantined message or review item that the retention purge deleted: only where the
    message was (a staff mailbox, folder and UID), so that a rescan does not record it again
    as new.  No content, sender or customer."""

    __tablename__ = "expired_copies"
    __table_args__ = (UniqueConstraint("kind", "mailbox", "folder", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "quarantine" or "review_item"
    mailbox: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    expired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Append-only record of what a person did: who, what, when, to which record."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    operator: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    record: Mapped[str] = mapped_column(String(200))  # e.g. "review_item:12"
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="")


class Erasure(Base):
    """A count-only tombstone of a retention purge or an erasure: what kinds of record went,
    how many, when and on whose authority; nothing that identifies the person (policy §8)."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    operator: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(16))  # "retention" or "erasure"
    as_of: Mapped[date | None] = mapped_column(Date)
    counts: Mapped[str] = mapped_column(Text, default="{}")  # JSON: {"breaches": 3, ...}


class EvidenceLink(Base):
    """One link of the evidence hash chain: one per breach, contact or letter, in the order
    they were recorded.

    ``content_hash`` is SHA-256 of ``salt`` and the record's fields, ``raw_hash`` of ``salt``
    and its raw message's SHA-256, ``link_hash`` of the previous link's hash and this link's
    fields.  A purge or erasure deletes the record but keeps its link, marked ``purged_at``,
    with ``salt`` and ``customer_id`` removed: the hashes then identify nobody and the chain
    still verifies.
    """

    __tablename__ = "evidence_links"
    __table_args__ = (
        UniqueConstraint("record_kind", "record_id"),
        UniqueConstraint("prev_hash"),
        UniqueConstraint("link_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_kind: Mapped[str] = mapped_column(String(16))  # "breach", "contact" or "letter"
    record_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    salt: Mapped[str | None] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64))
    raw_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    link_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erasure_id: Mapped[int | None] = mapped_column(ForeignKey("erasures.id"))


class FlagTask(Base):
    """A flag to raise (the arrangement started) or remove (it ended) in another system
    (``[flags] systems``, e.g. the CRM), open until someone confirms it was done (policy §6)."""

    __tablename__ = "flag_tasks"
    __table_args__ = (UniqueConstraint("arrangement_id", "system", "action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    arrangement_id: Mapped[int] = mapped_column(ForeignKey("arrangements.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(8))  # "raise" or "remove"
    due_on: Mapped[date] = mapped_column(Date)  # the start or end that called for it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(200))


class AuditPermit(Base):
    """Present only inside an erasure's transaction: lets it delete the person's audit
    entries, which SQLite triggers otherwise refuse (the audit log is append-only)."""

    __tablename__ = "audit_permits"

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(100))
