"""The pooled cohort: other centres' de-identified exports (``exports.py``), imported.

:func:`import_pooled` takes an export directory and refuses it unless:

* its manifest is an ``everydonor.export/1`` manifest of profile ``deidentified`` (an
  identified or limited export never leaves its centre this way), and every file matches the
  SHA-256 and row count of the manifest, with the de-identified columns, and no other file;
* every value is what a de-identified export holds: HMAC ids (32 hex digits), ages in whole
  years or ``90+``, shifted dates, coded follow-up payloads (a payload field that the export
  would have dropped — free text, an extension, a date in a text — is refused, naming the file,
  row and field);
* it was not imported before: the same manifest (SHA-256) again is refused, naming when and by
  whom it was imported (not idempotent: a second identical import is a mistake worth saying);
* its centres are not centres of this registry's own patients (they would count twice), and
  an earlier import from the same centre was made with the same key (``key_id``: ids made with
  another key cannot be matched, the same patient would count twice).

It is stored append-only (tables ``pooled_import``, ``pooled_patient``, ``pooled_transplant``,
``pooled_event``, revision 0004) with the source centre of each patient, and audited
(``pooled.import``). A later export of the same centre supersedes an earlier one patient by
patient: :func:`pooled_records` reads, for each (centre, patient id), the rows of the latest
import that holds that patient.

A hashed manifest detects a damaged or edited export, not a forged one: anyone can recompute
the hashes. Authenticity needs the file to come over an authenticated channel (or a signature,
not built here).

Data shape (:func:`pooled_records`): one :class:`PooledRecord` per transplant of a pooled
patient: ``centre``, ``patient`` (the source's HMAC id), ``hct_number``, ``hct_year`` (real),
``hct_type``, ``donor_type`` (``outcomes.endpoints.DONOR_TYPES``, as the source classified
it), ``donor_relation`` (``deidentified.DONOR_GROUPS``), ``donor_role``,
``donor_relationship``, ``donor_sex``, ``donor_age``, the patient's ``sex``, ``age``,
``diagnosis``, ``disease_status``, ``disease_risk``, and ``events``: that transplant's
follow-up events as :class:`PooledEvent` (``event_type``, ``day`` = days from its day 0 — the
interval, unchanged by the date shift —, ``payload`` with the coded fields; its dates shifted
like the day 0). Patients without a transplant have no record (analyses start at day 0).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from everydonor.adapters.registry import audit
from everydonor.adapters.registry.deidentified import DONOR_GROUPS
from everydonor.adapters.registry.exports import (
    CODE_TEXT,
    CODED_FIELDS,
    DATE_TEXT,
    DROPPED_EVENTS,
    ReadExport,
    coded_payload,
    read_export,
)
from everydonor.adapters.registry.models import (
    Centre,
    Patient,
    PooledEvent,
    PooledImport,
    PooledPatient,
    PooledTransplant,
)
from everydonor.errors import InputError
from everydonor.outcomes.endpoints import DONOR_TYPES

_HMAC_ID = re.compile(r"^[0-9a-f]{32}$")
_AGE = re.compile(r"^(?:[0-9]|[1-8][0-9]|90\+)$")


@dataclass(frozen=True, slots=True)
class PooledEventRecord:
    event_type: str
    #: Days from the transplant's day 0 (None when the event has no date).
    day: int | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PooledRecord:
    """One transplant of a pooled patient (see the module docstring)."""

    centre: str
    patient: str
    hct_number: int
    hct_year: int
    hct_type: str
    donor_type: str
    donor_relation: str
    donor_role: str | None
    donor_relationship: str | None
    donor_sex: str | None
    donor_age: str | None
    sex: str | None
    age: str | None
    diagnosis: str | None
    disease_status: str | None
    disease_risk: str | None
    events: tuple[PooledEventRecord, ...]
    import_id: str


# -- checking the rows --------------------------------------------------------------------------

class _Rows:
    """Typed access to one CSV row; errors name the file, row and column."""

    def __init__(self, name: str, index: int, row: Mapping[str, str]) -> None:
        self.name, self.line, self.row = name, index + 2, row

    def fail(self, column: str, why: str) -> InputError:
        value = self.row.get(column, "")
        return InputError(f"{self.name} row {self.line}, {column}: {why} (not a de-identified "
                          "export's value: refused)", field=f"{self.name}.{column}",
                          value=value[:80], person=self.row.get("patient") or None)

    def text(self, column: str, *, limit: int = 64, required: bool = False) -> str | None:
        value = self.row[column]
        if not value:
            if required:
                raise self.fail(column, "missing")
            return None
        if len(value) > limit or DATE_TEXT.search(value):
            raise self.fail(column, f"expected a code of at most {limit} characters")
        return value

    def integer(self, column: str, *, lo: int, hi: int, required: bool = False) -> int | None:
        value = self.row[column]
        if not value:
            if required:
                raise self.fail(column, "missing")
            return None
        try:
            number = int(value)
        except ValueError:
            raise self.fail(column, "expected a whole number") from None
        if not lo <= number <= hi:
            raise self.fail(column, f"expected {lo} to {hi}")
        return number

    def number(self, column: str) -> float | None:
        value = self.row[column]
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            raise self.fail(column, "expected a number") from None

    def date(self, column: str, *, required: bool = False) -> dt.date | None:
        value = self.row[column]
        if not value:
            if required:
                raise self.fail(column, "missing")
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.fail(column, "expected a shifted date YYYY-MM-DD") from None

    def pattern(self, column: str, regex: re.Pattern[str], why: str) -> str | None:
        value = self.row[column]
        if not value:
            return None
        if not regex.match(value):
            raise self.fail(column, why)
        return value


def _payload(r: _Rows, event_type: str) -> dict[str, Any]:
    try:
        data = json.loads(r.row["payload"] or "{}")
    except json.JSONDecodeError:
        raise r.fail("payload", "expected a JSON object") from None
    if not isinstance(data, dict):
        raise r.fail("payload", "expected a JSON object")
    if event_type == "score":
        for k, v in data.items():
            if not (isinstance(v, bool | int | float) or (
                    isinstance(v, str) and CODE_TEXT.match(v) and not DATE_TEXT.search(v))):
                raise r.fail("payload", f"score field {k!r} is not a coded value")
        return data
    allowed = CODED_FIELDS.get(event_type)
    if allowed is None:
        raise r.fail("event_type", "not an event type a de-identified export holds")
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise r.fail("payload", f"field(s) {', '.join(extra)} are not coded fields of a "
                     f"{event_type} event")
    if coded_payload(event_type, data, shift=None) != data:
        raise r.fail("payload", "a value is not coded (free text or a date in a text field)")
    return data


def _check(export: ReadExport) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                       list[dict[str, Any]]]:
    m = export.manifest
    if m.get("profile") != "deidentified":
        raise InputError(f"only a de-identified export can join the pooled cohort; this one is "
                         f"{m.get('profile')!r} (identified and limited exports stay with "
                         "their centre)", field="manifest.json.profile",
                         value=str(m.get("profile")))
    centres = m.get("centres")
    if not isinstance(centres, list) or not centres or not all(
            isinstance(c, str) and 0 < len(c) <= 64 for c in centres):
        raise InputError("the manifest names no source centre", field="manifest.json.centres",
                         value=str(centres)[:80])
    patients: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, row in enumerate(export.tables["patients.csv"]):
        r = _Rows("patients.csv", i, row)
        pid = r.pattern("patient", _HMAC_ID, "expected an HMAC id (32 hex digits)")
        if pid is None:
            raise r.fail("patient", "missing")
        if pid in seen:
            raise r.fail("patient", "the same patient twice")
        seen.add(pid)
        centre = r.text("centre", required=True)
        if centre not in centres:
            raise r.fail("centre", f"not one of the manifest's centres {centres}")
        patients.append({
            "centre": centre, "patient": pid, "sex": r.text("sex", limit=8),
            "age": r.pattern("age", _AGE, "expected whole years 0-89 or 90+"),
            "diagnosis": r.text("diagnosis"), "disease_status": r.text("disease_status"),
            "disease_risk": r.text("disease_risk", limit=16),
            "weight_kg": r.number("weight_kg"), "height_cm": r.number("height_cm"),
            "abo": r.text("abo", limit=4), "cmv_igg": r.text("cmv_igg", limit=8)})
    transplants: list[dict[str, Any]] = []
    for i, row in enumerate(export.tables["transplants.csv"]):
        r = _Rows("transplants.csv", i, row)
        if row["patient"] not in seen:
            raise r.fail("patient", "not a patient of patients.csv")
        hct_type = r.text("hct_type", limit=8, required=True)
        if hct_type not in ("allo", "auto"):
            raise r.fail("hct_type", "expected allo or auto")
        donor_type = r.text("donor_type", limit=32, required=True)
        if donor_type not in DONOR_TYPES:
            raise r.fail("donor_type", f"expected one of {', '.join(DONOR_TYPES)}")
        relation = r.text("donor_relation", limit=16, required=True)
        if relation not in DONOR_GROUPS:
            raise r.fail("donor_relation", f"expected one of {', '.join(DONOR_GROUPS)}")
        transplants.append({
            "patient": row["patient"],
            "hct_number": r.integer("hct_number", lo=1, hi=99, required=True),
            "hct_year": r.integer("hct_year", lo=1950, hi=2200, required=True),
            "day0_shifted": r.date("day0_shifted", required=True), "hct_type": hct_type,
            "donor_type": donor_type,
            "donor_role": r.text("donor_role", limit=16),
            "donor_relationship": r.text("donor_relationship", limit=32),
            "donor_relation": relation, "donor_sex": r.text("donor_sex", limit=8),
            "donor_age": r.pattern("donor_age", _AGE, "expected whole years 0-89 or 90+")})
    events: list[dict[str, Any]] = []
    for i, row in enumerate(export.tables["follow_up.csv"]):
        r = _Rows("follow_up.csv", i, row)
        if row["patient"] not in seen:
            raise r.fail("patient", "not a patient of patients.csv")
        event_type = r.text("event_type", limit=32, required=True)
        assert event_type is not None
        if event_type in DROPPED_EVENTS:
            raise r.fail("event_type", "never part of a de-identified export")
        events.append({
            "patient": row["patient"],
            "hct_number": r.integer("hct_number", lo=1, hi=99),
            "event_type": event_type,
            "event_date_shifted": r.date("date_shifted"),
            "day": r.integer("day", lo=-36500, hi=36500),
            "payload": _payload(r, event_type)})
    return patients, transplants, events


# -- import -------------------------------------------------------------------------------------

def import_pooled(registry: Any, path: str | Path, *, actor: str, reason: str
                  ) -> dict[str, Any]:
    """Import a de-identified export into the pooled cohort (see the module docstring)."""
    from everydonor.adapters.registry.store import new_id

    export = read_export(path)
    patients, transplants, events = _check(export)
    m = export.manifest
    centres = sorted(m["centres"])
    software = m.get("software")
    if not isinstance(software, dict):
        software = {}
    key = str(m.get("key_id") or "")
    if not key or len(key) > 64:
        raise InputError("the manifest gives no key id", field="manifest.json.key_id",
                         value=key[:80])
    with registry.transaction(actor, reason) as (s, ctx):
        earlier = s.execute(select(PooledImport).where(
            PooledImport.manifest_sha256 == export.manifest_sha256)).scalar_one_or_none()
        if earlier is not None:
            raise InputError(f"this export (manifest SHA-256 {export.manifest_sha256[:16]}…) "
                             f"was imported on {earlier.imported_at:%Y-%m-%d %H:%M} UTC by "
                             f"{earlier.imported_by}: a re-import is refused (nothing "
                             "written)", field="PATH", value=str(path))
        own = sorted(set(s.execute(select(Centre.code).join(
            Patient, Patient.centre_id == Centre.id).where(Centre.code.in_(centres))
        ).scalars()))
        if own:
            raise InputError(f"centre {', '.join(own)} has patients in this registry: "
                             "importing its export would count them twice", field="centres",
                             value=", ".join(own))
        for row in s.execute(select(PooledImport)).scalars():
            shared = set(row.source_centres) & set(centres)
            if shared and row.key_id != key:
                raise InputError(
                    f"centre {', '.join(sorted(shared))} was imported before with key "
                    f"{row.key_id}, this export was made with key {key}: its ids cannot "
                    "be matched (each patient would count twice); ask for an export made "
                    "with the earlier key", field="manifest.json.key_id", value=key)
        import_id = new_id()
        counts = {"patients": len(patients), "transplants": len(transplants),
                  "events": len(events)}
        s.add(PooledImport(
            id=import_id, manifest_sha256=export.manifest_sha256, source_centres=centres,
            source_software=str(software.get("version", "?"))[:64],
            source_created=str(m.get("created", "?"))[:40], key_id=key,
            files={f["name"]: {"sha256": f["sha256"], "rows": f["rows"]}
                   for f in m["files"]},
            patients=len(patients), excluded=m.get("consent", {}).get("excluded", {}),
            imported_at=ctx.now, imported_by=ctx.actor, reason=ctx.reason))
        s.flush()
        for model, rows in ((PooledPatient, patients), (PooledTransplant, transplants),
                            (PooledEvent, events)):
            if rows:
                s.execute(insert(model), [{"import_id": import_id, **r} for r in rows])
        audit.append(s, now=ctx.now, actor=ctx.actor, action="pooled.import",
                     object_type="pooled_import", object_id=import_id, reason=ctx.reason,
                     payload={"manifest_sha256": export.manifest_sha256, "centres": centres,
                              "source_created": m.get("created"), "key_id": key,
                              "files": {f["name"]: f["sha256"] for f in m["files"]},
                              **counts}, request_id=ctx.request_id)
    return {"import_id": import_id, "centres": centres, "path": str(path),
            "manifest_sha256": export.manifest_sha256, "source_created": m.get("created"),
            "source_excluded": m.get("consent", {}).get("excluded", {}), **counts}


# -- reading ------------------------------------------------------------------------------------

def pooled_imports(registry: Any) -> list[dict[str, Any]]:
    """Every import, oldest first (who, when, from where, how many)."""
    with registry.reading() as s:
        return [{"import_id": x.id, "centres": x.source_centres, "patients": x.patients,
                 "manifest_sha256": x.manifest_sha256, "source_created": x.source_created,
                 "imported_at": x.imported_at.isoformat(), "imported_by": x.imported_by,
                 "reason": x.reason}
                for x in s.execute(select(PooledImport).order_by(PooledImport.imported_at,
                                                                 PooledImport.id)).scalars()]


@dataclass(frozen=True, slots=True)
class PooledRows:
    """One pooled patient as stored, for the outcomes' course builder
    (``outcomes_data``): the patient row, every transplant (with its shifted day 0) and every
    follow-up event (with its shifted date and transplant number), from the latest import that
    holds the patient. The shifts are one per patient, so differences of these dates are the
    real intervals."""

    patient: PooledPatient
    transplants: tuple[PooledTransplant, ...]
    events: tuple[PooledEvent, ...]


def _latest(s: Session, centres: Sequence[str] | None) -> dict[tuple[str, str], PooledPatient]:
    """(import id, patient) → the patient row of the latest import holding each (centre,
    patient) (the supersede rule of the module docstring)."""
    order = {x.id: i for i, x in enumerate(s.execute(
        select(PooledImport).order_by(PooledImport.imported_at, PooledImport.id)).scalars())}
    latest: dict[tuple[str, str], tuple[int, PooledPatient]] = {}
    for p in s.execute(select(PooledPatient)).scalars():
        if centres is not None and p.centre not in centres:
            continue
        rank = order[p.import_id]
        key = (p.centre, p.patient)
        if key not in latest or latest[key][0] < rank:
            latest[key] = (rank, p)
    return {(p.import_id, p.patient): p for _, p in latest.values()}


def pooled_rows(s: Session, *, centres: Sequence[str] | None = None) -> list[PooledRows]:
    """The pooled cohort's patients as stored (see :class:`PooledRows`), in (centre, patient)
    order; one query per table, in the caller's session (so an audited read can include it)."""
    chosen = _latest(s, centres)
    transplants: dict[tuple[str, str], list[PooledTransplant]] = {}
    for t in s.execute(select(PooledTransplant).order_by(PooledTransplant.id)).scalars():
        if (t.import_id, t.patient) in chosen:
            transplants.setdefault((t.import_id, t.patient), []).append(t)
    events: dict[tuple[str, str], list[PooledEvent]] = {}
    for e in s.execute(select(PooledEvent).order_by(PooledEvent.id)).scalars():
        if (e.import_id, e.patient) in chosen:
            events.setdefault((e.import_id, e.patient), []).append(e)
    out = [PooledRows(p, tuple(transplants.get(k, ())), tuple(events.get(k, ())))
           for k, p in chosen.items()]
    out.sort(key=lambda r: (r.patient.centre, r.patient.patient))
    return out


def pooled_records(registry: Any, *, centres: list[str] | None = None) -> list[PooledRecord]:
    """The pooled cohort's transplants (module docstring), each patient from the latest import
    that holds it; in (centre, patient, transplant) order."""
    with registry.reading() as s:
        chosen = _latest(s, centres)
        events: dict[tuple[str, str, int | None], list[PooledEventRecord]] = {}
        for e in s.execute(select(PooledEvent).order_by(PooledEvent.id)).scalars():
            if (e.import_id, e.patient) in chosen:
                events.setdefault((e.import_id, e.patient, e.hct_number), []).append(
                    PooledEventRecord(e.event_type, e.day, dict(e.payload)))
        out = []
        for t in s.execute(select(PooledTransplant).order_by(PooledTransplant.id)).scalars():
            p = chosen.get((t.import_id, t.patient))
            if p is None:
                continue
            out.append(PooledRecord(
                centre=p.centre, patient=p.patient, hct_number=t.hct_number,
                hct_year=t.hct_year, hct_type=t.hct_type, donor_type=t.donor_type,
                donor_relation=t.donor_relation,
                donor_role=t.donor_role, donor_relationship=t.donor_relationship,
                donor_sex=t.donor_sex, donor_age=t.donor_age, sex=p.sex, age=p.age,
                diagnosis=p.diagnosis, disease_status=p.disease_status,
                disease_risk=p.disease_risk,
                events=tuple(sorted(events.get((t.import_id, t.patient, t.hct_number), []),
                                    key=lambda e: (e.day is None, e.day or 0))),
                import_id=t.import_id))
        out.sort(key=lambda r: (r.centre, r.patient, r.hct_number))
        return out
