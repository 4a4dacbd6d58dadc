"""A case file ↔ the registry's rows: what each field of ``everydonor.case/1`` is stored as.

:func:`case_rows` turns a parsed :class:`~everydonor.case.Case` (and the decoded document it
came from, for what the parsed value does not keep: the birth date, whether ``age`` was written,
each locus typing exactly as written) into plain row values; :func:`case_document` builds a case
document from rows again. Export is built from the structured rows only (the stored source
document is a record, never read back), and ``parse_case(case_document(case_rows(c)))`` equals
``c``.

Typings are stored verbatim (``raw``: the JSON value as written), as a GL String Code
(``hla#3.58.0#HLA-A*02:01+HLA-A*11:01``) with the release they were read under, and reduced to
lgx in a column of their own; the raw value is never rewritten. A typing *given* as a GL String
Code keeps that code byte for byte (``glsc``) and its own version (``release``: a release or a
construction date), never the loaded release; it is reduced only when written under the loaded
release.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from everydonor.adapters.registry.codec import decode, encode
from everydonor.case import CASE_FORMAT, EXTENSION_PREFIX, Case, Person
from everydonor.errors import EverydonorError
from everydonor.hla.glsc import Glsc, looks_like_glsc, parse_glsc
from everydonor.hla.glstring import parse_gl
from everydonor.hla.locus import parse_locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution

#: Payload value standing for "the mrd list is in the mrd events" in a case_status event.
MRD_IN_EVENTS = {"$events": "mrd"}
_ROLE_LISTS = (("relative", "relatives"), ("unrelated", "unrelated"))


@dataclass(slots=True)
class PersonRows:
    values: dict[str, Any]
    identity: dict[str, Any]
    typings: list[dict[str, Any]] = field(default_factory=list)
    antibody_test: dict[str, Any] | None = None
    antibody_results: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class CaseRows:
    patient: dict[str, Any]
    disease: dict[str, Any]
    persons: list[PersonRows]
    follow_up: list[dict[str, Any]]

    def counts(self) -> dict[str, int]:
        return {"persons": len(self.persons),
                "typings": sum(len(p.typings) for p in self.persons),
                "antibody_results": sum(len(p.antibody_results) for p in self.persons),
                "follow_up_events": len(self.follow_up)}


def _date_or_none(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


_TOKEN_START = re.compile(r"(?<![A-Za-z0-9*:-])(?=[A-Z][A-Z0-9]*\*)")


def glsc(body: str, release: str) -> str:
    """The GL String Code of a plain GL string body (``HLA-`` added to every allele name)."""
    if body.startswith(("hla#", "kir#")):
        return body
    return f"hla#{release}#{_TOKEN_START.sub('HLA-', body)}"


def _raw_people(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    people: list[Mapping[str, Any]] = [raw["patient"]]
    for _, key in _ROLE_LISTS:
        people.extend(raw.get(key) or [])
    return people


def case_rows(case: Case, raw: Mapping[str, Any], *, release: str,
              reducer: Reducer | None = None, national_id: str | None = None) -> CaseRows:
    """The rows of a parsed case (``raw``: the decoded document ``case`` was parsed from)."""
    centre = case.centre
    patient = {
        "case_id": case.id, "as_of": case.as_of, "case_notes": encode(case.notes),
        "case_extensions": encode(dict(case.extensions)),
        "case_centre_name": centre.name, "case_centre_haplo_experienced": centre.haplo_experienced,
        "case_centre_extensions": encode(dict(centre.extensions)),
    }
    p = case.patient
    disease = {"diagnosis": p.diagnosis, "disease_status": p.disease_status,
               "disease_risk": p.disease_risk}
    persons = []
    for position, (person, person_raw) in enumerate(zip(case.people(), _raw_people(raw),
                                                        strict=True)):
        persons.append(_person_rows(
            person, person_raw, position=position, release=release, reducer=reducer,
            national_id=national_id if person.role == "patient" else None))
    return CaseRows(patient, disease, persons, _follow_up_rows(case.follow_up))


def _person_rows(person: Person, raw: Mapping[str, Any], *, position: int, release: str,
                 reducer: Reducer | None, national_id: str | None) -> PersonRows:
    values = {
        "case_person_id": person.id, "role": person.role, "position": position,
        "relationship": person.relationship.value if person.relationship else None,
        "through": person.through, "sex": person.sex.value if person.sex else None,
        "age": person.age, "age_written": raw.get("age") is not None,
        "weight_kg": person.weight_kg, "height_cm": person.height_cm, "abo": person.abo,
        "cmv_igg": person.cmv_igg.value if person.cmv_igg else None,
        "medically_eligible": person.medically_eligible,
        "desensitization_plan": person.desensitization_plan, "donor_registry": person.registry,
        "donor_id": person.donor_id,
        "match_probability": (None if person.match_probability is None
                              else encode(dict(person.match_probability))),
        "notes": encode(person.notes), "extensions": encode(dict(person.extensions)),
        "hla_field": person.hla_field, "hla_extensions": encode(dict(person.hla_extensions)),
    }
    identity = {"name": person.name, "birth_date": _date_or_none(raw.get("birth_date")),
                "national_id": national_id}
    rows = PersonRows(values, identity)
    if person.hla_field == "hla":
        for i, (key, value) in enumerate((k, v) for k, v in raw["hla"].items()
                                         if not str(k).startswith(EXTENSION_PREFIX)):
            locus = parse_locus(str(key))
            assert locus is not None  # parse_case refused anything else
            if looks_like_glsc(value):  # kept as given, with the version it was written under
                given = parse_glsc(value)
                rows.typings.append({"position": i, "locus": locus.value,
                                     "locus_key": str(key), "raw": encode(value),
                                     "glsc": given.text, "release": given.version,
                                     "reduced_lgx": _reduce_code(given, reducer)})
                continue
            texts = [str(t).strip() for t in value] if isinstance(value, list) else [str(value)]
            body = "+".join(t.removeprefix("HLA-") for t in texts)
            rows.typings.append({"position": i, "locus": locus.value, "locus_key": str(key),
                                 "raw": encode(value), "glsc": glsc(body, release),
                                 "release": release,
                                 "reduced_lgx": _reduce(texts, reducer)})
    elif person.hla_field == "hla_gl":
        text = str(raw["hla_gl"])
        if looks_like_glsc(text):
            given = parse_glsc(text)
            rows.typings.append({"position": 0, "locus": None, "locus_key": None,
                                 "raw": text, "glsc": given.text, "release": given.version,
                                 "reduced_lgx": _reduce_code(given, reducer)})
            return _antibody_rows(person, rows)
        try:
            code = parse_gl(text).format(code=True, version=release)
        except EverydonorError:
            code = glsc(text.strip(), release)
        rows.typings.append({"position": 0, "locus": None, "locus_key": None,
                             "raw": text, "glsc": code, "release": release,
                             "reduced_lgx": _reduce_gl(text, reducer)})
    return _antibody_rows(person, rows)


def _antibody_rows(person: Person, rows: PersonRows) -> PersonRows:
    test = person.antibodies
    if test is not None:
        rows.antibody_test = {"test_date": test.test_date, "method": test.method,
                              "extensions": encode(dict(test.extensions))}
        rows.antibody_results = [
            {"position": i, "specificity": r.specificity, "mfi": r.mfi, "c1q": r.c1q,
             "extensions": encode(dict(r.extensions))} for i, r in enumerate(test.results)]
    return rows


def _reduce_code(code: Glsc, reducer: Reducer | None) -> str | None:
    """The lgx reduction of a GL String Code, only under the release it was written under (a
    code of another release, or dated, is not reduced: its derived column stays empty)."""
    if reducer is None or code.version != reducer.ref.release:
        return None
    return _reduce_gl(code.gl, reducer)


def _reduce(texts: Sequence[str], reducer: Reducer | None) -> str | None:
    if reducer is None:
        return None
    try:
        out = [reducer.reduce_text(t, Resolution.LGX) for t in texts]
    except EverydonorError:
        return None
    return "+".join(out) if all(out) else None


def _reduce_gl(text: str, reducer: Reducer | None) -> str | None:
    if reducer is None:
        return None
    from everydonor.hla.glstring import map_tokens

    try:
        gl = parse_gl(text)
        return map_tokens(gl, lambda t: reducer.reduce_text(t, Resolution.LGX)).format()
    except EverydonorError:
        return None


def _follow_up_rows(follow_up: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``follow_up`` as events: each MRD result one ``mrd`` event (its date in a column), the
    rest (genetics, flags, extensions) one ``case_status`` event, all payloads as written."""
    if follow_up is None:
        return []
    events: list[dict[str, Any]] = []
    mrd = follow_up.get("mrd")
    in_events = isinstance(mrd, list) and all(isinstance(m, Mapping) for m in mrd)
    # parse_case admits only the known keys and x_ keys here, all text without a "$".
    status = {str(k): (MRD_IN_EVENTS if k == "mrd" and in_events else encode(v))
              for k, v in follow_up.items()}
    if in_events:
        assert isinstance(mrd, list)
        for i, item in enumerate(mrd):
            events.append({"event_type": "mrd", "event_date": _date_or_none(item.get("date")),
                           "position": i + 1, "source": "case", "payload": encode(dict(item))})
    events.insert(0, {"event_type": "case_status", "event_date": None, "position": 0,
                      "source": "case", "payload": status})
    return events


# -- rows → case document ---------------------------------------------------------------------

def case_document(patient: Mapping[str, Any], disease: Mapping[str, Any] | None,
                  persons: Sequence[PersonRows], follow_up: Sequence[Mapping[str, Any]]
                  ) -> dict[str, Any]:
    """A case document (``everydonor.case/1``) from rows (live rows only, in position order)."""
    doc: dict[str, Any] = {"format": CASE_FORMAT}
    if patient["case_id"] is not None:
        doc["id"] = patient["case_id"]
    notes = decode(patient["case_notes"])
    if notes is not None:
        doc["notes"] = notes
    doc["as_of"] = patient["as_of"].isoformat()
    centre: dict[str, Any] = {}
    if patient["case_centre_name"] is not None:
        centre["name"] = patient["case_centre_name"]
    if patient["case_centre_haplo_experienced"] is not None:
        centre["haplo_experienced"] = patient["case_centre_haplo_experienced"]
    centre.update(decode(patient["case_centre_extensions"]) or {})
    if centre:
        doc["centre"] = centre
    ordered = sorted(persons, key=lambda p: p.values["position"])
    people = [_person_document(p, disease if p.values["role"] == "patient" else None)
              for p in ordered]
    roles = [p.values["role"] for p in ordered]
    doc["patient"] = people[roles.index("patient")]
    doc["relatives"] = [d for d, r in zip(people, roles, strict=True) if r == "relative"]
    doc["unrelated"] = [d for d, r in zip(people, roles, strict=True) if r == "unrelated"]
    fu = _follow_up_document(follow_up)
    if fu is not None:
        doc["follow_up"] = fu
    doc.update(decode(patient["case_extensions"]) or {})
    return doc


def _person_document(rows: PersonRows, disease: Mapping[str, Any] | None) -> dict[str, Any]:
    v = rows.values
    doc: dict[str, Any] = {"id": v["case_person_id"]}
    ident = rows.identity
    if ident.get("name") is not None:
        doc["name"] = ident["name"]
    if v["relationship"] is not None:
        doc["relationship"] = v["relationship"]
    if v["through"] is not None:
        doc["through"] = v["through"]
    if v["sex"] is not None:
        doc["sex"] = v["sex"]
    birth = ident.get("birth_date")
    if v["age"] is not None and (v["age_written"] or birth is None):
        doc["age"] = v["age"]
    if birth is not None:
        doc["birth_date"] = birth.isoformat()
    for key in ("weight_kg", "height_cm", "abo", "cmv_igg", "medically_eligible",
                "desensitization_plan", "donor_registry", "donor_id"):
        if v[key] is not None:
            doc["registry" if key == "donor_registry" else key] = v[key]
    if disease is not None:
        for key in ("diagnosis", "disease_status", "disease_risk"):
            if disease.get(key) is not None:
                doc[key] = disease[key]
    if v["match_probability"] is not None:
        doc["match_probability"] = decode(v["match_probability"])
    notes = decode(v["notes"])
    if notes is not None:
        doc["notes"] = notes
    typings = sorted(rows.typings, key=lambda t: t["position"])
    if v["hla_field"] == "hla":
        hla = {t["locus_key"]: decode(t["raw"]) for t in typings}
        hla.update(decode(v["hla_extensions"]) or {})
        doc["hla"] = hla
    elif v["hla_field"] == "hla_gl" and typings:
        doc["hla_gl"] = typings[0]["raw"]
    if rows.antibody_test is not None:
        test = rows.antibody_test
        ab: dict[str, Any] = {}
        if test["test_date"] is not None:
            ab["test_date"] = test["test_date"].isoformat()
        if test["method"] is not None:
            ab["method"] = test["method"]
        results = []
        for r in sorted(rows.antibody_results, key=lambda r: r["position"]):
            item: dict[str, Any] = {"specificity": r["specificity"], "mfi": r["mfi"]}
            if r["c1q"] is not None:
                item["c1q"] = r["c1q"]
            item.update(decode(r["extensions"]) or {})
            results.append(item)
        ab["results"] = results
        ab.update(decode(test["extensions"]) or {})
        doc["antibodies"] = ab
    doc.update(decode(v["extensions"]) or {})
    return doc


def _follow_up_document(events: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    case_events = sorted((e for e in events if e["source"] == "case"),
                         key=lambda e: e["position"])
    status = [e for e in case_events if e["event_type"] == "case_status"]
    if not status:
        return None
    out: dict[str, Any] = {}
    for key, value in status[0]["payload"].items():
        if value == MRD_IN_EVENTS:
            out[key] = [decode(e["payload"]) for e in case_events if e["event_type"] == "mrd"]
        else:
            out[key] = decode(value)
    return out


def case_yaml(document: Mapping[str, Any]) -> str:
    """The case document as YAML that reads back equal: readable (non-ASCII kept) unless that
    would not read back (PyYAML folds some line-break characters), then fully escaped."""
    import yaml

    text: str = yaml.safe_dump(dict(document), allow_unicode=True, sort_keys=False)
    if yaml.safe_load(text) != document:
        text = yaml.safe_dump(dict(document), allow_unicode=False, sort_keys=False)
    return text

