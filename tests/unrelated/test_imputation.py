"""Imputation and match prediction against a plain exact reference (tests/unrelated/naive.py).

Random small frequency sets and typings (untyped loci, null alleles, names the set lacks,
zero frequencies) are imputed and compared by both; the vectorised code must give the same
genotype distribution, the same unrepresented verdict, the same probabilities (to 1e-12) and
exactly the same definite/potential/mismatch categories — also when the work is cut into tiny
chunks and windows.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from everydonor.unrelated.frequencies import LOCI, N_LOCI
from everydonor.unrelated.imputation import Imputer, Labels, distribution_of
from everydonor.unrelated.prediction import (
    add_sums,
    empty_sums,
    mismatch_sums,
    patient_labels,
    percent,
    predictions_from_sums,
)
from tests.unrelated import naive
from tests.unrelated.helpers import rows_for, tiny_set

NAMES = [[f"{loc.value}*0{k}:01" for k in range(1, 4)] + [f"{loc.value}*09:01N"]
         for loc in LOCI]
EXTRA = [f"{loc.value}*77:01" for loc in LOCI]  # an lgx name no haplotype carries
ALL_NAMES = [[*NAMES[i], EXTRA[i]] for i in range(N_LOCI)]


@st.composite
def worlds(draw: st.DrawFn) -> dict:
    per_locus = [draw(st.lists(st.sampled_from(NAMES[i]), min_size=1, max_size=4, unique=True))
                 for i in range(N_LOCI)]
    haps = draw(st.lists(st.tuples(*[st.sampled_from(per_locus[i]) for i in range(N_LOCI)]),
                         min_size=1, max_size=9, unique=True))
    weights = draw(st.lists(st.integers(0, 30), min_size=len(haps), max_size=len(haps)))

    def typing() -> st.SearchStrategy:
        def locus(i: int) -> st.SearchStrategy:
            pool = [*per_locus[i], EXTRA[i]]
            names = st.frozensets(st.sampled_from(pool), min_size=1, max_size=3)
            return st.one_of(st.none(), st.tuples(names, names))

        return st.tuples(*[locus(i) for i in range(N_LOCI)])

    subjects = draw(st.lists(typing(), min_size=2, max_size=5))
    return {"haps": haps, "weights": weights, "subjects": [list(s) for s in subjects]}


def _reference(world: dict, typing: list) -> dict | None:
    known = naive.known_genotype(typing)
    if known is not None:
        return known
    return naive.distribution(world["haps"], [Fraction(w, 1000) for w in world["weights"]],
                              typing)


def _names(space, genotype: np.ndarray) -> tuple:  # type: ignore[no-untyped-def]
    return tuple(tuple(sorted(space.name_of(i, int(x)) for x in genotype[i]))
                 for i in range(N_LOCI))


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_genotype_distribution_equals_the_reference(world: dict) -> None:
    _fs, space = tiny_set(world["haps"], [w / 1000 for w in world["weights"]], ALL_NAMES)
    rows, index = rows_for(space, world["subjects"])
    imputer = Imputer(space, rows)
    for s, typing in enumerate(world["subjects"]):
        dist = distribution_of(imputer, index[s])
        ref = _reference(world, typing)
        if ref is None:
            assert dist.unrepresented
            continue
        assert not dist.unrepresented
        got = {_names(space, g): float(p) for g, p in zip(dist.genotypes, dist.probs,
                                                          strict=True)}
        want = {tuple(tuple(sorted(x)) for x in g): float(p) for g, p in ref.items()}
        assert got.keys() == want.keys()
        for g, p in want.items():
            assert abs(got[g] - p) < 1e-12


@settings(max_examples=150, deadline=None)
@given(worlds(), st.integers(1, 40), st.integers(1, 7))
def test_prediction_equals_the_reference_in_any_chunking(world: dict, cells: int,
                                                         pairs: int) -> None:
    _fs, space = tiny_set(world["haps"], [w / 1000 for w in world["weights"]], ALL_NAMES)
    rows, index = rows_for(space, world["subjects"])
    patient_typing, donors = world["subjects"][0], world["subjects"][1:]
    dist = distribution_of(Imputer(space, rows), index[0])
    ref_patient = _reference(world, patient_typing)
    assert dist.unrepresented == (ref_patient is None)
    if dist.unrepresented:
        return
    universe = dist.universe()
    imputer = Imputer(space, rows, max_cells=cells, max_pairs=pairs)  # tiny: many windows
    stream, summary = imputer.run(index[1:], Labels.against(space, universe))
    sums = empty_sums(len(donors))
    for chunk in stream:
        add_sums(sums, mismatch_sums(patient_labels(dist.genotypes, universe), dist.probs,
                                     chunk, len(donors), max_cells=3))
    got = predictions_from_sums(sums, summary.totals)
    for k, typing in enumerate(donors):
        ref_donor = _reference(world, typing)
        assert (got[k] is None) == (ref_donor is None)
        if ref_donor is None or got[k] is None:
            continue
        assert ref_patient is not None
        total, match, cats = naive.predict(ref_patient, ref_donor)
        pred = got[k]
        for j in range(3):
            assert abs(pred.p_mismatches[j] - float(total[j])) < 1e-12
        for i in range(N_LOCI):
            assert abs(pred.loci[i].p_match - float(match[i])) < 1e-12
            assert pred.loci[i].category == cats[i], (i, typing)


def test_hardy_weinberg_weights_and_the_null_rule() -> None:
    """Two haplotypes, a heterozygous subject: the diplotype weighs 2·f1·f2, normalised to 1;
    A*09:01N beside A*01:01 is compared as A*01:01 homozygous."""
    haps = [("A*01:01", "C*01:01", "B*01:01", "DRB1*01:01", "DQB1*01:01"),
            ("A*09:01N", "C*02:01", "B*02:01", "DRB1*02:01", "DQB1*02:01"),
            ("A*02:01", "C*02:01", "B*02:01", "DRB1*02:01", "DQB1*02:01")]
    _fs, space = tiny_set(haps, [0.2, 0.1, 0.3])
    a = frozenset({"A*01:01"})
    either = frozenset({"A*09:01N", "A*02:01"})
    rest = [(frozenset({h[i] for h in haps[:1]}), frozenset({haps[1][i]}))
            for i in range(1, N_LOCI)]
    rows, index = rows_for(space, [[(a, either), *rest]])
    dist = distribution_of(Imputer(space, rows), index[0])
    # f(h0)f(h1) vs f(h0)f(h2): 0.02 vs 0.06 → 1/4 and 3/4, and the null takes A*01:01's place
    got = {_names(space, g)[0]: p for g, p in zip(dist.genotypes, dist.probs, strict=True)}
    assert abs(got[("A*01:01", "A*01:01")] - 0.25) < 1e-15
    assert abs(got[("A*01:01", "A*02:01")] - 0.75) < 1e-15
    assert dist.diplotypes == 2


def test_percent_rounds_half_up_with_a_tolerance() -> None:
    assert percent(0.075) == 8
    assert percent(0.07499999999999998) == 8  # 7.5 computed in floating point
    assert percent(0.0749) == 7
    assert percent(0.004999) == 0
    assert percent(0.995) == 100
    assert percent(1.0) == 100
