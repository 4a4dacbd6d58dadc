"""Endpoint data from the registry: each transplant's ``(time, event)`` for one endpoint, derived
from the stored follow-up by :mod:`everydonor.outcomes.endpoints` (the ``scores`` definitions),
never typed in; and the transplants of a cohort (the activity picture).

**Cohort filter** (``--cohort``): comma-separated ``key=value`` conditions, all of which must
hold; a value may list alternatives with ``|``. Keys:

- ``centre=CODE[|CODE…]``: the patient's centre code;
- ``hct_from=YYYY-MM-DD``, ``hct_to=YYYY-MM-DD``: day 0 of the transplant on or after / on or
  before (both inclusive);
- ``donor_type=TYPE[|TYPE…]``: ``matched sibling``, ``haploidentical related``, ``unrelated``,
  ``cord``, ``other``, ``unknown`` (:func:`~everydonor.outcomes.endpoints.classify_donor_type`);
- ``disease=TEXT[|TEXT…]``: the diagnosis as recorded (whole value, case-insensitive);
- ``hct=first|all``: which allogeneic transplants of a patient: ``first`` (endpoints' default:
  the patient's first allogeneic HCT, CIBMTR/EBMT usage) or ``all`` (each allogeneic HCT from its
  own day 0; a patient then counts more than once and the estimators treat the rows as
  independent). :func:`transplants` (activity) counts ``all`` unless told ``hct=first``;
- ``consent=research``: only patients with research consent (default: every patient; exports
  are gated by consent elsewhere, SR-14);
- ``source=local|pooled|all``: whose transplants: ``local`` (the default: this registry's own
  patients), ``pooled`` (the pooled cohort: other centres' de-identified exports imported with
  ``everydonor registry import-pooled``, :mod:`.pooled`) or ``all`` (both; ``local|pooled`` says
  the same). Each pooled row keeps its source centre in the ``centre`` column, and the
  ``source`` column says ``local`` or ``pooled``.

**The pooled cohort, honestly.** Its endpoints are derived by the same code as the local
patients': each pooled patient's stored transplants and follow-up events (shifted dates, one
shift per patient, so every interval from day 0 is the real one) become the same
:class:`~everydonor.outcomes.endpoints.Course` and go through the same
:func:`~everydonor.outcomes.endpoints.derive`. What a de-identified export does not carry is
not guessed: a stored score keeps its result but not its inputs, so an endpoint graded from a
stored score (aGVHD/cGVHD/GRFS from a MAGIC, Keystone or NIH score; engraftment from stored
counts) puts that transplant in ``excluded`` with the reason; stage-level aGVHD records, NIH
organ scores on cGVHD records and the engraftment form's dates are exported and used. Filters:
``centre`` is the source centre; ``disease`` the diagnosis as exported; ``donor_type`` the
source's classification (the same rule, stored with the export); ``consent=research`` holds for
every pooled patient (a de-identified export leaves out patients without research consent,
SR-14). The dates are shifted by up to 364 days and only the transplant's year is real, so with
``source=pooled|all`` a period must fall on year boundaries (``hct_from`` a 1 January,
``hct_to`` a 31 December) and is applied to the year; any other date is refused (it would be
silently wrong for pooled rows).

Example: ``centre=BJ,hct_from=2020-01-01,hct_to=2024-12-31,donor_type=haploidentical related``.
An unknown key, a repeated key or a bad value is an :class:`~everydonor.errors.InputError`
naming it (exit 2 on the command line).

**Who is left out, and why.** A patient of the cohort's centres and diseases whose data cannot
give the endpoint is listed in ``excluded`` with the reason (no allogeneic HCT, no follow-up after
day 0, contradictory dates, a missing measurement…) — never silently dropped, never guessed.
Patients outside the cohort's HCT period or donor types are simply not in the cohort.

**Reading is audited**, as the statisticians' de-identified view is (``stats.view``): one
``outcomes.read`` (or ``outcomes.activity``) entry per call, naming the endpoint, the cohort and
the counts. Patients are named by the short pseudonym of :mod:`.deidentified`; no identifying
data is read. One query per table (patients, transplants, persons, follow-up events, family
snapshots), never one per patient.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from everydonor.adapters.registry import audit
from everydonor.adapters.registry.deidentified import PSEUDONYM_CHARS, age_band
from everydonor.adapters.registry.models import (
    Centre,
    Consent,
    Disease,
    FollowUpEvent,
    Hct,
    Patient,
    Person,
    Snapshot,
)
from everydonor.adapters.registry.store import Registry, os_user
from everydonor.errors import InputError
from everydonor.outcomes.endpoints import (
    AGVHD_GRADE_SCORES,
    AGVHD_INDEX_SCORES,
    CGVHD_SCORE,
    DONOR_TYPES,
    Assessment,
    Course,
    classify_donor_type,
    derive,
    get_endpoint,
    parameters_of,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

COHORT_KEYS = ("centre", "hct_from", "hct_to", "donor_type", "disease", "hct", "consent",
               "source")
#: ``source=``: this registry's patients, the pooled cohort, or both.
SOURCES = ("local", "pooled", "all")
#: Columns :meth:`EndpointData.columns` offers for ``--group``, ``--strata`` and covariates.
GROUP_COLUMNS = ("donor_type", "centre", "hct_year", "disease", "disease_risk",
                 "disease_status", "sex", "age_band", "graft", "source")
#: The stored scores each endpoint grades from (``_course``): a pooled record keeps their
#: results, not their inputs, so these endpoints cannot be derived from them.
_SCORE_NEEDS: dict[str, tuple[str, ...]] = {
    "agvhd_2_4": (*AGVHD_GRADE_SCORES, *AGVHD_INDEX_SCORES),
    "agvhd_3_4": (*AGVHD_GRADE_SCORES, *AGVHD_INDEX_SCORES),
    "grfs": (*AGVHD_GRADE_SCORES, *AGVHD_INDEX_SCORES, CGVHD_SCORE),
    "cgvhd": (CGVHD_SCORE,),
    "neutrophil": ("neutrophil_engraftment_day",),
    "platelet": ("platelet_engraftment_day",)}


@dataclass(frozen=True, slots=True)
class Cohort:
    """A parsed cohort filter; ``text`` is the filter as given (None: everyone)."""

    text: str | None = None
    centre: tuple[str, ...] = ()
    hct_from: dt.date | None = None
    hct_to: dt.date | None = None
    donor_type: tuple[str, ...] = ()
    disease: tuple[str, ...] = ()
    hct: str | None = None
    consent: str | None = None
    source: str = "local"
    #: Restricts this registry's own patients only (not the pooled cohort) to these centres:
    #: a centre's report "with the pooled cohort" (the web page's centre scope). Not part of
    #: the text grammar.
    local_centre: tuple[str, ...] = ()

    @property
    def local(self) -> bool:
        return self.source in ("local", "all")

    @property
    def pooled(self) -> bool:
        return self.source in ("pooled", "all")

    def describe(self) -> dict[str, Any]:
        out = {"filter": self.text, "centre": list(self.centre) or None,
               "hct_from": self.hct_from.isoformat() if self.hct_from else None,
               "hct_to": self.hct_to.isoformat() if self.hct_to else None,
               "donor_type": list(self.donor_type) or None,
               "disease": list(self.disease) or None, "hct": self.hct or "first",
               "consent": self.consent, "source": self.source}
        if self.local_centre:
            out["local_centre"] = list(self.local_centre)
        return out


def check_period(cohort: Cohort) -> None:
    """With the pooled cohort, a period on year boundaries only (its dates are shifted per
    patient; the year is real): an :class:`InputError` otherwise, saying why."""
    if not cohort.pooled:
        return
    for key, day, want in (("hct_from", cohort.hct_from, (1, 1)),
                           ("hct_to", cohort.hct_to, (12, 31))):
        if day is not None and (day.month, day.day) != want:
            edge = f"{day.year}-01-01" if key == "hct_from" else f"{day.year}-12-31"
            raise _bad(f"{key}={day.isoformat()} cannot select pooled records: their dates are "
                       "shifted per patient by up to 364 days (de-identified export) and only "
                       f"the transplant's year is real; with source={cohort.source} give whole "
                       f"years (e.g. {key}={edge}), or use source=local", key, day.isoformat())


def _bad(message: str, key: str, value: str) -> InputError:
    return InputError(f"--cohort: {message}", field=f"cohort.{key}", value=value)


def parse_cohort(text: str | None) -> Cohort:
    """The cohort a filter names (the grammar is in the module docstring)."""
    if text is None or not text.strip():
        return Cohort()
    values: dict[str, Any] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise _bad("an empty condition (two commas, or a trailing comma)", "(empty)", text)
        key, eq, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not eq:
            raise _bad(f"{part!r} is not key=value (keys: {', '.join(COHORT_KEYS)})", key, part)
        if key not in COHORT_KEYS:
            raise _bad(f"unknown key {key!r} (keys: {', '.join(COHORT_KEYS)})", key, part)
        if key in values:
            raise _bad(f"{key} is given twice (list alternatives with '|')", key, part)
        if not value:
            raise _bad(f"{key} has no value", key, part)
        alternatives = tuple(v.strip() for v in value.split("|"))
        if any(not v for v in alternatives):
            raise _bad(f"{key}: an empty alternative", key, value)
        if key in ("hct_from", "hct_to"):
            try:
                values[key] = dt.date.fromisoformat(value)
            except ValueError:
                raise _bad(f"{key} must be a date YYYY-MM-DD", key, value) from None
        elif key == "donor_type":
            for v in alternatives:
                if v.lower() not in DONOR_TYPES:
                    raise _bad(f"unknown donor type {v!r} (donor types: "
                               f"{', '.join(DONOR_TYPES)})", key, v)
            values[key] = tuple(v.lower() for v in alternatives)
        elif key == "hct":
            if value.lower() not in ("first", "all"):
                raise _bad("hct is first or all", key, value)
            values[key] = value.lower()
        elif key == "consent":
            if value.lower() != "research":
                raise _bad("consent takes the value research", key, value)
            values[key] = "research"
        elif key == "source":
            chosen = {v.lower() for v in alternatives}
            if not chosen <= set(SOURCES):
                raise _bad(f"source is one of {', '.join(SOURCES)}", key, value)
            values[key] = ("all" if "all" in chosen or len(chosen) > 1 else chosen.pop())
        else:
            values[key] = alternatives
    if values.get("hct_from") and values.get("hct_to") and values["hct_from"] > values["hct_to"]:
        raise _bad("hct_from is after hct_to", "hct_from",
                   f"{values['hct_from']} > {values['hct_to']}")
    cohort = Cohort(text=text.strip(), **values)
    check_period(cohort)
    return cohort


@dataclass(frozen=True, slots=True)
class TransplantRow:
    centre: str
    year: int
    donor_type: str
    #: ``local`` (this registry's patient) or ``pooled`` (another centre's, imported).
    source: str = "local"


@dataclass(frozen=True, slots=True)
class EndpointData:
    """One row per transplant of the cohort that gives the endpoint (the contract of issue 14);
    ``extra`` holds the other de-identified columns (:data:`GROUP_COLUMNS`)."""

    endpoint: str
    time: FloatArray
    event: IntArray
    cause_labels: dict[int, str]
    patient: list[str]
    centre: list[str]
    hct_year: list[int]
    donor_type: list[str]
    excluded: list[tuple[str, str]]
    definition: str
    parameters: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, list[str]] = field(default_factory=dict)

    def columns(self) -> dict[str, list[str]]:
        """Every column as text (a CSV's view of the rows): time, event, patient and
        :data:`GROUP_COLUMNS` — what ``--group``, ``--strata`` and ``--covariate`` may name."""
        out = {"time": [f"{t:g}" for t in self.time.tolist()],
               "event": [str(e) for e in self.event.tolist()], "patient": list(self.patient),
               "centre": list(self.centre), "hct_year": [str(y) for y in self.hct_year],
               "donor_type": list(self.donor_type)}
        out.update(self.extra)
        return out

    def exclusion_summary(self) -> dict[str, Any]:
        reasons: dict[str, int] = {}
        for _, why in self.excluded:
            reasons[why] = reasons.get(why, 0) + 1
        return {"count": len(self.excluded),
                "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                "patients": [{"patient": p, "reason": r} for p, r in self.excluded]}


# -- reading ------------------------------------------------------------------------------------

@dataclass
class _Patient:
    id: str
    pseudonym: str
    centre: str
    diagnosis: str | None
    status: str | None
    risk: str | None
    hcts: list[Hct] = field(default_factory=list)
    persons: dict[str, Person] = field(default_factory=dict)
    events: list[FollowUpEvent] = field(default_factory=list)
    family: dict[str, str] = field(default_factory=dict)  # case person id -> hla_relation
    source: str = "local"
    #: Pooled patients: what the export kept instead of persons and the family analysis —
    #: donor type and real year per transplant id, the stored scores without their inputs per
    #: transplant id, the patient's sex and age.
    donor_types: dict[str, str] = field(default_factory=dict)
    years: dict[str, int] = field(default_factory=dict)
    withheld: dict[str, set[str]] = field(default_factory=dict)
    sex: str | None = None
    age: str | None = None


def _patients_query(cohort: Cohort) -> Any:
    where: list[Any] = [Patient.deleted.is_(False)]
    if cohort.centre:
        where.append(Centre.code.in_(cohort.centre))
    if cohort.local_centre:
        where.append(Centre.code.in_(cohort.local_centre))
    if cohort.disease:
        where.append(func.lower(Disease.diagnosis).in_([d.lower() for d in cohort.disease]))
    if cohort.consent == "research":
        where.append(Consent.research.is_(True))
    return (select(Patient.id, Patient.pseudonym, Centre.code, Disease.diagnosis,
                   Disease.disease_status, Disease.disease_risk)
            .join(Centre, Centre.id == Patient.centre_id)
            .outerjoin(Disease, (Disease.patient_id == Patient.id) & Disease.deleted.is_(False))
            .outerjoin(Consent, (Consent.patient_id == Patient.id) & Consent.deleted.is_(False))
            .where(*where))


def _load(s: Session, cohort: Cohort) -> list[_Patient]:
    """The cohort's patients and their rows: one query per table (the patient ids as a
    sub-query, never a list of bound ids)."""
    q = _patients_query(cohort)
    patients = {row[0]: _Patient(row[0], row[1][:PSEUDONYM_CHARS], row[2], row[3], row[4],
                                 row[5]) for row in s.execute(q.order_by(Patient.pseudonym))}
    if not patients:
        return []
    ids = q.with_only_columns(Patient.id).scalar_subquery()
    for hct in s.execute(select(Hct).where(Hct.patient_id.in_(ids), Hct.deleted.is_(False))
                         .order_by(Hct.patient_id, Hct.day0, Hct.hct_number)).scalars():
        patients[hct.patient_id].hcts.append(hct)
    for person in s.execute(select(Person).where(Person.patient_id.in_(ids),
                                                 Person.deleted.is_(False))).scalars():
        patients[person.patient_id].persons[person.id] = person
    for event in s.execute(select(FollowUpEvent).where(
            FollowUpEvent.patient_id.in_(ids), FollowUpEvent.deleted.is_(False))
            .order_by(FollowUpEvent.patient_id, FollowUpEvent.event_date,
                      FollowUpEvent.position)).scalars():
        patients[event.patient_id].events.append(event)
    for pid, answer in s.execute(select(Snapshot.patient_id, Snapshot.answer).where(
            Snapshot.patient_id.in_(ids), Snapshot.kind == "family")
            .order_by(Snapshot.patient_id, Snapshot.created_at)):
        # the latest family analysis of the case wins (snapshots are append-only)
        try:
            relatives = json.loads(answer).get("relatives") or []
        except (ValueError, AttributeError):
            continue
        patients[pid].family = {str(r.get("id")): str(r.get("hla_relation"))
                                for r in relatives if isinstance(r, Mapping)}
    return list(patients.values())


def _load_pooled(s: Session, cohort: Cohort) -> list[_Patient]:
    """The pooled cohort's patients (:func:`.pooled.pooled_rows`, one query per table) as
    :class:`_Patient` with their shifted dates, so that :func:`_course` reads them as it reads
    a local patient: the same intervals from day 0, the same rules. The transplants and events
    are transient rows, never added to the session."""
    from everydonor.adapters.registry.pooled import pooled_rows

    diseases = {d.lower() for d in cohort.disease}
    out: list[_Patient] = []
    for rows in pooled_rows(s, centres=list(cohort.centre) or None):
        pp = rows.patient
        if diseases and (pp.diagnosis or "").lower() not in diseases:
            continue
        p = _Patient(id=f"{pp.import_id}:{pp.patient}",
                     pseudonym=f"{pp.centre}/{pp.patient[:PSEUDONYM_CHARS]}", centre=pp.centre,
                     diagnosis=pp.diagnosis, status=pp.disease_status, risk=pp.disease_risk,
                     source="pooled", sex=pp.sex, age=pp.age)
        ids: dict[int, str] = {}
        for t in sorted(rows.transplants, key=lambda t: (t.day0_shifted, t.hct_number)):
            hid = f"{p.id}#{t.hct_number}"
            ids[t.hct_number] = hid
            p.hcts.append(Hct(id=hid, patient_id=p.id, hct_number=t.hct_number,
                              day0=t.day0_shifted, hct_type=t.hct_type))
            p.donor_types[hid], p.years[hid] = t.donor_type, t.hct_year
        for i, e in enumerate(sorted(rows.events, key=lambda e: (
                e.event_date_shifted or dt.date.min, e.id))):
            eid = ids.get(e.hct_number) if e.hct_number is not None else None
            payload = dict(e.payload or {})
            if e.event_type == "score" and "inputs" not in payload:
                # the result without its inputs: the scores cannot grade it again (kept as a
                # dated record, which it is: it counts for the follow-up)
                if eid is not None and payload.get("score"):
                    p.withheld.setdefault(eid, set()).add(str(payload["score"]))
                payload = {}
            p.events.append(FollowUpEvent(id=f"{p.id}:{e.id}", patient_id=p.id, hct_id=eid,
                                          event_type=e.event_type,
                                          event_date=e.event_date_shifted, position=i,
                                          source="pooled", payload=payload))
        out.append(p)
    return out


def _patients(s: Session, cohort: Cohort) -> list[_Patient]:
    """The cohort's patients from the sources it names (local first, then pooled)."""
    return [*(_load(s, cohort) if cohort.local else []),
            *(_load_pooled(s, cohort) if cohort.pooled else [])]


def _donor_type(p: _Patient, hct: Hct) -> str:
    if p.source == "pooled":
        return p.donor_types[hct.id]
    donor = p.persons.get(hct.donor_person_id or "")
    return classify_donor_type(
        hct_type=hct.hct_type, graft=hct.graft, donor_role=donor.role if donor else None,
        relationship=donor.relationship if donor else None,
        hla_relation=p.family.get(donor.case_person_id) if donor else None)


def _selected(p: _Patient, cohort: Cohort, default: str) -> list[Hct]:
    """The patient's allogeneic transplants the cohort takes (before the HCT filters)."""
    allo = [h for h in p.hcts if h.hct_type == "allo"]
    return allo[:1] if (cohort.hct or default) == "first" else allo


def _year(p: _Patient, hct: Hct) -> int:
    """The real year of day 0 (a pooled transplant's day 0 is shifted; its year is kept)."""
    return p.years[hct.id] if p.source == "pooled" else hct.day0.year


def _in_cohort(p: _Patient, hct: Hct, cohort: Cohort, donor_type: str) -> bool:
    if p.source == "pooled":  # whole years only (check_period)
        year = _year(p, hct)
        if (cohort.hct_from is not None and year < cohort.hct_from.year) or (
                cohort.hct_to is not None and year > cohort.hct_to.year):
            return False
        return not cohort.donor_type or donor_type in cohort.donor_type
    if cohort.hct_from is not None and hct.day0 < cohort.hct_from:
        return False
    if cohort.hct_to is not None and hct.day0 > cohort.hct_to:
        return False
    return not cohort.donor_type or donor_type in cohort.donor_type


def _day(date: dt.date, day0: dt.date) -> int:
    return (date - day0).days


def _course(p: _Patient, hct: Hct) -> Course:
    """The transplant's follow-up as :class:`Course` (whole days from its day 0); an
    :class:`InputError` names a contradiction."""
    day0 = hct.day0
    later = [h for h in p.hcts if h.day0 > day0 or (h.day0 == day0 and
                                                     h.hct_number > hct.hct_number)]
    next_hct = _day(min(h.day0 for h in later), day0) if later else None
    by_id = {h.id: h for h in p.hcts}

    def ours(e: FollowUpEvent) -> bool:
        """Recorded for this transplant: its own hct id, else dated in its period."""
        if e.hct_id is not None and e.hct_id in by_id:
            return e.hct_id == hct.id
        assert e.event_date is not None
        return next_hct is None or _day(e.event_date, day0) < next_hct

    dated = [e for e in p.events if e.event_date is not None and e.event_date >= day0]
    deaths = sorted({e.event_date for e in p.events if e.event_type == "death"
                     and e.event_date is not None})
    if len(deaths) > 1:
        raise InputError(f"{len(deaths)} different death dates recorded", field="death",
                         value=", ".join(d.isoformat() for d in deaths))
    death = _day(deaths[0], day0) if deaths else None
    if death is not None and death < 0:
        raise InputError(f"death on {deaths[0]}, before day 0 ({day0})", field="death",
                         value=deaths[0].isoformat())
    contacts = [e for e in dated if e.event_type == "last_contact"]
    if death is None and any((e.payload or {}).get("vital_status") == "dead" for e in contacts):
        raise InputError("the last contact says dead, but no death (date) is recorded",
                         field="last_contact.vital_status", value="dead")
    if death is not None:
        for e in dated:
            assert e.event_date is not None
            alive = e.event_type == "last_contact" and (e.payload or {}).get(
                "vital_status") == "alive"
            after = _day(e.event_date, day0)
            if (e.event_type not in ("death", "last_contact") or alive) and after > death:
                raise InputError(f"a {e.event_type} record on day {after}, after death on day "
                                 f"{death}", field=e.event_type, value=e.event_date.isoformat())
    days = [_day(e.event_date, day0) for e in dated if e.event_date is not None]
    last = max([*days, *([death] if death is not None else []),
                *([next_hct] if next_hct is not None else [])], default=0)
    if last <= 0:
        raise InputError("no follow-up recorded after day 0 (no last contact, event or death)",
                         field="last_contact", value=day0.isoformat())
    relapses = tuple(sorted((_day(e.event_date, day0), str((e.payload or {}).get(
        "relapse_type"))) for e in dated if e.event_type == "relapse" and e.event_date))
    agvhd: list[Assessment] = []
    cgvhd: list[Assessment] = []
    neutrophil: list[Assessment] = []
    platelet: list[Assessment] = []
    anc_recorded: set[int] = set()
    plt_recorded: set[int] = set()
    graft_failure = False
    for e in dated:
        if not ours(e):
            continue
        assert e.event_date is not None
        d = _day(e.event_date, day0)
        payload = e.payload or {}
        if e.event_type == "agvhd":
            stages = {k: payload[k] for k in ("skin_stage", "liver_stage", "upper_gi_stage",
                                              "lower_gi_stage") if k in payload}
            agvhd.append(Assessment(d, "magic_agvhd_grade", stages))
        elif e.event_type == "cgvhd":
            cgvhd.append(Assessment(d, CGVHD_SCORE, {"organ_scores": payload["organ_scores"]}))
        elif e.event_type == "engraftment":
            for key, into in (("anc_500_date", anc_recorded), ("platelet_20_date", plt_recorded)):
                if payload.get(key):
                    into.add(_day(dt.date.fromisoformat(str(payload[key])), day0))
            graft_failure = graft_failure or payload.get("graft_failure") == "primary"
        elif e.event_type == "score":
            name, inputs = payload.get("score"), payload.get("inputs") or {}
            if name in AGVHD_GRADE_SCORES or name in AGVHD_INDEX_SCORES:
                agvhd.append(Assessment(d, str(name), inputs))
            elif name == CGVHD_SCORE:
                cgvhd.append(Assessment(d, CGVHD_SCORE, inputs))
            elif name == "neutrophil_engraftment_day":
                neutrophil.append(Assessment(d, str(name), inputs))
            elif name == "platelet_engraftment_day":
                platelet.append(Assessment(d, str(name), inputs))
    for label, recorded in (("anc_500_date", anc_recorded), ("platelet_20_date", plt_recorded)):
        if len(recorded) > 1:
            raise InputError(f"{len(recorded)} different {label} recorded", field=label,
                             value=", ".join(f"day {d}" for d in sorted(recorded)))
        if recorded and min(recorded) < 0:
            raise InputError(f"{label} before day 0", field=label, value=str(min(recorded)))
    return Course(last_contact=last, death=death, relapses=relapses, next_hct=next_hct,
                  agvhd=tuple(agvhd), cgvhd=tuple(cgvhd), neutrophil_counts=tuple(neutrophil),
                  platelet_counts=tuple(platelet),
                  anc_recorded=min(anc_recorded) if anc_recorded else None,
                  platelet_recorded=min(plt_recorded) if plt_recorded else None,
                  primary_graft_failure=graft_failure)


def _audited(registry: Registry, actor: str | None, reason: str) -> Any:
    return registry.transaction(actor or os_user(), reason)


def endpoint_data(registry: Registry, endpoint: str, cohort: Cohort, *,
                  parameters: Mapping[str, Any] | None = None, actor: str | None = None,
                  reason: str | None = None) -> EndpointData:
    """``(time, event)`` of every transplant of the cohort for ``endpoint``, with who was left out
    and why; the read is audited (``outcomes.read``; actor: ``actor`` or the OS login)."""
    spec = get_endpoint(endpoint)
    used = parameters_of(endpoint, parameters)  # refuses bad parameters before reading
    check_period(cohort)
    pooled = 0
    times: list[float] = []
    codes: list[int] = []
    ids: list[str] = []
    centres: list[str] = []
    years: list[int] = []
    donors: list[str] = []
    extra: dict[str, list[str]] = {k: [] for k in GROUP_COLUMNS
                                   if k not in ("donor_type", "centre", "hct_year")}
    excluded: list[tuple[str, str]] = []
    needs = _SCORE_NEEDS.get(endpoint, ())
    why = reason or f"outcomes analysis: {endpoint}, cohort {cohort.text or '(all)'}"
    with _audited(registry, actor, why) as (s, ctx):
        for p in _patients(s, cohort):
            hcts = _selected(p, cohort, "first")
            if not hcts:
                excluded.append((p.pseudonym, "no allogeneic HCT recorded"))
                continue
            patient_row = next((x for x in p.persons.values() if x.role == "patient"), None)
            for hct in hcts:
                donor_type = _donor_type(p, hct)
                if not _in_cohort(p, hct, cohort, donor_type):
                    continue
                name = p.pseudonym if cohort.hct != "all" else \
                    f"{p.pseudonym}#{hct.hct_number}"
                missing = sorted(set(needs) & p.withheld.get(hct.id, set()))
                if missing:
                    excluded.append((name, f"the pooled record keeps the result of the stored "
                                           f"{', '.join(missing)} score, not its inputs (a "
                                           "de-identified export drops them): the scores "
                                           f"definitions cannot grade it for {endpoint}"))
                    continue
                try:
                    out = derive(endpoint, _course(p, hct), parameters)
                except InputError as exc:
                    excluded.append((name, exc.message))
                    continue
                times.append(out.time)
                codes.append(out.event)
                ids.append(name)
                centres.append(p.centre)
                years.append(_year(p, hct))
                donors.append(donor_type)
                pooled += p.source == "pooled"
                if p.source == "pooled":
                    sex, age = p.sex, (None if p.age is None else
                                       90.0 if p.age == "90+" else float(p.age))
                else:
                    sex = patient_row.sex if patient_row else None
                    age = patient_row.age if patient_row else None
                values = {"disease": p.diagnosis, "disease_risk": p.risk,
                          "disease_status": p.status, "sex": sex, "age_band": age_band(age),
                          "graft": hct.graft, "source": p.source}
                for k, v in values.items():
                    extra[k].append("unknown" if v is None or str(v).strip() == "" else str(v))
        audit.append(s, now=ctx.now, actor=ctx.actor, action="outcomes.read",
                     object_type="cohort", object_id=cohort.text or "(all)", reason=ctx.reason,
                     payload={"endpoint": endpoint, "parameters": used,
                              "transplants": len(times), "excluded": len(excluded),
                              "source": cohort.source, "pooled_transplants": pooled},
                     request_id=ctx.request_id)
    return EndpointData(
        endpoint=endpoint, time=np.asarray(times, dtype=np.float64),
        event=np.asarray(codes, dtype=np.int64), cause_labels=dict(spec.cause_labels),
        patient=ids, centre=centres, hct_year=years, donor_type=donors, excluded=excluded,
        definition=f"{spec.title}: {spec.description}. Source: {spec.citation} "
                   f"[confidence {spec.confidence}]",
        parameters=used, extra=extra)


def transplants(registry: Registry, cohort: Cohort, *, actor: str | None = None,
                reason: str | None = None) -> list[TransplantRow]:
    """Every allogeneic transplant of the cohort (all of a patient's, unless ``hct=first``):
    centre, year of day 0 and donor type — the activity picture. Audited
    (``outcomes.activity``)."""
    check_period(cohort)
    rows: list[TransplantRow] = []
    why = reason or f"transplant activity, cohort {cohort.text or '(all)'}"
    with _audited(registry, actor, why) as (s, ctx):
        for p in _patients(s, cohort):
            for hct in _selected(p, cohort, "all"):
                donor_type = _donor_type(p, hct)
                if _in_cohort(p, hct, cohort, donor_type):
                    rows.append(TransplantRow(p.centre, _year(p, hct), donor_type, p.source))
        audit.append(s, now=ctx.now, actor=ctx.actor, action="outcomes.activity",
                     object_type="cohort", object_id=cohort.text or "(all)", reason=ctx.reason,
                     payload={"transplants": len(rows), "source": cohort.source,
                              "pooled_transplants": sum(r.source == "pooled" for r in rows)},
                     request_id=ctx.request_id)
    rows.sort(key=lambda r: (r.centre, r.year, r.donor_type))
    return rows


def activity_table(rows: Iterable[TransplantRow]) -> list[dict[str, Any]]:
    """Counts per centre and year by donor type (every type of
    :data:`~everydonor.outcomes.endpoints.DONOR_TYPES`, zeros included)."""
    counts: dict[tuple[str, int], dict[str, int]] = {}
    for r in rows:
        counts.setdefault((r.centre, r.year), dict.fromkeys(DONOR_TYPES, 0))[r.donor_type] += 1
    return [{"centre": c, "year": y, "counts": v, "total": sum(v.values())}
            for (c, y), v in sorted(counts.items())]
