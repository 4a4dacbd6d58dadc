"""SR-07 on both databases: the audit chain verifies, and an entry edited, deleted, inserted or
reordered by raw SQL (the append-only trigger dropped first, as a DBA could) is found, named
by the first broken entry, and ``registry verify-audit`` exits 1."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from everydonor.adapters.registry import audit
from everydonor.adapters.registry.commands import main
from everydonor.adapters.registry.store import Registry
from tests.registry.conftest import EXAMPLES, load


def _drop_guards(reg: Registry) -> None:
    with reg.engine.begin() as conn:
        if reg.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_log_append_only_update"))
            conn.execute(text("DROP TRIGGER audit_log_append_only_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))


def _filled(registry: Registry) -> Registry:
    for i, path in enumerate(EXAMPLES[:3]):
        registry.add_case(load(path), actor=f"user{i}", upn=f"A{i}")
    registry.export_case("A1", actor="auditor")
    registry.delete_patient("A2", actor="user0", reason="duplicate")
    report = registry.verify_audit()
    assert report["intact"] and report["entries"] == 6, report
    return registry


def _sql(reg: Registry, *statements: str, **params: Any) -> None:
    with reg.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def _verify_cli(db_url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["registry", "verify-audit", "--db", db_url, "--format", "text"])
    out = capsys.readouterr()
    return status, out.out + out.err


def test_intact_chain_verifies(registry: Registry, db_url: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    _filled(registry)
    status, out = _verify_cli(db_url, capsys)
    assert status == 0 and "intact: 6 entries" in out


def test_append_only_without_tampering(registry: Registry) -> None:
    from sqlalchemy.exc import DBAPIError

    _filled(registry)
    for statement in ("UPDATE audit_log SET reason = 'x' WHERE seq = 2",
                      "DELETE FROM audit_log WHERE seq = 6"):
        with pytest.raises(DBAPIError):
            _sql(registry, statement)
    assert registry.verify_audit()["intact"]


def test_edited_entry(registry: Registry, db_url: str,
                      capsys: pytest.CaptureFixture[str]) -> None:
    _filled(registry)
    _drop_guards(registry)
    _sql(registry, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    report = registry.verify_audit()
    assert not report["intact"] and report["first_broken"] == 3
    assert "edited" in report["problem"]
    status, out = _verify_cli(db_url, capsys)
    assert status == 1 and "entry 3" in out


def test_edited_payload(registry: Registry) -> None:
    _filled(registry)
    _drop_guards(registry)
    _sql(registry, "UPDATE audit_log SET payload = :p WHERE seq = 4", p='{"forged": true}')
    report = registry.verify_audit()
    assert report["first_broken"] == 4 and "payload" in report["problem"]


def test_deleted_entry(registry: Registry, db_url: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    _filled(registry)
    _drop_guards(registry)
    _sql(registry, "DELETE FROM audit_log WHERE seq = 3")
    report = registry.verify_audit()
    assert not report["intact"] and report["first_broken"] == 3, report
    assert "missing" in report["problem"]
    status, out = _verify_cli(db_url, capsys)
    assert status == 1 and "entry 3" in out


def test_deleted_tail_is_caught_by_the_head(registry: Registry) -> None:
    _filled(registry)
    _drop_guards(registry)
    _sql(registry, "DELETE FROM audit_log WHERE seq = 6")
    report = registry.verify_audit()
    assert not report["intact"] and report["first_broken"] == 6
    assert "removed" in report["problem"]


def test_inserted_entry_in_the_middle(registry: Registry, db_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _filled(registry)
    _drop_guards(registry)
    # make room after entry 2 (two steps: a unique key must never collide) and forge entry 3,
    # linked correctly to entry 2
    _sql(registry, "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3",
         "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100")
    with registry.engine.connect() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 2")).scalar_one()
    forged = audit.next_entry(prev_seq=2, prev_hash=prev, now=audit_now(), actor="mallory",
                              action="case.add", object_type="patient", object_id="FAKE",
                              reason="forged", payload={}, request_id=None)
    forged["payload"] = "{}"
    _sql(registry, "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, "
         "reason, payload, payload_sha256, prev_hash, hash) VALUES (:seq, :at, :actor, :action, "
         ":object_type, :object_id, :reason, :payload, :payload_sha256, :prev_hash, :hash)",
         **{k: v for k, v in forged.items() if k != "request_id"})
    report = registry.verify_audit()
    assert not report["intact"] and report["first_broken"] == 4, report
    status, out = _verify_cli(db_url, capsys)
    assert status == 1 and "entry 4" in out


def test_forged_entry_appended_with_a_valid_hash(registry: Registry) -> None:
    _filled(registry)
    with registry.engine.connect() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 6")).scalar_one()
    forged = audit.next_entry(prev_seq=6, prev_hash=prev, now=audit_now(), actor="mallory",
                              action="case.add", object_type="patient", object_id="FAKE",
                              reason="forged", payload={}, request_id=None)
    forged["payload"] = "{}"
    _sql(registry, "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, "
         "reason, payload, payload_sha256, prev_hash, hash) VALUES (:seq, :at, :actor, :action, "
         ":object_type, :object_id, :reason, :payload, :payload_sha256, :prev_hash, :hash)",
         **{k: v for k, v in forged.items() if k != "request_id"})
    report = registry.verify_audit()
    assert not report["intact"] and report["first_broken"] == 7 and "head" in report["problem"]


def test_reordered_entries(registry: Registry, db_url: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    _filled(registry)
    _drop_guards(registry)
    _sql(registry, "UPDATE audit_log SET seq = 1000 WHERE seq = 2",
         "UPDATE audit_log SET seq = 2 WHERE seq = 3",
         "UPDATE audit_log SET seq = 3 WHERE seq = 1000")
    report = registry.verify_audit()
    assert not report["intact"] and report["first_broken"] == 2, report
    status, out = _verify_cli(db_url, capsys)
    assert status == 1 and "entry 2" in out


def audit_now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)
