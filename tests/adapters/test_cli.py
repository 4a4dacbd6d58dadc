import hashlib
import json
from pathlib import Path

import pytest

from everydonor.adapters.cli import main
from tests.conftest import MAC_FILE


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_reduce_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hla", "reduce", "--to", "g", "A*01:01:01:01")
    doc = json.loads(out)
    assert code == 0
    assert doc["release"] == "3.58.0"
    assert doc["results"][0]["input"] == "A*01:01:01:01"
    assert doc["results"][0]["output"] == "A*01:01:01G"
    assert doc["provenance"]["software"].startswith("everydonor ")
    assert "Decision support" in doc["provenance"]["notice"]


def test_reduce_gl_string_and_serology(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hla", "reduce", "--to", "serology",
                       "A*02:01+A*24:02^DRB1*03:01+DRB1*15:01")
    assert code == 0
    assert json.loads(out)["results"][0]["output"] == "A2+A24^DR17+DR15"


def test_bad_input_exit_2_nothing_written(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "hla", "reduce", "A*02:01", "A*01:9999", "A*01:0X")
    assert code == 2
    assert out == ""
    assert "'A*01:9999' is not an allele of this release" in err
    assert "'A*01:0X': field '0X' is not numeric" in err
    assert "2 of 3 typings refused" in err


def test_check_reports_every_typing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--mac", str(MAC_FILE), "hla", "check", "A*01:AB",
                       "B*44:XX", "DR15", "A*99:01")
    doc = json.loads(out)
    assert code == 2
    kinds = [r.get("kind") for r in doc["results"]]
    assert kinds[:3] == ["mac", "xx_code", "serology"]
    assert doc["results"][1]["ambiguous"] is True
    assert doc["results"][3]["valid"] is False
    assert doc["results"][3]["error"]["error"] == "UnknownAllele"


def test_expand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hla", "expand", "A*02:07P")
    doc = json.loads(out)
    assert code == 0
    assert "A*02:07:01:01" in doc["results"][0]["alleles"]


def test_example_and_text_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hla", "reduce", "--example", "--format", "text")
    assert code == 0
    assert "B*15:01" in out and "IPD-IMGT/HLA 3.58.0" in out


def test_typings_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "t.txt"
    f.write_text("# comment\nA*01:01\n\nB*08:01\n")
    code, out, _ = run(capsys, "hla", "reduce", "--file", str(f))
    assert code == 0 and len(json.loads(out)["results"]) == 2
    code, out, err = run(capsys, "hla", "reduce", "--file", str(tmp_path / "missing.txt"))
    assert code == 2 and out == "" and "cannot read typings file" in err


def test_bad_release_folder_and_no_typings(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--imgt", str(tmp_path / "none"), "hla", "reduce", "A*01:01")
    assert code == 2 and out == "" and "does not exist" in err
    code, out, err = run(capsys, "hla", "reduce")
    assert code == 2 and "no typings given" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["hla", "reduce", "--to", "xyz", "A*01:01"])
    assert exc.value.code == 2


def test_version_names_release_and_citations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "IPD-IMGT/HLA 3.58.0" in out
    assert "Nucleic Acids Research (2023) 51(D1): D948-D955" in out
    assert "py-ard 2.4.2" in out


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EVERYDONOR_MAC_FILE", str(MAC_FILE))
    code, out, _ = run(capsys, "hla", "reduce", "--to", "2field", "A*01:AB")
    assert code == 0
    doc = json.loads(out)
    assert doc["results"][0]["output"] == "A*01:01/A*01:02"
    mac = doc["provenance"]["mac_list"]
    assert mac["file"] == "LargeMacDictionary.csv" and mac["format"] == "Atlas CSV"
    assert mac["date"] == "2020-07-11" and mac["date_from"].startswith("Timestamp column")
    assert mac["sha256"] == hashlib.sha256(MAC_FILE.read_bytes()).hexdigest()
    monkeypatch.setenv("EVERYDONOR_IMGT_DIR", str(tmp_path / "elsewhere"))
    code, out, err = run(capsys, "hla", "reduce", "A*01:01")
    assert code == 2 and out == "" and "elsewhere" in err


def test_family_example_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "family", "--example")
    doc = json.loads(out)
    assert code == 0 and doc["release"] == "3.58.0" and doc["consistent"] is True
    assert set(doc["haplotypes"]) >= {"paternal", "maternal"}
    assert doc["haplotypes"]["paternal"]["a"]["gl"].count("~") == 4
    patient = next(m for m in doc["members"] if m["id"] == "P1")
    assert patient["inherited"] == {"paternal": "a", "maternal": "c"}
    rels = {r["id"]: r for r in doc["relatives"]}
    for r in rels.values():
        assert {"id", "hla_relation", "shared", "sibling_mismatch", "recombinant"} <= set(r)
    assert rels["S5"]["recombinant"] is True
    assert rels["S1"]["sibling_mismatch"] == "NIMA"
    # the uncle is checked locus by locus against the patient's paternal haplotype (A, B, DRB1;
    # untyped at C and DQB1, which lie between them on the chromosome)
    assert (rels["U1"]["hla_relation"], rels["U1"]["shared"]) == ("haploidentical", "paternal")
    assert "Decision support" in doc["provenance"]["notice"]


def test_family_text_draws_the_pedigree(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "family", "--example", "--format", "text")
    assert code == 0
    assert "S1         sibling                a / d" in out
    assert "a  A*02:01~C*01:02~B*46:01~DRB1*09:01~DQB1*03:03" in out


def test_family_bad_case_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"format": "everydonor.case/1",
                                "patient": {"id": "P1", "hla": {"A": ["A*02:01", "A*0201"]}}}))
    code, out, err = run(capsys, "family", str(case))
    assert code == 2 and out == ""
    assert "person 'P1', field 'hla.A'" in err and "A*0201" in err
    code, out, err = run(capsys, "family")
    assert code == 2 and "no case file given" in err


def test_match_text_reads_yes_no_not_recorded(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    examples = Path(__file__).resolve().parents[2] / "examples"
    unrelated = str(examples / "06-unrelated-donors-and-father.yaml")
    for case in ("--example", unrelated,
                 str(examples / "05-siblings-only-missing-information.yaml")):
        code, out, _ = run(capsys, "match", case, "--format", "text")
        assert code == 0
        assert not set(re.findall(r"[A-Za-z]+", out)) & {"True", "False", "None"}, out
    code, out, _ = run(capsys, "match", "--example", "--format", "text")
    assert "S2 " in out and "KIR-ligand mismatch GvH unknown (HLA-A, -B or -C not typed" in out
    assert "KIR-ligand mismatch GvH no" in out and "ABO not recorded" in out
    code, out, _ = run(capsys, "match", unrelated, "--format", "text")
    assert "KIR-ligand mismatch GvH yes" in out
    code, out, _ = run(capsys, "match", "--example")
    donors = {d["id"]: d for d in json.loads(out)["donors"]}
    assert donors["S2"]["kir_ligand_mismatch_gvh"] is None and donors["S4"]["abo"] is None
