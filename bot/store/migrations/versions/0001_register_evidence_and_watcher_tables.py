"""Register, evidence and watcher tables (the first schema).

Times are stored as naive UTC (see bot.store.models.UTCDateTime).

Revision ID: 0001
Revises:
Create Date: 2026-12-03 18:28:36.529845
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("ref", name=op.f("uq_customers_ref")),
    )
    op.create_table(
        "mailbox_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_cursors")),
        sa.UniqueConstraint("mailbox", "folder", name=op.f("uq_mailbox_cursors_mailbox")),
    )
    op.create_table(
        "officers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officers")),
        sa.UniqueConstraint("email", name=op.f("uq_officers_email")),
    )
    op.create_table(
        "processed_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("rules", sa.String(length=200), nullable=False),
        sa.Column("customer_ref", sa.String(length=64), nullable=True),
        sa.Column("processed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processed_messages")),
        sa.UniqueConstraint(
            "mailbox", "folder", "uidvalidity", "uid", name=op.f("uq_processed_messages_mailbox")
        ),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint(
            "mailbox", "folder", "uidvalidity", "uid", name=op.f("uq_quarantine_mailbox")
        ),
    )
    op.create_table(
        "arrangements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("spoc_id", sa.Integer(), nullable=False),
        sa.Column("cover_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cover_id"], ["officers.id"], name=op.f("fk_arrangements_cover_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_arrangements_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["spoc_id"], ["officers.id"], name=op.f("fk_arrangements_spoc_id_officers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrangements")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_arrangements_customer_id")),
    )
    op.create_table(
        "breaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rules", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_breaches_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaches")),
        sa.UniqueConstraint("customer_id", "message_id", name=op.f("uq_breaches_customer_id")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_contacts_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("customer_id", "message_id", name=op.f("uq_contacts_customer_id")),
    )
    op.create_table(
        "customer_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_emails_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_emails")),
        sa.UniqueConstraint("address", name=op.f("uq_customer_emails_address")),
    )
    op.create_table(
        "officer_absences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officers.id"],
            name=op.f("fk_officer_absences_officer_id_officers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officer_absences")),
    )
    op.create_table(
        "breach_sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("breach_id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["breach_id"], ["breaches.id"], name=op.f("fk_breach_sightings_breach_id_breaches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_sightings")),
        sa.UniqueConstraint(
            "breach_id", "mailbox", "folder", name=op.f("uq_breach_sightings_breach_id")
        ),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("breach_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("original_message_id", sa.String(length=998), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("recipient_email", sa.String(length=320), nullable=False),
        sa.Column("route_reason", sa.Text(), nullable=False),
        sa.Column("outgoing_message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["breach_id"], ["breaches.id"], name=op.f("fk_outbox_breach_id_breaches")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_outbox_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_outbox_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("outgoing_message_id", name=op.f("uq_outbox_outgoing_message_id")),
    )
    op.create_table(
        "permitted_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arrangement_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["arrangement_id"],
            ["arrangements.id"],
            name=op.f("fk_permitted_addresses_arrangement_id_arrangements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permitted_addresses")),
        sa.UniqueConstraint(
            "arrangement_id", "address", name=op.f("uq_permitted_addresses_arrangement_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("permitted_addresses")
    op.drop_table("outbox")
    op.drop_table("breach_sightings")
    op.drop_table("officer_absences")
    op.drop_table("customer_emails")
    op.drop_table("contacts")
    op.drop_table("breaches")
    op.drop_table("arrangements")
    op.drop_table("quarantine")
    op.drop_table("processed_messages")
    op.drop_table("officers")
    op.drop_table("mailbox_cursors")
    op.drop_table("customers")
