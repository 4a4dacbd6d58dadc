"""Run an unrelated-donor search over a donor store: here, or on a Dask cluster.

The core plans the search and searches one partition at a time
(:mod:`everydonor.unrelated.search`); this adapter feeds it the store's partitions — in this
process by default, or as one Dask task per partition (:func:`dask_runner`) when a registry
outgrows one machine — then reads the listed donors' records, judges DPB1 TCE, ranks and writes
the answer. The same function searches each partition either way, so the answers are identical.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from everydonor.adapters.donorstore import DonorStore, read_genotype_columns
from everydonor.case import Person
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.genotype import Phenotype, phenotype_from_gl
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.tce import TceTable
from everydonor.unrelated.expansion import expand_typing
from everydonor.unrelated.frequencies import FrequencySet
from everydonor.unrelated.search import (
    STORE_LOCI,
    TYPING_CATEGORY,
    DonorHit,
    PartitionHits,
    PatientQuery,
    SearchPlan,
    TceJudge,
    hit_prediction,
    order_hits,
    plan_search,
    search_document,
    search_partition,
)

#: Searches partitions: (plan, partition files, in-memory columns or None) → hits per partition.
Runner = Callable[[SearchPlan, Sequence[Path], Sequence[Sequence[np.ndarray]] | None],
                  list[PartitionHits]]


def patient_query(pid: str, phenotype: Phenotype, reducer: Reducer, *, sex: str | None = None,
                  age: float | None = None, abo: str | None = None,
                  cmv_igg: str | None = None) -> PatientQuery:
    """A patient's typings expanded for search; errors name the patient, locus and value."""
    loci = {}
    for locus, options in phenotype.loci.items():
        if locus not in STORE_LOCI:
            continue
        if len(options) > 1:
            raise InputError(f"{locus.value} has {len(options)} alternative genotypes (GL '|'); "
                             "donor search needs one genotype per locus", person=pid,
                             field=f"hla.{locus.value}", value=phenotype.gl())
        try:
            a, b = (expand_typing(reducer, t.text, locus) for t in options[0].typings)
        except EverydonorError as exc:
            raise exc.with_context(person=pid, field=f"hla.{locus.value}") from None
        loci[locus] = (a, b)
    return PatientQuery(pid, loci, phenotype.gl(), sex, age, abo, cmv_igg)


def patient_from_person(person: Person, reducer: Reducer) -> PatientQuery:
    """The patient of a case file, with what the donor list compares (sex, ABO, CMV)."""
    if person.hla is None or not person.hla.loci:
        raise InputError("the patient has no HLA typing", person=person.id, field="hla")
    return patient_query(person.id, person.hla, reducer,
                         sex=person.sex.value if person.sex else None, age=person.age,
                         abo=person.abo,
                         cmv_igg=person.cmv_igg.value if person.cmv_igg else None)


def patient_from_text(text: str, reducer: Reducer) -> PatientQuery:
    """``--patient``: a GL string, or a WMDA line ``ID%GL``."""
    pid, gl = ("patient", text)
    if "%" in text:
        pid, gl = text.split("%", 1)
    # a locus written untyped on both sides (WMDA: C*UUUU+C*UUUU) is simply untyped
    gl = "^".join(b for b in gl.strip().split("^")
                  if not all(part.strip().endswith("UUUU") for part in b.split("+")))
    return patient_query(pid.strip() or "patient", phenotype_from_gl(gl, person=pid), reducer)


def local_runner(xp: ModuleType = np) -> Runner:
    def run(plan: SearchPlan, files: Sequence[Path],
            columns: Sequence[Sequence[np.ndarray]] | None) -> list[PartitionHits]:
        out = []
        for k, f in enumerate(files):
            cols = columns[k] if columns is not None else read_genotype_columns(f)
            out.append(search_partition(plan, cols, xp))
        return out

    return run


def _search_file(plan: SearchPlan, path: str) -> PartitionHits:
    """One Dask task: read a partition's genotype columns and search them."""
    return search_partition(plan, read_genotype_columns(Path(path)))


def dask_runner(client: Any) -> Runner:
    """Search each partition as one task on ``client`` (a ``distributed.Client``); the plan is
    scattered once to every worker. The store folder must be readable by the workers."""

    def run(plan: SearchPlan, files: Sequence[Path],
            columns: Sequence[Sequence[np.ndarray]] | None) -> list[PartitionHits]:
        del columns  # workers read their own partitions
        [shared] = client.scatter([plan], broadcast=True)
        futures = client.map(_search_file, [shared] * len(files), [str(f) for f in files],
                             pure=False)
        return list(client.gather(futures))

    return run


@dataclass(frozen=True, slots=True)
class SearchRun:
    document: dict[str, Any]
    hits: list[DonorHit]
    timings: dict[str, float]


def run_search(store: DonorStore, patient: PatientQuery, fs: FrequencySet | None,
               max_mismatches: int, reducer: Reducer, *, tce: TceTable,
               runner: Runner | None = None, provenance: dict[str, Any] | None = None,
               limit: int | None = None, keep_in_memory: bool = True) -> SearchRun:
    """Search the whole store for ``patient``; the document is the contract's JSON answer.

    Every candidate is predicted and ranked (arrays); only the first ``limit`` listed donors
    (all when None) are read back from the store and written out.
    """
    store.check_release(reducer.release)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    dictionaries = store.dictionaries()
    plan = plan_search(patient, dictionaries, fs, max_mismatches)
    timings["plan_s"] = time.perf_counter() - t0
    files = store.partition_files()
    columns = store.genotype_columns() if keep_in_memory and runner is None else None
    t1 = time.perf_counter()
    parts = (runner or local_runner())(plan, files, columns)
    timings["scan_and_predict_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    judge = TceJudge(patient, dictionaries[STORE_LOCI.index(Locus.DPB1)], reducer, tce)
    order_part, order_pos, order_cats = order_hits(plan, parts, judge.rank)
    shown = order_part.size if limit is None else min(limit, order_part.size)
    wanted: dict[int, list[int]] = {}
    for k in range(shown):
        wanted.setdefault(int(order_part[k]), []).append(int(order_pos[k]))
    records = {}
    for part, positions in wanted.items():
        rows = parts[part].rows[positions].tolist()
        for pos, rec in zip(positions, store.records(part, rows), strict=True):
            records[(part, pos)] = rec
    hits: list[DonorHit] = []
    for k in range(shown):
        part, pos = int(order_part[k]), int(order_pos[k])
        ph, rec = parts[part], records[(part, pos)]
        pred = hit_prediction(ph, pos)
        cats = () if pred is not None else tuple(TYPING_CATEGORY[int(c)] for c in order_cats[k])
        hits.append(DonorHit(rec, int(ph.mismatches_min[pos]), pred, cats,
                             bool(ph.unrepresented[pos]), bool(ph.short_circuit[pos]),
                             int(ph.diplotypes[pos]), judge.outcome(rec.genotype_ids[-1])))
    timings["rank_s"] = time.perf_counter() - t2
    counts = {"store_donors": store.donors,
              "candidates": sum(h.candidates for h in parts),
              "excluded_zero_probability": sum(h.excluded_zero for h in parts),
              "unrepresented": sum(int(h.unrepresented.sum()) for h in parts),
              "listed": int(order_part.size)}
    prov = {**(provenance or {}), "store": str(store.path),
            "store_version": store.manifest.get("version"), "timings_s": timings}
    doc = search_document(patient, plan, fs, hits, counts=counts, release=reducer.release,
                          provenance=prov)
    return SearchRun(doc, hits, timings)


def case_entries(hits: Sequence[DonorHit], fs: FrequencySet | None,
                 taken: Collection[str] = ()) -> list[dict[str, Any]]:
    """Listed donors as the case format's ``unrelated[]`` entries (their stored typing, age,
    sex, ABO, CMV and match probabilities), skipping ids already ``taken``."""
    out = []
    for h in hits:
        r = h.record
        if r.id in taken:
            continue
        p = h.prediction
        entry: dict[str, Any] = {"id": r.id, "registry": r.registry, "donor_id": r.id,
                                 "hla_gl": r.gl, "match_probability": {
                                     "p_10_of_10": p.p_10_of_10 if p else None,
                                     "p_9_of_10": p.p_9_of_10 if p else None,
                                     "p_8_of_10": p.p_8_of_10 if p else None,
                                     "frequency_set": fs.name if fs else None}}
        for key, value in (("sex", r.sex), ("age", r.age), ("abo", r.abo),
                           ("cmv_igg", r.cmv_igg)):
            if value is not None:
                entry[key] = value
        out.append(entry)
    return out
