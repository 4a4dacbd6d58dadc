"""KIR ligands read off the IPD-IMGT/HLA 3.58.0 class I protein sequences."""

import pytest

from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_class_i_proteins
from everydonor.hla.designation import parse_typing
from everydonor.hla.kir import (
    KirLigand,
    KirTable,
    classify,
    kir_ligand_mismatch_gvh,
    ligand_groups,
    mature_residue,
)
from everydonor.hla.locus import Locus


@pytest.fixture(scope="module")
def table() -> KirTable:
    return load_kir_table()


@pytest.mark.parametrize(
    ("allele", "ligand"),
    [("C*01:02:01:01", KirLigand.C1), ("C*03:04:01:01", KirLigand.C1),
     ("C*07:01:01:01", KirLigand.C1), ("C*14:02:01:01", KirLigand.C1),
     ("C*02:02:02:01", KirLigand.C2), ("C*04:01:01:01", KirLigand.C2),
     ("C*05:01:01:01", KirLigand.C2), ("C*06:02:01:01", KirLigand.C2),
     ("B*44:02:01:01", KirLigand.BW4_80T), ("B*51:01:01:01", KirLigand.BW4_80I),
     ("B*57:01:01:01", KirLigand.BW4_80I), ("B*27:05:02:01", KirLigand.BW4_80T),
     ("B*07:02:01:01", KirLigand.BW6), ("B*08:01:01:01", KirLigand.BW6),
     ("B*35:01:01:01", KirLigand.BW6), ("A*24:02:01:01", KirLigand.BW4_80I),
     ("A*32:01:01:01", KirLigand.BW4_80I), ("A*02:01:01:01", KirLigand.BW6)],
)
def test_textbook_alleles(table: KirTable, allele: str, ligand: KirLigand) -> None:
    assert table.by_allele[allele] is ligand


def test_every_c_allele_with_a_sequence_gets_a_group(table: KirTable) -> None:
    c = [(a, s) for a, s in read_class_i_proteins(open_release()) if a.startswith("C*")]
    assert len(c) == 8570
    # every expressed C allele is read unless its residue 80 is neither Asn nor Lys: each such
    # allele is listed as unclassified, none guessed (null alleles carry no ligand)
    expressed = [(a, s) for a, s in c if not a.endswith("N")]
    unread = [a for a, _ in expressed if a not in table.by_allele]
    for allele in unread:
        assert mature_residue(dict(c)[allele], 80) not in ("N", "K", None), allele
    assert len(unread) < 0.005 * len(expressed)
    assert set(unread) <= table.unclassified


def test_partial_sequences_without_leader_are_numbered_by_anchor() -> None:
    full = "MRVMAPRTLILLLSGALALTETWA" + "GSHSMKYFFTSVSRPGRGEPRFISVGYVDDTQFVRFDSDAASPRGEP"
    partial = full[24:]
    assert mature_residue(full, 14) == mature_residue(partial, 14) == "R"
    assert classify(Locus.C, "X" * 10) is None


def test_typing_ligand_and_gvh_mismatch(table: KirTable, reducer) -> None:  # type: ignore[no-untyped-def]
    def lig(text: str) -> KirLigand | None:
        return table.ligand_of(reducer.alleles_of(parse_typing(text)))

    assert lig("C*07:01") is KirLigand.C1
    assert lig("C*07:XX") is None  # spans C1 and C2 alleles: unknown, not guessed
    recipient = ligand_groups([lig("C*01:02"), lig("C*03:04"), lig("B*07:02"), lig("B*08:01")])
    donor = ligand_groups([lig("C*01:02"), lig("C*04:01"), lig("B*07:02"), lig("B*44:02")])
    assert recipient == {"C1"} and donor == {"C1", "C2", "Bw4"}
    assert kir_ligand_mismatch_gvh(recipient, donor) is True
    assert kir_ligand_mismatch_gvh(donor, recipient) is False
    assert kir_ligand_mismatch_gvh(None, donor) is None
