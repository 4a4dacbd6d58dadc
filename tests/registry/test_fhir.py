"""FHIR export and import (``everydonor.adapters.fhir``), on SQLite and PostgreSQL.

Every exported resource is read by the ``fhir.resources`` R4B models; the project's own checks
(GL String Code invariant, LOINC codes, HGNC ids) are asserted independently here; a round trip
export → import keeps every typing (GL String Code, version, raw value) identical; no direct
identifier is in a bundle (with the identified case export as the control that the scan finds
them); consent refusals; the NMDP IG example instances as read (see ``IG_*`` below); refusals
of bad input name the resource, field and value and write nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from everydonor.adapters.cli import main
from everydonor.adapters.fhir import codes as c
from everydonor.adapters.fhir.checks import check_bundle, validate_models
from everydonor.adapters.fhir.export import export_fhir
from everydonor.adapters.fhir.reader import import_into_registry, load_bundle, read_bundle, to_case
from everydonor.adapters.registry.models import AuditLog, Patient, Person, Typing
from everydonor.adapters.registry.store import Registry
from everydonor.case import parse_case
from everydonor.errors import InputError
from tests.registry.conftest import ROOT, load

CASE = ROOT / "src" / "everydonor" / "data" / "examples" / "case.json"
UNRELATED = ROOT / "examples" / "06-unrelated-donors-and-father.yaml"
NATIONAL_ID = "110101199003077777"
GVHD_TEXT = "methylprednisolone 2 mg/kg, Dr Wang"
DEATH_TEXT = "died at Peking University People's Hospital"

#: NMDP HLA reporting IG (nmdp-bioinformatics/hla-reporting-ig,
#: build/input/examples/Observation-HLA-A-GenotypeExample.json), the values as read there: an
#: hla-genotype Observation with no subject, LOINC 84413-4, geneStudied HGNC:4931 and the GL
#: String Code below (IPD-IMGT/HLA 3.25.0). Written out here, not copied.
IG_GLSC = "hla#3.25.0#HLA-A*01:01:01:01+HLA-A*01:02"
IG_OBSERVATION = {
    "resourceType": "Observation", "id": "HLA-A-GenotypeExample", "status": "final",
    "meta": {"profile": ["http://fhir.nmdp.org/ig/hla-reporting/StructureDefinition/"
                         "hla-genotype"]},
    "code": {"coding": [{"system": "http://loinc.org", "code": "84413-4"}]},
    "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "48018-6"}]},
                   "valueCodeableConcept": {"coding": [{
                       "system": "http://www.genenames.org/geneId", "code": "HGNC:4931",
                       "display": "HLA-A"}]}}],
    "valueCodeableConcept": {"coding": [{"system": "http://glstring.org", "code": IG_GLSC}]},
    "derivedFrom": [{"reference": "Observation/HLA-A-AlleleExample1"},
                    {"reference": "Observation/HLA-A-AlleleExample2"}]}
#: nmdp-ig/matchsync-donor-ig ``input/fsh/examples/ExampleHLAGenotypeA.fsh`` as read: instance
#: of NMDPHLAGenotype, yet its code is LOINC 57290-9 (the profile fixes 84413-4), it has no
#: geneStudied component, and its subject is a Patient not given with it.
MATCHSYNC_GLSC = "hla#3.53.0#HLA-A*02:01+HLA-A*03:01"
MATCHSYNC_OBSERVATION = {
    "resourceType": "Observation", "id": "ExampleHLAGenotypeA", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "57290-9",
                         "display": "HLA-A [Type] by High resolution"}]},
    "subject": {"reference": "Patient/ExampleNMDPDonor"},
    "valueCodeableConcept": {"coding": [{"system": "http://glstring.org",
                                         "code": MATCHSYNC_GLSC}]}}


def _stored(reg: Registry, upn: str) -> list[tuple[Any, ...]]:
    """(person position, role, relationship, locus, locus key, raw, glsc, release) per typing."""
    with reg.reading() as s:
        pid = s.execute(select(Patient.id).where(Patient.upn == upn)).scalar_one()
        rows = s.execute(
            select(Person.position, Person.role, Person.relationship, Typing.locus,
                   Typing.locus_key, Typing.raw, Typing.glsc, Typing.release)
            .join(Typing, Typing.person_id == Person.id)
            .where(Person.patient_id == pid, Typing.deleted.is_(False),
                   Person.deleted.is_(False))
            .order_by(Person.position, Typing.position)).all()
    return [tuple(r) for r in rows]


def _patient(reg: Registry, upn: str = "BJ-001", *, consent: bool = True,
             path: Path = CASE) -> None:
    reg.add_case(load(path), actor="t", upn=upn, national_id=NATIONAL_ID)
    if consent:
        reg.set_consent(upn, research=True, international_transfer=False, consent_date=None,
                        scope=None, actor="t", reason="consent form")
    donor = "S1" if path == CASE else "U1"
    reg.add_hct(upn, day0=dt.date(2025, 3, 1), donor=donor, graft="G-BM + G-PBSC", actor="t",
                reason="hct")
    reg.record_event(upn, "engraftment", "2025-03-14", {"anc_500_date": "2025-03-14",
                                                         "graft_failure": "none"},
                     actor="t", reason="e", hct_number=1)
    reg.record_event(upn, "agvhd", "2025-04-01", {"skin_stage": 2, "treatment": GVHD_TEXT},
                     actor="t", reason="e")
    reg.record_event(upn, "death", "2025-09-01", {"cause": "infection", "detail": DEATH_TEXT},
                     actor="t", reason="e")


def _export(reg: Registry, tmp_path: Path, upn: str = "BJ-001", name: str = "b.json",
            **kw: Any) -> tuple[dict[str, Any], Any]:
    result = export_fhir(reg, upn, output=tmp_path / name, actor="t", reason="submission", **kw)
    return json.loads((tmp_path / name).read_text()), result


def _resources(bundle: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]
            if kind is None or e["resource"]["resourceType"] == kind]


def _genotypes(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in _resources(bundle, "Observation")
            if r["code"]["coding"][0]["code"] == c.GENOTYPE_CODE]


# -- export -------------------------------------------------------------------------------------

def test_every_exported_resource_validates_and_carries_the_ig_codes(registry: Registry,
                                                                      tmp_path: Path) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    _patient(registry)
    bundle, result = _export(registry, tmp_path)
    kinds = {r["resourceType"] for r in _resources(bundle)}
    assert kinds == {"Patient", "RelatedPerson", "Observation", "DiagnosticReport", "Procedure"}
    for res in _resources(bundle):  # each resource on its own, not only through the Bundle
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    genotypes = _genotypes(bundle)
    stored = _stored(registry, "BJ-001")
    assert len(genotypes) == len(stored) == result.typings == 41
    loinc = set()
    for obs in genotypes:
        assert obs["category"][0]["coding"][0]["code"] == "laboratory"
        value = obs["valueCodeableConcept"]["coding"]
        assert len(value) == 1 and value[0]["system"] == "http://glstring.org"
        assert re.match(r"^hla#.+", value[0]["code"])  # the IG's GLSC invariant
        (gene,) = obs["component"]
        assert gene["code"]["coding"][0] == {"system": "http://loinc.org", "code": "48018-6",
                                             "display": "Gene studied [ID]"}
        hgnc = gene["valueCodeableConcept"]["coding"][0]
        # the allele names' locus is the gene studied (A*02:01 → HLA-A → HGNC:4931, …)
        names = re.split(r"[+/^~|]", value[0]["code"].split("#", 2)[2])
        loci = {re.match(r"(?:HLA-)?([A-Z]+[0-9]?)", n).group(1) for n in names}  # type: ignore[union-attr]
        assert {hgnc["display"]} == {f"HLA-{x}" for x in loci} or names[0][0] in "ABCD"
        assert hgnc["system"] == "http://www.genenames.org/geneId"
        assert hgnc["code"] == {"HLA-A": "HGNC:4931", "HLA-B": "HGNC:4932",
                                "HLA-C": "HGNC:4933", "HLA-DRB1": "HGNC:4948",
                                "HLA-DQB1": "HGNC:4944"}[hgnc["display"]]
    for res in _resources(bundle):
        loinc |= {cd["code"] for cd in _codings(res) if cd["system"] == "http://loinc.org"}
    assert loinc == {"84413-4", "48018-6", "81247-9"}
    # the allele database per person and release, in its declared context (DiagnosticReport)
    reports = _resources(bundle, "DiagnosticReport")
    assert len(reports) == 9
    for rep in reports:
        (ext,) = rep["extension"]
        assert ext["url"] == ("http://hl7.org/fhir/StructureDefinition/"
                              "hla-genotyping-results-allele-database")
        assert ext["valueCodeableConcept"]["coding"][0]["version"] == "3.58.0"
    covered = {r["reference"] for rep in reports for r in rep["result"]}
    urls = {e["fullUrl"] for e in bundle["entry"] if e["resource"] in genotypes}
    assert covered == urls
    # the transplant: day 0, graft as coded parts, the donor
    (proc,) = _resources(bundle, "Procedure")
    assert proc["performedDateTime"] == "2025-03-01"
    assert [u["coding"][0]["code"] for u in proc["usedCode"]] == [
        "bone_marrow_g_csf_primed", "peripheral_blood"]
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    donor = by_url[proc["extension"][0]["valueReference"]["reference"]]
    related = by_url[donor["link"][0]["other"]["reference"]]
    assert related["relationship"][0]["coding"][0]["code"] == "SIS"
    # outcomes: coded, dates kept, death on the Patient
    (recipient,) = [r for r in _resources(bundle, "Patient")
                    if r["identifier"][0]["system"] == c.PATIENT_ID_SYSTEM]
    assert recipient["deceasedDateTime"] == "2025-09-01"
    events = {r["code"]["coding"][0]["code"]: r for r in _resources(bundle, "Observation")
              if r["code"]["coding"][0]["system"] == c.EVENT_SYSTEM}
    assert set(events) == {"engraftment", "agvhd", "death"}
    assert events["agvhd"]["component"] == [{"code": {"coding": [{
        "system": c.EVENT_FIELD_SYSTEM, "code": "agvhd.skin_stage"}]}, "valueInteger": 2}]


def _codings(node: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        if "system" in node and "code" in node:
            out.append(node)
        for v in node.values():
            out += _codings(v)
    elif isinstance(node, list):
        for v in node:
            out += _codings(v)
    return out


def test_match_summary_agrees_with_the_matching_core(registry: Registry, reducer: Any,
                                                     tmp_path: Path) -> None:
    from everydonor.matching.compatibility import compare_hla

    _patient(registry)
    bundle, _ = _export(registry, tmp_path)
    case = parse_case(load(CASE), today=dt.date(2026, 1, 1))
    expected = compare_hla(case.patient.hla, case.relatives[2].hla, reducer)  # S1
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    (proc,) = _resources(bundle, "Procedure")
    donor_url = proc["extension"][0]["valueReference"]["reference"]
    (match,) = [r for r in _resources(bundle, "Observation")
                if r.get("focus", [{}])[0].get("reference") == donor_url]
    values = {comp["code"]["coding"][0]["code"]: comp.get("valueInteger",
                                                          comp.get("valueCodeableConcept"))
              for comp in match["component"]}
    assert values["matched-of_10"] == expected.match["of_10"]
    assert values["A-gvh"] == expected.loci[next(iter(expected.loci))].gvh
    # a sister without a stored family analysis is not classified (the exports' rule); the
    # father is haploidentical whatever the analysis says
    assert values["donor-type"]["coding"][0]["code"] == "unknown"
    assert by_url[donor_url]["resourceType"] == "Patient"
    types = {}
    for rel in _resources(bundle, "RelatedPerson"):
        (donor,) = [r for r in _resources(bundle, "Patient")
                    if r.get("link", [{}])[0].get("other", {}).get("reference") in
                    {e["fullUrl"] for e in bundle["entry"] if e["resource"] is rel}]
        url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is donor)
        (m,) = [r for r in _resources(bundle, "Observation")
                if r.get("focus", [{}])[0].get("reference") == url]
        types[rel["relationship"][0]["coding"][-1]["code"]] = m["component"][0][
            "valueCodeableConcept"]["coding"][0]["code"]
    assert types["father"] == types["mother"] == "haploidentical related"


def test_no_direct_identifier_in_the_bundle(registry: Registry, tmp_path: Path) -> None:
    _patient(registry, path=UNRELATED)
    identified = json.dumps(registry.export_case("BJ-001", actor="t"), ensure_ascii=False)
    bundle, _ = _export(registry, tmp_path)
    text = json.dumps(bundle, ensure_ascii=False)
    forbidden = ["BJ-001", NATIONAL_ID, "CMDP-0001", "CMDP-0002", "CMDP", GVHD_TEXT,
                 DEATH_TEXT]
    doc = load(UNRELATED)
    forbidden += [p["name"] for p in [doc["patient"], *doc["relatives"], *doc["unrelated"]]
                  if p.get("name")]
    forbidden += [str(p["birth_date"]) for p in [doc["patient"], *doc["relatives"]]
                  if p.get("birth_date")]
    # the scan can fail: the identified case export has the case's identifiers
    assert sum(f in identified for f in forbidden) >= 3
    for f in forbidden:
        assert f not in text, f
    for person_id in ("P", "F", "M", "U1", "U2"):  # case person ids as JSON strings
        assert f'"{person_id}"' not in text
    (pid,) = [r["identifier"][0]["value"] for r in _resources(bundle, "Patient")
              if r["identifier"][0]["system"] == c.PATIENT_ID_SYSTEM]
    assert re.fullmatch(r"[0-9a-f]{32}", pid)
    assert all(set(r) <= {"resourceType", "identifier", "gender", "deceasedDateTime", "link"}
               for r in _resources(bundle, "Patient"))


def test_consent_gating_refuses_and_writes_nothing(registry: Registry, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _patient(registry, consent=False)
    db = ["--db", str(registry.url.render_as_string(hide_password=False))]
    out = tmp_path / "b.json"

    def audit_count() -> int:
        with registry.reading() as s:
            return int(s.execute(select(func.count()).select_from(AuditLog).where(
                AuditLog.action == "fhir.export")).scalar_one())

    status = main(["fhir", "export", "BJ-001", *db, "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and "research consent not recorded" in err and "consent" in err
    assert not out.exists() and not list(tmp_path.glob(".b.json*")) and audit_count() == 0
    registry.set_consent("BJ-001", research=False, international_transfer=True,
                         consent_date=None, scope=None, actor="t", reason="withdrawn")
    assert main(["fhir", "export", "BJ-001", *db, "-o", str(out)]) == 2
    assert "research consent refused" in capsys.readouterr().err and not out.exists()
    registry.set_consent("BJ-001", research=True, international_transfer=False,
                         consent_date=None, scope=None, actor="t", reason="given")
    assert main(["fhir", "export", "BJ-001", *db, "-o", str(out),
                 "--destination", "international"]) == 2
    assert "international transfer refused" in capsys.readouterr().err and not out.exists()
    assert main(["fhir", "export", "BJ-001", *db, "-o", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    with registry.reading() as s:
        (entry,) = s.execute(select(AuditLog).where(AuditLog.action == "fhir.export")).scalars()
        assert entry.payload["sha256"] == doc["sha256"] and entry.object_id == "BJ-001"
    assert main(["fhir", "export", "BJ-001", *db, "-o", str(out)]) == 2  # never overwritten
    assert "exists" in capsys.readouterr().err and audit_count() == 1


# -- round trip ---------------------------------------------------------------------------------

def test_round_trip_keeps_every_typing(registry: Registry, other_db_url: str, reducer: Any,
                                       tmp_path: Path) -> None:
    _patient(registry)
    _patient(registry, "BJ-002", path=UNRELATED)
    target = Registry(other_db_url, reducer=reducer)
    target.init(actor="t")
    try:
        for upn in ("BJ-001", "BJ-002"):
            before = _stored(registry, upn)
            _, result = _export(registry, tmp_path, upn, f"{upn}.json")
            read = load_bundle((tmp_path / f"{upn}.json").read_bytes())
            done = import_into_registry(target, read, upn=f"X-{upn}", centre="BJ",
                                        actor="t", reason="import")
            after = _stored(target, f"X-{upn}")
            assert done["typings"] == result.typings == len(before)
            # GL String Code, version, raw value, locus, person role and relationship, in order
            # (positions renumbered: an untyped relative who is no donor is not exported)
            assert [a[1:] for a in after] == [b[1:] for b in before]
            assert all(isinstance(row[6], str) and row[6] == a[6]
                       for row, a in zip(after, before, strict=True))
            assert len({r[0] for r in after}) == len({r[0] for r in before})
        with target.reading() as s:
            (entry,) = s.execute(select(AuditLog).where(
                AuditLog.action == "fhir.import", AuditLog.object_id == "X-BJ-001")).scalars()
            assert entry.payload["typings"] == 41
        # a clash with a stored UPN is refused and writes nothing
        read = load_bundle((tmp_path / "BJ-001.json").read_bytes())
        with target.reading() as s:
            count = s.execute(select(func.count()).select_from(Typing)).scalar_one()
        with pytest.raises(InputError, match="already a patient"):
            import_into_registry(target, read, upn="X-BJ-001", centre="BJ", actor="t",
                                 reason="again")
        with target.reading() as s:
            assert s.execute(select(func.count()).select_from(Typing)).scalar_one() == count
        # the default UPN is the bundle's patient id (the pseudonymous id)
        done = import_into_registry(target, read, upn=None, centre="BJ", actor="t", reason="r")
        assert re.fullmatch(r"[0-9a-f]{32}", done["upn"])
    finally:
        target.close()


def test_a_typing_of_another_release_is_stored_and_re_exported_verbatim(
        registry: Registry, tmp_path: Path) -> None:
    read = read_bundle(copy.deepcopy(IG_OBSERVATION), sha256="x")
    import_into_registry(registry, read, upn="IG-1", centre="local", actor="t", reason="ig")
    ((*_, glsc, release),) = _stored(registry, "IG-1")
    assert (glsc, release) == (IG_GLSC, "3.25.0")
    registry.set_consent("IG-1", research=True, international_transfer=None,
                         consent_date=None, scope=None, actor="t", reason="c")
    bundle, _ = _export(registry, tmp_path, "IG-1")
    (obs,) = _genotypes(bundle)
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == IG_GLSC
    (rep,) = _resources(bundle, "DiagnosticReport")
    assert rep["extension"][0]["valueCodeableConcept"]["text"] == "IPD-IMGT/HLA 3.25.0"


def test_import_into_a_case_file_reads_back(registry: Registry, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _patient(registry)
    _export(registry, tmp_path)
    out = tmp_path / "case.yaml"
    assert main(["fhir", "import", str(tmp_path / "b.json"), "--case", str(out)]) == 0
    import yaml

    case = yaml.safe_load(out.read_text())
    parse_case(case, today=dt.date(2026, 1, 1))
    original = load(CASE)
    assert case["patient"]["hla"] == original["patient"]["hla"]
    assert [r["hla"] for r in case["relatives"]] == [r["hla"] for r in original["relatives"]]
    assert [r["relationship"] for r in case["relatives"]] == [
        r["relationship"] for r in original["relatives"]]
    assert "陈" not in out.read_text()  # names never travelled
    assert main(["fhir", "import", str(tmp_path / "b.json"), "--case", str(out)]) == 2


# -- the IG's example instances -------------------------------------------------------------------

def test_nmdp_ig_genotype_example_is_read_as_written() -> None:
    validate_models(IG_OBSERVATION)
    read = read_bundle(copy.deepcopy(IG_OBSERVATION))
    (person,) = read.persons
    (typing,) = person.typings
    assert (person.role, typing.glsc, typing.loci) == ("patient", IG_GLSC, ["A"])
    case = to_case(read).document
    assert case["patient"]["hla"] == {"A": ["A*01:01:01:01", "A*01:02"]}
    assert to_case(read).stored[0][0][1].glsc == IG_GLSC
    assert read.warnings == ["no Patient in the bundle: every genotype read as the patient's"]


def test_nmdp_ig_bundle_example_shape() -> None:
    """The IG's Bundle example (Bundle-HLA-A-BundleExample1.json) as read: a transaction with a
    summary DiagnosticReport (logical subject, a result reference written with quotes inside)
    and the A genotype without subject, and an entry that has only a fullUrl."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1fb210d2-fa8c-404f-a2c3-1847e97737df", "resource": {
            "resourceType": "DiagnosticReport", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "81247-9"}]},
            "subject": {"type": "Patient", "identifier": {
                "system": "http://example.org/mysubject_identifers", "value": "1234"}},
            "result": [{"reference": '"urn:uuid:8e6b5bd2-3786-4637-919b-4da121adce54"'}]}},
        {"resource": {**copy.deepcopy(IG_OBSERVATION), "derivedFrom": None}},
        {"fullUrl": "urn:uuid:8e6b5bd2-3786-4637-919b-4da121adce54"}]}
    bundle["entry"][1]["resource"].pop("derivedFrom")
    read = read_bundle(bundle)
    assert [t.glsc for t in read.persons[0].typings] == [IG_GLSC]


def test_matchsync_example_warnings_name_what_differs_from_its_profile() -> None:
    read = read_bundle(copy.deepcopy(MATCHSYNC_OBSERVATION))
    (typing,) = read.persons[0].typings
    assert typing.glsc == MATCHSYNC_GLSC and typing.loci == ["A"]
    text = " ".join(read.warnings)
    assert "57290-9, not LOINC 84413-4" in text and "no geneStudied component" in text
    assert "Patient/ExampleNMDPDonor" in text


def test_www_glstring_system_is_accepted_and_the_code_kept() -> None:
    obs = copy.deepcopy(IG_OBSERVATION)
    obs["valueCodeableConcept"]["coding"][0]["system"] = "http://www.glstring.org"
    read = read_bundle(obs)
    assert read.persons[0].typings[0].glsc == IG_GLSC
    assert any("read as 'http://glstring.org'" in w for w in read.warnings)


# -- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "expect"), [
    (lambda o: o["valueCodeableConcept"]["coding"][0].update(code="HLA-A*01:01+HLA-A*02:01"),
     r"HLA-A\*01:01\+HLA-A\*02:01.*GLSC invariant"),
    (lambda o: o["valueCodeableConcept"]["coding"][0].update(code="hla#3.25.0#HLA-A*01:01++"),
     "not a GL String Code"),
    (lambda o: o["valueCodeableConcept"]["coding"][0].update(code="hla#x#HLA-A*01:01"),
     "version"),
    (lambda o: o["component"][0]["valueCodeableConcept"]["coding"][0].update(code="HGNC:9999"),
     "HGNC:9999.*not an HGNC id"),
    (lambda o: o["component"][0]["valueCodeableConcept"]["coding"][0].update(display="HLA-B"),
     "is HLA-A, but its display says 'HLA-B'"),
    (lambda o: o.update(bogus=1), r"Observation/HLA-A-GenotypeExample.*bogus"),
    (lambda o: o.pop("status"), "status"),
])
def test_bad_observations_are_refused_naming_resource_field_and_value(change: Any,
                                                                      expect: str) -> None:
    obs = copy.deepcopy(IG_OBSERVATION)
    change(obs)
    with pytest.raises(InputError, match=expect) as info:
        read_bundle(obs)
    assert info.value.field


def test_cli_refusals_exit_2_and_write_nothing(registry: Registry, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(registry.url.render_as_string(hide_password=False))]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["fhir", "import", str(bad), *db]) == 2
    assert "not FHIR JSON" in capsys.readouterr().err
    obs = copy.deepcopy(IG_OBSERVATION)
    obs["component"][0]["valueCodeableConcept"]["coding"][0]["code"] = "HGNC:1"
    bad.write_text(json.dumps(obs))
    assert main(["fhir", "import", str(bad), *db, "--upn", "Z1"]) == 2
    err = capsys.readouterr().err
    assert "Observation/HLA-A-GenotypeExample" in err and "HGNC:1" in err
    with registry.reading() as s:
        assert s.execute(select(func.count()).select_from(Patient)).scalar_one() == 0
    bad.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "gender": "female"}}]}))
    assert main(["fhir", "import", str(bad), *db, "--upn", "Z1"]) == 2
    assert "no HLA genotype Observation" in capsys.readouterr().err
    assert main(["fhir", "export", "NOPE", *db, "-o", str(tmp_path / "x.json")]) == 2
    assert "no patient 'NOPE'" in capsys.readouterr().err


def test_check_bundle_refuses_a_loinc_code_it_does_not_own() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:0", "resource": copy.deepcopy(MATCHSYNC_OBSERVATION)}]}
    with pytest.raises(InputError, match="LOINC 57290-9"):
        check_bundle(bundle)


def test_hla_gl_typing_split_per_locus_and_joined_back(registry: Registry, other_db_url: str,
                                                       reducer: Any, tmp_path: Path) -> None:
    gl = "A*01:01+A*02:01^B*08:01~C*07:01+B*07:02~C*07:02"
    registry.add_case({"format": "everydonor.case/1", "as_of": "2026-01-01",
                       "patient": {"id": "P", "sex": "female", "hla_gl": gl},
                       "relatives": [{"id": "F", "relationship": "father",
                                      "hla": {"A": ["A*01:01", "A*03:01"]}}]},
                      actor="t", upn="GL-1")
    registry.set_consent("GL-1", research=True, international_transfer=None,
                         consent_date=None, scope=None, actor="t", reason="c")
    registry.add_snapshot("GL-1", "plan", {
        "regimen": {"id": "beijing-mac-malignancy", "version": "1"}, "day0": "2026-02-01",
        "orders": [{"phase": "conditioning", "drug": "busulfan", "date": "2026-01-25"},
                   {"phase": "conditioning", "drug": "busulfan", "date": "2026-01-27"},
                   {"phase": "gvhd_prophylaxis", "drug": "ciclosporin", "date": "2026-01-23"},
                   {"phase": "supportive", "drug": "ursodiol", "date": "2026-01-20"}]},
        actor="t", reason="plan")
    bundle, _ = _export(registry, tmp_path, "GL-1")
    patient_url = next(e["fullUrl"] for e in bundle["entry"]
                       if e["resource"].get("identifier", [{}])[0].get("system")
                       == c.PATIENT_ID_SYSTEM)
    mine = [o for o in _genotypes(bundle) if o["subject"]["reference"] == patient_url]
    assert [o["valueCodeableConcept"]["coding"][0]["code"] for o in mine] == [
        "hla#3.58.0#HLA-A*01:01+HLA-A*02:01", "hla#3.58.0#HLA-B*08:01~HLA-C*07:01+HLA-B*07:02~HLA-C*07:02"]
    assert [[g["valueCodeableConcept"]["coding"][0]["display"] for g in o["component"]]
            for o in mine] == [["HLA-A"], ["HLA-B", "HLA-C"]]
    meds = {(m["category"]["coding"][0]["code"], m["medicationCodeableConcept"]["text"]):
            m["effectivePeriod"] for m in _resources(bundle, "MedicationStatement")}
    assert meds == {("conditioning", "busulfan"): {"start": "2026-01-25", "end": "2026-01-27"},
                    ("gvhd_prophylaxis", "ciclosporin"): {"start": "2026-01-23",
                                                          "end": "2026-01-23"}}
    assert all(m["status"] == "intended" for m in _resources(bundle, "MedicationStatement"))
    target = Registry(other_db_url, reducer=reducer)
    target.init(actor="t")
    try:
        read = load_bundle((tmp_path / "b.json").read_bytes())
        import_into_registry(target, read, upn="GL-1", centre="local", actor="t", reason="r")
        assert [a[1:] for a in _stored(target, "GL-1")] == [
            b[1:] for b in _stored(registry, "GL-1")]
        assert _stored(target, "GL-1")[0][5] == gl
    finally:
        target.close()
