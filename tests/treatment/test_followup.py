"""MRD results over time → the protocol's recommendation (clinical-beijing.md §3)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from everydonor.case import parse_case
from everydonor.errors import InputError
from everydonor.treatment.followup import assess_follow_up

DAY0 = dt.date(2026, 12, 15)


def run(mrd: list[dict[str, Any]], age: float = 34, **flags: Any) -> dict[str, Any]:
    case = parse_case({"format": "everydonor.case/1",
                       "patient": {"id": "P", "age": age, "weight_kg": 68},
                       "follow_up": {"mrd": mrd, **flags}}, today=DAY0)
    return assess_follow_up(case.patient, DAY0, case.follow_up)


def actions(doc: dict[str, Any]) -> str:
    return " | ".join(r["action"] for r in doc["recommendations"])


FEASIBLE = {"active_gvhd": False, "uncontrolled_infection": False, "dli_donor_available": True}


def test_wt1_cutoffs_0_6_and_1_8_for_t821() -> None:
    sample = [{"date": "2027-01-14", "wt1_pct": 1.2}]
    assert run(sample)["results"][0]["wt1_positive"] is True
    assert run(sample, genetics=["t(8;21)"])["results"][0]["wt1_positive"] is False
    assert run([{"date": "2027-01-14", "wt1_pct": 0.6}])["results"][0]["wt1_positive"] is False


def test_same_sample_double_positive_is_mrdco_and_gives_modified_dli() -> None:
    doc = run([{"date": "2027-01-14", "wt1_pct": 0.9, "flow": "positive"}], **FEASIBLE)
    assert doc["mrd_status"] == "positive"
    text = actions(doc)
    assert "Taper immunosuppression" in text and "Modified DLI" in text
    assert "6.8×10^9 MNC for 68 kg" in text  # 1×10^8/kg × 68 kg
    assert "If the team reads" not in text
    dli = next(r for r in doc["recommendations"] if "Modified DLI" in r["action"])
    assert dli["to_verify"] and dli["confidence"] == "M"


def test_consecutive_positives_by_different_assays_are_ambiguous() -> None:
    doc = run([{"date": "2027-01-14", "wt1_pct": 0.9, "flow": "negative"},
               {"date": "2027-02-13", "wt1_pct": 0.3, "flow": "positive"}], **FEASIBLE)
    assert doc["mrd_status"] == "ambiguous"
    assert doc["mrd_definition"]["any_assay"] and not doc["mrd_definition"]["same_assay"]
    assert "If the team reads the results as MRDco+" in actions(doc)
    assert any("does not say which applies" in n for n in doc["notes"])


def test_consecutive_positives_by_the_same_assay_are_positive() -> None:
    doc = run([{"date": "2027-01-14", "wt1_pct": 0.9}, {"date": "2027-02-13", "wt1_pct": 1.4}],
              **FEASIBLE)
    assert doc["mrd_status"] == "positive"


def test_a_single_positive_asks_for_a_retest() -> None:
    doc = run([{"date": "2027-01-14", "wt1_pct": 0.2, "flow": "negative"},
               {"date": "2027-02-13", "wt1_pct": 0.9, "flow": "negative"}])
    assert doc["mrd_status"] == "negative"
    assert "re-test promptly" in actions(doc)


def test_no_dli_when_gvhd_active_then_interferon_by_age() -> None:
    pos = [{"date": "2027-01-14", "wt1_pct": 0.9, "flow": "positive"}]
    doc = run(pos, active_gvhd=True, uncontrolled_infection=False, dli_donor_available=True)
    text = actions(doc)
    assert "Modified DLI" not in text and "interferon" in text and "3 MIU per injection" in text
    child = run(pos, age=12, active_gvhd=True, uncontrolled_infection=False,
                dli_donor_available=True)
    assert "3 MIU/m² per injection" in actions(child)
    unknown = run(pos)
    assert "DLI feasibility not assessable" in actions(unknown)


def test_relapse_genetics_window_and_bad_input() -> None:
    doc = run([{"date": "2027-01-14", "wt1_pct": 0.1}], haematological_relapse=True)
    assert "outside this tool's scope" in actions(doc)
    doc = run([{"date": "2027-01-14", "wt1_pct": 0.9, "flow": "positive"}],
              genetics=["FLT3-ITD", "Ph+"], **FEASIBLE)
    assert "sorafenib" in actions(doc) and "tyrosine-kinase inhibitor" in actions(doc)
    late = run([{"date": "2028-01-20", "wt1_pct": 0.9}, {"date": "2028-02-20", "wt1_pct": 0.9}])
    assert late["mrd_status"] == "negative"  # MRDco+ is defined within the first year
    assert any("outside the first year" in n for n in late["notes"])
    assert run([])["mrd_status"] == "not_assessable"
    for bad, field in ((["x"], "follow_up.mrd[0]"),
                       ([{"date": "2026-12-01", "wt1_pct": 1}], "follow_up.mrd[0].date"),
                       ([{"date": "2027-01-14", "wt1_pct": -1}], "follow_up.mrd[0].wt1_pct"),
                       ([{"date": "2027-01-14", "flow": "weak"}], "follow_up.mrd[0].flow"),
                       ([{"date": "2027-01-14"}], "follow_up.mrd[0]")):
        with pytest.raises(InputError) as err:
            run(bad)
        assert err.value.field == field and err.value.person == "P"
    with pytest.raises(InputError):
        run([], genetics=["t(9;22)x"])
