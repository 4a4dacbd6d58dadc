"""Ranking on whole cases: the contract, the CSH 2021 switch, missing facts, phenotype fallback."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import pytest

from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce
from everydonor.case import parse_case
from everydonor.selection.catalogue import get_rule_set
from everydonor.selection.ranking import rank_case
from everydonor.selection.rules import Parameters

A = ["A*02:01", "C*01:02", "B*46:01", "DRB1*09:01", "DQB1*03:03"]
B = ["A*24:02", "C*03:04", "B*40:01", "DRB1*12:01", "DQB1*03:01"]
C = ["A*11:01", "C*14:02", "B*51:01", "DRB1*15:01", "DQB1*06:02"]
D = ["A*33:03", "C*03:02", "B*58:01", "DRB1*03:01", "DQB1*02:01"]
E = ["A*01:01", "C*07:01", "B*08:01", "DRB1*03:01", "DQB1*02:01"]
LOCI = ["A", "C", "B", "DRB1", "DQB1"]


def hla(x: list[str], y: list[str]) -> dict[str, list[str]]:
    return {loc: [x[i], y[i]] for i, loc in enumerate(LOCI)}


def make_case(relatives: list[dict[str, Any]], **patient: Any) -> Any:
    p = {"id": "P", "sex": "male", "age": 40, "abo": "A+", "cmv_igg": "positive",
         "hla": hla(A, C), "antibodies": {"results": []}}
    p.update(patient)
    top = {k: p.pop(k) for k in ("centre",) if k in p}
    return parse_case({"format": "everydonor.case/1", "patient": p, "relatives": relatives,
                       **top}, today=dt.date(2026, 11, 25))


@pytest.fixture(scope="module")
def rank(reducer):  # type: ignore[no-untyped-def]
    tce, kir = read_tce(open_release()), load_kir_table()

    def run(case: Any, rules: Any = "beijing") -> dict[str, Any]:
        rs = get_rule_set(rules) if isinstance(rules, str) else rules
        return rank_case(case, reducer, tce, kir, rs)[0].document

    return run


PARENTS = [{"id": "F", "relationship": "father", "age": 70, "hla": hla(A, B)},
           {"id": "M", "relationship": "mother", "age": 68, "hla": hla(C, D)}]


def test_contract_fields_and_strict_json(rank) -> None:  # type: ignore[no-untyped-def]
    doc = rank(make_case([*PARENTS, {"id": "S", "relationship": "sister", "age": 38,
                                     "hla": hla(A, C)}]))
    text = json.dumps(doc, allow_nan=False)  # no Infinity/NaN in the public answer
    assert json.loads(text)["rules"]["name"] == "beijing"
    assert doc["rules"]["version"] and doc["rules"]["references"]
    for i, d in enumerate(doc["ranking"], start=1):
        assert d["rank"] == i and d["eligible"] is True
        assert d["donor_type"] in {"matched_sibling", "haploidentical_related",
                                   "mismatched_related", "matched_unrelated",
                                   "mismatched_unrelated", "matched_related"}
        assert d["reasons"] and isinstance(d["flags"], list)
    assert [d["id"] for d in doc["ranking"]] == ["S", "F", "M"]
    assert doc["ranking"][-1]["decided_by"] is None
    assert doc["ranking"][0]["decided_by"]["next"] == "F"
    assert "Decision support" in doc["notice"]


def test_elderly_patient_with_young_child_switch_needs_the_parameter(rank) -> None:  # type: ignore[no-untyped-def]
    relatives = [*PARENTS, {"id": "S", "relationship": "sister", "age": 60, "hla": hla(A, C)},
                 {"id": "K1", "relationship": "son", "age": 25, "hla": hla(A, E)},
                 {"id": "K2", "relationship": "daughter", "age": 36, "hla": hla(C, E)}]
    case = make_case(relatives, age=66, centre={"haplo_experienced": True})
    plain = rank(case)
    assert plain["ranking"][0]["id"] == "S"
    switch = plain["hierarchy"]["haplo_over_sibling"]
    assert not switch["applied"] and any("elderly_patient_age" in m for m in switch["missing"])
    assert any("not fully evaluated" in w for w in plain["warnings"])

    beijing = get_rule_set("beijing")
    centre = replace(beijing, parameters=replace(beijing.parameters, elderly_patient_age=60.0))
    doc = rank(case, centre)
    order = [d["id"] for d in doc["ranking"]]
    # Only the young child moves before the matched sibling; the older child does not.
    assert order.index("K1") < order.index("S") < order.index("K2")
    assert doc["hierarchy"]["haplo_over_sibling"]["elderly_with_young_offspring"] is True
    k1 = next(d for d in doc["ranking"] if d["id"] == "K1")
    assert any("placed before matched siblings" in r for r in k1["reasons"])


def test_switch_needs_leukaemia_and_high_risk(rank) -> None:  # type: ignore[no-untyped-def]
    relatives = [*PARENTS, {"id": "S", "relationship": "sister", "age": 30, "hla": hla(A, C)}]
    for diagnosis, risk, applied in (("AML", "high", True), ("ALL", "very_high", True),
                                     ("AML", "standard", False), ("SAA", "high", False)):
        case = make_case(relatives, diagnosis=diagnosis, disease_risk=risk,
                         centre={"haplo_experienced": True})
        doc = rank(case)
        assert doc["hierarchy"]["haplo_over_sibling"]["applied"] is applied, diagnosis
        assert (doc["ranking"][0]["id"] != "S") is applied


def test_phenotype_fallback_is_flagged(rank) -> None:  # type: ignore[no-untyped-def]
    # No parents: with two siblings only, the brother's identity to the patient is not proven.
    case = make_case([{"id": "B", "relationship": "brother", "age": 30, "hla": hla(A, C)},
                      {"id": "S", "relationship": "sister", "age": 31, "hla": hla(A, D)}])
    doc = rank(case)
    b = next(d for d in doc["ranking"] if d["id"] == "B")
    assert b["donor_type"] == "matched_sibling"
    assert any("judged by phenotype" in f for f in b["flags"])


def test_antigen_level_identity_asks_for_high_resolution(rank) -> None:  # type: ignore[no-untyped-def]
    low = {"A": ["A2", "A11"], "B": ["B46", "B51"], "DRB1": ["DRB1*09:01", "DRB1*15:01"]}
    doc = rank(make_case([*PARENTS, {"id": "S", "relationship": "sister", "age": 30,
                                     "hla": low}]))
    s = next(d for d in doc["ranking"] if d["id"] == "S")
    assert s["donor_type"] == "matched_sibling"
    assert any("confirm at high resolution" in f for f in s["flags"])
    assert any("untyped loci: C, DQB1" in f for f in s["flags"])


def test_equal_donors_say_so(rank) -> None:  # type: ignore[no-untyped-def]
    twins = [{"id": "T1", "relationship": "brother", "age": 20, "hla": hla(A, D)},
             {"id": "T2", "relationship": "brother", "age": 20, "hla": hla(A, D)}]
    doc = rank(make_case([*PARENTS, *twins]))
    t1 = next(d for d in doc["ranking"] if d["id"] == "T1")
    assert t1["decided_by"]["criterion"] is None
    assert "the team decides" in t1["decided_by"]["text"]


def test_inconsistent_family_still_ranks_by_phenotype(rank) -> None:  # type: ignore[no-untyped-def]
    bad = [*PARENTS, {"id": "S", "relationship": "sister", "age": 30, "hla": hla(E, E)}]
    doc = rank(make_case(bad))
    assert any("inconsistent" in w for w in doc["warnings"])
    s = next(d for d in doc["ranking"] if d["id"] == "S")
    assert s["donor_type"] == "mismatched_related"


def test_kir_is_weighed_on_beijing_only(rank) -> None:  # type: ignore[no-untyped-def]
    doc_b = rank(make_case(PARENTS))
    doc_j = rank(make_case(PARENTS), "baltimore")
    assert any(c["id"] == "kir" for c in doc_b["ranking"][0]["criteria"])
    assert not any(c["id"] == "kir" for c in doc_j["ranking"][0]["criteria"])
    assert any("KIR not weighed" in n for n in doc_j["rules"]["notes"])


def test_beijing_parameters_default_to_the_cited_values() -> None:
    p = Parameters()
    assert (p.dsa_exclude_mfi, p.dsa_high_risk_mfi, p.young_donor_age) == (10_000, 2_000, 30)
    assert p.elderly_patient_age is None  # the consensus abstract names no age


def test_ebmt_cmv_positive_donor_for_positive_recipient(rank) -> None:  # type: ignore[no-untyped-def]
    sibs = [{"id": "B1", "relationship": "brother", "age": 30, "cmv_igg": "negative",
             "hla": hla(A, D)},
            {"id": "B2", "relationship": "brother", "age": 30, "cmv_igg": "positive",
             "hla": hla(B, C)}]
    positive = rank(make_case([*PARENTS, *sibs]), "ebmt")
    assert [d["id"] for d in positive["ranking"]][:2] == ["B2", "B1"]
    assert positive["ranking"][0]["decided_by"]["criterion"] == "cmv"
    negative = rank(make_case([*PARENTS, *sibs], cmv_igg="negative"), "ebmt")
    b1 = next(d for d in negative["ranking"] if d["id"] == "B1")
    assert not next(c for c in b1["criteria"] if c["id"] == "cmv")["applies"]
    assert [d["id"] for d in negative["ranking"]][:2] == ["B1", "B2"]  # by id: nothing decides


def test_antibody_at_an_untyped_locus_is_flagged(rank) -> None:  # type: ignore[no-untyped-def]
    no_dq = {k: v for k, v in hla(A, D).items() if k != "DQB1"}
    case = make_case([*PARENTS, {"id": "B", "relationship": "brother", "age": 30,
                                 "hla": no_dq}],
                     antibodies={"results": [{"specificity": "DQ2", "mfi": 4000},
                                             {"specificity": "B*58:01", "mfi": 2500}]})
    doc = rank(case)
    b = next(d for d in doc["ranking"] if d["id"] == "B")
    assert b["dsa_band"] == "high_risk"  # B*58:01 2,500 >= 2,000
    assert any("DSA not assessable" in f and "DQ2" in f for f in b["flags"]), b["flags"]


def test_unrelated_donors_name_their_registry_and_donor_id(reducer) -> None:  # type: ignore[no-untyped-def]
    """The case's registry and donor_id reach the match answer and the ranking's reasons."""
    from pathlib import Path

    from everydonor.adapters.inputs.casefile import read_case
    from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce
    from everydonor.selection.catalogue import get_rule_set
    from everydonor.selection.ranking import rank_case

    case = read_case(Path(__file__).resolve().parents[2] / "examples"
                     / "06-unrelated-donors-and-father.yaml")
    u1 = case.person("U1")
    assert (u1.registry, u1.donor_id) == ("CMDP", "CMDP-0001")
    result, _, _ = rank_case(case, reducer, read_tce(open_release()), load_kir_table(),
                             get_rule_set("beijing"))
    entry = next(r for r in result.document["ranking"] if r["id"] == "U1")
    assert any("unrelated (CMDP CMDP-0001)" in reason for reason in entry["reasons"])


def few_loci_sibling_case() -> Any:
    """A sibling HLA-identical by segregation but typed only at A, B and DRB1; both parents
    typed at all five loci."""
    few = {loc: v for loc, v in hla(A, C).items() if loc in ("A", "B", "DRB1")}
    return make_case([*PARENTS, {"id": "S", "relationship": "sister", "age": 30, "sex": "female",
                                 "hla": few},
                      {"id": "B", "relationship": "brother", "age": 32, "sex": "male",
                       "hla": hla(A, D)}])


def test_identical_sibling_typed_at_few_loci_says_what_the_family_proves(rank) -> None:  # type: ignore[no-untyped-def]
    doc = rank(few_loci_sibling_case())
    s = next(d for d in doc["ranking"] if d["id"] == "S")
    # the existing contract stays
    assert s["donor_type"] == "matched_sibling"
    assert s["compatibility"]["hla"]["match"]["of_10"] == 6
    assert s["family"]["untyped_loci"] == ["C", "DQB1"]
    # the relation the family proves, and how much of it is typed
    r = s["relation"]
    assert r["headline"] == "genotypically HLA-identical by segregation"
    assert r["basis"] == "segregation" and r["hla_relation"] == "identical"
    assert r["typed_loci"] == ["A", "B", "DRB1"] and r["untyped_loci"] == ["C", "DQB1"]
    assert sorted(r["loci"]) == ["A", "B", "C", "DQB1", "DRB1"]
    assert r["typing"] == "typed at 3 of 5 loci; C, DQB1 untyped" and r["complete"] is False
    assert "confirmatory typing" in r["recommendation"] and "[M;" in r["recommendation"]
    assert "type C, DQB1" in r["recommendation"]
    assert s["flags"][0] == r["recommendation"]
    donor_type = next(x for x in s["reasons"] if x.startswith("donor type:"))
    assert "genotypically HLA-identical by segregation" in donor_type
    assert "at the 3 typed loci only" in donor_type
    # a haploidentical, fully typed brother: no recommendation, plain counts
    b = next(d for d in doc["ranking"] if d["id"] == "B")
    assert b["relation"]["headline"].startswith("haploidentical by segregation")
    assert b["relation"]["complete"] and b["relation"]["recommendation"] is None
    assert not any("confirmatory typing" in f for f in b["flags"])


def test_kir_unknown_is_moot_for_a_sibling_identical_at_class_i(rank) -> None:  # type: ignore[no-untyped-def]
    doc = rank(few_loci_sibling_case())
    s = next(d for d in doc["ranking"] if d["id"] == "S")
    assert s["compatibility"]["kir_ligand_mismatch_gvh"] is None  # C untyped: not computable
    kir = next(c for c in s["criteria"] if c["id"] == "kir")
    assert kir["unknown"] is None and kir["tier"] == 0
    assert "class I identical by segregation" in kir["value"]
    assert s["relation"]["class_i_identical"] == "by segregation"
    assert not any("KIR" in f for f in s["flags"])
    assert "S" not in doc["could_not_weigh"].get("kir", [])
    # a haploidentical sibling without C typing keeps the flag
    no_c = {loc: v for loc, v in hla(A, D).items() if loc != "C"}
    other = rank(make_case([*PARENTS, {"id": "H", "relationship": "brother", "age": 30,
                                       "hla": no_c}]))
    h = next(d for d in other["ranking"] if d["id"] == "H")
    assert h["relation"]["class_i_identical"] is None
    assert any("could not weigh KIR ligands" in f for f in h["flags"])
    assert "H" in other["could_not_weigh"]["kir"]


def test_sources_disagree_only_where_the_donor_value_is_disputed(reducer) -> None:  # type: ignore[no-untyped-def]
    """The demo family: '⚑ sources disagree' marks a reason exactly where the criterion's
    disagreement concerns this donor's value: 10 marks (45 before, 6-7 of 12 reasons per donor)."""
    from pathlib import Path

    from everydonor.adapters.inputs.casefile import read_case
    from everydonor.selection.ranking import DISPUTE_MARK

    case = read_case(Path(__file__).resolve().parents[2] / "src" / "everydonor" / "data"
                     / "examples" / "case.json")
    rules = get_rule_set("beijing")
    doc = rank_case(case, reducer, read_tce(open_release()), load_kir_table(), rules)[0].document
    by_id = {c.id: c for c in rules.criteria}
    before = sum(1 for d in doc["ranking"] for c in d["criteria"]
                 if c["applies"] and by_id[c["id"]].disputed)  # the old rule: every reason
    marked = {(d["id"], r.split(":", 1)[0]) for d in doc["ranking"] for r in d["reasons"]
              if DISPUTE_MARK in r}
    assert before == 45
    assert marked == {("S5", "sibling_nima"), ("S1", "donor_age_band"), ("S1", "cmv"),
                      ("M", "donor_age_band"), ("M", "kinship"), ("S3", "dsa"),
                      ("S3", "sibling_nima"), ("F", "dsa"), ("F", "donor_age_band"),
                      ("S4", "dsa")}
    assert sum(r.count(DISPUTE_MARK) for d in doc["ranking"] for r in d["reasons"]) == 10
    for d in doc["ranking"]:
        for c in d["criteria"]:
            crit = by_id[c["id"]]
            expected = c["applies"] and crit.disputed is not None and bool(
                set(c["facts"]) & set(crit.disputed_for))
            assert c["disputed_here"] is expected, (d["id"], c["id"])
            assert ((d["id"], c["id"]) in marked) is expected, (d["id"], c["id"])
        assert [x["criterion"] for x in d["disputes"]] == [
            c["id"] for c in d["criteria"] if c["disputed_here"]]
    # the rejected uncle: Beijing excludes from 10,000, MDACC desensitises below ~20,000
    u1 = next(x for x in doc["excluded"] if x["id"] == "U1")
    assert any(DISPUTE_MARK in b for b in u1["because"])
    assert "⚑" in doc["legend"]["dispute"]


def test_placeholder_citations_are_unverified_evidence_not_references(rank) -> None:  # type: ignore[no-untyped-def]
    doc = rank(few_loci_sibling_case())
    refs = doc["references"]
    cited = [r["text"] for r in refs["cited"]]
    unverified = {r["label"]: r for r in refs["unverified"]}
    assert not any("not yet identified" in t for t in cited)
    assert "512-patient ATG cohort" in unverified
    assert "not yet identified" in unverified["512-patient ATG cohort"]["why"]
    assert {"Hurley 1999", "BSHI 2016"} <= set(unverified)  # the confirmatory-typing advice
    assert [r["n"] for r in refs["cited"]] == list(range(1, len(cited) + 1))
    assert doc["rules"]["references"]  # the rule set's own list is kept (public contract)


def test_an_unverified_source_says_so_wherever_it_is_cited() -> None:
    from everydonor.selection.catalogue import get_rule_set
    from everydonor.selection.ranking import cite

    rules = get_rule_set("beijing")
    flagged = [c for c in rules.criteria if any(s.unverified for s in c.citations)]
    assert flagged, "the Beijing set cites unverified sources (the 512-patient cohort)"
    for criterion in flagged:
        text = cite(criterion)
        for source in criterion.citations:
            assert (f"{source.short or ''}" in text) or source.short is None
            if source.unverified:
                assert "(unverified)" in text
    verified_only = [c for c in rules.criteria if not any(s.unverified for s in c.citations)]
    assert all("(unverified)" not in cite(c) for c in verified_only)
