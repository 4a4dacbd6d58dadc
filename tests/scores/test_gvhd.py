"""Acute and chronic GVHD, row by row of the published tables (clinical-scores.md §1-§2),
both sides of every threshold, plus monotonicity."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from everydonor.errors import InputError
from everydonor.scores.catalogue import compute_score


def score(name: str, **inputs: Any) -> dict[str, Any]:
    return compute_score(name, inputs)


@pytest.mark.parametrize(("bsa", "bullae", "stage"), [
    (0, False, 0), (None, False, 0), (1, False, 1), (24.9, False, 1), (25, False, 2),
    (50, False, 2), (50.1, False, 3), (100, False, 3), (51, True, 4), (100, True, 4)])
def test_magic_skin(bsa: float | None, bullae: bool, stage: int) -> None:
    assert score("magic_agvhd_skin_stage", rash_bsa_pct=bsa,
                 bullae_and_desquamation_gt5pct_bsa=bullae)["stage"] == stage


def test_magic_skin_bullae_without_erythroderma_is_contradictory() -> None:
    with pytest.raises(InputError, match="contradictory"):
        score("magic_agvhd_skin_stage", rash_bsa_pct=40, bullae_and_desquamation_gt5pct_bsa=True)


@pytest.mark.parametrize(("bili", "stage"), [
    (0.5, 0), (1.99, 0), (2.0, 1), (3.0, 1), (3.01, 2), (6.0, 2), (6.01, 3), (15.0, 3),
    (15.01, 4), (30, 4)])
def test_magic_liver(bili: float, stage: int) -> None:
    assert score("magic_agvhd_liver_stage", total_bilirubin_mg_dl=bili)["stage"] == stage


@pytest.mark.parametrize(("volume", "episodes", "weight", "stage"), [
    (499, None, 70, 0), (500, None, 70, 1), (999, None, 70, 1), (1000, None, 70, 2),
    (1500, None, 70, 2), (1501, None, 70, 3),
    (None, 2, 70, 0), (None, 3, 70, 1), (None, 4, 70, 1), (None, 5, 70, 2), (None, 7, 70, 2),
    (None, 8, 70, 3),
    # child (<= 50 kg): mL/kg/day 10 / 20 / 30
    (199, None, 20, 0), (200, None, 20, 1), (399, None, 20, 1), (400, None, 20, 2),
    (600, None, 20, 2), (601, None, 20, 3),
    (None, 3, 20, 0), (None, 4, 20, 1), (None, 6, 20, 1), (None, 7, 20, 2), (None, 10, 20, 2),
    (None, 11, 20, 3),
    (400, 12, 70, 0),  # volume wins over episodes when measured (policy [C])
    (499, None, 50.0, 0),  # exactly 50 kg takes child thresholds: 499/50 = 9.98 mL/kg < 10
    (600, None, 50.1, 1),  # above 50 kg, adult thresholds: 600 mL
])
def test_magic_lower_gi(volume: float | None, episodes: int | None, weight: float,
                        stage: int) -> None:
    assert score("magic_agvhd_lower_gi_stage", stool_ml_per_day=volume,
                 stool_episodes_per_day=episodes, weight_kg=weight)["stage"] == stage


def test_magic_lower_gi_stage4_and_missing_weight() -> None:
    assert score("magic_agvhd_lower_gi_stage", stool_ml_per_day=100,
                 severe_abdominal_pain_or_grossly_bloody_stool=True)["stage"] == 4
    with pytest.raises(InputError) as err:
        score("magic_agvhd_lower_gi_stage", stool_ml_per_day=800)
    assert err.value.field == "weight_kg"


@pytest.mark.parametrize(("stages", "grade"), [
    ({}, "0"),
    ({"skin_stage": 1}, "I"), ({"skin_stage": 2}, "I"), ({"skin_stage": 3}, "II"),
    ({"skin_stage": 4}, "IV"),
    ({"liver_stage": 1}, "II"), ({"liver_stage": 2}, "III"), ({"liver_stage": 3}, "III"),
    ({"liver_stage": 4}, "IV"),
    ({"upper_gi_stage": 1}, "II"), ({"skin_stage": 2, "upper_gi_stage": 1}, "II"),
    ({"lower_gi_stage": 1}, "II"), ({"lower_gi_stage": 2}, "III"), ({"lower_gi_stage": 3}, "III"),
    ({"lower_gi_stage": 4}, "IV"),
    ({"skin_stage": 3, "liver_stage": 1}, "II"), ({"skin_stage": 1, "lower_gi_stage": 2}, "III"),
])
def test_magic_grade(stages: dict[str, int], grade: str) -> None:
    assert score("magic_agvhd_grade", **stages)["grade"] == grade


def test_magic_upper_gi_has_two_states() -> None:
    with pytest.raises(InputError) as err:
        score("magic_agvhd_grade", upper_gi_stage=2)
    assert err.value.field == "upper_gi_stage"


@pytest.mark.parametrize(("stages", "keystone", "keystone_iv", "ibmtr"), [
    ({}, "0", "0", "0"),
    ({"skin_stage": 1}, "I", "I", "A"), ({"skin_stage": 2}, "I", "I", "B"),
    ({"skin_stage": 3}, "II", "II", "C"), ({"skin_stage": 4}, "IV", "IV", "D"),
    ({"liver_stage": 1}, "II", "II", "B"), ({"liver_stage": 2}, "III", "III", "B"),
    ({"liver_stage": 3}, "III", "III", "C"), ({"liver_stage": 4}, "IV", "IV", "D"),
    ({"gut_stage": 1}, "II", "II", "B"), ({"gut_stage": 2}, "III", "III", "B"),
    ({"gut_stage": 3}, "III", "III", "C"), ({"gut_stage": 4}, "III", "IV", "D"),
    ({"skin_stage": 1, "gut_stage": 1}, "II", "II", "B"),
])
def test_keystone_and_ibmtr(stages: dict[str, int], keystone: str, keystone_iv: str,
                            ibmtr: str) -> None:
    assert score("keystone_glucksberg_agvhd_grade", **stages)["grade"] == keystone
    assert score("keystone_glucksberg_agvhd_grade", **stages,
                 gut4_grade="IV")["grade"] == keystone_iv
    assert score("ibmtr_agvhd_severity_index", **stages)["index"] == ibmtr


_stage = st.integers(0, 4)


@given(_stage, _stage, st.integers(0, 1), _stage, st.sampled_from(["skin_stage", "liver_stage",
                                                                   "lower_gi_stage"]))
def test_worse_organ_stage_never_lowers_the_grade(skin: int, liver: int, ugi: int, lgi: int,
                                                  organ: str) -> None:
    base = {"skin_stage": skin, "liver_stage": liver, "upper_gi_stage": ugi,
            "lower_gi_stage": lgi}
    order = ["0", "I", "II", "III", "IV"]
    worse = dict(base, **{organ: min(4, base[organ] + 1)})
    g0 = order.index(score("magic_agvhd_grade", **base)["grade"])
    g1 = order.index(score("magic_agvhd_grade", **worse)["grade"])
    assert g1 >= g0
    three = {"skin_stage": skin, "liver_stage": liver, "gut_stage": lgi}
    key = {"lower_gi_stage": "gut_stage"}.get(organ, organ)
    worse3 = dict(three, **{key: min(4, three[key] + 1)})
    for name, field, scale in (("keystone_glucksberg_agvhd_grade", "grade", order),
                               ("ibmtr_agvhd_severity_index", "index", ["0", "A", "B", "C", "D"])):
        assert scale.index(score(name, **worse3)[field]) >= scale.index(score(name, **three)[field])


def test_max_grade_over_a_course_equals_grade_of_max_stages() -> None:
    course = [{"skin_stage": 3}, {"liver_stage": 2}, {"skin_stage": 1, "lower_gi_stage": 1}]
    order = ["0", "I", "II", "III", "IV"]
    best = max(order.index(score("magic_agvhd_grade", **c)["grade"]) for c in course)
    maxima = {k: max(c.get(k, 0) for c in course) for k in ("skin_stage", "liver_stage",
                                                             "lower_gi_stage")}
    assert order.index(score("magic_agvhd_grade", **maxima)["grade"]) == best


@pytest.mark.parametrize(("bsa", "scl", "value"), [
    (0, None, 0), (1, None, 1), (18, None, 1), (18.5, None, 2), (19, None, 2), (50, None, 2),
    (51, None, 3), (5, "superficial", 2), (60, "superficial", 3), (0, "deep", 3),
    (10, "none", 1)])
def test_nih_skin(bsa: float, scl: str | None, value: int) -> None:
    assert score("nih2014_cgvhd_skin_score", bsa_pct_involved=bsa,
                 sclerotic_features=scl)["score"] == value


@pytest.mark.parametrize(("fev1", "value"), [(100, 0), (80, 0), (79.9, 1), (60, 1), (59.9, 2),
                                             (40, 2), (39.9, 3), (39, 3), (10, 3)])
def test_nih_lung(fev1: float, value: int) -> None:
    assert score("nih2014_cgvhd_lung_score", fev1_pct_predicted=fev1)["score"] == value


@pytest.mark.parametrize(("inputs", "value"), [
    ({"total_bilirubin_mg_dl": 0.8, "bilirubin_uln_mg_dl": 1.2, "alt_x_uln": 2.9}, 0),
    ({"total_bilirubin_mg_dl": 0.8, "bilirubin_uln_mg_dl": 1.2, "alt_x_uln": 3}, 1),
    ({"total_bilirubin_mg_dl": 0.8, "bilirubin_uln_mg_dl": 1.2, "alt_x_uln": 5}, 1),
    ({"total_bilirubin_mg_dl": 0.8, "bilirubin_uln_mg_dl": 1.2, "alt_x_uln": 5.1}, 2),
    ({"total_bilirubin_mg_dl": 0.8, "bilirubin_uln_mg_dl": 1.2, "alk_phos_x_uln": 3}, 1),
    ({"total_bilirubin_mg_dl": 1.3, "bilirubin_uln_mg_dl": 1.2}, 2),
    ({"total_bilirubin_mg_dl": 3.0, "bilirubin_uln_mg_dl": 1.2}, 2),
    ({"total_bilirubin_mg_dl": 3.01, "bilirubin_uln_mg_dl": 1.2}, 3),
])
def test_nih_liver(inputs: dict[str, float], value: int) -> None:
    assert score("nih2014_cgvhd_liver_score", **inputs)["score"] == value


@pytest.mark.parametrize(("organs", "severity"), [
    ({}, "none"), ({"skin": 0, "mouth": 0}, "none"),
    ({"skin": 1}, "mild"), ({"skin": 1, "eyes": 1}, "mild"),
    ({"skin": 1, "eyes": 1, "mouth": 1}, "moderate"), ({"mouth": 2}, "moderate"),
    ({"lungs": 1}, "moderate"), ({"lungs": 2}, "severe"), ({"joints": 3}, "severe"),
    ({"liver": 2, "lungs": 0}, "moderate"), ({"skin": None, "mouth": 1}, "mild"),
])
def test_nih_global(organs: dict[str, int | None], severity: str) -> None:
    out = score("nih2014_cgvhd_global_severity", organ_scores=organs)
    assert out["global_severity"] == severity


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(InputError) as err:
        score("magic_agvhd_grade", skin_stage=2, colour=1)
    assert err.value.field == "colour"
    with pytest.raises(InputError) as err:
        score("magic_agvhd_liver_stage", total_bilirubin_mg_dl="high")
    assert err.value.field == "total_bilirubin_mg_dl"
    with pytest.raises(InputError) as err:
        score("nih2014_cgvhd_global_severity", organ_scores={"skin": 4})
    assert err.value.field == "organ_scores.skin"
    with pytest.raises(InputError):
        score("keystone_glucksberg_agvhd_grade", gut4_grade="V")
