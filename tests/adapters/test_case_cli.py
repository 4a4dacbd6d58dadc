"""The case file on the command line: `case schema`, empty files, HLA errors naming the person."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from everydonor.adapters.cli import main
from everydonor.case import KNOWN_FIELDS

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_case_schema_json_is_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["case", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["properties"]) == set(KNOWN_FIELDS["case"])


def test_case_schema_text_lists_nested_fields_with_units(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    assert main(["case", "schema", "--format", "text"]) == 0
    text = capsys.readouterr().out
    fields = {line.split()[0].rstrip("*") for line in text.splitlines()
              if line and not line.startswith("#")}
    for path in ("format", "patient", "patient.weight_kg", "relatives[].relationship",
                 "patient.antibodies.results[].mfi", "follow_up.mrd[].wt1_pct",
                 "unrelated[].match_probability.p_10_of_10", "centre.haplo_experienced"):
        assert path in fields, path
    assert "kilograms" in text and "x_" in text


def test_an_empty_json_case_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    f = tmp_path / "case.json"
    f.write_text("  \n")
    assert main(["rank", str(f)]) == 2
    err = capsys.readouterr().err
    assert "the case file is empty" in err and "NoneType" not in err


def test_an_empty_score_input_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "in.json"
    f.write_text("")
    assert main(["score", "hct_ci", "--input", str(f)]) == 2
    err = capsys.readouterr().err
    assert "the input is empty" in err and "NoneType" not in err


def test_donors_search_names_whose_typing_is_not_in_the_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    assert main(["donors", "import", str(EXAMPLES / "registry.csv"), "--store", str(store)]) in (0, 1)
    case = yaml.safe_load((EXAMPLES / "my-case.yaml").read_text())
    case["patient"]["hla"]["DRB1"] = ["DRB1*15:999", case["patient"]["hla"]["DRB1"][1]]
    f = tmp_path / "case.yaml"
    f.write_text(yaml.safe_dump(case, allow_unicode=True))
    capsys.readouterr()
    assert main(["donors", "search", "--store", str(store), "--patient", str(f)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"person {case['patient']['id']!r}" in captured.err
    assert "hla.DRB1" in captured.err and "DRB1*15:999" in captured.err
