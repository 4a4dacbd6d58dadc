"""Event definitions: engraftment, graft failure, chimerism, CMV, and the coding of relapse, NRM,
LFS, OS and GRFS (``../shared/spec/clinical-scores.md`` §7).

- Neutrophil and platelet recovery: CIBMTR Forms Instruction Manual; Kharfan-Dabaja MA et al.
  Transplant Cell Ther 2021;27:642-649 (ASTCT), endorsed by Sureda A et al. Bone Marrow Transplant
  2024;59:832-837 [S].
- Chimerism categories: > 95 % full [S]; 5-95 % mixed [M]; < 5 % loss [M].
- CMV: Ljungman P et al. Clin Infect Dis 2017;64:87-91; Chemaly RF et al. Clin Infect Dis
  2019;68:1420-1426 [M for all wording].
- Outcome coding: standard CIBMTR/EBMT usage [M]; GRFS: Holtan SG et al. Blood
  2015;125:1333-1338 [S].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from everydonor.scores.base import Field, Score, contradiction

ASTCT = ("Kharfan-Dabaja MA et al. Transplant Cell Ther 2021;27:642-649 (ASTCT); Sureda A et al. "
         "Bone Marrow Transplant 2024;59:832-837; CIBMTR Forms Instruction Manual")
CMV_DEFS = ("Ljungman P et al. Clin Infect Dis 2017;64:87-91; Chemaly RF et al. Clin Infect Dis "
            "2019;68:1420-1426")
HOLTAN = "Holtan SG et al. Blood 2015;125:1333-1338 (GRFS)"
OUTCOMES = "CIBMTR/EBMT standard coding (Iacobelli S, Bone Marrow Transplant 2013;48:S1-S37)"


def _three_consecutive(values: Sequence[tuple[int, float]], start: int, ok: Any) -> int | None:
    for j in range(start, len(values) - 2):
        if all(ok(values[j + k]) for k in range(3)):
            return j
    return None


def neutrophil_day(i: Mapping[str, Any]) -> dict[str, Any]:
    anc = i["anc_by_day_x10e9_per_l"] or []
    if not anc:
        return {"day": None, "status": "no_values"}
    if all(v >= 0.5 for _, v in anc):
        return {"day": None, "status": "not_applicable_never_below_threshold"}
    nadir = min(range(len(anc)), key=lambda k: (anc[k][1], k))
    j = _three_consecutive(anc, nadir, lambda p: p[1] >= 0.5)
    if j is None:
        return {"day": None, "status": "not_engrafted"}
    return {"day": anc[j][0], "status": "engrafted"}


def platelet_day(i: Mapping[str, Any]) -> dict[str, Any]:
    plt = i["platelets_by_day_x10e9_per_l"] or []
    tx = i["platelet_transfusion_days"] or []
    threshold = float(i["threshold"])
    if not plt:
        return {"day": None, "status": "no_values", "threshold": i["threshold"]}
    if all(v >= threshold for _, v in plt) and not tx:
        return {"day": None, "status": "not_applicable_never_below_threshold",
                "threshold": i["threshold"]}
    first_low = next((k for k, (_, v) in enumerate(plt) if v < threshold), 0)

    def valid(j: int) -> bool:
        day, third = plt[j][0], plt[j + 2][0]
        before = [t for t in tx if t <= day]
        if before and day - max(before) < 7:
            return False
        return not any(day < t <= third for t in tx)

    for j in range(first_low, len(plt) - 2):
        if all(plt[j + k][1] >= threshold for k in range(3)) and valid(j):
            return {"day": plt[j][0], "status": "recovered", "threshold": i["threshold"]}
    return {"day": None, "status": "not_recovered", "threshold": i["threshold"]}


def primary_graft_failure(i: Mapping[str, Any]) -> dict[str, Any]:
    source = i["graft_source"]
    if source is None:
        raise contradiction("primary_graft_failure", "graft_source",
                            "the window depends on the graft source", None)
    window = 42 if source == "cord_blood" else 30
    rec, through = i["anc_recovery_day"], i["assessed_through_day"]
    if rec is not None and through is not None and rec > through:
        raise contradiction("primary_graft_failure", "anc_recovery_day",
                            "recovery after the last assessed day", rec)
    if rec is not None and rec <= window:
        result: bool | None = False
    elif rec is not None or (through is not None and through >= window):
        result = True
    else:
        result = None
    out: dict[str, Any] = {"primary_graft_failure": result, "window_day": window}
    if result is None:
        out["note"] = f"not assessable before day +{window}"
    if rec is not None and rec > window:
        out["note"] = ("neutrophil recovery after the window: some registries record delayed "
                       "engraftment instead [M]; the recovery day is kept")
    out["requires"] = "associated pancytopenia (not an input: confirm clinically)"
    return out


def chimerism(i: Mapping[str, Any]) -> dict[str, Any]:
    pct = i["donor_pct"]
    if pct is None:
        raise contradiction("donor_chimerism_category", "donor_pct", "required", None)
    category = "full" if pct > 95 else "mixed" if pct >= 5 else "loss"
    return {"category": category}


def cmv(i: Mapping[str, Any]) -> dict[str, Any]:
    dnaemia = bool(i["plasma_cmv_dna_detected"])
    disease = i["end_organ_findings"] != "none"  # not given reads as "none"
    infection = dnaemia or disease
    recurrent = bool(infection and i["prior_infection"]
                     and (i["weeks_undetectable_under_surveillance"] or 0) >= 4)
    if infection and i["prior_infection"] and i["weeks_undetectable_under_surveillance"] is None:
        recurrent_out: bool | None = None
    else:
        recurrent_out = recurrent
    refractory: str | None = None
    days, now, base = (i["on_appropriate_antiviral_days"], i["viral_load_log10_now"],
                       i["viral_load_log10_peak"])
    if days is not None and days >= 14 and now is not None and base is not None:
        rise = now - base
        refractory = "refractory" if rise > 1 else "probable_refractory" if rise >= 0 else "no"
    return {"cmv_infection": infection, "cmv_dnaemia": dnaemia,
            "cmv_disease": i["end_organ_findings"] if disease else False,
            "recurrent_infection": recurrent_out, "refractory": refractory}


def _check_times(score: str, relapse: int | None, death: int | None, last: int | None) -> int:
    if last is None:
        raise contradiction(score, "last_followup_day", "required", None)
    if death is not None and death > last:
        raise contradiction(score, "death_day", "death after the last follow-up", death)
    if relapse is not None and relapse > last:
        raise contradiction(score, "relapse_day", "relapse after the last follow-up", relapse)
    if relapse is not None and death is not None and relapse > death:
        raise contradiction(score, "relapse_day", "relapse after death", relapse)
    return last


def relapse_nrm(i: Mapping[str, Any]) -> dict[str, Any]:
    relapse, death = i["relapse_day"], i["death_day"]
    last = _check_times("relapse_nrm_coding", relapse, death, i["last_followup_day"])
    if relapse is not None:
        return {"status": "relapse", "status_code": 1, "time_days": relapse}
    if death is not None:
        return {"status": "nrm", "status_code": 2, "time_days": death}
    return {"status": "censored", "status_code": 0, "time_days": last}


def lfs_os(i: Mapping[str, Any]) -> dict[str, Any]:
    relapse, death = i["relapse_day"], i["death_day"]
    last = _check_times("lfs_os_coding", relapse, death, i["last_followup_day"])
    first = min(d for d in (relapse, death) if d is not None) if (
        relapse is not None or death is not None) else None
    return {"lfs": {"event": first is not None, "time_days": first if first is not None else last},
            "os": {"event": death is not None, "time_days": death if death is not None else last}}


_GRADE_RANK = {"0": 0, "I": 1, "II": 2, "III": 3, "IV": 4}


def grfs(i: Mapping[str, Any]) -> dict[str, Any]:
    relapse, death = i["relapse_day"], i["death_day"]
    last = _check_times("grfs_event", relapse, death, i["last_followup_day"])
    horizon = i["horizon_days"] if i["horizon_days"] is not None else 365
    min_grade = _GRADE_RANK[i["agvhd_min_grade"]]
    candidates = []
    agvhd = [d for d, g in (i["agvhd"] or []) if _GRADE_RANK[g] >= min_grade]
    if agvhd:
        candidates.append((min(agvhd), f"agvhd_grade_{i['agvhd_min_grade']}_or_worse"))
    if i["cgvhd_systemic_ist_day"] is not None:
        candidates.append((i["cgvhd_systemic_ist_day"], "cgvhd_systemic_therapy"))
    if relapse is not None:
        candidates.append((relapse, "relapse"))
    if death is not None:
        candidates.append((death, "death"))
    for day, _ in candidates:
        if day > last:
            raise contradiction("grfs_event", "last_followup_day", "an event after the last "
                                "follow-up", day)
    order = {"death": 3, "relapse": 2, "cgvhd_systemic_therapy": 1}
    candidates = [c for c in candidates if c[0] <= horizon]
    if candidates:
        day, what = min(candidates, key=lambda c: (c[0], order.get(c[1], 0)))
        return {"event": True, "first_event": what, "time_days": day, "horizon_days": horizon}
    return {"event": False, "first_event": None, "time_days": min(last, horizon),
            "horizon_days": horizon}


GRAFT_SOURCES = ("peripheral_blood", "bone_marrow", "cord_blood")
#: Graft source as a clinician types it. G-CSF-primed marrow (G-BM) is deliberately not a
#: synonym: the +30-day window is stated for unstimulated marrow (§7.4).
GRAFT_SOURCE_SYNONYMS = {
    "PBSC": "peripheral_blood", "PB": "peripheral_blood",
    "peripheral blood stem cells": "peripheral_blood",
    "BM": "bone_marrow", "marrow": "bone_marrow",
    "CB": "cord_blood", "UCB": "cord_blood", "cord": "cord_blood",
    "umbilical cord blood": "cord_blood",
}

SCORES = (
    Score("neutrophil_engraftment_day", "Neutrophil recovery day", "ASTCT-2021", ASTCT, "S",
          (Field("anc_by_day_x10e9_per_l", "pairs"),), neutrophil_day,
          notes=("first of three consecutive values >= 0.5 on different days, after the nadir",)),
    Score("platelet_engraftment_day", "Platelet recovery day", "ASTCT-2021", ASTCT, "S",
          (Field("platelets_by_day_x10e9_per_l", "pairs"),
           Field("platelet_transfusion_days", "ints")), platelet_day,
          parameters={"threshold": (20, (20, 50))},
          notes=("first of three consecutive values on different days, no platelet transfusion "
                 "in the preceding 7 days nor before the third value",)),
    Score("primary_graft_failure", "Primary graft failure", "ASTCT-2021", ASTCT, "S",
          (Field("anc_recovery_day", "int", 0, 3650), Field("assessed_through_day", "int", 0,
                                                            3650),
           Field("graft_source", "enum", choices=GRAFT_SOURCES, synonyms=GRAFT_SOURCE_SYNONYMS,
                 help="window: day +30 (peripheral blood, unstimulated marrow), +42 (cord "
                      "blood)")), primary_graft_failure),
    Score("donor_chimerism_category", "Donor chimerism category", "ASTCT-2021", ASTCT, "M",
          (Field("donor_pct", "number", 0, 100),), chimerism,
          notes=("> 95 % full [S]; 5-95 % mixed (95 exactly is mixed) [M]; < 5 % loss [M]",)),
    Score("cmv_classification", "CMV infection, DNAemia, disease, recurrence, refractoriness",
          "Ljungman-2017", CMV_DEFS, "M",
          (Field("plasma_cmv_dna_detected", "bool"),
           Field("end_organ_findings", "enum", choices=("none", "probable", "proven"),
                 absent="none", help="CMV end-organ disease; cmv_disease answers false, "
                                     "probable or proven"),
           Field("prior_infection", "bool"),
           Field("viral_load_log10_now", "number", 0, 12),
           Field("viral_load_log10_peak", "number", 0, 12,
                 help="load at the start of the current antiviral course (baseline) [M]"),
           Field("on_appropriate_antiviral_days", "int", 0, 3650),
           Field("weeks_undetectable_under_surveillance", "number", 0, 520)), cmv),
    Score("relapse_nrm_coding", "Relapse / NRM competing-risk coding", "CIBMTR", OUTCOMES, "M",
          (Field("relapse_day", "int", 0, 36500), Field("death_day", "int", 0, 36500),
           Field("last_followup_day", "int", 0, 36500)), relapse_nrm,
          notes=("death after relapse is never NRM; codes 0 censored, 1 relapse, 2 NRM",)),
    Score("lfs_os_coding", "LFS and OS coding", "CIBMTR", OUTCOMES, "M",
          (Field("relapse_day", "int", 0, 36500), Field("death_day", "int", 0, 36500),
           Field("last_followup_day", "int", 0, 36500)), lfs_os),
    Score("grfs_event", "GVHD-free, relapse-free survival event", "Holtan-2015", HOLTAN, "S",
          (Field("agvhd", "events"), Field("cgvhd_systemic_ist_day", "int", 0, 36500),
           Field("cgvhd_mild_no_systemic_therapy_day", "int", 0, 36500),
           Field("relapse_day", "int", 0, 36500), Field("death_day", "int", 0, 36500),
           Field("last_followup_day", "int", 0, 36500), Field("horizon_days", "int", 1, 36500)),
          grfs, parameters={"agvhd_min_grade": ("III", ("III", "II")),
                            "definition": ("holtan2015", ("holtan2015",))},
          notes=("events: grade III-IV aGVHD, cGVHD needing systemic therapy, relapse, death; "
                 "grade II aGVHD counts only with agvhd_min_grade=II (variant)",)),
)
