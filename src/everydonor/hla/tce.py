"""HLA-DPB1 T-cell-epitope (TCE) groups and DPB1 mismatch permissiveness.

Source of the groups: IPD-IMGT/HLA ``tce/dpb_tce.csv`` (columns Allele, Protein, V1_Assignment,
V2_Assignment, Comments) — TCE version 2 groups ``1``, ``2``, ``2a``, ``3``; ``0`` marks a null
allele; a trailing ``$`` marks a group assigned from functional-distance scores rather than
directly. Citations: Fleischhauer K et al. Lancet Oncol 2012;13:366-374 (TCE algorithm);
Crivello P et al. Biol Blood Marrow Transplant 2016;22:1133-1141 (functional distance, TCE v2)
— [M] authors/journals to be verified by the centre.

Permissiveness (as the issue that specifies it states): two DPB1 genotypes that do not match
are *permissive* when the most immunogenic group (lowest group number) is the same on both
sides, otherwise *non-permissive* in the direction of the side that carries the more
immunogenic group: the recipient → ``non_permissive_gvh`` (its antigens are the target of the
donor's T cells), the donor → ``non_permissive_hvg``. [M] the naming of the direction is to be
verified against Fleischhauer 2012 before clinical use. Group 2a ranks with group 2 (number 2).

Pure: rows are read by ``everydonor.adapters.reference.imgt``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

TCE_CONFIDENCE = "[M] group semantics and direction naming to be verified by the centre"


class TceBasis(StrEnum):
    DIRECT = "direct"
    FUNCTIONAL_DISTANCE = "functional_distance"  # '$' in the file


class TceOutcome(StrEnum):
    MATCH = "match"
    PERMISSIVE = "permissive"
    NON_PERMISSIVE_GVH = "non_permissive_gvh"
    NON_PERMISSIVE_HVG = "non_permissive_hvg"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TceAssignment:
    """The TCE v2 group of one DPB1 allele; ``group`` None for a null allele (``0``)."""

    group: str | None
    basis: TceBasis

    @property
    def rank(self) -> int | None:
        """Immunogenicity rank: the group number (1 most immunogenic); None for null."""
        return None if self.group is None else int(self.group.rstrip("a"))


@dataclass(frozen=True, slots=True)
class TceTable:
    """``DPB1 allele name → TceAssignment`` for the alleles the file assigns."""

    by_allele: Mapping[str, TceAssignment]
    release: str

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[str]], release: str) -> TceTable:
        table: dict[str, TceAssignment] = {}
        for row in rows:
            if len(row) < 4 or row[0] == "Allele" or not row[0].startswith("DPB1*"):
                continue
            raw = row[3].strip()
            if not raw:
                continue
            basis = TceBasis.FUNCTIONAL_DISTANCE if raw.endswith("$") else TceBasis.DIRECT
            value = raw.rstrip("$")
            if value not in ("0", "1", "2", "2a", "3"):
                continue  # an unknown code is left unassigned, never guessed
            table[row[0].strip()] = TceAssignment(None if value == "0" else value, basis)
        return cls(table, release)

    def group_of(self, alleles: Iterable[str]) -> TceAssignment | None:
        """The one assignment shared by every expressed allele of a typing, else None.

        Null alleles (group 0) are left out: they are not expressed. A typing whose alleles
        fall in different groups, or include an unassigned allele, has no group (unknown).
        """
        found: set[str | None] = set()
        bases: set[TceBasis] = set()
        expressed = 0
        for allele in alleles:
            a = self.by_allele.get(allele)
            if a is None:
                if not allele.endswith("N"):
                    return None
                continue
            if a.group is None:
                continue
            expressed += 1
            found.add(a.group)
            bases.add(a.basis)
        if expressed == 0 or len(found) != 1:
            return None
        basis = TceBasis.DIRECT if bases == {TceBasis.DIRECT} else TceBasis.FUNCTIONAL_DISTANCE
        return TceAssignment(found.pop(), basis)


def tce_outcome(recipient: Sequence[TceAssignment | None], donor: Sequence[TceAssignment | None],
                *, dpb1_matched: bool) -> TceOutcome:
    """DPB1 TCE permissiveness of a donor-recipient pair (two typings per side).

    ``dpb1_matched`` says whether the DPB1 genotypes match (decided by the matching layer at the
    level it compares alleles); group assignments of each typing come from :meth:`group_of`.
    """
    if dpb1_matched:
        return TceOutcome.MATCH
    if any(a is None for a in (*recipient, *donor)):
        return TceOutcome.UNKNOWN
    r_ranks = [a.rank for a in recipient if a is not None and a.rank is not None]
    d_ranks = [a.rank for a in donor if a is not None and a.rank is not None]
    if not r_ranks or not d_ranks:
        return TceOutcome.UNKNOWN
    r, d = min(r_ranks), min(d_ranks)
    if r == d:
        return TceOutcome.PERMISSIVE
    return TceOutcome.NON_PERMISSIVE_GVH if r < d else TceOutcome.NON_PERMISSIVE_HVG
