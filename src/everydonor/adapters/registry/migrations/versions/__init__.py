"""Registry schema revisions (Alembic)."""
