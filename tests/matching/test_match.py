"""`everydonor match` on whole cases: the contract's fields, TCE, KIR, unrelated candidates."""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from everydonor.adapters.cli import main
from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce
from everydonor.case import parse_case
from everydonor.matching.analysis import match_case

PATIENT_HLA = {"A": ["A*02:01", "A*11:01"], "B": ["B*46:01", "B*51:01"],
               "C": ["C*01:02", "C*14:02"], "DRB1": ["DRB1*09:01", "DRB1*15:01"],
               "DQB1": ["DQB1*03:03", "DQB1*06:02"], "DPB1": ["DPB1*05:01", "DPB1*04:01"]}


def case(*donors: dict[str, Any], unrelated: tuple[dict[str, Any], ...] = ()) -> Any:
    return parse_case({"format": "everydonor.case/1",
                       "patient": {"id": "P1", "sex": "male", "abo": "O+",
                                   "cmv_igg": "negative", "hla": PATIENT_HLA,
                                   "antibodies": {"results": [{"specificity": "B12",
                                                               "mfi": 11000, "c1q": "positive"}]}},
                       "relatives": list(donors), "unrelated": list(unrelated)},
                      today=dt.date(2026, 11, 25))


@pytest.fixture(scope="module")
def run(reducer):  # type: ignore[no-untyped-def]
    tce, kir = read_tce(open_release()), load_kir_table()
    return lambda c: match_case(c, reducer, tce, kir)


def donor(pid: str, rel: str, **changes: list[str]) -> dict[str, Any]:
    hla = dict(PATIENT_HLA)
    hla.update(changes)
    return {"id": pid, "relationship": rel, "hla": hla, "abo": "A+", "cmv_igg": "positive"}


def test_identical_sibling(run) -> None:  # type: ignore[no-untyped-def]
    [d] = run(case(donor("S1", "brother")))["donors"]
    assert d["hla"]["match"] == {"of_8": 8, "of_10": 10, "of_12": 12}
    assert d["dpb1_tce"] == "match" and d["kir_ligand_mismatch_gvh"] is False
    assert d["dsa"]["status"] == "negative"
    assert (d["abo"], d["cmv"], d["sex"]) == ("major", "D+/R-", "M->M")


def test_dpb1_tce_direction(run) -> None:  # type: ignore[no-untyped-def]
    # patient DPB1*05:01 (group 3) + DPB1*04:01 (3); donor DPB1*09:01 (group 1): the donor
    # carries the more immunogenic group -> HvG non-permissive; and the reverse
    [d] = run(case(donor("S1", "sister", DPB1=["DPB1*09:01", "DPB1*04:01"])))["donors"]
    assert d["dpb1_tce"] == "non_permissive_hvg"
    [d] = run(case(donor("S1", "sister", DPB1=["DPB1*02:01", "DPB1*04:01"])))["donors"]
    assert d["dpb1_tce"] == "permissive"  # 05:01 vs 02:01: both group 3


def test_kir_and_broad_dsa(run) -> None:  # type: ignore[no-untyped-def]
    # donor C*04:01 (C2) which the patient (C1, C1) lacks; donor B*44:02 reacts with anti-B12
    [d] = run(case(donor("F", "father", C=["C*01:02", "C*04:01"],
                         B=["B*46:01", "B*44:02"])))["donors"]
    assert d["kir_ligand_mismatch_gvh"] is True
    assert "C2" in d["kir_ligands"]["donor"] and "C2" not in d["kir_ligands"]["recipient"]
    assert d["dsa"]["status"] == "positive" and d["dsa"]["max_mfi"] == 11000
    assert d["dsa"]["antibodies"][0]["donor_typing"] == "B*44:02"
    assert d["dsa"]["antibodies"][0]["c1q"] == "positive"


def test_unrelated_untyped_and_partner(run) -> None:  # type: ignore[no-untyped-def]
    doc = run(case({"id": "W", "relationship": "partner", "hla": PATIENT_HLA},
                   {"id": "X", "relationship": "cousin"},
                   unrelated=({"id": "D1", "registry": "CMDP", "donor_id": "123",
                               "hla": {**PATIENT_HLA, "A": ["A*02:01", "A*24:02"]}},)))
    ids = [d["id"] for d in doc["donors"]]
    assert ids == ["X", "D1"]  # the partner is not a donor candidate
    untyped, unrelated = doc["donors"]
    assert untyped["hla"] is None and untyped["dsa"]["status"] == "not_assessable"
    assert unrelated["hla"]["loci"]["A"] == {"gvh": 1, "hvg": 1, "level": "allele"}
    assert unrelated["hla"]["match"]["of_8"] == 7


def test_cli_match_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--example"]) == 0
    doc = json.loads(capsys.readouterr().out)
    father = next(d for d in doc["donors"] if d["id"] == "F")
    assert {"hla", "dpb1_tce", "kir_ligand_mismatch_gvh", "dsa", "abo", "cmv", "sex"} <= set(
        father)
    assert father["dsa"]["antibodies"][0]["specificity"] == "A*24:02"
    assert "Decision support" in doc["provenance"]["notice"]
    assert main(["match", "--example", "--format", "text"]) == 0
    assert "DSA positive (max MFI 8500)" in capsys.readouterr().out


def test_cli_match_bad_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"format": "everydonor.case/1", "patient": {"id": "P1"},
                               "relatives": [{"id": "F", "relationship": "father",
                                              "abo": "Z"}]}))
    assert main(["match", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "person 'F', field 'abo'" in err
