"""SR-18 on both databases: the migrations create exactly the models' tables; head → base →
head works; a registry written by the first revision upgrades in place and loses nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import MetaData, inspect, select, text

from everydonor.adapters.registry import audit, migrate
from everydonor.adapters.registry.casemap import case_rows
from everydonor.adapters.registry.config import PseudonymKey
from everydonor.adapters.registry.models import Base
from everydonor.adapters.registry.store import Registry, new_id
from everydonor.case import parse_case
from tests.registry.conftest import EXAMPLES, TEST_KEY, load

TODAY = dt.date(2026, 11, 25)


def test_migrations_match_the_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    reg = Registry(db_url)
    migrate.upgrade(reg.engine)
    with reg.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                 Base.metadata)
    reg.close()
    assert diffs == []


def test_head_base_head(db_url: str) -> None:
    reg = Registry(db_url)
    assert migrate.revisions() == ["0001", "0002", "0003", "0004"]
    assert migrate.upgrade(reg.engine) == (None, "0004")
    assert migrate.downgrade(reg.engine, "base") == ("0004", None)
    assert set(inspect(reg.engine).get_table_names()) <= {"alembic_version"}
    assert migrate.upgrade(reg.engine) == (None, "0004")
    reg.init(actor="tester")
    assert reg.verify_audit()["intact"]
    reg.close()


def _write_as_revision_0001(reg: Registry, documents: list[Any]) -> None:
    """What a 0001-era everydonor wrote: every table filled through the 0001 schema itself
    (reflected), audit entries without request ids."""
    meta = MetaData()
    meta.reflect(reg.engine)
    assert "request_id" not in meta.tables["audit_log"].c
    key = PseudonymKey(TEST_KEY.encode(), "test")
    now = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    stamp = {"version": 1, "changed_at": now, "changed_by": "old-version", "change_reason":
             "initial entry", "deleted": False}
    t = meta.tables
    with reg.engine.begin() as conn:
        conn.execute(t["registry_meta"].insert(), [{"key": "key_check",
                                                    "value": key.check_value()}])
        centre = new_id()
        conn.execute(t["centre"].insert(), [{"id": centre, "code": "local", "name": None,
                                             **stamp}])
        seq, prev = 0, audit.GENESIS
        for i, raw in enumerate(documents):
            case = parse_case(raw, today=TODAY)
            rows = case_rows(case, raw, release="3.58.0")
            upn = f"OLD{i}"
            pid = new_id()
            conn.execute(t["patient"].insert(), [{
                "id": pid, "upn": upn, "pseudonym": key.pseudonym("patient", "local", upn),
                "centre_id": centre, **rows.patient, **stamp}])
            conn.execute(t["disease"].insert(), [{"id": new_id(), "patient_id": pid,
                                                  **rows.disease, **stamp}])
            for pr in rows.persons:
                person = new_id()
                conn.execute(t["person"].insert(), [{"id": person, "patient_id": pid,
                                                     **pr.values, **stamp}])
                for typing in pr.typings:
                    conn.execute(t["typing"].insert(), [{"id": new_id(), "person_id": person,
                                                         **typing, **stamp}])
                if pr.antibody_test is not None:
                    test = new_id()
                    conn.execute(t["antibody_test"].insert(), [{
                        "id": test, "person_id": person, **pr.antibody_test, **stamp}])
                    for r in pr.antibody_results:
                        conn.execute(t["antibody_result"].insert(), [{
                            "id": new_id(), "test_id": test, **r, **stamp}])
                if any(v is not None for v in pr.identity.values()):
                    conn.execute(t["identity"].insert(), [{
                        "pseudonym": key.pseudonym("identity", upn,
                                                   pr.values["case_person_id"]),
                        **pr.identity, **stamp}])
            for e in rows.follow_up:
                conn.execute(t["follow_up_event"].insert(), [{"id": new_id(), "patient_id": pid,
                                                              "hct_id": None, **e, **stamp}])
            entry = audit.next_entry(prev_seq=seq, prev_hash=prev, now=now, actor="old-version",
                                     action="case.add", object_type="patient", object_id=upn,
                                     reason="initial entry", payload={"n": i},
                                     request_id=None)
            entry.pop("request_id")
            conn.execute(t["audit_log"].insert(), [entry])
            seq, prev = entry["seq"], entry["hash"]
        conn.execute(t["audit_head"].update().values(seq=seq, hash=prev))


def test_a_registry_from_revision_0001_upgrades_in_place(db_url: str, reducer: Any) -> None:
    documents = [load(p) for p in EXAMPLES[:4]]
    reg = Registry(db_url, reducer=reducer)
    migrate.upgrade(reg.engine, "0001")
    _write_as_revision_0001(reg, documents)
    old_tables = set(inspect(reg.engine).get_table_names()) - {"alembic_version"}
    assert old_tables < set(Base.metadata.tables)  # later revisions add tables (0003: accounts)
    with reg.engine.connect() as conn:
        before = {name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar()
                  for name in sorted(old_tables)}
    result = reg.upgrade(actor="tester")
    assert (result["revision_before"], result["revision"]) == ("0001", migrate.revisions()[-1])
    after = reg.counts()
    assert after["audit_log"] == before["audit_log"] + 1  # + the upgrade's own entry
    # every 0001 table keeps its rows; the tables added since start empty
    assert {k: v for k, v in after.items() if k in old_tables and k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"}
    assert all(after[k] == 0 for k in set(after) - old_tables), after
    report = reg.verify_audit()
    assert report["intact"] and report["entries"] == len(documents) + 1
    for i, raw in enumerate(documents):
        exported = reg.export_case(f"OLD{i}", actor="tester")
        assert parse_case(exported, today=TODAY) == parse_case(raw, today=TODAY)
    with reg.engine.connect() as conn:
        ids = list(conn.execute(select(Base.metadata.tables["audit_log"].c.request_id)
                                .order_by(text("seq"))).scalars())
    assert ids[:len(documents)] == [None] * len(documents) and all(ids[len(documents):])
    reg.add_case(load(EXAMPLES[5]), actor="tester", upn="NEW")
    assert reg.verify_audit()["intact"]
    assert reg.list_patients()["total"] == len(documents) + 1
    reg.close()
