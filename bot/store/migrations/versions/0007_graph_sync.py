"""Microsoft Graph change tracking: each folder's delta link, and the messages it reported
numbered per folder for the watcher's cursor.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graph_folder_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("resyncs", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_folder_sync")),
        sa.UniqueConstraint("mailbox", "folder", name=op.f("uq_graph_folder_sync_mailbox")),
    )
    op.create_table(
        "graph_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("graph_id", sa.String(length=512), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_messages")),
        sa.UniqueConstraint(
            "mailbox", "folder", "graph_id", name=op.f("uq_graph_messages_mailbox")
        ),
        sa.UniqueConstraint("mailbox", "folder", "uid", name="uq_graph_messages_mailbox_uid"),
    )


def downgrade() -> None:
    op.drop_table("graph_messages")
    op.drop_table("graph_folder_sync")
