"""Rule sets as data: citations and confidence on every criterion, a centre's own rule set,
DSA bands."""

from __future__ import annotations

from typing import Any

import pytest

from everydonor.errors import InputError
from everydonor.selection.catalogue import get_rule_set, rule_set_from_mapping, rule_set_names
from everydonor.selection.criteria import COMPARISONS, dsa_band
from everydonor.selection.ranking import short_citation
from everydonor.selection.rules import Citation, Confidence, DonorType, Parameters


def test_builtin_rule_sets_and_aliases() -> None:
    names = rule_set_names()
    for name in ("beijing", "beijing@csh2021", "beijing@csh2018", "baltimore", "ebmt"):
        assert name in names
    assert get_rule_set("beijing") is get_rule_set("beijing@csh2021")
    with pytest.raises(InputError, match="unknown rule set 'perugia'"):
        get_rule_set("perugia")


@pytest.mark.parametrize("name", ["beijing", "beijing@csh2018", "baltimore", "ebmt"])
def test_every_criterion_has_citation_confidence_and_explanation(name: str) -> None:
    rules = get_rule_set(name)
    assert rules.references and rules.reads
    assert set(rules.hierarchy) == set(DonorType) and len(rules.hierarchy) == len(DonorType)
    for c in rules.criteria:
        assert c.compare in COMPARISONS
        assert c.citations and all(cit.text for cit in c.citations)
        assert isinstance(c.confidence, Confidence)
        assert len(c.explanation) > 40, c.id
    # [M] is visible in the serialised rule set.
    assert any(c["confidence"] == "M" for c in rules.to_dict()["criteria"])


def test_platform_specific_factors_are_not_shared() -> None:
    beijing, baltimore = get_rule_set("beijing"), get_rule_set("baltimore")
    assert "kir" in {c.id for c in beijing.criteria}
    assert "kir_ligand_gvh_avoid" not in {c.compare for c in baltimore.criteria}
    assert beijing.parameters.dsa_exclude_mfi == 10_000
    assert baltimore.parameters.dsa_exclude_mfi == 20_000
    assert beijing.hierarchy.index(DonorType.HAPLOIDENTICAL_RELATED) < beijing.hierarchy.index(
        DonorType.MATCHED_UNRELATED)
    assert baltimore.hierarchy.index(DonorType.MATCHED_UNRELATED) < baltimore.hierarchy.index(
        DonorType.HAPLOIDENTICAL_RELATED)
    assert beijing.haplo_over_sibling is not None
    assert get_rule_set("beijing@csh2018").haplo_over_sibling is None


def test_centre_rule_set_from_mapping() -> None:
    rules = rule_set_from_mapping({
        "name": "centre-x", "version": "2026.1", "base": "beijing",
        "parameters": {"dsa_exclude_mfi": 5000, "elderly_patient_age": 60},
        "criteria": ["dsa", "donor_sex", "donor_age_band", "kinship", "donor_age"],
        "notes": ["approved by the centre's donor committee 2026-11-01"],
        "verified_by": "Dr Wang, donor committee", "verified_on": "2026-11-01"})
    assert rules.parameters.dsa_exclude_mfi == 5000.0
    assert rules.parameters.elderly_patient_age == 60.0
    assert [c.id for c in rules.criteria] == ["dsa", "donor_sex", "donor_age_band", "kinship",
                                              "donor_age"]
    d = rules.to_dict()
    assert d["derived_from"] == "beijing@csh2021-1"
    assert d["overrides"]["parameters"]["dsa_exclude_mfi"] == 5000
    assert "donor committee" in d["notes"][-1]
    assert (d["verified_by"], d["verified_on"]) == ("Dr Wang, donor committee", "2026-11-01")
    assert get_rule_set("beijing").to_dict()["verified_by"] is None


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "x", "version": "1", "base": "nope"}, "--rules"),
    ({"name": "x", "version": "1", "base": "beijing", "parameters": {"dsa_max": 1}},
     "parameters.dsa_max"),
    ({"name": "x", "version": "1", "base": "beijing", "parameters": {"young_donor_age": "30"}},
     "parameters.young_donor_age"),
    ({"name": "x", "version": "1", "base": "beijing", "parameters": {"dsa_exclude_mfi": None}},
     "parameters.dsa_exclude_mfi"),
    ({"name": "x", "version": "1", "base": "beijing", "criteria": ["dsa", "astrology"]},
     "criteria"),
    ({"name": "x", "version": "1", "base": "beijing", "hierarchy": ["matched_sibling"]},
     "hierarchy"),
    ({"name": "x", "base": "beijing"}, "version"),
    ({"name": "x", "version": "1", "base": "beijing", "colour": "red"}, "colour"),
])
def test_bad_centre_rule_set_is_refused_naming_the_field(data: dict[str, Any],
                                                          field: str) -> None:
    with pytest.raises(InputError) as err:
        rule_set_from_mapping(data)
    assert err.value.field == field


def _dsa(*hits: tuple[float, str | None], status: str = "positive") -> dict[str, Any]:
    return {"status": status, "max_mfi": max((h[0] for h in hits), default=None),
            "antibodies": [{"specificity": "A*24:02", "mfi": m, "c1q": c,
                            "certainty": "definite"} for m, c in hits]}


@pytest.mark.parametrize(("mfi", "band"), [(500, "positive"), (1999, "positive"),
                                           (2000, "high_risk"), (9999, "high_risk"),
                                           (10000, "exclusion"), (25000, "exclusion")])
def test_beijing_dsa_bands(mfi: float, band: str) -> None:
    assert dsa_band(_dsa((mfi, None)), get_rule_set("beijing").parameters).band == band


def test_c1q_moves_up_one_band_and_positive_cutoff_filters() -> None:
    p = Parameters()
    escalated = dsa_band(_dsa((3000, "positive")), p)
    assert escalated.band == "exclusion" and escalated.escalated_by_c1q
    assert dsa_band(_dsa((500, "positive")), p).band == "high_risk"
    no_escalation = Parameters(dsa_c1q_escalates=False)
    assert dsa_band(_dsa((3000, "positive")), no_escalation).band == "high_risk"
    lab = Parameters(dsa_positive_mfi=1000)
    assert dsa_band(_dsa((800, None)), lab).band == "negative"
    assert dsa_band(_dsa((1200, None)), lab).band == "positive"
    assert dsa_band({"status": "not_assessable", "max_mfi": None, "antibodies": []},
                    p).band == "not_assessable"
    assert dsa_band(None, p).band == "not_assessable"


def test_short_citations() -> None:
    assert short_citation(Citation("Wang Y, Chang YJ, Xu LP, et al. Blood 2014;124:843")) == \
        "Wang 2014"
    assert short_citation(Citation("anything", short="Mine 2020")) == "Mine 2020"
