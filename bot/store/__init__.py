"""The register and evidence database (SQLAlchemy 2, migrated with Alembic)."""
