"""The pooled cohort on SQLite and PostgreSQL: another centre's de-identified export imported
(round trip against the source registry's own data), a re-import refused, a tampered or
non-de-identified export refused with nothing written, a later export superseding an earlier
one patient by patient, the import audited, the tables append-only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from everydonor.adapters.registry import exports
from everydonor.adapters.registry.commands import main
from everydonor.adapters.registry.config import PseudonymKey
from everydonor.adapters.registry.models import AuditLog
from everydonor.adapters.registry.outcomes_data import parse_cohort
from everydonor.adapters.registry.pooled import import_pooled, pooled_imports, pooled_records
from everydonor.adapters.registry.store import Registry
from everydonor.errors import InputError
from tests.registry.test_exports import SPECS, Cohort, build, consented

POOL_TABLES = ("pooled_import", "pooled_patient", "pooled_transplant", "pooled_event")


@pytest.fixture
def source(db_url: str) -> Iterator[Cohort]:
    c = build(db_url)
    try:
        yield c
    finally:
        c.reg.close()


@pytest.fixture
def pool(other_db_url: str) -> Iterator[Registry]:
    reg = Registry(other_db_url, key=PseudonymKey(b"pooling-centre-key-0123456789", "test"))
    reg.init(actor="pool-admin")
    try:
        yield reg
    finally:
        reg.close()


def deid(c: Cohort, tmp_path: Path, name: str = "bj-deid", **kw: Any) -> Path:
    out = tmp_path / name
    exports.export(c.reg, "deidentified", destination="international", output=out,
                   actor="dm", reason="EBMT study", **kw)
    return out


def pooled_counts(reg: Registry) -> dict[str, int]:
    counts = reg.counts()
    return {t: counts[t] for t in (*POOL_TABLES, "audit_log")}


def test_round_trip(source: Cohort, pool: Registry, tmp_path: Path) -> None:
    path = deid(source, tmp_path)
    result = import_pooled(pool, path, actor="pool-admin", reason="study pool")
    sent = [s for s in SPECS if consented(s, "international")]
    assert result["patients"] == len(sent) and result["centres"] == sorted({s.centre
                                                                            for s in sent})
    assert result["source_excluded"] == json.loads(
        (path / "manifest.json").read_text())["consent"]["excluded"]
    records = pooled_records(pool)
    assert len(records) == len(sent)  # one transplant each
    for spec in sent:
        pid = exports.export_id(source.key, "deidentified", source.pseudonyms[spec.upn])
        (rec,) = [r for r in records if r.patient == pid]
        assert (rec.centre, rec.hct_year, rec.hct_number, rec.hct_type) == (
            spec.centre, spec.day0.year, 1, "allo")
        assert (rec.donor_relation, rec.donor_relationship) == ("parent", "father")
        assert rec.donor_type == "haploidentical related"
        real = source.reg.show(spec.upn)["follow_up"]
        intervals = sorted((e["event_type"], (dt.date.fromisoformat(e["date"])
                                              - spec.day0).days) for e in real)
        assert sorted((e.event_type, e.day) for e in rec.events) == intervals
        engraftment = next(e for e in rec.events if e.event_type == "engraftment")
        assert engraftment.payload.keys() == {"anc_500_date", "platelet_20_date"}
        agvhd = next(e for e in rec.events if e.event_type == "agvhd")
        assert agvhd.payload == {"skin_stage": 2}
    with pool.reading() as s:
        entry = s.execute(select(AuditLog).where(AuditLog.action == "pooled.import")
                          ).scalar_one()
        assert (entry.actor, entry.reason, entry.object_id) == ("pool-admin", "study pool",
                                                                result["import_id"])
        assert entry.payload["manifest_sha256"] == hashlib.sha256(
            (path / "manifest.json").read_bytes()).hexdigest()
    assert pool.verify_audit()["intact"]
    assert [x["import_id"] for x in pooled_imports(pool)] == [result["import_id"]]
    assert pooled_records(pool, centres=["SH"]) == [r for r in records if r.centre == "SH"]


def test_reimport_refused_and_nothing_written(source: Cohort, pool: Registry,
                                              tmp_path: Path) -> None:
    path = deid(source, tmp_path)
    import_pooled(pool, path, actor="pool-admin", reason="first")
    before = pooled_counts(pool)
    with pytest.raises(InputError, match="re-import is refused"):
        import_pooled(pool, path, actor="pool-admin", reason="again")
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)  # the same export under another name is the same export
    with pytest.raises(InputError, match="re-import is refused"):
        import_pooled(pool, copy, actor="pool-admin", reason="again")
    assert pooled_counts(pool) == before


def _rehash(path: Path) -> None:
    """Recompute the manifest's hashes (a sender who edits the files and the manifest)."""
    manifest = json.loads((path / "manifest.json").read_text())
    for f in manifest["files"]:
        f["sha256"] = hashlib.sha256((path / f["name"]).read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_tampered_or_wrong_exports_are_refused(source: Cohort, pool: Registry,
                                               tmp_path: Path) -> None:
    good = deid(source, tmp_path)
    before = pooled_counts(pool)

    def variant(name: str) -> Path:
        path = tmp_path / name
        shutil.copytree(good, path)
        return path

    edited = variant("edited")
    data = (edited / "follow_up.csv").read_text().replace(",agvhd,", ",relapse,", 1)
    (edited / "follow_up.csv").write_text(data)
    with pytest.raises(InputError, match="follow_up.csv does not match the manifest"):
        import_pooled(pool, edited, actor="a", reason="r")

    rows = variant("rows")
    manifest = json.loads((rows / "manifest.json").read_text())
    manifest["files"][0]["rows"] += 1
    (rows / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="rows, the manifest says"):
        import_pooled(pool, rows, actor="a", reason="r")

    extra = variant("extra")
    (extra / "names.csv").write_text("name\nZhang Sanfeng\n")
    with pytest.raises(InputError, match="not listed in the manifest: names.csv"):
        import_pooled(pool, extra, actor="a", reason="r")

    leaked = variant("leaked")  # free text slipped into a payload, hashes made to match
    data = (leaked / "follow_up.csv").read_text()
    (leaked / "follow_up.csv").write_text(data.replace(
        '{""skin_stage"":2}', '{""skin_stage"":2,""treatment"":""Dr Ma Yu""}', 1))
    _rehash(leaked)
    with pytest.raises(InputError, match=r"follow_up.csv row \d+, payload: field\(s\) treatment"):
        import_pooled(pool, leaked, actor="a", reason="r")

    dated = variant("dated")
    data = (dated / "patients.csv").read_text()
    (dated / "patients.csv").write_text(data.replace(",male,", ",1985-03-17,", 1))
    _rehash(dated)
    with pytest.raises(InputError, match=r"patients.csv row 2, sex"):
        import_pooled(pool, dated, actor="a", reason="r")

    limited = tmp_path / "limited"
    exports.export(source.reg, "limited", output=limited, actor="dm", reason="r")
    with pytest.raises(InputError, match="only a de-identified export"):
        import_pooled(pool, limited, actor="a", reason="r")
    relabelled = tmp_path / "relabelled"  # a limited export that says it is de-identified
    shutil.copytree(limited, relabelled)
    manifest = json.loads((relabelled / "manifest.json").read_text())
    manifest["profile"] = "deidentified"
    (relabelled / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="not those of a deidentified export"):
        import_pooled(pool, relabelled, actor="a", reason="r")

    with pytest.raises(InputError, match="has no manifest.json"):
        import_pooled(pool, tmp_path, actor="a", reason="r")
    assert pooled_counts(pool) == before


def test_own_centre_refused(source: Cohort, tmp_path: Path) -> None:
    path = deid(source, tmp_path)
    before = pooled_counts(source.reg)
    with pytest.raises(InputError, match="would count them twice"):
        import_pooled(source.reg, path, actor="a", reason="r")
    assert pooled_counts(source.reg) == before


def test_a_later_export_supersedes_patient_by_patient(source: Cohort, pool: Registry,
                                                      tmp_path: Path) -> None:
    first = deid(source, tmp_path, "first", cohort=parse_cohort("centre=SH"))
    import_pooled(pool, first, actor="a", reason="r")
    bj = deid(source, tmp_path, "bj", cohort=parse_cohort("centre=BJ"))
    import_pooled(pool, bj, actor="a", reason="r")
    spec = SPECS[0]
    source.reg.record_event(spec.upn, "relapse", spec.day0 + dt.timedelta(days=200),
                            {"relapse_type": "haematologic"}, actor="t", reason="follow-up")
    later = deid(source, tmp_path, "later", cohort=parse_cohort("centre=BJ"))
    import_pooled(pool, later, actor="a", reason="r")
    records = pooled_records(pool)
    keys = [(r.centre, r.patient, r.hct_number) for r in records]
    assert len(keys) == len(set(keys)) == len([s for s in SPECS
                                               if consented(s, "international")])
    pid = exports.export_id(source.key, "deidentified", source.pseudonyms[spec.upn])
    (rec,) = [r for r in records if r.patient == pid]
    assert ("relapse", 200) in [(e.event_type, e.day) for e in rec.events]
    assert {r.centre for r in records} == {"BJ", "SH"}  # the SH import still counts
    assert len(pooled_imports(pool)) == 3


def test_pooled_tables_are_append_only(source: Cohort, pool: Registry, tmp_path: Path) -> None:
    import_pooled(pool, deid(source, tmp_path), actor="a", reason="r")
    for table in POOL_TABLES:
        for statement in (f"UPDATE {table} SET import_id = import_id"
                          if table != "pooled_import" else
                          "UPDATE pooled_import SET reason = 'x'", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"), pool.engine.begin() as conn:
                conn.execute(text(statement))


def test_cli_import(source: Cohort, pool: Registry, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    path = deid(source, tmp_path)
    db = pool.url.render_as_string(hide_password=False)
    assert main(["registry", "import-pooled", "--db", db, str(path), "--format", "text",
                 "--reason", "study pool"]) == 0
    out = capsys.readouterr().out
    assert "imported 2 patients" in out and "centre BJ, SH" in out
    assert main(["registry", "import-pooled", "--db", db, str(path)]) == 2
    assert "re-import is refused" in capsys.readouterr().err
    assert main(["registry", "import-pooled", "--db", db, str(tmp_path / "nothing")]) == 2
    assert "not an export directory" in capsys.readouterr().err
