"""The comparisons a rule set orders donors by.

Each comparison looks at one :class:`DonorCandidate` and returns an :class:`Assessment`: a tier
(lower ranks first), the value in words, and — when the fact it needs is missing — what it could
not weigh. Missing facts are never guessed: a donor whose fact is unknown is placed after every
donor whose fact is known, and says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from everydonor.case import CmvSerostatus, Person, Relationship, Sex
from everydonor.selection.rules import DonorType, Parameters


@dataclass(frozen=True, slots=True)
class Assessment:
    tier: float
    value: str
    #: Set when the comparison could not weigh this donor (the missing fact, in words).
    unknown: str | None = None
    #: False when the criterion does not apply to this donor (e.g. NIMA/NIPA to a parent).
    applies: bool = True
    #: The donor's value as codes (``older``, ``mother``, ``NIPA``, ``high_risk`` …): what a
    #: criterion's disagreement note is matched against (:attr:`Criterion.disputed_for
    #: <everydonor.selection.rules.Criterion.disputed_for>`). Empty when the value is unknown.
    facts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DonorCandidate:
    """What the ranking knows about one candidate donor."""

    person: Person
    donor_type: DonorType
    #: The ``everydonor match`` entry for this donor.
    compatibility: Mapping[str, Any]
    #: The ``everydonor family`` relatives entry (None for unrelated donors).
    family: Mapping[str, Any] | None
    dsa_band: DsaBand
    flags: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.person.id


@dataclass(frozen=True, slots=True)
class DsaBand:
    """The donor's DSA in the rule set's MFI bands."""

    band: str  # negative | not_assessable | positive | high_risk | exclusion
    max_mfi: float | None
    hits: tuple[Mapping[str, Any], ...] = ()
    escalated_by_c1q: bool = False
    notes: tuple[str, ...] = field(default=())

    ORDER = ("negative", "not_assessable", "positive", "high_risk", "exclusion")

    def describe(self) -> str:
        if self.band == "negative":
            return "no donor-specific antibody"
        if self.band == "not_assessable":
            return "DSA not assessable (" + ("; ".join(self.notes) or "no antibody screen") + ")"
        hits = ", ".join(f"{h['specificity']} MFI {h['mfi']:g}"
                         + (" (possible)" if h.get("certainty") == "possible" else "")
                         + (" C1q+" if h.get("c1q") == "positive" else "")
                         for h in self.hits)
        word = {"positive": "DSA below the high-risk band", "high_risk": "high-risk DSA",
                "exclusion": "DSA in the rejection band"}[self.band]
        c1q = "; C1q-positive, moved up one band" if self.escalated_by_c1q else ""
        return f"{word}: {hits}{c1q}"


def dsa_band(dsa: Mapping[str, Any] | None, params: Parameters) -> DsaBand:
    """Put a ``matching.dsa`` answer into the rule set's bands."""
    if dsa is None:
        return DsaBand("not_assessable", None, notes=("donor not HLA typed",))
    hits = tuple(h for h in dsa.get("antibodies", [])
                 if params.dsa_positive_mfi is None or h["mfi"] >= params.dsa_positive_mfi)
    untestable = tuple(dsa.get("not_assessable", []))
    if dsa["status"] == "not_assessable" and not hits:
        notes = tuple(dsa.get("notes", [])) or (
            (f"specificities at loci the donor is not typed at: {', '.join(untestable)}",)
            if untestable else ("no antibody screen",))
        return DsaBand("not_assessable", None, notes=notes)
    if not hits:
        return DsaBand("negative", None, notes=tuple(
            f"not assessable: {s}" for s in untestable))
    top = max(h["mfi"] for h in hits)
    if top >= params.dsa_exclude_mfi:
        level = 4
    elif params.dsa_high_risk_mfi is not None and top >= params.dsa_high_risk_mfi:
        level = 3
    else:
        level = 2
    escalated = False
    if params.dsa_c1q_escalates and level < 4 and any(h.get("c1q") == "positive" for h in hits):
        level += 1
        escalated = True
    return DsaBand(DsaBand.ORDER[level], top, hits, escalated,
                   tuple(f"not assessable: {s}" for s in untestable))


Comparison = Callable[[DonorCandidate, Person, Parameters], Assessment]


def _dsa(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    band = c.dsa_band
    tier = float(DsaBand.ORDER.index(band.band))
    if band.band == "exclusion":
        return Assessment(tier, band.describe() + "; kept only because a desensitisation plan "
                          f"is recorded ({c.person.desensitization_plan})", facts=("exclusion",))
    if band.band == "not_assessable":
        return Assessment(tier, band.describe(), "DSA")
    return Assessment(tier, band.describe(), facts=(band.band,))


def _age_band(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    age = c.person.age
    if p.young_donor_age is None:
        return Assessment(0, "age band not applied (young_donor_age not set)")
    if age is None:
        return Assessment(2, "age unknown", "donor age")
    if age < p.young_donor_age:
        return Assessment(0, f"age {age:g} (< {p.young_donor_age:g}: young donor)",
                          facts=("young",))
    return Assessment(1, f"age {age:g} (>= {p.young_donor_age:g})", facts=("older",))


def _sex(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    if c.person.sex is None:
        return Assessment(2, "sex unknown", "donor sex")
    facts: tuple[str, ...] = (c.person.sex.value,)
    if c.person.sex is Sex.FEMALE and patient.sex is not None:
        facts += (f"female_to_{patient.sex.value}",)
    return Assessment(0 if c.person.sex is Sex.MALE else 1, f"{c.person.sex.value} donor",
                      facts=facts)


_COLLATERAL = "collateral or more distant relative"


def _kinship_tier(c: DonorCandidate, patient: Person, p: Parameters,
                  offspring_first: bool) -> Assessment:
    rel = c.person.relationship
    if rel is None:
        return Assessment(0, "unrelated donor", facts=("unrelated",))
    if rel.is_child:
        return Assessment(0, "child of the patient", facts=("child",))
    if rel.is_full_sibling:
        return Assessment(1 if offspring_first else 0, "full sibling", facts=("sibling",))
    if rel is Relationship.FATHER:
        return Assessment(2, "father", facts=("father", "parent"))
    if rel is Relationship.MOTHER:
        return Assessment(3, "mother", facts=("mother", "parent"))
    return Assessment(4, f"{rel.value.replace('_', ' ')} ({_COLLATERAL})",
                      facts=("collateral",))


def _kinship_beijing(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    cut = p.offspring_first_patient_age
    if cut is None:
        return _kinship_tier(c, patient, p, False)
    if patient.age is None:
        a = _kinship_tier(c, patient, p, False)
        return Assessment(a.tier, a.value, "patient age (offspring-vs-sibling order)"
                          if c.person.relationship is not None and (
                              c.person.relationship.is_child
                              or c.person.relationship.is_full_sibling) else None,
                          facts=a.facts)
    first = patient.age >= cut
    a = _kinship_tier(c, patient, p, first)
    if c.person.relationship is not None and (c.person.relationship.is_child
                                              or c.person.relationship.is_full_sibling):
        side = (f"patient {patient.age:g} >= {cut:g}: offspring before siblings" if first else
                f"patient {patient.age:g} < {cut:g}: children and siblings alike")
        return Assessment(a.tier, f"{a.value}; {side}", facts=a.facts)
    return a


_FIRST_DEGREE = ("father", "mother", "brother", "sister", "son", "daughter")


def _first_degree(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    rel = c.person.relationship
    if rel is None:
        return Assessment(0, "unrelated donor", applies=False)
    if rel.value in _FIRST_DEGREE:
        return Assessment(0, "first-degree relative", facts=("first_degree",))
    return Assessment(1, f"{rel.value.replace('_', ' ')}: {_COLLATERAL}", facts=("collateral",))


def _non_parent(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    rel = c.person.relationship
    if rel is not None and rel.is_parent:
        return Assessment(1, f"parent ({rel.value})", facts=("parent", rel.value))
    return Assessment(0, "not a parent", facts=("not_parent",))


def _sibling_nima(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    rel = c.person.relationship
    if rel is None or not rel.is_full_sibling or c.donor_type is not \
            DonorType.HAPLOIDENTICAL_RELATED:
        return Assessment(0, "not a haploidentical sibling", applies=False)
    mismatch = (c.family or {}).get("sibling_mismatch")
    if mismatch == "NIMA":
        return Assessment(0, "NIMA-mismatched sibling (shares the patient's paternal haplotype)",
                          facts=("NIMA",))
    if mismatch == "NIPA":
        return Assessment(1, "NIPA-mismatched sibling (shares the patient's maternal haplotype)",
                          facts=("NIPA",))
    return Assessment(2, "NIMA/NIPA undetermined", "NIMA/NIPA (shared haplotype undetermined)")


def _female_to_male(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    if c.person.sex is None or patient.sex is None:
        return Assessment(2, "sex pair unknown", "donor/patient sex")
    if c.person.sex is Sex.FEMALE and patient.sex is Sex.MALE:
        return Assessment(1, "female donor to male patient (avoided)", facts=("female_to_male",))
    return Assessment(0, f"{c.person.sex.value} → {patient.sex.value}",
                      facts=(f"{c.person.sex.value}_to_{patient.sex.value}",))


def _cmv(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    r, d = patient.cmv_igg, c.person.cmv_igg
    if r in (None, CmvSerostatus.UNKNOWN) or d in (None, CmvSerostatus.UNKNOWN):
        return Assessment(2, f"CMV {c.compatibility.get('cmv') or 'unknown'}",
                          "CMV serostatus")
    pair = c.compatibility.get("cmv") or ""
    if r is d:
        return Assessment(0, f"CMV {pair} (matched)", facts=("matched",))
    return Assessment(1, f"CMV {pair} (mismatched)", facts=("mismatched",))


def _cmv_positive_for_positive(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    r, d = patient.cmv_igg, c.person.cmv_igg
    if r in (None, CmvSerostatus.UNKNOWN):
        return Assessment(2, "patient CMV serostatus unknown", "patient CMV serostatus")
    if r is CmvSerostatus.NEGATIVE:
        return Assessment(0, "CMV-negative patient", applies=False)
    if d in (None, CmvSerostatus.UNKNOWN):
        return Assessment(2, "donor CMV serostatus unknown", "CMV serostatus")
    if d is CmvSerostatus.POSITIVE:
        return Assessment(0, "CMV-positive donor for a CMV-positive patient",
                          facts=("positive_for_positive",))
    return Assessment(1, "CMV-negative donor for a CMV-positive patient",
                      facts=("negative_for_positive",))


_ABO_TIER = {"compatible": 0, "minor": 1, "major": 2, "bidirectional": 3}


def _abo(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    abo = c.compatibility.get("abo")
    if abo is None:
        return Assessment(4, "ABO unknown", "ABO")
    word = "ABO compatible" if abo == "compatible" else f"ABO {abo} mismatch"
    return Assessment(_ABO_TIER[abo], word, facts=(abo,))


_CLASS_I = ("A", "B", "C")


def class_i_identical(c: DonorCandidate) -> str | None:
    """How the donor is known to be identical to the patient at HLA class I (A, B, C), or None.

    By segregation: the family proves the donor carries both of the patient's haplotypes (not a
    recombinant), so the untyped class I loci are identical too. At allele level: A, B and C
    typed, unambiguous, without a mismatch. Either way the KIR ligands are the patient's own.
    """
    fam = c.family or {}
    if (fam.get("hla_relation") == "identical" and fam.get("basis") == "segregation"
            and not fam.get("recombinant")):
        return "by segregation"
    loci = (c.compatibility.get("hla") or {}).get("loci", {})
    if all(loc in loci and loci[loc].get("level") == "allele" and not loci[loc].get("ambiguous")
           and not loci[loc]["gvh"] and not loci[loc]["hvg"] for loc in _CLASS_I):
        return "at allele level"
    return None


def _kir_avoid(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    value = c.compatibility.get("kir_ligand_mismatch_gvh")
    identical = class_i_identical(c)
    if identical is not None and not value:
        return Assessment(0, f"no KIR-ligand mismatch possible: HLA class I identical "
                          f"{identical}", facts=("class_i_identical",))
    if value is None:
        return Assessment(2, "KIR-ligand status unknown (A, B or C not resolved)",
                          "KIR ligands")
    if value:
        return Assessment(1, "KIR-ligand mismatch in the GvH direction", facts=("mismatch",))
    return Assessment(0, "no KIR-ligand mismatch in the GvH direction", facts=("none",))


def _hla_matches(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    if c.person.relationship is not None:
        return Assessment(0, "related donor", applies=False)
    hla = c.compatibility.get("hla")
    if not hla:
        return Assessment(99, "not HLA typed", "HLA match")
    of_10 = hla["match"]["of_10"]
    untyped = hla.get("untyped_loci", [])
    return Assessment(10 - of_10, f"{of_10}/10" + (f" (untyped: {', '.join(untyped)})"
                                                    if untyped else ""),
                      facts=("matched" if of_10 == 10 else "mismatched",))


#: Where a continuous donor-age criterion says "older" for a disagreement note: the cut-off of
#: the analyses that disagree (McCurdy 2018: HR 1.39 for donors >= 30 y, gone after adjusting).
OLDER_DONOR_AGE = 30.0


def _age(c: DonorCandidate, patient: Person, p: Parameters) -> Assessment:
    if c.person.age is None:
        return Assessment(math.inf, "age unknown", "donor age")
    cut = p.young_donor_age if p.young_donor_age is not None else OLDER_DONOR_AGE
    return Assessment(c.person.age, f"age {c.person.age:g}",
                      facts=("older" if c.person.age >= cut else "young",))


COMPARISONS: dict[str, Comparison] = {
    "dsa": _dsa,
    "donor_age_band": _age_band,
    "donor_sex": _sex,
    "kinship_beijing": _kinship_beijing,
    "non_parent": _non_parent,
    "first_degree": _first_degree,
    "sibling_nima": _sibling_nima,
    "female_to_male": _female_to_male,
    "cmv_match": _cmv,
    "cmv_positive_for_positive": _cmv_positive_for_positive,
    "abo": _abo,
    "kir_ligand_gvh_avoid": _kir_avoid,
    "hla_matches_unrelated": _hla_matches,
    "donor_age": _age,
}
