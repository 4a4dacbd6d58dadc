"""The web app's tables: named accounts (versioned, never deleted), their credentials and
sign-in state, server-side sessions, and electronic signatures of snapshots (append-only).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _versioned() -> list[sa.Column[object]]:
    return [
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.Column("change_reason", sa.Text, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
    ]


def upgrade() -> None:
    op.create_table("user_account",
                    sa.Column("id", sa.String(32), primary_key=True),
                    sa.Column("username", sa.String(64), nullable=False, unique=True),
                    sa.Column("display_name", sa.Text, nullable=False),
                    sa.Column("role", sa.String(32), nullable=False),
                    sa.Column("centre_code", sa.String(64)),
                    sa.Column("disabled", sa.Boolean, nullable=False),
                    *_versioned())
    op.create_table("user_credential",
                    sa.Column("user_id", sa.String(32), sa.ForeignKey("user_account.id"),
                              primary_key=True),
                    sa.Column("password_hash", sa.Text, nullable=False),
                    sa.Column("password_changed_at", TS, nullable=False),
                    sa.Column("totp_secret", sa.Text),
                    sa.Column("totp_last_step", sa.Integer),
                    sa.Column("failed_logins", sa.Integer, nullable=False),
                    sa.Column("locked_until", TS),
                    sa.Column("last_login_at", TS))
    op.create_table("web_session",
                    sa.Column("id", sa.String(64), primary_key=True),
                    sa.Column("user_id", sa.String(32), sa.ForeignKey("user_account.id"),
                              nullable=False),
                    sa.Column("created_at", TS, nullable=False),
                    sa.Column("last_seen_at", TS, nullable=False),
                    sa.Column("expires_at", TS, nullable=False),
                    sa.Column("mfa_at", TS),
                    sa.Column("revoked_at", TS),
                    sa.Column("revoked_why", sa.String(32)),
                    sa.Column("csrf_token", sa.String(64), nullable=False),
                    sa.Column("ip", sa.String(64)),
                    sa.Column("user_agent", sa.Text))
    op.create_index("ix_web_session_user", "web_session", ["user_id"])
    op.create_table("signature",
                    sa.Column("id", sa.String(32), primary_key=True),
                    sa.Column("snapshot_id", sa.String(32), sa.ForeignKey("snapshot.id"),
                              nullable=False, index=True),
                    sa.Column("patient_id", sa.String(32), sa.ForeignKey("patient.id"),
                              nullable=False, index=True),
                    sa.Column("user_id", sa.String(32), sa.ForeignKey("user_account.id"),
                              nullable=False),
                    sa.Column("username", sa.String(64), nullable=False),
                    sa.Column("printed_name", sa.Text, nullable=False),
                    sa.Column("role", sa.String(32), nullable=False),
                    sa.Column("meaning", sa.String(16), nullable=False),
                    sa.Column("statement", sa.Text, nullable=False),
                    sa.Column("signed_at", TS, nullable=False),
                    sa.Column("snapshot_sha256", sa.String(64), nullable=False),
                    sa.Column("data_sha256", sa.String(64), nullable=False),
                    sa.Column("patient_version", sa.Integer, nullable=False))
    for statement in _triggers(op.get_bind().dialect.name):
        op.execute(statement)


def _triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            "CREATE TRIGGER user_account_no_delete BEFORE DELETE ON user_account BEGIN SELECT "
            "RAISE(ABORT, 'user_account: accounts are never deleted (disable them)'); END",
            "CREATE TRIGGER user_account_versioned BEFORE UPDATE ON user_account WHEN "
            "NEW.version IS NOT OLD.version + 1 BEGIN SELECT RAISE(ABORT, 'user_account: a "
            "change must add a version (row history)'); END",
            "CREATE TRIGGER user_account_no_rename BEFORE UPDATE OF username ON user_account "
            "WHEN NEW.username IS NOT OLD.username BEGIN SELECT RAISE(ABORT, 'user_account: "
            "a username is never changed or reused'); END",
            "CREATE TRIGGER signature_append_only_update BEFORE UPDATE ON signature BEGIN "
            "SELECT RAISE(ABORT, 'signature is append-only'); END",
            "CREATE TRIGGER signature_append_only_delete BEFORE DELETE ON signature BEGIN "
            "SELECT RAISE(ABORT, 'signature is append-only'); END",
        ]
    return [
        """CREATE FUNCTION everydonor_no_rename() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.username IS DISTINCT FROM OLD.username THEN
            RAISE EXCEPTION 'user_account: a username is never changed or reused'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        END $$""",
        "CREATE TRIGGER user_account_versioned BEFORE UPDATE OR DELETE ON user_account FOR "
        "EACH ROW EXECUTE FUNCTION everydonor_versioned()",
        "CREATE TRIGGER user_account_no_rename BEFORE UPDATE ON user_account FOR EACH ROW "
        "EXECUTE FUNCTION everydonor_no_rename()",
        "CREATE TRIGGER user_account_no_truncate BEFORE TRUNCATE ON user_account FOR EACH "
        "STATEMENT EXECUTE FUNCTION everydonor_append_only()",
        "CREATE TRIGGER signature_append_only BEFORE UPDATE OR DELETE ON signature FOR EACH "
        "ROW EXECUTE FUNCTION everydonor_append_only()",
        "CREATE TRIGGER signature_no_truncate BEFORE TRUNCATE ON signature FOR EACH STATEMENT "
        "EXECUTE FUNCTION everydonor_append_only()",
    ]


def downgrade() -> None:
    for table in ("signature", "web_session", "user_credential", "user_account"):
        op.drop_table(table)
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION everydonor_no_rename() CASCADE")
