"""Reduction rules on a hand-made release (tests/hla/tiny.py), each checkable by eye."""

import pytest

from everydonor.errors import InvalidHlaName, UnknownAllele, UnknownMacCode
from everydonor.hla.designation import MacDictionary, TypingKind, expand, parse_typing
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution
from tests.hla.tiny import tiny_reference

REF = tiny_reference()
R = Reducer(REF, MacDictionary({"AB": "01/11N", "CD": "01:01/02:10"}, source="tiny"))


def red(text: str, to: Resolution) -> str:
    return R.reduce_text(text, to)


def test_only_typing_loci_are_kept() -> None:
    assert "E*01:01:01:01" not in REF.alleles
    assert "A*01:01:01:01" in REF.alleles


@pytest.mark.parametrize(
    ("text", "g", "p", "lgx", "two"),
    [
        # in a G group: G from the file, lgx from its lowest-numbered member
        ("A*01:01:01:01", "A*01:01:01G", "A*01:01P", "A*01:01", "A*01:01"),
        ("A*02:10:01", "A*02:10:01G", "A*02:07P", "A*02:07", "A*02:10"),
        # outside every G group: its own G, lgx from its P group
        ("A*01:01:02", "A*01:01:02", "A*01:01P", "A*01:01", "A*01:01"),
        ("A*02:10:02", "A*02:10:02", "A*02:07P", "A*02:07", "A*02:10"),
        # nulls: in a G group they reduce with it (ARD); ungrouped null-only names stay null
        ("A*01:04:01:01N", "A*01:01:01G", "A*01:04:01:01N", "A*01:01", "A*01:04N"),
        ("A*01:11N", "A*01:11N", "A*01:11N", "A*01:11N", "A*01:11N"),
        ("A*01:52:01N", "A*01:52:01N", "A*01:52:01N", "A*01:52N", "A*01:52N"),
    ],
)
def test_allele_reductions(text: str, g: str, p: str, lgx: str, two: str) -> None:
    assert red(text, Resolution.G) == g
    assert red(text, Resolution.P) == p
    assert red(text, Resolution.LGX) == lgx
    assert red(text, Resolution.TWO_FIELD) == two


def test_truncated_name_follows_grouped_alleles() -> None:
    # A*02:10 covers A*02:10:01 (grouped, lg A*02:07) and A*02:10:02 (ungrouped)
    assert red("A*02:10", Resolution.LGX) == "A*02:07"
    assert red("A*02:10", Resolution.G) == "A*02:10:01G"
    assert red("A*01:52N", Resolution.G) == "A*01:52N"


def test_bare_name_of_a_null_only_allele_is_refused_with_a_hint() -> None:
    with pytest.raises(UnknownAllele, match="did you mean the null allele A\\*01:52N"):
        red("A*01:52", Resolution.LGX)


def test_deleted_allele_names_the_reason() -> None:
    with pytest.raises(UnknownAllele, match="identical to A\\*01:01:01:01") as err:
        red("A*01:99", Resolution.LGX)
    assert err.value.release == "0.0.1-tiny"


def test_serology() -> None:
    assert red("A*01:01", Resolution.SEROLOGY) == "A1"
    assert red("A*02:07:01", Resolution.SEROLOGY) == "A2/A19"  # possible antigens (PSA)
    assert red("DRB1*03:02:01", Resolution.SEROLOGY) == "DR18"  # assumed antigen (ASA)
    none = R.reduce(parse_typing("A*01:01:01:02N"), Resolution.SEROLOGY)
    assert none.output is None and "null allele" in (none.note or "")
    dp = R.reduce(parse_typing("DPB1*04:01:01:01"), Resolution.SEROLOGY)
    assert dp.output is None and "no WHO serological antigens" in (dp.note or "")


def test_broad_antigen_covers_split_alleles() -> None:
    assert expand(parse_typing("B12"), REF) == ("B*44:02:01:01", "B*44:03:01", "B*45:01:01")
    assert expand(parse_typing("B44"), REF) == ("B*44:02:01:01", "B*44:03:01")
    assert expand(parse_typing("DR3"), REF) == ("DRB1*03:01:01:01", "DRB1*03:02:01")


def test_xx_of_a_broad_covers_the_split_families() -> None:
    assert expand(parse_typing("B*12:XX"), REF) == ("B*44:02:01:01", "B*44:03:01", "B*45:01:01")


def test_mac_generic_and_specific() -> None:
    assert red("A*01:AB", Resolution.LGX) == "A*01:01/A*01:11N"
    assert red("A*01:CD", Resolution.LGX) == "A*01:01/A*02:07"
    with pytest.raises(UnknownMacCode, match="'ZZ' is not in the MAC list"):
        red("A*01:ZZ", Resolution.LGX)


def test_groups_expand_to_their_members() -> None:
    assert expand(parse_typing("A*02:10:01G"), REF) == ("A*02:07:01", "A*02:10:01")
    assert expand(parse_typing("A*02:07P"), REF) == ("A*02:07:01", "A*02:10:01", "A*02:10:02")
    assert expand(parse_typing("A*02:07g"), REF) == ("A*02:07:01", "A*02:10:01", "A*02:10:02")
    with pytest.raises(UnknownAllele):
        expand(parse_typing("A*09:01:01G"), REF)


def test_ambiguity_is_a_result() -> None:
    result = R.reduce(parse_typing("A*01:01/A*02:10"), Resolution.LGX)
    assert result.ambiguous and result.output == "A*01:01/A*02:07"
    assert result.kind is TypingKind.ALLELE_STRING


def test_untyped() -> None:
    for text in ("", "UUUU", "A*UUUU"):
        t = parse_typing(text)
        assert t.is_untyped
        assert R.reduce(t, Resolution.LGX).output is None


@pytest.mark.parametrize("text", ["A*01:01+A*02:01", "A*01:01/B*44:02", "A*01:01//A*01:02"])
def test_not_a_single_typing(text: str) -> None:
    with pytest.raises(InvalidHlaName):
        parse_typing(text)


def test_allele_string_shorthand() -> None:
    t = parse_typing("A*01:01/02:10")
    assert [m.name for m in t.members] == ["A*01:01", "A*02:10"]
    t = parse_typing("A*01:01:01/02")
    assert [m.name for m in t.members] == ["A*01:01:01", "A*01:01:02"]


def test_fast_paths_agree_with_the_full_parser() -> None:
    """Every name, allele string and XX code: the lookup-table answer equals the parsed one."""
    fresh = Reducer(REF, R.macs)
    fresh.build_tables(Resolution.LGX)
    names = sorted(fresh.name_table(Resolution.LGX))
    texts = [*names, "A*01:XX", "B*12:XX"]
    texts += [f"{a}/{b}" for a in names for b in names if a.split("*")[0] == b.split("*")[0]]
    slow = Reducer(REF, R.macs)
    for text in texts:
        expected = slow.reduce(parse_typing(text), Resolution.LGX).output
        assert fresh.reduce_text(text, Resolution.LGX) == expected, text


def test_reduce_many_on_error() -> None:
    r = Reducer(REF, R.macs)
    assert r.reduce_many(["A*01:01", "A*01:99", "A*01:01"], Resolution.G, on_error="none") == [
        "A*01:01:01G", None, "A*01:01:01G"]
    with pytest.raises(UnknownAllele):
        r.reduce_many(["A*01:99"], Resolution.G)
    # a refused typing is remembered, and refused again with the same error
    with pytest.raises(UnknownAllele, match="identical to"):
        r.reduce_text("A*01:99", Resolution.G)
    with pytest.raises(ValueError):
        r.reduce_many([], Resolution.G, on_error="ignore")


def test_mixed_loci_string_is_not_taken_by_the_fast_path() -> None:
    with pytest.raises(InvalidHlaName, match="mixes loci"):
        Reducer(REF).reduce_text("A*01:01/B*44:02:01:01", Resolution.LGX)


def test_build_tables_for_every_resolution() -> None:
    r = Reducer(REF)
    for to in Resolution:
        r.build_tables(to)
    assert r.reduce_text("A*01:XX", Resolution.TWO_FIELD).startswith("A*01:01/")
    assert r.reduce_text("B*44:02:01:01", Resolution.SEROLOGY) == "B44"
    with pytest.raises(ValueError):
        r.name_table(Resolution.SEROLOGY)
