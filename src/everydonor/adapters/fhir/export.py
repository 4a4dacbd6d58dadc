"""A registry patient → a FHIR R4 transplant summary Bundle for registry submission.

What the bundle holds (a ``transaction`` Bundle: every entry POSTed, references by
``urn:uuid``; the same registry data gives the same uuids, so a re-export is comparable):

* the recipient as a ``Patient`` with one identifier, the limited-profile export id
  (:func:`~everydonor.adapters.registry.exports.export_id`, HMAC of the registry key): no name,
  no birth date, no national id, no UPN; gender; ``deceasedDateTime`` from a death event;
* each donor (every relative and unrelated candidate of the case except a partner, when typed
  or the donor of a recorded transplant) as a ``Patient`` with a keyed donor id — the
  nmdp-hla-genotype profile's subject is a Patient — and, for a relative, a ``RelatedPerson``
  of the recipient (HL7 v3 RoleCode where the relationship has one, always the local code)
  linked from the donor's Patient (``link.type = seealso``);
* each typing as a genotype ``Observation`` shaped after NMDP's ``nmdp-hla-genotype``: category
  laboratory, LOINC 84413-4, the GL String Code (``http://glstring.org``) as the value exactly as
  stored, ``component[geneStudied]`` LOINC 48018-6 with the HGNC gene id; the typing as the case
  wrote it in a local extension (so an import rebuilds the case exactly). A case's ``hla_gl``
  string is split at ``^`` into one Observation per locus block;
* per person and release a ``DiagnosticReport`` (LOINC 81247-9 + HGNC gene group 588, as the
  NMDP HLA reporting IG's summary report) over that person's genotypes, naming the allele
  database (``hla-genotyping-results-allele-database``: IPD-IMGT/HLA and the release);
* a match summary ``Observation`` per typed donor (local code; GvH/HvG mismatches per locus and
  x/8, x/10, x/12 by :func:`everydonor.matching.compatibility.compare_hla` under the loaded
  release, and the donor type of :func:`~everydonor.outcomes.endpoints.classify_donor_type`);
* each transplant as a ``Procedure`` (day 0, allo/auto, graft source, donor);
* conditioning and GVHD prophylaxis drugs from the latest stored treatment plan as
  ``MedicationStatement`` (status ``intended``: it is the plan, not an administration record);
* follow-up events as ``Observation`` with local codes and only the coded fields the limited
  export keeps (:func:`~everydonor.adapters.registry.exports.coded_payload`): free text never
  leaves (treatment, detail, method, specimen, notes), nor the case file's status block.

Consent (SR-14) as the limited export applies it: research consent is required, and for
``--destination international`` international-transfer consent too; a patient without it is
refused (exit 2), naming what is missing. The bundle is validated against the FHIR models and
the project's own code checks before anything is written; it is written to a new file (never
over an earlier one) inside the transaction that appends the ``fhir.export`` audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from everydonor import __version__
from everydonor.adapters.fhir import codes as c
from everydonor.adapters.fhir.checks import check_bundle
from everydonor.adapters.registry import audit
from everydonor.adapters.registry.casemap import PersonRows, case_document
from everydonor.adapters.registry.codec import decode
from everydonor.adapters.registry.config import PseudonymKey
from everydonor.adapters.registry.exports import (
    CODE_TEXT,
    CODED_FIELDS,
    DATE_TEXT,
    DROPPED_EVENTS,
    coded_payload,
    consent_exclusion,
    export_id,
    key_id,
    new_output_path,
)
from everydonor.adapters.registry.models import Consent, Hct, Snapshot
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.glsc import parse_glsc
from everydonor.hla.locus import parse_locus
from everydonor.hla.reduction import Reducer
from everydonor.scores.base import enum_key
from everydonor.scores.events import GRAFT_SOURCE_SYNONYMS

FORMAT_NOTE = ("everydonor transplant summary (FHIR R4 JSON). Decision support only: check every "
               "value against its source before clinical use.")
DESTINATIONS = ("local", "international")
#: Phases of a treatment plan exported as MedicationStatement.
PHASES = {"conditioning": "Conditioning", "gvhd_prophylaxis": "GVHD prophylaxis"}
#: Graft parts as a clinician types them → local graft-source code. G-CSF-primed marrow (the
#: Beijing protocol's G-BM) is its own code: it is not unstimulated marrow.
GRAFT_CODES = {enum_key(k): v for k, v in GRAFT_SOURCE_SYNONYMS.items()} | {
    enum_key(v): v for v in GRAFT_SOURCE_SYNONYMS.values()} | {
    enum_key("G-BM"): "bone_marrow_g_csf_primed", enum_key("G-PBSC"): "peripheral_blood",
    enum_key("G-PB"): "peripheral_blood"}
GRAFT_DISPLAY = {"peripheral_blood": "Peripheral blood stem cells",
                 "bone_marrow": "Bone marrow", "cord_blood": "Umbilical cord blood",
                 "bone_marrow_g_csf_primed": "G-CSF-primed bone marrow"}
_GRAFT_SPLIT = re.compile(r"\s*(?:\+|,|&|/|\band\b)\s*")
_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, c.LOCAL)


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    sha256: str
    resources: dict[str, int]
    persons: int
    typings: int
    audit_seq: int
    destination: str
    warnings: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "destination": self.destination,
                "resources": self.resources, "persons": self.persons,
                "typings": self.typings, "audit_seq": self.audit_seq,
                "warnings": list(self.warnings), "notice": FORMAT_NOTE}


# -- small builders ------------------------------------------------------------------------------

def coding(system: str, code: str, display: str | None = None, *,
           version: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system}
    if version is not None:
        out["version"] = version
    out["code"] = code
    if display is not None:
        out["display"] = display
    return out


def concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = list(codings)
    if text is not None:
        out["text"] = text
    return out


LABORATORY = concept(coding(c.OBSERVATION_CATEGORY, "laboratory", "Laboratory"))


class _Ids:
    """Deterministic ``urn:uuid`` full URLs: uuid5 of the patient's export id and a key."""

    def __init__(self, seed: str) -> None:
        self.seed = seed

    def __call__(self, *parts: object) -> str:
        name = "\x1f".join([self.seed, *(str(p) for p in parts)])
        return f"urn:uuid:{uuid.uuid5(_UUID_NS, name)}"


def gene_of(block: str) -> list[str]:
    """The loci a GL string block names (its ``~`` members), in order of first appearance:
    from each allele name's locus (``HLA-A*…``), or a serological antigen's (``A2``)."""
    from everydonor.hla.serology import parse_antigen

    loci: list[str] = []
    for member in re.split(r"[+|~/]", block):
        token = member.strip()
        name = token.removeprefix("HLA-")
        locus = parse_locus(name.split("*", 1)[0]) if "*" in name else None
        if locus is None:
            try:
                locus = parse_antigen(name).locus
            except EverydonorError:
                locus = None
        if locus is not None and locus.value not in loci:
            loci.append(locus.value)
    return loci


def graft_concepts(graft: str | None) -> list[dict[str, Any]]:
    """The graft text's parts as local graft-source codes; a part not recognised keeps its text
    only when it is short code-like text (the exports' rule for coded text), else it is left
    out (free text never leaves)."""
    if not graft:
        return []
    out: list[dict[str, Any]] = []
    for part in _GRAFT_SPLIT.split(graft.strip()):
        if not part:
            continue
        code = GRAFT_CODES.get(enum_key(part))
        if code is not None:
            out.append(concept(coding(c.GRAFT_SOURCE_SYSTEM, code, GRAFT_DISPLAY[code]),
                               text=part if CODE_TEXT.match(part) else None))
        elif CODE_TEXT.match(part) and not DATE_TEXT.search(part):
            out.append(concept(text=part))
    return out


# -- the bundle ----------------------------------------------------------------------------------

@dataclass(slots=True)
class _Built:
    bundle: dict[str, Any]
    persons: int
    typings: int
    warnings: list[str]


def _donor_persons(persons: Sequence[PersonRows], donor_ids: set[str]) -> list[PersonRows]:
    out = []
    for p in sorted(persons, key=lambda p: p.values["position"]):
        v = p.values
        if v["role"] == "patient" or v["relationship"] == "partner":
            continue
        if p.typings or v["id"] in donor_ids:
            out.append(p)
    return out


def build_bundle(s: Session, key: PseudonymKey, patient: Any, rows: tuple[Any, ...], *,
                 now: dt.datetime, reducer: Reducer | None) -> _Built:
    """The bundle of one patient (see the module docstring); nothing is written."""
    _, _, persons, events = rows
    pid = export_id(key, "limited", patient.pseudonym)
    ids = _Ids(pid)
    warnings: list[str] = []
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any], full_url: str) -> None:
        entries.append({"fullUrl": full_url, "resource": resource,
                        "request": {"method": "POST", "url": resource["resourceType"]}})

    hcts = list(s.execute(select(Hct).where(Hct.patient_id == patient.id,
                                            Hct.deleted.is_(False))
                          .order_by(Hct.hct_number)).scalars())
    me = next(p for p in persons if p.values["role"] == "patient")
    donors = _donor_persons(persons, {h.donor_person_id for h in hcts if h.donor_person_id})
    death = next((e for e in events if e["event_type"] == "death" and e["event_date"]), None)

    recipient_url = ids("patient")
    recipient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": c.PATIENT_ID_SYSTEM, "value": pid}]}
    if me.values["sex"] in c.GENDER:
        recipient["gender"] = c.GENDER[me.values["sex"]]
    if death is not None:
        recipient["deceasedDateTime"] = death["event_date"].isoformat()
    add(recipient, recipient_url)

    person_url: dict[str, str] = {me.values["id"]: recipient_url}
    for d in donors:
        v = d.values
        url = ids("donor", v["case_person_id"])
        person_url[v["id"]] = url
        donor_id = key.pseudonym("export", "fhir-donor", patient.pseudonym,
                                 v["case_person_id"])[:32]
        res: dict[str, Any] = {"resourceType": "Patient",
                               "identifier": [{"system": c.DONOR_ID_SYSTEM, "value": donor_id}]}
        if v["sex"] in c.GENDER:
            res["gender"] = c.GENDER[v["sex"]]
        if v["role"] == "relative":
            rel_url = ids("related", v["case_person_id"])
            res["link"] = [{"other": {"reference": rel_url}, "type": "seealso"}]
            add(res, url)
            codings = []
            if v["relationship"] in c.ROLE_CODES:
                code, display = c.ROLE_CODES[v["relationship"]]
                codings.append(coding(c.ROLE_CODE_SYSTEM, code, display))
            if v["relationship"]:
                codings.append(coding(c.RELATIONSHIP_SYSTEM, v["relationship"]))
            related: dict[str, Any] = {"resourceType": "RelatedPerson",
                                       "patient": {"reference": recipient_url},
                                       "identifier": [{"system": c.DONOR_ID_SYSTEM,
                                                       "value": donor_id}]}
            if codings:
                related["relationship"] = [concept(*codings)]
            if v["sex"] in c.GENDER:
                related["gender"] = c.GENDER[v["sex"]]
            add(related, rel_url)
        else:
            add(res, url)

    typings = 0
    for person in [me, *donors]:
        subject = {"reference": person_url[person.values["id"]]}
        by_release: dict[str, list[str]] = {}
        for t in sorted(person.typings, key=lambda t: t["position"]):
            for obs in _genotype_observations(person, t, subject):
                url = ids("genotype", person.values["case_person_id"], t["position"],
                          obs.pop("_part"))
                add(obs, url)
                by_release.setdefault(t["release"], []).append(url)
            typings += 1
        for release, urls in by_release.items():
            add(_allele_database_report(subject, release, urls),
                ids("report", person.values["case_person_id"], release))

    donor_types = _donor_types(s, patient, persons, hcts)
    match = _match_summaries(rows, donors, reducer=reducer, warnings=warnings)
    for d in donors:
        summary = match.get(d.values["id"])
        dtype = donor_types.get(d.values["id"])
        if summary is None and dtype is None:
            continue
        obs = {"resourceType": "Observation", "status": "final", "category": [LABORATORY],
               "code": concept(coding(c.MATCH_SYSTEM, *c.MATCH_SUMMARY)),
               "subject": {"reference": recipient_url},
               "focus": [{"reference": person_url[d.values["id"]]}],
               "component": []}
        if dtype is not None:
            obs["component"].append({
                "code": concept(coding(c.MATCH_SYSTEM, "donor-type", "Donor type")),
                "valueCodeableConcept": concept(coding(c.DONOR_TYPE_SYSTEM, dtype))})
        if summary is not None:
            obs["method"] = concept(text=summary["method"])
            obs["component"].extend(summary["components"])
        add(obs, ids("match", d.values["case_person_id"]))

    hct_url: dict[str, str] = {}
    for h in hcts:
        url = ids("hct", h.hct_number)
        hct_url[h.id] = url
        proc: dict[str, Any] = {
            "resourceType": "Procedure",
            "identifier": [{"system": c.HCT_NUMBER_SYSTEM, "value": str(h.hct_number)}],
            "status": "completed" if h.day0 <= now.date() else "preparation",
            "code": concept(coding(c.HCT_TYPE_SYSTEM, h.hct_type,
                                   "Allogeneic haematopoietic cell transplantation"
                                   if h.hct_type == "allo" else
                                   "Autologous haematopoietic cell transplantation")),
            "subject": {"reference": recipient_url},
            "performedDateTime": h.day0.isoformat()}
        used = graft_concepts(h.graft)
        if used:
            proc["usedCode"] = used
        if h.donor_person_id and h.donor_person_id in person_url:
            proc["extension"] = [{"url": c.HCT_DONOR_EXTENSION,
                                  "valueReference": {"reference": person_url[h.donor_person_id]}}]
        add(proc, url)

    for stmt in _medications(s, patient, hcts, hct_url, recipient_url):
        add(stmt, ids("medication", stmt.pop("_key")))

    by_hct = {h.id: h for h in hcts}
    for e in sorted(events, key=lambda e: (e["event_date"] or dt.date.min, e["source"],
                                           e["position"])):
        if e["event_type"] in DROPPED_EVENTS:
            continue
        obs = _outcome(e, recipient_url)
        hct = by_hct.get(e["hct_id"] or "")
        if hct is None and e["event_date"] is not None:
            before = [h for h in hcts if h.day0 <= e["event_date"]]
            hct = before[-1] if before else None
        if hct is not None:
            obs["partOf"] = [{"reference": hct_url[hct.id]}]
        add(obs, ids("event", e["source"], e["position"], e["event_type"]))

    bundle = {"resourceType": "Bundle", "type": "transaction",
              "timestamp": now.isoformat(timespec="seconds"),
              "meta": {"tag": [coding(c.KEY_ID_SYSTEM, key_id(key),
                                      "registry key check value (ids comparable only between "
                                      "exports made with the same key)")]},
              "entry": entries}
    return _Built(bundle, 1 + len(donors), typings, warnings)


def _genotype_observations(person: PersonRows, t: Mapping[str, Any],
                           subject: dict[str, Any]) -> list[dict[str, Any]]:
    """One Observation per locus typing; an ``hla_gl`` typing split at ``^``."""
    code = parse_glsc(t["glsc"])
    field = person.values["hla_field"] or "hla"
    blocks = code.gl.split("^") if t["locus"] is None else [code.gl]
    out = []
    for i, block in enumerate(blocks):
        loci = [t["locus"]] if t["locus"] is not None else gene_of(block)
        if not loci:
            raise InputError(f"cannot tell the locus of GL string block {block!r} of person "
                             f"{person.values['case_person_id']!r} (stored typing {t['glsc']!r})",
                             field="typing.glsc", value=t["glsc"])
        glsc = f"{code.namespace}#{code.version}#{block}"
        parts: list[dict[str, Any]] = [{"url": "field", "valueCode": field},
                                       {"url": "part", "valueInteger": i},
                                       {"url": "parts", "valueInteger": len(blocks)}]
        if i == 0:
            raw = decode(t["raw"])
            parts.append({"url": "raw", "valueString": json.dumps(raw, ensure_ascii=False)})
            if t["locus_key"] is not None:
                parts.append({"url": "locus-key", "valueString": t["locus_key"]})
        out.append({
            "_part": i,
            "resourceType": "Observation",
            "extension": [{"url": c.CASE_TYPING_EXTENSION, "extension": parts}],
            "status": "final", "category": [LABORATORY],
            "code": concept(coding(c.LOINC, c.GENOTYPE_CODE, c.GENOTYPE_DISPLAY)),
            "subject": subject,
            "valueCodeableConcept": concept(coding(c.GLSC_SYSTEM, glsc)),
            "component": [{"code": concept(coding(c.LOINC, c.GENE_STUDIED_CODE,
                                                  c.GENE_STUDIED_DISPLAY)),
                           "valueCodeableConcept": concept(coding(c.HGNC_SYSTEM, c.HGNC[locus],
                                                                  f"HLA-{locus}"))}
                          for locus in loci]})
    return out


def _allele_database_report(subject: dict[str, Any], release: str,
                            results: list[str]) -> dict[str, Any]:
    is_release = re.match(r"^\d+\.\d+\.\d+$", release) is not None
    database = (concept(coding(c.IMGT_HLA_SYSTEM, "IPD-IMGT/HLA", version=release),
                        text=f"IPD-IMGT/HLA {release}") if is_release else
                concept(text=f"IPD-IMGT/HLA release unknown (GL String Code constructed "
                             f"{release})"))
    return {"resourceType": "DiagnosticReport",
            "extension": [{"url": c.ALLELE_DATABASE_EXTENSION,
                           "valueCodeableConcept": database}],
            "status": "final",
            "code": concept(coding(c.LOINC, c.REPORT_CODE, c.REPORT_DISPLAY),
                            coding(c.HGNC_GENEGROUP_SYSTEM, *c.HLA_GENE_GROUP)),
            "subject": subject,
            "result": [{"reference": u} for u in results]}


def _donor_types(s: Session, patient: Any, persons: Sequence[PersonRows],
                 hcts: Sequence[Hct]) -> dict[str, str]:
    """Each donor's type as the exports and endpoints classify it (the stored family analysis
    for relatives; a transplant's graft and type when the donor has one)."""
    from everydonor.adapters.registry.exports import _family
    from everydonor.outcomes.endpoints import classify_donor_type

    relations = _family(s, [patient.id]).get(patient.id, {})
    by_donor = {h.donor_person_id: h for h in hcts if h.donor_person_id}
    out = {}
    for p in persons:
        v = p.values
        if v["role"] == "patient":
            continue
        h = by_donor.get(v["id"])
        out[v["id"]] = classify_donor_type(
            hct_type=h.hct_type if h else "allo", graft=h.graft if h else None,
            donor_role=v["role"], relationship=v["relationship"],
            hla_relation=relations.get(v["case_person_id"]))
    return out


def _match_summaries(rows: tuple[Any, ...], donors: Sequence[PersonRows], *,
                     reducer: Reducer | None, warnings: list[str]) -> dict[str, dict[str, Any]]:
    """compare_hla of the recipient with each typed donor (the loaded release)."""
    p_plain, disease, persons, events = rows
    if reducer is None or not donors:
        return {}
    from everydonor.case import parse_case
    from everydonor.matching.compatibility import compare_hla

    try:
        case = parse_case(case_document(p_plain, disease, persons, events),
                          today=p_plain["as_of"])
    except EverydonorError as exc:
        warnings.append(f"no match summary: the stored case does not read back ({exc})")
        return {}
    people = {p.id: p for p in case.people()}
    recipient = case.patient.hla
    if recipient is None or not recipient.loci:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for d in donors:
        donor = people.get(d.values["case_person_id"])
        if donor is None or donor.hla is None or not donor.hla.loci:
            continue
        try:
            cmp = compare_hla(recipient, donor.hla, reducer)
        except EverydonorError as exc:
            warnings.append(f"no match summary for a donor: {exc}")
            continue
        components: list[dict[str, Any]] = []
        for name, n in cmp.match.items():
            total = name.removeprefix("of_")
            components.append({"code": concept(coding(c.MATCH_SYSTEM, f"matched-{name}",
                                                      f"Alleles matched of {total}")),
                               "valueInteger": n})
        for locus, lc in cmp.loci.items():
            for direction in ("gvh", "hvg"):
                components.append({
                    "code": concept(coding(c.MATCH_SYSTEM, f"{locus.value}-{direction}",
                                           f"HLA-{locus.value} {direction.upper()} "
                                           "mismatches")),
                    "valueInteger": getattr(lc, direction)})
        out[d.values["id"]] = {
            "components": components,
            "method": (f"everydonor {__version__} compare_hla under IPD-IMGT/HLA "
                       f"{reducer.release}; untyped loci: "
                       f"{', '.join(x.value for x in cmp.untyped_loci) or 'none'}")}
    return out


def _medications(s: Session, patient: Any, hcts: Sequence[Hct], hct_url: Mapping[str, str],
                 recipient_url: str) -> list[dict[str, Any]]:
    """Conditioning and GVHD prophylaxis of the latest stored treatment plan, one statement per
    phase and drug (first and last planned date)."""
    row = s.execute(select(Snapshot).where(Snapshot.patient_id == patient.id,
                                           Snapshot.kind == "plan")
                    .order_by(Snapshot.created_at.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        return []
    try:
        plan = json.loads(row.answer)
    except ValueError:
        return []
    regimen = plan.get("regimen") or {}
    label = f"{regimen.get('id')}@{regimen.get('version')}"
    day0 = plan.get("day0")
    hct = next((h for h in hcts if h.day0.isoformat() == day0), None)
    spans: dict[tuple[str, str], list[str]] = {}
    for order in plan.get("orders") or []:
        phase, drug, date = order.get("phase"), order.get("drug"), order.get("date")
        if phase in PHASES and isinstance(drug, str) and isinstance(date, str):
            spans.setdefault((phase, drug), []).append(date)
    out = []
    for (phase, drug), dates in spans.items():
        stmt: dict[str, Any] = {
            "_key": f"{phase}:{drug}",
            "resourceType": "MedicationStatement", "status": "intended",
            "category": concept(coding(c.MEDICATION_PHASE_SYSTEM, phase, PHASES[phase])),
            "medicationCodeableConcept": concept(text=drug),
            "subject": {"reference": recipient_url},
            "effectivePeriod": {"start": min(dates), "end": max(dates)},
            "note": [{"text": f"Planned in treatment plan {label} (stored plan snapshot "
                              f"sha256 {row.sha256[:16]}); not a record of administration."}]}
        if hct is not None:
            stmt["partOf"] = [{"reference": hct_url[hct.id]}]
        out.append(stmt)
    return out


def _component_value(kind: str, event_type: str, name: str, value: Any) -> dict[str, Any]:
    if kind == "flag":
        return {"valueBoolean": value}
    if kind == "date":
        return {"valueDateTime": value}
    if kind == "code":
        return {"valueCodeableConcept": concept(coding(c.EVENT_VALUE_SYSTEM,
                                                       f"{event_type}.{name}.{value}"),
                                                text=str(value))}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueQuantity": {"value": value}}
    return {"valueString": str(value)}


def _outcome(e: Mapping[str, Any], recipient_url: str) -> dict[str, Any]:
    """A follow-up event as an Observation: local code, the coded payload fields only."""
    event_type = e["event_type"]
    payload = coded_payload(event_type, e["payload"], shift=None)
    kinds = CODED_FIELDS.get(event_type, {})
    components = []
    for name, value in payload.items():
        kind = kinds.get(name, "score" if event_type == "score" else "code")
        if kind == "scores" and isinstance(value, Mapping):
            for organ, score in value.items():
                components.append({"code": concept(coding(c.EVENT_FIELD_SYSTEM,
                                                          f"{event_type}.{name}.{organ}")),
                                   "valueInteger": score})
            continue
        if kind == "score":
            kind = ("code" if isinstance(value, str) else "number")
        components.append({"code": concept(coding(c.EVENT_FIELD_SYSTEM,
                                                  f"{event_type}.{name}")),
                           **_component_value(kind, event_type, name, value)})
    obs: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                           "code": concept(coding(c.EVENT_SYSTEM, event_type),
                                           text=event_type.replace("_", " ")),
                           "subject": {"reference": recipient_url}}
    if e["event_date"] is not None:
        obs["effectiveDateTime"] = e["event_date"].isoformat()
    if components:
        obs["component"] = components
    return obs


# -- the command ---------------------------------------------------------------------------------

def refusal(destination: str, consent: Consent | None) -> str | None:
    """Why the patient may not be submitted (None: consent allows it)."""
    return consent_exclusion("limited", destination, consent)


def export_fhir(registry: Any, upn: str, *, output: str | Path, actor: str, reason: str,
                destination: str = "local") -> ExportResult:
    """Export one patient's transplant summary Bundle to the new file ``output``."""
    if destination not in DESTINATIONS:
        raise InputError(f"the destination is one of: {', '.join(DESTINATIONS)}",
                         field="--destination", value=destination)
    target = new_output_path(output, written="a FHIR export is written to a new file",
                             thing="the bundle")
    tmp = target.parent / f".{target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    renamed = False
    try:
        with registry.transaction(actor, reason) as (s, ctx):
            key: PseudonymKey = registry._check_key(s)
            patient = registry._patient(s, upn)
            consent = s.execute(select(Consent).where(Consent.patient_id == patient.id)
                                ).scalar_one_or_none()
            why = refusal(destination, consent)
            if why is not None:
                need = ("research consent" if why.startswith("research") else
                        "international-transfer consent")
                raise InputError(
                    f"patient {upn!r} cannot be exported for registry submission "
                    f"(destination {destination}): {why}; record the patient's {need} first "
                    f"(everydonor registry consent {upn} …)", field="consent", value=why)
            rows = registry._case_rows(s, patient, None)
            built = build_bundle(s, key, patient, rows, now=ctx.now, reducer=registry.reducer)
            check_bundle(built.bundle)
            data = (json.dumps(built.bundle, indent=2, ensure_ascii=False) + "\n").encode()
            sha = hashlib.sha256(data).hexdigest()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            counts: dict[str, int] = {}
            for entry in built.bundle["entry"]:
                kind = entry["resource"]["resourceType"]
                counts[kind] = counts.get(kind, 0) + 1
            entry = audit.append(
                s, now=ctx.now, actor=ctx.actor, action="fhir.export", object_type="patient",
                object_id=upn, reason=ctx.reason,
                payload={"destination": destination, "path": str(target.resolve()),
                         "sha256": sha, "resources": counts, "persons": built.persons,
                         "typings": built.typings, "pseudonym": patient.pseudonym,
                         "software": __version__},
                request_id=ctx.request_id)
            if target.exists():
                raise InputError(f"{str(target)!r} appeared while the bundle was written: "
                                 "nothing written", field="-o", value=str(target))
            os.rename(tmp, target)
            renamed = True
    except OSError as exc:
        (target if renamed else tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write the bundle to {str(target)!r}: "
                         f"{exc.strerror or exc}; nothing written", field="-o",
                         value=str(target)) from None
    except BaseException:
        (target if renamed else tmp).unlink(missing_ok=True)
        raise
    return ExportResult(target, sha, counts, built.persons, built.typings, int(entry["seq"]),
                        destination, tuple(built.warnings))
