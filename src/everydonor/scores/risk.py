"""Pre-transplant risk: HCT-CI and its items, HCT-CI/age, refined DRI, EBMT risk score, and
performance scales (``../shared/spec/clinical-scores.md`` §3-§6).

- HCT-CI: Sorror ML et al. Blood 2005;106:2912-2919 [S: NCI PDQ table, weights]; tiers of one
  organ (pulmonary, hepatic) count once, at the highest tier [C].
- HCT-CI/age: Sorror ML et al. J Clin Oncol 2014;32:3249-3256 [S: +1 at age >= 40; group labels M].
- Refined DRI: Armand P et al. Blood 2014;123:3664-3671 [M: disease and stage tables; combination
  matrix high confidence]. Unassignable cases return the CIBMTR "N/A" codes, never a guess.
- EBMT risk score: Gratwohl A. Bone Marrow Transplant 2012;47:749-756; Cancer 2009;115:4715-4726
  [S: factors and range; points and stage definitions M].
- Karnofsky [M, standard scale]; Lansky SB et al. Cancer 1987;60:1651-1656 [M]; NIH cGVHD
  performance score [S3].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from everydonor.scores.base import Field, Score, band, contradiction, missing_input

SORROR_2005 = "Sorror ML et al. Blood 2005;106:2912-2919 (HCT-CI)"
SORROR_2014 = "Sorror ML et al. J Clin Oncol 2014;32:3249-3256 (HCT-CI/age)"
ARMAND_2014 = "Armand P et al. Blood 2014;123:3664-3671 (refined DRI)"
GRATWOHL = ("Gratwohl A. Bone Marrow Transplant 2012;47:749-756; Gratwohl A et al. Cancer "
            "2009;115:4715-4726 (EBMT risk score)")

HCT_CI_WEIGHTS = {
    "arrhythmia": 1, "cardiac": 1, "ibd": 1, "diabetes": 1, "cerebrovascular": 1,
    "psychiatric": 1, "hepatic_mild": 1, "obesity": 1, "infection": 1, "rheumatologic": 2,
    "peptic_ulcer": 2, "renal_moderate_severe": 2, "pulmonary_moderate": 2,
    "prior_solid_tumor": 3, "heart_valve": 3, "pulmonary_severe": 3,
    "hepatic_moderate_severe": 3,
}
_TIERS = (("pulmonary_moderate", "pulmonary_severe"), ("hepatic_mild", "hepatic_moderate_severe"))


def hct_ci_group(score: int) -> str:
    return "low" if score == 0 else "intermediate" if score <= 2 else "high"


def hct_ci(i: Mapping[str, Any]) -> dict[str, Any]:
    present = {k for k in HCT_CI_WEIGHTS if i[k]}
    counted = set(present)
    notes = []
    for low, high in _TIERS:
        if low in counted and high in counted:
            counted.discard(low)
            notes.append(f"{low} and {high} are tiers of one organ: only {high} counts")
    score = sum(HCT_CI_WEIGHTS[k] for k in counted)
    return {"score": score, "risk_group": hct_ci_group(score), "items": sorted(counted),
            "variant": i["variant"], "notes": notes}


def item_pulmonary(i: Mapping[str, Any]) -> dict[str, Any]:
    values = [v for v in (i["dlco_pct"], i["fev1_pct"]) if v is not None]
    if not values:
        return {"points": 0, "item": None, "note": "no DLCO or FEV1 given"}
    worst = min(values)  # the worse of DLCO and FEV1, % predicted
    if worst <= 65:
        return {"points": 3, "item": "pulmonary_severe"}
    if worst <= 80:
        return {"points": 2, "item": "pulmonary_moderate"}
    return {"points": 0, "item": None}


def item_hepatic(i: Mapping[str, Any]) -> dict[str, Any]:
    bili = i["bilirubin_x_uln"] or 0.0
    enzyme = max(i["ast_x_uln"] or 0.0, i["alt_x_uln"] or 0.0)
    if bili > 1.5 or enzyme > 2.5:
        return {"points": 3, "item": "hepatic_moderate_severe"}
    if bili > 1 or enzyme > 1:
        return {"points": 1, "item": "hepatic_mild"}
    return {"points": 0, "item": None}


def item_renal(i: Mapping[str, Any]) -> dict[str, Any]:
    present = (i["creatinine_mg_dl"] or 0.0) > 2
    return {"points": 2 if present else 0, "present": present}


def item_cardiac(i: Mapping[str, Any]) -> dict[str, Any]:
    ef = i["ejection_fraction_pct"]
    present = ef is not None and ef <= 50
    return {"points": 1 if present else 0, "present": present}


def item_obesity(i: Mapping[str, Any]) -> dict[str, Any]:
    present = (i["bmi"] or 0.0) > 35
    return {"points": 1 if present else 0, "present": present}


def hct_ci_age(i: Mapping[str, Any]) -> dict[str, Any]:
    if i["hct_ci"] is None or i["age_years"] is None:
        raise contradiction("hct_ci_age", "hct_ci" if i["hct_ci"] is None else "age_years",
                            "both the HCT-CI and the age are needed", None)
    score = i["hct_ci"] + (1 if i["age_years"] >= 40 else 0)
    group = "0" if score == 0 else "1-2" if score <= 2 else "3-4" if score <= 4 else ">=5"
    return {"score": score, "group": group}


# Refined DRI ---------------------------------------------------------------------------------
ACUTE = ("AML", "ALL")
LYMPHOID = ("CLL", "multiple_myeloma", "hodgkin_lymphoma", "DLBCL", "mantle_cell_lymphoma",
            "indolent_b_nhl", "t_cell_nhl_nodal", "t_cell_nhl_extranodal")
DRI_DISEASES = (*ACUTE, "CML", "MDS", "MPN", *LYMPHOID)
STATUSES = ("CR1", "CR2", "CR3+", "PR", "primary_induction_failure", "relapse", "refractory",
            "stable_disease", "progressive_disease", "chronic_phase", "accelerated_phase",
            "blast_phase", "untreated")
#: Disease names as the refined DRI paper (Armand 2014, clinical-scores.md §4 [M]) and
#: clinicians write them, mapped onto the canonical values above; nothing here adds a category.
DRI_DISEASE_SYNONYMS = {
    "acute myeloid leukemia": "AML", "acute myeloid leukaemia": "AML",
    "acute lymphoblastic leukemia": "ALL", "acute lymphoblastic leukaemia": "ALL",
    "chronic lymphocytic leukemia": "CLL", "chronic lymphocytic leukaemia": "CLL",
    "chronic myeloid leukemia": "CML", "chronic myeloid leukaemia": "CML",
    "chronic myelogenous leukemia": "CML",
    "myelodysplastic syndrome": "MDS", "myelodysplastic syndromes": "MDS",
    "myeloproliferative neoplasm": "MPN", "myeloproliferative neoplasms": "MPN",
    "myeloma": "multiple_myeloma", "MM": "multiple_myeloma",
    "HL": "hodgkin_lymphoma", "Hodgkin's lymphoma": "hodgkin_lymphoma",
    "Hodgkin disease": "hodgkin_lymphoma", "Hodgkin's disease": "hodgkin_lymphoma",
    "diffuse large B-cell lymphoma": "DLBCL", "transformed indolent B-cell NHL": "DLBCL",
    "DLBCL/transformed indolent B-cell NHL": "DLBCL",
    "MCL": "mantle_cell_lymphoma",
    "indolent B-cell NHL": "indolent_b_nhl",
    "indolent B-cell lymphoma": "indolent_b_nhl", "follicular lymphoma": "indolent_b_nhl",
    "marginal zone lymphoma": "indolent_b_nhl", "lymphoplasmacytic lymphoma": "indolent_b_nhl",
    "T-cell lymphoma, nodal": "t_cell_nhl_nodal", "nodal T-cell NHL": "t_cell_nhl_nodal",
    "nodal T-cell lymphoma": "t_cell_nhl_nodal", "PTCL-NOS": "t_cell_nhl_nodal",
    "AITL": "t_cell_nhl_nodal", "ALCL": "t_cell_nhl_nodal",
    "T-cell lymphoma, extranodal": "t_cell_nhl_extranodal",
    "extranodal T-cell NHL": "t_cell_nhl_extranodal",
    "extranodal T-cell lymphoma": "t_cell_nhl_extranodal",
}
#: Names that do not say which DRI category they are: refused, naming the candidates.
_T_NHL = ("t_cell_nhl_nodal", "t_cell_nhl_extranodal")
_B_NHL = ("indolent_b_nhl", "DLBCL", "mantle_cell_lymphoma")
DRI_DISEASE_AMBIGUOUS = {
    "T-cell lymphoma": _T_NHL, "T-cell NHL": _T_NHL, "T-NHL": _T_NHL, "PTCL": _T_NHL,
    "B-cell NHL": _B_NHL, "B-NHL": _B_NHL, "B-cell lymphoma": _B_NHL,
    "NHL": (*_B_NHL, *_T_NHL), "non-Hodgkin lymphoma": (*_B_NHL, *_T_NHL),
    "lymphoma": ("hodgkin_lymphoma", *_B_NHL, *_T_NHL),
    "acute leukemia": ACUTE, "acute leukaemia": ACUTE,
    "leukemia": ("AML", "ALL", "CLL", "CML"), "leukaemia": ("AML", "ALL", "CLL", "CML"),
}
STATUS_SYNONYMS = {
    "CR3": "CR3+", "CR4": "CR3+", ">=CR3": "CR3+", "\u2265CR3": "CR3+", "CR>=3": "CR3+",
    "CR\u22653": "CR3+",
    "first complete remission": "CR1", "second complete remission": "CR2",
    "partial remission": "PR", "partial response": "PR",
    "PIF": "primary_induction_failure", "induction failure": "primary_induction_failure",
    "active relapse": "relapse", "chemorefractory": "refractory",
    "SD": "stable_disease", "PD": "progressive_disease",
    "CP": "chronic_phase", "AP": "accelerated_phase", "BP": "blast_phase",
    "blast crisis": "blast_phase", "BC": "blast_phase",
}
STATUS_AMBIGUOUS = {"CR": ("CR1", "CR2", "CR3+"), "complete remission": ("CR1", "CR2", "CR3+")}
NA_NONMALIGNANT = "N/A - non-malignant indication"
NA_UNCLASSIFIABLE = "N/A - disease not classifiable"
TBD_CYTO = "TBD cytogenetics"
MISSING_STATUS = "Missing disease status"


def dri_stage(i: Mapping[str, Any]) -> dict[str, Any]:
    d, s, blasts = i["disease"], i["status_at_hct"], i["marrow_blasts_pct_at_hct"]
    if d is None:
        return {"stage_risk": NA_UNCLASSIFIABLE}
    if d == "non_malignant":
        return {"stage_risk": NA_NONMALIGNANT}
    if d == "MDS":
        if s in ("CR1", "CR2", "CR3+"):
            return {"stage_risk": "low"}
        if blasts is None:
            return {"stage_risk": MISSING_STATUS}
        return {"stage_risk": "low" if blasts < 5 else "high"}
    if d == "MPN":
        return {"stage_risk": NA_UNCLASSIFIABLE,
                "note": "MPN stage rules are not yet verified (clinical-scores.md §4 [M])"}
    if s is None:
        return {"stage_risk": MISSING_STATUS}
    if d == "CML":
        if s == "chronic_phase":
            return {"stage_risk": "low"}
        if s in ("accelerated_phase", "blast_phase"):
            return {"stage_risk": "high"}
    elif d in ACUTE:
        if s in ("CR1", "CR2", "CR3+"):
            return {"stage_risk": "low"}
        if s in ("primary_induction_failure", "relapse", "refractory"):
            return {"stage_risk": "high"}
    else:  # lymphoma, myeloma, CLL
        if s in ("CR1", "CR2", "CR3+", "PR"):
            return {"stage_risk": "low"}
        if s in ("refractory", "stable_disease", "progressive_disease", "relapse"):
            return {"stage_risk": "high"}
    raise contradiction("refined_dri_stage", "status_at_hct", f"status {s} does not apply to {d}",
                        s)


#: Disease risk where it does not depend on cytogenetics (Armand 2014 [M]).
FIXED_DISEASE_RISK = {"CLL": "low", "CML": "low", "indolent_b_nhl": "low", "MPN": "intermediate",
                      "multiple_myeloma": "intermediate", "hodgkin_lymphoma": "intermediate",
                      "DLBCL": "intermediate", "mantle_cell_lymphoma": "intermediate",
                      "t_cell_nhl_nodal": "intermediate", "ALL": "intermediate",
                      "t_cell_nhl_extranodal": "high"}
_DRI = {("low", "low"): "low", ("low", "high"): "intermediate",
        ("intermediate", "low"): "intermediate", ("intermediate", "high"): "high",
        ("high", "low"): "high", ("high", "high"): "very_high"}


def refined_dri(i: Mapping[str, Any]) -> dict[str, Any]:
    group, risk, stage = i["disease_group"], i["disease_risk"], i["stage_risk"]
    if group == "non_malignant":
        return {"dri": NA_NONMALIGNANT}
    if group is None:
        return {"dri": NA_UNCLASSIFIABLE}
    fixed = FIXED_DISEASE_RISK.get(group)
    if risk is None:
        if fixed is None:  # AML and MDS: the risk is in the cytogenetics
            return {"dri": TBD_CYTO}
        risk = fixed
    elif fixed is not None and risk != fixed:
        raise contradiction("refined_dri", "disease_risk", f"{group} is {fixed} risk", risk)
    if stage is None:
        return {"dri": MISSING_STATUS}
    dri = _DRI[(risk, stage)]
    return {"dri": dri, "dri_3_group": "high_or_very_high" if dri in ("high", "very_high")
            else dri, "disease_risk": risk}


# EBMT risk score ----------------------------------------------------------------------------
DONORS = ("hla_identical_sibling", "syngeneic", "unrelated", "other_related", "autologous")
DONOR_SYNONYMS = {
    "MSD": "hla_identical_sibling", "matched sibling": "hla_identical_sibling",
    "matched sibling donor": "hla_identical_sibling", "identical twin": "syngeneic",
    "MUD": "unrelated", "MMUD": "unrelated", "URD": "unrelated", "unrelated donor": "unrelated",
    "haploidentical": "other_related", "haplo": "other_related",
    "mismatched related": "other_related", "MMRD": "other_related", "auto": "autologous",
}
#: "MRD" is written for a matched sibling and for a matched related donor of any kind.
DONOR_AMBIGUOUS = {"MRD": ("hla_identical_sibling", "other_related"),
                   "sibling": ("hla_identical_sibling", "other_related"),
                   "related": ("hla_identical_sibling", "other_related")}
EBMT_STAGE_SYNONYMS = {"N/A": "not_applicable", "NA": "not_applicable"}


def ebmt_score(i: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("age", "stage", "months_dx_to_tx", "donor") if i[k] is None]
    if missing:
        raise missing_input("ebmt_risk_score", missing[0])
    age_pts = band(i["age"], [(20, False), (40, True)], [0, 1, 2])
    stage_pts = {"early": 0, "intermediate": 1, "late": 2, "not_applicable": 0}[i["stage"]]
    time_pts = 1 if i["months_dx_to_tx"] > 12 else 0
    notes = []
    if i["in_cr1"] and i["cr1_time_rule"]:
        time_pts = 0
        notes.append("time from diagnosis not applied in CR1 [M]")
    auto = i["donor"] == "autologous"
    donor_pts = 0 if auto or i["donor"] in ("hla_identical_sibling", "syngeneic") else 1
    sex_pts = 0 if auto else int(bool(i["donor_female"] and i["recipient_male"]))
    if auto:
        notes.append("autologous: donor and sex factors do not apply (range 0-5)")
    score = age_pts + stage_pts + time_pts + donor_pts + sex_pts
    return {"score": score, "points": {"age": age_pts, "stage": stage_pts, "time": time_pts,
                                       "donor": donor_pts, "sex": sex_pts}, "notes": notes}


# Performance ---------------------------------------------------------------------------------
KPS = {100: "normal, no complaints, no evidence of disease",
       90: "able to carry on normal activity; minor signs or symptoms",
       80: "normal activity with effort; some signs or symptoms",
       70: "cares for self; unable to carry on normal activity or active work",
       60: "needs occasional assistance, but can care for most personal needs",
       50: "needs considerable assistance and frequent medical care",
       40: "disabled; needs special care and assistance",
       30: "severely disabled; hospitalisation indicated, although death not imminent",
       20: "very sick; hospitalisation and active supportive treatment necessary",
       10: "moribund; fatal processes progressing rapidly", 0: "dead"}
LPS = {100: "fully active, normal", 90: "minor restrictions in physically strenuous activity",
       80: "active, but tires more quickly",
       70: "both greater restriction of, and less time spent in, play activity",
       60: "up and around, but minimal active play; keeps busy with quieter activities",
       50: "gets dressed, but lies around much of the day; no active play; able to take part in "
           "all quiet play and activities",
       40: "mostly in bed; takes part in quiet activities",
       30: "in bed; needs assistance even for quiet play",
       20: "often sleeping; play entirely limited to very passive activities",
       10: "no play; does not get out of bed", 0: "unresponsive"}


def nih_performance(value: int) -> int:
    return 0 if value == 100 else 1 if value >= 80 else 2 if value >= 60 else 3


def karnofsky(i: Mapping[str, Any]) -> dict[str, Any]:
    k = i["kps"]
    if k is None or k % 10:
        return {"valid": False, "category": None, "description": None,
                "note": "only multiples of 10 are valid; not rounded"}
    category = None if k == 0 else "A" if k >= 80 else "B" if k >= 50 else "C"
    return {"valid": True, "category": category, "description": KPS[k],
            "nih_cgvhd_performance_score": nih_performance(k) if k else None}


def lansky(i: Mapping[str, Any]) -> dict[str, Any]:
    v = i["lps"]
    if v is None or v % 10:
        return {"valid": False, "description": None,
                "note": "only multiples of 10 are valid; not rounded"}
    return {"valid": True, "description": LPS[v],
            "nih_cgvhd_performance_score": nih_performance(v) if v else None}


def scale_selection(i: Mapping[str, Any]) -> dict[str, Any]:
    if i["age_years"] is None:
        raise contradiction("performance_scale_selection", "age_years", "age is required", None)
    return {"scale": "lansky" if i["age_years"] < 16 else "karnofsky"}


def _bools(*names: str) -> tuple[Field, ...]:
    return tuple(Field(n, "bool") for n in names)


SCORES = (
    Score("hct_ci", "Hematopoietic cell transplantation-specific comorbidity index",
          "HCT-CI-2005", SORROR_2005 + "; NCI PDQ table", "S", _bools(*HCT_CI_WEIGHTS), hct_ci,
          parameters={"variant": ("sorror2005", ("sorror2005", "cibmtr_form"))},
          notes=("0 low, 1-2 intermediate, >= 3 high",)),
    Score("hct_ci_item_pulmonary", "HCT-CI pulmonary item from DLCO/FEV1", "HCT-CI-2005",
          SORROR_2005, "S", (Field("dlco_pct", "number", 0, 200),
                             Field("fev1_pct", "number", 0, 200)), item_pulmonary),
    Score("hct_ci_item_hepatic", "HCT-CI hepatic item from laboratory values", "HCT-CI-2005",
          SORROR_2005, "S", (Field("bilirubin_x_uln", "number", 0, 100),
                             Field("ast_x_uln", "number", 0, 1000),
                             Field("alt_x_uln", "number", 0, 1000)), item_hepatic),
    Score("hct_ci_item_renal", "HCT-CI renal item", "HCT-CI-2005", SORROR_2005, "S",
          (Field("creatinine_mg_dl", "number", 0, 30),), item_renal),
    Score("hct_ci_item_cardiac", "HCT-CI cardiac item (ejection fraction)", "HCT-CI-2005",
          SORROR_2005, "S", (Field("ejection_fraction_pct", "number", 0, 100),), item_cardiac),
    Score("hct_ci_item_obesity", "HCT-CI obesity item (BMI)", "HCT-CI-2005", SORROR_2005, "S",
          (Field("bmi", "number", 5, 120),), item_obesity),
    Score("hct_ci_age", "HCT-CI/age composite", "HCT-CI-age-2014", SORROR_2014, "S",
          (Field("hct_ci", "int", 0, 40), Field("age_years", "number", 0, 120)), hct_ci_age,
          notes=("age >= 40 adds 1 point [S]; group labels [M]",)),
    Score("refined_dri_stage", "Refined DRI stage risk", "DRI-R-2014", ARMAND_2014, "M",
          (Field("disease", "enum", choices=(*DRI_DISEASES, "non_malignant"),
                 synonyms=DRI_DISEASE_SYNONYMS, ambiguous=DRI_DISEASE_AMBIGUOUS),
           Field("status_at_hct", "enum", choices=STATUSES, synonyms=STATUS_SYNONYMS,
                 ambiguous=STATUS_AMBIGUOUS),
           Field("marrow_blasts_pct_at_hct", "number", 0, 100)), dri_stage),
    Score("refined_dri", "Refined Disease Risk Index", "DRI-R-2014", ARMAND_2014, "M",
          (Field("disease_group", "enum", choices=(*DRI_DISEASES, "non_malignant"),
                 synonyms=DRI_DISEASE_SYNONYMS, ambiguous=DRI_DISEASE_AMBIGUOUS),
           Field("disease_risk", "enum", choices=("low", "intermediate", "high")),
           Field("stage_risk", "enum", choices=("low", "high"))), refined_dri),
    Score("ebmt_risk_score", "EBMT (Gratwohl) risk score", "EBMT-2009", GRATWOHL, "M",
          (Field("age", "number", 0, 120),
           Field("stage", "enum", choices=("early", "intermediate", "late", "not_applicable"),
                 synonyms=EBMT_STAGE_SYNONYMS,
                 help="not_applicable: severe aplastic anaemia, scored 0 [M]"),
           Field("months_dx_to_tx", "number", 0, 1200), Field("in_cr1", "bool"),
           Field("donor", "enum", choices=DONORS, synonyms=DONOR_SYNONYMS,
                 ambiguous=DONOR_AMBIGUOUS,
                 help="0 points: HLA-identical sibling or syngeneic; 1: any other donor"),
           Field("donor_female", "bool"),
           Field("recipient_male", "bool")), ebmt_score,
          parameters={"cr1_time_rule": (True, (True, False))},
          notes=("age 20 and 40 score 1; exactly 12 months scores 0 [C]",)),
    Score("karnofsky", "Karnofsky performance status", "KPS", "Karnofsky scale (standard)", "M",
          (Field("kps", "int", 0, 100),), karnofsky),
    Score("lansky", "Lansky play-performance scale", "LPS-1987",
          "Lansky SB et al. Cancer 1987;60:1651-1656", "M", (Field("lps", "int", 0, 100),),
          lansky),
    Score("performance_scale_selection", "Which performance scale", "CIBMTR",
          "CIBMTR convention: Lansky below 16 years, Karnofsky from 16", "M",
          (Field("age_years", "number", 0, 120),), scale_selection),
)
