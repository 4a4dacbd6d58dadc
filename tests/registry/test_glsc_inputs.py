"""GL String Codes as case-file typings and as the registry's stored form: read verbatim with
their version, compared with the loaded release (flagged when they differ), stored and exported
byte for byte, on SQLite and PostgreSQL."""

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from everydonor.adapters.cli import main
from everydonor.adapters.inputs.casefile import read_case
from everydonor.adapters.registry.store import Registry
from everydonor.case import parse_case, release_flags
from everydonor.errors import EverydonorError
from everydonor.family.analysis import analyse_family
from everydonor.hla.locus import Locus
from everydonor.matching.analysis import match_case
from tests.registry.conftest import ROOT, load

TODAY = dt.date(2026, 12, 1)
EXAMPLE = ROOT / "examples" / "01-matched-sibling-and-haplo-siblings.yaml"
PATIENT_A = "hla#3.58.0#HLA-A*02:01+HLA-A*11:01"
OLD_B = "hla#3.40.0#HLA-B*46:01+HLA-B*51:01"


def _with_codes() -> tuple[dict[str, Any], dict[str, Any]]:
    """Example 01, and the same with the patient's A as a 3.58.0 code, the patient's B as a
    3.40.0 code and sibling B1 typed by a dated code (hla_gl)."""
    plain = load(EXAMPLE)
    doc = copy.deepcopy(plain)
    assert doc["patient"]["hla"]["A"] == ["A*02:01", "A*11:01"]
    assert doc["patient"]["hla"]["B"] == ["B*46:01", "B*51:01"]
    doc["patient"]["hla"]["A"] = PATIENT_A
    doc["patient"]["hla"]["B"] = OLD_B
    b1 = next(r for r in doc["relatives"] if r["id"] == "B1")
    body = "^".join("+".join(f"HLA-{t}" for t in pair) for pair in b1["hla"].values())
    b1["hla_gl"] = f"hla#2025-06-30#{body}"
    del b1["hla"]
    return plain, doc


def test_case_file_codes_read_as_the_written_typings(tmp_path: Path) -> None:
    from tests.test_case_schema import SCHEMA, validate

    plain, doc = _with_codes()
    assert validate(doc, SCHEMA) == []  # the shipped JSON Schema admits a locus as a code
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    case, reference = read_case(path, today=TODAY), parse_case(plain, today=TODAY)
    for pid in ("P", "B1"):
        got, want = case.person(pid).hla, reference.person(pid).hla
        assert got is not None and want is not None
        assert {loc: [g.gl() for g in opts] for loc, opts in got.loci.items()} == {
            loc: [g.gl() for g in opts] for loc, opts in want.loci.items()}
    patient = case.patient.hla
    assert patient is not None
    assert [(f, c.text) for f, c in patient.codes] == [("hla.A", PATIENT_A), ("hla.B", OLD_B)]
    assert patient.genotype(Locus.A).gl() == "A*02:01+A*11:01"


def test_other_release_and_dated_codes_flagged_in_the_answers(reducer: Any) -> None:
    _, doc = _with_codes()
    case = parse_case(doc, today=TODAY)
    flags = release_flags(case, "3.58.0")
    assert len(flags) == 2  # the 3.58.0 code is not flagged
    old, dated = flags
    for part in ("person 'P'", "hla.B", OLD_B, "3.40.0", "3.58.0", "kept verbatim"):
        assert part in old
    assert "person 'B1'" in dated and "hla_gl" in dated and "construction date (2025-06-30)" in dated
    from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce

    tce, kir = read_tce(open_release()), load_kir_table()
    assert set(flags) <= set(match_case(case, reducer, tce, kir)["warnings"])
    assert set(flags) <= set(analyse_family(case, reducer).warnings)


def test_match_command_prints_the_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    _, doc = _with_codes()
    path = tmp_path / "case.json"
    path.write_text(json.dumps(doc))
    assert main(["match", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert any(OLD_B in w and "3.40.0" in w for w in out["warnings"])


@pytest.mark.parametrize(("value", "message", "field"), [
    ("hla#3.58#HLA-A*02:01+HLA-A*11:01", "neither a release like 3.58.0", "hla.A"),
    ("hla#3.58.0#HLA-A*02:01+HLA-A*11:01^HLA-B*08:01+HLA-B*07:02", "also types B", "hla.A"),
    ("kir#2.10.0#KIR2DL1*001+KIR2DL1*002", "'kir' namespace", "hla.A"),
    ("hla#3.58.0#HLA-A*02:01?HLA-A*11:01+HLA-A*11:01", "does not split it", "hla.A"),
])
def test_malformed_or_unusable_codes_refused_naming_person_and_field(
        value: str, message: str, field: str) -> None:
    doc = load(EXAMPLE)
    doc["patient"]["hla"]["A"] = value
    with pytest.raises(EverydonorError) as info:
        parse_case(doc, today=TODAY)
    assert message in str(info.value)
    assert info.value.person == "P" and info.value.field == field


def test_case_command_exit_2_on_a_malformed_code(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    doc = load(EXAMPLE)
    doc["patient"]["hla"]["A"] = "HLA#3.58.0#HLA-A*02:01+HLA-A*11:01"
    path = tmp_path / "case.json"
    path.write_text(json.dumps(doc))
    assert main(["match", str(path)]) == 2
    err = capsys.readouterr().err
    assert "person 'P'" in err and "hla.A" in err and "write it in lower case ('hla')" in err


def test_registry_keeps_codes_verbatim_with_their_versions(registry: Registry) -> None:
    _, doc = _with_codes()
    registry.add_case(doc, actor="tester", upn="G1")
    shown = registry.show("G1")
    typings = {(p["case_person_id"] if "case_person_id" in p else p["id"], t["locus"]): t
               for p in shown["persons"] for t in p["typings"]}
    patient_a = typings[("P", "A")]
    assert (patient_a["glsc"], patient_a["release"]) == (PATIENT_A, "3.58.0")
    assert patient_a["reduced_lgx"] == "A*02:01+A*11:01"
    patient_b = typings[("P", "B")]
    assert (patient_b["glsc"], patient_b["release"]) == (OLD_B, "3.40.0")
    assert patient_b["reduced_lgx"] is None  # never derived under a release it was not written in
    b1 = typings[("B1", None)]
    assert b1["glsc"].startswith("hla#2025-06-30#HLA-") and b1["release"] == "2025-06-30"
    exported = registry.export_case("G1", actor="tester")
    assert exported["patient"]["hla"]["A"] == PATIENT_A
    assert exported["patient"]["hla"]["B"] == OLD_B
    b1_doc = next(r for r in exported["relatives"] if r["id"] == "B1")
    assert b1_doc["hla_gl"] == next(r for r in doc["relatives"] if r["id"] == "B1")["hla_gl"]
    assert parse_case(exported, today=TODAY) == parse_case(doc, today=TODAY)
