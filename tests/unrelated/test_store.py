"""The donor store: import formats, pre-expansion, rejected rows, idempotency, updates,
all-or-nothing writes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from everydonor.adapters.donorstore import DonorStore, RejectedRows
from everydonor.errors import InputError
from everydonor.hla.locus import Locus
from everydonor.unrelated.search import STORE_LOCI

ROOT = Path(__file__).resolve().parents[2]
HEADER = ("donor_id,registry,sex,age,abo,cmv_igg,A_1,A_2,C_1,C_2,B_1,B_2,DRB1_1,DRB1_2,"
          "DQB1_1,DQB1_2,DPB1_1,DPB1_2")
GOOD = [
    "U1,REG1,female,34,A+,positive,A*02:01,A*11:01,C*01:02,C*14:02,B*46:01,B*51:01,"
    "DRB1*09:01,DRB1*15:01,DQB1*03:03,DQB1*06:02,DPB1*04:01,DPB1*05:01",
    "U2,REG1,M,28,O,neg,A*02:XX,A*24:02,,,B62,B*40:01,DRB1*04:XX,DR15,,,,",
    "U3,REG2,,,,,A2,A24,,,B7,B8,DR15,DR17,,,,",
]


def _write(tmp: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    path = tmp / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _store(tmp: Path, reducer) -> DonorStore:  # type: ignore[no-untyped-def]
    return DonorStore.open(tmp / "store", create=True, release=reducer.release)


def test_csv_import_pre_expands_every_typing(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, reducer)
    report = store.import_file(_write(tmp_path, "d.csv", GOOD), reducer)
    assert (report.records, report.imported, report.rejected) == (3, 3, [])
    recs = {r.id: r for r in store.records(0, [0, 1, 2])}
    assert recs["U1"].sex == "female" and recs["U1"].age == 34.0 and recs["U1"].abo == "A+"
    assert recs["U2"].sex == "male" and recs["U2"].cmv_igg == "negative"
    assert recs["U3"].registry == "REG2" and recs["U3"].sex is None and recs["U3"].age is None
    c = STORE_LOCI.index(Locus.C)
    assert recs["U2"].genotype_ids[c] == 0  # C untyped
    assert all(g > 0 for g in recs["U1"].genotype_ids)
    cat = store.catalog()
    a24 = cat.expansions[Locus.A][cat.ids[Locus.A]["A24"]]
    assert a24.kind == "serology" and "A*24:02" in a24.lgx and "A24" in a24.serology
    a2xx = cat.expansions[Locus.A][cat.ids[Locus.A]["A*02:XX"]]
    assert a2xx.kind == "xx_code" and len(a2xx.lgx) > 100
    assert any(g.endswith("G") for g in a2xx.g) and any(p.endswith("P") for p in a2xx.p)
    # the typing as received is kept for every donor
    assert recs["U2"].gl.startswith("A*02:XX+A*24:02^")
    info = store.info()
    assert info["donors"] == 3 and info["typings"]["A"] == 6


REJECTS = [
    ("R1,REG1,male,30,O,positive,A*01:9999,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "A_1", "A*01:9999", "not an allele"),
    ("R2,REG1,male,30,O,positive,A*01:0X,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "A_1", "A*01:0X", ""),
    ("R3,REG1,male,30,O,positive,A*01:QQQQ,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "A_1", "A*01:QQQQ", "MAC code"),
    ("R4,REG1,male,30,O,positive,B*07:02,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "A_1", "B*07:02", "typing of B"),
    ("R5,REG1,male,30,O,positive,A*01:01,,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "A", None, "one typing is missing"),
    ("R6,REG1,robot,30,O,positive,A*01:01,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "sex", "robot", "sex must be"),
    ("R7,REG1,male,150,O,positive,A*01:01,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "age", "150", "human range"),
    ("R8,REG1,male,30,Z,positive,A*01:01,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "abo", "Z", "abo must be"),
    (",REG1,male,30,O,positive,A*01:01,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "donor_id", None, "no id"),
    ("R10,REG1,male,30,O,positive,,,,,,,,,,,DPB1*04:01,DPB1*04:01",
     "hla", None, "no typing at A, C, B"),
    ("U1,REG1,male,30,O,positive,A*01:01,A*02:01,,,B*07:02,B*08:01,DR15,DR17,,,,",
     "donor_id", "U1", "appears again"),
]


def test_every_bad_row_is_rejected_with_its_reason(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, reducer)
    rows = [*GOOD, *(r[0] for r in REJECTS)]
    report = store.import_file(_write(tmp_path, "d.csv", rows), reducer)
    assert report.imported == 3
    assert report.records == len(rows)
    by_record = {r.record: r for r in report.rejected}
    assert len(by_record) == len(REJECTS)
    for k, (_, fld, value, reason) in enumerate(REJECTS, start=len(GOOD) + 1):
        r = by_record[k]
        assert r.field == fld, (k, r)
        assert r.value == value, (k, r)
        assert reason in r.reason, (k, r)
    # the report is kept in the store
    saved = json.loads((store.path / "imports" / f"{report.sha256}.json").read_text())
    assert saved["rejected_count"] == len(REJECTS)


def test_reimport_is_idempotent_and_changes_are_updates(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, reducer)
    first = _write(tmp_path, "d.csv", GOOD)
    store.import_file(first, reducer)
    files = sorted(p.name for p in store.path.rglob("*"))
    manifest = (store.path / "store.json").read_text()
    again = store.import_file(first, reducer)
    assert again.already_imported and again.imported == 0
    assert sorted(p.name for p in store.path.rglob("*")) == files
    assert (store.path / "store.json").read_text() == manifest
    changed = [GOOD[0].replace(",34,", ",35,"), GOOD[1],
               "U4,REG3,male,40,B,negative,A*01:01,A*01:01,,,B*08:01,B*08:01,DR17,DR17,,,,"]
    report = store.import_file(_write(tmp_path, "d2.csv", changed), reducer)
    assert (report.imported, report.updated, report.unchanged) == (1, 1, 1)
    store = DonorStore.open(store.path)
    assert store.donors == 4
    ids = []
    for part, f in enumerate(store.partition_files()):
        n = pq.read_metadata(f).num_rows
        for rec in store.records(part, list(range(n))):
            ids.append(rec.id)
            if rec.id == "U1":
                assert rec.age == 35.0
    assert sorted(ids) == ["U1", "U2", "U3", "U4"]


def test_strict_import_writes_nothing(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, reducer)
    before = sorted(p.name for p in store.path.rglob("*"))
    with pytest.raises(RejectedRows) as err:
        store.import_file(_write(tmp_path, "d.csv", [*GOOD, REJECTS[0][0]]), reducer,
                          strict=True)
    assert err.value.person == "R1" and err.value.field == "A_1"
    assert sorted(p.name for p in store.path.rglob("*")) == before
    assert DonorStore.open(store.path).donors == 0


def test_a_failed_write_leaves_the_store_as_it_was(tmp_path, reducer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, reducer)
    store.import_file(_write(tmp_path, "d.csv", GOOD[:1]), reducer)
    manifest = (store.path / "store.json").read_text()
    before = sorted(p.name for p in store.path.rglob("*"))
    calls = {"n": 0}
    real = pq.write_table

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        store.import_file(_write(tmp_path, "d2.csv", GOOD[1:]), reducer)
    assert (store.path / "store.json").read_text() == manifest
    assert sorted(p.name for p in store.path.rglob("*")) == before
    assert not (store.path / "store.lock").exists()


def test_wmda_format_and_its_malformed_lines(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "don.txt"
    path.write_text("\n".join([
        "W1%A*01:01+A*02:01^C*UUUU+C*UUUU^B*08:01+B*07:02^DRB1*03:01+DRB1*15:01"
        "^DQB1*UUUU+DQB1*UUUU",
        "W2%A*01:01+A*02:01%extra",
        "W3%A*01:01+A*02:01|A*01:02+A*02:01^B*08:01+B*07:02",
        "W4%A*01:01+A*02:01^A*03:01+A*24:02",
        "W5%A*01:01^B*08:01+B*07:02",
        "W6%A*02:01/A*02:02+A*03:XX^B*08:01+B*07:02^DRB1*03:01+DRB1*03:01",
    ]) + "\n", encoding="utf-8")
    store = _store(tmp_path, reducer)
    report = store.import_file(path, reducer)
    assert report.imported == 2
    why = {r.donor_id: r.reason for r in report.rejected}
    assert set(why) == {"W2", "W3", "W4", "W5"}
    assert "ID%GL" in why["W2"]
    assert "genotype lists" in why["W3"]
    assert "appears twice" in why["W4"]
    assert "two typings" in why["W5"]
    recs = store.records(0, [0, 1])
    assert [r.id for r in recs] == ["W1", "W6"]
    assert recs[0].genotype_ids[STORE_LOCI.index(Locus.C)] == 0


def test_case_file_unrelated_donors(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    store = _store(tmp_path, reducer)
    report = store.import_file(ROOT / "examples" / "06-unrelated-donors-and-father.yaml",
                               reducer)
    assert report.format == "case" and report.imported >= 2 and not report.rejected
    recs = store.records(0, list(range(report.imported)))
    assert all(r.registry for r in recs)


def test_store_errors_are_clear(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="not a donor store"):
        DonorStore.open(tmp_path / "nowhere")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        DonorStore.open(tmp_path / "full", create=True)
    store = _store(tmp_path, reducer)
    (store.path / "store.lock").write_text("1")
    with pytest.raises(InputError, match="locked"):
        store.import_file(_write(tmp_path, "d.csv", GOOD), reducer)
    with pytest.raises(InputError, match="does not exist"):
        store.import_file(tmp_path / "missing.csv", reducer)
    bad = _write(tmp_path, "bad.csv", GOOD, header=HEADER.replace("A_1", "HLA_A_first"))
    (store.path / "store.lock").unlink()
    with pytest.raises(InputError, match="unknown columns"):
        store.import_file(bad, reducer)


def test_gzip_files_and_partitions(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    import gzip

    rows = [f"G{k},REG1,male,30,O,positive,A*01:01,A*02:01,,,B*08:01,B*07:02,DR17,DR15,,,,"
            for k in range(2500)]
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([HEADER, *rows]) + "\n").encode()))
    store = _store(tmp_path, reducer)
    report = store.import_file(path, reducer, partition_rows=1000)
    assert report.imported == 2500
    assert [p["rows"] for p in store.manifest["partitions"]] == [1000, 1000, 500]
    # 2,500 donors typed alike: one typing per position, one genotype per locus
    assert store.info()["genotypes"]["A"] == 1


def test_the_progress_bar_is_fed_bytes_read(tmp_path, reducer) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int]] = []
    path = _write(tmp_path, "d.csv", GOOD)
    _store(tmp_path, reducer).import_file(path, reducer, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
