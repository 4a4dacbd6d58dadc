"""The repository on both databases: a case in, the same case out; refusals write nothing;
identity apart from clinical rows; consent, HCT, follow-up, scores and snapshots."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import text

from everydonor.adapters.registry.store import Registry
from everydonor.case import parse_case
from everydonor.errors import EverydonorError, InputError
from tests.registry.conftest import EXAMPLES, ROOT, load

TODAY = dt.date(2026, 11, 25)
EXAMPLE_JSON = ROOT / "src" / "everydonor" / "data" / "examples" / "case.json"


def _count(reg: Registry, table: str) -> int:
    with reg.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)


def test_every_example_case_comes_back_equal(registry: Registry) -> None:
    for i, path in enumerate(EXAMPLES):
        raw = load(path)
        registry.add_case(raw, actor="tester", upn=f"UPN-{i:02d}", today=TODAY)
    for i, path in enumerate(EXAMPLES):
        exported = registry.export_case(f"UPN-{i:02d}", actor="tester")
        assert parse_case(exported, today=TODAY) == parse_case(load(path), today=TODAY), path


def test_refused_case_writes_nothing_and_names_patient_field_value(registry: Registry) -> None:
    before = registry.counts()
    raw = load(EXAMPLE_JSON)
    bad = copy.deepcopy(raw)
    bad["relatives"][2]["hla"]["DRB1"] = ["DRB1*09:01", "DRB1*99:99"]  # not in 3.58.0
    with pytest.raises(EverydonorError) as refused:
        registry.add_case(bad, actor="tester", upn="BAD")
    err = refused.value
    assert err.person == "S1" and err.field == "hla.DRB1" and "99:99" in str(err)
    bad = copy.deepcopy(raw)
    bad["relatives"][0]["cmv_igg"] = "maybe"
    with pytest.raises(InputError) as refused:
        registry.add_case(bad, actor="tester", upn="BAD")
    assert refused.value.person == "F" and refused.value.field == "cmv_igg"
    assert registry.counts() == before


def test_failure_inside_the_transaction_rolls_everything_back(registry: Registry,
                                                              monkeypatch: Any) -> None:
    from everydonor.adapters.registry import audit

    before = registry.counts()

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "append_many", explode)
    with pytest.raises(RuntimeError):
        registry.add_case(load(EXAMPLE_JSON), actor="tester", upn="HALF")
    assert registry.counts() == before


def test_identity_is_apart_and_needs_the_key(registry: Registry, db_url: str) -> None:
    raw = load(EXAMPLE_JSON)
    registry.add_case(raw, actor="tester", upn="UPN-ID", national_id="110101199001011234")
    names = [p.get("name") for p in [raw["patient"], *raw["relatives"]] if p.get("name")]
    with registry.engine.connect() as conn:
        for table in ("patient", "person", "typing", "audit_log", "case_source", "row_history"):
            dump = json.dumps([list(r) for r in conn.execute(text(f"SELECT * FROM {table}"))],
                              default=str, ensure_ascii=False)
            if table == "case_source":
                continue  # the source record is the document as received (same DB, same key)
            assert not any(n in dump for n in names), table
            assert "110101199001011234" not in dump, table
        identity = [r[0] for r in conn.execute(text("SELECT name FROM identity"))]
    assert sorted(identity) == sorted(names)
    # without the key the same store cannot join identity to anyone
    other = Registry(db_url, key=None)
    import os
    os.environ["EVERYDONOR_PSEUDONYM_KEY"] = "a-different-key-0123456789"
    try:
        with pytest.raises(InputError, match="not the key this registry"):
            other.export_case("UPN-ID", actor="tester")
    finally:
        other.close()


def test_pseudonyms_are_hmac_of_the_key(registry: Registry) -> None:
    from everydonor.adapters.registry.config import PseudonymKey
    from tests.registry.conftest import TEST_KEY

    registry.add_case(load(EXAMPLE_JSON), actor="tester", upn="UPN-PS", centre="BJ01")
    shown = registry.show("UPN-PS")
    key = PseudonymKey(TEST_KEY.encode(), "test")
    assert shown["pseudonym"] == key.pseudonym("patient", "BJ01", "UPN-PS")
    assert shown["pseudonym"] != PseudonymKey(b"another key 0123456", "x").pseudonym(
        "patient", "BJ01", "UPN-PS")
    assert "UPN-PS" not in shown["pseudonym"]


def test_update_keeps_every_old_version(registry: Registry) -> None:
    raw = load(EXAMPLE_JSON)
    registry.add_case(raw, actor="alice", upn="UPN-H")
    assert registry.add_case(raw, actor="alice", upn="UPN-H", reason="again")["status"] == \
        "unchanged"
    changed = copy.deepcopy(raw)
    changed["relatives"][0]["age"] = 62
    changed["relatives"][0]["hla"]["A"] = ["A*02:01", "A*01:01"]
    with pytest.raises(InputError, match="needs a reason"):
        registry.add_case(changed, actor="bob", upn="UPN-H")
    result = registry.add_case(changed, actor="bob", upn="UPN-H", reason="lab correction")
    assert result["status"] == "updated" and result["version"] == 2
    history = registry.history("UPN-H")
    father = [v for v in history["versions"] if v["table"] == "person" and v["label"] == "F"]
    assert [(v["version"], v["by"], v["reason"]) for v in father] == [
        (1, "alice", "initial entry"), (2, "bob", "lab correction")]
    assert {"field": "age", "old": 61.0, "new": 62.0} in father[1]["changes"]
    typings = [v for v in history["versions"] if v["label"] == "F.A"]
    # the old raw typing is kept (soft-deleted), the new one is a new row
    assert sorted((v["operation"], v["deleted"]) for v in typings) == [
        ("delete", True), ("insert", False), ("insert", False)]
    with registry.engine.connect() as conn:
        raws = sorted(json.dumps(json.loads(r[0]) if isinstance(r[0], str) else r[0])
                      for r in conn.execute(text(
            "SELECT t.raw FROM typing t JOIN person p ON p.id = t.person_id "
            "WHERE p.case_person_id = 'F' AND t.locus = 'A'")))
    assert raws == ['["A*02:01", "A*01:01"]', '["A*02:01", "A*24:02"]']
    assert parse_case(registry.export_case("UPN-H", actor="bob"), today=TODAY) == \
        parse_case(changed, today=dt.date.today())
    assert [e["action"] for e in history["audit"]] == ["case.add", "case.update"]


def test_row_as_of_a_time_is_rebuilt_from_history(registry: Registry) -> None:
    from sqlalchemy.orm import Session

    from everydonor.adapters.registry.history import as_of
    from everydonor.adapters.registry.models import Person

    raw = load(EXAMPLE_JSON)
    registry.add_case(raw, actor="alice", upn="UPN-T")
    with Session(registry.engine) as s:
        father = s.query(Person).filter_by(case_person_id="F").one()
        first_time = father.changed_at
    changed = copy.deepcopy(raw)
    changed["relatives"][0]["weight_kg"] = 80
    registry.add_case(changed, actor="bob", upn="UPN-T", reason="weighed")
    with Session(registry.engine) as s:
        father = s.query(Person).filter_by(case_person_id="F").one()
        then = as_of(s, Person, father.id, first_time)
        now = as_of(s, Person, father.id, father.changed_at)
        before = as_of(s, Person, father.id, first_time - dt.timedelta(seconds=1))
    assert then is not None and now is not None
    assert then["weight_kg"] is None and then["version"] == 1 and then["changed_by"] == "alice"
    assert now["weight_kg"] == 80.0 and now["version"] == 2
    assert before is None


def test_soft_delete_keeps_the_rows(registry: Registry) -> None:
    registry.add_case(load(EXAMPLE_JSON), actor="tester", upn="UPN-D")
    rows = registry.counts()
    with pytest.raises(InputError, match="reason"):
        registry.delete_patient("UPN-D", actor="tester", reason=" ")
    registry.delete_patient("UPN-D", actor="tester", reason="duplicate registration")
    assert registry.list_patients()["total"] == 0
    listed = registry.list_patients(include_deleted=True)["patients"]
    assert [(p["upn"], p["deleted"]) for p in listed] == [("UPN-D", True)]
    after = registry.counts()
    assert after["person"] == rows["person"] and after["row_history"] == rows["row_history"] + 1
    with pytest.raises(InputError, match="deleted"):
        registry.export_case("UPN-D", actor="tester")
    history = registry.history("UPN-D")
    assert any(v["operation"] == "delete" and v["reason"] == "duplicate registration"
               for v in history["versions"] if v["table"] == "patient")


def test_database_refuses_deletes_and_unversioned_updates(registry: Registry) -> None:
    from sqlalchemy.exc import DBAPIError

    registry.add_case(load(EXAMPLE_JSON), actor="tester", upn="UPN-G")
    for statement in ("DELETE FROM person", "UPDATE person SET age = 1",
                      "DELETE FROM audit_log", "UPDATE audit_log SET actor = 'x'",
                      "UPDATE case_source SET document = '{}'"):
        with pytest.raises(DBAPIError), registry.engine.begin() as conn:
            conn.execute(text(statement))
    # an update that adds its version (as the repository does) is allowed
    with registry.engine.begin() as conn:
        conn.execute(text("UPDATE centre SET version = version + 1, name = 'X'"))


def test_snapshots_are_immutable_and_recomputing_adds_one(registry: Registry) -> None:
    from sqlalchemy.exc import DBAPIError

    registry.add_case(load(EXAMPLE_JSON), actor="tester", upn="UPN-S")
    answer = {"ranking": [{"rank": 1, "id": "S2"}], "release": "3.58.0"}
    first = registry.add_snapshot("UPN-S", "ranking", answer, actor="tester", reason="MDT",
                                  rule_set="beijing", rule_set_version="csh2021",
                                  release="3.58.0")
    second = registry.add_snapshot("UPN-S", "ranking", answer, actor="tester", reason="again",
                                   rule_set="beijing", rule_set_version="csh2021",
                                   release="3.58.0")
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    assert not hasattr(registry, "update_snapshot")
    stored = registry.snapshot(first["id"])
    assert stored["intact"] and stored["answer"] == answer
    for statement in ("UPDATE snapshot SET answer = '{}'", "DELETE FROM snapshot"):
        with pytest.raises(DBAPIError), registry.engine.begin() as conn:
            conn.execute(text(statement))
    assert [x["id"] for x in registry.show("UPN-S")["snapshots"]] == [first["id"], second["id"]]


def test_consent_hct_follow_up_and_scores(registry: Registry) -> None:
    registry.add_case(load(ROOT / "examples" / "07-post-transplant-mrd-follow-up.yaml"),
                      actor="tester", upn="UPN-F")
    registry.set_consent("UPN-F", research=True, international_transfer=False,
                         consent_date=dt.date(2026, 5, 1), scope="registry research",
                         actor="tester", reason="signed form")
    registry.add_hct("UPN-F", day0=dt.date(2026, 6, 15), donor="B1", graft="G-BM + G-PB",
                     actor="tester", reason="transplant")
    with pytest.raises(InputError, match="not a donor"):
        registry.add_hct("UPN-F", day0=dt.date(2026, 6, 15), donor="P", actor="tester",
                         reason="x")
    registry.record_event("UPN-F", "agvhd", "2026-07-02", {"skin_stage": 2, "x_photo": "p1"},
                          actor="tester", reason="ward round", hct_number=1)
    registry.record_event("UPN-F", "death", "2027-01-03", {"cause": "infection"},
                          actor="tester", reason="notified")
    for event_type, payload, field in (("agvhd", {"skin_stage": 7}, "payload.skin_stage"),
                                       ("agvhd", {"grade": "II"}, "payload.grade"),
                                       ("score", {"grade": "II"}, "event_type"),
                                       ("death", {}, "payload.cause"),
                                       ("unknown", {}, "event_type")):
        with pytest.raises(InputError) as refused:
            registry.record_event("UPN-F", event_type, "2026-07-02", payload, actor="tester",
                                  reason="x")
        assert refused.value.field == field
    score = registry.add_score("UPN-F", "magic_agvhd_grade", {"skin_stage": 3},
                               "2026-07-09", actor="tester", reason="grading")
    assert score["payload"]["result"]["grade"] == "II"
    assert score["payload"]["inputs"] == {"skin_stage": 3}
    assert score["payload"]["criteria"]
    with pytest.raises(InputError):
        registry.add_score("UPN-F", "magic_agvhd_grade", {"skin_stage": 9}, "2026-07-09",
                           actor="tester", reason="bad")
    shown = registry.show("UPN-F")
    assert shown["consent"] == {"research": True, "international_transfer": False,
                                "date": "2026-05-01", "scope": "registry research"}
    assert shown["hct"] == [{"number": 1, "day0": "2026-06-15", "type": "allo",
                             "donor": "B1", "graft": "G-BM + G-PB"}]
    registry_events = [e["event_type"] for e in shown["follow_up"] if e["source"] == "registry"]
    assert registry_events == ["agvhd", "death", "score"]
    case_events = [e["event_type"] for e in shown["follow_up"] if e["source"] == "case"]
    assert case_events == ["case_status", "mrd", "mrd", "mrd"]
    # registry events never leak into the exported case file's follow_up
    exported = registry.export_case("UPN-F", actor="tester")
    assert parse_case(exported, today=TODAY) == parse_case(
        load(ROOT / "examples" / "07-post-transplant-mrd-follow-up.yaml"), today=TODAY)


def test_list_and_show_contract(registry: Registry) -> None:
    for i, path in enumerate(EXAMPLES[:3]):
        registry.add_case(load(path), actor="tester", upn=f"P{3 - i}")
    page = registry.list_patients(limit=2)
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [p["upn"] for p in page["patients"]] == ["P1", "P2"]
    first = page["patients"][0]
    assert set(first) == {"upn", "centre", "case_id", "diagnosis", "disease_status", "version",
                          "changed_at", "deleted", "persons", "relatives", "unrelated",
                          "typings", "follow_up_events", "snapshots"}
    raw = load(EXAMPLES[2])
    assert first["persons"] == 1 + len(raw["relatives"]) + len(raw.get("unrelated") or [])
    assert registry.list_patients(limit=2, offset=2)["patients"][0]["upn"] == "P3"
    shown = registry.show("P1")
    assert {"upn", "pseudonym", "centre", "case_id", "as_of", "version", "deleted", "disease",
            "consent", "persons", "hct", "follow_up", "snapshots"} <= set(shown)
    typing = shown["persons"][0]["typings"][0]
    assert typing["glsc"].startswith("hla#3.58.0#HLA-") and typing["release"] == "3.58.0"
    assert typing["reduced_lgx"]
    assert "name" not in json.dumps(shown["persons"])


def test_not_a_registry_and_old_schema_are_refused(db_url: str) -> None:
    from everydonor.adapters.registry import migrate

    reg = Registry(db_url)
    with pytest.raises(InputError, match="registry init"):
        reg.list_patients()
    migrate.upgrade(reg.engine, "0001")
    reg2 = Registry(db_url)
    with pytest.raises(InputError, match="registry upgrade"):
        reg2.list_patients()
    reg.close()
    reg2.close()
