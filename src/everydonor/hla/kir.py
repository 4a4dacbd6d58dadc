"""KIR ligands of HLA class I alleles, read off their protein sequences.

* HLA-C: **C1** when mature residue 80 is Asn, **C2** when it is Lys (ligands of KIR2DL2/3 and
  KIR2DL1). Citation: Mandelboim O et al. J Exp Med 1996;184:913-922 [M] (to verify).
* HLA-B and HLA-A: **Bw4** when residues 82-83 are Leu-Arg (the Bw4 motif of residues 77-83,
  ligand of KIR3DL1), **Bw6** when they are Arg-Gly (HLA-A: not a Bw4 ligand); Bw4 is
  **80I** or **80T** by residue 80. Citations: Wan AM et al. J Immunol 1986;137:3671 (Bw4/Bw6
  residues 77-83); Gumperz JE et al. J Exp Med 1995;181:1133-1144 (KIR3DL1 and Bw4) [M].
  The motif rule (82-83 LR vs RG) is everydonor's reading of those residues — checked in
  ``tests/hla/test_kir.py`` against textbook alleles (B*44, B*51, B*57, B*27, A*24 Bw4;
  B*07, B*08, B*35 Bw6; C*01/03/07/14 C1; C*02/04/05/06 C2) — to be verified by the centre.

KIR-ligand mismatch in the graft-versus-host direction: the donor carries a ligand group the
recipient lacks (donor NK cells licensed by it meet recipient cells without it).

Sequences are IPD-IMGT/HLA ``fasta/{A,B,C}_prot.fasta``. Partial sequences often lack the
24-residue leader, so mature numbering is found by conserved anchors, never assumed; a
sequence without an anchor, or with an unusual residue, is left unclassified (reported as
unknown, never guessed).

Pure: sequences are read by ``everydonor.adapters.reference.imgt``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from everydonor.hla.locus import Locus

KIR_CONFIDENCE = "[M] motif rule and citations to be verified by the centre"

# (pattern, mature residue number of the pattern's first character)
_ANCHORS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^M[RL]VM[AT]P"), -24),  # full length: the 24-residue leader (-24..-1)
    (re.compile(r"RPGRGEP"), 14),
    (re.compile(r"SH[ST]M"), 2),
    (re.compile(r"GEPRF"), 18),
)


class KirLigand(StrEnum):
    C1 = "C1"
    C2 = "C2"
    BW4_80I = "Bw4-80I"
    BW4_80T = "Bw4-80T"
    BW4_OTHER = "Bw4"  # Bw4 with another residue at 80
    BW6 = "Bw6"

    @property
    def group(self) -> str:
        """The ligand group compared between donor and recipient: C1, C2 or Bw4."""
        if self in (KirLigand.BW4_80I, KirLigand.BW4_80T, KirLigand.BW4_OTHER):
            return "Bw4"
        return self.value


def mature_residue(sequence: str, number: int) -> str | None:
    """Residue ``number`` (1-based, mature protein) of a possibly partial protein sequence."""
    head = sequence[:80]
    for pattern, first in _ANCHORS:
        m = pattern.search(head)
        if m:
            # the leader is numbered -24..-1 and the mature protein from 1 (no residue 0)
            index = m.start() + (number - first) - (1 if first < 0 < number else 0)
            return sequence[index] if 0 <= index < len(sequence) else None
    return None


def classify(locus: Locus, sequence: str) -> KirLigand | None:
    """The KIR ligand of one class I protein sequence, or None when it cannot be read."""
    if locus is Locus.C:
        r80 = mature_residue(sequence, 80)
        return {"N": KirLigand.C1, "K": KirLigand.C2}.get(r80 or "")
    if locus in (Locus.A, Locus.B):
        r82, r83 = mature_residue(sequence, 82), mature_residue(sequence, 83)
        motif = (r82 or "") + (r83 or "")
        if motif == "RG":
            return KirLigand.BW6
        if motif == "LR":
            r80 = mature_residue(sequence, 80)
            return {"I": KirLigand.BW4_80I, "T": KirLigand.BW4_80T}.get(r80 or "",
                                                                     KirLigand.BW4_OTHER)
    return None


@dataclass(frozen=True, slots=True)
class KirTable:
    """``class I allele → KIR ligand`` for the alleles whose sequence could be read."""

    by_allele: Mapping[str, KirLigand]
    unclassified: frozenset[str]
    release: str

    @classmethod
    def from_sequences(cls, items: Iterable[tuple[str, str]], release: str) -> KirTable:
        table: dict[str, KirLigand] = {}
        unread: set[str] = set()
        for allele, sequence in items:
            locus = {"A": Locus.A, "B": Locus.B, "C": Locus.C}.get(allele.split("*")[0])
            if locus is None:
                continue
            ligand = classify(locus, sequence)
            if ligand is None:
                unread.add(allele)
            else:
                table[allele] = ligand
        return cls(table, frozenset(unread), release)

    def ligand_of(self, alleles: Iterable[str]) -> KirLigand | None:
        """The one ligand of every expressed allele of a typing, else None (unknown)."""
        found: set[KirLigand] = set()
        for allele in alleles:
            if allele.endswith("N"):
                continue
            ligand = self.by_allele.get(allele)
            if ligand is None:
                return None
            found.add(ligand)
        return found.pop() if len(found) == 1 else None


def ligand_groups(ligands: Iterable[KirLigand | None]) -> set[str] | None:
    """The ligand groups (C1, C2, Bw4) a person carries; None if any typing is unknown."""
    out: set[str] = set()
    for ligand in ligands:
        if ligand is None:
            return None
        if ligand is not KirLigand.BW6:
            out.add(ligand.group)
    return out


def kir_ligand_mismatch_gvh(recipient: set[str] | None, donor: set[str] | None) -> bool | None:
    """True when the donor carries a ligand group the recipient lacks; None when unknown."""
    if recipient is None or donor is None:
        return None
    return bool(donor - recipient)
