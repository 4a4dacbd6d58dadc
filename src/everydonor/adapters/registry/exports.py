"""Cohort exports under three profiles (SR-13), gated by consent (SR-14), audited (SR-07).

Profiles:

* ``identified``: everything the registry holds about the cohort, names, birth dates and
  national ids included, ids are UPNs. For use inside the centre only: refused for any
  destination but ``local``; no consent gating (it is the centre's own clinical record).
* ``limited`` (HIPAA limited data set, 45 CFR 164.514(e)): dates kept (birth date, day 0,
  event dates); direct identifiers removed: names, national ids, UPN and case id, donor
  registry ids, contact data (the registry holds none), every free-text field (notes,
  treatment, detail, method, specimen, graft) and centre extensions (``x_`` keys). Ids are
  HMAC ids.
* ``deidentified`` (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)): as ``limited``, and every date
  shifted per patient by a keyed offset (:func:`date_offset`), birth dates dropped, ages in
  whole years with ages over 89 as ``90+``; the transplant's real year is kept (Safe Harbor
  allows years).

HLA genotypes are not exported under any profile (GDPR Art. 9 genetic data; China's human
genetic resources rules): the per-patient case export (``registry export PATIENT``) carries them.

Consent (SR-14): under ``limited`` and ``deidentified`` a patient without research consent
(refused, or never recorded) is left out; for ``--destination international`` a patient
without international-transfer consent is left out too. The manifest and the command say how
many were left out and why (a count per reason, never an id). A patient is counted once, under
the first reason that applies, in this order: research refused, research not recorded,
international transfer refused, international transfer not recorded.

The cohort is chosen with the outcomes' filter grammar (``outcomes_data.parse_cohort``:
``centre=``, ``disease=``, ``hct_from=``/``hct_to=``, ``donor_type=``, ``hct=first|all``,
``consent=research``): a patient is in it when its centre and disease match and one of its
transplants meets the transplant conditions (with ``hct=first``: its first allogeneic one); the
export then carries all of that patient's transplants and follow-up. Each transplant's
``donor_type`` is :func:`~everydonor.outcomes.endpoints.classify_donor_type` (relation, stored
family analysis, graft), as the endpoints and the activity table count it.

The export is a new directory (``-o PATH``, refused when it exists): ``patients.csv``,
``transplants.csv``, ``follow_up.csv`` (UTF-8, header row, RFC 4180 quoting, text that starts
with ``= + - @`` prefixed with ``'`` against formula injection, SR-17) and ``manifest.json``
(:data:`FORMAT`: profile, destination, centres, software, created, filters, key id — a check
value of the key, never the key —, patients, consent exclusions, and each file's columns, row
count and SHA-256). It is written into a hidden temporary directory beside the target and
renamed into place in the transaction that writes the audit entry: a failure leaves neither
the directory nor an entry.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from everydonor import __version__
from everydonor.adapters.registry import audit
from everydonor.adapters.registry.codec import canonical_json, decode, sha256_hex
from everydonor.adapters.registry.config import PseudonymKey
from everydonor.adapters.registry.deidentified import donor_group
from everydonor.adapters.registry.models import (
    Centre,
    Consent,
    Disease,
    FollowUpEvent,
    Hct,
    Identity,
    Patient,
    Person,
    Snapshot,
)
from everydonor.adapters.registry.outcomes_data import Cohort
from everydonor.errors import InputError
from everydonor.outcomes.endpoints import classify_donor_type

FORMAT = "everydonor.export/1"
PROFILES = ("identified", "limited", "deidentified")
DESTINATIONS = ("local", "international")
#: Date shifts are whole days in [-SHIFT_DAYS, -1] or [1, SHIFT_DAYS]: never 0 (so no real
#: date survives), at most 364 days (REDCap's de-identified export; SR-13).
SHIFT_DAYS = 364
MANIFEST = "manifest.json"
FILES = ("patients.csv", "transplants.csv", "follow_up.csv")
NOTICE = ("Registry extract for research. Decision support only: check every analysis against "
          "its source before clinical use.")

_PATIENT_CLINICAL = ("sex", "diagnosis", "disease_status", "disease_risk", "weight_kg",
                     "height_cm", "abo", "cmv_igg")
_DONOR = ("hct_type", "donor_type", "donor_role", "donor_relationship", "donor_relation", "donor_sex",
          "donor_age")
#: The columns of each file under each profile (golden: tests/registry/test_exports.py).
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "identified": {
        "patients.csv": ("patient", "case_id", "centre", "name", "birth_date", "national_id",
                         "age", *_PATIENT_CLINICAL, "research_consent",
                         "international_transfer_consent", "consent_date", "notes"),
        "transplants.csv": ("patient", "hct_number", "hct_year", "day0", *_DONOR, "donor",
                            "donor_name", "donor_registry", "donor_id", "graft"),
        "follow_up.csv": ("patient", "hct_number", "day", "event_type", "date", "source",
                          "payload"),
    },
    "limited": {
        "patients.csv": ("patient", "centre", "birth_date", "age", *_PATIENT_CLINICAL),
        "transplants.csv": ("patient", "hct_number", "hct_year", "day0", *_DONOR),
        "follow_up.csv": ("patient", "hct_number", "day", "event_type", "date", "payload"),
    },
    "deidentified": {
        "patients.csv": ("patient", "centre", "age", *_PATIENT_CLINICAL),
        "transplants.csv": ("patient", "hct_number", "hct_year", "day0_shifted", *_DONOR),
        "follow_up.csv": ("patient", "hct_number", "day", "event_type", "date_shifted",
                          "payload"),
    },
}

#: Follow-up payload fields kept under ``limited`` and ``deidentified``, by kind: ``code`` (one
#: of a fixed list), ``number``, ``flag``, ``date`` (shifted under ``deidentified``),
#: ``scores`` (organ → NIH score). Everything else is dropped: the fields in
#: :data:`FREE_TEXT` and any ``x_`` extension. A test checks every field of
#: ``followup.EVENT_TYPES`` is in one of the two tables.
CODED_FIELDS: dict[str, dict[str, str]] = {
    "engraftment": {"anc_500_date": "date", "platelet_20_date": "date",
                    "graft_failure": "code", "poor_graft_function": "flag"},
    "agvhd": {"skin_stage": "number", "liver_stage": "number", "upper_gi_stage": "number",
              "lower_gi_stage": "number", "steroid_refractory": "flag", "late_onset": "flag"},
    "cgvhd": {"organ_scores": "scores", "classification": "code"},
    "cmv": {"load_iu_ml": "number"},
    "ebv": {"load_copies_ml": "number"},
    "chimerism": {"donor_pct": "number"},
    "mrd": {"result": "code", "wt1_pct": "number", "flow": "code", "date": "date"},
    "relapse": {"relapse_type": "code"},
    "dli": {"dli_type": "code", "cd3_per_kg": "number", "g_csf_mobilised": "flag"},
    "intervention": {},
    "death": {"cause": "code"},
    "last_contact": {"vital_status": "code"},
}
#: Text fields of the registry's event types: free text, never exported outside the centre
#: (``mrd.value`` goes with its free-text ``unit``; ``mrd.fusion`` is a free mapping).
FREE_TEXT: dict[str, tuple[str, ...]] = {
    "agvhd": ("treatment",), "cgvhd": ("treatment",),
    "cmv": ("specimen", "pre_emptive_therapy"), "ebv": ("specimen", "pre_emptive_therapy"),
    "chimerism": ("method", "lineage"), "mrd": ("method", "value", "unit", "fusion"),
    "intervention": ("name", "detail"), "death": ("detail",),
}
#: Event types left out of ``limited`` and ``deidentified`` whole: the case file's status block
#: (written as received, extensions included).
DROPPED_EVENTS = ("case_status",)
#: Keys of a stored score's result that are not its value (text, or the inputs echoed).
_SCORE_META = ("name", "score", "criteria", "citation", "confidence", "notes", "inputs")
CODE_TEXT = re.compile(r"^[A-Za-z0-9_.+<>=/ -]{1,32}$")
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote (the command prints :meth:`document`)."""

    path: Path
    profile: str
    destination: str
    patients: int
    rows: dict[str, int]
    excluded: dict[str, int]
    manifest_sha256: str
    files: dict[str, str]
    audit_seq: int
    filters: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {"path": str(self.path), "profile": self.profile,
                "destination": self.destination, "filters": self.filters,
                "patients": self.patients, "rows": self.rows, "excluded": self.excluded,
                "excluded_total": sum(self.excluded.values()),
                "manifest_sha256": self.manifest_sha256, "files": self.files,
                "audit_seq": self.audit_seq}


# -- keyed transformations ----------------------------------------------------------------------

def date_offset(key: PseudonymKey, pseudonym: str) -> int:
    """The patient's date shift in days: HMAC-SHA256(key, "export-date-shift", registry
    pseudonym), its first 8 bytes as an integer modulo 728, mapped onto [-364, -1] ∪ [1, 364].
    The same for every date of the patient (intervals kept) and in every export made with the
    key; unrelated between patients; never 0."""
    digest = hmac.new(key.secret, f"export-date-shift\x1f{pseudonym}".encode(),
                      hashlib.sha256).digest()
    v = int.from_bytes(digest[:8], "big") % (2 * SHIFT_DAYS)
    return v - SHIFT_DAYS if v < SHIFT_DAYS else v - SHIFT_DAYS + 1


def export_id(key: PseudonymKey, profile: str, pseudonym: str) -> str:
    """The patient's id in a limited or de-identified export: HMAC-SHA256(key, "export",
    profile, registry pseudonym), 32 hex digits. Stable across exports of a profile (so a
    later export can supersede an earlier one in a pooled cohort); not the registry pseudonym,
    so the export cannot be joined to the registry's de-identified views."""
    return key.pseudonym("export", profile, pseudonym)[:32]


def key_id(key: PseudonymKey) -> str:
    """Names the key in a manifest: the first 16 hex digits of its check value (an HMAC of a
    fixed text), never the key."""
    return key.check_value()[:16]


def safe_age(age: float | None) -> str | None:
    """Whole years; ``90+`` above 89 (Safe Harbor)."""
    if age is None or age < 0:
        return None
    return "90+" if age >= 90 else str(int(age))


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def coded_payload(event_type: str, payload: Any, *, shift: int | None) -> dict[str, Any]:
    """The coded fields of an event's payload (:data:`CODED_FIELDS`); dates shifted by
    ``shift`` days when given. A stored score keeps its name, criteria version and the scalar
    values it computed (not its inputs). Any text that looks like a date outside a date field
    is dropped (a last guard)."""
    data = decode(payload) if payload is not None else {}
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, Any] = {}
    if event_type == "score":
        result = data.get("result")
        if not isinstance(result, Mapping):
            result = {}
        for k in ("score", "criteria"):
            if isinstance(data.get(k), str) and CODE_TEXT.match(data[k]):
                out[k] = data[k]
        values = {k: v for k, v in result.items()
                  if isinstance(k, str) and k not in _SCORE_META}
        for k, v in values.items():
            if isinstance(v, bool | int | float) or (isinstance(v, str) and CODE_TEXT.match(v)
                                                     and not DATE_TEXT.search(v)):
                out[k] = v
        return out
    for name, kind in CODED_FIELDS.get(event_type, {}).items():
        value = data.get(name)
        if value is None:
            continue
        if kind == "date":
            day = _as_date(value)
            if day is not None:
                out[name] = (day + dt.timedelta(days=shift) if shift else day).isoformat()
        elif _plain_value(kind, value):
            out[name] = value
        elif kind == "scores" and isinstance(value, Mapping):
            out[name] = {str(k): v for k, v in value.items()
                         if isinstance(k, str) and CODE_TEXT.match(k) and isinstance(v, int)}
    return out


def _plain_value(kind: str, value: Any) -> bool:
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return (kind == "code" and isinstance(value, str) and CODE_TEXT.match(value) is not None
            and not DATE_TEXT.search(value))


# -- consent ------------------------------------------------------------------------------------

def consent_exclusion(profile: str, destination: str, consent: Consent | None) -> str | None:
    """Why a patient is left out of an export (None: included); see the module docstring."""
    if profile == "identified":
        return None
    research = None if consent is None or consent.deleted else consent.research
    if research is False:
        return "research consent refused"
    if research is None:
        return "research consent not recorded"
    if destination == "international":
        assert consent is not None
        if consent.international_transfer is False:
            return "international transfer refused"
        if consent.international_transfer is None:
            return "international transfer consent not recorded"
    return None


# -- the rows -----------------------------------------------------------------------------------

@dataclass(slots=True)
class _Tables:
    patients: list[dict[str, Any]] = field(default_factory=list)
    transplants: list[dict[str, Any]] = field(default_factory=list)
    follow_up: list[dict[str, Any]] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    centres: set[str] = field(default_factory=set)
    exported: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    value = decode(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True, default=str)


def _family(s: Session, ids: list[str]) -> dict[str, dict[str, str]]:
    """Each patient's latest stored family analysis: case person id → ``hla_relation``."""
    out: dict[str, dict[str, str]] = {}
    if not ids:
        return out
    for pid, answer in s.execute(select(Snapshot.patient_id, Snapshot.answer).where(
            Snapshot.patient_id.in_(ids), Snapshot.kind == "family")
            .order_by(Snapshot.patient_id, Snapshot.created_at)):
        try:
            relatives = json.loads(answer).get("relatives") or []
        except (ValueError, AttributeError):
            continue
        out[pid] = {str(r.get("id")): str(r.get("hla_relation"))
                    for r in relatives if isinstance(r, Mapping)}
    return out


def _selected(cohort: Cohort, hcts: Sequence[Hct], types: Mapping[str, str]) -> bool:
    """Whether a patient's transplants meet the cohort's transplant conditions (any of them;
    with ``hct=first`` the first allogeneic one)."""
    if not (cohort.hct_from or cohort.hct_to or cohort.donor_type or cohort.hct == "first"):
        return True
    candidates = ([h for h in hcts if h.hct_type == "allo"][:1] if cohort.hct == "first"
                  else list(hcts))
    return any((cohort.hct_from is None or h.day0 >= cohort.hct_from)
               and (cohort.hct_to is None or h.day0 <= cohort.hct_to)
               and (not cohort.donor_type or types[h.id] in cohort.donor_type)
               for h in candidates)


def _collect(s: Session, key: PseudonymKey, *, profile: str, destination: str,
             cohort: Cohort) -> _Tables:
    where: list[Any] = [Patient.deleted.is_(False)]
    if cohort.centre:
        where.append(Centre.code.in_(cohort.centre))
    patients = s.execute(select(Patient, Centre.code).join(Centre, Centre.id == Patient.centre_id)
                         .where(*where).order_by(Patient.pseudonym)).all()
    ids = [p.id for p, _ in patients]

    def by_patient(model: Any, *extra: Any) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        if ids:
            for row in s.execute(select(model).where(model.patient_id.in_(ids),
                                                     model.deleted.is_(False), *extra)
                                 ).scalars():
                out.setdefault(row.patient_id, []).append(row)
        return out

    diseases = by_patient(Disease)
    consents = by_patient(Consent)
    persons = by_patient(Person)
    hcts = by_patient(Hct)
    events = by_patient(FollowUpEvent)
    family = _family(s, ids)
    identified = profile == "identified"
    t = _Tables()
    for patient, code in patients:
        disease = (diseases.get(patient.id) or [None])[0]
        hct_rows = sorted(hcts.get(patient.id, []), key=lambda h: h.hct_number)
        people = {p.id: p for p in persons.get(patient.id, [])}
        relations = family.get(patient.id, {})
        types = {}
        for h in hct_rows:
            donor = people.get(h.donor_person_id or "")
            types[h.id] = classify_donor_type(
                hct_type=h.hct_type, graft=h.graft, donor_role=donor.role if donor else None,
                relationship=donor.relationship if donor else None,
                hla_relation=relations.get(donor.case_person_id) if donor else None)
        if cohort.disease and (disease is None or (disease.diagnosis or "").lower()
                               not in {d.lower() for d in cohort.disease}):
            continue
        if not _selected(cohort, hct_rows, types):
            continue
        consent = (consents.get(patient.id) or [None])[0]
        if cohort.consent == "research" and (consent is None or consent.research is not True):
            continue
        reason = consent_exclusion(profile, destination, consent)
        if reason is not None:
            t.excluded[reason] += 1
            continue
        t.centres.add(code)
        t.exported.append(patient.pseudonym)
        me = next((p for p in people.values() if p.role == "patient"), None)
        names: dict[str, Identity] = {}
        if profile != "deidentified" and people:
            wanted = {key.pseudonym("identity", patient.upn, p.case_person_id): p.id
                      for p in people.values()}
            for found in s.execute(select(Identity).where(
                    Identity.pseudonym.in_(list(wanted)), Identity.deleted.is_(False))).scalars():
                names[wanted[found.pseudonym]] = found
        shift = date_offset(key, patient.pseudonym) if profile == "deidentified" else None
        pid = patient.upn if identified else export_id(key, profile, patient.pseudonym)
        ident = names.get(me.id) if me is not None else None
        clinical = {"sex": me.sex if me else None,
                    "diagnosis": disease.diagnosis if disease else None,
                    "disease_status": disease.disease_status if disease else None,
                    "disease_risk": disease.disease_risk if disease else None,
                    "weight_kg": me.weight_kg if me else None,
                    "height_cm": me.height_cm if me else None,
                    "abo": me.abo if me else None, "cmv_igg": me.cmv_igg if me else None}
        age = me.age if me else None
        row: dict[str, Any] = {"patient": pid, "centre": code, **clinical,
                               "age": safe_age(age) if shift is not None else age}
        if profile != "deidentified":
            row["birth_date"] = ident.birth_date if ident else None
        if identified:
            row.update({"case_id": patient.case_id, "name": ident.name if ident else None,
                        "national_id": ident.national_id if ident else None,
                        "research_consent": consent.research if consent else None,
                        "international_transfer_consent":
                            consent.international_transfer if consent else None,
                        "consent_date": consent.consent_date if consent else None,
                        "notes": _text(patient.case_notes)})
        t.patients.append(row)
        for h in hct_rows:
            donor = people.get(h.donor_person_id or "")
            d_age = donor.age if donor else None
            tr: dict[str, Any] = {
                "patient": pid, "hct_number": h.hct_number, "hct_year": h.day0.year,
                "hct_type": h.hct_type, "donor_type": types[h.id],
                "donor_role": donor.role if donor else None,
                "donor_relationship": donor.relationship if donor else None,
                "donor_relation": donor_group(h.hct_type, donor),
                "donor_sex": donor.sex if donor else None,
                "donor_age": safe_age(d_age) if shift is not None else d_age}
            if shift is None:
                tr["day0"] = h.day0
            else:
                tr["day0_shifted"] = h.day0 + dt.timedelta(days=shift)
            if identified:
                d_ident = names.get(donor.id) if donor else None
                tr.update({"donor": donor.case_person_id if donor else None,
                           "donor_name": d_ident.name if d_ident else None,
                           "donor_registry": donor.donor_registry if donor else None,
                           "donor_id": donor.donor_id if donor else None, "graft": h.graft})
            t.transplants.append(tr)
        by_hct = {h.id: h for h in hct_rows}
        evs = sorted(events.get(patient.id, []),
                     key=lambda e: (e.event_date or dt.date.min, e.source, e.position))
        for e in evs:
            if not identified and e.event_type in DROPPED_EVENTS:
                continue
            hct = by_hct.get(e.hct_id or "")
            if hct is None and e.event_date is not None:
                before = [h for h in hct_rows if h.day0 <= e.event_date]
                hct = before[-1] if before else None
            ev: dict[str, Any] = {
                "patient": pid, "hct_number": hct.hct_number if hct else None,
                "day": ((e.event_date - hct.day0).days
                        if hct is not None and e.event_date is not None else None),
                "event_type": e.event_type}
            if identified:
                ev.update({"date": e.event_date, "source": e.source,
                           "payload": canonical_json(e.payload)})
            elif shift is None:
                ev.update({"date": e.event_date,
                           "payload": canonical_json(coded_payload(e.event_type, e.payload,
                                                                   shift=None))})
            else:
                ev.update({"date_shifted": (e.event_date + dt.timedelta(days=shift)
                                            if e.event_date else None),
                           "payload": canonical_json(coded_payload(e.event_type, e.payload,
                                                                   shift=shift))})
            t.follow_up.append(ev)
    return t


# -- files --------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    return "'" + text if text.startswith((*_FORMULA, "'")) else text


def uncell(text: str) -> str:
    """A cell as written by :func:`_cell`, the formula guard removed."""
    return text[1:] if text[:1] == "'" and text[1:2] in (*_FORMULA, "'") else text


def csv_bytes(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8")


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def new_output_path(path: str | Path, *, written: str = "an export is written into a new "
                    "directory", thing: str = "the export") -> Path:
    """An output path that does not exist yet, in an existing directory (exports are never
    overwritten)."""
    target = Path(path)
    if target.exists() or target.is_symlink():
        raise InputError(f"{str(target)!r} exists: {written} (choose another path; earlier "
                         "exports are never overwritten)", field="-o", value=str(target))
    if not target.parent.is_dir():
        raise InputError(f"no directory {str(target.parent)!r} to write {thing} in",
                         field="-o", value=str(target))
    return target


def export(registry: Any, profile: str, *, destination: str = "local",
           cohort: Cohort | None = None, output: str | Path, actor: str,
           reason: str) -> ExportResult:
    """Export the cohort under ``profile`` to the new directory ``output`` (module docstring);
    one audit entry (``registry.export``: who, profile, filters, destination, rows, files'
    SHA-256, the registry pseudonyms of the patients exported) in the same transaction."""
    if profile not in PROFILES:
        raise InputError(f"the profile is one of: {', '.join(PROFILES)}", field="--profile",
                         value=profile)
    if destination not in DESTINATIONS:
        raise InputError(f"the destination is one of: {', '.join(DESTINATIONS)}",
                         field="--destination", value=destination)
    if profile == "identified" and destination != "local":
        raise InputError("an identified export is for use inside the centre only: export "
                         "under 'limited' or 'deidentified' for another destination",
                         field="--destination", value=destination)
    cohort = cohort or Cohort()
    if cohort.source != "local":
        raise InputError(f"source={cohort.source}: the pooled cohort is other centres' data, "
                         "imported for analysis here; it is never exported again (each centre "
                         "exports its own patients)", field="cohort.source", value=cohort.source)
    target = new_output_path(output)
    tmp = target.parent / f".{target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    renamed = False
    try:
        with registry.transaction(actor, reason) as (s, ctx):
            key: PseudonymKey = registry._check_key(s)
            tables = _collect(s, key, profile=profile, destination=destination, cohort=cohort)
            tmp.mkdir(mode=0o700)  # patient data: the owner's only, whatever the umask
            files: list[dict[str, Any]] = []
            for name, rows in zip(FILES, (tables.patients, tables.transplants,
                                          tables.follow_up), strict=True):
                data = csv_bytes(COLUMNS[profile][name], rows)
                _write_file(tmp / name, data)
                files.append({"name": name, "rows": len(rows),
                              "columns": list(COLUMNS[profile][name]),
                              "sha256": hashlib.sha256(data).hexdigest()})
            excluded = dict(sorted(tables.excluded.items()))
            manifest = {
                "format": FORMAT, "profile": profile, "destination": destination,
                "centres": sorted(tables.centres),
                "software": {"name": "everydonor", "version": __version__},
                "created": ctx.now.isoformat(timespec="seconds"),
                "filters": cohort.describe(), "key_id": key_id(key),
                "ids": ("registry id (UPN)" if profile == "identified" else
                        f"HMAC-SHA256(registry key, 'export', '{profile}', pseudonym), "
                        "32 hex digits"),
                "dates": (f"shifted per patient by a keyed offset of 1 to {SHIFT_DAYS} days "
                          "either way (HMAC-SHA256 of the key and the patient's pseudonym); "
                          "intervals kept; hct_year is the real year"
                          if profile == "deidentified" else "as recorded"),
                "ages": "whole years, 90+ above 89" if profile == "deidentified"
                        else "as recorded",
                "consent": {
                    "applied": ([] if profile == "identified" else
                                ["research"] + (["international transfer"]
                                                if destination == "international" else [])),
                    "excluded": excluded, "excluded_total": sum(excluded.values())},
                "patients": len(tables.patients),
                "files": files, "notice": NOTICE,
            }
            manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False,
                                         sort_keys=True) + "\n").encode("utf-8")
            _write_file(tmp / MANIFEST, manifest_bytes)
            manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
            rows_by_file = {f["name"]: f["rows"] for f in files}
            hashes = {f["name"]: f["sha256"] for f in files}
            entry = audit.append(
                s, now=ctx.now, actor=ctx.actor, action="registry.export",
                object_type="export", object_id=manifest_sha, reason=ctx.reason,
                payload={"profile": profile, "destination": destination,
                         "filters": cohort.describe(), "path": str(target.resolve()),
                         "patients": len(tables.patients), "rows": rows_by_file,
                         "excluded": excluded, "manifest_sha256": manifest_sha,
                         "files": hashes, "patients_exported": sorted(tables.exported)},
                request_id=ctx.request_id)
            if target.exists():
                raise InputError(f"{str(target)!r} appeared while the export was written: "
                                 "nothing written", field="-o", value=str(target))
            os.rename(tmp, target)
            renamed = True
    except OSError as exc:
        shutil.rmtree(target if renamed else tmp, ignore_errors=True)
        raise InputError(f"cannot write the export to {str(target)!r}: "
                         f"{exc.strerror or exc}; nothing written", field="-o",
                         value=str(target)) from None
    except BaseException:
        shutil.rmtree(target if renamed else tmp, ignore_errors=True)
        raise
    return ExportResult(target, profile, destination, len(tables.patients), rows_by_file,
                        excluded, manifest_sha, hashes, int(entry["seq"]), cohort.describe())


# -- reading an export back ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReadExport:
    """An export directory read and checked against its manifest."""

    manifest: dict[str, Any]
    manifest_sha256: str
    tables: dict[str, list[dict[str, str]]]


def read_export(path: str | Path) -> ReadExport:
    """Read an export directory: the manifest's format, each listed file present with the
    SHA-256 and row count the manifest gives, the profile's columns, no other file. Refusals
    name the file and what differs."""
    root = Path(path)
    where = str(root)
    if not root.is_dir():
        raise InputError(f"{where!r} is not an export directory (everydonor registry export "
                         "writes one)", field="PATH", value=where)
    try:
        manifest_bytes = (root / MANIFEST).read_bytes()
    except OSError:
        raise InputError(f"{where!r} has no {MANIFEST}", field="PATH", value=where) from None
    try:
        manifest = json.loads(manifest_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{MANIFEST} is not valid JSON: {exc}", field=MANIFEST,
                         value=where) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{MANIFEST} is not an {FORMAT} manifest", field=f"{MANIFEST}.format",
                         value=str(manifest.get("format") if isinstance(manifest, dict)
                                   else type(manifest).__name__))
    profile = manifest.get("profile")
    if profile not in PROFILES:
        raise InputError("unknown export profile", field=f"{MANIFEST}.profile",
                         value=str(profile))
    listed = manifest.get("files")
    if not isinstance(listed, list) or sorted(
            str(f.get("name")) for f in listed if isinstance(f, dict)) != sorted(FILES):
        raise InputError(f"the manifest must list exactly {', '.join(FILES)}",
                         field=f"{MANIFEST}.files", value=str(listed)[:200])
    present = sorted(p.name for p in root.iterdir())
    extra = [n for n in present if n not in (*FILES, MANIFEST)]
    if extra:
        raise InputError(f"files not listed in the manifest: {', '.join(extra)} (an export "
                         "holds only what its manifest lists)", field="PATH",
                         value=", ".join(extra))
    tables: dict[str, list[dict[str, str]]] = {}
    for f in listed:
        name = f["name"]
        try:
            data = (root / name).read_bytes()
        except OSError:
            raise InputError(f"{name} is missing", field=name, value=where) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != f.get("sha256"):
            raise InputError(f"{name} does not match the manifest's SHA-256 (expected "
                             f"{f.get('sha256')}, file has {actual}): changed or damaged "
                             "since export", field=f"{name}.sha256", value=actual)
        try:
            reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
            header = next(reader, [])
            rows = [dict(zip(header, (uncell(c) for c in r), strict=True)) for r in reader]
        except (UnicodeDecodeError, csv.Error, ValueError) as exc:
            raise InputError(f"{name} is not a CSV file of the export: {exc}", field=name,
                             value=where) from None
        if tuple(header) != COLUMNS[profile][name] or f.get("columns") != header:
            raise InputError(f"{name} has columns {header}, not those of a {profile} export "
                             f"{list(COLUMNS[profile][name])}", field=f"{name}.columns",
                             value=",".join(header))
        if f.get("rows") != len(rows):
            raise InputError(f"{name} has {len(rows)} rows, the manifest says {f.get('rows')}",
                             field=f"{name}.rows", value=str(len(rows)))
        tables[name] = rows
    return ReadExport(manifest, sha256_hex(manifest_bytes), tables)
