import pytest

from everydonor.errors import EverydonorError, InvalidHlaName
from everydonor.hla.genotype import (
    gl_of,
    locus_genotype,
    phenotype_from_gl,
    phenotype_from_mapping,
)
from everydonor.hla.locus import Locus


def test_homozygous_is_explicit() -> None:
    g = locus_genotype(Locus.A, ["A*02:01", "HLA-A*02:01"])
    assert g.homozygous
    assert not locus_genotype(Locus.A, ["A*02:01", "A*11:01"]).homozygous


@pytest.mark.parametrize("typings", [["A*02:01"], ["A*02:01", "A*02:01", "A*03:01"], "A*02:01"])
def test_two_typings_required(typings: list[str]) -> None:
    with pytest.raises(InvalidHlaName, match="exactly two typings") as err:
        locus_genotype(Locus.A, typings, person="F")
    assert err.value.person == "F" and err.value.field == "hla.A"


def test_wrong_locus_and_half_typed() -> None:
    with pytest.raises(InvalidHlaName, match="typing of B, given under A"):
        locus_genotype(Locus.A, ["A*02:01", "B*08:01"], person="S1")
    with pytest.raises(InvalidHlaName, match="one typing is missing"):
        locus_genotype(Locus.A, ["A*02:01", "UUUU"])
    # DR51/52/53 are serological names of DRB5/3/4, accepted with DRB1 typings' family
    assert locus_genotype(Locus.DRB3, ["DR52", "DR52"]).homozygous


def test_error_names_person_field_value() -> None:
    with pytest.raises(InvalidHlaName) as err:
        phenotype_from_mapping({"A": ["A*02:01", "A*0X:01"]}, person="M")
    assert err.value.person == "M" and err.value.field == "hla.A"
    assert "person 'M', field 'hla.A'" in str(err.value)
    with pytest.raises(InvalidHlaName, match="'HLA-Z' is not a typing locus"):
        phenotype_from_mapping({"HLA-Z": ["A*02:01", "A*02:01"]})


def test_phenotype_lists_untyped_loci() -> None:
    p = phenotype_from_mapping({"A": ["A*02:01", "A*24:02"], "B": ["B*46:01", "B*40:01"],
                                "C": ["C*UUUU", "C*UUUU"]}, person="F")
    assert p.typed_loci() == [Locus.A, Locus.B]
    assert Locus.C in p.untyped_loci()
    assert p.gl() == "A*02:01+A*24:02^B*46:01+B*40:01"
    with pytest.raises(EverydonorError, match="untyped"):
        p.genotype(Locus.DRB1)


def test_from_gl_with_haplotypes_and_genotype_list() -> None:
    p = phenotype_from_gl("A*01:01~B*08:01+A*02:01~B*07:02^DRB1*03:01+DRB1*15:01|DRB1*03:01+"
                          "DRB1*15:02", person="P1")
    assert p.phased
    assert p.genotype(Locus.B).typings[1].text == "B*07:02"
    assert p.is_ambiguous(Locus.DRB1) and len(p.loci[Locus.DRB1]) == 2
    with pytest.raises(EverydonorError, match="alternative genotypes"):
        p.genotype(Locus.DRB1)
    assert gl_of(p).format() == p.gl()


def test_from_gl_errors_name_the_field() -> None:
    with pytest.raises(InvalidHlaName) as err:
        phenotype_from_gl("A*01:01", person="P1")
    assert err.value.field == "hla_gl" and err.value.person == "P1"
    with pytest.raises(InvalidHlaName, match="different loci"):
        phenotype_from_gl("A*01:01~B*08:01+A*02:01")
