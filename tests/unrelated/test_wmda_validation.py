"""Match prediction validated on the WMDA reference set 3 (Bochtler W et al., HLA 2016;87:
439-448; CC BY-NC-ND 4.0, read from ../shared/data/wmda-set3, never copied).

freqs.txt is the only frequency set. For patients P000001-P000005 against all 10,000 donors,
per-locus category and integer percentage of A, C, B, DRB1, DQB1, P(9/10) and P(10/10) are
compared with ``consensus-P000001-P000005.txt`` (BOM removed, truncated last line dropped):
49,822 pairs. Issue target: exact on >= 99.9 % of pairs, within 1 point on all.

Two inputs:

1. the subjects as the GRIMM authors expanded them (MACs resolved with NMDP's service at the
   time): every pair;
2. the donors as published (``don.txt``: XX codes and MACs), expanded by everydonor itself on
   IPD-IMGT/HLA 3.58.0 with the only MAC list available offline (Atlas' 2020 subset, which
   lacks many codes): every donor whose MACs the list has, every pair of those donors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from everydonor.adapters.donorstore import DonorStore
from everydonor.adapters.search.runner import patient_from_text
from everydonor.unrelated.prediction import percent
from everydonor.unrelated.search import hits_to_predictions, plan_search, predict_rows
from tests.conftest import WMDA
from tests.unrelated.conftest import PATIENTS, consensus_rows, grimm_patients

CATEGORY = {"definite": "A", "potential": "P", "mismatch": "M"}


def _ours(store: DonorStore, fs, reducer, patient_line: str) -> dict:  # type: ignore[no-untyped-def]
    plan = plan_search(patient_from_text(patient_line, reducer), store.dictionaries(), fs, 2)
    out = {}
    for part, cols in enumerate(store.genotype_columns()):
        rows = np.arange(cols[0].size, dtype=np.int64)
        preds = hits_to_predictions(predict_rows(plan, cols, rows))
        for rec, pred in zip(store.records(part, rows.tolist()), preds, strict=True):
            out[rec.id] = pred
    return out


def _row(pred) -> list[str]:  # type: ignore[no-untyped-def]
    cells = []
    for loc in pred.loci:
        cells += [CATEGORY[loc.category], str(percent(loc.p_match))]
    return [*cells, str(percent(pred.p_9_of_10)), str(percent(pred.p_10_of_10))]


def _compare(store: DonorStore, fs, reducer) -> dict[str, object]:  # type: ignore[no-untyped-def]
    patients = grimm_patients()
    expected = consensus_rows()
    counts = {"pairs": 0, "exact": 0, "within_1": 0, "beyond_1": 0, "unrepresented": 0}
    differences = []
    for pid in PATIENTS:
        ours = _ours(store, fs, reducer, patients[pid])
        for row in (r for r in expected if r[0] == pid):
            if row[1] not in ours:
                continue  # a donor this store does not hold
            counts["pairs"] += 1
            pred = ours[row[1]]
            if pred is None:
                counts["unrepresented"] += 1
                differences.append((row, None))
                continue
            mine = _row(pred)
            if mine == row[2:]:
                counts["exact"] += 1
                continue
            numbers = [abs(int(a) - int(b)) for a, b in zip(mine[1::2][:5] + mine[10:],
                                                            row[3:12:2] + row[12:], strict=True)]
            counts["within_1" if max(numbers) <= 1 else "beyond_1"] += 1
            differences.append((row, mine))
    return {**counts, "differences": differences[:20]}


def test_consensus_reproduced_on_every_pair(wmda_store, wmda_fs, reducer) -> None:  # type: ignore[no-untyped-def]
    result = _compare(wmda_store, wmda_fs, reducer)
    assert result["pairs"] == 49_822
    # measured: every pair exact (categories and integer percentages); the issue asks >= 99.9 %
    assert result["exact"] == 49_822, result["differences"]
    assert result["beyond_1"] == 0 and result["unrepresented"] == 0


@pytest.fixture(scope="module")
def raw_store(tmp_path_factory, reducer):  # type: ignore[no-untyped-def]
    path: Path = tmp_path_factory.mktemp("wmda-raw") / "store"
    store = DonorStore.open(path, create=True, release=reducer.release)
    report = store.import_file(WMDA / "don.txt", reducer)
    return store, report


def test_raw_typings_expanded_by_everydonor_reproduce_the_consensus(raw_store, wmda_fs,
                                                                    reducer) -> None:  # type: ignore[no-untyped-def]
    store, report = raw_store
    # every donor is either imported or rejected with its reason: the missing MAC codes
    assert report.imported + len(report.rejected) == 10_000
    assert report.imported == 6_698
    assert all("is not in the MAC list in use" in r.reason for r in report.rejected)
    result = _compare(store, wmda_fs, reducer)
    assert result["pairs"] == 33_312
    assert result["exact"] == 33_312, result["differences"]


def test_frequency_set_is_the_published_file(wmda_fs) -> None:  # type: ignore[no-untyped-def]
    # sha256 from ../shared/data/wmda-set3/SOURCES.md
    assert wmda_fs.digest == "05843e5273ad4b38c6c01072393d3929fcf0c997ab9fa553be68692810c4ee97"
    assert wmda_fs.size == 3394 - 14  # 14 haplotypes are listed with frequency 0
    assert any("frequency 0" in w for w in wmda_fs.warnings)
