"""Rule sets: which donor first, under a named platform and guideline version.

A :class:`RuleSet` is data: a donor-type hierarchy, hard exclusions, an ordered list of
:class:`Criterion` (each naming a comparison from :mod:`everydonor.selection.criteria`, with its
citation, its confidence and the sentence that explains it to a clinician) and the numeric
parameters (MFI bands, age cut-offs). Ranking is lexicographic over the criteria, in order, so
why a donor stands where it does is always the first criterion on which it differs from the
next donor.

Confidence follows ``../shared/spec/clinical-beijing.md``: ``S`` confirmed in the cited source,
``S-part`` partly confirmed, ``M`` not yet verified (kept visible in every output).

A centre adds its own rule set through :mod:`everydonor.selection.catalogue`: as a module
(build a :class:`RuleSet`, call ``register_rule_set``) or as a mapping (YAML/JSON, read by the
command line) given to ``rule_set_from_mapping``, which starts from a named base set and
overrides its parameters, criteria order and hierarchy; what it changed is recorded in the rule
set itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Confidence(StrEnum):
    CONFIRMED = "S"
    PARTLY_CONFIRMED = "S-part"
    TO_VERIFY = "M"


class DonorType(StrEnum):
    MATCHED_SIBLING = "matched_sibling"
    #: A non-sibling relative identical to the patient (e.g. a parent sharing a homozygous
    #: haplotype, consanguinity). Not in the case-format vocabulary; added.
    MATCHED_RELATED = "matched_related"
    HAPLOIDENTICAL_RELATED = "haploidentical_related"
    MISMATCHED_RELATED = "mismatched_related"
    MATCHED_UNRELATED = "matched_unrelated"
    MISMATCHED_UNRELATED = "mismatched_unrelated"


@dataclass(frozen=True, slots=True)
class Citation:
    text: str  # authors, journal, year
    url: str | None = None
    #: How reasons cite it (``Wang 2014``); derived from ``text`` when not given.
    short: str | None = None
    #: Why this is not (yet) a verifiable reference — authors or journal not identified, the
    #: primary paper not checked, not in the project's sources. Such evidence is shown [M] in
    #: its own report section, never in the reference list.
    unverified: str | None = None

    def __str__(self) -> str:
        return self.text

    @property
    def verified(self) -> bool:
        return self.unverified is None


@dataclass(frozen=True, slots=True)
class Criterion:
    """One step of a rule set's ordering."""

    id: str
    #: Name of the comparison in :data:`everydonor.selection.criteria.COMPARISONS`.
    compare: str
    explanation: str
    citations: tuple[Citation, ...]
    confidence: Confidence
    #: Where sources disagree: the disagreement, in words (the rule-set table shows it).
    disputed: str | None = None
    #: The donor facts the disagreement concerns (the :attr:`Assessment.facts
    #: <everydonor.selection.criteria.Assessment.facts>` codes of the comparison, e.g.
    #: ``older`` for a donor aged 30 or more): a reason is marked "sources disagree" only when
    #: the donor's fact is one of these. Empty: a note on the evidence that concerns no donor.
    disputed_for: tuple[str, ...] = ()
    #: The sources that point the other way (cited with the disagreement).
    disputed_by: tuple[Citation, ...] = ()

    def tag(self) -> str:
        return f"[{self.confidence.value}]"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "compare": self.compare, "explanation": self.explanation,
                "citations": [c.text for c in self.citations],
                "urls": [c.url for c in self.citations if c.url],
                "confidence": self.confidence.value, "disputed": self.disputed,
                "disputed_for": list(self.disputed_for),
                "disputed_by": [c.text for c in self.disputed_by]}

    def disputed_here(self, facts: tuple[str, ...]) -> bool:
        """Whether the disagreement concerns a donor whose value has these ``facts``."""
        return self.disputed is not None and any(f in self.disputed_for for f in facts)


@dataclass(frozen=True, slots=True)
class Parameters:
    """Numeric parameters; ``None`` means "not set: the criterion that needs it is not applied"."""

    #: DSA at or above this MFI excludes the donor unless a desensitisation plan is recorded.
    dsa_exclude_mfi: float = 10_000.0
    #: DSA at or above this MFI (and below the exclusion band) is high risk.
    dsa_high_risk_mfi: float | None = 2_000.0
    #: Laboratory positivity cut-off; None: every reported result counts (the lab's own call).
    dsa_positive_mfi: float | None = None
    #: A C1q-positive DSA moves up one band.
    dsa_c1q_escalates: bool = True
    young_donor_age: float | None = 30.0
    #: Patients at or above this age: offspring before siblings; below it: no preference.
    offspring_first_patient_age: float | None = 35.0
    #: CSH 2021 "elderly patient" for the young-offspring switch; the abstract gives no age.
    elderly_patient_age: float | None = None
    #: Loci that must match for a matched unrelated donor.
    matched_unrelated_loci: tuple[str, ...] = ("A", "B", "C", "DRB1")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dsa_exclude_mfi": self.dsa_exclude_mfi, "dsa_high_risk_mfi": self.dsa_high_risk_mfi,
            "dsa_positive_mfi": self.dsa_positive_mfi, "dsa_c1q_escalates": self.dsa_c1q_escalates,
            "young_donor_age": self.young_donor_age,
            "offspring_first_patient_age": self.offspring_first_patient_age,
            "elderly_patient_age": self.elderly_patient_age,
            "matched_unrelated_loci": list(self.matched_unrelated_loci),
        }


@dataclass(frozen=True, slots=True)
class ParameterSource:
    name: str
    citation: str
    confidence: Confidence


@dataclass(frozen=True, slots=True)
class HaploOverSibling:
    """The CSH 2021 switch: a haploidentical donor before a matched sibling, when the case
    carries the facts that trigger it."""

    high_risk_leukaemia: bool
    elderly_with_young_offspring: bool
    requires_experienced_centre: bool
    citation: Citation
    confidence: Confidence


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    version: str
    platform: str
    guideline: str
    summary: str
    hierarchy: tuple[DonorType, ...]
    hierarchy_citation: Citation
    hierarchy_confidence: Confidence
    criteria: tuple[Criterion, ...]
    parameters: Parameters
    parameter_sources: tuple[ParameterSource, ...]
    references: tuple[Citation, ...]
    #: The case facts this rule set reads, in words (shown in the report).
    reads: tuple[str, ...]
    haplo_over_sibling: HaploOverSibling | None = None
    #: KIR is weighed only where the platform's evidence says which way.
    notes: tuple[str, ...] = ()
    derived_from: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    #: Clinical sign-off of the rule set (a centre records who reviewed it, and when); None
    #: for the built-in sets, which no clinician of this project has verified yet.
    verified_by: str | None = None
    verified_on: str | None = None
    #: The sources of the hierarchy one by one (``hierarchy_citation`` is their joint text).
    hierarchy_references: tuple[Citation, ...] = ()

    def criterion(self, cid: str) -> Criterion:
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(cid)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "version": self.version, "platform": self.platform,
            "guideline": self.guideline, "summary": self.summary,
            "references": [c.text for c in self.references],
            "hierarchy": [t.value for t in self.hierarchy],
            "hierarchy_basis": {"citation": self.hierarchy_citation.text,
                                "confidence": self.hierarchy_confidence.value,
                                "references": [c.text for c in self.hierarchy_references]},
            "criteria": [c.to_dict() for c in self.criteria],
            "parameters": self.parameters.to_dict(),
            "parameter_sources": [{"parameter": p.name, "citation": p.citation,
                                   "confidence": p.confidence.value}
                                  for p in self.parameter_sources],
            "reads": list(self.reads),
            "notes": list(self.notes),
            "verified_by": self.verified_by,
            "verified_on": self.verified_on,
        }
        if self.haplo_over_sibling is not None:
            h = self.haplo_over_sibling
            out["haplo_over_sibling"] = {
                "high_risk_leukaemia": h.high_risk_leukaemia,
                "elderly_with_young_offspring": h.elderly_with_young_offspring,
                "requires_experienced_centre": h.requires_experienced_centre,
                "citation": h.citation.text, "confidence": h.confidence.value}
        if self.derived_from:
            out["derived_from"] = self.derived_from
            out["overrides"] = dict(self.overrides)
        return out
