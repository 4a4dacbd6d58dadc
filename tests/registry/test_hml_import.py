"""HML import into the registry (SQLite and PostgreSQL): one audited transaction, all or none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from everydonor.adapters.cli import main
from everydonor.adapters.hml.importer import import_into_registry, read_message
from everydonor.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "hml" / "data"

CASE = {
    "format": "everydonor.case/1",
    "patient": {"id": "P001", "sex": "female", "age": 41,
                "hla": {"A": ["A*01:01", "A*03:01"]}},
    "relatives": [{"id": "D001", "relationship": "sister", "age": 39}],
}


def _stored(registry: Any) -> None:
    registry.add_case(json.loads(json.dumps(CASE)), actor="tester", upn="UPN-HML")


def test_import_writes_both_people_in_one_audited_transaction(registry: Any, ref: Any,
                                                              db_url: str) -> None:
    _stored(registry)
    message = read_message(DATA / "ngs_miring.xml", ref)
    done = import_into_registry(message, db_url, "UPN-HML", None, actor="lab-import",
                                reason="NGS typing received", reducer=registry.reducer)
    assert {c["person"] for c in done["changes"]} == {"P001", "D001"}
    doc = registry.export_case("UPN-HML", actor="tester", reason="check")
    assert doc["patient"]["hla_gl"].startswith("hla#3.58.0#HLA-A*02:01:01:01+HLA-A*11:01:01:01^")
    assert doc["patient"]["x_hml"]["sha256"] == message.reading.sha256
    assert doc["patient"]["x_hml"]["replaced"]["hla"]["A"] == ["A*01:01", "A*03:01"]
    assert doc["relatives"][0]["hla_gl"].endswith("HLA-B*07:02:01:01+HLA-B*35:01:01:02")
    history = registry.history("UPN-HML")
    entries = [e for e in history["audit"] if e["action"] == "case.update"]
    assert len(entries) == 1
    assert entries[0]["actor"] == "lab-import"
    assert message.reading.sha256 in entries[0]["reason"]
    assert registry.verify_audit()["intact"]


def test_a_sample_without_its_person_writes_nothing(registry: Any, ref: Any, db_url: str,
                                                    tmp_path: Path) -> None:
    _stored(registry)
    text = (DATA / "ngs_miring.xml").read_text().replace('id="D001"', 'id="D999"')
    path = tmp_path / "other.xml"
    path.write_text(text)
    message = read_message(path, ref)
    before = registry.export_case("UPN-HML", actor="tester", reason="check")
    audit_before = len(registry.history("UPN-HML")["audit"])
    with pytest.raises(InputError, match="D999"):
        import_into_registry(message, db_url, "UPN-HML", None, actor="lab-import",
                             reason=None, reducer=registry.reducer)
    after = registry.export_case("UPN-HML", actor="tester", reason="check")
    assert after == before  # P001 (which did match) was not written either
    assert len(registry.history("UPN-HML")["audit"]) == audit_before + 1  # the export read


def test_cli_db_import_and_refusals(registry: Any, db_url: str, capsys: Any) -> None:
    _stored(registry)
    code = main(["hml", "import", str(DATA / "ngs_miring.xml"), "--db", db_url])
    assert code == 2 and "--patient" in capsys.readouterr().err
    code = main(["hml", "import", str(DATA / "ngs_miring.xml"), "--db", db_url, "--patient",
                 "UPN-HML", "--user", "lab", "--reason", "NGS report 2026-03"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["written"]["registry"]["upn"] == "UPN-HML"
    assert doc["written"]["reason"].startswith("NGS report 2026-03: HML import ngs_miring.xml")
