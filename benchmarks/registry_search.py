"""Registry-scale unrelated donor search: import, mismatch scan and match prediction.

A synthetic registry of N donors is sampled from the WMDA set-3 haplotype frequencies
(``../shared/data/wmda-set3/freqs.txt``; CC BY-NC-ND, read in place) with the typing ambiguity
of :mod:`everydonor.unrelated.simulation` (40 % 2-field, 25 % NMDP MACs from the Atlas subset in
``../shared``, 20 % XX with C/DQB1 untyped, 15 % serology with C/DQB1 untyped), written as CSV,
imported into a donor store, and searched for patients typed at 2-field resolution.

Measured in one run, each stage in its own process (peak memory per stage):

* import: seconds, donors per second, store size on disk, peak RSS;
* search, per patient: store open (genotype columns into memory), plan, **mismatch scan** over
  all donors, **match prediction for 10,000 scan candidates**, and the whole search (scan,
  prediction for every candidate, records, DPB1 TCE, ranking), peak RSS;
* baselines, same data, same run:
  - scan: DuckDB 1.x SQL over the same Parquet partitions, joined with the same per-locus
    tables (a columnar engine doing the same look-ups) — identical candidate count required;
  - scan: naive re-interpretation — every donor's typing texts parsed and expanded again and
    compared as Python sets (what a search costs without pre-expansion), on a sample of
    2,000 donors, scaled to N;
  - prediction: the straightforward exact method — each distinct donor phenotype imputed
    alone over every haplotype of the set (all ordered pairs tested), genotypes collapsed, and
    every patient genotype compared with every donor genotype (as in the first prototype, and
    as Atlas does before truncation) — on the same 10,000 candidates; its answers must equal
    everydonor's.

Targets (issue 8, this 2-core machine): 10 M donors scanned in < 1 s, < 10 s including
probabilities for 10,000 candidates, memory < 8 GiB.

Usage: python benchmarks/registry_search.py [--donors 1000000 10000000] [--workdir DIR]
       [--keep] [--patients 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FREQS = SHARED / "wmda-set3" / "freqs.txt"
MAC_FILE = (SHARED / "hla" / "Atlas" / "Atlas.MultipleAlleleCodeDictionary.Test.Integration"
            / "Repositories" / "LargeMacDictionary.csv")
FAKE_CODES = frozenset({"ABC", "DEF", "NUL", "TCE", "XYZ", "YYY", "ZZZ"})


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _reducer() -> Any:
    from everydonor.adapters.reference.imgt import load_reference, read_mac_file
    from everydonor.hla.reduction import Reducer

    return Reducer(load_reference(), read_mac_file(MAC_FILE, skip_codes=FAKE_CODES))


def _fs(reducer: Any) -> Any:
    from everydonor.adapters.search.frequencies import read_frequency_file

    return read_frequency_file(FREQS, reducer, name="wmda-set3")


# -- stages (each run in a subprocess) ------------------------------------------------------------


def stage_generate(n: int, out: Path, seed: int) -> dict[str, Any]:
    from everydonor.unrelated.frequencies import LOCI
    from everydonor.unrelated.simulation import simulate_donors, typing_texts

    reducer = _reducer()
    fs = _fs(reducer)
    texts = typing_texts(fs, reducer, reducer.macs)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    block = 1_000_000
    with out.open("wb") as f:
        for start in range(0, n, block):
            m = min(block, n - start)
            d = simulate_donors(fs, texts, m, rng, start_id=start + 1)
            cols: dict[str, Any] = {
                "donor_id": pa.array([f"D{x:09d}" for x in d.ids.tolist()]),
                "registry": pa.DictionaryArray.from_arrays(
                    pa.array(d.registry.astype(np.int32)), pa.array(["REG1", "REG2", "REG3"])),
                "sex": pa.DictionaryArray.from_arrays(pa.array(d.female.astype(np.int32)),
                                                      pa.array(["male", "female"])),
                "age": pa.array(d.age.astype(np.int32)),
                "cmv_igg": pa.DictionaryArray.from_arrays(
                    pa.array(d.cmv_positive.astype(np.int32)), pa.array(["negative", "positive"])),
            }
            for i, locus in enumerate(LOCI):
                table = pa.array(list(texts.texts[i]))
                for pos in (0, 1):
                    idx = d.typing[i][pos]
                    cols[f"{locus.value}_{pos + 1}"] = pa.DictionaryArray.from_arrays(
                        pa.array(idx, mask=idx < 0), table)
            t = pa.table({k: (v.cast(pa.string()) if isinstance(v, pa.DictionaryArray) else v)
                          for k, v in cols.items()})
            pacsv.write_csv(t, f, write_options=pacsv.WriteOptions(include_header=start == 0))
    return {"seconds": time.perf_counter() - t0, "bytes": out.stat().st_size}


def stage_import(csv: Path, store: Path) -> dict[str, Any]:
    from everydonor.adapters.donorstore import DonorStore

    reducer = _reducer()
    t0 = time.perf_counter()
    s = DonorStore.open(store, create=True, release=reducer.release)
    report = s.import_file(csv, reducer)
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    return {"seconds": seconds, "donors": report.imported, "rejected": len(report.rejected),
            "donors_per_s": report.imported / seconds, "store_bytes": size,
            "typings": dict(s.info()["typings"]),
            "peak_rss_gib": _peak_gib()}


def _patients(fs: Any, k: int, seed: int) -> list[str]:
    """GL strings of patients typed at 2-field: the commonest diplotype, then random draws."""
    from everydonor.unrelated.frequencies import LOCI

    rng = np.random.default_rng(seed)
    order = np.argsort(-fs.freqs)
    picks = [(int(order[0]), int(order[1]))]
    p = fs.freqs / fs.freqs.sum()
    while len(picks) < k:
        a, b = rng.choice(fs.size, size=2, p=p)
        picks.append((int(a), int(b)))
    out = []
    for a, b in picks:
        blocks = []
        for i, _locus in enumerate(LOCI):
            names = [fs.names[i][fs.haplotypes[h, i]].rstrip("g") for h in (a, b)]
            blocks.append("+".join(names))
        out.append("^".join(blocks))
    return out


def _naive_scan(store: Any, reducer: Any, patient_gl: str, sample: int, max_mm: int
                ) -> tuple[float, int]:
    """Re-interpret every sampled donor's typing from its text, compare as Python sets."""
    from everydonor.hla.designation import expand, parse_typing
    from everydonor.hla.genotype import phenotype_from_gl
    from everydonor.unrelated.frequencies import LOCI

    gls = [r.gl for r in store.records(0, list(range(sample)))]
    ref, macs = reducer.ref, reducer.macs
    pat = phenotype_from_gl(patient_gl)

    def lgx_set(text: str) -> set[str]:
        return {ref.lgx_of(a) for a in expand(parse_typing(text), ref, macs)}

    p_sets = {loc: [lgx_set(t.text) for t in pat.loci[loc][0].typings] for loc in LOCI}
    t0 = time.perf_counter()
    hits = 0
    for gl in gls:
        total = 0
        by_locus = {}
        for block in gl.split("^"):
            a, b = block.split("+")
            by_locus[a.split("*")[0]] = (a, b)
        for loc in LOCI:
            if loc.value not in by_locus or "UUUU" in by_locus[loc.value][0]:
                continue
            d1, d2 = (lgx_set(x) for x in by_locus[loc.value])
            p1, p2 = p_sets[loc]
            best = max(bool(d1 & p1) + bool(d2 & p2), bool(d1 & p2) + bool(d2 & p1))
            total += 2 - best
        hits += total <= max_mm
    return time.perf_counter() - t0, hits


def _duckdb_scan(store: Any, plan: Any, max_mm: int) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    names = ["A", "C", "B", "DRB1", "DQB1"]
    for name, lut in zip(names, plan.luts, strict=True):
        tbl = pa.table({"g": pa.array(np.arange(lut.size, dtype=np.int32)),
                        "mm": pa.array(lut.astype(np.int32))})
        con.register(f"lut_{name}", tbl)
    files = ", ".join(f"'{f}'" for f in store.partition_files())
    joins = " ".join(f'JOIN lut_{n} ON d."{n}" = lut_{n}.g' for n in names)
    total = " + ".join(f"lut_{n}.mm" for n in names)
    sql = (f"SELECT count(*) FROM read_parquet([{files}]) d {joins} "
           f"WHERE {total} <= {max_mm}")
    con.execute(sql).fetchall()  # warm: file metadata, table registration
    t0 = time.perf_counter()
    (count,) = con.execute(sql).fetchone()  # type: ignore[misc]
    return time.perf_counter() - t0, int(count)


def _naive_predict(fs: Any, reducer: Any, patient: Any, donors: list[Any]) -> tuple[float, list]:
    """The straightforward exact method, donor by donor (see the module docstring)."""
    from everydonor.unrelated.frequencies import LOCI

    hap = fs.haplotypes
    null = fs.null
    index = [dict(fs.by_lgx[i]) for i in range(5)]

    def allowed(lgx: tuple[str, ...], i: int) -> np.ndarray:
        ids = [index[i][x] for x in lgx if x in index[i]]
        return np.isin(hap[:, i], ids)

    def genotypes(loci: dict) -> tuple[np.ndarray, np.ndarray] | None:
        a_mask, b_mask, feas = [], [], np.ones(hap.shape[0], bool)
        for i, loc in enumerate(LOCI):
            if loc not in loci:
                a_mask.append(np.ones(hap.shape[0], bool))
                b_mask.append(np.ones(hap.shape[0], bool))
                continue
            a, b = allowed(loci[loc][0].lgx, i), allowed(loci[loc][1].lgx, i)
            a_mask.append(a)
            b_mask.append(b)
            feas &= a | b
        idx = np.flatnonzero(feas)
        if idx.size == 0:
            return None
        ok = np.ones((idx.size, idx.size), bool)
        for i in range(5):
            a, b = a_mask[i][idx], b_mask[i][idx]
            ok &= (a[:, None] & b[None, :]) | (b[:, None] & a[None, :])
        x, y = np.nonzero(ok)
        h1, h2 = hap[idx[x]], hap[idx[y]]
        w = fs.freqs[idx[x]] * fs.freqs[idx[y]]
        for i in range(5):
            n1, n2 = null[i][h1[:, i]], null[i][h2[:, i]]
            h1[:, i] = np.where(n1 & ~n2, h2[:, i], h1[:, i])
            h2[:, i] = np.where(n2 & ~n1, h1[:, i], h2[:, i])
        g = np.sort(np.stack([h1, h2], axis=2), axis=2).reshape(len(w), -1)
        uniq, inv = np.unique(g, axis=0, return_inverse=True)
        return uniq.reshape(-1, 5, 2), np.bincount(inv.ravel(), weights=w) / w.sum()

    pg = genotypes(dict(patient.loci))
    assert pg is not None
    t0 = time.perf_counter()
    out = []
    memo: dict[tuple, Any] = {}  # donors typed alike are imputed once, as everydonor does
    for d in donors:
        key = tuple((loc, d[loc][0].text, d[loc][1].text) for loc in sorted(d))
        if key not in memo:
            memo[key] = genotypes(d)
        dg = memo[key]
        if dg is None:
            out.append(None)
            continue
        pa_, pb_ = pg[0][:, None, :, 0], pg[0][:, None, :, 1]
        da, db = dg[0][None, :, :, 0], dg[0][None, :, :, 1]
        mm = 2 - np.maximum((pa_ == da).astype(int) + (pb_ == db), (pa_ == db).astype(int)
                            + (pb_ == da))
        w = np.outer(pg[1], dg[1])
        tot = mm.sum(axis=2)
        out.append([float(w[tot == k].sum()) for k in range(3)])
    return time.perf_counter() - t0, out


def stage_search(store_dir: Path, patients: int, seed: int) -> dict[str, Any]:
    from everydonor.adapters.donorstore import DonorStore
    from everydonor.adapters.reference.imgt import open_release, read_tce
    from everydonor.adapters.search.runner import patient_from_text, run_search
    from everydonor.unrelated.search import (
        STORE_LOCI,
        hits_to_predictions,
        plan_search,
        predict_rows,
        scan,
    )

    reducer = _reducer()
    fs = _fs(reducer)
    tce = read_tce(open_release())
    store = DonorStore.open(store_dir)
    t0 = time.perf_counter()
    dictionaries = store.dictionaries()
    columns = store.genotype_columns()
    open_s = time.perf_counter() - t0
    results = []
    for gl in _patients(fs, patients, seed):
        patient = patient_from_text(gl, reducer)
        row: dict[str, Any] = {"patient": gl}
        t = time.perf_counter()
        plan = plan_search(patient, dictionaries, fs, 2)
        row["plan_s"] = time.perf_counter() - t
        t = time.perf_counter()
        scanned = [scan(c[:5], plan.luts, 2) for c in columns]
        row["scan_s"] = time.perf_counter() - t
        row["candidates"] = int(sum(r.size for r, _ in scanned))
        # prediction for (up to) 10,000 candidates, taken across partitions in order
        take, left = [], 10_000
        for part, (r, mm) in enumerate(scanned):
            if left <= 0:
                break
            take.append((part, r[:left], mm[:left]))
            left -= min(left, r.size)
        phenotypes = set()
        for p, r, _ in take:
            phenotypes.update(zip(*(columns[p][k][r].tolist() for k in range(5)), strict=True))
        row["distinct_phenotypes_10k"] = len(phenotypes)
        t = time.perf_counter()
        preds = [predict_rows(plan, columns[p], r, mm) for p, r, mm in take]
        row["predict_10k_s"] = time.perf_counter() - t
        row["predicted"] = int(sum(p.rows.size for p in preds))
        row["scan_plus_predict_10k_s"] = row["scan_s"] + row["predict_10k_s"]
        t = time.perf_counter()
        run = run_search(store, patient, fs, 2, reducer, tce=tce, limit=1000)
        row["full_search_s"] = time.perf_counter() - t
        row["listed"] = run.document["counts"]["listed"]
        row["timings"] = run.timings
        # baselines
        duck_s, duck_n = _duckdb_scan(store, plan, 2)
        row["duckdb_scan_s"], row["duckdb_candidates"] = duck_s, duck_n
        row["duckdb_agrees"] = duck_n == row["candidates"]
        naive_s, _ = _naive_scan(store, reducer, gl, 2_000, 2)
        row["naive_scan_s_scaled"] = naive_s * store.donors / 2_000
        # the naive exact method on the same 10,000 candidates
        cat = store.catalog()
        donors, mine = [], []
        for (p0, r0, _), pred in zip(take, preds, strict=True):
            for rec in store.records(p0, r0.tolist()):
                loci = {}
                for k, locus in enumerate(STORE_LOCI[:5]):
                    g = rec.genotype_ids[k]
                    if g:
                        t1, t2 = cat.pair_list[locus][g]
                        loci[locus] = (cat.expansions[locus][t1], cat.expansions[locus][t2])
                donors.append(loci)
            mine.extend(hits_to_predictions(pred))
        naive_p_s, naive = _naive_predict(fs, reducer, patient, donors)
        row["naive_predict_10k_s"] = naive_p_s
        worst = 0.0
        for a, b in zip(mine, naive, strict=True):
            if (a is None) != (b is None):
                worst = float("inf")
            elif a is not None and b is not None:
                worst = max(worst, *(abs(x - y) for x, y in zip(a.p_mismatches, b, strict=True)))
        row["naive_max_abs_difference"] = worst
        results.append(row)
    return {"open_s": open_s, "donors": store.donors, "patients": results,
            "peak_rss_gib": _peak_gib()}


def _run_stage(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--stage", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--donors", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--patients", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--stage", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        kind, *rest = args.stage
        if kind == "generate":
            res = stage_generate(int(rest[0]), Path(rest[1]), int(rest[2]))
        elif kind == "import":
            res = stage_import(Path(rest[0]), Path(rest[1]))
        else:
            res = stage_search(Path(rest[0]), int(rest[1]), int(rest[2]))
        print(json.dumps(res))
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="everydonor-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": {"cpus": len(__import__("os").sched_getaffinity(0))},
                              "runs": []}
    try:
        for n in args.donors:
            csv, store = work / f"registry-{n}.csv", work / f"store-{n}"
            shutil.rmtree(store, ignore_errors=True)
            gen = _run_stage("generate", str(n), str(csv), str(args.seed))
            print(f"[{n:,}] generated {gen['bytes'] / 1e9:.2f} GB CSV in {gen['seconds']:.0f} s",
                  flush=True)
            imp = _run_stage("import", str(csv), str(store))
            print(f"[{n:,}] import {imp['seconds']:.1f} s ({imp['donors_per_s']:,.0f} donors/s), "
                  f"store {imp['store_bytes'] / 1e9:.2f} GB, rejected {imp['rejected']}, "
                  f"peak {imp['peak_rss_gib']:.2f} GiB", flush=True)
            srch = _run_stage("search", str(store), str(args.patients), str(args.seed))
            print(f"[{n:,}] open {srch['open_s']:.2f} s, peak {srch['peak_rss_gib']:.2f} GiB")
            for p in srch["patients"]:
                print(f"  scan {p['scan_s']:.3f} s ({p['candidates']:,} candidates; DuckDB "
                      f"{p['duckdb_scan_s']:.3f} s = {p['duckdb_scan_s'] / p['scan_s']:.1f}x, "
                      f"agrees {p['duckdb_agrees']}; naive re-interpretation "
                      f"{p['naive_scan_s_scaled']:.0f} s = "
                      f"{p['naive_scan_s_scaled'] / p['scan_s']:,.0f}x)")
                print(f"  predict {p['predicted']:,} candidates ({p['distinct_phenotypes_10k']:,} "
                      f"distinct phenotypes) {p['predict_10k_s']:.2f} s "
                      f"(naive exact {p['naive_predict_10k_s']:.1f} s = "
                      f"{p['naive_predict_10k_s'] / p['predict_10k_s']:.1f}x, max |Δ| "
                      f"{p['naive_max_abs_difference']:.1e}); scan + predict "
                      f"{p['scan_plus_predict_10k_s']:.2f} s; whole search "
                      f"{p['full_search_s']:.1f} s, {p['listed']:,} listed", flush=True)
            report["runs"].append({"donors": n, "generate": gen, "import": imp, "search": srch})
        print(json.dumps(report, indent=1))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
