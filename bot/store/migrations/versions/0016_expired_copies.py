"""Where the quarantined messages and review items deleted by the retention purge were
([retention] quarantine_months): a staff mailbox, folder and UID only, so that a rescan of
that mailbox does not record them again as new.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "expired_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("expired_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expired_copies")),
        sa.UniqueConstraint(
            "kind", "mailbox", "folder", "uidvalidity", "uid", name=op.f("uq_expired_copies_kind")
        ),
    )


def downgrade() -> None:
    op.drop_table("expired_copies")
