"""``everydonor hml import``: the JSON answer, MIRING report, releases, and writing a case file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from everydonor.adapters.cli import main
from everydonor.adapters.inputs.casefile import read_case
from tests.hml import hostile

DATA = Path(__file__).parent / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and out.strip() else None), err


def _case(tmp_path: Path, suffix: str = ".yaml") -> Path:
    doc = {
        "format": "everydonor.case/1",
        "patient": {"id": "P001", "sex": "male", "age": 40, "hla": {
            "A": ["A*01:01", "A*03:01"], "B": ["B*07:02", "B*08:01"]}},
        "relatives": [{"id": "D001", "relationship": "brother", "age": 38}],
    }
    path = tmp_path / f"case{suffix}"
    path.write_text(yaml.safe_dump(doc) if suffix == ".yaml" else json.dumps(doc))
    return path


def test_json_answer_names_every_typing_as_glsc_with_its_release(capsys) -> None:  # type: ignore[no-untyped-def]
    path = DATA / "ngs_miring.xml"
    code, doc, _ = run(capsys, "hml", "import", str(path))
    assert code == 0
    assert doc["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc["hmlid"] == {"root": "2.16.840.1.999999.15", "extension": "ED-HML-0001"}
    t = doc["samples"][0]["typings"][0]
    assert t["glsc"] == "hla#3.58.0#HLA-A*02:01:01:01+HLA-A*11:01:01:01"
    assert (t["release_status"], t["valid"]) == ("loaded release", True)
    assert doc["miring"]["required_rules_failed"] == 0
    statuses = {e["element"]: e["status"] for e in doc["miring"]["elements"]}
    assert statuses[7] == "not checked" and statuses[4] == "complete"
    assert doc["written"] is None
    assert "Decision support" in doc["provenance"]["notice"]


def test_other_release_kept_verbatim_and_flagged_with_miring_rule_numbers(capsys) -> None:  # type: ignore[no-untyped-def]
    code, doc, _ = run(capsys, "hml", "import", str(DATA / "legacy_3170.xml"))
    assert code == 0
    a, b, c = doc["samples"][0]["typings"]
    assert a["glsc"].startswith("hla#3.17.0#HLA-A*01:01:01:01+HLA-A*02:01:01:01|")
    assert a["release_status"] == "another release" and a["valid"] is None
    assert any("3.17.0" in w and "NOT validated" in w for w in a["warnings"])
    assert b["glsc"] == "hla#3.17.0#HLA-B*08:01+HLA-B*44:02"
    assert c["glsc"] is None and c["release_status"] == "no genotype"
    assert doc["counts"]["typings_under_another_release"] == 3
    rules = {f["rule"]: f for f in doc["miring"]["findings"]}
    assert {"1.1.a", "1.2.a", "1.3.a"} <= set(rules)
    assert rules["1.1.a"]["severity"] == "miring"
    assert rules["1.1.a"]["description"].startswith("Document has exactly one <hmlid>")
    assert rules["1.3.a"]["documents_element"] == 6
    assert doc["miring"]["required_rules_failed"] == 3


def test_miring_findings_on_a_sparse_ngs_typing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    text = (DATA / "ngs_miring.xml").read_text()
    text = text.replace('<hmlid root="2.16.840.1.999999.15" extension="ED-HML-0001"/>', "")
    text = text.replace(' allele-version="3.58.0"', "", 1)
    text = text.replace(' quality-score="97"', "").replace(' availability="private"', "", 1)
    text = text.replace(' expected-copy-number="1"', "", 1).replace('end="1500"', 'end="1400"', 1)
    path = tmp_path / "sparse.xml"
    path.write_text(text)
    code, doc, _ = run(capsys, "hml", "import", str(path))
    assert code == 0
    counts = {f["rule"]: f["count"] for f in doc["miring"]["findings"]}
    for rule in ("1.1.a", "2.1.c", "5.6.a", "1.5.b", "4.2.5.a", "4.2.3.e"):
        assert counts.get(rule) == 1, (rule, counts)
    t = doc["samples"][0]["typings"][0]
    assert t["glsc"] == "hla#2026-03-04#HLA-A*02:01:01:01+HLA-A*11:01:01:01"
    assert t["release_status"] == "release unknown"


def test_unknown_allele_under_the_loaded_release_is_reported_and_not_written(
        tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "one.xml"
    path.write_text(hostile.message(hostile.SAMPLE.format(
        sid="P001", gl="HLA-A*01:01+HLA-A*02:999")))
    code, doc, _ = run(capsys, "hml", "import", str(path))
    assert code == 0
    t = doc["samples"][0]["typings"][0]
    assert t["valid"] is False and "A*02:999" in t["error"]
    case = _case(tmp_path)
    before = case.read_bytes()
    code, _, err = run(capsys, "hml", "import", str(path), "--case", str(case))
    assert code == 2 and "A*02:999" in err
    assert case.read_bytes() == before


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_import_into_case_file_by_sample_ids(tmp_path: Path, capsys, suffix: str) -> None:  # type: ignore[no-untyped-def]
    case = _case(tmp_path, suffix)
    code, doc, _ = run(capsys, "hml", "import", str(DATA / "ngs_miring.xml"), "--case",
                       str(case))
    assert code == 0
    changes = {c["person"]: c for c in doc["written"]["changes"]}
    assert set(changes) == {"P001", "D001"}
    parsed = read_case(case)
    patient = parsed.patient
    assert patient.hla_field == "hla_gl"
    assert patient.hla is not None
    assert {loc.value for loc in patient.hla.typed_loci()} == {"A", "B", "C", "DRB1"}
    raw = yaml.safe_load(case.read_text()) if suffix == ".yaml" else json.loads(case.read_text())
    prov = raw["patient"]["x_hml"]
    assert prov["sha256"] == doc["sha256"] and prov["sample_id"] == "P001"
    assert prov["replaced"]["hla"]["A"] == ["A*01:01", "A*03:01"]  # the old typing kept
    assert "hla" not in raw["patient"]
    assert raw["patient"]["hla_gl"].startswith("hla#3.58.0#HLA-A*02:01:01:01+HLA-A*11:01:01:01^")
    assert raw["relatives"][0]["hla_gl"] == (
        "hla#3.58.0#HLA-A*02:01:01:01+HLA-A*24:02:01:01^HLA-B*07:02:01:01+HLA-B*35:01:01:02")


def test_person_option_for_a_one_sample_file_and_refusals(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    one = tmp_path / "one.xml"
    one.write_text(hostile.message(hostile.SAMPLE.format(sid="LAB-77",
                                                         gl="HLA-A*01:01+HLA-A*02:01")))
    case = _case(tmp_path)
    before = case.read_bytes()
    code, _, err = run(capsys, "hml", "import", str(one), "--case", str(case))
    assert code == 2 and "LAB-77" in err and "match no person" in err
    code, _, err = run(capsys, "hml", "import", str(DATA / "ngs_miring.xml"), "--case",
                       str(case), "--person", "P001")
    assert code == 2 and "2 samples" in err
    code, _, err = run(capsys, "hml", "import", str(one), "--case", str(case), "--person", "X9")
    assert code == 2 and "no person 'X9'" in err
    assert case.read_bytes() == before
    code, doc, _ = run(capsys, "hml", "import", str(one), "--case", str(case), "--person",
                       "D001")
    assert code == 0 and doc["written"]["changes"][0]["person"] == "D001"
    assert yaml.safe_load(case.read_text())["relatives"][0]["hla_gl"] == (
        "hla#3.58.0#HLA-A*01:01+HLA-A*02:01")


def test_mixed_releases_in_one_sample_refused_for_writing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    text = (DATA / "ngs_miring.xml").read_text().replace('allele-version="3.58.0"',
                                                         'allele-version="3.57.0"', 1)
    path = tmp_path / "mixed.xml"
    path.write_text(text)
    case = _case(tmp_path)
    before = case.read_bytes()
    code, _, err = run(capsys, "hml", "import", str(path), "--case", str(case))
    assert code == 2 and "3.57.0, 3.58.0" in err and "P001" in err
    assert case.read_bytes() == before


@pytest.mark.parametrize("make", ["xxe", "bomb", "dtd", "oversize", "malformed"])
def test_hostile_files_exit_2_and_write_nothing(tmp_path: Path, capsys, make: str) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE")
    extra: list[str] = []
    if make == "xxe":
        path = hostile.xxe(tmp_path, secret)
    elif make == "bomb":
        path = hostile.billion_laughs(tmp_path)
    elif make == "dtd":
        path = hostile.external_dtd(tmp_path)
    elif make == "oversize":
        path = hostile.plain(tmp_path, 5)
        extra = ["--max-bytes", "1000"]
    else:
        path = tmp_path / "bad.xml"
        path.write_text(hostile.message(hostile.SAMPLE.format(sid="P001", gl="A*01:01"))[:-20])
    case = _case(tmp_path)
    before = case.read_bytes()
    code, _, err = run(capsys, "hml", "import", str(path), "--case", str(case), *extra)
    assert code == 2
    assert path.name in err and "nothing imported" in err
    assert "TOP-SECRET-LINE" not in err
    assert case.read_bytes() == before
    assert not list(tmp_path.glob(".case*.tmp"))


def test_example_messages_are_written_by_us() -> None:
    """The shipped test messages are this project's (no third-party file copied)."""
    for path in DATA.glob("*.xml"):
        assert "everydonor test message, written for these tests" in path.read_text()
