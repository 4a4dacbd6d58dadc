"""A FHIR Bundle (or a lone genotype Observation) → the typings of the patient and each donor.

Read: the R4B models check the structure (a refusal names the entry, the resource, the element
and the value); every Observation whose value carries a GL String Code coding
(``http://glstring.org``, or ``http://www.glstring.org`` as the IG's CodeSystem canonical writes
it) is a genotype, its code checked (the GLSC invariant, the GL String Code grammar, the HGNC
gene ids of ``component[geneStudied]``). The subject says whose typing it is:

* everydonor's own bundles: the recipient is the Patient with the ``urn:everydonor:fhir:id:
  patient`` identifier, a donor a Patient with the donor identifier, a relative when its
  ``link`` names a RelatedPerson (relationship: the local code, else the HL7 v3 RoleCode);
  the case-typing extension gives the typing as the case wrote it;
* another sender's bundle: one Patient (or none, when every genotype has no subject, as in the
  NMDP IG's examples) is the recipient; a second untagged Patient is refused (whose typing
  would it be?). A typing is then rebuilt from its GL String Code: ``X+Y`` as two typings of the
  locus, anything with ``|``, ``~`` or ``^`` as the person's ``hla_gl``.

The stored form is the GL String Code exactly as received and its version (a release, or the
construction date). Nothing is written here; :func:`to_case` builds a case document,
:func:`import_into_registry` a new registry patient (a UPN already there is refused).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from everydonor import __version__
from everydonor.adapters.fhir import codes as c
from everydonor.adapters.fhir.checks import (
    genotype_parts,
    is_genotype,
    resources,
    validate_models,
    where,
)
from everydonor.errors import InputError
from everydonor.hla.glsc import parse_glsc

MAX_BYTES = 50 * 1024 * 1024
_ROLE_OF_V3 = {code: rel for rel, (code, _) in c.ROLE_CODES.items()}
#: The case's relationships (``everydonor.case.Relationship``), for the local code.
_RELATIONSHIPS = ("father", "mother", "brother", "sister", "son", "daughter", "half_brother",
                  "half_sister", "grandfather", "grandmother", "uncle", "aunt", "nephew", "niece",
                  "cousin", "grandson", "granddaughter", "partner", "other_related")


@dataclass(slots=True)
class ReadTyping:
    """One genotype Observation (or, for a split ``hla_gl``, one block of it)."""

    glsc: str
    loci: list[str]
    at: str
    field: str | None = None
    part: int = 0
    parts: int = 1
    raw: Any = None
    locus_key: str | None = None


@dataclass(slots=True)
class ReadPerson:
    ref: str
    role: str
    relationship: str | None = None
    sex: str | None = None
    typings: list[ReadTyping] = field(default_factory=list)


@dataclass(slots=True)
class ReadBundle:
    persons: list[ReadPerson]
    warnings: list[str]
    sha256: str
    timestamp: str | None


def load_bundle(data: bytes, *, name: str = "bundle") -> ReadBundle:
    """Parse the bytes of a bundle file (JSON) and read it."""
    if len(data) > MAX_BYTES:
        raise InputError(f"{name} is {len(data)} bytes; a FHIR bundle is read up to "
                         f"{MAX_BYTES} bytes", field="BUNDLE", value=name)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{name} is not FHIR JSON: {exc}", field="BUNDLE", value=name) from None
    return read_bundle(doc, sha256=hashlib.sha256(data).hexdigest())


def _sex(resource: Mapping[str, Any]) -> str | None:
    gender = resource.get("gender")
    return gender if gender in ("male", "female") else None


def _identifier(resource: Mapping[str, Any], system: str) -> str | None:
    for ident in resource.get("identifier") or []:
        if ident.get("system") == system and ident.get("value"):
            return str(ident["value"])
    return None


def _relationship(related: Mapping[str, Any], at: str) -> str:
    local = v3 = None
    for concept in related.get("relationship") or []:
        for cd in concept.get("coding") or []:
            if cd.get("system") == c.RELATIONSHIP_SYSTEM:
                local = cd.get("code")
            elif cd.get("system") == c.ROLE_CODE_SYSTEM:
                v3 = _ROLE_OF_V3.get(str(cd.get("code")))
    value = local or v3
    if value not in _RELATIONSHIPS:
        raise InputError(f"{at}: relationship {value or '(none)'!r} is not one everydonor "
                         f"reads (local {c.RELATIONSHIP_SYSTEM} or HL7 v3 RoleCode "
                         f"{', '.join(sorted(_ROLE_OF_V3))})", field="relationship",
                         value=repr(related.get("relationship")))
    return str(value)


def _case_typing(obs: Mapping[str, Any]) -> dict[str, Any]:
    for ext in obs.get("extension") or []:
        if ext.get("url") == c.CASE_TYPING_EXTENSION:
            out: dict[str, Any] = {}
            for part in ext.get("extension") or []:
                for key in ("valueString", "valueCode", "valueInteger"):
                    if key in part:
                        out[str(part.get("url"))] = part[key]
            return out
    return {}


def read_bundle(doc: Any, *, sha256: str = "") -> ReadBundle:
    """Read a decoded bundle (module docstring); raises :class:`InputError` on bad input."""
    validate_models(doc)
    warnings: list[str] = []
    by_ref: dict[str, tuple[int | None, Mapping[str, Any]]] = {}
    entries = list(resources(doc))
    if doc.get("resourceType") == "Bundle":
        for n, entry in enumerate(doc.get("entry") or []):
            res = entry.get("resource")
            if not isinstance(res, Mapping):
                continue
            if entry.get("fullUrl"):
                by_ref[str(entry["fullUrl"])] = (n, res)
            if res.get("id"):
                by_ref[f"{res['resourceType']}/{res['id']}"] = (n, res)
    patients = [(i, r) for i, r in entries if r.get("resourceType") == "Patient"]
    persons: dict[int, ReadPerson] = {}
    recipient: ReadPerson | None = None
    foreign = [(i, r) for i, r in patients if _identifier(r, c.PATIENT_ID_SYSTEM) is None
               and _identifier(r, c.DONOR_ID_SYSTEM) is None]
    ours = [(i, r) for i, r in patients if (i, r) not in foreign]
    tagged = [(i, r) for i, r in ours if _identifier(r, c.PATIENT_ID_SYSTEM) is not None]
    if len(tagged) > 1 or (tagged and foreign) or len(foreign) > 1:
        raise InputError(f"the bundle has {len(patients)} Patient resources and everydonor "
                         "cannot tell which is the recipient (one Patient with the "
                         f"{c.PATIENT_ID_SYSTEM} identifier, or a single Patient)",
                         field="Patient", value=str(len(patients)))
    for i, r in [*tagged, *foreign]:
        recipient = persons[id(r)] = ReadPerson(
            _identifier(r, c.PATIENT_ID_SYSTEM) or where(i, r), "patient", sex=_sex(r))
    for i, r in ours:
        if id(r) in persons:
            continue
        at = where(i, r)
        ref = _identifier(r, c.DONOR_ID_SYSTEM) or at
        person = ReadPerson(ref, "unrelated", sex=_sex(r))
        for link in r.get("link") or []:
            target = by_ref.get(str((link.get("other") or {}).get("reference")))
            if target is not None and target[1].get("resourceType") == "RelatedPerson":
                person.role = "relative"
                person.relationship = _relationship(target[1], where(*target))
        persons[id(r)] = person
    lone: ReadPerson | None = None
    for i, r in entries:
        if not is_genotype(r):
            continue
        at = where(i, r)
        code, loci, notes = genotype_parts(r, at=at)
        warnings.extend(notes)
        subject = r.get("subject")
        reference = subject.get("reference") if isinstance(subject, Mapping) else None
        target = by_ref.get(str(reference)) if reference is not None else None
        if patients and (target is None or target[1].get("resourceType") != "Patient"):
            raise InputError(f"{at}: subject {reference!r} is not a Patient of this bundle "
                             "(whose typing is it?)", field="subject.reference",
                             value=str(reference))
        if target is not None:
            owner = persons[id(target[1])]
        else:
            if lone is None:
                lone = ReadPerson("(no subject)", "patient")
                warnings.append("no Patient in the bundle: every genotype read as the "
                                "patient's" + (f" (subject {reference!r} is not in it)"
                                               if reference else ""))
            owner = lone
        if not loci:
            from everydonor.adapters.fhir.export import gene_of

            loci = gene_of(parse_glsc(code).gl)
            if not loci:
                raise InputError(f"{at}: no geneStudied component and no locus in the GL "
                                 "String Code", field="component", value=code)
            warnings.append(f"{at}: no geneStudied component (the nmdp-hla-genotype profile "
                            f"requires one); locus read from the allele names: "
                            f"{', '.join('HLA-' + x for x in loci)}")
        ext = _case_typing(r)
        owner.typings.append(ReadTyping(
            code, loci, at, field=ext.get("field"), part=int(ext.get("part", 0)),
            parts=int(ext.get("parts", 1)),
            raw=json.loads(ext["raw"]) if isinstance(ext.get("raw"), str) else None,
            locus_key=ext.get("locus-key")))
    people = [recipient] if recipient else []
    people += [p for p in persons.values() if p.role != "patient"]
    if lone is not None:
        people = [lone]
    if not any(p.typings for p in people):
        raise InputError("the bundle has no HLA genotype Observation (an Observation whose "
                         f"valueCodeableConcept has a {c.GLSC_SYSTEM} coding)",
                         field="Observation.valueCodeableConcept", value="none")
    if not people or people[0].role != "patient":
        raise InputError("the bundle has donors but no recipient Patient", field="Patient",
                         value="none")
    timestamp = doc.get("timestamp") if isinstance(doc.get("timestamp"), str) else None
    return ReadBundle(people, warnings, sha256, timestamp)


# -- to a case --------------------------------------------------------------------------------

@dataclass(slots=True)
class StoredTyping:
    """What the registry keeps of a typing read from the bundle (verbatim)."""

    glsc: str
    release: str


def _person_hla(person: ReadPerson) -> tuple[str, Any, list[tuple[str | None, StoredTyping]]]:
    """(``hla`` or ``hla_gl``, the case value, [(locus or None, stored typing)] in case order)."""
    typings = person.typings
    if typings and all(t.field in ("hla", "hla_gl") for t in typings):
        if typings[0].field == "hla_gl":
            ordered = sorted(typings, key=lambda t: t.part)
            codes = [parse_glsc(t.glsc) for t in ordered]
            if [t.part for t in ordered] != list(range(ordered[0].parts)) or len(
                    {(x.namespace, x.version) for x in codes}) != 1:
                raise InputError(f"{ordered[0].at}: the blocks of an hla_gl typing are "
                                 "incomplete or under different versions",
                                 field="extension.part", value=str([t.part for t in ordered]))
            head = codes[0]
            glsc = f"{head.namespace}#{head.version}#" + "^".join(x.gl for x in codes)
            return "hla_gl", ordered[0].raw, [(None, StoredTyping(glsc, head.version))]
        hla: dict[str, Any] = {}
        stored: list[tuple[str | None, StoredTyping]] = []
        for t in typings:
            key = t.locus_key or t.loci[0]
            if key in hla:
                raise InputError(f"{t.at}: a second typing of {key} for one person",
                                 field="component.geneStudied", value=key)
            hla[key] = t.raw
            stored.append((t.loci[0], StoredTyping(t.glsc, parse_glsc(t.glsc).version)))
        return "hla", hla, stored
    return _from_codes(person)


def _from_codes(person: ReadPerson) -> tuple[str, Any, list[tuple[str | None, StoredTyping]]]:
    """A typing rebuilt from GL String Codes alone (another sender's bundle)."""
    codes = [(t, parse_glsc(t.glsc)) for t in person.typings]
    for t, code in codes:
        if code.namespace != "hla":
            raise InputError(f"{t.at}: {code.text!r} is not an HLA typing (namespace "
                             f"{code.namespace!r})", field="valueCodeableConcept.coding.code",
                             value=code.text)
        if len(t.loci) != 1 and not any(op in code.gl for op in "~^"):
            raise InputError(f"{t.at}: {len(t.loci)} geneStudied components for one locus "
                             "genotype", field="component", value=str(t.loci))
    simple = all(not any(op in code.gl for op in "|~^?") and len(t.loci) == 1
                 for t, code in codes)
    if simple:
        hla: dict[str, Any] = {}
        stored: list[tuple[str | None, StoredTyping]] = []
        for t, code in codes:
            locus = t.loci[0]
            copies = [x.strip().removeprefix("HLA-") for x in code.gl.split("+")]
            if locus in hla:
                raise InputError(f"{t.at}: a second typing of HLA-{locus} for one person",
                                 field="component.geneStudied", value=locus)
            for copy in copies:
                name = copy.split("*", 1)[0] if "*" in copy else None
                if name is not None and name != locus:
                    raise InputError(f"{t.at}: {copy!r} is not an HLA-{locus} name, but "
                                     f"geneStudied says HLA-{locus}",
                                     field="valueCodeableConcept.coding.code", value=code.text)
            hla[locus] = copies if len(copies) > 1 else copies[0]
            stored.append((locus, StoredTyping(code.text, code.version)))
        return "hla", hla, stored
    versions = {code.version for _, code in codes}
    if len(versions) != 1:
        raise InputError(f"{codes[0][0].at}: a person's GL strings under different versions "
                         f"({', '.join(sorted(versions))}) cannot be joined into one hla_gl",
                         field="valueCodeableConcept.coding.code", value=", ".join(versions))
    version = versions.pop()
    body = "^".join(code.gl for _, code in codes)
    plain = "^".join(code.gl.replace("HLA-", "") for _, code in codes)
    return "hla_gl", plain, [(None, StoredTyping(f"hla#{version}#{body}", version))]


@dataclass(slots=True)
class ImportedCase:
    document: dict[str, Any]
    #: Per person in case order (patient, relatives, unrelated): [(locus, stored typing)].
    stored: list[list[tuple[str | None, StoredTyping]]]


def to_case(read: ReadBundle, *, as_of: dt.date | None = None) -> ImportedCase:
    """The case document of the bundle's people (ids ``patient``, ``R1…``, ``U1…``)."""
    day = as_of
    if day is None and read.timestamp:
        try:
            day = dt.date.fromisoformat(read.timestamp[:10])
        except ValueError:
            day = None
    document: dict[str, Any] = {"format": "everydonor.case/1",
                                "as_of": (day or dt.date.today()).isoformat(),
                                "notes": f"imported from a FHIR bundle (sha256 {read.sha256}) "
                                         f"by everydonor {__version__}"}
    lists: dict[str, list[tuple[dict[str, Any], Any]]] = {"relative": [], "unrelated": []}
    patient_doc: tuple[dict[str, Any], Any] | None = None
    for person in read.persons:
        entry: dict[str, Any] = {}
        if person.sex:
            entry["sex"] = person.sex
        if person.relationship:
            entry["relationship"] = person.relationship
        stored: list[tuple[str | None, StoredTyping]] = []
        if person.typings:
            kind, value, stored = _person_hla(person)
            entry[kind] = value
        if person.role == "patient":
            patient_doc = ({"id": "patient", **entry}, stored)
        else:
            lists[person.role].append((entry, stored))
    assert patient_doc is not None
    document["patient"] = patient_doc[0]
    document["relatives"] = [{"id": f"R{i + 1}", **e} for i, (e, _) in
                             enumerate(lists["relative"])]
    document["unrelated"] = [{"id": f"U{i + 1}", **e} for i, (e, _) in
                             enumerate(lists["unrelated"])]
    stored_all = [patient_doc[1], *(s for _, s in lists["relative"]),
                  *(s for _, s in lists["unrelated"])]
    return ImportedCase(document, stored_all)


def import_into_registry(registry: Any, read: ReadBundle, *, upn: str | None, centre: str,
                         actor: str, reason: str) -> dict[str, Any]:
    """A new registry patient from the bundle, in one transaction with its audit entries; the
    typings stored as received (GL String Code and version verbatim). A UPN already in the
    registry (live or deleted) is refused: an import never changes a stored patient."""
    from sqlalchemy import select

    from everydonor.adapters.registry import audit
    from everydonor.adapters.registry.models import Patient

    name = upn or (read.persons[0].ref if read.persons[0].ref.isalnum() else None)
    if not name:
        raise InputError("the bundle's patient has no everydonor id: give the registry id "
                         "with --upn", field="--upn")
    imported = to_case(read)
    prepared = registry.prepare(imported.document, upn=name)
    loaded = registry.release
    kept = 0
    for rows, stored in zip(prepared.rows.persons, imported.stored, strict=True):
        typing_rows = sorted(rows.typings, key=lambda t: t["position"])
        if len(typing_rows) != len(stored):
            raise InputError(f"person {rows.values['case_person_id']!r}: {len(stored)} "
                             f"typings read, {len(typing_rows)} rebuilt", field="typings",
                             value=str(len(stored)))
        for row, (_, st) in zip(typing_rows, stored, strict=True):
            row["glsc"], row["release"] = st.glsc, st.release
            if st.release != loaded:
                row["reduced_lgx"] = None  # never re-interpreted under another release
            kept += 1
    with registry.transaction(actor, reason) as (s, ctx):
        key = registry._check_key(s)
        clash = s.execute(select(Patient.deleted).where(Patient.upn == prepared.upn)
                          ).one_or_none()
        if clash is not None:
            state = "a deleted patient" if clash[0] else "a patient"
            raise InputError(f"{prepared.upn!r} is already {state} in the registry: a FHIR "
                             "import adds a new patient and never changes a stored one "
                             "(give another --upn)", field="--upn", value=prepared.upn)
        centre_row = registry._centre(s, centre, ctx)
        entries: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        registry._insert_new(s, ctx, key=key, centre=centre_row, cases=[prepared],
                             entries=entries, results=results)
        entries.append({"actor": ctx.actor, "action": "fhir.import", "object_type": "patient",
                        "object_id": prepared.upn, "reason": ctx.reason,
                        "payload": {"bundle_sha256": read.sha256, "persons": len(read.persons),
                                    "typings": kept, "warnings": read.warnings,
                                    "software": __version__}})
        audit.append_many(s, entries, now=ctx.now, request_id=ctx.request_id)
    return {"upn": prepared.upn, "status": "added", "persons": len(read.persons),
            "typings": kept, "bundle_sha256": read.sha256, "warnings": read.warnings}
