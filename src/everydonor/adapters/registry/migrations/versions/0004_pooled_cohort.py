"""The pooled cohort: other centres' de-identified exports, imported (``pooled.py``). Every
table is append-only (triggers refuse UPDATE and DELETE): an import is never edited, a later
export of the same centre supersedes it patient by patient when read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
TABLES = ("pooled_import", "pooled_patient", "pooled_transplant", "pooled_event")


def _import_fk() -> sa.Column[object]:
    return sa.Column("import_id", sa.String(32), sa.ForeignKey("pooled_import.id"),
                     nullable=False, index=True)


def upgrade() -> None:
    op.create_table("pooled_import",
                    sa.Column("id", sa.String(32), primary_key=True),
                    sa.Column("manifest_sha256", sa.String(64), nullable=False, unique=True),
                    sa.Column("source_centres", sa.JSON, nullable=False),
                    sa.Column("source_software", sa.String(64), nullable=False),
                    sa.Column("source_created", sa.String(40), nullable=False),
                    sa.Column("key_id", sa.String(64), nullable=False),
                    sa.Column("files", sa.JSON, nullable=False),
                    sa.Column("patients", sa.Integer, nullable=False),
                    sa.Column("excluded", sa.JSON, nullable=False),
                    sa.Column("imported_at", TS, nullable=False),
                    sa.Column("imported_by", sa.String(128), nullable=False),
                    sa.Column("reason", sa.Text, nullable=False))
    op.create_table("pooled_patient",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    _import_fk(),
                    sa.Column("centre", sa.String(64), nullable=False),
                    sa.Column("patient", sa.String(64), nullable=False),
                    sa.Column("sex", sa.String(8)),
                    sa.Column("age", sa.String(8)),
                    sa.Column("diagnosis", sa.Text),
                    sa.Column("disease_status", sa.Text),
                    sa.Column("disease_risk", sa.String(16)),
                    sa.Column("weight_kg", sa.Float),
                    sa.Column("height_cm", sa.Float),
                    sa.Column("abo", sa.String(4)),
                    sa.Column("cmv_igg", sa.String(8)),
                    sa.UniqueConstraint("import_id", "patient"))
    op.create_table("pooled_transplant",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    _import_fk(),
                    sa.Column("patient", sa.String(64), nullable=False),
                    sa.Column("hct_number", sa.Integer, nullable=False),
                    sa.Column("hct_year", sa.Integer, nullable=False),
                    sa.Column("day0_shifted", sa.Date, nullable=False),
                    sa.Column("hct_type", sa.String(8), nullable=False),
                    sa.Column("donor_type", sa.String(32), nullable=False),
                    sa.Column("donor_role", sa.String(16)),
                    sa.Column("donor_relationship", sa.String(32)),
                    sa.Column("donor_relation", sa.String(16), nullable=False),
                    sa.Column("donor_sex", sa.String(8)),
                    sa.Column("donor_age", sa.String(8)))
    op.create_table("pooled_event",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    _import_fk(),
                    sa.Column("patient", sa.String(64), nullable=False),
                    sa.Column("hct_number", sa.Integer),
                    sa.Column("event_type", sa.String(32), nullable=False),
                    sa.Column("event_date_shifted", sa.Date),
                    sa.Column("day", sa.Integer),
                    sa.Column("payload", sa.JSON, nullable=False))
    for statement in _triggers(op.get_bind().dialect.name):
        op.execute(statement)


def _triggers(dialect: str) -> list[str]:
    out = []
    for t in TABLES:
        if dialect == "sqlite":
            for op_name in ("update", "delete"):
                out.append(f"CREATE TRIGGER {t}_append_only_{op_name} BEFORE "
                           f"{op_name.upper()} ON {t} BEGIN SELECT RAISE(ABORT, '{t} is "
                           f"append-only ({op_name} refused)'); END")
        else:  # everydonor_append_only() is revision 0001's
            out.append(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} FOR "
                       "EACH ROW EXECUTE FUNCTION everydonor_append_only()")
            out.append(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH "
                       "STATEMENT EXECUTE FUNCTION everydonor_append_only()")
    return out


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
