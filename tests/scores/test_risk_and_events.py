"""HCT-CI, HCT-CI/age, refined DRI, EBMT, performance, engraftment, graft failure, chimerism,
CMV and outcome coding — row by row (clinical-scores.md §3-§7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from everydonor.adapters.cli import main
from everydonor.errors import InputError
from everydonor.scores.catalogue import SCORES, compute_score
from everydonor.scores.risk import HCT_CI_WEIGHTS


def score(name: str, **inputs: Any) -> dict[str, Any]:
    return compute_score(name, inputs)


def test_hct_ci_weights_and_groups() -> None:
    assert score("hct_ci")["score"] == 0 and score("hct_ci")["risk_group"] == "low"
    for item, points in HCT_CI_WEIGHTS.items():
        assert score("hct_ci", **{item: True})["score"] == points, item
    assert score("hct_ci", arrhythmia=True, diabetes=True)["risk_group"] == "intermediate"
    assert score("hct_ci", rheumatologic=True, arrhythmia=True)["risk_group"] == "high"
    # cardiac, valve and arrhythmia are separate and additive: 1 + 3 + 1
    assert score("hct_ci", cardiac=True, heart_valve=True, arrhythmia=True)["score"] == 5
    # tiers of one organ count once, at the highest tier
    assert score("hct_ci", pulmonary_moderate=True, pulmonary_severe=True)["score"] == 3
    assert score("hct_ci", hepatic_mild=True, hepatic_moderate_severe=True)["score"] == 3


@pytest.mark.parametrize(("dlco", "fev1", "points"), [
    (81, 90, 0), (80, 90, 2), (66, None, 2), (65, None, 3), (None, 65.5, 2), (90, 60, 3),
    (None, None, 0)])
def test_hct_ci_pulmonary(dlco: float | None, fev1: float | None, points: int) -> None:
    assert score("hct_ci_item_pulmonary", dlco_pct=dlco, fev1_pct=fev1)["points"] == points


@pytest.mark.parametrize(("bili", "ast", "alt", "points"), [
    (1.0, 1.0, 1.0, 0), (1.01, None, None, 1), (1.5, None, None, 1), (1.51, None, None, 3),
    (None, 2.5, None, 1), (None, 2.51, None, 3), (None, None, 1.2, 1)])
def test_hct_ci_hepatic(bili: float | None, ast: float | None, alt: float | None,
                        points: int) -> None:
    assert score("hct_ci_item_hepatic", bilirubin_x_uln=bili, ast_x_uln=ast,
                 alt_x_uln=alt)["points"] == points


def test_hct_ci_single_items_boundaries() -> None:
    assert score("hct_ci_item_renal", creatinine_mg_dl=2.0)["points"] == 0
    assert score("hct_ci_item_renal", creatinine_mg_dl=2.01)["points"] == 2
    assert score("hct_ci_item_cardiac", ejection_fraction_pct=50)["points"] == 1
    assert score("hct_ci_item_cardiac", ejection_fraction_pct=51)["points"] == 0
    assert score("hct_ci_item_obesity", bmi=35)["points"] == 0
    assert score("hct_ci_item_obesity", bmi=35.1)["points"] == 1


@pytest.mark.parametrize(("hctci", "age", "value", "group"), [
    (0, 39.9, 0, "0"), (0, 40, 1, "1-2"), (2, 40, 3, "3-4"), (4, 25, 4, "3-4"),
    (4, 65, 5, ">=5"), (2, 18, 2, "1-2")])
def test_hct_ci_age(hctci: int, age: float, value: int, group: str) -> None:
    out = score("hct_ci_age", hct_ci=hctci, age_years=age)
    assert (out["score"], out["group"]) == (value, group)


@pytest.mark.parametrize(("disease", "status", "blasts", "stage"), [
    ("AML", "CR1", None, "low"), ("AML", "CR3+", None, "low"),
    ("AML", "primary_induction_failure", None, "high"), ("ALL", "relapse", None, "high"),
    ("CML", "chronic_phase", None, "low"), ("CML", "blast_phase", None, "high"),
    ("MDS", None, 4.9, "low"), ("MDS", None, 5, "high"), ("MDS", "CR1", 8, "low"),
    ("MDS", None, None, "Missing disease status"),
    ("DLBCL", "PR", None, "low"), ("multiple_myeloma", "progressive_disease", None, "high"),
    ("non_malignant", None, None, "N/A - non-malignant indication"),
    ("AML", None, None, "Missing disease status")])
def test_refined_dri_stage(disease: str, status: str | None, blasts: float | None,
                           stage: str) -> None:
    assert score("refined_dri_stage", disease=disease, status_at_hct=status,
                 marrow_blasts_pct_at_hct=blasts)["stage_risk"] == stage


@pytest.mark.parametrize(("group", "risk", "stage", "dri"), [
    ("CLL", None, "low", "low"), ("CLL", None, "high", "intermediate"),
    ("AML", "intermediate", "low", "intermediate"), ("AML", "intermediate", "high", "high"),
    ("AML", "high", "low", "high"), ("MDS", "high", "high", "very_high"),
    ("AML", None, "low", "TBD cytogenetics"), ("ALL", None, None, "Missing disease status"),
    ("non_malignant", None, None, "N/A - non-malignant indication")])
def test_refined_dri(group: str, risk: str | None, stage: str | None, dri: str) -> None:
    assert score("refined_dri", disease_group=group, disease_risk=risk,
                 stage_risk=stage)["dri"] == dri


def test_refined_dri_contradiction() -> None:
    with pytest.raises(InputError, match="contradictory"):
        score("refined_dri", disease_group="CLL", disease_risk="high", stage_risk="low")


@pytest.mark.parametrize(("inputs", "value"), [
    ({"age": 19.9, "stage": "early", "months_dx_to_tx": 6, "donor": "hla_identical_sibling"}, 0),
    ({"age": 20, "stage": "early", "months_dx_to_tx": 6, "donor": "hla_identical_sibling"}, 1),
    ({"age": 40, "stage": "early", "months_dx_to_tx": 12, "donor": "hla_identical_sibling"}, 1),
    ({"age": 40.5, "stage": "early", "months_dx_to_tx": 12.1,
      "donor": "hla_identical_sibling"}, 3),
    ({"age": 50, "stage": "late", "months_dx_to_tx": 24, "donor": "unrelated",
      "donor_female": True, "recipient_male": True}, 7),
    ({"age": 50, "stage": "early", "months_dx_to_tx": 24, "in_cr1": True, "donor": "unrelated"},
     3),
    ({"age": 50, "stage": "early", "months_dx_to_tx": 24, "in_cr1": True, "donor": "unrelated",
      "cr1_time_rule": False}, 4),
    ({"age": 50, "stage": "late", "months_dx_to_tx": 24, "donor": "autologous",
      "donor_female": True, "recipient_male": True}, 5),
    ({"age": 30, "stage": "intermediate", "months_dx_to_tx": 6, "donor": "other_related"}, 3),
])
def test_ebmt_score(inputs: dict[str, Any], value: int) -> None:
    assert score("ebmt_risk_score", **inputs)["score"] == value


def test_performance_scales() -> None:
    k = score("karnofsky", kps=80)
    assert (k["valid"], k["category"], k["nih_cgvhd_performance_score"]) == (True, "A", 1)
    assert score("karnofsky", kps=70)["category"] == "B"
    assert score("karnofsky", kps=40)["category"] == "C"
    assert score("karnofsky", kps=100)["nih_cgvhd_performance_score"] == 0
    assert score("karnofsky", kps=50)["nih_cgvhd_performance_score"] == 3
    assert score("karnofsky", kps=85)["valid"] is False  # not rounded
    with pytest.raises(InputError):
        score("karnofsky", kps=110)
    assert score("lansky", lps=30)["description"].startswith("in bed")
    assert score("performance_scale_selection", age_years=15.9)["scale"] == "lansky"
    assert score("performance_scale_selection", age_years=16)["scale"] == "karnofsky"


def test_neutrophil_engraftment() -> None:
    anc = [[0, 2.1], [3, 0.4], [5, 0.05], [10, 0.3], [12, 0.6], [13, 0.4], [14, 0.5],
           [15, 0.7], [17, 1.2]]
    out = score("neutrophil_engraftment_day", anc_by_day_x10e9_per_l=anc)
    assert (out["day"], out["status"]) == (14, "engrafted")  # day 12 is followed by 0.4
    # values >= 0.5 before the nadir do not count
    early = [[1, 0.8], [2, 0.7], [3, 0.6], [5, 0.1], [9, 0.5], [10, 0.6], [12, 0.9]]
    assert score("neutrophil_engraftment_day", anc_by_day_x10e9_per_l=early)["day"] == 9
    never = [[1, 0.9], [2, 0.7], [3, 0.6]]
    assert score("neutrophil_engraftment_day",
                 anc_by_day_x10e9_per_l=never)["status"].startswith("not_applicable")
    assert score("neutrophil_engraftment_day",
                 anc_by_day_x10e9_per_l=[[1, 0.1], [5, 0.6], [6, 0.6]])["day"] is None
    with pytest.raises(InputError):
        score("neutrophil_engraftment_day", anc_by_day_x10e9_per_l=[[1, 0.1], [1, 0.6]])


def test_platelet_engraftment_respects_transfusions() -> None:
    plt = [[5, 8], [10, 15], [14, 22], [15, 25], [16, 30], [20, 35], [21, 40], [22, 45]]
    # transfused on day 12: days 14-16 are within 7 days; the first valid day is 20
    out = score("platelet_engraftment_day", platelets_by_day_x10e9_per_l=plt,
                platelet_transfusion_days=[12])
    assert out["day"] == 20
    assert score("platelet_engraftment_day", platelets_by_day_x10e9_per_l=plt)["day"] == 14
    out50 = score("platelet_engraftment_day", platelets_by_day_x10e9_per_l=plt, threshold=50)
    assert out50["day"] is None and out50["threshold"] == 50
    assert score("platelet_engraftment_day", platelets_by_day_x10e9_per_l=[[1, 120], [2, 90],
                                                                           [3, 80]])[
        "status"].startswith("not_applicable")


def test_platelet_transfusion_inside_the_three_values() -> None:
    plt = [[14, 22], [15, 25], [16, 30], [24, 35], [25, 40], [26, 45]]
    out = score("platelet_engraftment_day", platelets_by_day_x10e9_per_l=plt,
                platelet_transfusion_days=[15])
    assert out["day"] == 24  # day 14 is ruled out (transfusion before the third value);
    # 15 and 16 are within 7 days of it


@pytest.mark.parametrize(("rec", "through", "source", "result"), [
    (20, 60, "peripheral_blood", False), (30, 60, "bone_marrow", False),
    (31, 60, "peripheral_blood", True), (None, 30, "bone_marrow", True),
    (None, 29, "bone_marrow", None), (35, 60, "cord_blood", False), (None, 41, "cord_blood", None),
    (None, 42, "cord_blood", True), (43, 60, "cord_blood", True)])
def test_primary_graft_failure(rec: int | None, through: int, source: str,
                               result: bool | None) -> None:
    assert score("primary_graft_failure", anc_recovery_day=rec, assessed_through_day=through,
                 graft_source=source)["primary_graft_failure"] is result


@pytest.mark.parametrize(("pct", "category"), [(100, "full"), (95.1, "full"), (95, "mixed"),
                                               (5, "mixed"), (4.9, "loss"), (0, "loss")])
def test_chimerism(pct: float, category: str) -> None:
    assert score("donor_chimerism_category", donor_pct=pct)["category"] == category


def test_cmv_classification() -> None:
    out = score("cmv_classification", plasma_cmv_dna_detected=True, prior_infection=True,
                weeks_undetectable_under_surveillance=4, on_appropriate_antiviral_days=14,
                viral_load_log10_now=4.6, viral_load_log10_peak=3.5)
    assert (out["cmv_infection"], out["cmv_dnaemia"], out["recurrent_infection"],
            out["refractory"]) == (True, True, True, "refractory")
    out = score("cmv_classification", plasma_cmv_dna_detected=True, prior_infection=True,
                weeks_undetectable_under_surveillance=3.9, on_appropriate_antiviral_days=13,
                viral_load_log10_now=5, viral_load_log10_peak=3)
    assert out["recurrent_infection"] is False and out["refractory"] is None
    out = score("cmv_classification", plasma_cmv_dna_detected=True,
                on_appropriate_antiviral_days=20, viral_load_log10_now=3.8,
                viral_load_log10_peak=3.5)
    assert out["refractory"] == "probable_refractory"
    out = score("cmv_classification", end_organ_findings="proven")
    assert out["cmv_disease"] == "proven" and out["cmv_infection"] and not out["cmv_dnaemia"]


@pytest.mark.parametrize(("relapse", "death", "last", "status", "time"), [
    (None, None, 400, "censored", 400), (100, None, 400, "relapse", 100),
    (100, 200, 400, "relapse", 100),  # death after relapse is never NRM
    (None, 200, 400, "nrm", 200)])
def test_relapse_nrm(relapse: int | None, death: int | None, last: int, status: str,
                     time: int) -> None:
    out = score("relapse_nrm_coding", relapse_day=relapse, death_day=death,
                last_followup_day=last)
    assert (out["status"], out["time_days"]) == (status, time)
    lo = score("lfs_os_coding", relapse_day=relapse, death_day=death, last_followup_day=last)
    assert lo["lfs"]["event"] == (relapse is not None or death is not None)
    assert lo["os"] == {"event": death is not None, "time_days": death or last}


def test_outcome_contradictions() -> None:
    for bad in ({"relapse_day": 300, "death_day": 200, "last_followup_day": 400},
                {"death_day": 500, "last_followup_day": 400}, {"relapse_day": 10}):
        with pytest.raises(InputError):
            score("relapse_nrm_coding", **bad)


def test_grfs() -> None:
    base = {"last_followup_day": 500}
    assert score("grfs_event", **base)["event"] is False
    assert score("grfs_event", **base)["time_days"] == 365  # censored at the horizon
    out = score("grfs_event", agvhd=[{"day": 20, "grade": "II"}, {"day": 40, "grade": "III"}],
                relapse_day=200, **base)
    assert (out["first_event"], out["time_days"]) == ("agvhd_grade_III_or_worse", 40)
    out = score("grfs_event", agvhd=[{"day": 20, "grade": "II"}], agvhd_min_grade="II", **base)
    assert out["time_days"] == 20
    assert score("grfs_event", cgvhd_mild_no_systemic_therapy_day=100, **base)["event"] is False
    assert score("grfs_event", cgvhd_systemic_ist_day=150, **base)["first_event"] == \
        "cgvhd_systemic_therapy"
    assert score("grfs_event", death_day=400, **base)["event"] is False  # beyond the horizon
    assert score("grfs_event", death_day=400, horizon_days=730, **base)["event"] is True


@given(st.lists(st.tuples(st.integers(0, 100), st.floats(0, 5)), min_size=0, max_size=25,
                unique_by=lambda p: p[0]))
def test_neutrophil_day_is_first_of_three_after_nadir(values: list[tuple[int, float]]) -> None:
    pairs = [[d, v] for d, v in values]
    out = score("neutrophil_engraftment_day", anc_by_day_x10e9_per_l=pairs)
    if out["day"] is not None:
        ordered = sorted(values)
        k = [d for d, _ in ordered].index(out["day"])
        assert all(v >= 0.5 for _, v in ordered[k:k + 3]) and len(ordered[k:k + 3]) == 3
        assert min(v for _, v in ordered[:k + 1]) < 0.5


def test_every_score_listed_with_citation_and_cli(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert len(SCORES) >= 30
    assert main(["score", "--list", "--format", "text"]) == 0
    listing = capsys.readouterr().out
    for name, s in SCORES.items():
        assert name in listing and s.citation in listing
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"skin_stage": 3, "liver_stage": 2}))
    assert main(["score", "magic_agvhd_grade", "--input", str(f)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["grade"] == "III" and doc["criteria"] == "MAGIC-2016"
    f.write_text(json.dumps({"skin_stage": 3, "nonsense": 1}))
    assert main(["score", "magic_agvhd_grade", "--input", str(f)]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert main(["score", "no_such_score", "--input", str(f)]) == 2
