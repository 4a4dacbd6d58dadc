"""Search behaviour: unrepresented donors listed with null probabilities, the short circuit for
typings unambiguous at the matching level, ranking, frequency-set refusals, and the same answer
from a Dask cluster as from this process."""

from __future__ import annotations

from pathlib import Path

import pytest

from everydonor.adapters.donorstore import DonorStore
from everydonor.adapters.reference.imgt import open_release, read_tce
from everydonor.adapters.search.frequencies import read_frequency_file
from everydonor.adapters.search.runner import dask_runner, patient_from_text, run_search
from everydonor.errors import InputError
from everydonor.unrelated.frequencies import parse_frequency_lines
from tests.conftest import GRIMM, WMDA
from tests.unrelated.conftest import grimm_patients

HEADER = ("donor_id,registry,sex,age,abo,cmv_igg,A_1,A_2,C_1,C_2,B_1,B_2,DRB1_1,DRB1_2,"
          "DQB1_1,DQB1_2")
FULL = "C*07:01,C*07:02,B*08:01,B*07:02,DRB1*03:01,DRB1*15:01,DQB1*02:01,DQB1*06:02"
PATIENT = ("A*02:07+A*03:01^C*07:01+C*07:02^B*08:01+B*07:02^DRB1*03:01+DRB1*15:01"
           "^DQB1*02:01+DQB1*06:02")


@pytest.fixture(scope="module")
def tce():  # type: ignore[no-untyped-def]
    return read_tce(open_release())


def _search(store, patient, fs, reducer, tce, *, n=2):  # type: ignore[no-untyped-def]
    return run_search(store, patient_from_text(patient, reducer), fs, n, reducer, tce=tce)


def test_unrepresented_and_short_circuited_donors(tmp_path: Path, reducer, wmda_fs,
                                                  tce) -> None:  # type: ignore[no-untyped-def]
    # A*02:07 is not in the WMDA set: typed at all five loci the genotype is known anyway
    # (short circuit); with C untyped it must be imputed, and no diplotype explains it.
    rows = [f"S1,R,male,30,O,negative,A*02:07,A*03:01,{FULL}",
            f"S2,R,male,30,O,negative,A*02:07,A*03:01,,,{FULL.split(',', 2)[2]}",
            f"S3,R,male,30,O,negative,A*01:01,A*03:01,{FULL}"]
    csv = tmp_path / "d.csv"
    csv.write_text("\n".join([HEADER, *rows]) + "\n")
    store = DonorStore.open(tmp_path / "s", create=True, release=reducer.release)
    store.import_file(csv, reducer)
    doc = _search(store, PATIENT, wmda_fs, reducer, tce).document
    by_id = {d["id"]: d for d in doc["donors"]}
    assert doc["patient_imputation"]["short_circuit"] is True
    assert by_id["S1"]["p_10_of_10"] == 1.0 and by_id["S1"]["imputation"]["short_circuit"]
    assert all(v["category"] == "definite" for v in by_id["S1"]["loci"].values())
    assert by_id["S2"]["unrepresented"] is True and by_id["S2"]["p_10_of_10"] is None
    assert by_id["S2"]["loci"]["C"] == {"p_match": None, "category": "potential",
                                        "basis": "typing"}
    assert by_id["S3"]["p_9_of_10"] == 1.0 and by_id["S3"]["loci"]["A"]["category"] == "mismatch"
    assert [d["id"] for d in doc["donors"]] == ["S1", "S2", "S3"]  # S2: no probability, 0 mm
    assert doc["counts"]["unrepresented"] == 1
    none = _search(store, PATIENT.replace("A*02:07", "A*01:01"), wmda_fs, reducer, tce, n=0)
    assert [d["id"] for d in none.document["donors"]] == ["S3"]


def test_an_unrepresented_patient_gets_the_scan_alone(tmp_path: Path, reducer, wmda_fs,
                                                     tce) -> None:  # type: ignore[no-untyped-def]
    csv = tmp_path / "d.csv"
    csv.write_text(f"{HEADER}\nS1,R,male,30,O,negative,A*02:07,A*03:01,{FULL}\n")
    store = DonorStore.open(tmp_path / "s", create=True, release=reducer.release)
    store.import_file(csv, reducer)
    patient = PATIENT.replace("^C*07:01+C*07:02", "")  # C untyped → must be imputed
    doc = _search(store, patient, wmda_fs, reducer, tce).document
    assert doc["patient_imputation"]["unrepresented"] is True
    assert any("patient's typing is not explained" in w for w in doc["warnings"])
    assert doc["donors"][0]["p_10_of_10"] is None


def test_frequency_sets_are_checked(reducer) -> None:  # type: ignore[no-untyped-def]
    line = "A*01:01g~C*07:01g~B*08:01g~DRB1*03:01~DQB1*02:01g;{}"
    with pytest.raises(InputError, match="line 1"):
        parse_frequency_lines([line.format("x")], "t", reducer)
    with pytest.raises(InputError, match="line 2.*listed twice"):
        parse_frequency_lines([line.format(0.1), line.format(0.2)], "t", reducer)
    with pytest.raises(InputError, match="more than 1"):
        parse_frequency_lines([line.format(0.7), line.replace("A*01:01g", "A*02:01g")
                               .format(0.7)], "t", reducer)
    with pytest.raises(InputError, match="not an allele name"):
        parse_frequency_lines([line.replace("A*01:01g", "A*01:9999").format(0.1)], "t",
                              reducer)
    with pytest.raises(InputError, match="both cover"):
        parse_frequency_lines([line.format(0.1),
                               line.replace("A*01:01g", "A*01:01:01:01").format(0.1)], "t",
                              reducer)
    with pytest.raises(InputError, match="position 2 must be an C allele"):
        parse_frequency_lines(["A*01:01g~B*08:01g~C*07:01g~DRB1*03:01~DQB1*02:01g;0.1"], "t",
                              reducer)


def test_the_grimm_csv_form_is_read_too(reducer) -> None:  # type: ignore[no-untyped-def]
    cau = WMDA.parent / "hla" / "py-graph-imputation" / "data" / "freqs" / "CAU.freqs.gz"
    fs = read_frequency_file(cau, reducer, name="cau")
    assert fs.size == 3380 and abs(fs.total - 0.9967) < 1e-3


def test_dask_cluster_gives_the_same_answer(tmp_path: Path, reducer, wmda_fs,
                                            tce) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    store = DonorStore.open(tmp_path / "s", create=True, release=reducer.release)
    store.import_file(GRIMM / "don.gl.txt.gz", reducer, partition_rows=2500)
    assert len(store.partition_files()) == 4
    patient = patient_from_text(grimm_patients()["P000003"], reducer)
    here = run_search(store, patient, wmda_fs, 2, reducer, tce=tce).document
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  local_directory=str(tmp_path / "dask")) as cluster, \
            distributed.Client(cluster) as client:
        there = run_search(store, patient, wmda_fs, 2, reducer, tce=tce,
                           runner=dask_runner(client)).document
    assert here["counts"] == there["counts"]
    assert here["donors"] == there["donors"]
    assert len(here["donors"]) > 10


def test_a_g_level_set_reads_and_matches_like_its_g_names(reducer, wmda_store, tce) -> None:  # type: ignore[no-untyped-def]
    """A set written with G groups (A*01:01:01G) is read through the release; each G group
    stands for the same lgx name as the g group, so predictions are the same."""
    g_level = ["A*01:01:01G~C*07:01:01G~B*08:01:01G~DRB1*03:01:01G~DQB1*02:01:01G;0.1",
               "A*03:01:01G~C*07:02:01G~B*07:02:01G~DRB1*15:01:01G~DQB1*06:02:01G;0.08"]
    small_g = ["A*01:01g~C*07:01g~B*08:01g~DRB1*03:01~DQB1*02:01g;0.1",
               "A*03:01g~C*07:02g~B*07:02g~DRB1*15:01~DQB1*06:02g;0.08"]
    fs_big, fs_small = (parse_frequency_lines(x, n, reducer)
                        for x, n in ((g_level, "G"), (small_g, "g")))
    assert fs_big.lgx[0][0] == fs_small.lgx[0][0] == frozenset({"A*01:01"})
    patient = ("A*01:01+A*03:01^C*07:01+C*07:02^B*08:01+B*07:02^DRB1*03:01+DRB1*15:01"
               "^DQB1*02:01+DQB1*06:02")
    docs = [_search(wmda_store, patient, fs, reducer, tce).document for fs in (fs_big, fs_small)]
    assert docs[0]["donors"] == docs[1]["donors"]
    assert any(d["p_10_of_10"] for d in docs[0]["donors"])  # some donor is explained by both
