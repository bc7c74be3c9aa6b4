"""Restrictions on arrangements; subject and new-issue flags on breaches and contacts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ARRANGEMENT_COLUMNS = (
    ("representative_emails", sa.Text()),
    ("channels", sa.String(length=64)),
    ("contact_hours", sa.String(length=200)),
    ("max_contacts", sa.String(length=32)),
    ("max_issues", sa.String(length=32)),
    ("subject_matters", sa.String(length=200)),
)


def upgrade() -> None:
    with op.batch_alter_table("arrangements") as batch:
        for name, type_ in ARRANGEMENT_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=False, server_default=""))
        batch.add_column(
            sa.Column("acknowledge", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    for table in ("breaches", "contacts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("subject_key", sa.String(length=200), nullable=False, server_default="")
            )
            batch.add_column(
                sa.Column("new_issue", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    for table in ("breaches", "contacts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("new_issue")
            batch.drop_column("subject_key")
    with op.batch_alter_table("arrangements") as batch:
        batch.drop_column("acknowledge")
        for name, _ in reversed(ARRANGEMENT_COLUMNS):
            batch.drop_column(name)
