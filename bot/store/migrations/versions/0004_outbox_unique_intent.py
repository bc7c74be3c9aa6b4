"""One outbox row per (kind, customer, original message); Message-IDs no longer derived.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.create_unique_constraint(
            "uq_outbox_kind", ["kind", "customer_id", "original_message_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_kind", type_="unique")
