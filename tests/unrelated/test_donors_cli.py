"""``everydonor donors``: the command line's contract, exit statuses and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from everydonor.adapters.cli import main
from tests.conftest import GRIMM, WMDA
from tests.unrelated.conftest import grimm_patients

HEADER = ("donor_id,registry,sex,age,abo,cmv_igg,A_1,A_2,C_1,C_2,B_1,B_2,DRB1_1,DRB1_2,"
          "DQB1_1,DQB1_2")
PATIENT = ("A*02:01+A*11:01^C*01:02+C*03:04^B*27:05+B*40:01^DRB1*08:01+DRB1*01:03"
           "^DQB1*04:02+DQB1*05:01")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("cli") / "store"
    assert main(["donors", "import", str(GRIMM / "don.gl.txt.gz"), "--store", str(path),
                 "--partition-rows", "4000"]) == 0
    assert main(["donors", "frequencies", "add", str(WMDA / "freqs.txt"), "--store",
                 str(path), "--name", "wmda-set3"]) == 0
    return path


def test_search_answers_with_the_contract(store: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    patient = grimm_patients()["P000001"]
    assert main(["donors", "search", "--store", str(store), "--patient", patient,
                 "--mismatches", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["patient"] == "P000001"
    assert doc["frequency_set"] == "wmda-set3" and doc["release"] == "3.58.0"
    assert doc["counts"]["store_donors"] == 10_000
    assert doc["counts"]["listed"] == len(doc["donors"]) > 0
    first = doc["donors"][0]
    for key in ("id", "mismatches_max", "p_10_of_10", "p_9_of_10", "p_8_of_10", "loci",
                "unrepresented"):
        assert key in first
    assert set(first["loci"]) == {"A", "C", "B", "DRB1", "DQB1"}
    assert first["loci"]["A"]["category"] in ("definite", "potential", "mismatch")
    # every listed donor can have at most 2 mismatches with positive probability
    for d in doc["donors"]:
        assert d["unrepresented"] or d["p_at_most"] > 0
        assert 0 <= d["p_10_of_10"] + d["p_9_of_10"] + d["p_8_of_10"] <= 1 + 1e-12
    # ranked: no donor with fewer definite mismatches comes after one with more
    mm = [sum(v["category"] == "mismatch" for v in d["loci"].values()) for d in doc["donors"]]
    assert mm == sorted(mm)
    assert "Decision support" in doc["notice"]
    assert doc["provenance"]["software"].startswith("everydonor")


def test_the_same_search_from_a_case_file_and_as_text(store: Path, tmp_path: Path,
                                                      capsys) -> None:  # type: ignore[no-untyped-def]
    case = {"format": "everydonor.case/1", "patient": {
        "id": "PX", "sex": "female", "cmv_igg": "negative", "abo": "O",
        "hla": {"A": ["A*02:01", "A*11:01"], "C": ["C*01:02", "C*03:04"],
                "B": ["B*27:05", "B*40:01"], "DRB1": ["DRB1*08:01", "DRB1*01:03"],
                "DQB1": ["DQB1*04:02", "DQB1*05:01"]}}}
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    capsys.readouterr()
    assert main(["donors", "search", "--store", str(store), "--patient", str(path)]) == 0
    from_case = json.loads(capsys.readouterr().out)
    assert main(["donors", "search", "--store", str(store), "--patient", PATIENT]) == 0
    from_gl = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in from_case["donors"]] == [d["id"] for d in from_gl["donors"]]
    assert from_case["donors"][0]["cmv"].endswith("/R-")
    out = tmp_path / "list.txt"
    assert main(["donors", "search", "--store", str(store), "--patient", str(path),
                 "--format", "text", "--limit", "5", "-o", str(out)]) == 0
    text = out.read_text()
    assert "Unrelated donor search — patient PX" in text and "wmda-set3" in text
    assert "Decision support" in text


def test_bad_patient_typing_exits_2_naming_it(store: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    bad = PATIENT.replace("B*27:05", "B*27:9999")
    assert main(["donors", "search", "--store", str(store), "--patient", bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "B*27:9999" in captured.err and "hla.B" in captured.err


@pytest.mark.parametrize("args, message", [
    (["--frequencies", "nonesuch"], "neither a set installed"),
    (["--mismatches", "3"], "invalid choice"),
    (["--limit", "0"], "--limit"),
])
def test_bad_options_exit_2(store: Path, capsys, args, message) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    try:
        code = main(["donors", "search", "--store", str(store), "--patient", PATIENT, *args])
    except SystemExit as exc:  # argparse refuses before the command runs
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_import_statuses(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    good = "D1,R,male,30,O,positive,A*01:01,A*02:01,,,B*08:01,B*07:02,DR17,DR15,,"
    bad = "D2,R,male,30,O,positive,A*01:9999,A*02:01,,,B*08:01,B*07:02,DR17,DR15,,"
    csv = tmp_path / "d.csv"
    csv.write_text(f"{HEADER}\n{good}\n{bad}\n")
    strict_store = tmp_path / "strict"
    assert main(["donors", "import", str(csv), "--store", str(strict_store), "--strict"]) == 2
    assert "A*01:9999" in capsys.readouterr().err
    assert not strict_store.exists()  # a store created for a refused import is not left behind
    st = tmp_path / "store"
    assert main(["donors", "import", str(csv), "--store", str(st)]) == 1
    out = capsys.readouterr().out
    assert "imported 1" in out and "rejected 1" in out and "D2" in out
    assert main(["donors", "import", str(csv), "--store", str(st), "--report", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["already_imported"] is True
    assert main(["donors", "info", "--store", str(st)]) == 0
    assert json.loads(capsys.readouterr().out)["donors"] == 1
    # no frequency set: the scan alone, probabilities null, said in a warning
    assert main(["donors", "search", "--store", str(st), "--patient",
                 "A*01:01+A*02:01^B*08:01+B*07:02^DRB1*03:01+DRB1*15:01"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["frequency_set"] is None and doc["donors"][0]["p_10_of_10"] is None
    assert doc["donors"][0]["loci"]["A"]["category"] == "typing_match"
    assert any("no haplotype-frequency set" in w for w in doc["warnings"])


def test_frequency_file_errors_name_the_line(tmp_path: Path, store: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "f.txt"
    f.write_text("A*01:01g~C*07:01g~B*08:01g~DRB1*03:01~DQB1*02:01g;0.1\n"
                 "A*01:01g~C*07:01g~B*08:01g~DRB1*03:01;0.1\n")
    capsys.readouterr()
    code = main(["donors", "frequencies", "add", str(f), "--store", str(store), "--name", "x"])
    assert code == 2
    assert "line 2" in capsys.readouterr().err
    assert main(["donors", "frequencies", "list", "--store", str(store)]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["wmda-set3"]
    assert main(["donors", "search", "--store", str(tmp_path / "none"), "--patient",
                 PATIENT]) == 2


def test_rank_adds_the_best_registry_donors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """rank --store: the registry's best donors join the case, with age, sex, CMV and their
    match probabilities, and the Beijing rule set ranks them among the relatives."""
    root = Path(__file__).resolve().parents[2]
    case = root / "examples" / "06-unrelated-donors-and-father.yaml"
    twin = ("R10,REGX,male,22,A+,positive,A*02:01,A*11:01,C*01:02,C*14:02,B*46:01,B*51:01,"
            "DRB1*09:01,DRB1*15:01,DQB1*03:03,DQB1*06:02")
    low = "R20,REGX,female,45,O,negative,A2,A11,,,B46,B51,DR9,DR15,,"
    csv = tmp_path / "reg.csv"
    csv.write_text(f"{HEADER}\n{twin}\n{low}\n")
    store = tmp_path / "store"
    assert main(["donors", "import", str(csv), "--store", str(store)]) == 0
    assert main(["donors", "frequencies", "add", str(WMDA / "freqs.txt"), "--store",
                 str(store), "--name", "wmda-set3"]) == 0
    capsys.readouterr()
    assert main(["donors", "search", "--store", str(store), "--patient", str(case),
                 "--format", "case"]) == 0
    entries = json.loads(capsys.readouterr().out)["unrelated"]
    assert entries[0]["id"] == "R10"
    assert entries[0]["match_probability"]["p_10_of_10"] == 1.0
    assert main(["rank", str(case), "--store", str(store), "--unrelated-top", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_id = {r["id"]: r for r in doc["ranking"]}
    assert by_id["R10"]["donor_type"] == "matched_unrelated"
    assert any("registry search: P(10/10) 100.0%" in x and "REGX R10" in x
               for x in by_id["R10"]["reasons"])
    assert by_id["R20"]["donor_type"] == "mismatched_unrelated"  # serology: not proven 8/8
    assert "R10" in by_id and "U1" in by_id  # the case's own unrelated donors stay


def test_dask_local_from_the_command_line(store: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("distributed")
    capsys.readouterr()
    args = ["donors", "search", "--store", str(store), "--patient", PATIENT, "--limit", "20"]
    assert main(args) == 0
    here = json.loads(capsys.readouterr().out)
    assert main([*args, "--dask", "local"]) == 0
    there = json.loads(capsys.readouterr().out)
    assert there["provenance"]["executor"] == "dask local"
    assert here["donors"] == there["donors"] and here["counts"] == there["counts"]


def test_half_untyped_patient_locus_is_refused(store: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    patient = "PX%A*02:01+A*11:01^C*01:02+C*UUUU^B*27:05+B*40:01^DRB1*08:01+DRB1*01:03"
    assert main(["donors", "search", "--store", str(store), "--patient", patient]) == 2
    err = capsys.readouterr().err
    assert "PX" in err and "hla.C" in err and "one typing is missing" in err
