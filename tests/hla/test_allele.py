import pytest

from everydonor.errors import InvalidHlaName
from everydonor.hla.allele import Expression, allele_sort_key, parse_allele
from everydonor.hla.locus import Locus, parse_locus


def test_parse_four_field_null_allele() -> None:
    a = parse_allele("HLA-A*01:04:01:01N")
    assert a.locus is Locus.A
    assert a.fields == ("01", "04", "01", "01")
    assert a.expression is Expression.NULL and a.is_null
    assert a.name == "A*01:04:01:01N"
    assert a.truncate(2).name == "A*01:04N"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A0201", "expected LOCUS*FIELD:FIELD"),
        ("A*", "no fields"),
        ("A*01:0X", "not numeric"),
        ("A*1:01", "2 to 4 digits"),
        ("A*01:01:01:01:01", "at most 4"),
        ("Q*01:01", "not a typing locus"),
    ],
)
def test_malformed_names_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(InvalidHlaName) as err:
        parse_allele(text)
    assert fragment in str(err.value)
    assert err.value.value == text


def test_natural_order_is_numeric() -> None:
    names = ["A*01:10", "A*01:02", "A*01:100", "A*01:01:01:02N", "A*01:01:01:01"]
    assert sorted(names, key=allele_sort_key) == [
        "A*01:01:01:01", "A*01:01:01:02N", "A*01:02", "A*01:10", "A*01:100"]


def test_locus_lookup_and_serology_prefix() -> None:
    assert parse_locus("HLA-DRB1") is Locus.DRB1
    assert parse_locus("MICA") is None
    assert Locus.C.serology_prefix == "Cw"
    assert Locus.DPB1.serology_prefix is None
