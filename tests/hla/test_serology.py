import pytest

from everydonor.errors import InvalidHlaName
from everydonor.hla.locus import Locus
from everydonor.hla.serology import SerologyRelations, parse_antigen


@pytest.mark.parametrize(
    ("text", "locus", "name"),
    [("A2", Locus.A, "A2"), ("B44", Locus.B, "B44"), ("Cw7", Locus.C, "Cw7"),
     ("C7", Locus.C, "Cw7"), ("DR15", Locus.DRB1, "DR15"), ("DR52", Locus.DRB3, "DR52"),
     ("DR51", Locus.DRB5, "DR51"), ("DR53", Locus.DRB4, "DR53"), ("DQ7", Locus.DQB1, "DQ7"),
     ("A02", Locus.A, "A2")],
)
def test_antigen_names(text: str, locus: Locus, name: str) -> None:
    antigen = parse_antigen(text)
    assert antigen.locus is locus
    assert antigen.name == name


@pytest.mark.parametrize("text", ["Bw4", "DP1", "X12", "A-2"])
def test_non_antigens_are_refused(text: str) -> None:
    with pytest.raises(InvalidHlaName):
        parse_antigen(text)


def test_broad_split_associated() -> None:
    rel = SerologyRelations.from_rows([("B", "12", "44/45", ""), ("B", "21", "49/50", "4005"),
                                       ("Dw", "6", "18/19", "")])
    b12, b44, b21 = parse_antigen("B12"), parse_antigen("B44"), parse_antigen("B21")
    assert {a.name for a in rel.family(b12)} == {"B12", "B44", "B45"}
    assert rel.broad_of(b44) == b12
    assert {a.name for a in rel.family(b21)} == {"B21", "B49", "B50", "B4005"}
    assert rel.broad_of(parse_antigen("B4005")) == b21
    assert rel.broad_of(b12) is None
