"""``everydonor registry …`` end to end (through :func:`commands.main`), on both databases:
init, add, list, show, export (YAML and JSON), history, delete, consent, event, score, rank
snapshots, backup and the restore drill; exit statuses 0 / 1 / 2."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from everydonor.adapters.registry.commands import main
from everydonor.case import parse_case
from tests.registry.conftest import EXAMPLES, ROOT, load

TODAY = dt.date(2026, 11, 25)
FOLLOW_UP = ROOT / "examples" / "07-post-transplant-mrd-follow-up.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    status = main(list(argv))
    out = capsys.readouterr()
    try:
        doc = json.loads(out.out) if out.out.strip() else None
    except json.JSONDecodeError:
        doc = out.out
    return status, doc, out.err


def test_default_database_and_key_file_are_per_user(tmp_path: Path, monkeypatch: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("EVERYDONOR_PSEUDONYM_KEY")
    status, doc, _ = run(capsys, "registry", "init", "--user", "alice")
    assert status == 0
    db = tmp_path / "xdg-data" / "everydonor" / "registry.sqlite"
    key = tmp_path / "xdg-config" / "everydonor" / "pseudonym.key"
    assert doc["database"] == f"sqlite:///{db}" and db.is_file()
    assert doc["key_file_created"] == str(key) and oct(key.stat().st_mode & 0o777) == "0o600"
    with db.open("rb") as fh:  # the key is configuration, never in the database
        assert key.read_text().strip().encode() not in fh.read()
    assert run(capsys, "registry", "add", str(EXAMPLES[0]), "--upn", "U1")[0] == 0
    monkeypatch.setenv("EVERYDONOR_DB", f"sqlite:///{tmp_path / 'other.sqlite'}")
    status, _, err = run(capsys, "registry", "list")
    assert status == 2 and "registry init" in err


def test_add_list_show_export_history(db_url: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    assert run(capsys, "registry", "init", *db, "--user", "alice")[0] == 0
    status, doc, _ = run(capsys, "registry", "add", str(FOLLOW_UP), *db, "--user", "alice",
                         "--upn", "BJ-0001", "--centre", "BJ")
    assert status == 0 and doc["status"] == "added" and doc["persons"] == 4
    status, doc, _ = run(capsys, "registry", "list", *db)
    assert status == 0 and [p["upn"] for p in doc["patients"]] == ["BJ-0001"]
    assert doc["patients"][0]["centre"] == "BJ"
    status, doc, _ = run(capsys, "registry", "show", "BJ-0001", *db)
    assert status == 0 and doc["disease"]["disease_status"] == "CR1"
    status, text_out, _ = run(capsys, "registry", "show", "BJ-0001", *db, "--format", "text")
    assert "hla#3.58.0#HLA-A*02:01+HLA-A*11:01" in text_out
    out = tmp_path / "exported.yaml"
    status, _, _ = run(capsys, "registry", "export", "BJ-0001", *db, "-o", str(out))
    assert status == 0
    assert parse_case(yaml.safe_load(out.read_text()), today=TODAY) == parse_case(
        load(FOLLOW_UP), today=TODAY)
    status, doc, _ = run(capsys, "registry", "export", "BJ-0001", *db, "--format", "json")
    assert status == 0 and doc["format"] == "everydonor.case/1"
    changed = load(FOLLOW_UP)
    changed["relatives"][2]["weight_kg"] = 81
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed, default=str))
    status, _, err = run(capsys, "registry", "add", str(path), *db, "--upn", "BJ-0001")
    assert status == 2 and "reason" in err
    status, doc, _ = run(capsys, "registry", "add", str(path), *db, "--upn", "BJ-0001",
                         "--user", "bob", "--reason", "re-weighed")
    assert status == 0 and doc["status"] == "updated"
    status, doc, _ = run(capsys, "registry", "history", "BJ-0001", *db)
    b1 = [v for v in doc["versions"] if v["table"] == "person" and v["label"] == "B1"]
    assert [(v["by"], v["reason"]) for v in b1] == [("alice", "initial entry"),
                                                   ("bob", "re-weighed")]
    assert [a["action"] for a in doc["audit"]] == ["case.add", "case.export", "case.export",
                                                   "case.update"]
    status, text_out, _ = run(capsys, "registry", "history", "BJ-0001", *db, "--format", "text")
    assert "weight_kg 80.0 → 81" in text_out


def test_bad_input_exits_2_and_writes_nothing(db_url: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    run(capsys, "registry", "init", *db)
    bad = load(EXAMPLES[0])
    bad["relatives"][0]["sex"] = "unknown"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad, default=str))
    status, _, err = run(capsys, "registry", "add", str(path), *db)
    assert status == 2 and "sex" in err and bad["relatives"][0]["id"] in err
    assert run(capsys, "registry", "list", *db)[1]["total"] == 0
    status, _, err = run(capsys, "registry", "show", "NOPE", *db)
    assert status == 2 and "NOPE" in err
    status, _, err = run(capsys, "registry", "event", "NOPE", "death", "--date", "2026-01-01",
                         *db)
    assert status == 2
    assert run(capsys, "registry", "verify-audit", *db)[1]["entries"] == 1


def test_follow_up_score_consent_rank_snapshots(db_url: str, reducer: Any,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    run(capsys, "registry", "init", *db)
    run(capsys, "registry", "add", str(EXAMPLES[0]), *db, "--upn", "R1")
    assert run(capsys, "registry", "consent", "R1", "--research", "yes",
               "--international-transfer", "no", "--date", "2026-01-05", *db)[0] == 0
    assert run(capsys, "registry", "hct", "R1", "--day0", "2026-02-01", *db)[0] == 0
    status, doc, _ = run(capsys, "registry", "event", "R1", "chimerism", "--date",
                         "2026-03-01", "--payload", '{"donor_pct": 98.5, "method": "STR"}',
                         "--hct", "1", *db)
    assert status == 0 and doc["payload"] == {"donor_pct": 98.5, "method": "STR"}
    status, doc, _ = run(capsys, "registry", "score", "R1", "magic_agvhd_grade", "--input",
                         '{"skin_stage": 3, "lower_gi_stage": 1}', "--date", "2026-03-02", *db)
    assert status == 0 and doc["payload"]["result"]["grade"] == "II"
    status, doc, _ = run(capsys, "registry", "rank", "R1", *db, "--rules", "beijing")
    assert status == 0
    kinds = [s["kind"] for s in doc["snapshots"]]
    assert kinds == ["family", "match", "ranking"]
    assert doc["snapshots"][2]["rule_set"] == "beijing"
    assert doc["snapshots"][2]["release"] == "3.58.0"
    again = run(capsys, "registry", "rank", "R1", *db)[1]
    assert again["snapshots"][2]["sha256"] == doc["snapshots"][2]["sha256"]
    assert again["snapshots"][2]["id"] != doc["snapshots"][2]["id"]
    status, stored, _ = run(capsys, "registry", "snapshot", doc["snapshots"][2]["id"], *db)
    assert stored["intact"] and stored["answer"]["ranking"] == doc["ranking"]["ranking"]
    shown = run(capsys, "registry", "show", "R1", *db)[1]
    assert len(shown["snapshots"]) == 6 and shown["consent"]["research"] is True
    assert run(capsys, "registry", "verify-audit", *db)[0] == 0


def test_backup_restore_drill(db_url: str, other_db_url: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from everydonor.adapters.registry.store import Registry

    db = ["--db", db_url]
    run(capsys, "registry", "init", *db)
    for i, path in enumerate(EXAMPLES[:4]):
        run(capsys, "registry", "add", str(path), *db, "--upn", f"B{i}")
    run(capsys, "registry", "event", "B1", "death", "--date", "2026-05-05", "--payload",
        '{"cause": "gvhd"}', *db)
    run(capsys, "registry", "delete", "B2", "--reason", "withdrawn", *db)
    target = tmp_path / "registry.backup"
    status, doc, _ = run(capsys, "registry", "backup", str(target), *db)
    assert status == 0 and target.is_file() and doc["bytes"] > 0
    assert run(capsys, "registry", "backup", str(target), *db)[0] == 2  # never overwrites
    # the original goes on changing after the backup
    run(capsys, "registry", "add", str(EXAMPLES[4]), *db, "--upn", "AFTER")
    status, doc, err = run(capsys, "registry", "restore", str(target), "--db", other_db_url)
    assert status == 0, err
    original = Registry(db_url)
    restored = Registry(other_db_url)
    try:
        assert restored.verify_audit()["intact"]
        listed = restored.list_patients(include_deleted=True)["patients"]
        assert [p["upn"] for p in listed] == ["B0", "B1", "B2", "B3"]
        for upn in ("B0", "B1", "B3"):
            a, b = original.show(upn), restored.show(upn)
            assert a == b
            assert original.export_case(upn, actor="t") == restored.export_case(upn, actor="t")
        assert original.history("B2")["versions"] == restored.history("B2")["versions"]
        counts = restored.counts()
        assert counts["patient"] == 4 and counts["audit_log"] == doc["audit_entries"] + 3
    finally:
        original.close()
        restored.close()
    status, _, err = run(capsys, "registry", "restore", str(target), "--db", other_db_url)
    assert status == 2 and "not empty" in err


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["registry", "--help"])
    out = capsys.readouterr().out
    for name in ("init", "upgrade", "add", "list", "show", "export", "history", "verify-audit",
                 "backup", "restore"):
        assert name in out
    assert os.environ.get("EVERYDONOR_DB") is None
