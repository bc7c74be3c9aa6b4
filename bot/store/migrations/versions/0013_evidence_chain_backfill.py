"""Chain the evidence recorded before the evidence chain existed.

Every breach, contact and letter without a link gets one, in the order they were recorded
(``created_at``, then breaches, contacts, letters, then id), appended after the chain's
current head.  The hashing is a frozen copy of :mod:`bot.evidence_chain` as of this revision
(a migration must not change when the application does); a test checks that the two agree.
The raw files are not read here: ``spocbot evidence verify`` checks them.

Downgrading keeps the links: they are evidence, and the triggers of 0012 refuse to delete
them (0012's downgrade drops the table with everything else).

Revision ID: 0013
Revises: 0012
"""

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
FIELDS: dict[str, tuple[tuple[str, sa.types.TypeEngine[Any]], ...]] = {
    "breach": (
        ("id", sa.Integer()),
        ("customer_id", sa.Integer()),
        ("message_id", sa.String()),
        ("received_at", sa.DateTime()),
        ("reason", sa.Text()),
        ("rules", sa.String()),
        ("sha256", sa.String()),
        ("body_sha256", sa.String()),
        ("subject_key", sa.String()),
        ("new_issue", sa.Boolean()),
        ("size", sa.Integer()),
        ("created_at", sa.DateTime()),
    ),
    "contact": (
        ("id", sa.Integer()),
        ("customer_id", sa.Integer()),
        ("message_id", sa.String()),
        ("kind", sa.String()),
        ("mailbox", sa.String()),
        ("received_at", sa.DateTime()),
        ("reason", sa.Text()),
        ("sha256", sa.String()),
        ("body_sha256", sa.String()),
        ("subject_key", sa.String()),
        ("new_issue", sa.Boolean()),
        ("created_at", sa.DateTime()),
    ),
    "letter": (
        ("id", sa.Integer()),
        ("customer_id", sa.Integer()),
        ("kind", sa.String()),
        ("sha256", sa.String()),
        ("recipient_email", sa.String()),
        ("created_by", sa.String()),
        ("created_at", sa.DateTime()),
    ),
}
TABLES = {"breach": "breaches", "contact": "contacts", "letter": "letters"}

links = sa.table(
    "evidence_links",
    sa.column("id", sa.Integer()),
    sa.column("record_kind", sa.String()),
    sa.column("record_id", sa.Integer()),
    sa.column("customer_id", sa.Integer()),
    sa.column("salt", sa.String()),
    sa.column("content_hash", sa.String()),
    sa.column("raw_hash", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("link_hash", sa.String()),
    sa.column("created_at", sa.DateTime()),
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):  # stored as naive UTC
        return value.replace(tzinfo=UTC).isoformat()
    return value


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(
        {name: _plain(value) for name, value in fields.items()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )


def upgrade() -> None:
    bind = op.get_bind()
    unchained = []
    order = {kind: n for n, kind in enumerate(FIELDS)}
    for kind, columns in FIELDS.items():
        table = sa.table(TABLES[kind], *(sa.column(name, type_) for name, type_ in columns))
        chained = sa.select(links.c.record_id).where(links.c.record_kind == kind)
        for row in bind.execute(sa.select(table).where(table.c.id.not_in(chained))).mappings():
            unchained.append((row["created_at"], order[kind], row["id"], kind, dict(row)))
    unchained.sort(key=lambda item: item[:3])
    prev = (
        bind.execute(sa.select(links.c.link_hash).order_by(links.c.id.desc()).limit(1)).scalar()
        or GENESIS
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    for _created, _order, record_id, kind, fields in unchained:
        salt = secrets.token_hex(16)
        content_hash = _sha256(salt + _canonical(fields))
        raw_hash = _sha256(salt + (fields["sha256"] or ""))
        link_hash = _sha256("|".join((prev, kind, str(record_id), content_hash, raw_hash)))
        bind.execute(
            links.insert().values(
                record_kind=kind,
                record_id=record_id,
                customer_id=fields["customer_id"],
                salt=salt,
                content_hash=content_hash,
                raw_hash=raw_hash,
                prev_hash=prev,
                link_hash=link_hash,
                created_at=now,
            )
        )
        prev = link_hash


def downgrade() -> None:
    """Nothing to undo: the links stay (see the module's docstring)."""
