"""Post-transplant decisions from MRD results: the protocol's recommendation, each with its source.

Reads the case's ``follow_up`` section (results over time, relapse, GVHD, infection, donor
availability) and applies ``../shared/spec/clinical-beijing.md`` §3:

- WT1 positive above 0.6 % in marrow, 1.8 % for t(8;21) AML (Qin YZ et al. J Mol Diagn 2020
  [S]); flow cytometry positive as the laboratory reports it (any reproducible LAIP [M]).
- MRDco+ within the first year (Zhao XS et al. Ann Hematol 2013 [S]): WT1 and flow positive in
  the same sample, or two consecutive positive results. Whether the two consecutive positives
  must come from the same assay is not clear from the abstract: both readings are evaluated and,
  when they differ, the status is ``ambiguous`` with both — never silently one of them.
- MRD positive → taper immunosuppression and modified DLI when feasible (Yan CH et al. Blood
  2012 [S]), otherwise interferon-α or low-dose IL-2; targeted therapy by genetics.

Pure: dates arrive parsed; nothing is read or printed here.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from everydonor.case import Person
from everydonor.errors import InputError
from everydonor.treatment.plan import num, sci

WT1_CUTOFF = 0.6
WT1_CUTOFF_T821 = 1.8
MRDCO_WINDOW_DAYS = 365
MDLI_MNC_PER_KG = 1e8

QIN_2020 = "Qin YZ et al. J Mol Diagn 2020"
ZHAO_2013 = "Zhao XS et al. Ann Hematol 2013;92:1111-9"
YAN_2012 = "Yan CH et al. Blood 2012;119:3256-3262"
YAN_2016 = "Yan CH et al. J Hematol Oncol 2016;9:87"
GENETICS = {
    "t(8;21)": None,
    "Ph+": ("Ph+ ALL: BCR-ABL1 monitoring; post-transplant tyrosine-kinase inhibitor (imatinib) "
            "for positivity or as prophylaxis", "Chen H et al. JHO 2012", "M"),
    "FLT3-ITD": ("FLT3-ITD AML: sorafenib maintenance (randomised phase 3, Chinese multicentre)",
                 "Xuan L et al. Lancet Oncol 2020;21:1201-1212", "S-part"),
}


@dataclass(frozen=True, slots=True)
class Sample:
    date: dt.date
    day: int
    wt1_pct: float | None
    flow: bool | None
    fusion: tuple[str, bool] | None

    def markers(self, wt1_cut: float) -> dict[str, bool | None]:
        wt1 = None if self.wt1_pct is None else self.wt1_pct > wt1_cut
        return {"wt1": wt1, "flow": self.flow}


def _bool(raw: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise InputError(f"{key} must be true or false", field=f"{where}.{key}",
                         value=repr(value))
    return value


def _samples(raw: Any, day0: dt.date, pid: str) -> list[Sample]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError("follow_up.mrd must be a list of results", person=pid,
                         field="follow_up.mrd", value=type(raw).__name__)
    out = []
    for i, item in enumerate(raw):
        where = f"follow_up.mrd[{i}]"
        if not isinstance(item, Mapping):
            raise InputError("each MRD result must be an object", person=pid, field=where,
                             value=repr(item))
        try:
            date = item["date"] if isinstance(item.get("date"), dt.date) else \
                dt.date.fromisoformat(str(item.get("date")))
        except ValueError:
            raise InputError("date must be an ISO date", person=pid, field=f"{where}.date",
                             value=repr(item.get("date"))) from None
        day = (date - day0).days
        if day < 0:
            raise InputError(f"result dated before day 0 ({day0.isoformat()})", person=pid,
                             field=f"{where}.date", value=date.isoformat())
        wt1 = item.get("wt1_pct")
        if wt1 is not None and (isinstance(wt1, bool) or not isinstance(wt1, int | float)
                                or not 0 <= wt1 <= 1000):
            raise InputError("wt1_pct must be a percentage >= 0", person=pid,
                             field=f"{where}.wt1_pct", value=repr(wt1))
        flow = item.get("flow")
        if flow not in (None, "positive", "negative"):
            raise InputError("flow must be positive or negative", person=pid,
                             field=f"{where}.flow", value=repr(flow))
        fusion = None
        if item.get("fusion") is not None:
            f = item["fusion"]
            if not isinstance(f, Mapping) or not isinstance(f.get("name"), str) or \
                    not isinstance(f.get("positive"), bool):
                raise InputError("fusion must be {name: TEXT, positive: true|false}",
                                 person=pid, field=f"{where}.fusion", value=repr(f))
            fusion = (f["name"], f["positive"])
        if wt1 is None and flow is None and fusion is None:
            raise InputError("an MRD result needs wt1_pct, flow or fusion", person=pid,
                             field=where, value=repr(item))
        out.append(Sample(date, day, None if wt1 is None else float(wt1),
                          None if flow is None else flow == "positive", fusion))
    out.sort(key=lambda s: s.date)
    return out


def _mrdco(samples: Sequence[Sample], wt1_cut: float, *, same_assay: bool) -> tuple[bool, str]:
    """MRDco+ within the first year under one reading of Zhao 2013."""
    window = [s for s in samples if s.day <= MRDCO_WINDOW_DAYS]
    for s in window:
        m = s.markers(wt1_cut)
        if m["wt1"] and m["flow"]:
            return True, f"WT1 and flow positive in the same sample (day {s.day:+d})"
    for a, b in itertools.pairwise(window):
        ma, mb = a.markers(wt1_cut), b.markers(wt1_cut)
        if same_assay:
            for assay in ("wt1", "flow"):
                if ma[assay] and mb[assay]:
                    return True, (f"two consecutive {assay.upper()}-positive results (days "
                                  f"{a.day:+d}, {b.day:+d})")
        elif any(ma.values()) and any(mb.values()):
            return True, f"two consecutive positive results (days {a.day:+d}, {b.day:+d})"
    return False, "no MRDco+ pattern"


def assess_follow_up(patient: Person, day0: dt.date, follow_up: Mapping[str, Any] | None
                     ) -> dict[str, Any]:
    """The protocol's recommendation for the recorded results."""
    pid = patient.id
    fu = follow_up or {}
    if not isinstance(fu, Mapping):
        raise InputError("follow_up must be an object", person=pid, field="follow_up",
                         value=repr(fu))
    genetics = fu.get("genetics") or []
    if not isinstance(genetics, list) or not all(g in GENETICS for g in genetics):
        raise InputError(f"genetics must list any of: {', '.join(GENETICS)}", person=pid,
                         field="follow_up.genetics", value=repr(genetics))
    samples = _samples(fu.get("mrd"), day0, pid)
    flags = {k: _bool(fu, k, "follow_up") for k in ("haematological_relapse", "active_gvhd",
                                                      "uncontrolled_infection",
                                                      "dli_donor_available",
                                                      "high_risk_at_transplant")}
    wt1_cut = WT1_CUTOFF_T821 if "t(8;21)" in genetics else WT1_CUTOFF
    cut_source = f"WT1 > {num(wt1_cut)}%" + (" for t(8;21) AML" if wt1_cut != WT1_CUTOFF else "")
    rows = [{"date": s.date.isoformat(), "day": s.day, "wt1_pct": s.wt1_pct,
             "wt1_positive": s.markers(wt1_cut)["wt1"],
             "flow_positive": s.flow,
             "fusion": {"name": s.fusion[0], "positive": s.fusion[1]} if s.fusion else None}
            for s in samples]
    any_reading, any_why = _mrdco(samples, wt1_cut, same_assay=False)
    same_reading, same_why = _mrdco(samples, wt1_cut, same_assay=True)
    if not samples:
        status = "not_assessable"
    elif any_reading and same_reading:
        status = "positive"
    elif any_reading != same_reading:
        status = "ambiguous"
    else:
        status = "negative"
    latest = samples[-1] if samples else None
    single = bool(latest and any(latest.markers(wt1_cut).values())) and status == "negative"
    beyond = [s.day for s in samples if s.day > MRDCO_WINDOW_DAYS]

    recs: list[dict[str, Any]] = []

    def rec(action: str, citation: str, confidence: str, **extra: Any) -> None:
        recs.append({"action": action, "citation": citation, "confidence": confidence,
                     "to_verify": confidence != "S", **extra})

    if flags["haematological_relapse"]:
        rec("Haematological relapse: therapeutic pathway (chemotherapy + DLI, CAR-T, second "
            "transplant) — outside this tool's scope; refer to the treating team's protocol.",
            "clinical-beijing.md §3.3", "S-part")
    elif status in ("positive", "ambiguous"):
        cond = "" if status == "positive" else "If the team reads the results as MRDco+: "
        rec(cond + "Taper immunosuppression (MRD-modified immunosuppression).", YAN_2012, "S")
        missing = [k for k in ("active_gvhd", "uncontrolled_infection", "dli_donor_available")
                   if flags[k] is None]
        feasible = (flags["active_gvhd"] is False and flags["uncontrolled_infection"] is False
                    and flags["dli_donor_available"] is True)
        if feasible:
            weight = patient.weight_kg
            dose = (f"about {sci(MDLI_MNC_PER_KG)} MNC/kg per infusion"
                    + (f" = {sci(MDLI_MNC_PER_KG * weight)} MNC for {num(weight)} kg"
                       if weight else " (patient weight not recorded: total not computed)"))
            rec(cond + f"Modified DLI: G-CSF-mobilised donor blood cells, {dose}; post-DLI "
                "GVHD prophylaxis with short-course ciclosporin or methotrexate for about 6-8 "
                "weeks (haploidentical). mDLI reduced relapse (OR 0.269) and improved DFS "
                "(OR 0.436) compared with IL-2 alone.",
                f"{YAN_2012} (concept, outcomes [S]); dose and post-DLI prophylaxis", "M")
            rec(cond + "Repeat DLI guided by MRD and GVHD.", YAN_2016, "S")
        elif missing:
            rec(cond + "DLI feasibility not assessable: record " + ", ".join(missing)
                + " (DLI is contra-indicated by active GVHD or uncontrolled infection).",
                "ASH Education 2025 abstract (EBMT survey)", "S")
        else:
            why = [w for w, bad in (("active GVHD", flags["active_gvhd"]),
                                    ("uncontrolled infection", flags["uncontrolled_infection"]),
                                    ("no donor available", flags["dli_donor_available"] is False))
                   if bad]
            ifn = ("3 MIU per injection" if patient.age is None or patient.age >= 16 else
                   "3 MIU/m² per injection")
            rec(cond + f"DLI not feasible ({', '.join(why)}): interferon-α-2b subcutaneously "
                f"twice weekly in 4-week cycles, 6 cycles; {ifn} [M]"
                + ("" if patient.age is not None else " (age not recorded: adult dose shown)")
                + ".", "Shen MZ et al. Front Immunol 2022; Sci Rep 2020 PMC7677364 "
                "(schedule [S]; dose [M])", "S-part")
            rec(cond + "Or low-dose IL-2 (Beijing dose and schedule not yet verified: not "
                "computed).", YAN_2012 + "; dose", "M")
        for g in genetics:
            if GENETICS[g] is not None:
                text, cite, conf = GENETICS[g]  # type: ignore[misc]
                rec(cond + text + ".", cite, conf)
        rec("Re-test MRD.", "clinical-beijing.md §3.3", "S-part")
    elif status == "negative":
        if single:
            rec("A single positive result: re-test promptly (two consecutive positives define "
                "MRDco+).", ZHAO_2013, "S")
        rec("Continue the MRD schedule (about +1, +2, +3, +4.5, +6, +9, +12 months, then every "
            "6 months).", "clinical-beijing.md §3.1", "M")
        if flags["high_risk_at_transplant"]:
            rec("High risk at transplant: prophylactic modified DLI may be considered if there "
                "is no grade II-IV acute GVHD (the day is not set in the reference: the centre "
                "sets it).", "Yan CH et al. BBMT 2017", "M")
    else:
        rec("No MRD result recorded: follow the MRD schedule.", "clinical-beijing.md §3.1", "M")

    notes = [f"MRD positivity: {cut_source} ({QIN_2020}); flow positive as reported by the "
             "laboratory (any reproducible LAIP [M]); fusion transcripts are shown, not used in "
             "the MRDco+ definition."]
    if status == "ambiguous":
        notes.append(f"Zhao 2013 reading 'any assay': {any_why}; reading 'same assay': "
                     f"{same_why}. The abstract does not say which applies [M].")
    if beyond:
        notes.append(f"Results after day +{MRDCO_WINDOW_DAYS} (days {', '.join(map(str, beyond))}) "
                     "lie outside the first year, where MRDco+ was validated.")
    return {
        "patient": pid, "day0": day0.isoformat(), "results": rows,
        "mrd_status": status,
        "mrd_definition": {"name": "MRDco+", "citation": ZHAO_2013,
                           "wt1_cutoff_pct": wt1_cut, "any_assay": any_reading,
                           "same_assay": same_reading,
                           "why": any_why if any_reading else same_why},
        "recommendations": recs,
        "notes": notes,
        "notice": "Decision support — for review by the treating physician.",
    }
