"""Registry endpoints derived from a transplant's follow-up (pure core): each endpoint on
hand-built courses whose answer follows from the written definitions (clinical-scores.md §7)."""

from __future__ import annotations

import pytest

from everydonor.errors import InputError
from everydonor.outcomes.endpoints import (
    ENDPOINTS,
    Assessment,
    Course,
    classify_donor_type,
    derive,
    parameters_of,
)

NAMES = ("os", "lfs", "grfs", "nrm", "relapse", "agvhd_2_4", "agvhd_3_4", "cgvhd", "neutrophil",
         "platelet")


def _pair(endpoint: str, course: Course, **params: object) -> tuple[float, int]:
    out = derive(endpoint, course, params or None)
    return out.time, out.event


def magic(day: int, **stages: int) -> Assessment:
    return Assessment(day, "magic_agvhd_grade", stages)


def nih(day: int, **organs: int) -> Assessment:
    return Assessment(day, "nih2014_cgvhd_global_severity", {"organ_scores": organs})


def test_every_endpoint_is_described_with_citation_and_confidence() -> None:
    assert tuple(ENDPOINTS) == NAMES
    for spec in ENDPOINTS.values():
        d = spec.describe()
        assert d["citation"] and d["confidence"] in ("S", "M", "C")
        assert d["cause_labels"]["1"]
        assert spec.competing == (spec.estimator == "Aalen-Johansen")
    assert ENDPOINTS["agvhd_2_4"].horizon_days == 100
    assert ENDPOINTS["agvhd_3_4"].horizon_days == 100
    assert ENDPOINTS["cgvhd"].horizon_days == 730
    assert ENDPOINTS["grfs"].horizon_days == 365
    assert "day 100" in ENDPOINTS["agvhd_2_4"].horizon_source


def test_relapse_then_death() -> None:
    c = Course(last_contact=300, relapses=((120, "haematologic"),), death=250)
    assert _pair("relapse", c) == (120, 1)
    assert _pair("nrm", c) == (120, 2)  # death after relapse is never NRM: relapse competes
    assert _pair("lfs", c) == (120, 1)
    assert _pair("os", c) == (250, 1)


def test_death_without_relapse_is_nrm() -> None:
    c = Course(last_contact=90, death=90)
    assert _pair("nrm", c) == (90, 1)
    assert _pair("relapse", c) == (90, 2)
    assert _pair("os", c) == (90, 1)
    assert _pair("lfs", c) == (90, 1)


def test_alive_censored_at_last_contact() -> None:
    c = Course(last_contact=412)
    for name in ("os", "lfs", "nrm", "relapse"):
        assert _pair(name, c) == (412, 0)
    assert _pair("agvhd_2_4", c) == (100, 0)  # censored at the horizon
    assert _pair("cgvhd", c) == (412, 0)
    assert _pair("grfs", c) == (365, 0)
    assert _pair("os", c, horizon_days=365) == (365, 0)


def test_relapse_types_parameter() -> None:
    c = Course(last_contact=500, relapses=((60, "molecular"), (200, "haematologic")))
    assert _pair("relapse", c) == (60, 1)
    assert _pair("relapse", c, relapse_types=("haematologic", "extramedullary")) == (200, 1)


def test_agvhd_by_day_100_graded_by_magic() -> None:
    # skin stage 3 contributes grade II (MAGIC); stage 4 grade IV; stage 1-2 grade I
    grade2 = Course(last_contact=400, agvhd=(magic(20, skin_stage=1), magic(35, skin_stage=3)))
    assert _pair("agvhd_2_4", grade2) == (35, 1)
    assert _pair("agvhd_3_4", grade2) == (100, 0)
    late = Course(last_contact=400, agvhd=(magic(120, skin_stage=4),))
    assert _pair("agvhd_2_4", late) == (100, 0)  # after day 100: not counted, censored at 100
    grade3 = Course(last_contact=400, agvhd=(magic(50, liver_stage=2),))
    assert _pair("agvhd_3_4", grade3) == (50, 1)


def test_agvhd_competing_relapse_and_death() -> None:
    died = Course(last_contact=60, death=60, agvhd=(magic(20, skin_stage=1),))
    assert _pair("agvhd_2_4", died) == (60, 3)  # death without aGVHD or relapse
    relapsed = Course(last_contact=300, relapses=((45, "haematologic"),), death=200)
    assert _pair("agvhd_2_4", relapsed) == (45, 2)
    same_day = Course(last_contact=30, death=30, agvhd=(magic(30, skin_stage=3),))
    assert _pair("agvhd_2_4", same_day) == (30, 1)  # the event before the competing one


def test_agvhd_ibmtr_index_is_not_a_grade() -> None:
    c = Course(last_contact=200, agvhd=(Assessment(40, "ibmtr_agvhd_severity_index",
                                                   {"skin_stage": 3}),))
    with pytest.raises(InputError, match="IBMTR"):
        derive("agvhd_2_4", c)


def test_keystone_grade_counts() -> None:
    c = Course(last_contact=200, agvhd=(Assessment(40, "keystone_glucksberg_agvhd_grade",
                                                   {"gut_stage": 2}),))
    assert _pair("agvhd_3_4", c) == (40, 1)  # Keystone gut stage 2: grade III


def test_cgvhd_by_two_years() -> None:
    mild = Course(last_contact=900, cgvhd=(nih(150, skin=0), nih(300, skin=1)))
    assert _pair("cgvhd", mild) == (300, 1)
    assert _pair("cgvhd", mild, cgvhd_min_severity="moderate") == (730, 0)
    moderate = Course(last_contact=900, cgvhd=(nih(400, skin=2),))
    assert _pair("cgvhd", moderate, cgvhd_min_severity="moderate") == (400, 1)
    late = Course(last_contact=1200, cgvhd=(nih(800, lungs=2),))
    assert _pair("cgvhd", late) == (730, 0)
    relapsed = Course(last_contact=500, relapses=((100, "haematologic"),), cgvhd=(nih(150, skin=1),))
    assert _pair("cgvhd", relapsed) == (100, 2)


def test_grfs() -> None:
    grade2 = Course(last_contact=500, agvhd=(magic(30, skin_stage=3),))
    assert _pair("grfs", grade2) == (365, 0)  # grade II is not a GRFS event (Holtan 2015)
    assert _pair("grfs", grade2, agvhd_min_grade="II") == (30, 1)
    grade3 = Course(last_contact=500, agvhd=(magic(30, liver_stage=2),))
    assert _pair("grfs", grade3) == (30, 1)
    mild_cgvhd = Course(last_contact=500, cgvhd=(nih(200, skin=1),))
    assert _pair("grfs", mild_cgvhd) == (365, 0)
    moderate = Course(last_contact=500, cgvhd=(nih(200, skin=2),))
    assert _pair("grfs", moderate) == (200, 1)
    assert _pair("grfs", Course(last_contact=100, death=100)) == (100, 1)


ANC = [[-2, 1.2], [3, 0.2], [7, 0.05], [10, 0.6], [11, 0.4], [12, 0.7], [13, 0.8], [14, 0.9]]


def test_neutrophil_three_consecutive_values_after_the_nadir() -> None:
    counts = (Assessment(15, "neutrophil_engraftment_day", {"anc_by_day_x10e9_per_l": ANC}),)
    c = Course(last_contact=100, neutrophil_counts=counts)
    # day 10 is followed by 0.4 on day 11: the first of three >= 0.5 is day 12 (ASTCT)
    assert _pair("neutrophil", c) == (12, 1)
    # counts split over two records are merged
    split = (Assessment(11, "neutrophil_engraftment_day", {"anc_by_day_x10e9_per_l": ANC[:5]}),
             Assessment(15, "neutrophil_engraftment_day", {"anc_by_day_x10e9_per_l": ANC[4:]}))
    assert _pair("neutrophil", Course(last_contact=100, neutrophil_counts=split)) == (12, 1)
    agree = Course(last_contact=100, neutrophil_counts=counts, anc_recorded=12)
    assert _pair("neutrophil", agree) == (12, 1)
    with pytest.raises(InputError, match="disagrees"):
        derive("neutrophil", Course(last_contact=100, neutrophil_counts=counts, anc_recorded=10))


def test_neutrophil_death_before_recovery_and_unknown() -> None:
    aplastic = [[1, 0.3], [5, 0.0], [9, 0.1], [12, 0.2]]
    counts = (Assessment(12, "neutrophil_engraftment_day", {"anc_by_day_x10e9_per_l": aplastic}),)
    assert _pair("neutrophil", Course(last_contact=12, death=12, neutrophil_counts=counts)) == \
        (12, 2)
    # alive after the counts end without recovery: what happened later is not known
    assert _pair("neutrophil", Course(last_contact=60, neutrophil_counts=counts)) == (12, 0)
    # a second HCT before recovery competes
    assert _pair("neutrophil", Course(last_contact=60, next_hct=10,
                                      neutrophil_counts=counts)) == (10, 3)
    assert _pair("neutrophil", Course(last_contact=80, anc_recorded=16)) == (16, 1)
    with pytest.raises(InputError, match="no ANC counts"):
        derive("neutrophil", Course(last_contact=80))
    never = (Assessment(9, "neutrophil_engraftment_day",
                        {"anc_by_day_x10e9_per_l": [[1, 0.9], [3, 0.8], [6, 1.1]]}),)
    with pytest.raises(InputError, match="not applicable"):
        derive("neutrophil", Course(last_contact=80, neutrophil_counts=never))
    conflict = (Assessment(9, "neutrophil_engraftment_day", {"anc_by_day_x10e9_per_l": [[3, 0.1]]}),
                Assessment(9, "neutrophil_engraftment_day", {"anc_by_day_x10e9_per_l": [[3, 0.2]]}))
    with pytest.raises(InputError, match="two different"):
        derive("neutrophil", Course(last_contact=80, neutrophil_counts=conflict))


def test_platelets_seven_days_without_transfusion() -> None:
    plt = [[5, 8.0], [15, 25.0], [16, 30.0], [17, 32.0], [19, 35.0], [20, 40.0], [21, 45.0]]
    counts = (Assessment(21, "platelet_engraftment_day",
                         {"platelets_by_day_x10e9_per_l": plt, "platelet_transfusion_days": [12]}),)
    c = Course(last_contact=100, platelet_counts=counts)
    # day 15 is 3 days after the transfusion on day 12 (< 7): first valid day is 19
    assert _pair("platelet", c) == (19, 1)
    assert _pair("platelet", c, threshold=50) == (21, 0)  # never 3 values >= 50: censored
    assert _pair("platelet", Course(last_contact=100, platelet_recorded=30)) == (30, 1)
    with pytest.raises(InputError, match="no platelet counts"):
        derive("platelet", Course(last_contact=100, platelet_recorded=30), {"threshold": 50})


def test_contradictions_and_parameters_are_refused() -> None:
    with pytest.raises(InputError, match="after the last contact"):
        derive("os", Course(last_contact=100, relapses=((150, "haematologic"),)))
    with pytest.raises(InputError, match="relapse after death"):
        derive("relapse", Course(last_contact=300, death=100, relapses=((150, "haematologic"),)))
    with pytest.raises(InputError, match="before day 0"):
        derive("os", Course(last_contact=100, death=-3))
    with pytest.raises(InputError, match="unknown endpoint"):
        derive("dfs", Course(last_contact=1))
    with pytest.raises(InputError, match="unknown parameter") as e:
        parameters_of("os", {"cgvhd_min_severity": "mild"})
    assert e.value.field == "cgvhd_min_severity"
    with pytest.raises(InputError, match="horizon"):
        parameters_of("os", {"horizon_days": 0})
    with pytest.raises(InputError, match="must be one of"):
        parameters_of("platelet", {"threshold": 30})


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "brother",
      "hla_relation": "identical"}, "matched sibling"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "sister",
      "hla_relation": "haploidentical"}, "haploidentical related"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "sister"}, "unknown"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "sister",
      "hla_relation": "undetermined"}, "unknown"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "father"},
     "haploidentical related"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "son"},
     "haploidentical related"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "uncle",
      "hla_relation": "identical"}, "other"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "cousin"}, "unknown"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "brother",
      "hla_relation": "not_haploidentical"}, "other"),
    ({"hct_type": "allo", "donor_role": "unrelated"}, "unrelated"),
    ({"hct_type": "allo", "donor_role": "unrelated", "graft": "UCB"}, "cord"),
    ({"hct_type": "allo", "graft": "umbilical cord blood"}, "cord"),
    ({"hct_type": "allo", "graft": "G-BM + G-PB"}, "unknown"),
    ({"hct_type": "allo"}, "unknown"),
    ({"hct_type": "allo", "donor_role": "relative", "relationship": "partner"}, "other"),
    ({"hct_type": "auto"}, "other"),
])
def test_classify_donor_type(kwargs: dict[str, str], expected: str) -> None:
    assert classify_donor_type(**kwargs) == expected
