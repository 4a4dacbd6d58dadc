"""The mismatch scan is a lower bound: it never drops a donor that prediction finds within N.

Checked on all 10,000 WMDA donors for five patients and N = 0, 1, 2 (the listed donors must be
exactly the scan candidates with P(≤ N) > 0), and by hand on small dictionaries (nulls,
untyped loci, homozygosity).
"""

from __future__ import annotations

import numpy as np
import pytest

from everydonor.adapters.search.runner import patient_from_text
from everydonor.hla.locus import Locus
from everydonor.unrelated.scan import LocusDictionary, PatientLocus, locus_lut, scan
from everydonor.unrelated.search import plan_search, predict_rows, search_partition
from tests.unrelated.conftest import PATIENTS, grimm_patients


def _dictionary(typings: list[list[str]], genotypes: list[tuple[int, int]]) -> LocusDictionary:
    names = sorted({x for t in typings for x in t})
    indptr = [0, 0]  # typing 0 is untyped
    ids: list[int] = []
    for t in typings:
        ids += [names.index(x) for x in t]
        indptr.append(len(ids))
    return LocusDictionary(Locus.A, tuple(names), np.asarray(indptr, dtype=np.int64),
                           np.asarray(ids, dtype=np.int32), ("", *tuple("/".join(t) for t in typings)),
                           np.asarray([(0, 0), *genotypes], dtype=np.int32))


def test_lut_by_hand() -> None:
    d = _dictionary([["A*01:01"], ["A*02:01"], ["A*01:01", "A*03:01"], ["A*24:09N"]],
                    [(1, 2), (1, 1), (3, 3), (2, 4), (1, 0)])
    lut = locus_lut(d, PatientLocus(frozenset({"A*01:01"}), frozenset({"A*02:01"})))
    # untyped 0; 01+02 → 0; 01+01 → 1; (01/03)+(01/03) → 1; 02+null → 02 homozygous → 1;
    # a genotype with one untyped typing counts 0 (left to prediction)
    assert lut.tolist() == [0, 0, 1, 1, 1, 0]
    homozygous = locus_lut(d, PatientLocus(frozenset({"A*02:01"}), frozenset({"A*02:01"})))
    assert homozygous.tolist() == [0, 1, 2, 2, 0, 0]  # 02 + null is 02 homozygous
    untyped = locus_lut(d, PatientLocus(None, None))
    assert not untyped.any()


def test_scan_sums_the_tables() -> None:
    rng = np.random.default_rng(1)
    luts = [rng.integers(0, 3, 50).astype(np.uint8) for _ in range(5)]
    gids = [rng.integers(0, 50, 1000).astype(np.int32) for _ in range(5)]
    for n in (0, 1, 2):
        rows, mm = scan(gids, luts, n)
        total = sum(lut[g].astype(int) for lut, g in zip(luts, gids, strict=True))
        assert rows.tolist() == np.flatnonzero(total <= n).tolist()
        assert mm.tolist() == total[rows].tolist()


@pytest.mark.parametrize("pid", PATIENTS)
def test_scan_never_drops_a_donor_prediction_would_list(pid, wmda_store, wmda_fs,
                                                        reducer) -> None:  # type: ignore[no-untyped-def]
    patient = patient_from_text(grimm_patients()[pid], reducer)
    for n in (0, 1, 2):
        plan = plan_search(patient, wmda_store.dictionaries(), wmda_fs, n)
        for cols in wmda_store.genotype_columns():
            everyone = predict_rows(plan, cols, np.arange(cols[0].size, dtype=np.int64))
            within = everyone.probs[:, : n + 1].sum(axis=1) > 0
            expected = set(everyone.rows[within | everyone.unrepresented].tolist())
            listed = search_partition(plan, cols)
            assert set(listed.rows.tolist()) == expected
            # and the scan's own bound holds for every listed donor
            assert (listed.mismatches_min <= n).all()
