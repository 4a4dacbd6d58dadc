"""The registry schema: centres, patients, identity, persons, typings, antibodies, HCT,
follow-up, snapshots, row history and the hash-chained audit trail, with the triggers that keep
history and audit append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64
VERSIONED = ("centre", "patient", "consent", "disease", "person", "typing", "antibody_test",
             "antibody_result", "hct", "follow_up_event", "identity")
APPEND_ONLY = ("audit_log", "row_history", "identity_history", "case_source", "snapshot")


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True)


def _versioned() -> list[sa.Column[object]]:
    return [
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.Column("change_reason", sa.Text, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
    ]


def _history() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("superseded_by", sa.String(128), nullable=False),
        sa.Column("supersede_reason", sa.Text, nullable=False),
    ]


def _fk(name: str, target: str, *, nullable: bool = False, index: bool = True
        ) -> sa.Column[str]:
    return sa.Column(name, sa.String(32), sa.ForeignKey(target), nullable=nullable, index=index)


def upgrade() -> None:
    op.create_table("registry_meta",
                    sa.Column("key", sa.String(64), primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    op.create_table("centre", _id(),
                    sa.Column("code", sa.String(64), nullable=False, unique=True),
                    sa.Column("name", sa.Text), *_versioned())
    op.create_table("patient", _id(),
                    sa.Column("upn", sa.String(64), nullable=False, unique=True),
                    sa.Column("pseudonym", sa.String(64), nullable=False, unique=True),
                    _fk("centre_id", "centre.id"),
                    sa.Column("case_id", sa.Text),
                    sa.Column("as_of", sa.Date, nullable=False),
                    sa.Column("case_notes", sa.JSON),
                    sa.Column("case_extensions", sa.JSON, nullable=False),
                    sa.Column("case_centre_name", sa.Text),
                    sa.Column("case_centre_haplo_experienced", sa.Boolean),
                    sa.Column("case_centre_extensions", sa.JSON, nullable=False),
                    *_versioned())
    op.create_table("consent", _id(),
                    sa.Column("patient_id", sa.String(32), sa.ForeignKey("patient.id"),
                              nullable=False, unique=True),
                    sa.Column("research", sa.Boolean),
                    sa.Column("international_transfer", sa.Boolean),
                    sa.Column("consent_date", sa.Date),
                    sa.Column("scope", sa.Text), *_versioned())
    op.create_table("disease", _id(),
                    sa.Column("patient_id", sa.String(32), sa.ForeignKey("patient.id"),
                              nullable=False, unique=True),
                    sa.Column("diagnosis", sa.Text),
                    sa.Column("disease_status", sa.Text),
                    sa.Column("disease_risk", sa.String(16)), *_versioned())
    op.create_table("person", _id(),
                    _fk("patient_id", "patient.id"),
                    sa.Column("case_person_id", sa.Text, nullable=False),
                    sa.Column("role", sa.String(16), nullable=False),
                    sa.Column("position", sa.Integer, nullable=False),
                    sa.Column("relationship", sa.String(32)),
                    sa.Column("through", sa.String(16)),
                    sa.Column("sex", sa.String(8)),
                    sa.Column("age", sa.Float),
                    sa.Column("age_written", sa.Boolean, nullable=False),
                    sa.Column("weight_kg", sa.Float),
                    sa.Column("height_cm", sa.Float),
                    sa.Column("abo", sa.String(4)),
                    sa.Column("cmv_igg", sa.String(8)),
                    sa.Column("medically_eligible", sa.Boolean),
                    sa.Column("desensitization_plan", sa.Text),
                    sa.Column("donor_registry", sa.Text),
                    sa.Column("donor_id", sa.Text),
                    sa.Column("match_probability", sa.JSON),
                    sa.Column("notes", sa.JSON),
                    sa.Column("extensions", sa.JSON, nullable=False),
                    sa.Column("hla_field", sa.String(8)),
                    sa.Column("hla_extensions", sa.JSON, nullable=False),
                    *_versioned(),
                    sa.UniqueConstraint("patient_id", "case_person_id"))
    op.create_table("typing", _id(),
                    _fk("person_id", "person.id"),
                    sa.Column("position", sa.Integer, nullable=False),
                    sa.Column("locus", sa.String(8)),
                    sa.Column("locus_key", sa.String(16)),
                    sa.Column("raw", sa.JSON, nullable=False),
                    sa.Column("glsc", sa.Text, nullable=False),
                    sa.Column("release", sa.String(32), nullable=False),
                    sa.Column("reduced_lgx", sa.Text), *_versioned())
    op.create_table("antibody_test", _id(),
                    _fk("person_id", "person.id"),
                    sa.Column("test_date", sa.Date),
                    sa.Column("method", sa.Text),
                    sa.Column("extensions", sa.JSON, nullable=False), *_versioned())
    op.create_table("antibody_result", _id(),
                    _fk("test_id", "antibody_test.id"),
                    sa.Column("position", sa.Integer, nullable=False),
                    sa.Column("specificity", sa.Text, nullable=False),
                    sa.Column("mfi", sa.Float, nullable=False),
                    sa.Column("c1q", sa.String(8)),
                    sa.Column("extensions", sa.JSON, nullable=False), *_versioned())
    op.create_table("hct", _id(),
                    _fk("patient_id", "patient.id"),
                    sa.Column("hct_number", sa.Integer, nullable=False),
                    sa.Column("day0", sa.Date, nullable=False),
                    sa.Column("hct_type", sa.String(8), nullable=False),
                    _fk("donor_person_id", "person.id", nullable=True, index=False),
                    sa.Column("graft", sa.Text), *_versioned(),
                    sa.UniqueConstraint("patient_id", "hct_number"))
    op.create_table("follow_up_event", _id(),
                    _fk("patient_id", "patient.id"),
                    _fk("hct_id", "hct.id", nullable=True, index=False),
                    sa.Column("event_type", sa.String(32), nullable=False),
                    sa.Column("event_date", sa.Date),
                    sa.Column("position", sa.Integer, nullable=False),
                    sa.Column("source", sa.String(8), nullable=False),
                    sa.Column("payload", sa.JSON, nullable=False), *_versioned())
    op.create_table("identity",
                    sa.Column("pseudonym", sa.String(64), primary_key=True),
                    sa.Column("name", sa.Text),
                    sa.Column("birth_date", sa.Date),
                    sa.Column("national_id", sa.Text), *_versioned())
    op.create_table("snapshot", _id(),
                    _fk("patient_id", "patient.id"),
                    sa.Column("kind", sa.String(16), nullable=False),
                    sa.Column("rule_set", sa.String(64)),
                    sa.Column("rule_set_version", sa.String(64)),
                    sa.Column("software_version", sa.String(64), nullable=False),
                    sa.Column("release", sa.String(32)),
                    sa.Column("answer", sa.Text, nullable=False),
                    sa.Column("sha256", sa.String(64), nullable=False),
                    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("created_by", sa.String(128), nullable=False),
                    sa.Column("reason", sa.Text, nullable=False))
    op.create_table("case_source", _id(),
                    _fk("patient_id", "patient.id"),
                    sa.Column("patient_version", sa.Integer, nullable=False),
                    sa.Column("document", sa.Text, nullable=False),
                    sa.Column("sha256", sa.String(64), nullable=False),
                    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("added_by", sa.String(128), nullable=False))
    op.create_table("row_history", *_history(), sa.Column("patient_id", sa.String(32)))
    op.create_index("ix_row_history_patient", "row_history", ["patient_id"])
    op.create_table("identity_history", *_history())
    op.create_table("audit_log",
                    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("at", sa.String(40), nullable=False),
                    sa.Column("actor", sa.String(128), nullable=False),
                    sa.Column("action", sa.String(64), nullable=False),
                    sa.Column("object_type", sa.String(32), nullable=False),
                    sa.Column("object_id", sa.Text, nullable=False),
                    sa.Column("reason", sa.Text, nullable=False),
                    sa.Column("payload", sa.JSON, nullable=False),
                    sa.Column("payload_sha256", sa.String(64), nullable=False),
                    sa.Column("prev_hash", sa.String(64), nullable=False),
                    sa.Column("hash", sa.String(64), nullable=False, unique=True))
    head = op.create_table("audit_head",
                           sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                           sa.Column("seq", sa.Integer, nullable=False),
                           sa.Column("hash", sa.String(64), nullable=False))
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    for statement in trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    for table in ("audit_head", "audit_log", "identity_history", "row_history", "case_source",
                  "snapshot", "identity", "follow_up_event", "hct", "antibody_result",
                  "antibody_test", "typing", "person", "disease", "consent", "patient",
                  "centre", "registry_meta"):
        op.drop_table(table)


def trigger_ddl(dialect: str) -> list[str]:
    """The guards: versioned tables refuse DELETE and an UPDATE that adds no version;
    append-only tables refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""
    if dialect == "sqlite":
        out = []
        for t in VERSIONED:
            out.append(f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} BEGIN SELECT "
                       f"RAISE(ABORT, '{t}: rows are never deleted (soft delete with a "
                       "reason)'); END")
            out.append(f"CREATE TRIGGER {t}_versioned BEFORE UPDATE ON {t} WHEN NEW.version "
                       f"IS NOT OLD.version + 1 BEGIN SELECT RAISE(ABORT, '{t}: a change must "
                       "add a version (row history)'); END")
        for t in APPEND_ONLY:
            for op_name in ("update", "delete"):
                out.append(f"CREATE TRIGGER {t}_append_only_{op_name} BEFORE "
                           f"{op_name.upper()} ON {t} BEGIN SELECT RAISE(ABORT, '{t} is "
                           "append-only'); END")
        out.append("CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN "
                   "SELECT RAISE(ABORT, 'audit_head is never deleted'); END")
        return out
    out = [
        """CREATE FUNCTION everydonor_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$""",
        """CREATE FUNCTION everydonor_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION '%: rows are never deleted (soft delete with a reason)',
              TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
          END IF;
          IF NEW.version IS DISTINCT FROM OLD.version + 1 THEN
            RAISE EXCEPTION '%: a change must add a version (row history)', TG_TABLE_NAME
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        END $$""",
    ]
    for t in VERSIONED:
        out.append(f"CREATE TRIGGER {t}_versioned BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW "
                   "EXECUTE FUNCTION everydonor_versioned()")
        out.append(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT "
                   "EXECUTE FUNCTION everydonor_append_only()")
    for t in APPEND_ONLY:
        out.append(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} FOR EACH "
                   "ROW EXECUTE FUNCTION everydonor_append_only()")
        out.append(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT "
                   "EXECUTE FUNCTION everydonor_append_only()")
    out.append("CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head FOR EACH ROW "
               "EXECUTE FUNCTION everydonor_append_only()")
    return out


def drop_trigger_ddl(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return []  # dropping a table drops its triggers
    return ["DROP FUNCTION everydonor_append_only() CASCADE",
            "DROP FUNCTION everydonor_versioned() CASCADE"]
