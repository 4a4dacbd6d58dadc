"""`everydonor score`: the answer always names its score; the text listing shows input fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from everydonor.adapters.cli import main
from everydonor.scores.catalogue import SCORES


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


@pytest.mark.parametrize("name", ["hct_ci", "ebmt_risk_score", "magic_agvhd_grade"])
def test_answer_names_its_score_even_when_it_computes_a_value_called_score(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = {"hct_ci": {"cardiac": True}, "ebmt_risk_score": {"age": 45, "stage": "early",
                                                              "months_dx_to_tx": 6,
                                                              "donor": "haplo"},
              "magic_agvhd_grade": {"skin_stage": 3}}[name]
    f = tmp_path / "in.json"
    f.write_text(json.dumps(inputs))
    status, out = _run(capsys, "score", name, "--input", str(f))
    doc = json.loads(out)
    assert status == 0 and doc["name"] == name
    status, text = _run(capsys, "score", name, "--input", str(f), "--format", "text")
    assert status == 0 and text.splitlines()[0].startswith(f"{name} (")


def test_hct_ci_value_keeps_its_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"cardiac": True, "arrhythmia": True}))
    _, out = _run(capsys, "score", "hct_ci", "--input", str(f))
    doc = json.loads(out)
    assert doc["score"] == 2 and doc["name"] == "hct_ci"


def test_a_missing_required_input_is_named_not_called_a_contradiction(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"stage": "early", "months_dx_to_tx": 6, "donor": "MUD"}))
    assert main(["score", "ebmt_risk_score", "--input", str(f)]) == 2
    err = capsys.readouterr().err
    assert "age is required" in err and "contradictory" not in err


def test_text_listing_with_fields_shows_choices_and_synonyms(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, text = _run(capsys, "score", "--list", "--format", "text", "--fields")
    assert status == 0
    assert all(name in text for name in SCORES)
    block = text.split("primary_graft_failure", 1)[1].split("\n\n", 1)[0]
    assert "graft_source (enum): peripheral_blood, bone_marrow, cord_blood" in block
    assert "PBSC = peripheral_blood" in block
    _, plain = _run(capsys, "score", "--list", "--format", "text")
    assert "PBSC" not in plain  # fields only on request
