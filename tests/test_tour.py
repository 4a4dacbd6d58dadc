"""The README tour runs on the files shipped in examples/: every command exits 0 and says
something meaningful. Only the MAC list is not shipped (the laboratory's own file): its command
reads the test copy in ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from everydonor.adapters.cli import main
from tests.conftest import MAC_FILE

ROOT = Path(__file__).resolve().parents[1]
CASE = "examples/my-case.yaml"
PATIENT_GL = ("A*02:01+A*11:01^C*01:02+C*14:02^B*46:01+B*51:01^DRB1*09:01+DRB1*15:01"
              "^DQB1*03:03+DQB1*06:02")


@pytest.fixture(autouse=True)
def _at_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def tour(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    try:
        status = main(list(argv))
    except SystemExit as exc:  # --version exits through argparse
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert status == 0, (argv, err)
    return out


def test_shipped_example_files_exist() -> None:
    for name in ("my-case.yaml", "my-centre-rules.yaml", "registry.csv", "registry-wmda.txt",
                 "frequencies-synthetic.txt", "typings.txt", "scores/stages.json",
                 "scores/cgvhd-organs.json", "scores/hct-ci.json", "scores/ebmt.json",
                 "scores/anc.json"):
        assert (ROOT / "examples" / name).is_file(), name
    assert "SYNTHETIC" in (ROOT / "examples/frequencies-synthetic.txt").read_text("utf-8")


def test_tour_ranking_and_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tour(capsys, "demo", "--out", str(tmp_path / "demo"))
    assert (tmp_path / "demo" / "report.pdf").is_file()
    out = tour(capsys, "rank", "examples/01-matched-sibling-and-haplo-siblings.yaml",
               "--format", "text")
    assert "matched_sibling" in out
    pdf = tmp_path / "report.pdf"
    tour(capsys, "rank", CASE, "--rules", "beijing", "--format", "pdf", "-o", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    doc = json.loads(tour(capsys, "rank", CASE, "--rules", "baltimore", "--format", "json"))
    assert doc["rules"]["name"] == "baltimore" and doc["ranking"][0]["id"] == "S2"
    out = tour(capsys, "rank", CASE, "--rules", "examples/my-centre-rules.yaml")
    assert '"derived_from": "beijing' in out and '"dsa_exclude_mfi": 5000' in out
    out = tour(capsys, "family", "--example", "--format", "text")
    assert "RECOMBINANT" in out
    doc = json.loads(tour(capsys, "family", CASE, "--format", "json"))
    assert doc["consistent"] is True
    out = tour(capsys, "match", "--example", "--format", "text")
    assert "KIR-ligand mismatch GvH no" in out


def test_tour_treatment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "beijing-mac-malignancy" in tour(capsys, "regimens")
    out = tour(capsys, "plan", "--example", "--regimen", "beijing-mac-malignancy", "--day0",
               "2026-12-15", "--donor", "S2", "--format", "text")
    assert "semustine" in out and "450.625" in out and "filgrastim" in out
    ics = tmp_path / "plan.ics"
    tour(capsys, "plan", CASE, "--regimen", "beijing-mac-malignancy", "--day0", "2026-12-15",
         "--option", "atg_total_mg_per_kg=7.5", "--option", "atg_days=-4,-3,-2",
         "--format", "ics", "-o", str(ics))
    assert "SUMMARY:Day -4: antithymocyte_globulin IV 170 mg (exact)" in ics.read_text("utf-8")
    out = tour(capsys, "followup", CASE, "--day0", "2026-12-15", "--format", "text")
    assert "MRD status: POSITIVE" in out and "Modified DLI" in out


def test_tour_scores(capsys: pytest.CaptureFixture[str]) -> None:
    assert "magic_agvhd_grade" in tour(capsys, "score", "--list", "--format", "text")
    doc = json.loads(tour(capsys, "score", "magic_agvhd_grade", "--input",
                          "examples/scores/stages.json"))
    assert doc["grade"] == "III"
    for name, file, expect in (
            ("nih2014_cgvhd_global_severity", "cgvhd-organs", "global_severity: moderate"),
            ("hct_ci", "hct-ci", "risk_group: intermediate"),
            ("ebmt_risk_score", "ebmt", "points:"),
            ("neutrophil_engraftment_day", "anc", "day: 12")):
        out = tour(capsys, "score", name, "--input", f"examples/scores/{file}.json",
                   "--format", "text")
        assert expect in out, name


def test_tour_hla(capsys: pytest.CaptureFixture[str]) -> None:
    assert "A*01:01:01G" in tour(capsys, "hla", "reduce", "--to", "g", "A*01:01:01:01")
    out = tour(capsys, "hla", "reduce", "--to", "serology", "B*15:01", "DRB1*03:01")
    assert "B62" in out and "DR17" in out
    out = tour(capsys, "hla", "reduce", "--to", "lgx",
               "A*02:01+A*24:02^DRB1*15:01/DRB1*15:02+DRB1*09:01")
    assert json.loads(out)["results"][0]["output"]
    out = tour(capsys, "--mac", str(MAC_FILE), "hla", "check", "A*01:AB", "B*44:XX", "DR15",
               "--format", "text")
    assert "A*01:AB  valid  mac" in out
    assert "A*02:07:01:01" in tour(capsys, "hla", "expand", "A*02:07P")
    doc = json.loads(tour(capsys, "hla", "reduce", "--file", "examples/typings.txt", "--to", "p",
                          "--format", "json"))
    assert len(doc["results"]) == 9 and doc["results"][0]["output"] == "A*02:01P"
    imgt = ROOT / "src" / "everydonor" / "data" / "imgt" / "3580"
    assert "A*01:01" in tour(capsys, "--imgt", str(imgt), "hla", "reduce", "A*01:01")
    assert "IPD-IMGT/HLA 3.58.0" in tour(capsys, "--version")


def test_tour_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "registry")
    out = tour(capsys, "donors", "import", "examples/registry.csv", "--store", store)
    assert "imported 5" in out and "rejected 0" in out
    out = tour(capsys, "--mac", str(MAC_FILE), "donors", "import", "examples/registry-wmda.txt",
               "--store", store)
    assert "imported 3" in out and "8 donors" in out
    out = tour(capsys, "donors", "frequencies", "add", "examples/frequencies-synthetic.txt",
               "--store", store, "--name", "synthetic-example")
    assert json.loads(out)["installed"]["haplotypes"] == 9
    out = tour(capsys, "donors", "search", "--store", store, "--patient", CASE,
               "--format", "text")
    assert "EX-U001" in out and "100.0" in out
    out = tour(capsys, "donors", "search", "--store", store, "--patient", PATIENT_GL,
               "--mismatches", "1", "--frequencies", "synthetic-example", "--dask", "local")
    donors = json.loads(out)["donors"]
    assert donors[0]["id"] in ("EX-U001", "EX-W001") and donors[0]["p_10_of_10"] == 1.0
    out = tour(capsys, "rank", CASE, "--store", store, "--unrelated-top", "3")
    assert "EX-U001" in out
