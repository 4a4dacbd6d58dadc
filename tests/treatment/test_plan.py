"""Doses recomputed by hand, refusals, options, the calendar across month and year ends."""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import replace
from typing import Any

import pytest
import yaml

from everydonor.adapters.inputs.regimens import load_regimen, regimen_dir
from everydonor.case import parse_case
from everydonor.errors import InputError
from everydonor.treatment.body import BsaFormula, body_surface_area, ideal_body_weight
from everydonor.treatment.plan import plan_regimen
from everydonor.treatment.regimen import regimen_from_mapping

MAC = load_regimen("beijing-mac-malignancy")
DAY0 = dt.date(2027, 1, 3)


def patient(**fields: Any) -> Any:
    p = {"id": "P", "sex": "male", "age": 40, "weight_kg": 68.0, "height_cm": 172.0}
    p.update(fields)
    p = {k: v for k, v in p.items() if v is not None}
    donor = {"id": "D", "relationship": "brother", "age": 30, "weight_kg": 81.5}
    return parse_case({"format": "everydonor.case/1", "patient": p, "relatives": [donor]},
                      today=DAY0)


def doses(plan: dict[str, Any], line: str) -> list[tuple[int, float]]:
    return [(o["day"], o["dose"]) for o in plan["orders"] if o["line"] == line]


@pytest.mark.parametrize(("weight", "height"), [(68.0, 172.0), (50.0, 155.0), (95.0, 185.0),
                                                (120.0, 165.0), (41.5, 150.0)])
def test_every_dose_by_hand(weight: float, height: float) -> None:
    case = patient(weight_kg=weight, height_cm=height)
    plan = plan_regimen(MAC, case.patient, DAY0)
    bsa = round(math.sqrt(height * weight / 3600), 4)  # Mosteller, as the plan shows it
    assert plan["patient"]["bsa_m2"] == bsa and plan["patient"]["bsa_formula"] == "mosteller"
    r3 = lambda x: round(x, 6)  # noqa: E731  (the exact figure, without float noise)
    assert doses(plan, "cytarabine") == [(-10, r3(4 * 1000 * bsa)), (-9, r3(4 * 1000 * bsa))]
    assert doses(plan, "busulfan") == [(d, r3(0.8 * weight * 4)) for d in (-8, -7, -6)]
    bu = next(o for o in plan["orders"] if o["line"] == "busulfan")
    assert bu["per_administration"] == r3(0.8 * weight) and bu["administrations_per_day"] == 4
    assert doses(plan, "cyclophosphamide") == [(-5, r3(1.8 * 1000 * bsa)),
                                               (-4, r3(1.8 * 1000 * bsa))]
    assert doses(plan, "semustine") == [(-3, r3(250 * bsa))]
    assert doses(plan, "antithymocyte_globulin") == [(d, r3(2.5 * weight)) for d in
                                                     (-5, -4, -3, -2)]
    assert sum(dose for _, dose in doses(plan, "antithymocyte_globulin")) == pytest.approx(
        10 * weight)  # the 10 mg/kg total
    assert doses(plan, "ciclosporin") == [(-9, r3(2.5 * weight))]
    assert doses(plan, "mycophenolate_mofetil") == [(-9, 1000.0)]
    assert doses(plan, "methotrexate_d1") == [(1, r3(15 * bsa))]
    assert doses(plan, "methotrexate_d3_11") == [(d, r3(10 * bsa)) for d in (3, 6, 11)]
    for order in plan["orders"]:
        assert order["arithmetic"] and order["unit"] == "mg"


def test_contract_fields_and_the_spec_example() -> None:
    # The contract's example: BSA 1.8 m² -> cytarabine 7200 mg on day -10.
    case = patient(weight_kg=81.0, height_cm=144.0)  # Mosteller: sqrt(144*81/3600) = 1.8
    plan = plan_regimen(MAC, case.patient, dt.date(2026, 12, 15))
    assert plan["patient"]["bsa_m2"] == 1.8
    first = plan["orders"][0]
    assert {k: first[k] for k in ("day", "date", "drug", "dose", "unit", "basis", "route")} == {
        "day": -10, "date": "2026-12-05", "drug": "cytarabine", "dose": 7200.0, "unit": "mg",
        "basis": "4 g/m2/day", "route": "IV"}
    assert plan["regimen"]["id"] == "beijing-mac-malignancy" and plan["regimen"]["references"]
    assert first["to_verify"] and "to be verified by the centre" in first["status"]
    assert "cytarabine" in plan["to_verify"]


def test_dubois_and_published_mosteller_value() -> None:
    assert body_surface_area(80, 180).value == pytest.approx(2.0)
    w, h = 70.0, 175.0
    assert body_surface_area(w, h, BsaFormula.DUBOIS).value == pytest.approx(
        0.007184 * w ** 0.425 * h ** 0.725)
    plan = plan_regimen(MAC, patient(weight_kg=w, height_cm=h).patient, DAY0,
                        bsa_formula=BsaFormula.DUBOIS)
    bsa = round(0.007184 * w ** 0.425 * h ** 0.725, 4)
    assert plan["patient"]["bsa_formula"] == "dubois"
    assert doses(plan, "semustine") == [(-3, round(250 * bsa, 6))]
    # Devine: 50 kg + 2.3 kg per inch over 60 inches (men); 45.5 kg (women)
    assert ideal_body_weight(180, True).value == pytest.approx(50 + 2.3 * (180 / 2.54 - 60))
    assert ideal_body_weight(160, False).value == pytest.approx(45.5 + 2.3 * (160 / 2.54 - 60))


def test_dates_across_the_year_end_and_a_leap_day() -> None:
    plan = plan_regimen(MAC, patient().patient, dt.date(2027, 1, 3))
    by_line = {(o["line"], o["day"]): o for o in plan["orders"]}
    assert by_line[("cytarabine", -10)]["date"] == "2026-12-24"
    assert by_line[("cytarabine", -9)]["date"] == "2026-12-25"
    assert by_line[("busulfan", -6)]["date"] == "2026-12-28"
    assert by_line[("antithymocyte_globulin", -2)]["date"] == "2027-01-01"
    assert by_line[("ciclosporin", -9)]["until_date"] == "2027-04-13"  # day +100
    plan = plan_regimen(MAC, patient().patient, dt.date(2028, 2, 20))
    by_line = {(o["line"], o["day"]): o for o in plan["orders"]}
    assert by_line[("methotrexate_d3_11", 11)]["date"] == "2028-03-02"  # 2028-02-29 exists
    assert by_line[("methotrexate_d3_11", 6)]["date"] == "2028-02-26"
    dates = [e["date"] for e in plan["calendar"]]
    assert dates == sorted(dates)


def test_atg_option_7_5_needs_the_days_and_splits_the_total() -> None:
    with pytest.raises(InputError) as err:
        plan_regimen(MAC, patient().patient, DAY0, options={"atg_total_mg_per_kg": "7.5"})
    assert err.value.field == "--option atg_days"
    plan = plan_regimen(MAC, patient().patient, DAY0,
                        options={"atg_total_mg_per_kg": "7.5", "atg_days": "-4,-3,-2"})
    assert doses(plan, "antithymocyte_globulin") == [(d, 2.5 * 68) for d in (-4, -3, -2)]
    atg = next(o for o in plan["orders"] if o["line"] == "antithymocyte_globulin")
    assert "7.5 mg/kg total ÷ 3 days = 2.5 mg/kg/day" in atg["arithmetic"]
    assert plan["regimen"]["options"] == {"atg_total_mg_per_kg": "7.5"}
    plan = plan_regimen(MAC, patient().patient, DAY0,
                        options={"atg_total_mg_per_kg": "7.5", "atg_days": "-5,-4,-3,-2"})
    assert doses(plan, "antithymocyte_globulin") == [(d, 1.875 * 68) for d in (-5, -4, -3, -2)]
    for bad in ({"atg_total_mg_per_kg": "8"}, {"atg_total_mg_per_kg": "7.5", "atg_days": "x"},
                {"atg_total_mg_per_kg": "7.5", "atg_days": "-2,-3"}, {"colour": "red"}):
        with pytest.raises(InputError):
            plan_regimen(MAC, patient().patient, DAY0, options=bad)


@pytest.mark.parametrize(("fields", "field"), [
    ({"weight_kg": None}, "weight_kg"),
    ({"height_cm": None}, "height_cm"),
    ({"age": 12}, "age"),
    ({"age": None}, "age"),
])
def test_refusals_never_compute_from_a_default(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as err:
        plan_regimen(MAC, patient(**fields).patient, DAY0)
    assert err.value.person == "P" and err.value.field == field


def test_implausible_body_measures_are_refused_at_the_case() -> None:
    for fields in ({"weight_kg": 900}, {"height_cm": 20}, {"age": 150}, {"weight_kg": -1}):
        with pytest.raises(InputError) as err:
            patient(**fields)
        assert err.value.person == "P"


def test_template_regimen_is_refused() -> None:
    with pytest.raises(InputError, match="fludarabine, busulfan, cyclophosphamide unset"):
        plan_regimen(load_regimen("beijing-ric-elderly"), patient().patient, DAY0)


def test_weight_bases_caps_and_rounding_on_a_centre_line() -> None:
    data = yaml.safe_load((regimen_dir() / "beijing-mac-malignancy.yaml").read_text("utf-8"))
    data = copy.deepcopy(data)
    data["options"] = {}
    data["lines"] = [
        {"id": "bu_adj", "drug": "busulfan", "phase": "conditioning", "dose": 0.8,
         "dose_unit": "mg", "basis": "per_kg", "weight": "adjusted", "adjusted_factor": 0.25,
         "days": [-3], "route": "IV", "confidence": "M", "citation": "test"},
        {"id": "ibw", "drug": "x", "phase": "conditioning", "dose": 1, "dose_unit": "mg",
         "basis": "per_kg", "weight": "ideal", "days": [-2], "route": "IV", "confidence": "M",
         "citation": "test"},
        {"id": "capped", "drug": "y", "phase": "conditioning", "dose": 2, "dose_unit": "g",
         "basis": "per_m2", "max_single": 3000, "output_unit": "mg", "days": [-1],
         "route": "IV", "confidence": "S", "citation": "test"},
        {"id": "rounded", "drug": "z", "phase": "conditioning", "dose": 250, "dose_unit": "mg",
         "basis": "per_m2", "rounding": 40, "days": [0], "route": "PO", "confidence": "S",
         "citation": "test"},
    ]
    regimen = regimen_from_mapping(data)
    case = patient(weight_kg=110.0, height_cm=180.0)
    plan = plan_regimen(regimen, case.patient, DAY0)
    ibw = 50 + 2.3 * (180 / 2.54 - 60)
    adj = ibw + 0.25 * (110 - ibw)
    assert doses(plan, "bu_adj") == [(-3, round(0.8 * adj, 6))]
    assert doses(plan, "ibw") == [(-2, round(ibw, 6))]
    bsa = round(math.sqrt(180 * 110 / 3600), 4)
    assert 2000 * bsa > 3000 and doses(plan, "capped") == [(-1, 3000.0)]
    assert doses(plan, "rounded") == [(0, round(250 * bsa, 6))]  # the exact figure stays
    rounded = plan["orders"][3]
    assert rounded["dose_rounded"] == math.floor(250 * bsa / 40 + 0.5) * 40
    assert rounded["rounding"]["kind"] == "regimen" and rounded["rounding"]["step"] == 40
    assert "capped at the single-dose maximum" in plan["orders"][2]["arithmetic"]
    assert not plan["orders"][3]["to_verify"]
    with pytest.raises(InputError) as err:  # ideal weight needs the sex
        plan_regimen(regimen, patient(sex=None).patient, DAY0)
    assert err.value.field == "sex"


def test_donor_priming_targets_and_monitoring() -> None:
    case = patient()
    plan = plan_regimen(MAC, case.patient, DAY0, donor=case.person("D"), engraftment_day=13)
    g = plan["donor_plan"]["orders"]
    assert [(o["day"], o["dose"], o["unit"]) for o in g] == [(d, 5 * 81.5, "ug")
                                                             for d in (-3, -2, -1, 0, 1)]
    assert [p["day"] for p in plan["donor_plan"]["procedures"]] == [0, 1]
    mnc, cd34 = plan["graft_targets"]
    assert mnc["total_low"] == pytest.approx(6e8 * 68) and mnc["total_high"] == pytest.approx(
        8e8 * 68)
    assert cd34["total_low"] == pytest.approx(2e6 * 68)
    cmv = [m["day"] for m in plan["monitoring"] if m["test"].startswith("CMV")]
    assert cmv == list(range(13, 101, 7))
    mrd = [m["day"] for m in plan["monitoring"] if m["test"].startswith("bone-marrow MRD")]
    assert mrd == [30, 60, 90, 135, 180, 270, 365]
    without = plan_regimen(MAC, case.patient, DAY0)
    assert without["donor_plan"]["donor"] is None and not without["donor_plan"]["orders"]
    assert any("--engraftment-day" in n for n in without["notes"])
    with pytest.raises(InputError) as err:
        plan_regimen(MAC, case.patient, DAY0, donor=replace(case.person("D"), weight_kg=None))
    assert err.value.person == "D" and err.value.field == "weight_kg"


# Rounded by hand (halves up) from the exact figures: semustine 250 mg/m², cyclophosphamide
# 1.8 g/m², methotrexate 15 and 10 mg/m², busulfan 0.8 mg/kg × 4, ATG 2.5 mg/kg, cytarabine 4 g/m².
# Display rounding: 3 significant figures, whole mg from 100 mg up.
BY_HAND = {
    (68.0, 172.0): {"semustine": (450.625, 451), "cyclophosphamide": (3244.5, 3245),
                    "methotrexate_d1": (27.0375, 27.0), "methotrexate_d3_11": (18.025, 18.0),
                    "busulfan": (217.6, 217.6), "antithymocyte_globulin": (170, 170),
                    "cytarabine": (7210, 7210)},
    (50.0, 155.0): {"semustine": (366.8, 367), "cyclophosphamide": (2640.96, 2641),
                    "methotrexate_d1": (22.008, 22.0), "methotrexate_d3_11": (14.672, 14.7),
                    "busulfan": (160, 160), "antithymocyte_globulin": (125, 125),
                    "cytarabine": (5868.8, 5869)},
    (95.0, 185.0): {"semustine": (552.375, 552), "cyclophosphamide": (3977.1, 3977),
                    "methotrexate_d1": (33.1425, 33.1), "methotrexate_d3_11": (22.095, 22.1),
                    "busulfan": (304, 304), "antithymocyte_globulin": (237.5, 238),
                    "cytarabine": (8838, 8838)},
    (41.5, 150.0): {"semustine": (328.75, 329), "cyclophosphamide": (2367, 2367),
                    "methotrexate_d1": (19.725, 19.7), "methotrexate_d3_11": (13.15, 13.2),
                    "busulfan": (132.8, 132.8), "antithymocyte_globulin": (103.75, 104),
                    "cytarabine": (5260, 5260)},
}


@pytest.mark.parametrize("size", list(BY_HAND))
def test_display_rounding_by_hand(size: tuple[float, float]) -> None:
    weight, height = size
    plan = plan_regimen(MAC, patient(weight_kg=weight, height_cm=height).patient, DAY0)
    for line, (exact_dose, rounded) in BY_HAND[size].items():
        for o in (o for o in plan["orders"] if o["line"] == line):
            assert o["dose"] == pytest.approx(exact_dose, abs=1e-9), line  # exact, kept
            assert o["dose_rounded"] == pytest.approx(rounded, abs=1e-9), line
            assert o["rounding"]["kind"] == "display"
            assert o["rounding"]["text"].startswith(
                "display rounding — the pharmacy rounds to the product")
    bu = next(o for o in plan["orders"] if o["line"] == "busulfan")
    assert bu["per_administration_rounded"] == pytest.approx(round(0.8 * weight, 1))
    assert bu["dose_rounded"] == pytest.approx(bu["per_administration_rounded"] * 4)
    assert any(n.startswith("Doses are shown rounded") and "display rounding — the pharmacy "
               "rounds to the product" in n for n in plan["notes"])


def test_semustine_rounded_with_the_exact_figure_beside_it() -> None:
    plan = plan_regimen(MAC, patient().patient, DAY0)
    sem = next(o for o in plan["orders"] if o["line"] == "semustine")
    assert (sem["dose"], sem["dose_rounded"], sem["rounding"]["step"]) == (450.625, 451.0, 1.0)
    assert sem["arithmetic"].endswith("= 450.625 mg; display rounding to 1 mg: 451 mg")
    event = next(e for e in plan["calendar"] if e["what"].startswith("semustine"))
    assert event["what"] == "semustine PO 451 mg (exact 450.625 mg)"
    ara = next(e for e in plan["calendar"] if e["what"].startswith("cytarabine"))
    assert ara["what"] == "cytarabine IV 7210 mg (exact)"
    bu = next(e for e in plan["calendar"] if e["what"].startswith("busulfan"))
    assert bu["what"] == "busulfan IV 54.4 mg × 4 = 217.6 mg/day (exact)"


def _centre_regimen(lines: list[dict[str, Any]], **top: Any) -> Any:
    data = copy.deepcopy(yaml.safe_load((regimen_dir() / "beijing-mac-malignancy.yaml")
                                        .read_text("utf-8")))
    data["options"] = {}
    data["lines"] = lines
    data.update(top)
    return regimen_from_mapping(data)


def _line(**fields: Any) -> dict[str, Any]:
    line = {"id": "x", "drug": "semustine", "phase": "conditioning", "dose": 250,
            "dose_unit": "mg", "basis": "per_m2", "days": [-3], "route": "PO",
            "confidence": "S", "citation": "test"}
    line.update(fields)
    return line


def test_a_line_with_stated_rounding_rounds_as_stated() -> None:
    # 250 mg/m² × 1.8025 m² = 450.625 mg: to a multiple of 40 -> 440 (11.27 -> 11 × 40);
    # of 2.5 -> 450 (180.25 -> 180 × 2.5); of 50 -> 450; of 0.25 -> 450.75 (1802.5 -> 1803)
    for step, rounded in ((40, 440), (2.5, 450), (50, 450), (0.25, 450.75)):
        plan = plan_regimen(_centre_regimen([_line(rounding=step)]), patient().patient, DAY0)
        (o,) = plan["orders"]
        assert (o["dose"], o["dose_rounded"]) == (450.625, rounded), step
        assert o["rounding"] == {"kind": "regimen", "step": step,
                                 "text": f"rounded as the regimen line states: to a multiple "
                                         f"of {step:g} mg"}
        assert f"rounded to a multiple of {step:g} mg (as the regimen states)" in o["arithmetic"]
        assert any(n.startswith("Rounded as the regimen states") and "x" in n
                   for n in plan["notes"])
        assert not any(n.startswith("Doses are shown rounded") for n in plan["notes"])


def test_stated_rounding_never_goes_above_a_stated_maximum() -> None:
    # 450.625 mg capped at 450 (max_single); multiple of 40 nearest 450 is 440 (below): kept.
    # capped at 470: nearest multiple 480 would pass the maximum -> 440, said so.
    plan = plan_regimen(_centre_regimen([_line(rounding=40, max_single=470)]),
                        patient().patient, DAY0)
    (o,) = plan["orders"]
    assert (o["dose"], o["dose_rounded"]) == (450.625, 440)
    plan = plan_regimen(_centre_regimen([_line(dose=260, rounding=40, max_single=470)]),
                        patient().patient, DAY0)
    (o,) = plan["orders"]  # 260 × 1.8025 = 468.65 -> nearest 480 > 470 -> 440
    assert (o["dose"], o["dose_rounded"]) == (468.65, 440)
    assert "down to 440 mg to stay within the maximum" in o["rounding"]["text"]


def test_a_centre_sets_the_display_precision() -> None:
    line = _line(dose=15)  # 15 mg/m² × 1.8025 = 27.0375 mg
    for figures, rounded in ((3, 27.0), (4, 27.04), (2, 27.0), (5, 27.038)):
        regimen = _centre_regimen([line], display_significant_figures=figures)
        (o,) = plan_regimen(regimen, patient().patient, DAY0)["orders"]
        assert (o["dose"], o["dose_rounded"]) == (27.0375, rounded), figures
        assert f"({figures} significant figures;" in o["rounding"]["text"]
    for bad in (0, 7, True, "3", 2.5):
        with pytest.raises(InputError) as err:
            _centre_regimen([line], display_significant_figures=bad)
        assert err.value.field == "display_significant_figures"


def test_bundled_regimens_state_their_display_precision() -> None:
    for rid in ("beijing-mac-malignancy", "beijing-saa", "beijing-ric-elderly"):
        data = yaml.safe_load((regimen_dir() / f"{rid}.yaml").read_text("utf-8"))
        assert data["display_significant_figures"] == 3
        assert not any("rounding" in ln for ln in data["lines"])  # no rounding is invented
