"""DPB1 TCE v2 groups (IPD-IMGT/HLA tce/dpb_tce.csv) and permissiveness."""

import csv

import pytest

from everydonor.adapters.reference.imgt import bundled_release_dir, open_release, read_tce
from everydonor.hla.designation import parse_typing
from everydonor.hla.tce import TceAssignment, TceBasis, TceOutcome, TceTable, tce_outcome


@pytest.fixture(scope="module")
def table() -> TceTable:
    return read_tce(open_release())


def test_every_assigned_allele_of_the_release_gets_its_group(table: TceTable) -> None:
    rows = [r for r in csv.reader(
        ln for ln in (bundled_release_dir() / "tce" / "dpb_tce.csv").read_text().splitlines()
        if not ln.startswith("#")) if r and r[0].startswith("DPB1*")]
    assert len(rows) == 2762
    for allele, _protein, _v1, v2, *_ in rows:
        got = table.by_allele[allele]
        value = v2.rstrip("$")
        assert got.group == (None if value == "0" else value), allele
        assert (got.basis is TceBasis.FUNCTIONAL_DISTANCE) == v2.endswith("$"), allele


def test_groups_of_known_alleles(table: TceTable, reducer) -> None:  # type: ignore[no-untyped-def]
    def group(text: str) -> str | None:
        a = table.group_of(reducer.alleles_of(parse_typing(text)))
        return a.group if a else None

    assert group("DPB1*09:01:01:01") == "1"
    assert group("DPB1*03:01:01:01") == "2"
    assert group("DPB1*06:01:01:01") == "2a"  # changed from 3 (V1) to 2a (V2)
    assert group("DPB1*04:01:01:01") == "3"
    assert group("DPB1*61:01N") is None  # a null allele has no expressed group


def test_outcomes() -> None:
    g = {k: TceAssignment(k, TceBasis.DIRECT) for k in ("1", "2", "2a", "3")}
    assert tce_outcome([g["3"], g["3"]], [g["3"], g["2"]], dpb1_matched=True) is TceOutcome.MATCH
    assert tce_outcome([g["3"], g["2"]], [g["3"], g["2a"]], dpb1_matched=False) is (
        TceOutcome.PERMISSIVE)  # 2a ranks with 2
    assert tce_outcome([g["1"], g["3"]], [g["3"], g["3"]], dpb1_matched=False) is (
        TceOutcome.NON_PERMISSIVE_GVH)  # the recipient carries the more immunogenic group
    assert tce_outcome([g["3"], g["3"]], [g["2"], g["3"]], dpb1_matched=False) is (
        TceOutcome.NON_PERMISSIVE_HVG)
    assert tce_outcome([g["3"], None], [g["3"], g["3"]], dpb1_matched=False) is (
        TceOutcome.UNKNOWN)


def test_ambiguous_typing_across_groups_is_unknown(table: TceTable, reducer) -> None:  # type: ignore[no-untyped-def]
    assert table.group_of(reducer.alleles_of(parse_typing("DPB1*09:01/DPB1*04:01"))) is None
    assert table.group_of(reducer.alleles_of(parse_typing("DPB1*04:01/DPB1*02:01"))) == (
        TceAssignment("3", TceBasis.DIRECT))
