"""``everydonor rank``: a ranked, explained donor list under a named rule set.

Pipeline (each step visible in the answer):

1. **Candidates**: every relative (the patient's partner is not a blood relative and is listed as
   not a candidate) and every unrelated donor, with the family relation
   (:mod:`everydonor.family.analysis`) and the compatibility (:mod:`everydonor.matching`).
2. **Exclusions**: not HLA typed (cannot be assessed), medically ineligible, DSA in the rule
   set's rejection band without a recorded desensitisation plan.
3. **Donor type** (``matched_sibling`` …) from the segregated relation, or from the phenotype when
   segregation could not decide (flagged), and the rule set's hierarchy, with the CSH 2021
   haploidentical-over-sibling switch applied only when the case carries the facts that trigger
   it.
4. **Criteria** in the rule set's order, lexicographically; each donor says, for the next one
   down, the first criterion that separates them.

Missing facts are flagged and listed under ``could_not_weigh``; they are never filled in.

Each ranked donor also carries ``relation``: what the family proves (``genotypically
HLA-identical by segregation`` …) as a headline, the loci the donor is typed at of the patient's,
and for an identical donor typed incompletely the recommendation to complete the typing before
donation. A reason is marked "sources disagree" only where the criterion's disagreement concerns
the donor's own value (:attr:`~everydonor.selection.rules.Criterion.disputed_for`), and the
document's ``references`` number the sources the report cites, keeping unverified evidence apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from everydonor.case import Case, Person, Relationship
from everydonor.hla.kir import KirTable
from everydonor.hla.reduction import Reducer
from everydonor.hla.tce import TceTable
from everydonor.selection.criteria import (
    COMPARISONS,
    Assessment,
    DonorCandidate,
    class_i_identical,
    dsa_band,
)
from everydonor.selection.rules import Citation, Criterion, DonorType, RuleSet
from everydonor.selection.sources import CONFIRMATORY_TYPING, WBMT_2022

LEUKAEMIAS = ("AML", "ALL", "CML", "CLL", "CMML", "JMML", "MPAL", "T-ALL", "B-ALL", "APL")
DISCLAIMER = ("Decision support — for review by the treating physician. The ranking applies the "
              "named rule set to the facts in the case file; it does not replace the transplant "
              "team's judgement.")


#: Appended to a reason whose criterion's sources disagree about this donor's value.
DISPUTE_MARK = "⚑ sources disagree"
DISPUTE_LEGEND = (
    "⚑ sources disagree: shown only where the disagreement concerns this donor's value — the "
    "rule set counts that value against the donor (or ranks on it at all) while another source "
    "found no effect or the opposite (e.g. an older donor: the Beijing data favour donors "
    "under 30, PTCy data found no donor-age effect after adjusting for patient age). The "
    "disagreement itself is stated once, in the rule-set table ('Where sources disagree').")


def short_citation(c: Citation) -> str:
    """``Wang Y, Chang YJ, … Blood 2014;…`` → ``Wang 2014``."""
    if c.short:
        return c.short
    year = re.search(r"\b(19|20)\d{2}\b", c.text)
    m = re.match(r"^([A-Z][A-Za-z'-]+) [A-Z]{1,3}\b", c.text)
    head = m.group(1) if m else re.split(r"[,(]", c.text, maxsplit=1)[0].strip()
    return f"{head} {year.group(0)}" if year and year.group(0) not in head else head


def cite(criterion: Criterion) -> str:
    """``[S; Wang 2014; 512-patient ATG cohort (unverified)]``: a source not yet verified says so
    wherever it is cited, so it never reads as a checked reference."""
    refs = "; ".join(short_citation(c) + (" (unverified)" if c.unverified else "")
                     for c in criterion.citations)
    return f"[{criterion.confidence.value}; {refs}]"


@dataclass
class RankedDonor:
    candidate: DonorCandidate
    hierarchy_tier: float
    assessments: list[Assessment]
    flags: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    decided: dict[str, Any] | None = None
    relation: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        return (self.hierarchy_tier, *(a.tier for a in self.assessments), self.candidate.id)


@dataclass
class RankingResult:
    document: dict[str, Any]


def _is_leukaemia(diagnosis: str | None) -> bool:
    if not diagnosis:
        return False
    d = diagnosis.strip()
    return d.upper() in LEUKAEMIAS or "leuk" in d.lower()


def _below_allele_level(compat: Mapping[str, Any]) -> list[str]:
    loci = (compat.get("hla") or {}).get("loci", {})
    return [loc for loc, v in loci.items() if v.get("level") not in (None, "allele")]


def _typing(person: Person, compat: Mapping[str, Any], loci: list[str]) -> dict[str, Any]:
    """Which of the patient's loci the donor is typed at, in words."""
    typed = {loc.value for loc in person.hla.typed_loci()} if person.hla else set()
    untyped = [loc for loc in loci if loc not in typed]
    low = [loc for loc in _below_allele_level(compat) if loc in loci]
    words = f"typed at {len(loci) - len(untyped)} of {len(loci)} loci"
    if untyped:
        words += f"; {', '.join(untyped)} untyped"
    if low:
        words += f"; {', '.join(low)} below allele level"
    return {"loci": loci, "typed_loci": [loc for loc in loci if loc in typed],
            "untyped_loci": untyped, "below_allele_level": low, "typing": words,
            "complete": not untyped and not low}


def _complete_typing(typing: Mapping[str, Any], how: str) -> str:
    """The recommendation for an identical donor whose typing is incomplete."""
    todo = []
    if typing["untyped_loci"]:
        todo.append(f"type {', '.join(typing['untyped_loci'])}")
    if typing["below_allele_level"]:
        todo.append(f"{', '.join(typing['below_allele_level'])} below allele level: confirm at "
                    "high resolution")
    refs = "; ".join(short_citation(c) for c in CONFIRMATORY_TYPING)
    return (f"identical {how}, {typing['typing'].split(';')[0]}: complete the typing before "
            f"donation ({'; '.join(todo)}) — confirmatory typing of the selected donor at all "
            f"loci, at high resolution and on an independent sample, is standard practice "
            f"[M; {refs}]")


def _relation(c: DonorCandidate, loci: list[str]) -> dict[str, Any]:
    """What the family proves about the donor, as a headline, and how complete the typing is."""
    fam = c.family or {}
    relation = fam.get("hla_relation")
    basis = fam.get("basis")
    shared = fam.get("shared")
    typing = _typing(c.person, c.compatibility, loci)
    identical = c.donor_type in (DonorType.MATCHED_SIBLING, DonorType.MATCHED_RELATED)
    if c.person.relationship is None:
        headline, basis = "unrelated donor: compared by typing only", "typing"
    elif relation == "identical" and basis == "segregation":
        headline = "genotypically HLA-identical by segregation"
    elif relation == "haploidentical":
        headline = ("haploidentical by segregation" if basis == "segregation" else
                    "haploidentical by phenotype only (phase not proven)")
        if shared in ("paternal", "maternal"):
            headline += f": shares the patient's {shared} haplotype"
    elif relation == "not_haploidentical":
        headline = ("shares neither of the patient's haplotypes (by segregation)"
                    if basis == "segregation" else
                    "shares neither of the patient's haplotypes (by phenotype)")
    elif identical:
        headline = ("HLA-identical by phenotype only: relation not determined by segregation, "
                    "genotypic identity not proven")
    elif c.donor_type is DonorType.HAPLOIDENTICAL_RELATED:
        headline = ("relation not determined by segregation: haploidentical by phenotype only "
                    "(not proven)")
    else:
        headline = "relation not determined by segregation: mismatched by phenotype"
    short = {"genotypically HLA-identical by segregation": "identical by segregation",
             "unrelated donor: compared by typing only": "unrelated"}.get(headline)
    if short is None:
        short = (f"shares the {shared} haplotype" if relation == "haploidentical"
                 and shared in ("paternal", "maternal") else "shares neither haplotype"
                 if relation == "not_haploidentical" else headline.split(":")[0])
        if relation == "haploidentical" and basis != "segregation":
            short += " (by phenotype)"
    if fam.get("recombinant"):
        headline += " (recombinant haplotype)"
        short += ", recombinant"
    recommendation = None
    if identical and c.person.relationship is not None and not typing["complete"]:
        how = "by segregation" if relation == "identical" else "by phenotype"
        recommendation = _complete_typing(typing, how)
    return {"headline": headline, "short": short, "basis": basis, "hla_relation": relation,
            **typing,
            "class_i_identical": class_i_identical(c), "recommendation": recommendation}


def _donor_type(person: Person, family: Mapping[str, Any] | None,
                compat: Mapping[str, Any], rules: RuleSet) -> tuple[DonorType, list[str]]:
    flags: list[str] = []
    hla = compat.get("hla") or {}
    loci = hla.get("loci", {})
    if person.relationship is None:
        need = rules.parameters.matched_unrelated_loci
        missing = [loc for loc in need if loc not in loci]
        ambiguous = [loc for loc in need if loc in loci and loci[loc].get("ambiguous")]
        mismatched = [loc for loc in need if loc in loci and (loci[loc]["gvh"] or
                                                               loci[loc]["hvg"])]
        if mismatched:
            return DonorType.MISMATCHED_UNRELATED, flags
        if missing or ambiguous:
            if missing:
                flags.append(f"not shown to be matched: {', '.join(missing)} untyped")
            if ambiguous:
                flags.append(f"potential mismatch (ambiguous typing) at {', '.join(ambiguous)}")
            return DonorType.MISMATCHED_UNRELATED, flags
        return DonorType.MATCHED_UNRELATED, flags
    sibling = person.relationship.is_full_sibling
    relation = (family or {}).get("hla_relation")
    if relation == "identical":  # incomplete typing: the relation's recommendation (a flag)
        return (DonorType.MATCHED_SIBLING if sibling else DonorType.MATCHED_RELATED), flags
    if relation == "haploidentical":
        return DonorType.HAPLOIDENTICAL_RELATED, flags
    if relation == "not_haploidentical":
        return DonorType.MISMATCHED_RELATED, flags
    # Undetermined (or an inconsistent family): judge by phenotype, and say so.
    gvh = [v["gvh"] for v in loci.values()]
    hvg = [v["hvg"] for v in loci.values()]
    if loci and not any(gvh) and not any(hvg):
        flags.append("relation not determined by segregation; identity judged by phenotype "
                     "only — genotypic identity not proven")
        return (DonorType.MATCHED_SIBLING if sibling else DonorType.MATCHED_RELATED), flags
    if loci and max(gvh) <= 1 and max(hvg) <= 1:
        flags.append("relation not determined by segregation; haploidentity judged by "
                     "phenotype only (compatible with one shared haplotype, not proven)")
        return DonorType.HAPLOIDENTICAL_RELATED, flags
    flags.append("relation not determined by segregation; mismatched by phenotype")
    return DonorType.MISMATCHED_RELATED, flags


def _switch(case: Case, rules: RuleSet) -> dict[str, Any]:
    """Whether the CSH 2021 haploidentical-over-sibling preference applies to this case."""
    h = rules.haplo_over_sibling
    if h is None:
        return {"rule": None, "applied": False,
                "because": f"rule set {rules.name} puts the matched sibling first"}
    patient = case.patient
    reasons, missing = [], []
    high_risk = False
    if h.high_risk_leukaemia:
        if patient.disease_risk is None or patient.diagnosis is None:
            missing += [f for f, v in (("diagnosis", patient.diagnosis),
                                       ("disease_risk", patient.disease_risk)) if v is None]
        elif _is_leukaemia(patient.diagnosis) and patient.disease_risk in ("high", "very_high"):
            high_risk = True
            reasons.append(f"high-risk leukaemia ({patient.diagnosis}, disease_risk "
                           f"{patient.disease_risk})")
    elderly = False
    p = rules.parameters
    if h.elderly_with_young_offspring:
        if p.elderly_patient_age is None:
            missing.append("rule-set parameter elderly_patient_age (not set: the consensus "
                           "abstract gives no age)")
        elif patient.age is None:
            missing.append("patient age")
        elif patient.age >= p.elderly_patient_age:
            elderly = True
            reasons.append(f"elderly patient ({patient.age:g} >= {p.elderly_patient_age:g}): "
                           "applies to young offspring donors")
    experienced = case.centre.haplo_experienced
    if h.requires_experienced_centre and experienced is not True and (high_risk or elderly):
        why = ("centre.haplo_experienced not recorded" if experienced is None else
               "the centre records itself as not experienced in haploidentical transplantation")
        return {"rule": h.citation.text, "confidence": h.confidence.value, "applied": False,
                "high_risk_leukaemia": False, "elderly_with_young_offspring": False,
                "because": f"triggering facts present ({'; '.join(reasons)}) but {why}",
                "missing": missing + (["centre.haplo_experienced"] if experienced is None
                                      else [])}
    applied = high_risk or elderly
    because = ("; ".join(reasons) + " in an experienced centre") if applied else (
        "no triggering fact in the case (high-risk leukaemia; elderly patient with a young "
        "offspring donor)")
    return {"rule": h.citation.text, "confidence": h.confidence.value, "applied": applied,
            "high_risk_leukaemia": high_risk, "elderly_with_young_offspring": elderly,
            "because": because, "missing": missing}


def _hierarchy_tier(c: DonorCandidate, rules: RuleSet, switch: Mapping[str, Any]) -> float:
    tier = float(rules.hierarchy.index(c.donor_type))
    if c.donor_type is DonorType.HAPLOIDENTICAL_RELATED and switch.get("applied"):
        msd = float(rules.hierarchy.index(DonorType.MATCHED_SIBLING))
        young = rules.parameters.young_donor_age
        if switch.get("high_risk_leukaemia"):
            return msd - 0.5
        rel = c.person.relationship
        if (switch.get("elderly_with_young_offspring") and rel is not None and rel.is_child
                and c.person.age is not None and young is not None and c.person.age < young):
            return msd - 0.5
    return tier


def _flags(c: DonorCandidate, assessments: list[Assessment], rules: RuleSet,
           patient: Person, relation: Mapping[str, Any]) -> list[str]:
    flags = list(c.flags)
    if relation.get("recommendation"):
        flags.insert(0, relation["recommendation"])
    hla = c.compatibility.get("hla") or {}
    if hla.get("untyped_loci"):
        flags.append(f"untyped loci: {', '.join(hla['untyped_loci'])} (mismatches there not "
                     "counted)")
    ambiguous = [loc for loc, v in hla.get("loci", {}).items() if v.get("ambiguous")]
    if ambiguous:
        flags.append(f"ambiguous typing at {', '.join(ambiguous)}: mismatch counts are "
                     "the fewest possible")
    for crit, a in zip(rules.criteria, assessments, strict=True):
        if a.unknown:
            flags.append(f"could not weigh {a.unknown} ({crit.id}): ranked after donors whose "
                         "value is known")
    band = c.dsa_band
    flags += [f"DSA {note}: type the donor at that locus to assess it"
              for note in band.notes if note.startswith("not assessable")]
    if any(h.get("certainty") == "possible" for h in band.hits):
        flags.append("DSA possible: the antibody may or may not be donor-specific "
                     "(ambiguous typing or DQ/DP chain pairing)")
    if band.band == "exclusion":
        flags.append(f"DSA MFI {band.max_mfi:g} >= {rules.parameters.dsa_exclude_mfi:g}: kept "
                     f"because a desensitisation plan is recorded ({c.person.desensitization_plan}"
                     "); re-test DSA after desensitisation and before infusion [M]")
    if c.person.medically_eligible is None:
        flags.append("medical eligibility not recorded: assess donor suitability "
                     f"({WBMT_2022.text})")
    if (c.family or {}).get("recombinant"):
        flags.append("recombinant haplotype: check which loci are shared")
    rel = c.person.relationship
    if (rel is Relationship.SISTER and c.person.age is not None and patient.age is not None
            and c.person.age > patient.age):
        flags.append("older sister: worse NRM and OS than a father (Wang 2014) — avoided where "
                     "an alternative exists")
    if rel is Relationship.MOTHER:
        flags.append("mother: more aGVHD, cGVHD and NRM on the ATG platform (Chang 2016 "
                     "Table 2) — avoided where an alternative exists"
                     if rules.criteria and any(cr.compare == "kinship_beijing"
                                               for cr in rules.criteria) else
                     "mother: parent donors had more graft failure after PTCy (McCurdy 2018)")
    return flags


def _describe_type(c: DonorCandidate, relation: Mapping[str, Any]) -> str:
    words = c.donor_type.value.replace("_", " ")
    fam = c.family or {}
    rel = c.person.relationship
    registry = c.person.registry or "registry not given"
    if c.person.donor_id:
        registry = f"{registry} {c.person.donor_id}"
    who = rel.value.replace("_", " ") if rel else f"unrelated ({registry})"
    shared = fam.get("shared")
    extra = ""
    if c.donor_type is DonorType.HAPLOIDENTICAL_RELATED and shared in ("paternal", "maternal"):
        extra = f", shares the patient's {shared} haplotype"
    hla = c.compatibility.get("hla") or {}
    match = hla.get("match")
    untyped = hla.get("untyped_loci") or []
    counts = (f"; HLA {match['of_8']}/8, {match['of_10']}/10"
              + (f" (untyped {', '.join(untyped)} not counted as matched)" if untyped else "")
              ) if match else ""
    if rel is not None and relation.get("hla_relation") == "identical" and match:
        # The family proves identity; the counts only say how much of it the typing shows.
        typed = len(relation.get("typed_loci") or [])
        counts = (f" ({relation['headline']}); HLA counts at the {typed} typed loci only: "
                  f"{match['of_8']}/8, {match['of_10']}/10" if not relation.get("complete") else
                  f" ({relation['headline']}); HLA {match['of_8']}/8, {match['of_10']}/10")
    mp = c.person.match_probability
    if mp:
        def pct(key: str) -> str:
            value = mp.get(key)
            return "not computed" if value is None else f"{100 * value:.1f}%"

        counts += (f"; registry search: P(10/10) {pct('p_10_of_10')}, P(9/10) "
                   f"{pct('p_9_of_10')} (frequency set {mp.get('frequency_set') or 'unnamed'})")
    return f"donor type: {words} — {who}{extra}{counts}"


def rank_donors(case: Case, family: Mapping[str, Any], match: Mapping[str, Any],
                rules: RuleSet) -> RankingResult:
    """Rank the donors of ``case`` from its family and match answers under ``rules``."""
    family_by_id = {r["id"]: r for r in family.get("relatives", [])}
    compat_by_id = {d["id"]: d for d in match.get("donors", [])}
    patient = case.patient
    params = rules.parameters
    switch = _switch(case, rules)
    excluded: list[dict[str, Any]] = []
    ranked: list[RankedDonor] = []
    loci = [loc.value for loc in patient.hla.typed_loci()] if patient.hla else []
    dsa_rule = next((cr for cr in rules.criteria if cr.compare == "dsa"), None)

    for person in (*case.relatives, *case.unrelated):
        if person.relationship is Relationship.PARTNER:
            excluded.append({"id": person.id, "kind": "not_a_candidate", "because": [
                "partner of the patient: not a blood relative (typed to place the children's "
                "haplotypes)"]})
            continue
        compat = compat_by_id.get(person.id, {})
        if person.hla is None or not person.hla.loci:
            excluded.append({"id": person.id, "kind": "not_assessable", "because": [
                "not HLA typed: type this person before they can be considered"]})
            continue
        because = []
        if person.medically_eligible is False:
            because.append("medically ineligible (recorded in the case; donor suitability: "
                           f"{short_citation(WBMT_2022)})")
        band = dsa_band(compat.get("dsa"), params)
        if band.band == "exclusion" and not person.desensitization_plan:
            hits = ", ".join(f"{h['specificity']} MFI {h['mfi']:g}" for h in band.hits
                             if h["mfi"] >= params.dsa_exclude_mfi or band.escalated_by_c1q)
            c1q = " (C1q-positive: moved up one band)" if band.escalated_by_c1q else ""
            disputed = (f" {DISPUTE_MARK}" if dsa_rule is not None
                        and dsa_rule.disputed_here(("exclusion",)) else "")
            because.append(f"DSA {hits} >= {params.dsa_exclude_mfi:g}{c1q} — rejection band of "
                           f"rule set {rules.name} {cite(rules.criterion('dsa'))}; no "
                           f"desensitisation plan recorded{disputed}")
        if because:
            excluded.append({"id": person.id, "kind": "contraindicated", "because": because})
            continue
        dtype, type_flags = _donor_type(person, family_by_id.get(person.id), compat, rules)
        candidate = DonorCandidate(person, dtype, compat, family_by_id.get(person.id), band,
                                   tuple(type_flags))
        assessments = [COMPARISONS[c.compare](candidate, patient, params) for c in rules.criteria]
        entry = RankedDonor(candidate, _hierarchy_tier(candidate, rules, switch), assessments)
        entry.relation = _relation(candidate, loci)
        entry.flags = _flags(candidate, assessments, rules, patient, entry.relation)
        ranked.append(entry)

    ranked.sort(key=RankedDonor.key)
    for i, entry in enumerate(ranked):
        c = entry.candidate
        reasons = [_describe_type(c, entry.relation)]
        if entry.hierarchy_tier != rules.hierarchy.index(c.donor_type) and (
            rules.haplo_over_sibling is not None
        ):
            reasons.append(f"placed before matched siblings: {switch['because']} "
                           f"[{switch['confidence']}; "
                           f"{short_citation(rules.haplo_over_sibling.citation)}]")
        for crit, a in zip(rules.criteria, entry.assessments, strict=True):
            if a.applies:
                disputed = f" {DISPUTE_MARK}" if crit.disputed_here(a.facts) else ""
                reasons.append(f"{crit.id}: {a.value} {cite(crit)}{disputed}")
        if i + 1 < len(ranked):
            entry.decided = _decided(entry, ranked[i + 1], rules)
            reasons.insert(0, f"above {ranked[i + 1].candidate.id}: {entry.decided['text']}")
        entry.reasons = reasons

    could_not_weigh: dict[str, list[str]] = {}
    for entry in ranked:
        for crit, a in zip(rules.criteria, entry.assessments, strict=True):
            if a.unknown:
                could_not_weigh.setdefault(crit.id, []).append(entry.candidate.id)
    warnings = list(family.get("warnings", []))
    if patient.antibodies is None:
        warnings.insert(0, "the patient has no anti-HLA antibody screen in the case: DSA could "
                        "not be weighed for any donor — screen before final donor selection")
    if family.get("consistent") is False:
        warnings.insert(0, "the family typings are inconsistent (see everydonor family): "
                        "relations were judged by phenotype only")
    if switch.get("missing") and any(e.candidate.donor_type is DonorType.MATCHED_SIBLING
                                     for e in ranked):
        warnings.append("CSH 2021 haploidentical-over-sibling switch not fully evaluated; "
                        "missing: " + ", ".join(switch["missing"]))

    document: dict[str, Any] = {
        "rules": rules.to_dict(),
        "patient": _person_summary(patient),
        "centre": {"name": case.centre.name, "haplo_experienced": case.centre.haplo_experienced},
        "hierarchy": {"order": [t.value for t in rules.hierarchy],
                      "haplo_over_sibling": switch},
        "ranking": [_ranked_entry(i + 1, e, rules) for i, e in enumerate(ranked)],
        "excluded": excluded,
        "could_not_weigh": could_not_weigh,
        "warnings": warnings,
        "release": match.get("release"),
        "notice": DISCLAIMER,
        "legend": {"dispute": DISPUTE_LEGEND},
    }
    document["references"] = bibliography(rules, document)
    return RankingResult(document)


def _strings(value: Any, skip: Any = None) -> list[str]:
    """Every string inside a JSON-like value (``skip``: one list left out, by identity)."""
    if value is skip:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _strings(v, skip)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _strings(v, skip)]
    return []


def bibliography(rules: RuleSet, document: Mapping[str, Any]) -> dict[str, Any]:
    """The sources the report cites, each once: ``cited`` (verified, numbered ``[n]`` in the
    order of the rule set's reference list, then as first cited), ``unverified`` (evidence not
    yet verified, ``[U1]`` …: never listed as references) and ``not_cited`` (rule-set references
    nothing in this report cites).

    A source is cited when the rule-set table shows it (hierarchy, criteria and the sources of
    each disagreement) or when its full text or short label appears in the document."""
    shown: list[Citation] = [*rules.hierarchy_references]
    if rules.haplo_over_sibling is not None:
        shown.append(rules.haplo_over_sibling.citation)
    for crit in rules.criteria:
        shown += [*crit.citations, *crit.disputed_by]
    body = "\n".join(_strings(document, skip=(document.get("rules") or {}).get("references")))
    candidates = [*rules.references, WBMT_2022, *CONFIRMATORY_TYPING]
    shown += [c for c in candidates if c.text in body or short_citation(c) in body]
    seen: set[str] = set()
    ordered: list[Citation] = []
    shown_texts = {c.text for c in shown}
    for c in [*(r for r in rules.references if r.text in shown_texts), *shown]:
        if c.text not in seen:
            seen.add(c.text)
            ordered.append(c)
    cited = [c for c in ordered if c.verified]
    unverified = [c for c in ordered if not c.verified]
    return {
        "cited": [{"n": i, "marker": str(i), "label": short_citation(c), "text": c.text,
                   "url": c.url} for i, c in enumerate(cited, start=1)],
        "unverified": [{"marker": f"U{i}", "label": short_citation(c), "text": c.text,
                        "url": c.url, "why": c.unverified, "confidence": "M"}
                       for i, c in enumerate(unverified, start=1)],
        "not_cited": [c.text for c in rules.references if c.text not in seen],
    }


def _decided(upper: RankedDonor, lower: RankedDonor, rules: RuleSet) -> dict[str, Any]:
    if upper.hierarchy_tier != lower.hierarchy_tier:
        up, low = upper.candidate.donor_type.value, lower.candidate.donor_type.value
        text = (f"donor type {up.replace('_', ' ')} before {low.replace('_', ' ')} (hierarchy "
                f"[{rules.hierarchy_confidence.value}])")
        if up == low or upper.hierarchy_tier < rules.hierarchy.index(upper.candidate.donor_type):
            text = "haploidentical donor placed before the matched sibling (CSH 2021 switch)"
        return {"next": lower.candidate.id, "criterion": "hierarchy", "text": text}
    for crit, mine, theirs in zip(rules.criteria, upper.assessments, lower.assessments,
                                  strict=True):
        if mine.tier != theirs.tier:
            return {"next": lower.candidate.id, "criterion": crit.id,
                    "text": f"{crit.id} — {mine.value} vs {theirs.value} {cite(crit)}"}
    return {"next": lower.candidate.id, "criterion": None,
            "text": "equal on every criterion of the rule set; listed by id — the team decides"}


def _person_summary(p: Person) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "sex": p.sex.value if p.sex else None, "age": p.age,
            "abo": p.abo, "cmv_igg": p.cmv_igg.value if p.cmv_igg else None,
            "weight_kg": p.weight_kg, "diagnosis": p.diagnosis,
            "disease_status": p.disease_status, "disease_risk": p.disease_risk,
            "antibody_screen": None if p.antibodies is None else {
                "test_date": p.antibodies.test_date.isoformat() if p.antibodies.test_date
                else None, "method": p.antibodies.method,
                "results": len(p.antibodies.results)}}


def _ranked_entry(rank: int, e: RankedDonor, rules: RuleSet) -> dict[str, Any]:
    c = e.candidate
    p = c.person
    return {
        "rank": rank, "id": c.id, "donor_type": c.donor_type.value, "eligible": True,
        "reasons": e.reasons, "flags": e.flags,
        "relationship": p.relationship.value if p.relationship else None,
        "name": p.name, "sex": p.sex.value if p.sex else None, "age": p.age,
        "medically_eligible": p.medically_eligible,
        "relation": dict(e.relation),
        "disputes": [{"criterion": crit.id, "facts": list(a.facts),
                      "disagreement": crit.disputed,
                      "sources": [s.text for s in crit.disputed_by]}
                     for crit, a in zip(rules.criteria, e.assessments, strict=True)
                     if a.applies and crit.disputed_here(a.facts)],
        "dsa_band": c.dsa_band.band,
        "hierarchy_position": e.hierarchy_tier,
        "decided_by": e.decided,
        "criteria": [{"id": crit.id, "value": a.value,
                      "tier": a.tier if math.isfinite(a.tier) else None,
                      "unknown": a.unknown, "applies": a.applies,
                      "confidence": crit.confidence.value, "facts": list(a.facts),
                      "disputed_here": a.applies and crit.disputed_here(a.facts)}
                     for crit, a in zip(rules.criteria, e.assessments, strict=True)],
        "family": dict(c.family) if c.family else None,
        "compatibility": dict(c.compatibility),
    }


def rank_case(case: Case, reducer: Reducer, tce: TceTable, kir: KirTable,
              rules: RuleSet) -> tuple[RankingResult, dict[str, Any], dict[str, Any]]:
    """The whole chain: family segregation, matching, ranking. Returns (ranking, family, match)."""
    from everydonor.family.analysis import analyse_family
    from everydonor.matching.analysis import match_case

    family = analyse_family(case, reducer).document
    match = match_case(case, reducer, tce, kir,
                       dsa_positive_mfi=rules.parameters.dsa_positive_mfi)
    return rank_donors(case, family, match, rules), family, match
