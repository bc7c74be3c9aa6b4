"""Former names and addresses of a customer, as `register amend` or `register import`
replaced them: what identified the person then still identifies them in the mail and
notices kept from that time, for a subject access export and an erasure to find.

Deleted with the customer (an erasure or a retention purge).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "former_identifiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("replaced_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_former_identifiers_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_former_identifiers")),
        sa.UniqueConstraint(
            "customer_id", "kind", "value", name=op.f("uq_former_identifiers_customer_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("former_identifiers")
