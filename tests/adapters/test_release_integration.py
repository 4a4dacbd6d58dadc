"""Known answers on the bundled IPD-IMGT/HLA 3.58.0 release."""

import pytest

from everydonor.errors import UnknownAllele
from everydonor.hla.designation import expand, parse_typing
from everydonor.hla.reference import Resolution


@pytest.mark.parametrize(
    ("typing", "to", "expected"),
    [
        ("A*01:01:01:01", Resolution.G, "A*01:01:01G"),
        ("A*01:01:01:01", Resolution.P, "A*01:01P"),
        ("A*01:01:01:01", Resolution.LGX, "A*01:01"),
        ("B*15:01", Resolution.SEROLOGY, "B62"),
        ("DRB1*03:01", Resolution.SEROLOGY, "DR17"),
        ("C*01:02", Resolution.SEROLOGY, "Cw1"),
        ("DRB3*01:01", Resolution.SEROLOGY, "DR52"),
        ("A*24:02:01:02L", Resolution.LGX, "A*24:02"),
        ("C*02:10", Resolution.LGX, "C*02:02"),
        ("A*01:04:01:01N", Resolution.TWO_FIELD, "A*01:04N"),
        ("DRB1*13:01/13:02", Resolution.LGX, "DRB1*13:01/DRB1*13:02"),
        ("DPB1*04:01", Resolution.P, "DPB1*04:01P"),
    ],
)
def test_known_reductions(reducer, typing: str, to: Resolution, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert reducer.reduce_text(typing, to) == expected


def test_broad_antibody_reacts_with_split_donor(ref) -> None:  # type: ignore[no-untyped-def]
    b12 = set(expand(parse_typing("B12"), ref))
    expressed = {a for a in expand(parse_typing("B*44:02"), ref) if not a.endswith(("N", "S"))}
    assert expressed <= b12
    assert set(expand(parse_typing("B44"), ref)) < b12


def test_mac_and_xx(reducer) -> None:  # type: ignore[no-untyped-def]
    assert reducer.reduce_text("A*01:AB", Resolution.LGX) == "A*01:01/A*01:02"
    xx = reducer.reduce_text("A*01:XX", Resolution.LGX).split("/")
    assert "A*01:01" in xx and all(x.startswith("A*01:") for x in xx)


def test_unknown_allele_names_value_and_release(reducer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownAllele) as err:
        reducer.reduce_text("A*01:9999", Resolution.LGX)
    assert err.value.value == "A*01:9999" and err.value.release == "3.58.0"


def test_batch_fast_path_equals_the_parser_on_the_release(ref, macs) -> None:  # type: ignore[no-untyped-def]
    import random

    from everydonor.hla.reduction import Reducer

    rng = random.Random(7)
    names = sorted(n for n in ref.by_prefix if n.count(":") == 1 and n.startswith("B*"))
    names += sorted(a for a in ref.alleles if a.startswith("B*"))[:3000]
    texts = [f"{a}/{b}" for a, b in (rng.sample(names, 2) for _ in range(2000))]
    texts += [f"{a}/{b}/{c}" for a, b, c in (rng.sample(names, 3) for _ in range(500))]
    texts += ["B*44:XX", "B*12:XX", "A*01:AB", "B*08:01/C*07:01", "B*44:02/03"]
    fast = Reducer(ref, macs)
    fast.build_tables(Resolution.LGX)
    batch = fast.reduce_many(texts, Resolution.LGX, on_error="none")
    slow = Reducer(ref, macs)
    for text, got in zip(texts, batch, strict=True):
        try:
            expected = slow.reduce(parse_typing(text), Resolution.LGX).output
        except Exception:
            expected = None
        assert got == expected, text
    assert batch[-2] is None  # mixed loci refused
    assert batch[-1] == "B*44:02/B*44:03"


def test_null_alleles_are_said_to_be_null(reducer) -> None:  # type: ignore[no-untyped-def]
    r = reducer.reduce(parse_typing("A*01:04:01:01N"), Resolution.LGX)
    assert r.output == "A*01:01"  # the ARD convention (py-ard agrees)...
    assert r.note is not None and r.note.startswith("null allele (not expressed)")  # ...said
    assert "null" in (reducer.reduce(parse_typing("A*01:XX"), Resolution.LGX).note or "")
    assert reducer.reduce(parse_typing("A*02:01:01:01"), Resolution.LGX).note is None
