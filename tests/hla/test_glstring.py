import pytest
from hypothesis import given
from hypothesis import strategies as st

from everydonor.errors import InvalidHlaName
from everydonor.hla.glstring import is_gl_string, map_tokens, parse_gl


def test_precedence_and_round_trip() -> None:
    text = "A*01:01/A*01:02+A*02:01|A*03:01+A*03:01^B*08:01~C*07:01+B*07:02~C*07:02"
    gl = parse_gl(text)
    assert len(gl.loci) == 2
    assert len(gl.loci[0].genotypes) == 2
    assert gl.loci[0].genotypes[0].copies[0].alleles[0].tokens == ("A*01:01", "A*01:02")
    assert gl.loci[1].genotypes[0].copies[0].alleles[1].tokens == ("C*07:01",)
    assert gl.format() == text


def test_code_form() -> None:
    gl = parse_gl("hla#3.58.0#HLA-A*01:01+HLA-A*02:01")
    assert gl.version == "3.58.0"
    assert gl.format() == "A*01:01+A*02:01"
    assert gl.format(code=True) == "hla#3.58.0#HLA-A*01:01+HLA-A*02:01"
    with pytest.raises(InvalidHlaName):
        parse_gl("A*01:01").format(code=True)
    with pytest.raises(InvalidHlaName, match="namespace"):
        parse_gl("kir#2.10.0#KIR2DL1*001")


@pytest.mark.parametrize("text", ["", "A*01:01+", "A*01:01++A*02:01", "A*01:01+A*02:01+A*03:01",
                                  "^B*08:01", "A*01:01 + A*02:01$"])
def test_malformed(text: str) -> None:
    with pytest.raises(InvalidHlaName):
        parse_gl(text)


def test_map_tokens_deduplicates_allele_lists() -> None:
    gl = parse_gl("A*01:01:01:01/A*01:01:02+A*02:01")
    out = map_tokens(gl, lambda t: ":".join(t.split(":")[:2]))
    assert out.format() == "A*01:01+A*02:01"


def test_is_gl_string() -> None:
    assert is_gl_string("A*01:01+A*02:01")
    assert not is_gl_string("A*01:01/A*01:02")


names = st.builds(lambda loc, a, b: f"{loc}*{a:02d}:{b:02d}",
                  st.sampled_from(["A", "B", "C", "DRB1", "DQB1"]),
                  st.integers(1, 99), st.integers(1, 999))
allele_lists = st.lists(names, min_size=1, max_size=3).map("/".join)
haplotypes = st.lists(allele_lists, min_size=1, max_size=3).map("~".join)
genotypes = st.lists(haplotypes, min_size=1, max_size=2).map("+".join)
genotype_lists = st.lists(genotypes, min_size=1, max_size=3).map("|".join)
gl_strings = st.lists(genotype_lists, min_size=1, max_size=4).map("^".join)


@given(gl_strings)
def test_round_trip_property(text: str) -> None:
    assert parse_gl(text).format() == text
    assert parse_gl(parse_gl(text).format(code=True, version="3.58.0")).format() == text
