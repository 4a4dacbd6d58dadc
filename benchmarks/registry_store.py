"""Registry store: cases added per second against a naive baseline, and the two read queries.

1. Add. ``--cases`` synthetic families (default 10,000; each an example case of the project
   with every id varied, about six persons with typings each) are checked (parsed, typings
   expanded against IPD-IMGT/HLA 3.58.0 and reduced to lgx) and stored through the repository
   in transactions of ``--batch`` whole cases (each case with its rows, source record and
   audit entry; all or nothing per transaction). The named baseline, "naive", stores the same
   rows one row per transaction (the ORM, ``session.add`` + ``commit`` per row) for the first
   ``--baseline`` cases, in the same run; the ratio compares seconds per case.
   Target on a 2-core machine: 10,000 cases in under 60 s on SQLite.
2. Read, at ``--patients`` patients (default 100,000: the stored cases' rows cloned with new
   ids and UPNs by bulk inserts, outside the repository, to reach the size quickly): look-up of
   one patient by UPN (``registry show``: patient, persons, typings, antibodies, follow-up,
   snapshots) and the patient-list page (first 50 by UPN with their counts). Targets: look-up
   under 10 ms, list under 100 ms (medians).

Usage: python benchmarks/registry_store.py [--cases 10000] [--patients 100000] [--db URL]
       [--check]   (exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from everydonor.adapters.inputs.casefile import load_case_data
from everydonor.adapters.reference.imgt import load_reference
from everydonor.adapters.registry.models import (
    AntibodyResult,
    AntibodyTest,
    Disease,
    FollowUpEvent,
    Patient,
    Person,
    Typing,
)
from everydonor.adapters.registry.store import PreparedCase, Registry, new_id
from everydonor.hla.reduction import Reducer

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*sorted((ROOT / "examples").glob("0*.yaml")),
           ROOT / "src" / "everydonor" / "data" / "examples" / "case.json"]


def synthetic_cases(n: int, seed: int = 12) -> list[Any]:
    """``n`` families: example cases, every person id varied, ages jittered."""
    rng = random.Random(seed)
    bases = [load_case_data(p) for p in SOURCES]
    weights = [1 + len(b.get("relatives") or []) + len(b.get("unrelated") or []) for b in bases]
    out = []
    for i in range(n):
        raw = copy.deepcopy(rng.choices(bases, weights=weights)[0])
        raw["as_of"] = "2026-11-25"
        raw["id"] = f"case-{i:06d}"
        people = [raw["patient"], *(raw.get("relatives") or []), *(raw.get("unrelated") or [])]
        for person in people:
            person["id"] = f"{person['id']}-{i:06d}"
            if person.get("age") is not None:
                person["age"] = max(1, min(90, person["age"] + rng.randint(-3, 3)))
        out.append(raw)
    return out


def naive_store(url: str, prepared: list[PreparedCase]) -> float:
    """The baseline: the same rows, one row per transaction (ORM add + commit)."""
    reg = Registry(url)
    reg.init(actor="bench")
    started = time.perf_counter()
    with reg._write("bench", "centre") as (s, ctx):  # the baseline's centre row
        centre = reg._centre(s, "local", ctx)
        centre_id = centre.id
    stamp = {"version": 1, "changed_by": "bench", "change_reason": "naive", "deleted": False}

    def one(model: Any, values: dict[str, Any]) -> None:
        with Session(reg.engine) as s:
            s.add(model(**values, changed_at=reg_now(), **stamp))
            s.commit()

    for c in prepared:
        pid = new_id()
        one(Patient, {"id": pid, "upn": c.upn, "centre_id": centre_id, "pseudonym": new_id(),
                      **c.rows.patient})
        one(Disease, {"id": new_id(), "patient_id": pid, **c.rows.disease})
        for pr in c.rows.persons:
            person_id = new_id()
            one(Person, {"id": person_id, "patient_id": pid, **pr.values})
            for t in pr.typings:
                one(Typing, {"id": new_id(), "person_id": person_id, **t})
            if pr.antibody_test is not None:
                test_id = new_id()
                one(AntibodyTest, {"id": test_id, "person_id": person_id, **pr.antibody_test})
                for r in pr.antibody_results:
                    one(AntibodyResult, {"id": new_id(), "test_id": test_id, **r})
        for e in c.rows.follow_up:
            one(FollowUpEvent, {"id": new_id(), "patient_id": pid, "hct_id": None, **e})
    elapsed = time.perf_counter() - started
    reg.close()
    return elapsed


def reg_now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def clone_to(reg: Registry, target: int) -> int:
    """Copy the stored patients (with persons, typings, disease, follow-up) under new ids and
    UPNs until ``target`` patients exist; returns the count."""
    with Session(reg.engine) as s:
        patients = [dict(r._mapping) for r in s.execute(select(Patient.__table__))]
        diseases = {r.patient_id: dict(r._mapping) for r in s.execute(select(Disease.__table__))}
        persons: dict[str, list[dict[str, Any]]] = {}
        for r in s.execute(select(Person.__table__)):
            persons.setdefault(r.patient_id, []).append(dict(r._mapping))
        typings: dict[str, list[dict[str, Any]]] = {}
        for r in s.execute(select(Typing.__table__)):
            typings.setdefault(r.person_id, []).append(dict(r._mapping))
    have = len(patients)
    copy_no = 0
    while have < target:
        copy_no += 1
        rows: dict[Any, list[dict[str, Any]]] = {Patient: [], Disease: [], Person: [],
                                                 Typing: []}
        for p in patients:
            if have >= target:
                break
            pid = new_id()
            rows[Patient].append({**p, "id": pid, "upn": f"{p['upn']}~{copy_no}",
                                  "pseudonym": new_id()})
            if p["id"] in diseases:
                rows[Disease].append({**diseases[p["id"]], "id": new_id(), "patient_id": pid})
            for person in persons.get(p["id"], []):
                person_id = new_id()
                rows[Person].append({**person, "id": person_id, "patient_id": pid})
                rows[Typing].extend({**t, "id": new_id(), "person_id": person_id}
                                    for t in typings.get(person["id"], []))
            have += 1
        with reg.engine.begin() as conn:
            for model, values in rows.items():
                for i in range(0, len(values), 20_000):
                    conn.execute(insert(model.__table__), values[i:i + 20_000])
    with reg.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return have


def timed(fn: Any, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1 if len(times) > 1 else 0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--baseline", type=int, default=100)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    ap.add_argument("--baseline-db", help="database URL for the baseline (default: temporary)")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    os.environ.setdefault("EVERYDONOR_PSEUDONYM_KEY", "benchmark-key-0123456789abcdef")
    tmp = tempfile.mkdtemp(prefix="registry-bench-")
    url = args.db or f"sqlite:///{tmp}/registry.sqlite"
    base_url = args.baseline_db or f"sqlite:///{tmp}/naive.sqlite"

    reducer = Reducer(load_reference())
    raws = synthetic_cases(args.cases)
    reg = Registry(url, reducer=reducer)
    reg.init(actor="bench")

    started = time.perf_counter()
    prepared = [reg.prepare(raw, upn=f"UPN{i:06d}") for i, raw in enumerate(raws)]
    t_prepare = time.perf_counter() - started
    t0 = time.perf_counter()
    for i in range(0, len(prepared), args.batch):
        reg.add_prepared(prepared[i:i + args.batch], actor="bench", reason=None)
    t_store = time.perf_counter() - t0
    t_add = time.perf_counter() - started
    persons = sum(len(p.rows.persons) for p in prepared)
    typings = sum(len(pr.typings) for p in prepared for pr in p.rows.persons)
    rows = sum(2 + sum(1 + len(pr.typings) + (pr.antibody_test is not None)
                       + len(pr.antibody_results) for pr in p.rows.persons)
               + len(p.rows.follow_up) for p in prepared)
    report = reg.verify_audit()
    assert report["intact"] and report["entries"] == args.cases + 1, report

    n_base = min(args.baseline, len(prepared))
    t_naive = naive_store(base_url, prepared[:n_base])
    per_case_fast = t_add / len(prepared)
    per_case_store = t_store / len(prepared)
    per_case_naive = t_naive / n_base
    base_rows = sum(2 + sum(1 + len(pr.typings) + (pr.antibody_test is not None)
                            + len(pr.antibody_results) for pr in p.rows.persons)
                    + len(p.rows.follow_up) for p in prepared[:n_base])

    print(f"database: {reg.where.split('@')[-1]}")
    print(f"add {len(prepared):,} cases ({persons:,} persons, {typings:,} locus typings, "
          f"{rows:,} clinical rows): {t_add:.1f} s = check {t_prepare:.1f} s + store "
          f"{t_store:.1f} s ({len(prepared) / t_add:,.0f} cases/s; {args.batch} cases per "
          "transaction)")
    print(f"naive baseline (one row per transaction, ORM), {n_base} cases, {base_rows:,} rows: "
          f"{t_naive:.1f} s = {per_case_naive * 1000:.1f} ms/case "
          f"({base_rows / t_naive:,.0f} rows/s)")
    print(f"ratio: store {per_case_naive / per_case_store:.1f}x faster than naive "
          f"(end to end, with the checks: {per_case_naive / per_case_fast:.1f}x)")

    total = clone_to(reg, args.patients)
    upns = [f"UPN{i:06d}" for i in random.Random(5).sample(range(args.cases),
                                                           min(200, args.cases))]
    it = iter(upns * 10)
    look_med, look_p95 = timed(lambda: reg.show(next(it)), len(upns))
    list_med, list_p95 = timed(lambda: reg.list_patients(limit=50), 30)
    mid_med, _ = timed(lambda: reg.list_patients(limit=50, offset=total // 2), 10)
    print(f"look-up by UPN at {total:,} patients: median {look_med * 1000:.2f} ms, p95 "
          f"{look_p95 * 1000:.2f} ms (target < 10 ms)")
    print(f"patient list (first 50 by UPN, with counts) at {total:,} patients: median "
          f"{list_med * 1000:.1f} ms, p95 {list_p95 * 1000:.1f} ms (target < 100 ms); "
          f"page at offset {total // 2:,}: {mid_med * 1000:.1f} ms")
    reg.close()
    missed = []
    if args.cases >= 10_000 and t_add >= 60:
        missed.append("add")
    if look_med >= 0.010:
        missed.append("look-up")
    if list_med >= 0.100:
        missed.append("list")
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
