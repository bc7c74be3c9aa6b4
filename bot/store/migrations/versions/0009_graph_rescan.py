"""Graph messages marked to be handed over again by `spocbot rescan`.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("graph_messages") as batch:
        batch.add_column(
            sa.Column("rescan", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("graph_messages") as batch:
        batch.drop_column("rescan")
