"""Evidence links: only an erasure or a retention purge may mark a link purged.

The triggers of 0012 fix a link's hashes but let ``purged_at``, ``erasure_id``, ``salt`` and
``customer_id`` change, as a purge must.  From here those columns change only inside a
transaction that holds an ``audit_permits`` row, as an erasure does (``bot/erasure.py``), so
marking a link purged by hand, to hide a record's deletion or alteration, is refused too.
(``evidence verify`` detects such a mark anyway: a purged link whose record is still there,
or more links than the tombstone counts.)

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TRIGGER = "evidence_links_purge_needs_permit"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"""
            CREATE TRIGGER {TRIGGER}
            BEFORE UPDATE OF purged_at, erasure_id, salt, customer_id ON evidence_links
            WHEN NOT EXISTS (SELECT 1 FROM audit_permits)
            BEGIN SELECT RAISE(ABORT, 'evidence links are marked purged only by an erasure'); END
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
