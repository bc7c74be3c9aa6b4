"""Data protection and evidential integrity: the evidence hash chain, erasure tombstones,
flag tasks in other systems, partner arrangements, and an append-only audit log.

* ``evidence_links``: one link per evidence record (breach, contact, letter), in one chain.
  A link keeps only hashes; when retention or an erasure deletes its record, the link stays
  (``purged_at``, ``erasure_id``) with its salt and customer removed, so the chain still
  verifies and nothing in it identifies the person.
* ``erasures``: count-only tombstones of purges and erasures (no personal data).
* ``flag_tasks``: "raise flag" / "remove flag" tasks per arrangement and system.
* ``customers.source`` / ``customers.partner``: arrangements imported from the partner
  council (read-only here).
* On SQLite, triggers refuse UPDATE and DELETE on ``audit_events`` and ``evidence_links``'
  hashes.  An erasure deletes a person's audit entries inside one transaction that first
  writes a row to ``audit_permits`` and removes it again before committing.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TRIGGERS = {
    "audit_events_append_only_update": """
        CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
        WHEN NOT EXISTS (SELECT 1 FROM audit_permits)
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    "audit_events_append_only_delete": """
        CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
        WHEN NOT EXISTS (SELECT 1 FROM audit_permits)
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    "evidence_links_fixed_hashes": """
        CREATE TRIGGER evidence_links_fixed_hashes
        BEFORE UPDATE OF prev_hash, link_hash, content_hash, raw_hash, record_kind, record_id
        ON evidence_links
        BEGIN SELECT RAISE(ABORT, 'evidence chain links cannot be changed'); END""",
    "evidence_links_no_delete": """
        CREATE TRIGGER evidence_links_no_delete BEFORE DELETE ON evidence_links
        BEGIN SELECT RAISE(ABORT, 'evidence chain links cannot be deleted'); END""",
}


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    op.create_table(
        "evidence_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("salt", sa.String(length=32), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("raw_hash", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("link_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("purged_at", sa.DateTime(), nullable=True),
        sa.Column("erasure_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["erasure_id"], ["erasures.id"], name=op.f("fk_evidence_links_erasure_id_erasures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_links")),
        sa.UniqueConstraint("record_kind", "record_id", name=op.f("uq_evidence_links_record_kind")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_evidence_links_prev_hash")),
        sa.UniqueConstraint("link_hash", name=op.f("uq_evidence_links_link_hash")),
    )
    op.create_index(op.f("ix_evidence_links_customer_id"), "evidence_links", ["customer_id"])
    op.create_table(
        "flag_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arrangement_id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["arrangement_id"],
            ["arrangements.id"],
            name=op.f("fk_flag_tasks_arrangement_id_arrangements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_tasks")),
        sa.UniqueConstraint(
            "arrangement_id", "system", "action", name=op.f("uq_flag_tasks_arrangement_id")
        ),
    )
    op.create_table(
        "audit_permits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_permits")),
    )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="register")
        )
        batch.add_column(
            sa.Column("partner", sa.String(length=200), nullable=False, server_default="")
        )
    if op.get_bind().dialect.name == "sqlite":
        for sql in TRIGGERS.values():
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("partner")
        batch.drop_column("source")
    op.drop_table("audit_permits")
    op.drop_table("flag_tasks")
    op.drop_index(op.f("ix_evidence_links_customer_id"), table_name="evidence_links")
    op.drop_table("evidence_links")
    op.drop_table("erasures")
