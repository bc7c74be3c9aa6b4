"""Alembic environment: migrates the connection given by :func:`bot.store.db.upgrade`."""

from alembic import context

from bot.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through bot.store.db.upgrade() or `spocbot db upgrade`")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copes
)
with context.begin_transaction():
    context.run_migrations()
