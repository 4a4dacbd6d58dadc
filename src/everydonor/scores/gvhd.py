"""Acute GVHD staging and grading (MAGIC, Keystone, IBMTR) and chronic GVHD (NIH 2014).

Sources and confidence (``../shared/spec/clinical-scores.md`` §1-§2):

- MAGIC: Harris AC et al. Biol Blood Marrow Transplant 2016;22:4-10 — staging [S: NCI PDQ],
  grade [S3]; the grade is the maximum of per-organ contributions [C].
- Keystone: Przepiorka D et al. Bone Marrow Transplant 1995;15:825-828 — grade [M]; gut stage 4
  contributes grade III by default, IV as the named variant ``gut4_grade``.
- IBMTR Severity Index: Rowlings PA et al. Br J Haematol 1997;97:855-864 [S for A-D logic].
- NIH 2014: Jagasia MH et al. Biol Blood Marrow Transplant 2015;21:389-401 — organ scores [S3],
  global severity [S].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from everydonor.scores.base import Field, Score, band, contradiction

GRADES = ("0", "I", "II", "III", "IV")
INDEX = ("0", "A", "B", "C", "D")

MAGIC = "Harris AC et al. Biol Blood Marrow Transplant 2016;22:4-10 (MAGIC)"
KEYSTONE = "Przepiorka D et al. Bone Marrow Transplant 1995;15:825-828 (Keystone)"
IBMTR = "Rowlings PA et al. Br J Haematol 1997;97:855-864 (IBMTR Severity Index)"
NIH2014 = "Jagasia MH et al. Biol Blood Marrow Transplant 2015;21:389-401 (NIH 2014)"


def magic_skin_stage(i: Mapping[str, Any]) -> dict[str, Any]:
    bsa = i["rash_bsa_pct"] or 0.0
    if i["bullae_and_desquamation_gt5pct_bsa"]:
        if bsa <= 50:
            raise contradiction("magic_agvhd_skin_stage", "bullae_and_desquamation_gt5pct_bsa",
                                "stage 4 needs generalized erythroderma (rash_bsa_pct > 50)",
                                True)
        return {"stage": 4}
    if bsa == 0:
        return {"stage": 0}
    return {"stage": band(bsa, [(25, False), (50, True)], [1, 2, 3])}


def liver_stage(i: Mapping[str, Any]) -> dict[str, Any]:
    b = i["total_bilirubin_mg_dl"]
    if b is None:
        return {"stage": 0, "note": "no bilirubin given: stage 0"}
    return {"stage": band(b, [(2, False), (3, True), (6, True), (15, True)], [0, 1, 2, 3, 4])}


def magic_lower_gi_stage(i: Mapping[str, Any]) -> dict[str, Any]:
    if i["severe_abdominal_pain_or_grossly_bloody_stool"]:
        return {"stage": 4, "measure": "severe abdominal pain or grossly bloody stool"}
    volume, episodes, weight = (i["stool_ml_per_day"], i["stool_episodes_per_day"],
                                i["weight_kg"])
    if volume is None and episodes is None:
        return {"stage": 0, "measure": "none given"}
    if weight is None:
        raise contradiction("magic_agvhd_lower_gi_stage", "weight_kg",
                            "weight decides adult (> 50 kg) or child thresholds", None)
    adult = weight > 50
    if volume is not None:  # volume when measured (policy [C]); episodes only without it
        if adult:
            stage = band(volume, [(500, False), (1000, False), (1500, True)], [0, 1, 2, 3])
            return {"stage": stage, "measure": "volume (adult, mL/day)"}
        per_kg = volume / weight
        stage = band(per_kg, [(10, False), (20, False), (30, True)], [0, 1, 2, 3])
        return {"stage": stage, "measure": f"volume (child, {per_kg:.1f} mL/kg/day)"}
    assert episodes is not None
    if adult:
        stage = band(episodes, [(3, False), (4, True), (7, True)], [0, 1, 2, 3])
    else:
        stage = band(episodes, [(4, False), (6, True), (10, True)], [0, 1, 2, 3])
    return {"stage": stage, "measure": f"episodes ({'adult' if adult else 'child'})"}


_MAGIC_CONTRIB = {"skin": (0, 1, 1, 2, 4), "liver": (0, 2, 3, 3, 4), "upper_gi": (0, 2),
                  "lower_gi": (0, 2, 3, 3, 4)}


def magic_grade(i: Mapping[str, Any]) -> dict[str, Any]:
    stages = {"skin": i["skin_stage"] or 0, "liver": i["liver_stage"] or 0,
              "upper_gi": i["upper_gi_stage"] or 0, "lower_gi": i["lower_gi_stage"] or 0}
    contrib = {k: _MAGIC_CONTRIB[k][v] for k, v in stages.items()}
    grade = max(contrib.values())
    deciding = sorted(k for k, v in contrib.items() if v == grade and grade > 0)
    return {"grade": GRADES[grade], "deciding_organs": deciding}


def keystone_grade(i: Mapping[str, Any]) -> dict[str, Any]:
    gut4 = 4 if i["gut4_grade"] == "IV" else 3
    contrib = {"skin": (0, 1, 1, 2, 4)[i["skin_stage"] or 0],
               "liver": (0, 2, 3, 3, 4)[i["liver_stage"] or 0],
               "gut": (0, 2, 3, 3, gut4)[i["gut_stage"] or 0]}
    grade = max(contrib.values())
    return {"grade": GRADES[grade], "gut4_grade": i["gut4_grade"],
            "deciding_organs": sorted(k for k, v in contrib.items() if v == grade and grade)}


def ibmtr_index(i: Mapping[str, Any]) -> dict[str, Any]:
    contrib = {"skin": (0, 1, 2, 3, 4)[i["skin_stage"] or 0],
               "liver": (0, 2, 2, 3, 4)[i["liver_stage"] or 0],
               "gut": (0, 2, 2, 3, 4)[i["gut_stage"] or 0]}
    return {"index": INDEX[max(contrib.values())]}


def nih_skin(i: Mapping[str, Any]) -> dict[str, Any]:
    bsa = i["bsa_pct_involved"] or 0.0
    bsa_score = 0 if bsa == 0 else band(bsa, [(18, True), (50, True)], [1, 2, 3])
    scl = {"none": 0, "superficial": 2, "deep": 3}[i["sclerotic_features"]]
    return {"score": max(bsa_score, scl), "bsa_score": bsa_score, "sclerotic_score": scl}


def nih_lung(i: Mapping[str, Any]) -> dict[str, Any]:
    fev1 = i["fev1_pct_predicted"]
    if fev1 is None:
        return {"score": None, "note": "no FEV1: fall back to the symptom score and flag it [M]"}
    return {"score": band(fev1, [(40, False), (60, False), (80, False)], [3, 2, 1, 0])}


def nih_liver(i: Mapping[str, Any]) -> dict[str, Any]:
    bili, uln = i["total_bilirubin_mg_dl"], i["bilirubin_uln_mg_dl"]
    alt, ap = i["alt_x_uln"] or 0.0, i["alk_phos_x_uln"] or 0.0
    if bili is not None and bili > 3:
        return {"score": 3}
    if bili is not None and uln is None:
        raise contradiction("nih2014_cgvhd_liver_score", "bilirubin_uln_mg_dl",
                            "whether bilirubin is elevated needs the upper limit of normal", None)
    elevated = bili is not None and uln is not None and bili > uln
    if elevated or alt > 5:
        return {"score": 2}
    if alt >= 3 or ap >= 3:
        return {"score": 1}
    return {"score": 0}


def nih_global(i: Mapping[str, Any]) -> dict[str, Any]:
    given: Mapping[str, int | None] = i["organ_scores"] or {}  # not given: no organ involved
    scores = {k: v for k, v in given.items() if v is not None}
    lung = scores.get("lungs", 0) or 0
    involved = sorted(k for k, v in scores.items() if v >= 1)
    if any(v == 3 for v in scores.values()) or lung >= 2:
        sev = "severe"
    elif any(v == 2 for k, v in scores.items() if k != "lungs") or lung == 1 or \
            len(involved) >= 3:
        sev = "moderate"
    elif 1 <= len(involved) <= 2:
        sev = "mild"
    else:
        sev = "none"
    excluded = sorted(k for k, v in given.items() if v is None)
    return {"global_severity": sev, "involved_organs": involved,
            "excluded_organs": excluded}


#: NIH 2014 skin: "deep sclerotic features, 'hidebound' (unable to pinch)" (§2.1).
SCLEROTIC_SYNONYMS = {"hidebound": "deep"}


def _stage_field(name: str, hi: int = 4) -> Field:
    return Field(name, "int", 0, hi)


SCORES = (
    Score("magic_agvhd_skin_stage", "MAGIC acute GVHD skin stage", "MAGIC-2016",
          MAGIC + "; NCI PDQ staging table", "S",
          (Field("rash_bsa_pct", "number", 0, 100),
           Field("bullae_and_desquamation_gt5pct_bsa", "bool")), magic_skin_stage,
          notes=("active erythema only; stage 4 needs erythroderma plus bullae and desquamation",)),
    Score("magic_agvhd_liver_stage", "MAGIC acute GVHD liver stage", "MAGIC-2016",
          MAGIC + "; NCI PDQ", "S", (Field("total_bilirubin_mg_dl", "number", 0, 100),),
          liver_stage, notes=("no down-staging for other causes in MAGIC; 1 mg/dL = 17.1 umol/L",)),
    Score("magic_agvhd_lower_gi_stage", "MAGIC acute GVHD lower GI stage", "MAGIC-2016",
          MAGIC + "; NCI PDQ", "S",
          (Field("stool_ml_per_day", "number", 0, 20000),
           Field("stool_episodes_per_day", "int", 0, 100),
           Field("weight_kg", "number", 0.5, 400),
           Field("severe_abdominal_pain_or_grossly_bloody_stool", "bool")),
          magic_lower_gi_stage,
          notes=("adult thresholds above 50 kg; volume used when measured, episodes only "
                 "without it [C]",)),
    Score("magic_agvhd_grade", "MAGIC acute GVHD overall grade", "MAGIC-2016", MAGIC, "S3",
          (_stage_field("skin_stage"), _stage_field("liver_stage"),
           _stage_field("upper_gi_stage", 1), _stage_field("lower_gi_stage")), magic_grade),
    Score("keystone_glucksberg_agvhd_grade", "Modified Glucksberg (Keystone) grade",
          "Keystone-1995", KEYSTONE, "M",
          (_stage_field("skin_stage"), _stage_field("liver_stage"), _stage_field("gut_stage")),
          keystone_grade, parameters={"gut4_grade": ("III", ("III", "IV"))}),
    Score("ibmtr_agvhd_severity_index", "IBMTR Severity Index", "IBMTR-1997", IBMTR, "S",
          (_stage_field("skin_stage"), _stage_field("liver_stage"), _stage_field("gut_stage")),
          ibmtr_index),
    Score("nih2014_cgvhd_skin_score", "NIH 2014 chronic GVHD skin score", "NIH-2014", NIH2014,
          "S3", (Field("bsa_pct_involved", "number", 0, 100),
                 Field("sclerotic_features", "enum", choices=("none", "superficial", "deep"),
                       synonyms=SCLEROTIC_SYNONYMS, absent="none",
                       help="superficial: not hidebound (able to pinch); deep: hidebound "
                            "(unable to pinch), impaired mobility or ulceration")),
          nih_skin),
    Score("nih2014_cgvhd_lung_score", "NIH 2014 chronic GVHD lung score (FEV1)", "NIH-2014",
          NIH2014, "S3", (Field("fev1_pct_predicted", "number", 0, 200),), nih_lung),
    Score("nih2014_cgvhd_liver_score", "NIH 2014 chronic GVHD liver score", "NIH-2014",
          NIH2014, "S3", (Field("total_bilirubin_mg_dl", "number", 0, 100),
                          Field("bilirubin_uln_mg_dl", "number", 0.1, 10),
                          Field("alt_x_uln", "number", 0, 1000),
                          Field("alk_phos_x_uln", "number", 0, 1000)), nih_liver),
    Score("nih2014_cgvhd_global_severity", "NIH 2014 chronic GVHD global severity", "NIH-2014",
          NIH2014 + "; NCI Thesaurus C225388", "S",
          (Field("organ_scores", "organs",
                 help="organ -> score 0-3; an organ left out is not involved; null: excluded "
                      "(abnormality explained by a documented non-GVHD cause)"),),
          nih_global, notes=("organs with null scores are excluded (abnormality explained by a "
                             "documented non-GVHD cause); organs left out are not involved; "
                             "performance is not part of it",)),
)
