"""The tamper-evident evidence chain: one hash-chained link per breach, contact and letter.

Each evidence record gets one :class:`~bot.store.models.EvidenceLink`, written in the same
transaction as the record.  The link keeps, with a random ``salt`` (so that a hash cannot be
used to guess what it hides):

* ``content_hash`` = SHA-256(salt + the record's canonical JSON),
* ``raw_hash`` = SHA-256(salt + the stored raw message's SHA-256, or "" when it has none),
* ``prev_hash`` = the previous link's ``link_hash`` (:data:`GENESIS` for the first), and
* ``link_hash`` = SHA-256(prev_hash | kind | record id | content_hash | raw_hash).

The canonical JSON holds only the fields that never change after the record is written
(:data:`CONTENT_FIELDS`): for a breach, not its sightings (a message found later in another
mailbox adds a sighting); for a letter, not ``outbox_id`` (a pointer to the outbox's
bookkeeping row, not evidence).  Keys sorted, no spaces, ASCII only, datetimes in UTC ISO 8601,
so that anyone can recompute a hash with ``sha256sum``.

A retention purge or an erasure deletes the record but keeps its link, marked ``purged_at``
with its salt and customer removed and ``erasure_id`` naming the purge's tombstone:
:func:`verify` then checks that link's place in the chain and its tombstone only, and counts
it.

Concurrency: :func:`link` is called after the record's INSERT has been flushed.  On SQLite
that INSERT holds the database's one write lock until the transaction commits, so the chain's
head read next is the latest and no other writer can add a link meanwhile: the watcher and a
command (a letter, a review answer) writing at once wait for each other and cannot fork the
chain.  On a database without that lock the unique ``prev_hash`` turns a race into an
IntegrityError (the watcher's pass stops and decides the message again next pass).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.evidence import EvidenceStore
from bot.store import models as m

GENESIS = "0" * 64
"""The ``prev_hash`` of the first link."""

Record = m.Breach | m.Contact | m.Letter

MODELS: dict[str, type[Record]] = {"breach": m.Breach, "contact": m.Contact, "letter": m.Letter}
KIND_OF: dict[type[Record], str] = {model: kind for kind, model in MODELS.items()}

CONTENT_FIELDS: dict[str, tuple[str, ...]] = {
    # Every column of breaches: none is changed after the breach is recorded (the mailboxes
    # it reached are breach_sightings rows, added as the message is found elsewhere).
    "breach": (
        "id",
        "customer_id",
        "message_id",
        "received_at",
        "reason",
        "rules",
        "sha256",
        "body_sha256",
        "subject_key",
        "new_issue",
        "size",
        "created_at",
    ),
    # Every column of contacts: none is changed after the contact is recorded.
    "contact": (
        "id",
        "customer_id",
        "message_id",
        "kind",
        "mailbox",
        "received_at",
        "reason",
        "sha256",
        "body_sha256",
        "subject_key",
        "new_issue",
        "created_at",
    ),
    # Every column of letters but outbox_id: which outbox row delivered it is bookkeeping (and
    # the outbox is not evidence); the message as sent is under sha256.
    "letter": (
        "id",
        "customer_id",
        "kind",
        "sha256",
        "recipient_email",
        "created_by",
        "created_at",
    ),
}

LINK_SEPARATOR = "|"


# -- the hashes (pure) -----------------------------------------------------------------------


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(fields: Mapping[str, Any]) -> str:
    """The record's fields as canonical JSON: sorted keys, no spaces, ASCII, UTC ISO times."""
    return json.dumps(
        {name: _plain(value) for name, value in fields.items()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an evidence record")
        return value.astimezone(UTC).isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"cannot put {type(value).__name__} in an evidence hash")


def content_hash(salt: str, content: str) -> str:
    return sha256_hex(salt + content)


def raw_hash(salt: str, raw_sha256: str | None) -> str:
    return sha256_hex(salt + (raw_sha256 or ""))


def link_hash(prev_hash: str, kind: str, record_id: int, content: str, raw: str) -> str:
    """The link's own hash, over the previous link's and this link's fields (not the salt,
    which a purge removes, nor the customer)."""
    return sha256_hex(LINK_SEPARATOR.join((prev_hash, kind, str(record_id), content, raw)))


def new_salt() -> str:
    return secrets.token_hex(16)


# -- writing a link --------------------------------------------------------------------------


def record_fields(session: Session, kind: str, record_id: int) -> dict[str, Any] | None:
    """The record's chained fields as stored in the database, or None if it is not there."""
    model = MODELS[kind]
    columns = [getattr(model, name) for name in CONTENT_FIELDS[kind]]
    row = session.execute(select(*columns).where(model.id == record_id)).first()
    return None if row is None else dict(zip(CONTENT_FIELDS[kind], row, strict=True))


def head(session: Session) -> str:
    """The last link's hash (the chain's head), or :data:`GENESIS` when there is none."""
    last = session.scalar(
        select(m.EvidenceLink.link_hash).order_by(m.EvidenceLink.id.desc()).limit(1)
    )
    return last or GENESIS


def holds_link(session: Session, link_hash_: str) -> bool:
    """Whether a link with this hash is in the chain (a head noted earlier must still be)."""
    found = session.scalar(
        select(m.EvidenceLink.id).where(m.EvidenceLink.link_hash == link_hash_.strip().lower())
    )
    return found is not None


def link(session: Session, record: Record) -> m.EvidenceLink:
    """Chain a new breach, contact or letter, in the caller's transaction (which has just
    inserted it).  Its fields are read back from the database, so the hash covers exactly
    what is stored."""
    kind = KIND_OF[type(record)]
    session.flush()
    _never_reuse_an_id(session, kind, record)
    fields = record_fields(session, kind, record.id)
    assert fields is not None, "link() is called after the record is flushed"
    salt = new_salt()
    content = content_hash(salt, canonical(fields))
    raw = raw_hash(salt, fields["sha256"])
    prev = head(session)
    row = m.EvidenceLink(
        record_kind=kind,
        record_id=record.id,
        customer_id=record.customer_id,
        salt=salt,
        content_hash=content,
        raw_hash=raw,
        prev_hash=prev,
        link_hash=link_hash(prev, kind, record.id, content, raw),
    )
    session.add(row)
    session.flush()
    return row


def _never_reuse_an_id(session: Session, kind: str, record: Record) -> None:
    """Give the new record an id no link has named yet.

    SQLite numbers a new row one above the highest id in its table, so once a purge or an
    erasure has deleted the newest records, a new one could take an id that a purged link
    still names.  The record has only just been inserted and nothing refers to it yet, so it
    moves to the next id never used."""
    claimed = session.scalar(
        select(m.EvidenceLink.id).where(
            m.EvidenceLink.record_kind == kind, m.EvidenceLink.record_id == record.id
        )
    )
    if claimed is None:
        return
    model = MODELS[kind]
    highest = max(
        session.scalar(select(func.max(model.id))) or 0,
        session.scalar(
            select(func.max(m.EvidenceLink.record_id)).where(m.EvidenceLink.record_kind == kind)
        )
        or 0,
    )
    record.id = highest + 1
    session.flush()


# -- verifying the chain ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the evidence, in words an operator can act on."""

    record_kind: str
    record_id: int
    link_id: int | None  # None: the record has no link
    what: str

    def describe(self) -> str:
        where = f"link {self.link_id}" if self.link_id is not None else "no link"
        return f"{self.record_kind} {self.record_id} ({where}): {self.what}"


@dataclass
class VerifyReport:
    """What :func:`verify` found: the counts, the head, and every problem in chain order."""

    links: int = 0
    purged: int = 0
    raw_files: int = 0
    head: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        counts = (
            f"{self.links} link(s), {self.purged} purged, {self.raw_files} raw file(s) checked; "
            f"head {self.head}"
        )
        if self.ok:
            return f"Evidence chain intact: {counts}."
        assert self.first_problem is not None
        more = len(self.problems) - 1
        also = f" ({more} more problem(s) after it)" if more else ""
        return f"Evidence chain BROKEN at {self.first_problem.describe()}{also}. {counts}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "links": self.links,
            "purged": self.purged,
            "raw_files": self.raw_files,
            "head": self.head,
            "first_problem": self.first_problem.describe() if self.first_problem else None,
            "problems": [
                {
                    "record_kind": p.record_kind,
                    "record_id": p.record_id,
                    "link_id": p.link_id,
                    "what": p.what,
                    "description": p.describe(),
                }
                for p in self.problems
            ],
        }


def verify(session: Session, evidence: EvidenceStore) -> VerifyReport:
    """Recompute the chain, each record's fields and each raw file; every problem found, in
    chain order, then records that have no link."""
    report = VerifyReport()
    links = list(session.scalars(select(m.EvidenceLink).order_by(m.EvidenceLink.id)))
    position = {row.link_hash: index for index, row in enumerate(links)}
    prev = GENESIS
    for index, row in enumerate(links):
        report.links += 1
        problem = _check_link(session, evidence, row, index, prev, position, report)
        if problem is not None:
            report.problems.append(Problem(row.record_kind, row.record_id, row.id, problem))
        prev = row.link_hash
    report.head = prev
    report.problems.extend(_unchained(session))
    report.problems.extend(_purge_counts(session, links))
    return report


def _check_link(
    session: Session,
    evidence: EvidenceStore,
    row: m.EvidenceLink,
    index: int,
    prev: str,
    position: dict[str, int],
    report: VerifyReport,
) -> str | None:
    """What is wrong with one link and its record, or None."""
    if row.record_kind not in MODELS:
        return f"the link names an unknown kind of record {row.record_kind!r}: it was edited"
    expected = link_hash(
        row.prev_hash, row.record_kind, row.record_id, row.content_hash, row.raw_hash
    )
    if expected != row.link_hash:
        return "the link's stored hash does not match its contents: the link was edited"
    if row.prev_hash != prev:
        return _broken_order(row.prev_hash, index, position)
    if row.purged_at is not None:
        report.purged += 1
        if row.erasure_id is None or session.get(m.Erasure, row.erasure_id) is None:
            return "the link is marked purged, but no purge or erasure is recorded for it"
        if _record_exists(session, row.record_kind, row.record_id):
            # A new record never takes a purged one's id (see link()): this one was kept.
            return (
                "the link is marked purged but its record is still there: the link was "
                "edited, and the record may have been altered under cover of a purge"
            )
        return None  # its record went with a purge or an erasure: its place is all to check
    try:
        fields = record_fields(session, row.record_kind, row.record_id)
    except (ValueError, TypeError, AttributeError) as exc:
        return f"the record cannot be read ({type(exc).__name__}): its fields were edited"
    if fields is None:
        return "the record is missing from the database: it was deleted"
    if row.salt is None:
        return "the link has lost its salt but is not marked purged: it was edited"
    try:
        content = canonical(fields)
    except (ValueError, TypeError) as exc:  # a float or bytes where none is ever written
        return f"the record cannot be read ({type(exc).__name__}): its fields were edited"
    if content_hash(row.salt, content) != row.content_hash:
        return (
            "the record's fields no longer match its content hash: the record was edited "
            "(or its link rewritten)"
        )
    if row.customer_id != fields["customer_id"]:
        return "the link names another customer than its record: the link was edited"
    sha256 = fields["sha256"]
    if raw_hash(row.salt, sha256) != row.raw_hash:
        return "the raw message's hash does not match the link's raw hash"
    if sha256 is None:
        return None
    path = evidence.path_for(sha256)
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return (
                f"the raw message file {path.name} is not a plain file (a link or a device): "
                "it was replaced"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return f"the raw message file {path.name} is missing from the evidence store"
    except OSError as exc:
        return f"the raw message file {path.name} cannot be read: {exc.strerror}"
    report.raw_files += 1
    if hashlib.sha256(data).hexdigest() != sha256:
        return f"the raw message file {path.name} has been altered: its bytes no longer match"
    return None


def _record_exists(session: Session, kind: str, record_id: int) -> bool:
    model = MODELS[kind]
    return session.scalar(select(model.id).where(model.id == record_id)) is not None


def _purge_counts(session: Session, links: list[m.EvidenceLink]) -> list[Problem]:
    """Each purge or erasure marked as many links as its tombstone counts: more means links
    were marked purged by hand to hide the deletion of their records."""
    marked: dict[int, int] = {}
    for row in links:
        if row.purged_at is not None and row.erasure_id is not None:
            marked[row.erasure_id] = marked.get(row.erasure_id, 0) + 1
    problems = []
    for erasure_id, count in sorted(marked.items()):
        erasure = session.get(m.Erasure, erasure_id)
        if erasure is None:
            continue  # reported for each of its links
        try:
            counted = int(json.loads(erasure.counts).get("evidence_links_purged", 0))
        except (ValueError, TypeError, AttributeError):
            counted = -1
        if counted != count:
            problems.append(
                Problem(
                    "erasure",
                    erasure_id,
                    None,
                    f"{count} link(s) are marked purged by this erasure, but its tombstone counts "
                    f"{counted}: links were marked purged by hand (or the tombstone edited)",
                )
            )
    return problems


def _broken_order(prev_hash: str, index: int, position: dict[str, int]) -> str:
    """Why a link does not follow the link before it, as far as the hashes tell."""
    earlier = position.get(prev_hash)
    if prev_hash == GENESIS:
        return "the link claims to be the first, but links come before it: links were inserted"
    if earlier is None:
        return "the link it follows is missing: a link was deleted (or this one inserted) before it"
    if earlier > index:
        return "the link follows a later link: links were reordered"
    return "links between this one and the one it follows were inserted: the chain was forked"


def _unchained(session: Session) -> list[Problem]:
    """Evidence records with no link: written outside the product (or their link deleted
    with the link's place not otherwise visible)."""
    problems = []
    for kind, model in MODELS.items():
        chained = select(m.EvidenceLink.record_id).where(m.EvidenceLink.record_kind == kind)
        for record_id in session.scalars(
            select(model.id).where(model.id.not_in(chained)).order_by(model.id)
        ):
            problems.append(
                Problem(
                    kind,
                    record_id,
                    None,
                    "the record has no link in the chain: it was added outside spocbot",
                )
            )
    return problems
