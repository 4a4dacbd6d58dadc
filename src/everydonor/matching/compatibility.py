"""Donor-recipient HLA comparison by locus and direction, and the ABO / CMV / sex pairs.

HLA (contract: ``../shared/spec/case-format.md``, ``everydonor match``):

* ``gvh`` counts the recipient's typings the donor lacks at a locus (what donor T cells see);
  ``hvg`` the donor's typings the recipient lacks. A homozygous typing counts once, so a
  homozygous donor with a heterozygous recipient gives gvh 1, hvg 0, and the reverse.
* Typings are compared at the ARD level (lgx, the antigen-recognition domain) through the HLA
  core: two typings match when they are the same lgx allele; typings of lower resolution
  (serology, XX codes, allele strings spanning several lgx alleles) match when they *can* be the
  same allele, the locus is then compared at ``level: antigen`` and marked ``ambiguous``.
* A null allele is not expressed: it is never counted as a mismatch in either direction (a
  recipient A*01:01 + A*24:09N is compared as A*01:01 alone), and this is said in ``notes``.
* An untyped locus (on either side) is listed in ``untyped_loci`` and never counted as a match.
* Match summaries: per locus typed on both sides, 2 minus the larger of gvh and hvg; ``of_8``
  over A, B, C, DRB1, ``of_10`` adds DQB1, ``of_12`` adds DPB1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from everydonor.hla.designation import Typing
from everydonor.hla.genotype import LocusGenotype, Phenotype
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution

SUMMARY_LOCI = {
    "of_8": (Locus.A, Locus.B, Locus.C, Locus.DRB1),
    "of_10": (Locus.A, Locus.B, Locus.C, Locus.DRB1, Locus.DQB1),
    "of_12": (Locus.A, Locus.B, Locus.C, Locus.DRB1, Locus.DQB1, Locus.DPB1),
}
COMPARED_LOCI = (Locus.A, Locus.B, Locus.C, Locus.DRB1, Locus.DQB1, Locus.DPB1, Locus.DRB3,
                 Locus.DRB4, Locus.DRB5, Locus.DQA1, Locus.DPA1)


class Level(StrEnum):
    ALLELE = "allele"
    ANTIGEN = "antigen"


@dataclass(frozen=True, slots=True)
class LocusComparison:
    locus: Locus
    gvh: int
    hvg: int
    level: Level
    ambiguous: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gvh": self.gvh, "hvg": self.hvg, "level": self.level.value}
        if self.ambiguous:
            out["ambiguous"] = True
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True, slots=True)
class HlaComparison:
    loci: Mapping[Locus, LocusComparison]
    untyped_loci: tuple[Locus, ...]
    match: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"loci": {loc.value: c.to_dict() for loc, c in self.loci.items()},
                "match": dict(self.match),
                "untyped_loci": [loc.value for loc in self.untyped_loci]}


@dataclass(frozen=True, slots=True)
class _Expressed:
    """One typing as the set of lgx alleles it may be; None when only null alleles."""

    text: str
    lgx: frozenset[str]
    partly_null: bool


def _expressed(typing: Typing, reducer: Reducer) -> _Expressed | None:
    alleles = reducer.alleles_of(typing)
    expressed = [a for a in alleles if not reducer.ref.is_null(a)]
    if not expressed:
        return None
    table = reducer.allele_table(Resolution.LGX)
    lgx = frozenset(table[a] for a in expressed if a in table)
    return _Expressed(typing.text, lgx, len(expressed) < len(alleles))


def compare_locus(recipient: LocusGenotype, donor: LocusGenotype, reducer: Reducer
                  ) -> LocusComparison:
    """GvH and HvG mismatches at one locus (see the module docstring for the rules)."""
    notes: list[str] = []
    sides = []
    for who, genotype in (("recipient", recipient), ("donor", donor)):
        types: list[_Expressed] = []
        for typing in genotype.typings:
            e = _expressed(typing, reducer)
            if e is None:
                notes.append(f"{who} {typing.text} is a null allele (not expressed): not "
                             "counted")
                continue
            if e.partly_null:
                notes.append(f"{who} {typing.text} may be a null allele; compared as expressed")
            if all(e.lgx != t.lgx for t in types):
                types.append(e)
        sides.append(types)
    r_types, d_types = sides
    ambiguous = any(len(t.lgx) > 1 for t in (*r_types, *d_types))

    def lacks(mine: list[_Expressed], theirs: list[_Expressed]) -> int:
        return sum(1 for t in mine if not any(t.lgx & o.lgx for o in theirs))

    gvh, hvg = lacks(r_types, d_types), lacks(d_types, r_types)
    if ambiguous:
        notes.append("typings of lower resolution: compared by what they can be (a possible "
                     "match is not counted as a mismatch)")
    return LocusComparison(recipient.locus, gvh, hvg, Level.ANTIGEN if ambiguous else Level.ALLELE,
                           ambiguous, tuple(notes))


def compare_hla(recipient: Phenotype, donor: Phenotype, reducer: Reducer) -> HlaComparison:
    """Every locus typed in the recipient or the donor; summaries x/8, x/10, x/12."""
    loci: dict[Locus, LocusComparison] = {}
    untyped: list[Locus] = []
    for locus in COMPARED_LOCI:
        r, d = recipient.loci.get(locus), donor.loci.get(locus)
        if r is None and d is None:
            if locus in SUMMARY_LOCI["of_12"]:
                untyped.append(locus)
            continue
        if r is None or d is None:
            untyped.append(locus)
            continue
        if len(r) > 1 or len(d) > 1:
            untyped.append(locus)  # a GL genotype list: no single genotype to compare
            continue
        loci[locus] = compare_locus(r[0], d[0], reducer)
    match = {name: sum(max(0, 2 - max(loci[loc].gvh, loci[loc].hvg))
                       for loc in members if loc in loci)
             for name, members in SUMMARY_LOCI.items()}
    return HlaComparison(loci, tuple(untyped), match)


# -- ABO, CMV, sex --------------------------------------------------------------------------------

class AboCompatibility(StrEnum):
    """Standard ABO incompatibility directions in HSCT: *major* — the recipient has antibodies
    against the donor's red-cell antigens (O recipient, A donor); *minor* — the donor's plasma
    has antibodies against the recipient's (A recipient, O donor); *bidirectional* — both
    (A recipient, B donor)."""

    COMPATIBLE = "compatible"
    MAJOR = "major"
    MINOR = "minor"
    BIDIRECTIONAL = "bidirectional"


_ABO_ANTIGENS = {"O": frozenset(), "A": frozenset("A"), "B": frozenset("B"), "AB": frozenset("AB")}


def abo_compatibility(recipient: str | None, donor: str | None) -> AboCompatibility | None:
    """From ``abo`` values (``A+``, ``O-``, ``AB``); None when either is unknown. Rh is not
    part of the ABO direction."""
    if not recipient or not donor:
        return None
    r = _ABO_ANTIGENS[recipient.rstrip("+-")]
    d = _ABO_ANTIGENS[donor.rstrip("+-")]
    major, minor = bool(d - r), bool(r - d)
    if major and minor:
        return AboCompatibility.BIDIRECTIONAL
    if major:
        return AboCompatibility.MAJOR
    if minor:
        return AboCompatibility.MINOR
    return AboCompatibility.COMPATIBLE


def cmv_pair(recipient: str | None, donor: str | None) -> str:
    """``D+/R-`` style; ``?`` for an unknown or missing serostatus."""
    sign = {"positive": "+", "negative": "-"}
    return f"D{sign.get(donor or '', '?')}/R{sign.get(recipient or '', '?')}"


def sex_pair(recipient: str | None, donor: str | None) -> str:
    """``F->M`` style (donor first, as the field writes it); ``?`` when unknown."""
    letter = {"male": "M", "female": "F"}
    return f"{letter.get(donor or '', '?')}->{letter.get(recipient or '', '?')}"
