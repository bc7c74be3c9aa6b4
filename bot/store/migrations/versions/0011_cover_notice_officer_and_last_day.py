"""Arrangement events: the officer and the last day of a cover notice.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("arrangement_events") as batch:
        batch.add_column(sa.Column("until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("officer_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_arrangement_events_officer_id_officers"), "officers", ["officer_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("arrangement_events") as batch:
        batch.drop_constraint(op.f("fk_arrangement_events_officer_id_officers"), type_="foreignkey")
        batch.drop_column("officer_id")
        batch.drop_column("until")
