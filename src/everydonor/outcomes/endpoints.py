"""Registry endpoints: each transplant's ``(time, event)`` derived from its follow-up, never typed.

The definitions are those of ``../shared/spec/clinical-scores.md`` §7 and the "Derived" row of
``../shared/spec/registry-and-security.md`` §1, and the coding is done by the :mod:`scores`
package wherever it defines one — :func:`~everydonor.scores.events.lfs_os` (OS, LFS),
:func:`~everydonor.scores.events.relapse_nrm` (relapse, NRM),
:func:`~everydonor.scores.events.grfs` (GRFS), :func:`~everydonor.scores.events.neutrophil_day`
and :func:`~everydonor.scores.events.platelet_day` (engraftment, ASTCT), and the MAGIC / Keystone
grades and the NIH 2014 global severity (:mod:`everydonor.scores.gvhd`), all called through
:func:`~everydonor.scores.catalogue.compute_score`, so a definition is written once. What this
module adds is only the competing-risk coding of the GVHD and engraftment endpoints (which event
comes first) and the horizon (administrative censoring). Pure: no I/O.

Time origin: day 0, the (first) infusion date of the transplant (§7.1); every time is whole days
from it. Codes: 0 censored, 1 the endpoint's event, 2… competing causes (§7.6 "keep codes numeric
and stable"); each endpoint's :attr:`EndpointSpec.cause_labels` names them.

Ties on one day (stated, [C]): the endpoint's event is counted before a competing event of the
same day (an aGVHD and a death on day 30: aGVHD); relapse comes before death (§7.6: death after
relapse is never NRM; ``relapse_nrm`` does so); events come before censoring (§7.6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from everydonor.errors import InputError
from everydonor.scores import events as ev
from everydonor.scores.base import enum_key
from everydonor.scores.catalogue import compute_score

OUTCOMES = ev.OUTCOMES
REGISTRY_SPEC = "registry-and-security.md §1 (Derived endpoints)"
SPEC = "clinical-scores.md §7.6"
#: Acute GVHD scores whose answer is an overall grade 0-IV (MAGIC, Keystone). The IBMTR
#: Severity Index (A-D) is not a grade: it cannot say "grade II-IV" (§1.4-§1.5).
AGVHD_GRADE_SCORES = ("magic_agvhd_grade", "keystone_glucksberg_agvhd_grade")
AGVHD_INDEX_SCORES = ("ibmtr_agvhd_severity_index",)
CGVHD_SCORE = "nih2014_cgvhd_global_severity"
GRADES = ("0", "I", "II", "III", "IV")
SEVERITIES = ("none", "mild", "moderate", "severe")
DONOR_TYPES = ("matched sibling", "haploidentical related", "unrelated", "cord", "other",
               "unknown")


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One endpoint: what counts as its event, what competes, and where that is written."""

    name: str
    title: str
    description: str
    estimator: str  # "Kaplan-Meier" or "Aalen-Johansen"
    cause_labels: Mapping[int, str]
    #: Default horizon in days (None: all follow-up); events after it are censored at it.
    horizon_days: int | None
    horizon_source: str
    citation: str
    confidence: str
    #: Named variants with their defaults and allowed values (a parameter, never a constant).
    parameters: Mapping[str, tuple[Any, tuple[Any, ...]]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def competing(self) -> bool:
        """Whether the endpoint has competing events (then 1 − KM is the wrong estimate)."""
        return len(self.cause_labels) > 1

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description,
                "time_origin": "day 0 of the transplant (first infusion date; "
                               "clinical-scores.md §7.1)",
                "estimator": self.estimator, "competing_risks": self.competing,
                "cause_labels": {str(k): v for k, v in self.cause_labels.items()},
                "horizon_days": self.horizon_days, "horizon_source": self.horizon_source,
                "citation": self.citation, "confidence": self.confidence,
                "parameters": {k: {"default": d, "allowed": list(a)}
                               for k, (d, a) in self.parameters.items()},
                "notes": list(self.notes)}


_RELAPSE_TYPES = ("haematologic", "molecular", "extramedullary")
_RELAPSE_PARAM: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "relapse_types": (_RELAPSE_TYPES, (_RELAPSE_TYPES, ("haematologic", "extramedullary")))}
_RELAPSE_NOTE = ("relapse: the first relapse event of the types in relapse_types (default: every "
                 "type the registry records, haematologic, molecular/MRD and extramedullary; the "
                 "spec does not say whether molecular relapse counts [C]: restrict with the "
                 "parameter)")
_SECOND_HCT = ("a later allogeneic HCT ends the follow-up of this one for engraftment and GVHD: "
               "it competes (spec §7.6: 'second HCT ... per protocol')")
_AGVHD_NOTE = ("aGVHD grade from the MAGIC or Keystone score of each assessment (registry agvhd "
               "events hold organ stages: graded by MAGIC); an IBMTR index is not a grade and is "
               "refused for this endpoint")


def _agvhd(name: str, low: str) -> EndpointSpec:
    return EndpointSpec(
        name, f"Acute GVHD grade {low}-IV by day 100",
        f"first assessment with an overall grade {low} or worse, by day 100; relapse and death "
        "without it compete",
        "Aalen-Johansen",
        {1: f"acute GVHD grade {low}-IV", 2: "relapse before aGVHD",
         3: "death without aGVHD or relapse", 4: "second HCT before aGVHD"},
        100, "day 100: registry-and-security.md §1 ('aGVHD II–IV and III–IV by day 100'); "
             "classic acute GVHD by day +100 (SR-11; Harris AC et al. BBMT 2016;22:4-10)",
        f"{SPEC}; {REGISTRY_SPEC}; {ev.OUTCOMES}; grades: Harris AC et al. Biol Blood Marrow "
        "Transplant 2016;22:4-10 (MAGIC)", "M", dict(_RELAPSE_PARAM),
        (_AGVHD_NOTE, _SECOND_HCT, _RELAPSE_NOTE))


ENDPOINTS: dict[str, EndpointSpec] = {e.name: e for e in (
    EndpointSpec(
        "os", "Overall survival", "death from any cause; alive at last contact is censored",
        "Kaplan-Meier", {1: "death"}, None, "none: all follow-up (set a horizon to truncate)",
        f"{SPEC}; {ev.OUTCOMES} (scores.events.lfs_os)", "M"),
    EndpointSpec(
        "lfs", "Leukaemia-free survival", "relapse or death, whichever first",
        "Kaplan-Meier", {1: "relapse or death"}, None,
        "none: all follow-up (set a horizon to truncate)",
        f"{SPEC}; {ev.OUTCOMES} (scores.events.lfs_os)", "M", dict(_RELAPSE_PARAM),
        (_RELAPSE_NOTE,)),
    EndpointSpec(
        "grfs", "GVHD-free, relapse-free survival",
        "grade III-IV aGVHD, chronic GVHD (see cgvhd_component), relapse or death, whichever "
        "first, within the horizon", "Kaplan-Meier", {1: "GRFS event"}, 365,
        "365 days: Holtan SG et al. Blood 2015;125:1333-1338 (1-year GRFS); scores.events.grfs "
        "default", f"{ev.HOLTAN}; clinical-scores.md §7.7 (scores.events.grfs)", "S",
        {**_RELAPSE_PARAM, "agvhd_min_grade": ("III", ("III", "II")),
         "cgvhd_component": ("moderate_severe", ("moderate_severe",))},
        ("the registry holds no 'systemic therapy for cGVHD' flag (Holtan 2015): the cGVHD "
         "component is moderate-severe NIH 2014 global severity, the 'nih_mod_severe' variant "
         "that clinical-scores.md §7.7 names [M]", _AGVHD_NOTE, _RELAPSE_NOTE)),
    EndpointSpec(
        "nrm", "Non-relapse mortality", "death without prior relapse; relapse competes",
        "Aalen-Johansen", {1: "death without prior relapse", 2: "relapse"}, None,
        "none: all follow-up (set a horizon to truncate)",
        f"{SPEC}; {ev.OUTCOMES} (scores.events.relapse_nrm)", "M", dict(_RELAPSE_PARAM),
        ("death after relapse is never NRM", _RELAPSE_NOTE)),
    EndpointSpec(
        "relapse", "Relapse incidence", "relapse; death without prior relapse (NRM) competes",
        "Aalen-Johansen", {1: "relapse", 2: "death without prior relapse"}, None,
        "none: all follow-up (set a horizon to truncate)",
        f"{SPEC}; {ev.OUTCOMES} (scores.events.relapse_nrm)", "M", dict(_RELAPSE_PARAM),
        (_RELAPSE_NOTE,)),
    _agvhd("agvhd_2_4", "II"),
    _agvhd("agvhd_3_4", "III"),
    EndpointSpec(
        "cgvhd", "Chronic GVHD by 2 years",
        "first NIH 2014 global severity at or above cgvhd_min_severity (default mild: any "
        "cGVHD), by day 730; relapse and death without it compete", "Aalen-Johansen",
        {1: "chronic GVHD", 2: "relapse before cGVHD", 3: "death without cGVHD or relapse",
         4: "second HCT before cGVHD"},
        730, "2 years: registry-and-security.md §1 ('cGVHD by 2 years'); 2 × 365 = 730 days [C]",
        f"{SPEC}; {REGISTRY_SPEC}; {ev.OUTCOMES}; severity: Jagasia MH et al. Biol Blood Marrow "
        "Transplant 2015;21:389-401 (NIH 2014)", "M",
        {**_RELAPSE_PARAM, "cgvhd_min_severity": ("mild", ("mild", "moderate", "severe"))},
        ("severity from the NIH 2014 global-severity score of each assessment (registry cgvhd "
         "events hold organ scores: scored here); spec §7.6: 'any or moderate-severe'",
         _SECOND_HCT, _RELAPSE_NOTE)),
    EndpointSpec(
        "neutrophil", "Neutrophil recovery",
        "first of three consecutive ANC ≥ 0.5 × 10⁹/L on different days after the nadir "
        "(ASTCT), from the counts when stored, else the recorded recovery date; death before "
        "recovery competes", "Aalen-Johansen",
        {1: "neutrophil recovery", 2: "death before recovery", 3: "second HCT before recovery"},
        None, "none: all follow-up (set a horizon, e.g. 28 or 100 days, to truncate)",
        f"{ev.ASTCT}; clinical-scores.md §7.2 (scores.events.neutrophil_day)", "S", {},
        ("counts and a recorded recovery date that disagree exclude the patient (named)",
         "ANC never below 0.5: 'not applicable' (ASTCT) — the patient is excluded, not counted "
         "as day 0", _SECOND_HCT)),
    EndpointSpec(
        "platelet", "Platelet recovery",
        "first of three consecutive platelet counts ≥ threshold on different days, no platelet "
        "transfusion in the 7 days before nor up to the third value (ASTCT/CIBMTR); death before "
        "recovery competes", "Aalen-Johansen",
        {1: "platelet recovery", 2: "death before recovery", 3: "second HCT before recovery"},
        None, "none: all follow-up (set a horizon to truncate)",
        f"{ev.ASTCT}; clinical-scores.md §7.3 (scores.events.platelet_day)", "S",
        {"threshold": (20, (20, 50))},
        ("the recorded platelet_20_date is used only for threshold 20, when no counts are "
         "stored", _SECOND_HCT)),
)}


@dataclass(frozen=True, slots=True)
class Assessment:
    """A stored score's inputs (or an event's measurements), on a day after day 0."""

    day: int
    score: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Course:
    """What the registry holds about one transplant's follow-up, in whole days from day 0.

    ``last_contact`` is the last day the patient is known alive or dead (the adapter takes the
    latest of the last-contact, death and other dated follow-up records). ``relapses`` are
    ``(day, type)``; ``agvhd`` and ``cgvhd`` the assessments to grade; ``neutrophil_counts`` and
    ``platelet_counts`` the stored ``neutrophil_engraftment_day`` / ``platelet_engraftment_day``
    score inputs; ``*_recorded`` the recovery days typed on the engraftment form.
    """

    last_contact: int
    death: int | None = None
    relapses: tuple[tuple[int, str], ...] = ()
    next_hct: int | None = None
    agvhd: tuple[Assessment, ...] = ()
    cgvhd: tuple[Assessment, ...] = ()
    neutrophil_counts: tuple[Assessment, ...] = ()
    platelet_counts: tuple[Assessment, ...] = ()
    anc_recorded: int | None = None
    platelet_recorded: int | None = None
    primary_graft_failure: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    time: float
    event: int


def get_endpoint(name: str) -> EndpointSpec:
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise InputError(f"unknown endpoint {name!r}; the endpoints are: "
                         f"{', '.join(ENDPOINTS)}", field="--endpoint", value=name) from None


def parameters_of(endpoint: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The endpoint's parameters: the given ones checked, the others at their defaults
    (``horizon_days`` for every endpoint)."""
    spec = get_endpoint(endpoint)
    given = given or {}
    unknown = sorted(set(given) - set(spec.parameters) - {"horizon_days"})
    if unknown:
        raise InputError(f"endpoint {spec.name}: unknown parameter {unknown[0]!r} (parameters: "
                         f"{', '.join(['horizon_days', *spec.parameters])})", field=unknown[0],
                         value=str(given[unknown[0]]))
    out = {k: d for k, (d, _) in spec.parameters.items()}
    for k, v in given.items():
        if k == "horizon_days":
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise InputError(f"endpoint {spec.name}: the horizon is a whole number of days "
                                 "≥ 1", field="horizon_days", value=repr(v))
            continue
        allowed = spec.parameters[k][1]
        if v not in allowed:
            raise InputError(f"endpoint {spec.name}: {k} must be one of "
                             f"{', '.join(map(str, allowed))}", field=k, value=repr(v))
        out[k] = v
    out["horizon_days"] = given.get("horizon_days", spec.horizon_days)
    return out


def _first(days: Sequence[int]) -> int | None:
    return min(days) if days else None


def _relapse_day(course: Course, types: Sequence[str]) -> int | None:
    return _first([d for d, t in course.relapses if t in types])


def agvhd_grade(a: Assessment) -> str:
    """The overall grade 0-IV of one acute GVHD assessment, by its score."""
    if a.score in AGVHD_INDEX_SCORES:
        raise InputError(f"aGVHD on day {a.day} is recorded as an IBMTR Severity Index, not an "
                         "overall grade: grade II-IV / III-IV cannot be read from it",
                         field="agvhd", value=a.score)
    if a.score not in AGVHD_GRADE_SCORES:
        raise InputError(f"aGVHD on day {a.day}: {a.score!r} is not an aGVHD grading score",
                         field="agvhd", value=a.score)
    return str(compute_score(a.score, dict(a.inputs))["grade"])


def cgvhd_severity(a: Assessment) -> str:
    """The NIH 2014 global severity (none, mild, moderate, severe) of one assessment."""
    if a.score != CGVHD_SCORE:
        raise InputError(f"cGVHD on day {a.day}: {a.score!r} is not the NIH 2014 global "
                         "severity", field="cgvhd", value=a.score)
    return str(compute_score(CGVHD_SCORE, dict(a.inputs))["global_severity"])


def _merged(assessments: Sequence[Assessment], key: str) -> list[list[float]]:
    """The day→value pairs of every stored record of counts, merged; one day given two
    different values is a contradiction."""
    values: dict[int, float] = {}
    for a in assessments:
        for day, value in a.inputs.get(key) or []:
            if int(day) in values and values[int(day)] != float(value):
                raise InputError(f"two different {key} values for day {int(day)}: "
                                 f"{values[int(day)]:g} and {float(value):g}", field=key,
                                 value=str(day))
            values[int(day)] = float(value)
    return [[d, v] for d, v in sorted(values.items())]


def _recovery(course: Course, kind: str, threshold: int) -> tuple[int | None, int]:
    """(recovery day, the last day the recovery status is known): from the counts by the scores
    rule when stored (without recovery, known up to the last count), else the recorded day, else
    "not recovered" after a recorded primary graft failure (known up to the last contact);
    refuses what cannot say whether or when the patient recovered."""
    if kind == "neutrophil":
        records, recorded, key = course.neutrophil_counts, course.anc_recorded, \
            "anc_by_day_x10e9_per_l"
        score, label = "neutrophil_engraftment_day", "ANC"
    else:
        records, recorded, key = course.platelet_counts, course.platelet_recorded, \
            "platelets_by_day_x10e9_per_l"
        score, label = "platelet_engraftment_day", "platelet"
        if threshold != 20:
            recorded = None  # the form records the day of >= 20 only
    if records:
        inputs: dict[str, Any] = {key: _merged(records, key)}
        if kind == "platelet":
            inputs["platelet_transfusion_days"] = sorted(
                {int(d) for a in records for d in a.inputs.get("platelet_transfusion_days")
                 or []})
            inputs["threshold"] = threshold
        result = compute_score(score, inputs)
        status = result["status"]
        if status == "not_applicable_never_below_threshold":
            raise InputError(f"{label} never fell below the threshold: recovery is 'not "
                             "applicable' (ASTCT), not day 0", field=key, value=status)
        day = result["day"]
        if recorded is not None and day != recorded:
            raise InputError(f"the recorded {label} recovery day {recorded} disagrees with the "
                             f"counts (day {day} by the ASTCT rule)", field=key,
                             value=str(recorded))
        return day, course.last_contact if day is not None else int(inputs[key][-1][0])
    if recorded is not None:
        return recorded, course.last_contact
    if kind == "neutrophil" and course.primary_graft_failure:
        return None, course.last_contact
    raise InputError(f"no {label} counts and no recorded recovery date: whether and when the "
                     "patient recovered is not known", field=key, value="(none)")


def _competing(event_day: int | None, relapse: int | None, death: int | None,
               next_hct: int | None, last: int, *, relapse_competes: bool) -> Outcome:
    """The first of: the event (1), relapse (2, when it competes), death (2 or 3), second HCT
    (the last cause); ties in that order. Else censored at the last contact."""
    candidates: list[tuple[int, int, int]] = []  # (day, order, code)
    code = 2
    if event_day is not None:
        candidates.append((event_day, 0, 1))
    if relapse_competes:
        if relapse is not None:
            candidates.append((relapse, 1, code))
        code += 1
    if death is not None:
        candidates.append((death, 2, code))
    code += 1
    if next_hct is not None:
        candidates.append((next_hct, 3, code))
    if candidates:
        day, _, cause = min(candidates)
        return Outcome(float(day), cause)
    return Outcome(float(last), 0)


def _truncate(out: Outcome, horizon: int | None) -> Outcome:
    if horizon is not None and out.time > horizon:
        return Outcome(float(horizon), 0)
    return out


def _check(course: Course) -> None:
    """The contradictions no endpoint can be read through (named)."""
    last = course.last_contact
    for name, day in (("death", course.death), ("next HCT", course.next_hct),
                      *(("relapse", d) for d, _ in course.relapses)):
        if day is not None and day < 0:
            raise InputError(f"{name} on day {day}, before day 0", field=name, value=str(day))
        if day is not None and day > last:
            raise InputError(f"{name} on day {day}, after the last contact (day {last})",
                             field=name, value=str(day))
    if course.death is not None and course.next_hct is not None and \
            course.next_hct > course.death:
        raise InputError(f"a second HCT on day {course.next_hct}, after death on day "
                         f"{course.death}", field="next HCT", value=str(course.next_hct))


def derive(endpoint: str, course: Course, parameters: Mapping[str, Any] | None = None
           ) -> Outcome:
    """``(time, event)`` of one transplant for ``endpoint``; an :class:`InputError` says why the
    data cannot give it (a contradiction, a missing measurement) — never a guess."""
    p = parameters_of(endpoint, parameters)
    _check(course)
    last, death = course.last_contact, course.death
    relapse = _relapse_day(course, p["relapse_types"]) if "relapse_types" in p else None
    base = {"relapse_day": relapse, "death_day": death, "last_followup_day": last}
    if endpoint in ("os", "lfs"):
        r = compute_score("lfs_os_coding", base)[endpoint]
        out = Outcome(float(r["time_days"]), int(bool(r["event"])))
    elif endpoint in ("nrm", "relapse"):
        r = compute_score("relapse_nrm_coding", base)
        code = {"censored": 0, "relapse": 1, "nrm": 2}[r["status"]]
        if endpoint == "nrm" and code:
            code = 3 - code
        out = Outcome(float(r["time_days"]), code)
    elif endpoint == "grfs":
        agvhd = [{"day": a.day, "grade": agvhd_grade(a)} for a in course.agvhd]
        cgvhd = _first([a.day for a in course.cgvhd
                        if SEVERITIES.index(cgvhd_severity(a)) >= SEVERITIES.index("moderate")])
        horizon = p["horizon_days"] if p["horizon_days"] is not None else 365
        r = compute_score("grfs_event", {**base, "agvhd": agvhd, "horizon_days": horizon,
                                         "cgvhd_systemic_ist_day": cgvhd,
                                         "agvhd_min_grade": p["agvhd_min_grade"]})
        out = Outcome(float(r["time_days"]), int(bool(r["event"])))
    elif endpoint in ("agvhd_2_4", "agvhd_3_4"):
        low = GRADES.index("II" if endpoint == "agvhd_2_4" else "III")
        onset = _first([a.day for a in course.agvhd if GRADES.index(agvhd_grade(a)) >= low])
        out = _competing(onset, relapse, death, course.next_hct, last, relapse_competes=True)
    elif endpoint == "cgvhd":
        low = SEVERITIES.index(p["cgvhd_min_severity"])
        onset = _first([a.day for a in course.cgvhd
                        if SEVERITIES.index(cgvhd_severity(a)) >= low])
        out = _competing(onset, relapse, death, course.next_hct, last, relapse_competes=True)
    else:  # neutrophil, platelet
        day, known = _recovery(course, endpoint, int(p.get("threshold", 20)))
        if day is not None and (day > last or (death is not None and day > death)):
            raise InputError(f"{endpoint} recovery on day {day}, after the last contact or "
                             "death", field=endpoint, value=str(day))
        # without recovery in the counts, what happened after the last count is not known:
        # censored there (a death or second HCT after it is not seen as competing)
        known = min(known, last)
        out = _competing(day, None, death if death is not None and death <= known else None,
                         course.next_hct if course.next_hct is not None
                         and course.next_hct <= known else None, known,
                         relapse_competes=False)
    return _truncate(out, p["horizon_days"] if endpoint != "grfs" else None)


# -- donor type ---------------------------------------------------------------------------------

_FULL_SIBLINGS = ("brother", "sister")
_FIRST_DEGREE = ("father", "mother", "son", "daughter")
_CORD = {enum_key(s) for s, v in ev.GRAFT_SOURCE_SYNONYMS.items() if v == "cord_blood"} | {
    enum_key("cord_blood"), enum_key("cord blood")}


def is_cord(graft: str | None) -> bool:
    """Whether the graft text names cord blood (the spellings of ``scores.events``'s graft
    source and its synonyms: CB, UCB, cord, umbilical cord blood)."""
    return graft is not None and enum_key(graft) in _CORD


def classify_donor_type(*, hct_type: str, graft: str | None = None, donor_role: str | None = None,
                        relationship: str | None = None, hla_relation: str | None = None) -> str:
    """The donor type of an allogeneic transplant, from what the registry stores.

    Rule (in this order; [C], the categories of the issue and of CIBMTR/EBMT activity reports —
    HLA-identical sibling, haploidentical/mismatched relative, unrelated, cord blood):

    1. not allogeneic → ``other``;
    2. the graft is cord blood (CB, UCB, cord …) → ``cord``;
    3. no donor recorded → ``unknown``;
    4. an unrelated donor → ``unrelated``;
    5. a relative, by the family analysis stored for the case (``hla_relation`` of the
       ``family`` snapshot, ``../shared/spec/case-format.md``): a full sibling ``identical`` →
       ``matched sibling``; any relative ``haploidentical`` → ``haploidentical related``; an
       ``identical`` non-sibling or a ``not_haploidentical`` relative → ``other`` (matched or
       mismatched other relative);
    6. a relative without that analysis (or ``undetermined``): a parent or child →
       ``haploidentical related`` (a parent and a child share exactly one haplotype by descent,
       Mendelian inheritance); a sibling or other relative → ``unknown`` (only the typings can
       tell a matched sibling from a haploidentical one: run the ranking to store them);
    7. anyone else (the patient's partner) → ``other``.
    """
    if hct_type != "allo":
        return "other"
    if is_cord(graft):
        return "cord"
    if donor_role is None:
        return "unknown"
    if donor_role == "unrelated":
        return "unrelated"
    rel = (relationship or "").lower()
    if rel == "partner":
        return "other"
    if hla_relation == "identical":
        return "matched sibling" if rel in _FULL_SIBLINGS else "other"
    if hla_relation == "haploidentical":
        return "haploidentical related"
    if hla_relation == "not_haploidentical":
        return "other"
    if rel in _FIRST_DEGREE:
        return "haploidentical related"
    return "unknown"
