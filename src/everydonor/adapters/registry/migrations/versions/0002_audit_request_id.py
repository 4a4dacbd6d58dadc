"""Audit entries carry the id of the command run that wrote them (SR-07 request id), and an
index answers "every entry about this object" (``registry history``) without a scan.

Entries written before this revision keep ``request_id`` NULL; the chain hash covers the field
only when it is set, so their hashes are unchanged.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("request_id", sa.String(64), nullable=True))
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_object", table_name="audit_log")
    # Native DROP COLUMN (SQLite >= 3.35 and PostgreSQL): a batch copy would lose the triggers.
    op.execute("ALTER TABLE audit_log DROP COLUMN request_id")
