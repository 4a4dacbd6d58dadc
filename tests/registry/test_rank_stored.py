"""``everydonor rank|plan --db URL --patient UPN [--save]`` through the main command line, on both
databases: the stored patient ranks exactly as its case file does, --save keeps the ranking as
shown (SHA-256 of the very document printed) and the family, and misuse exits 2 writing nothing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from everydonor.adapters.cli import main
from everydonor.adapters.registry.codec import canonical_json, encode
from tests.registry.conftest import EXAMPLES

VOLATILE = ("provenance",)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def _without(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def test_a_stored_patient_ranks_as_its_case_file_and_save_keeps_what_was_shown(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    case = EXAMPLES[0]
    assert run(capsys, "registry", "init", *db)[0] == 0
    assert run(capsys, "registry", "add", str(case), *db, "--upn", "R1")[0] == 0
    status, from_file, _ = run(capsys, "rank", str(case))
    assert status == 0
    status, stored, err = run(capsys, "rank", *db, "--patient", "R1", "--user", "dr.li")
    assert status == 0 and "snapshot" not in err
    stored_doc = json.loads(stored)
    assert _without(stored_doc) == _without(json.loads(from_file))
    assert stored_doc["provenance"]["source"] == "registry patient R1"

    status, shown, err = run(capsys, "rank", *db, "--patient", "R1", "--save", "--user",
                             "dr.li", "--reason", "donor committee 2026-12-03")
    assert status == 0
    shown_doc = json.loads(shown)
    sha = hashlib.sha256(canonical_json(encode(shown_doc)).encode("utf-8")).hexdigest()
    assert "ranking snapshot" in err and sha in err and "family snapshot" in err
    status, out, _ = run(capsys, "registry", "show", "R1", *db)
    snaps = json.loads(out)["snapshots"]
    assert sorted(s["kind"] for s in snaps) == ["family", "match", "ranking"]
    ranking = next(s for s in snaps if s["kind"] == "ranking")
    status, out, _ = run(capsys, "registry", "snapshot", ranking["id"], *db)
    assert status == 0
    assert json.loads(out)["answer"] == shown_doc
    status, out, _ = run(capsys, "registry", "verify-audit", *db)
    assert status == 0


def test_misuse_is_refused_and_writes_nothing(db_url: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    run(capsys, "registry", "init", *db)
    run(capsys, "registry", "add", str(EXAMPLES[0]), *db, "--upn", "R1")
    before = json.loads(run(capsys, "registry", "verify-audit", *db)[1])["entries"]
    status, out, err = run(capsys, "rank", str(EXAMPLES[0]), "--save", *db)
    assert status == 2 and out == "" and "--patient" in err
    status, out, err = run(capsys, "rank", str(EXAMPLES[0]), *db, "--patient", "R1")
    assert status == 2 and out == "" and "not both" in err
    status, out, err = run(capsys, "rank", *db, "--patient", "NOPE", "--save")
    assert status == 2 and out == "" and "NOPE" in err
    after = json.loads(run(capsys, "registry", "verify-audit", *db)[1])["entries"]
    assert after == before


def test_a_stored_patient_plan_is_kept_as_shown(db_url: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    case = next(p for p in EXAMPLES if p.name == "my-case.yaml")  # weight and height recorded
    run(capsys, "registry", "init", *db)
    run(capsys, "registry", "add", str(case), *db, "--upn", "R1")
    plan = ["--regimen", "beijing-mac-malignancy", "--day0", "2026-12-15"]
    status, from_file, _ = run(capsys, "plan", str(case), *plan)
    assert status == 0
    status, shown, err = run(capsys, "plan", *db, "--patient", "R1", *plan, "--save",
                             "--format", "json")
    assert status == 0 and "plan snapshot" in err
    shown_doc = json.loads(shown)
    assert _without(shown_doc) == _without(json.loads(from_file))
    snaps = json.loads(run(capsys, "registry", "show", "R1", *db)[1])["snapshots"]
    plan_snap = next(s for s in snaps if s["kind"] == "plan")
    stored = json.loads(run(capsys, "registry", "snapshot", plan_snap["id"], *db)[1])
    assert stored["answer"] == shown_doc
    assert run(capsys, "registry", "verify-audit", *db)[0] == 0
