"""The registry's tables as typed SQLAlchemy 2 models (``Mapped[]``).

The migrations in ``migrations/versions`` create these tables (a test compares them); the
models are what the repository reads and writes. Every clinical table is *versioned*: its rows
carry ``version``, ``changed_at``, ``changed_by``, ``change_reason`` and ``deleted`` (soft
delete). A change never loses the old row: the repository copies the old image into
``row_history`` (``identity_history`` for identifying data) in the same transaction, and the
database refuses a DELETE, or an UPDATE that does not add a version (triggers, see
``guards.py``). ``audit_log``, ``row_history``, ``identity_history``, ``case_source`` and
``snapshot`` are append-only (triggers refuse UPDATE and DELETE).

Identifying data (name, full date of birth, national id) lives only in ``identity``, keyed by
an HMAC pseudonym that cannot be computed from any clinical column without the key (SR-12).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(32)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC timestamp on every backend (SQLite keeps it naive; read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("registry timestamps must be timezone-aware (UTC)")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None,
                             dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class Versioned:
    """Who changed a row last, when and why; the old versions are in ``row_history``."""

    version: Mapped[int] = mapped_column(Integer, default=1)
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    changed_by: Mapped[str] = mapped_column(String(128))
    change_reason: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class RegistryMeta(Base):
    __tablename__ = "registry_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Centre(Versioned, Base):
    __tablename__ = "centre"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(Text)


class Patient(Versioned, Base):
    """One patient under the registry id (UPN) and the case-level facts of its case file."""

    __tablename__ = "patient"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    upn: Mapped[str] = mapped_column(String(64), unique=True)
    #: HMAC(key, centre, UPN): the id used when the registry shares data (SR-12).
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    centre_id: Mapped[str] = mapped_column(ForeignKey("centre.id"), index=True)
    case_id: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[dt.date] = mapped_column(Date)
    case_notes: Mapped[Any | None] = mapped_column(JSON)
    case_extensions: Mapped[Any] = mapped_column(JSON)
    case_centre_name: Mapped[str | None] = mapped_column(Text)
    case_centre_haplo_experienced: Mapped[bool | None] = mapped_column(Boolean)
    case_centre_extensions: Mapped[Any] = mapped_column(JSON)


class Consent(Versioned, Base):
    __tablename__ = "consent"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), unique=True)
    research: Mapped[bool | None] = mapped_column(Boolean)
    international_transfer: Mapped[bool | None] = mapped_column(Boolean)
    consent_date: Mapped[dt.date | None] = mapped_column(Date)
    scope: Mapped[str | None] = mapped_column(Text)


class Disease(Versioned, Base):
    __tablename__ = "disease"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), unique=True)
    diagnosis: Mapped[str | None] = mapped_column(Text)
    #: Status at transplant (CR1, CR2, PR, relapse, …) as the case records it.
    disease_status: Mapped[str | None] = mapped_column(Text)
    disease_risk: Mapped[str | None] = mapped_column(String(16))


class Person(Versioned, Base):
    """The patient, each relative and each unrelated donor of a case (no identifying data)."""

    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("patient_id", "case_person_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    case_person_id: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    relationship: Mapped[str | None] = mapped_column(String(32))
    through: Mapped[str | None] = mapped_column(String(16))
    sex: Mapped[str | None] = mapped_column(String(8))
    age: Mapped[float | None] = mapped_column(Float)
    #: Whether the case wrote ``age`` (else it came from the birth date, kept in identity).
    age_written: Mapped[bool] = mapped_column(Boolean)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)
    abo: Mapped[str | None] = mapped_column(String(4))
    cmv_igg: Mapped[str | None] = mapped_column(String(8))
    medically_eligible: Mapped[bool | None] = mapped_column(Boolean)
    desensitization_plan: Mapped[str | None] = mapped_column(Text)
    donor_registry: Mapped[str | None] = mapped_column(Text)
    donor_id: Mapped[str | None] = mapped_column(Text)
    match_probability: Mapped[Any | None] = mapped_column(JSON)
    notes: Mapped[Any | None] = mapped_column(JSON)
    extensions: Mapped[Any] = mapped_column(JSON)
    #: ``hla`` or ``hla_gl`` (which field the typing was given in), None when untyped.
    hla_field: Mapped[str | None] = mapped_column(String(8))
    hla_extensions: Mapped[Any] = mapped_column(JSON)


class Typing(Versioned, Base):
    """One locus typing as received (``raw``, never rewritten), its GL String Code and release,
    and derived reductions in columns of their own. A changed typing supersedes the row (the old
    one is soft-deleted), it is never edited."""

    __tablename__ = "typing"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    #: The locus (``A``) — None for a whole ``hla_gl`` string.
    locus: Mapped[str | None] = mapped_column(String(8))
    #: The key as written in the case (``A`` or ``HLA-A``).
    locus_key: Mapped[str | None] = mapped_column(String(16))
    raw: Mapped[Any] = mapped_column(JSON)
    glsc: Mapped[str] = mapped_column(Text)
    release: Mapped[str] = mapped_column(String(32))
    reduced_lgx: Mapped[str | None] = mapped_column(Text)


class AntibodyTest(Versioned, Base):
    __tablename__ = "antibody_test"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    test_date: Mapped[dt.date | None] = mapped_column(Date)
    method: Mapped[str | None] = mapped_column(Text)
    extensions: Mapped[Any] = mapped_column(JSON)


class AntibodyResult(Versioned, Base):
    """One bead of a screen: specificity and MFI (and C1q when tested)."""

    __tablename__ = "antibody_result"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    test_id: Mapped[str] = mapped_column(ForeignKey("antibody_test.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    specificity: Mapped[str] = mapped_column(Text)
    mfi: Mapped[float] = mapped_column(Float)
    c1q: Mapped[str | None] = mapped_column(String(8))
    extensions: Mapped[Any] = mapped_column(JSON)


class Hct(Versioned, Base):
    """One transplant: day 0, its number for the patient, allo/auto, the donor."""

    __tablename__ = "hct"
    __table_args__ = (UniqueConstraint("patient_id", "hct_number"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    hct_number: Mapped[int] = mapped_column(Integer)
    day0: Mapped[dt.date] = mapped_column(Date)
    hct_type: Mapped[str] = mapped_column(String(8))
    donor_person_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    graft: Mapped[str | None] = mapped_column(Text)


class FollowUpEvent(Versioned, Base):
    """A typed follow-up event (engraftment, aGVHD stages, MRD, death, a computed score, …)
    with its payload validated per type (``followup.py``)."""

    __tablename__ = "follow_up_event"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    hct_id: Mapped[str | None] = mapped_column(ForeignKey("hct.id"))
    event_type: Mapped[str] = mapped_column(String(32))
    event_date: Mapped[dt.date | None] = mapped_column(Date)
    position: Mapped[int] = mapped_column(Integer)
    #: ``case`` (from the case file's follow_up, written back on export) or ``registry``.
    source: Mapped[str] = mapped_column(String(8))
    payload: Mapped[Any] = mapped_column(JSON)


class Identity(Versioned, Base):
    """Identifying data, keyed by HMAC(key, UPN, person id): unreachable without the key."""

    __tablename__ = "identity"
    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    national_id: Mapped[str | None] = mapped_column(Text)


class Snapshot(Base):
    """An immutable copy of a computed answer the team acts on (family, match, ranking, plan)."""

    __tablename__ = "snapshot"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    rule_set: Mapped[str | None] = mapped_column(String(64))
    rule_set_version: Mapped[str | None] = mapped_column(String(64))
    software_version: Mapped[str] = mapped_column(String(64))
    release: Mapped[str | None] = mapped_column(String(32))
    answer: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)


class CaseSource(Base):
    """The case document as received (canonical JSON), one row per ``registry add``."""

    __tablename__ = "case_source"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    patient_version: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    added_by: Mapped[str] = mapped_column(String(128))


class _HistoryColumns:
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    #: The row as it was (every column), before the change recorded here.
    data: Mapped[Any] = mapped_column(JSON)
    valid_from: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    valid_to: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    #: The change that ended this version: ``update`` or ``delete`` (soft), by whom and why.
    operation: Mapped[str] = mapped_column(String(8))
    superseded_by: Mapped[str] = mapped_column(String(128))
    supersede_reason: Mapped[str] = mapped_column(Text)


class RowHistory(_HistoryColumns, Base):
    __tablename__ = "row_history"
    __table_args__ = (Index("ix_row_history_patient", "patient_id"),)
    patient_id: Mapped[str | None] = mapped_column(ID)


class IdentityHistory(_HistoryColumns, Base):
    __tablename__ = "identity_history"


class AuditLog(Base):
    """SR-07: append-only, hash-chained; see ``audit.py`` for the hash."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[Any] = mapped_column(JSON)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: One id per command run (revision 0002); None in entries written before it.
    request_id: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The chain head (one row): locked by every writer, so appends serialise."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class UserAccount(Versioned, Base):
    """A named account of the web app (SR-01): never deleted, never renamed, never reused —
    disabled instead. Its changes are versioned like clinical rows (``row_history``)."""

    __tablename__ = "user_account"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: The printed name of an electronic signature (21 CFR 11.50).
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    #: The centre the account works for; None only for a system administrator (all centres).
    centre_code: Mapped[str | None] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class UserCredential(Base):
    """An account's secrets and sign-in state, apart from its versioned row so that old
    password hashes and TOTP secrets are never copied into the row history. Every change is
    still written to the audit trail (without the secret)."""

    __tablename__ = "user_credential"
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    totp_secret: Mapped[str | None] = mapped_column(Text)
    #: The last TOTP time step accepted: a code is never accepted twice (replay).
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A server-side session (SR-04): the cookie holds a random token, the table only its
    SHA-256, so a copy of the database cannot be used to sign in."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_user", "user_id"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    #: When the second factor was given in this session (None: password only so far).
    mfa_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_why: Mapped[str | None] = mapped_column(String(32))
    csrf_token: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)


class Signature(Base):
    """An electronic signature of a snapshot (SR-09, 21 CFR 11.50/11.70): append-only, bound to
    the snapshot's SHA-256 and to the digest of the case data it was computed from."""

    __tablename__ = "signature"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(ForeignKey("snapshot.id"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patient.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.id"))
    username: Mapped[str] = mapped_column(String(64))
    printed_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    #: authored, reviewed or approved, and the statement the signer confirmed.
    meaning: Mapped[str] = mapped_column(String(16))
    statement: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the case data (the case document without follow-up) when signed.
    data_sha256: Mapped[str] = mapped_column(String(64))
    patient_version: Mapped[int] = mapped_column(Integer)


#: Versioned tables whose rows belong to a patient (history is looked up by patient).
VERSIONED = (Centre, Patient, Consent, Disease, Person, Typing, AntibodyTest, AntibodyResult,
             Hct, FollowUpEvent, Identity)
#: Append-only tables (no UPDATE, no DELETE).
APPEND_ONLY = ("audit_log", "row_history", "identity_history", "case_source", "snapshot")
#: Tables added by revision 0003 (the web app): accounts versioned, signatures append-only.
VERSIONED_0003 = ("user_account",)
APPEND_ONLY_0003 = ("signature",)


class PooledImport(Base):
    """One de-identified export of another centre, imported into the pooled cohort (revision
    0004; ``pooled.py``). Append-only: a re-import of the same export (same manifest SHA-256)
    is refused, and a later export of the same centre supersedes patient by patient."""

    __tablename__ = "pooled_import"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source_centres: Mapped[Any] = mapped_column(JSON)
    source_software: Mapped[str] = mapped_column(String(64))
    source_created: Mapped[str] = mapped_column(String(40))
    #: The exporting registry's key id (a check value, never the key): ids are comparable only
    #: between exports made with the same key.
    key_id: Mapped[str] = mapped_column(String(64))
    files: Mapped[Any] = mapped_column(JSON)
    patients: Mapped[int] = mapped_column(Integer)
    excluded: Mapped[Any] = mapped_column(JSON)
    imported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    imported_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)


class PooledPatient(Base):
    """A patient of another centre as its de-identified export gives it (HMAC id, no dates)."""

    __tablename__ = "pooled_patient"
    __table_args__ = (UniqueConstraint("import_id", "patient"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(ForeignKey("pooled_import.id"), index=True)
    centre: Mapped[str] = mapped_column(String(64))
    patient: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str | None] = mapped_column(String(8))
    #: Whole years, or ``90+`` (Safe Harbor).
    age: Mapped[str | None] = mapped_column(String(8))
    diagnosis: Mapped[str | None] = mapped_column(Text)
    disease_status: Mapped[str | None] = mapped_column(Text)
    disease_risk: Mapped[str | None] = mapped_column(String(16))
    weight_kg: Mapped[float | None] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)
    abo: Mapped[str | None] = mapped_column(String(4))
    cmv_igg: Mapped[str | None] = mapped_column(String(8))


class PooledTransplant(Base):
    """A transplant of a pooled patient: its real year, its day 0 shifted by the source's
    per-patient offset, and the donor's relation."""

    __tablename__ = "pooled_transplant"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(ForeignKey("pooled_import.id"), index=True)
    patient: Mapped[str] = mapped_column(String(64))
    hct_number: Mapped[int] = mapped_column(Integer)
    hct_year: Mapped[int] = mapped_column(Integer)
    day0_shifted: Mapped[dt.date] = mapped_column(Date)
    hct_type: Mapped[str] = mapped_column(String(8))
    #: ``outcomes.endpoints.DONOR_TYPES``, as the source classified it.
    donor_type: Mapped[str] = mapped_column(String(32))
    donor_role: Mapped[str | None] = mapped_column(String(16))
    donor_relationship: Mapped[str | None] = mapped_column(String(32))
    donor_relation: Mapped[str] = mapped_column(String(16))
    donor_sex: Mapped[str | None] = mapped_column(String(8))
    donor_age: Mapped[str | None] = mapped_column(String(8))


class PooledEvent(Base):
    """A follow-up event of a pooled patient: days from its transplant's day 0 (the interval,
    unchanged by the shift), the shifted date, and the coded payload fields."""

    __tablename__ = "pooled_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(ForeignKey("pooled_import.id"), index=True)
    patient: Mapped[str] = mapped_column(String(64))
    hct_number: Mapped[int | None] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(32))
    event_date_shifted: Mapped[dt.date | None] = mapped_column(Date)
    day: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[Any] = mapped_column(JSON)


#: Tables added by revision 0004 (the pooled cohort): append-only.
APPEND_ONLY_0004 = ("pooled_import", "pooled_patient", "pooled_transplant", "pooled_event")
