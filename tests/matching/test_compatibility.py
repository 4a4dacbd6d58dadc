"""Hand-checked expectations for the HLA comparison and the ABO / CMV / sex pairs."""

import pytest

from everydonor.hla.genotype import locus_genotype, phenotype_from_mapping
from everydonor.hla.locus import Locus
from everydonor.matching.compatibility import (
    AboCompatibility,
    Level,
    abo_compatibility,
    cmv_pair,
    compare_hla,
    compare_locus,
    sex_pair,
)


def cmp(r: list[str], d: list[str], reducer, locus: Locus = Locus.A):  # type: ignore[no-untyped-def]
    return compare_locus(locus_genotype(locus, r), locus_genotype(locus, d), reducer)


@pytest.mark.parametrize(
    ("recipient", "donor", "gvh", "hvg"),
    [
        (["A*02:01", "A*11:01"], ["A*02:01", "A*11:01"], 0, 0),
        (["A*02:01", "A*11:01"], ["A*02:01", "A*24:02"], 1, 1),
        (["A*02:01", "A*11:01"], ["A*24:02", "A*33:03"], 2, 2),
        # homozygous donor, heterozygous recipient: gvh 1, hvg 0 (the contract's example)
        (["A*02:01", "A*11:01"], ["A*02:01", "A*02:01"], 1, 0),
        # and the reverse
        (["A*02:01", "A*02:01"], ["A*02:01", "A*11:01"], 0, 1),
        # both homozygous, different: one mismatch each way (a homozygous typing counts once)
        (["A*02:01", "A*02:01"], ["A*24:02", "A*24:02"], 1, 1),
        # same lgx allele written at different resolutions
        (["A*02:01:01:01", "A*11:01"], ["A*02:01", "A*11:01:01G"], 0, 0),
    ],
)
def test_directions_and_homozygosity(reducer, recipient, donor, gvh, hvg) -> None:  # type: ignore[no-untyped-def]
    c = cmp(recipient, donor, reducer)
    assert (c.gvh, c.hvg, c.level, c.ambiguous) == (gvh, hvg, Level.ALLELE, False)


def test_null_alleles_are_not_counted(reducer) -> None:  # type: ignore[no-untyped-def]
    # recipient A*01:01 + A*24:09N (null) vs donor homozygous A*01:01: no mismatch either way
    c = cmp(["A*01:01", "A*24:09N"], ["A*01:01", "A*01:01"], reducer)
    assert (c.gvh, c.hvg) == (0, 0)
    assert any("A*24:09N is a null allele" in n for n in c.notes)


def test_low_resolution_donor_is_compared_at_antigen_level(reducer) -> None:  # type: ignore[no-untyped-def]
    c = cmp(["A*02:01", "A*11:01"], ["A2", "A24"], reducer)
    assert (c.gvh, c.hvg, c.level, c.ambiguous) == (1, 1, Level.ANTIGEN, True)
    c = cmp(["A*02:01", "A*11:01"], ["A*02:XX", "A11"], reducer)
    assert (c.gvh, c.hvg) == (0, 0) and c.ambiguous


def test_phenotype_summaries_and_untyped(reducer) -> None:  # type: ignore[no-untyped-def]
    patient = phenotype_from_mapping({
        "A": ["A*02:01", "A*11:01"], "B": ["B*46:01", "B*51:01"], "C": ["C*01:02", "C*14:02"],
        "DRB1": ["DRB1*09:01", "DRB1*15:01"], "DQB1": ["DQB1*03:03", "DQB1*06:02"]})
    father = phenotype_from_mapping({"A": ["A*02:01", "A*24:02"], "B": ["B*46:01", "B*40:01"],
                                     "DRB1": ["DRB1*09:01", "DRB1*12:01"]})
    result = compare_hla(patient, father, reducer)
    assert [loc.value for loc in result.untyped_loci] == ["C", "DQB1", "DPB1"]
    assert result.match == {"of_8": 3, "of_10": 3, "of_12": 3}  # untyped never counted
    doc = result.to_dict()
    assert doc["loci"]["A"] == {"gvh": 1, "hvg": 1, "level": "allele"}
    assert doc["untyped_loci"] == ["C", "DQB1", "DPB1"]
    identical = compare_hla(patient, patient, reducer)
    assert identical.match == {"of_8": 8, "of_10": 10, "of_12": 10}


@pytest.mark.parametrize(
    ("recipient", "donor", "expected"),
    [("A+", "A-", AboCompatibility.COMPATIBLE), ("O+", "A+", AboCompatibility.MAJOR),
     ("A+", "O+", AboCompatibility.MINOR), ("A+", "B+", AboCompatibility.BIDIRECTIONAL),
     ("AB+", "O-", AboCompatibility.MINOR), ("O", "AB", AboCompatibility.MAJOR),
     ("B", "AB", AboCompatibility.MAJOR)],
)
def test_abo(recipient: str, donor: str, expected: AboCompatibility) -> None:
    assert abo_compatibility(recipient, donor) is expected


def test_abo_cmv_sex_unknown_and_pairs() -> None:
    assert abo_compatibility(None, "A+") is None
    assert cmv_pair("negative", "positive") == "D+/R-"
    assert cmv_pair("positive", None) == "D?/R+"
    assert sex_pair("male", "female") == "F->M"
    assert sex_pair(None, "male") == "M->?"
