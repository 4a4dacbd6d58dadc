"""The registry repository: every read and write of the registry goes through :class:`Registry`.

Writes take an actor and a reason, run in one transaction that also appends the audit entry
(and the old row versions, ``history.py``), and either happen whole or not at all. There is no
update path for snapshots or audit entries; the database refuses one too.

A busy database (another writer holding the lock past the busy timeout, a PostgreSQL lock
timeout, serialisation failure or deadlock) raises :class:`RegistryBusy`: nothing was written,
and the same command can simply be run again.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from everydonor import __version__
from everydonor.adapters.registry import audit, migrate
from everydonor.adapters.registry.casemap import CaseRows, PersonRows, case_document, case_rows
from everydonor.adapters.registry.codec import canonical_json, decode, encode, sha256_hex
from everydonor.adapters.registry.config import (
    PseudonymKey,
    is_sqlite,
    load_key,
    make_engine,
    redacted,
    resolve_url,
)
from everydonor.adapters.registry.followup import validate_event
from everydonor.adapters.registry.history import (
    WriteContext,
    change,
    image,
    plain,
    soft_delete,
)
from everydonor.adapters.registry.models import (
    AntibodyResult,
    AntibodyTest,
    AuditHead,
    AuditLog,
    Base,
    CaseSource,
    Centre,
    Consent,
    Disease,
    FollowUpEvent,
    Hct,
    Identity,
    Patient,
    Person,
    RegistryMeta,
    RowHistory,
    Snapshot,
    Typing,
)
from everydonor.case import Case, check_typings, parse_case
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.reduction import Reducer

DEFAULT_CENTRE = "local"
BUNDLED_RELEASE = "3.58.0"
SNAPSHOT_KINDS = ("family", "match", "ranking", "plan")
#: Patients whose view :meth:`Registry.patient_view` keeps (least recently used dropped).
VIEW_CACHE = 256
_BOOKKEEPING = ("version", "changed_at", "changed_by", "change_reason")


class RegistryBusy(EverydonorError):
    """Another writer held the registry too long; nothing was written — run it again."""


def new_id() -> str:
    """A 32-hex-digit id: milliseconds since 1970 (so ids sort by creation) + 80 random bits."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class PreparedCase:
    """A case checked whole (parsed, typings expanded against the release) and turned into rows,
    before any database work."""

    upn: str
    case: Case
    rows: CaseRows
    source: str
    source_sha256: str


def _translate(exc: DBAPIError) -> EverydonorError | None:
    """A retryable database condition as :class:`RegistryBusy`; None for anything else."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    busy_sqlite = isinstance(exc, OperationalError) and (
        "database is locked" in text or "database is busy" in text)
    busy_pg = sqlstate in ("55P03", "40001", "40P01")
    if busy_sqlite or busy_pg:
        return RegistryBusy("the registry is busy (another writer held it past the timeout); "
                            "nothing was written — retry the command", field="database",
                            value=text.splitlines()[0])
    return None


class Registry:
    """One registry database (SQLite file or PostgreSQL) and the configuration to use it."""

    def __init__(self, db: str | URL | None = None, *, key: PseudonymKey | None = None,
                 reducer: Reducer | None = None, release: str | None = None) -> None:
        self.url = db if isinstance(db, URL) else resolve_url(db)
        self.engine: Engine = make_engine(self.url)
        self._key = key
        self.reducer = reducer
        self.release = release or (reducer.release if reducer is not None else BUNDLED_RELEASE)
        #: One id per Registry object (a command run), written into its audit entries.
        self.request_id = new_id()
        self._schema_checked = False
        #: The patient views read most often (the web app's patient and ranking pages), kept
        #: under the audit chain's head: every registry write appends to the chain in its own
        #: transaction, so an unchanged head means unchanged data, whichever process wrote.
        self._views: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._views_lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return redacted(self.url)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def key(self) -> PseudonymKey:
        if self._key is None:
            key = load_key()
            assert key is not None
            self._key = key
        return self._key

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def revision(self) -> str | None:
        try:
            return migrate.current_revision(self.engine)
        except OperationalError as exc:
            raise InputError(f"cannot open the registry at {self.where}: {exc.orig}",
                             field="--db", value=self.where) from None

    def _check_schema(self) -> None:
        if self._schema_checked:
            return
        current, head = self.revision(), migrate.head_revision()
        if current is None:
            raise InputError(f"no registry at {self.where}: run `everydonor registry init`",
                             field="--db", value=self.where)
        if current != head:
            raise InputError(f"the registry at {self.where} is at schema revision {current}; "
                             f"this everydonor needs {head}: run `everydonor registry upgrade`",
                             field="--db", value=self.where)
        self._schema_checked = True

    @contextmanager
    def _write(self, actor: str, reason: str) -> Iterator[tuple[Session, WriteContext]]:
        """One write transaction: the chain head locked first (so writers queue, and audit
        times follow the chain), then ``now`` taken; committed whole or rolled back whole."""
        if not actor or not actor.strip():
            raise InputError("every change needs the name of who makes it", field="--user")
        if not reason or not reason.strip():
            raise InputError("every change needs a reason", field="--reason")
        self._check_schema()
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(registry_write=True)
                with conn.begin(), Session(bind=conn, autoflush=False,
                                           expire_on_commit=False) as session:
                    audit.lock_head(session)
                    yield session, WriteContext(actor.strip(), reason.strip(), utc_now(),
                                                self.request_id)
                    session.flush()
        except DBAPIError as exc:
            busy = _translate(exc)
            if busy is not None:
                raise busy from exc
            raise

    @contextmanager
    def _read(self) -> Iterator[Session]:
        self._check_schema()
        try:
            with Session(self.engine) as session, session.begin():
                yield session
        except DBAPIError as exc:
            busy = _translate(exc)
            if busy is not None:
                raise busy from exc
            raise

    def transaction(self, actor: str, reason: str
                    ) -> contextlib.AbstractContextManager[tuple[Session, WriteContext]]:
        """One audited write transaction for adapters built on the registry (the web app's
        accounts): the same guarantees as every registry write."""
        return self._write(actor, reason)

    def reading(self) -> contextlib.AbstractContextManager[Session]:
        """One read-only transaction."""
        return self._read()

    def data_digest_in(self, s: Session, patient: Patient) -> tuple[str, int]:
        """SHA-256 of the patient's case data as it stands (the case document rebuilt from the
        live rows, without identifying data and without follow-up), and the patient's version:
        what a signature is bound to."""
        p, disease, persons, events = self._case_rows(s, patient, None)
        return _inputs_digest(case_document(p, disease, persons, events)), patient.version

    def clinical_case(self, upn: str) -> tuple[dict[str, Any], str, int]:
        """The patient's case document without identifying data (no names, no full birth
        dates: nothing to audit as a view of identified data), with its data digest (as
        :meth:`data_digest_in`) and the patient's version — what the web app ranks."""
        return self.patient_view(upn)[1]

    def _view_of(self, s: Session, upn: str) -> Any:
        """(shown, (document, digest, version)) of a live patient, from the cache when the
        audit chain's head has not moved since it was read (a copy: callers may change it)."""
        head = s.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar()
        with self._views_lock:
            hit = self._views.get(upn)
            if hit is not None and head is not None and hit[0] == head:
                self._views.move_to_end(upn)
                return copy.deepcopy(hit[1])
        patient = self._patient(s, upn)
        p, disease, persons, events = self._case_rows(s, patient, None)
        document = case_document(p, disease, persons, events)
        shown = self._shown(s, patient, disease, persons, events)
        view = (shown, (document, _inputs_digest(document), patient.version))
        if head is not None:
            with self._views_lock:
                self._views[upn] = (head, copy.deepcopy(view))
                while len(self._views) > VIEW_CACHE:
                    self._views.popitem(last=False)
        return view

    def data_digest(self, upn: str) -> tuple[str, int]:
        with self._read() as s:
            return self.data_digest_in(s, self._patient(s, upn))

    def patient_centre(self, upn: str) -> str | None:
        """The centre code of a live patient, or None when there is no such patient."""
        with self._read() as s:
            row = s.execute(select(Centre.code).join(Patient, Patient.centre_id == Centre.id)
                            .where(Patient.upn == upn, Patient.deleted.is_(False))
                            ).one_or_none()
            return None if row is None else str(row[0])

    def _check_key(self, session: Session) -> PseudonymKey:
        key = self.key()
        stored = session.get(RegistryMeta, "key_check")
        if stored is not None and stored.value != key.check_value():
            raise InputError(f"the pseudonym key ({key.source}) is not the key this registry "
                             "was created with: pseudonyms would not match; use the registry's "
                             "key", field="EVERYDONOR_PSEUDONYM_KEY", value=key.source)
        return key

    # -- lifecycle -----------------------------------------------------------------------------

    def init(self, *, actor: str, reason: str = "registry created") -> dict[str, Any]:
        """Create (or upgrade) the schema, record the key's check value, audit it."""
        before, after = migrate.upgrade(self.engine)
        key = self.key()
        with self._write(actor, reason) as (s, ctx):
            meta = s.get(RegistryMeta, "key_check")
            created = meta is None
            if meta is None:
                s.add(RegistryMeta(key="key_check", value=key.check_value()))
                s.add(RegistryMeta(key="created_at", value=ctx.now.isoformat()))
            else:
                self._check_key(s)
            audit.append(s, now=ctx.now, actor=ctx.actor, action="registry.init",
                         object_type="registry", object_id="registry", reason=ctx.reason,
                         payload={"revision_before": before, "revision": after,
                                  "created": created, "software": __version__},
                         request_id=ctx.request_id)
        return {"database": self.where, "revision": after, "created": created,
                "key": key.source}

    def upgrade(self, *, actor: str, reason: str = "schema upgrade") -> dict[str, Any]:
        if self.revision() is None:
            raise InputError(f"no registry at {self.where}: run `everydonor registry init`",
                             field="--db", value=self.where)
        before, after = migrate.upgrade(self.engine)
        if before != after:
            with self._write(actor, reason) as (s, ctx):
                audit.append(s, now=ctx.now, actor=ctx.actor, action="registry.upgrade",
                             object_type="registry", object_id="registry", reason=ctx.reason,
                             payload={"revision_before": before, "revision": after,
                                      "software": __version__}, request_id=ctx.request_id)
        return {"database": self.where, "revision_before": before, "revision": after,
                "upgraded": before != after}

    # -- cases ---------------------------------------------------------------------------------

    def prepare(self, document: Any, *, upn: str | None = None, national_id: str | None = None,
                today: dt.date | None = None) -> PreparedCase:
        """Check a decoded case document whole; nothing is written."""
        case = parse_case(document, today=today or dt.date.today())
        if self.reducer is not None:
            check_typings(case, self.reducer.alleles_of)
        name = upn if upn is not None else (case.id or case.patient.id)
        name = str(name).strip()
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            raise InputError("a registry id (UPN) is 1-64 characters without spaces",
                             person=case.patient.id, field="--upn", value=repr(name))
        try:
            source = canonical_json(encode(document))
        except ValueError as exc:
            raise InputError(str(exc), person=case.patient.id, field="CASE") from None
        rows = case_rows(case, document, release=self.release, reducer=self.reducer,
                         national_id=national_id)
        return PreparedCase(name, case, rows, source, sha256_hex(source))

    def add_case(self, document: Any, *, actor: str, reason: str | None = None,
                 upn: str | None = None, centre: str = DEFAULT_CENTRE,
                 national_id: str | None = None, today: dt.date | None = None
                 ) -> dict[str, Any]:
        """Store a case (new patient) or its new version (known UPN), in one transaction.

        A new patient's default reason is "initial entry"; changing a stored case needs one.
        """
        prepared = self.prepare(document, upn=upn, national_id=national_id, today=today)
        return self.add_prepared([prepared], actor=actor, reason=reason, centre=centre)[0]

    def add_prepared(self, cases: Sequence[PreparedCase], *, actor: str, reason: str | None,
                     centre: str = DEFAULT_CENTRE) -> list[dict[str, Any]]:
        """Store checked cases in ONE transaction (all of them or none)."""
        upns = [c.upn for c in cases]
        if len(set(upns)) != len(upns):
            raise InputError("the same registry id (UPN) twice in one batch", field="--upn")
        with self._write(actor, reason or "initial entry") as (s, ctx):
            key = self._check_key(s)
            centre_row = self._centre(s, centre, ctx)
            known = {p.upn: p for p in s.execute(select(Patient).where(Patient.upn.in_(upns))
                                                 .with_for_update()).scalars()} if upns else {}
            fresh = [c for c in cases if c.upn not in known]
            results: list[dict[str, Any]] = []
            entries: list[dict[str, Any]] = []
            if fresh:
                self._insert_new(s, ctx, key=key, centre=centre_row, cases=fresh,
                                 entries=entries, results=results)
            for c in cases:
                if c.upn in known:
                    if reason is None:
                        raise InputError(f"{c.upn!r} is already in the registry: changing it "
                                         "needs a reason (--reason)", field="--reason",
                                         person=c.case.patient.id)
                    results.append(self._update(s, ctx, key=key, centre=centre_row,
                                                patient=known[c.upn], c=c, entries=entries))
            audit.append_many(s, entries, now=ctx.now, request_id=ctx.request_id)
        order = {u: i for i, u in enumerate(upns)}
        return sorted(results, key=lambda r: order[r["upn"]])

    def _centre(self, s: Session, code: str, ctx: WriteContext) -> Centre:
        code = code.strip()
        if not code or len(code) > 64:
            raise InputError("a centre code is 1-64 characters", field="--centre",
                             value=repr(code))
        row = s.execute(select(Centre).where(Centre.code == code)).scalar_one_or_none()
        if row is None:
            row = Centre(id=new_id(), code=code, name=None, **ctx.stamp())
            s.add(row)
            s.flush()
        return row

    def _insert_new(self, s: Session, ctx: WriteContext, *, key: PseudonymKey, centre: Centre,
                    cases: Sequence[PreparedCase], entries: list[dict[str, Any]],
                    results: list[dict[str, Any]]) -> None:
        """New patients: every row inserted in one statement per table (executemany)."""
        stamp = ctx.stamp()
        tables: dict[type[Base], list[dict[str, Any]]] = {
            m: [] for m in (Patient, Disease, Person, Typing, AntibodyTest, AntibodyResult,
                            FollowUpEvent, Identity, CaseSource)}
        for c in cases:
            pid = new_id()
            tables[Patient].append({"id": pid, "upn": c.upn, "centre_id": centre.id,
                                    "pseudonym": key.pseudonym("patient", centre.code, c.upn),
                                    **c.rows.patient, **stamp})
            tables[Disease].append({"id": new_id(), "patient_id": pid, **c.rows.disease,
                                    **stamp})
            for pr in c.rows.persons:
                person_id = new_id()
                tables[Person].append({"id": person_id, "patient_id": pid, **pr.values,
                                       **stamp})
                for t in pr.typings:
                    tables[Typing].append({"id": new_id(), "person_id": person_id, **t,
                                           **stamp})
                if pr.antibody_test is not None:
                    test_id = new_id()
                    tables[AntibodyTest].append({"id": test_id, "person_id": person_id,
                                                 **pr.antibody_test, **stamp})
                    tables[AntibodyResult].extend({"id": new_id(), "test_id": test_id, **r,
                                                   **stamp} for r in pr.antibody_results)
                if any(v is not None for v in pr.identity.values()):
                    tables[Identity].append({
                        "pseudonym": key.pseudonym("identity", c.upn,
                                                   pr.values["case_person_id"]),
                        **pr.identity, **stamp})
            tables[FollowUpEvent].extend({"id": new_id(), "patient_id": pid, "hct_id": None,
                                          **e, **stamp} for e in c.rows.follow_up)
            tables[CaseSource].append({"id": new_id(), "patient_id": pid, "patient_version": 1,
                                       "document": c.source, "sha256": c.source_sha256,
                                       "added_at": ctx.now, "added_by": ctx.actor})
            counts = c.rows.counts()
            entries.append({"actor": ctx.actor, "action": "case.add", "object_type": "patient",
                            "object_id": c.upn, "reason": ctx.reason,
                            "payload": {"case_sha256": c.source_sha256, **counts}})
            results.append({"upn": c.upn, "status": "added", "version": 1, **counts})
        for model, rows in tables.items():
            if rows:  # Core executemany: no ORM bookkeeping per row
                s.execute(insert(Base.metadata.tables[model.__tablename__]), rows)

    def _update(self, s: Session, ctx: WriteContext, *, key: PseudonymKey, centre: Centre,
                patient: Patient, c: PreparedCase, entries: list[dict[str, Any]]
                ) -> dict[str, Any]:
        """A known patient: each changed row gets its next version, the old one kept."""
        pid = patient.id
        changes: list[dict[str, Any]] = []

        def note(table: str, row: str, diffs: list[dict[str, Any]], identified: bool = False
                 ) -> None:
            for d in diffs:
                if identified:
                    d = {"field": d["field"], "old": "(identifying)", "new": "(identifying)"}
                changes.append({"table": table, "row": row, **d})

        note("patient", c.upn, change(s, patient, {**c.rows.patient, "centre_id": centre.id,
                                                   "deleted": False}, ctx, patient_id=pid))
        disease = s.execute(select(Disease).where(Disease.patient_id == pid)).scalar_one_or_none()
        if disease is None:
            s.add(Disease(id=new_id(), patient_id=pid, **c.rows.disease, **ctx.stamp()))
            note("disease", c.upn, [{"field": "*", "old": None, "new": "added"}])
        else:
            note("disease", c.upn, change(s, disease, {**c.rows.disease, "deleted": False}, ctx,
                                          patient_id=pid))
        existing = {p.case_person_id: p for p in s.execute(
            select(Person).where(Person.patient_id == pid)).scalars()}
        wanted = {pr.values["case_person_id"] for pr in c.rows.persons}
        for pr in c.rows.persons:
            person_key = pr.values["case_person_id"]
            row = existing.get(person_key)
            if row is None:
                row = Person(id=new_id(), patient_id=pid, **pr.values, **ctx.stamp())
                s.add(row)
                s.flush()
                note("person", person_key, [{"field": "*", "old": None, "new": "added"}])
            else:
                note("person", person_key, change(s, row, {**pr.values, "deleted": False}, ctx,
                                                  patient_id=pid))
            self._sync_typings(s, ctx, pid=pid, person=row, pr=pr, note=note)
            self._sync_antibodies(s, ctx, pid=pid, person=row, pr=pr, note=note)
            self._sync_identity(s, ctx, key=key, upn=c.upn, pr=pr, note=note)
        for person_key, row in existing.items():
            if person_key not in wanted and not row.deleted:
                note("person", person_key, soft_delete(s, row, ctx, patient_id=pid))
                for t in self._live(s, Typing, Typing.person_id == row.id):
                    soft_delete(s, t, ctx, patient_id=pid)
        self._sync_follow_up(s, ctx, pid, c.rows.follow_up, note)
        if not changes:
            return {"upn": c.upn, "status": "unchanged", "version": patient.version,
                    **c.rows.counts()}
        if not any(ch["table"] == "patient" for ch in changes):
            change(s, patient, {}, ctx, patient_id=pid, force=True)
        s.add(CaseSource(id=new_id(), patient_id=pid, patient_version=patient.version,
                         document=c.source, sha256=c.source_sha256, added_at=ctx.now,
                         added_by=ctx.actor))
        entries.append({"actor": ctx.actor, "action": "case.update", "object_type": "patient",
                        "object_id": c.upn, "reason": ctx.reason,
                        "payload": {"case_sha256": c.source_sha256, "changes": changes}})
        return {"upn": c.upn, "status": "updated", "version": patient.version,
                "changes": len(changes), **c.rows.counts()}

    @staticmethod
    def _live(s: Session, model: Any, *where: Any) -> list[Any]:
        return list(s.execute(select(model).where(*where, model.deleted.is_(False))).scalars())

    def _sync_typings(self, s: Session, ctx: WriteContext, *, pid: str, person: Person,
                      pr: PersonRows, note: Any) -> None:
        """A typing whose raw value or release differs is a new row; the old one is kept,
        marked deleted (superseded) — a raw value is never edited."""
        def ident(v: Mapping[str, Any]) -> str:
            return canonical_json([v["locus_key"], v["raw"], v["release"]])

        live = {ident(plain(t)): t for t in self._live(s, Typing, Typing.person_id == person.id)}
        wanted = {ident(t): t for t in pr.typings}
        for k, row in live.items():
            if k in wanted:
                t = wanted[k]
                note("typing", f"{person.case_person_id}.{t['locus_key'] or 'hla_gl'}",
                     change(s, row, {"position": t["position"], "locus": t["locus"],
                                     "glsc": t["glsc"],
                                     "reduced_lgx": t["reduced_lgx"]}, ctx, patient_id=pid))
            else:
                note("typing", f"{person.case_person_id}.{row.locus_key or 'hla_gl'}",
                     soft_delete(s, row, ctx, patient_id=pid))
        for k, t in wanted.items():
            if k not in live:
                s.add(Typing(id=new_id(), person_id=person.id, **t, **ctx.stamp()))
                note("typing", f"{person.case_person_id}.{t['locus_key'] or 'hla_gl'}",
                     [{"field": "raw", "old": None, "new": t["raw"]}])

    def _sync_antibodies(self, s: Session, ctx: WriteContext, *, pid: str, person: Person,
                         pr: PersonRows, note: Any) -> None:
        tests = self._live(s, AntibodyTest, AntibodyTest.person_id == person.id)
        have = []
        for t in tests:
            results = self._live(s, AntibodyResult, AntibodyResult.test_id == t.id)
            have.append((t, sorted(results, key=lambda r: r.position)))

        def shape(test: Mapping[str, Any] | None, results: Iterable[Mapping[str, Any]]) -> str:
            if test is None:
                return "null"
            return canonical_json([encode({k: test[k] for k in ("test_date", "method",
                                                                 "extensions")}),
                                   [encode({k: r[k] for k in ("position", "specificity", "mfi",
                                                              "c1q", "extensions")})
                                    for r in results]])

        old = [shape(plain(t), [plain(r) for r in rs]) for t, rs in have]
        new = [] if pr.antibody_test is None else [shape(pr.antibody_test,
                                                         pr.antibody_results)]
        if old == new:
            return
        for t, rs in have:
            for r in rs:
                soft_delete(s, r, ctx, patient_id=pid)
            soft_delete(s, t, ctx, patient_id=pid)
        if pr.antibody_test is not None:
            test_id = new_id()
            s.add(AntibodyTest(id=test_id, person_id=person.id, **pr.antibody_test,
                               **ctx.stamp()))
            s.flush()
            for r in pr.antibody_results:
                s.add(AntibodyResult(id=new_id(), test_id=test_id, **r, **ctx.stamp()))
        note("antibody_test", person.case_person_id,
             [{"field": "results", "old": len(old and have[0][1]),
               "new": len(pr.antibody_results)}])

    def _sync_identity(self, s: Session, ctx: WriteContext, *, key: PseudonymKey, upn: str,
                       pr: PersonRows, note: Any) -> None:
        pseudonym = key.pseudonym("identity", upn, pr.values["case_person_id"])
        row = s.get(Identity, pseudonym)
        values = dict(pr.identity)
        if row is None:
            if any(v is not None for v in values.values()):
                s.add(Identity(pseudonym=pseudonym, **values, **ctx.stamp()))
                note("identity", pr.values["case_person_id"],
                     [{"field": "*", "old": None, "new": "added"}], True)
            return
        if values.get("national_id") is None:
            values["national_id"] = row.national_id  # not given again: kept, not erased
        note("identity", pr.values["case_person_id"],
             change(s, row, {**values, "deleted": False}, ctx, patient_id=None), True)

    def _sync_follow_up(self, s: Session, ctx: WriteContext, pid: str,
                        wanted: Sequence[Mapping[str, Any]], note: Any) -> None:
        live = sorted(self._live(s, FollowUpEvent, FollowUpEvent.patient_id == pid,
                                 FollowUpEvent.source == "case"), key=lambda e: e.position)

        def shape(e: Mapping[str, Any]) -> str:
            return canonical_json(encode({k: e[k] for k in ("event_type", "event_date",
                                                            "position", "payload")}))

        if [shape(plain(e)) for e in live] == [shape(e) for e in wanted]:
            return
        for e in live:
            soft_delete(s, e, ctx, patient_id=pid)
        for e in wanted:
            s.add(FollowUpEvent(id=new_id(), patient_id=pid, hct_id=None, **e, **ctx.stamp()))
        note("follow_up_event", "case", [{"field": "events", "old": len(live),
                                          "new": len(wanted)}])

    def _patient(self, s: Session, upn: str, *, lock: bool = False,
                 allow_deleted: bool = False) -> Patient:
        query = select(Patient).where(Patient.upn == upn)
        row = s.execute(query.with_for_update() if lock else query).scalar_one_or_none()
        if row is None:
            raise InputError(f"no patient {upn!r} in the registry", field="PATIENT", value=upn)
        if row.deleted and not allow_deleted:
            raise InputError(f"patient {upn!r} was deleted on {row.changed_at:%Y-%m-%d} by "
                             f"{row.changed_by} ({row.change_reason})", field="PATIENT",
                             value=upn)
        return row

    def _case_rows(self, s: Session, patient: Patient, key: PseudonymKey | None
                   ) -> tuple[dict[str, Any], dict[str, Any] | None, list[PersonRows],
                              list[dict[str, Any]]]:
        """The live rows of a patient's case, as plain values (Core selects: no ORM objects,
        one query per table)."""
        pid = patient.id

        def rows(model: Any, *where: Any) -> list[dict[str, Any]]:
            table = model.__table__
            return [dict(r) for r in s.execute(
                select(table).where(*where, table.c.deleted.is_(False))).mappings()]

        disease = rows(Disease, Disease.__table__.c.patient_id == pid)
        persons = rows(Person, Person.__table__.c.patient_id == pid)
        ids = [p["id"] for p in persons]
        typings: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        tests: dict[str, dict[str, Any]] = {}
        results: dict[str, list[dict[str, Any]]] = {}
        if ids:
            for t in rows(Typing, Typing.__table__.c.person_id.in_(ids)):
                typings[t["person_id"]].append(t)
            for t in rows(AntibodyTest, AntibodyTest.__table__.c.person_id.in_(ids)):
                tests[t["person_id"]] = t
            test_ids = [t["id"] for t in tests.values()]
            if test_ids:
                for r in rows(AntibodyResult, AntibodyResult.__table__.c.test_id.in_(test_ids)):
                    results.setdefault(r["test_id"], []).append(r)
        identities: dict[str, dict[str, Any]] = {}
        if key is not None and persons:
            by_pseudonym = {key.pseudonym("identity", patient.upn, p["case_person_id"]):
                            p["id"] for p in persons}
            for row in rows(Identity, Identity.__table__.c.pseudonym.in_(list(by_pseudonym))):
                identities[by_pseudonym[row["pseudonym"]]] = {
                    "name": row["name"], "birth_date": row["birth_date"],
                    "national_id": row["national_id"]}
        out = []
        for p in persons:
            test = tests.get(p["id"])
            out.append(PersonRows(p, identities.get(p["id"], {}), typings[p["id"]], test,
                                  results.get(test["id"], []) if test else []))
        events = rows(FollowUpEvent, FollowUpEvent.__table__.c.patient_id == pid)
        return plain(patient), disease[0] if disease else None, out, events

    def export_case(self, upn: str, *, actor: str, reason: str = "export") -> dict[str, Any]:
        """The patient's case file, built from the structured rows (names and birth dates
        through the pseudonym key); the export is audited (identified data left the store)."""
        with self._write(actor, reason) as (s, ctx):
            key = self._check_key(s)
            patient = self._patient(s, upn)
            p, disease, persons, events = self._case_rows(s, patient, key)
            document = case_document(p, disease, persons, events)
            audit.append(s, now=ctx.now, actor=ctx.actor, action="case.export",
                         object_type="patient", object_id=upn, reason=ctx.reason,
                         payload={"version": patient.version,
                                  "sha256": sha256_hex(canonical_json(encode(document)))},
                         request_id=ctx.request_id)
        return document

    def delete_patient(self, upn: str, *, actor: str, reason: str) -> dict[str, Any]:
        """Soft delete: the patient leaves the lists; every row and version stays."""
        with self._write(actor, reason) as (s, ctx):
            patient = self._patient(s, upn, lock=True)
            soft_delete(s, patient, ctx, patient_id=patient.id)
            audit.append(s, now=ctx.now, actor=ctx.actor, action="case.delete",
                         object_type="patient", object_id=upn, reason=ctx.reason,
                         payload={"version": patient.version}, request_id=ctx.request_id)
            return {"upn": upn, "status": "deleted", "version": patient.version}

    # -- registry facts beyond the case file -----------------------------------------------------

    def set_consent(self, upn: str, *, research: bool | None, international_transfer: bool | None,
                    consent_date: dt.date | None, scope: str | None, actor: str, reason: str
                    ) -> dict[str, Any]:
        values = {"research": research, "international_transfer": international_transfer,
                  "consent_date": consent_date, "scope": scope}
        with self._write(actor, reason) as (s, ctx):
            patient = self._patient(s, upn, lock=True)
            row = s.execute(select(Consent).where(Consent.patient_id == patient.id)
                            ).scalar_one_or_none()
            if row is None:
                s.add(Consent(id=new_id(), patient_id=patient.id, **values, **ctx.stamp()))
                diffs = [{"field": k, "old": None, "new": encode(v)} for k, v in values.items()]
            else:
                diffs = change(s, row, {**values, "deleted": False}, ctx, patient_id=patient.id)
            audit.append(s, now=ctx.now, actor=ctx.actor, action="consent.set",
                         object_type="patient", object_id=upn, reason=ctx.reason,
                         payload={"changes": diffs}, request_id=ctx.request_id)
        return {"upn": upn, "consent": encode(values)}

    def add_hct(self, upn: str, *, day0: dt.date, hct_type: str = "allo",
                donor: str | None = None, graft: str | None = None, actor: str, reason: str
                ) -> dict[str, Any]:
        if hct_type not in ("allo", "auto"):
            raise InputError("the HCT type is allo or auto", field="--type", value=hct_type)
        with self._write(actor, reason) as (s, ctx):
            patient = self._patient(s, upn, lock=True)
            donor_id = None
            if donor is not None:
                row = s.execute(select(Person).where(Person.patient_id == patient.id,
                                                     Person.case_person_id == donor,
                                                     Person.deleted.is_(False))
                                ).scalar_one_or_none()
                if row is None or row.role == "patient":
                    raise InputError(f"{donor!r} is not a donor of {upn!r}'s case",
                                     field="--donor", value=donor)
                donor_id = row.id
            number = (s.execute(select(func.max(Hct.hct_number)).where(
                Hct.patient_id == patient.id)).scalar() or 0) + 1
            s.add(Hct(id=new_id(), patient_id=patient.id, hct_number=number, day0=day0,
                      hct_type=hct_type, donor_person_id=donor_id, graft=graft, **ctx.stamp()))
            payload = {"hct_number": number, "day0": day0.isoformat(), "hct_type": hct_type,
                       "donor": donor, "graft": graft}
            audit.append(s, now=ctx.now, actor=ctx.actor, action="hct.add",
                         object_type="patient", object_id=upn, reason=ctx.reason,
                         payload=payload, request_id=ctx.request_id)
        return {"upn": upn, **payload}

    def record_event(self, upn: str, event_type: str, date: Any, payload: Any, *, actor: str,
                     reason: str, hct_number: int | None = None) -> dict[str, Any]:
        """A follow-up event, its payload checked per type (``followup.py``)."""
        day = validate_event(event_type, date, payload)
        return self._add_event(upn, event_type, day, encode(dict(payload)), actor=actor,
                               reason=reason, hct_number=hct_number)

    def add_score(self, upn: str, name: str, inputs: Any, date: Any, *, actor: str,
                  reason: str, hct_number: int | None = None) -> dict[str, Any]:
        """A score computed by ``everydonor.scores`` from its inputs, stored with its name,
        criteria version and the inputs — never a grade without them."""
        from everydonor.scores.catalogue import compute_score

        if date is None:
            raise InputError("a score needs the date it applies to", field="--date")
        try:
            day = date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date))
        except ValueError:
            raise InputError("the date must be YYYY-MM-DD", field="--date",
                             value=repr(date)) from None
        result = compute_score(name, inputs)
        payload = {"score": name, "criteria": result.get("criteria"), "inputs": inputs,
                   "result": result, "software": __version__}
        return self._add_event(upn, "score", day, encode(payload), actor=actor, reason=reason,
                               hct_number=hct_number)

    def _add_event(self, upn: str, event_type: str, day: dt.date, payload: Any, *, actor: str,
                   reason: str, hct_number: int | None) -> dict[str, Any]:
        with self._write(actor, reason) as (s, ctx):
            patient = self._patient(s, upn, lock=True)
            hct_id = None
            if hct_number is not None:
                hct = s.execute(select(Hct).where(Hct.patient_id == patient.id,
                                                  Hct.hct_number == hct_number)
                                ).scalar_one_or_none()
                if hct is None:
                    raise InputError(f"{upn!r} has no HCT number {hct_number}", field="--hct",
                                     value=str(hct_number))
                hct_id = hct.id
            position = (s.execute(select(func.max(FollowUpEvent.position)).where(
                FollowUpEvent.patient_id == patient.id,
                FollowUpEvent.source == "registry")).scalar() or 0) + 1
            event_id = new_id()
            s.add(FollowUpEvent(id=event_id, patient_id=patient.id, hct_id=hct_id,
                                event_type=event_type, event_date=day, position=position,
                                source="registry", payload=payload, **ctx.stamp()))
            audit.append(s, now=ctx.now, actor=ctx.actor, action=f"follow_up.{event_type}",
                         object_type="patient", object_id=upn, reason=ctx.reason,
                         payload={"event": event_id, "date": day.isoformat(),
                                  "payload": payload}, request_id=ctx.request_id)
        return {"upn": upn, "id": event_id, "event_type": event_type, "date": day.isoformat(),
                "payload": decode(payload)}

    def add_snapshot(self, upn: str, kind: str, answer: Mapping[str, Any], *, actor: str,
                     reason: str, rule_set: str | None = None,
                     rule_set_version: str | None = None, release: str | None = None
                     ) -> dict[str, Any]:
        """Keep a computed answer as it was shown: immutable; recomputing makes a new one."""
        if kind not in SNAPSHOT_KINDS:
            raise InputError(f"a snapshot is one of: {', '.join(SNAPSHOT_KINDS)}", field="kind",
                             value=kind)
        text = canonical_json(encode(dict(answer)))
        sha = sha256_hex(text)
        with self._write(actor, reason) as (s, ctx):
            patient = self._patient(s, upn)
            snap_id = new_id()
            s.add(Snapshot(id=snap_id, patient_id=patient.id, kind=kind, rule_set=rule_set,
                           rule_set_version=rule_set_version, software_version=__version__,
                           release=release, answer=text, sha256=sha, created_at=ctx.now,
                           created_by=ctx.actor, reason=ctx.reason))
            audit.append(s, now=ctx.now, actor=ctx.actor, action=f"snapshot.{kind}",
                         object_type="patient", object_id=upn, reason=ctx.reason,
                         payload={"snapshot": snap_id, "sha256": sha, "rule_set": rule_set,
                                  "rule_set_version": rule_set_version, "release": release},
                         request_id=ctx.request_id)
        return {"upn": upn, "id": snap_id, "kind": kind, "sha256": sha, "rule_set": rule_set,
                "rule_set_version": rule_set_version, "release": release,
                "software_version": __version__}

    # -- reading -------------------------------------------------------------------------------

    def list_patients(self, *, limit: int = 50, offset: int = 0, include_deleted: bool = False,
                      centre: str | None = None, search: str | None = None
                      ) -> dict[str, Any]:
        """The patient list page: UPN order, with counts (the README's JSON contract).
        ``centre``: only that centre's patients; ``search``: UPN, case id or diagnosis
        containing the text (case-insensitive; a bound parameter, never SQL)."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise InputError("--limit is 1-1000 and --offset >= 0", field="--limit",
                             value=f"{limit}/{offset}")
        with self._read() as s:
            return list_page(s, limit=limit, offset=offset, include_deleted=include_deleted,
                             centre=centre, search=search)

    def show(self, upn: str) -> dict[str, Any]:
        """One patient, no identifying data (the README's JSON contract)."""
        with self._read() as s:
            patient = self._patient(s, upn, allow_deleted=True)
            _, disease, persons, events = self._case_rows(s, patient, None)
            return self._shown(s, patient, disease, persons, events)

    def patient_view(self, upn: str) -> tuple[dict[str, Any], tuple[dict[str, Any], str, int]]:
        """:meth:`show` and :meth:`clinical_case` of a live patient from one read of its rows,
        in one transaction (the web app's patient page); cached under the audit chain's head
        (one small query when nothing was written since)."""
        with self._read() as s:
            view: tuple[dict[str, Any], tuple[dict[str, Any], str, int]] = self._view_of(s, upn)
            return view

    def _shown(self, s: Session, patient: Patient, disease: Any, persons: Any,
               events: Any) -> dict[str, Any]:
        centre = s.get(Centre, patient.centre_id)
        consent = s.execute(select(Consent).where(Consent.patient_id == patient.id)
                            ).scalar_one_or_none()
        hcts = list(s.execute(select(Hct).where(Hct.patient_id == patient.id,
                                                Hct.deleted.is_(False))
                              .order_by(Hct.hct_number)).scalars())
        snaps = s.execute(select(Snapshot.id, Snapshot.kind, Snapshot.rule_set,
                                 Snapshot.rule_set_version, Snapshot.software_version,
                                 Snapshot.release, Snapshot.sha256, Snapshot.created_at,
                                 Snapshot.created_by)  # not the answers: they are large
                          .where(Snapshot.patient_id == patient.id)
                          .order_by(Snapshot.created_at, Snapshot.id)).all()
        by_id = {pr.values["id"]: pr.values["case_person_id"] for pr in persons}
        return {
            "upn": patient.upn, "pseudonym": patient.pseudonym,
            "centre": centre.code if centre else None, "case_id": patient.case_id,
            "as_of": patient.as_of.isoformat(), "version": patient.version,
            "deleted": patient.deleted, "changed_at": patient.changed_at.isoformat(),
            "changed_by": patient.changed_by, "change_reason": patient.change_reason,
            "disease": None if disease is None else {
                k: disease[k] for k in ("diagnosis", "disease_status", "disease_risk")},
            "consent": None if consent is None else {
                "research": consent.research,
                "international_transfer": consent.international_transfer,
                "date": consent.consent_date.isoformat() if consent.consent_date else None,
                "scope": consent.scope},
            "persons": [_person_summary(pr) for pr in
                        sorted(persons, key=lambda pr: pr.values["position"])],
            "hct": [{"number": h.hct_number, "day0": h.day0.isoformat(),
                     "type": h.hct_type, "donor": by_id.get(h.donor_person_id or ""),
                     "graft": h.graft} for h in hcts],
            "follow_up": [{"id": e["id"], "event_type": e["event_type"],
                           "date": e["event_date"].isoformat() if e["event_date"] else None,
                           "source": e["source"], "payload": decode(e["payload"])}
                          for e in sorted(events, key=lambda e: (e["source"],
                                                                 e["position"]))],
            "snapshots": [{"id": x.id, "kind": x.kind, "rule_set": x.rule_set,
                           "rule_set_version": x.rule_set_version,
                           "software_version": x.software_version, "release": x.release,
                           "sha256": x.sha256, "created_at": x.created_at.isoformat(),
                           "created_by": x.created_by} for x in snaps],
        }

    def snapshot(self, snapshot_id: str) -> dict[str, Any]:
        """A stored answer, its digest checked."""
        with self._read() as s:
            x = s.get(Snapshot, snapshot_id)
            if x is None:
                raise InputError(f"no snapshot {snapshot_id!r}", field="SNAPSHOT",
                                 value=snapshot_id)
            return {"id": x.id, "kind": x.kind, "sha256": x.sha256,
                    "intact": sha256_hex(x.answer) == x.sha256,
                    "answer": decode(json.loads(x.answer))}

    def history(self, upn: str) -> dict[str, Any]:
        """Every version of every row of the patient (who, when, why, what changed) and the
        audit entries about it (identifying data excluded)."""
        with self._read() as s:
            patient = self._patient(s, upn, allow_deleted=True)
            return patient_history(s, patient)

    def verify_audit(self) -> dict[str, Any]:
        """The chain walked and every snapshot's digest recomputed."""
        with self._read() as s:
            report = audit.verify_chain(s)
            bad = [x.id for x in s.execute(select(Snapshot)).scalars()
                   if sha256_hex(x.answer) != x.sha256]
            doc = report.document()
            doc["snapshots_mismatched"] = bad
            doc["intact"] = report.intact and not bad
            if report.intact and bad:
                doc["problem"] = f"snapshot {bad[0]} does not match its SHA-256"
            return doc

    def counts(self) -> dict[str, int]:
        """Rows per table (backup drills, tests)."""
        from sqlalchemy import text

        with self._read() as s:
            return {t: int(s.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0)
                    for t in sorted(Base.metadata.tables)}

    # -- editing a stored case in place (the web app) ------------------------------------------

    def edit_case(self, upn: str, edit: Any, *, actor: str, reason: str,
                  expected_version: int | None = None, check: Any = None,
                  today: dt.date | None = None) -> dict[str, Any]:
        """Change a stored case in ONE write transaction: the case document is rebuilt from the
        live rows WITH the identifying fields (names, birth dates, national id: read through
        the key inside the transaction, never handed out), ``edit(document)`` changes it in
        place (or returns a new one), and the result is checked whole (``prepare``; then
        ``check(case)`` if given, e.g. the typings against the release) and stored exactly as
        :meth:`add_case` stores a new version (row history, ``case.update`` audit entry), in the
        patient's own centre. So an edit made from a de-identified view keeps every name.

        ``expected_version``: the patient version the user's form was built from; a different
        stored version (someone else saved meanwhile) is refused and nothing is written.
        """
        if not reason or not reason.strip():
            raise InputError("changing a stored case needs a reason", field="reason")
        with self._write(actor, reason) as (s, ctx):
            key = self._check_key(s)
            patient = self._patient(s, upn, lock=True)
            if expected_version is not None and patient.version != expected_version:
                raise InputError(
                    f"patient {upn!r} was changed by {patient.changed_by} at "
                    f"{patient.changed_at:%Y-%m-%d %H:%M} UTC (now version {patient.version}, "
                    f"the form was opened at version {expected_version}): reload and enter "
                    "the change again", field="version", value=str(expected_version))
            p, disease, persons, events = self._case_rows(s, patient, key)
            document = case_document(p, disease, persons, events)
            changed = edit(document)
            if changed is not None:
                document = changed
            prepared = self.prepare(document, upn=upn, today=today)
            if check is not None:
                check(prepared.case)
            centre = s.get(Centre, patient.centre_id)
            assert centre is not None
            entries: list[dict[str, Any]] = []
            result = self._update(s, ctx, key=key, centre=centre, patient=patient, c=prepared,
                                  entries=entries)
            audit.append_many(s, entries, now=ctx.now, request_id=ctx.request_id)
        return result


    def add_snapshots(self, upn: str, answers: Sequence[tuple[str, Mapping[str, Any]]], *,
                      actor: str, reason: str, rule_set: str | None = None,
                      rule_set_version: str | None = None, release: str | None = None
                      ) -> list[dict[str, Any]]:
        """Keep several answers computed together (a ranking with the family and match it
        stands on) as :meth:`add_snapshot` keeps one, in ONE transaction: all or none, one
        ``created_at`` (so a ranking snapshot's family snapshot is the family snapshot of the
        same patient with the same ``created_at``), one audit entry per snapshot."""
        if not answers:
            raise InputError("nothing to keep: no answers given", field="kind")
        prepared = []
        for kind, answer in answers:
            if kind not in SNAPSHOT_KINDS:
                raise InputError(f"a snapshot is one of: {', '.join(SNAPSHOT_KINDS)}",
                                 field="kind", value=kind)
            text = canonical_json(encode(dict(answer)))
            prepared.append((kind, text, sha256_hex(text)))
        out: list[dict[str, Any]] = []
        with self._write(actor, reason) as (s, ctx):
            patient = self._patient(s, upn)
            for kind, text, sha in prepared:
                snap_id = new_id()
                s.add(Snapshot(id=snap_id, patient_id=patient.id, kind=kind, rule_set=rule_set,
                               rule_set_version=rule_set_version, software_version=__version__,
                               release=release, answer=text, sha256=sha, created_at=ctx.now,
                               created_by=ctx.actor, reason=ctx.reason))
                audit.append(s, now=ctx.now, actor=ctx.actor, action=f"snapshot.{kind}",
                             object_type="patient", object_id=upn, reason=ctx.reason,
                             payload={"snapshot": snap_id, "sha256": sha, "rule_set": rule_set,
                                      "rule_set_version": rule_set_version,
                                      "release": release}, request_id=ctx.request_id)
                out.append({"upn": upn, "id": snap_id, "kind": kind, "sha256": sha,
                            "rule_set": rule_set, "rule_set_version": rule_set_version,
                            "release": release, "software_version": __version__,
                            "created_at": ctx.now.isoformat()})
        return out


def _inputs_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of a case document without its follow-up (what a ranking stands on)."""
    return sha256_hex(canonical_json(encode({k: v for k, v in document.items()
                                             if k != "follow_up"})))


def _person_summary(pr: PersonRows) -> dict[str, Any]:
    v = pr.values
    return {
        "id": v["case_person_id"], "role": v["role"], "relationship": v["relationship"],
        "sex": v["sex"], "age": v["age"], "abo": v["abo"], "cmv_igg": v["cmv_igg"],
        "registry": v["donor_registry"], "donor_id": v["donor_id"], "version": v["version"],
        "typings": [{"locus": t["locus"], "glsc": t["glsc"], "release": t["release"],
                     "reduced_lgx": t["reduced_lgx"]}
                    for t in sorted(pr.typings, key=lambda t: t["position"])],
        "antibodies": None if pr.antibody_test is None else {
            "test_date": (pr.antibody_test["test_date"].isoformat()
                          if pr.antibody_test["test_date"] else None),
            "method": pr.antibody_test["method"],
            "results": [{"specificity": r["specificity"], "mfi": r["mfi"], "c1q": r["c1q"]}
                        for r in sorted(pr.antibody_results, key=lambda r: r["position"])]},
    }


def list_page(s: Session, *, limit: int, offset: int, include_deleted: bool,
              centre: str | None = None, search: str | None = None) -> dict[str, Any]:
    """The first ``limit`` patients from ``offset`` by UPN, with their counts: one query."""
    def count(model: Any, *where: Any) -> Any:
        return (select(func.count()).select_from(model)
                .where(*where, model.deleted.is_(False)).scalar_subquery())

    live = Person.deleted.is_(False)
    persons = count(Person, Person.patient_id == Patient.id)
    relatives = count(Person, Person.patient_id == Patient.id, Person.role == "relative")
    unrelated = count(Person, Person.patient_id == Patient.id, Person.role == "unrelated")
    typings = (select(func.count()).select_from(Typing)
               .join(Person, and_(Person.id == Typing.person_id, live))
               .where(Person.patient_id == Patient.id, Typing.deleted.is_(False))
               .scalar_subquery())
    events = count(FollowUpEvent, FollowUpEvent.patient_id == Patient.id)
    snapshots = (select(func.count()).select_from(Snapshot)
                 .where(Snapshot.patient_id == Patient.id).scalar_subquery())
    where: list[Any] = [] if include_deleted else [Patient.deleted.is_(False)]
    if centre is not None:
        where.append(Patient.centre_id.in_(select(Centre.id).where(Centre.code == centre)))
    if search:
        needle = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        where.append(func.lower(Patient.upn).like(needle, escape="\\")
                     | func.lower(func.coalesce(Patient.case_id, "")).like(needle, escape="\\")
                     | Patient.id.in_(select(Disease.patient_id).where(
                         func.lower(func.coalesce(Disease.diagnosis, "")).like(
                             needle, escape="\\"))))
    query = (select(Patient.upn, Centre.code, Patient.case_id, Disease.diagnosis,
                    Disease.disease_status, Patient.version, Patient.changed_at,
                    Patient.deleted, persons, relatives, unrelated, typings, events, snapshots)
             .join(Centre, Centre.id == Patient.centre_id)
             .outerjoin(Disease, Disease.patient_id == Patient.id)
             .where(*where).order_by(Patient.upn).limit(limit).offset(offset))
    rows = s.execute(query).all()
    total = s.execute(select(func.count()).select_from(Patient).where(*where)).scalar() or 0
    return {
        "total": int(total), "limit": limit, "offset": offset,
        "patients": [{"upn": r[0], "centre": r[1], "case_id": r[2], "diagnosis": r[3],
                      "disease_status": r[4], "version": r[5],
                      "changed_at": r[6].isoformat(), "deleted": r[7],
                      "persons": r[8], "relatives": r[9], "unrelated": r[10],
                      "typings": r[11], "follow_up_events": r[12], "snapshots": r[13]}
                     for r in rows],
    }


_LABELS = {"person": "case_person_id", "typing": "locus_key", "follow_up_event": "event_type",
           "antibody_result": "specificity", "hct": "hct_number"}


def patient_history(s: Session, patient: Patient) -> dict[str, Any]:
    pid = patient.id
    current: list[Any] = [patient]
    for model in (Disease, Consent, Hct, FollowUpEvent):
        current.extend(s.execute(select(model).where(model.patient_id == pid)).scalars())
    persons = list(s.execute(select(Person).where(Person.patient_id == pid)).scalars())
    current.extend(persons)
    pids = [p.id for p in persons]
    current.extend(s.execute(select(Typing).where(Typing.person_id.in_(pids))).scalars())
    tests = list(s.execute(select(AntibodyTest).where(AntibodyTest.person_id.in_(pids)))
                 .scalars())
    current.extend(tests)
    current.extend(s.execute(select(AntibodyResult).where(
        AntibodyResult.test_id.in_([t.id for t in tests]))).scalars())
    versions: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for h in s.execute(select(RowHistory).where(RowHistory.patient_id == pid)
                       .order_by(RowHistory.id)).scalars():
        versions.setdefault((h.table_name, h.row_id), []).append(
            {k: decode(v) for k, v in h.data.items()})
    for row in current:
        versions.setdefault((row.__tablename__, row.id), []).append(
            {k: decode(v) for k, v in image(row).items()})
    owner = {p.id: p.case_person_id for p in persons}
    out = []
    for (table, row_id), images in versions.items():
        images.sort(key=lambda d: d["version"])
        previous: dict[str, Any] | None = None
        for data in images:
            if previous is None:
                operation = "insert"
                diffs: list[dict[str, Any]] = []
            else:
                operation = ("delete" if data.get("deleted") and not previous.get("deleted")
                             else "update")
                diffs = [{"field": k, "old": encode(previous.get(k)), "new": encode(v)}
                         for k, v in data.items()
                         if k not in _BOOKKEEPING and encode(previous.get(k)) != encode(v)]
            label = data.get(_LABELS.get(table, "upn"))
            if table == "typing":
                label = f"{owner.get(data['person_id'], '?')}.{data.get('locus_key') or 'hla_gl'}"
            out.append({"table": table, "row_id": row_id,
                        "label": None if label is None else str(label),
                        "version": data["version"], "operation": operation,
                        "at": data["changed_at"].isoformat(), "by": data["changed_by"],
                        "reason": data["change_reason"], "deleted": bool(data.get("deleted")),
                        "changes": diffs})
            previous = data
    out.sort(key=lambda v: (v["at"], v["table"], v["label"] or "", v["version"]))
    entries = s.execute(select(AuditLog).where(AuditLog.object_type == "patient",
                                               AuditLog.object_id == patient.upn)
                        .order_by(AuditLog.seq)).scalars()
    return {"upn": patient.upn, "version": patient.version, "deleted": patient.deleted,
            "versions": out,
            "audit": [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                       "reason": e.reason, "hash": e.hash} for e in entries]}


def os_user() -> str:
    """The OS login name (the default ``--user``)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"
