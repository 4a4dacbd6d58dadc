"""Donor-specific anti-HLA antibodies (DSA): the patient's single-antigen-bead results against a
donor's typing.

A specificity is an allele (``A*24:02``), a serological antigen (``A24``, ``DR4``, ``DQ7``,
``B12``) or a DQ/DP heterodimer (``DQA1*05:01/DQB1*02:01``). It hits a donor typing when they
can be the same HLA molecule:

* an **allele** antibody, against a donor typed at allele level, hits when the donor's allele is
  the antibody's (compared by the alleles both names cover); against a donor typed at lower
  resolution, the comparison is made at antigen level through ``rel_dna_ser`` (the antibody's
  allele's serological antigen against the donor's);
* an **antigen** antibody covers the antigen and its splits and associated antigens
  (``rel_ser_ser``): an antibody to B12 reacts with a donor B44;
* a **heterodimer** antibody hits when the donor carries both chains (DQA1 and DQB1, or DPA1 and
  DPB1); whether they pair in cis or trans is not known from the typing, so the hit is
  ``possible``.

A hit is ``definite`` when every allele the donor typing allows is hit, ``possible`` when only
some are. A specificity at a locus the donor is not typed at cannot be assessed. MFI bands
(positive, strong, rejection) belong to the active rule set, not to this module: this module
reports every reactive specificity with its MFI; ``positive_mfi`` only filters what counts as
reactive when given (the laboratory's own call is otherwise taken as reported).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from everydonor.case import AntibodyTest
from everydonor.errors import EverydonorError
from everydonor.hla.designation import Typing, TypingKind, parse_typing
from everydonor.hla.genotype import LocusGenotype, Phenotype
from everydonor.hla.locus import Locus, parse_locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution
from everydonor.hla.serology import Antigen


class DsaStatus(StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    NOT_ASSESSABLE = "not_assessable"


@dataclass(frozen=True, slots=True)
class DsaHit:
    specificity: str
    mfi: float
    donor_typing: str
    certainty: str  # "definite" | "possible"
    level: str  # "allele" | "antigen" | "heterodimer"
    c1q: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"specificity": self.specificity, "mfi": self.mfi,
                               "donor_typing": self.donor_typing, "certainty": self.certainty,
                               "level": self.level}
        if self.c1q:
            out["c1q"] = self.c1q
        return out


@dataclass(frozen=True, slots=True)
class DsaResult:
    status: DsaStatus
    max_mfi: float | None
    antibodies: tuple[DsaHit, ...]
    not_assessable: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value, "max_mfi": self.max_mfi,
                               "antibodies": [h.to_dict() for h in self.antibodies]}
        if self.not_assessable:
            out["not_assessable"] = list(self.not_assessable)
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def _antigens_of(alleles: Iterable[str], reducer: Reducer) -> set[Antigen]:
    return set(reducer.serology_of(list(alleles))[0])


def _covers(antigen: Antigen, reducer: Reducer) -> frozenset[Antigen]:
    """An antibody to ``antigen`` reacts with it, its splits and their associated antigens."""
    return reducer.ref.relations.family(antigen)


def assess_dsa(test: AntibodyTest | None, donor: Phenotype | None, reducer: Reducer, *,
               positive_mfi: float | None = None) -> DsaResult:
    """Every reactive specificity of the patient that hits the donor's typing."""
    if test is None or not test.results:
        return DsaResult(DsaStatus.NOT_ASSESSABLE, None, (), (), ("no antibody test recorded",))
    if donor is None:
        return DsaResult(DsaStatus.NOT_ASSESSABLE, None, (), (), ("donor not typed",))
    hits: list[DsaHit] = []
    unassessable: list[str] = []
    notes: list[str] = []
    for result in test.results:
        if positive_mfi is not None and result.mfi < positive_mfi:
            continue
        try:
            found, missing = _hits(result.specificity, result.mfi, result.c1q, donor, reducer)
        except EverydonorError as exc:
            notes.append(f"specificity {result.specificity!r} not understood: {exc.message}")
            unassessable.append(result.specificity)
            continue
        hits.extend(found)
        if missing:
            unassessable.append(f"{result.specificity} (donor untyped at {', '.join(missing)})")
    if hits:
        return DsaResult(DsaStatus.POSITIVE, max(h.mfi for h in hits), tuple(hits),
                         tuple(unassessable), tuple(notes))
    if unassessable:
        return DsaResult(DsaStatus.NOT_ASSESSABLE, None, (), tuple(unassessable), tuple(notes))
    return DsaResult(DsaStatus.NEGATIVE, None, (), (), tuple(notes))


def _hits(specificity: str, mfi: float, c1q: str | None, donor: Phenotype, reducer: Reducer
          ) -> tuple[list[DsaHit], list[str]]:
    parts = specificity.split("/")
    if len(parts) == 2 and all("*" in p for p in parts) and (
        parts[0].split("*")[0] != parts[1].split("*")[0]
    ):
        return _heterodimer(specificity, parts, mfi, c1q, donor=donor, reducer=reducer)
    typing = parse_typing(specificity)
    locus = typing.locus
    assert locus is not None
    options = donor.loci.get(locus)
    if not options:
        return [], [locus.value]
    hits: list[DsaHit] = []
    lgx = reducer.allele_table(Resolution.LGX)
    if typing.kind is TypingKind.SEROLOGY and typing.antigen is not None:
        covered = _covers(typing.antigen, reducer)
        for donor_typing, donor_alleles in _donor_typings(options, reducer):
            donor_antigens = _antigens_of(donor_alleles, reducer)
            if donor_antigens & covered:
                certainty = "definite" if donor_antigens <= covered else "possible"
                hits.append(DsaHit(specificity, mfi, donor_typing.text, certainty, "antigen",
                                   c1q))
        return _dedupe(hits), []
    antibody_lgx = {lgx[a] for a in reducer.alleles_of(typing) if a in lgx}
    antibody_antigens = _antigens_of(reducer.alleles_of(typing), reducer)
    for donor_typing, donor_alleles in _donor_typings(options, reducer):
        if donor_typing.kind in ALLELE_LEVEL:
            donor_lgx = {lgx[a] for a in donor_alleles if a in lgx}
            if donor_lgx & antibody_lgx:
                certainty = "definite" if donor_lgx <= antibody_lgx else "possible"
                hits.append(DsaHit(specificity, mfi, donor_typing.text, certainty, "allele",
                                   c1q))
        elif antibody_antigens & _antigens_of(donor_alleles, reducer):
            # the donor is typed below allele level: compared at antigen level
            hits.append(DsaHit(specificity, mfi, donor_typing.text, "possible", "antigen", c1q))
    return _dedupe(hits), []


ALLELE_LEVEL = frozenset({TypingKind.ALLELE, TypingKind.ALLELE_STRING, TypingKind.G_GROUP,
                          TypingKind.P_GROUP, TypingKind.LG_GROUP, TypingKind.MAC})


def _donor_typings(options: Iterable[LocusGenotype], reducer: Reducer
                   ) -> Iterable[tuple[Typing, set[str]]]:
    for genotype in options:
        for donor_typing in genotype.typings:
            expressed = {a for a in reducer.alleles_of(donor_typing)
                         if not reducer.ref.is_null(a)}
            if expressed:
                yield donor_typing, expressed


def _heterodimer(specificity: str, parts: list[str], mfi: float, c1q: str | None, *,
                 donor: Phenotype, reducer: Reducer) -> tuple[list[DsaHit], list[str]]:
    chains = []
    for part in parts:
        locus = parse_locus(part.split("*")[0])
        if locus not in (Locus.DQA1, Locus.DQB1, Locus.DPA1, Locus.DPB1):
            raise EverydonorError(f"{specificity!r} is not a DQ or DP heterodimer",
                                  value=specificity)
        chains.append((locus, reducer.alleles_of(parse_typing(part))))
    missing = [loc.value for loc, _ in chains if not donor.loci.get(loc)]
    if missing:
        return [], missing
    matched_typings = []
    for locus, alleles in chains:
        hit = [t.text for g in donor.loci[locus] for t in g.typings
               if set(reducer.alleles_of(t)) & set(alleles)]
        if not hit:
            return [], []
        matched_typings.append(hit[0])
    return [DsaHit(specificity, mfi, "+".join(matched_typings), "possible", "heterodimer",
                   c1q)], []


def _dedupe(hits: list[DsaHit]) -> list[DsaHit]:
    seen: set[tuple[str, str]] = set()
    out = []
    for h in hits:
        key = (h.specificity, h.donor_typing)
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out
