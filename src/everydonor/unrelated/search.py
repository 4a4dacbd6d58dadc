"""Unrelated donor search: the scan, match prediction for every candidate, and the ranked list.

A search is *planned* once (:func:`plan_search`: the patient's per-locus tables, the patient's
genotype distribution, the identity space of the frequency set) and then run partition by
partition (:func:`search_partition`), the same code whether the partitions are read in this
process or by Dask workers (``everydonor.adapters.dask_search``). Each partition:

1. scans its donors' genotype ids against the patient's tables (:mod:`.scan`);
2. groups the candidates by phenotype (donors typed alike are imputed once);
3. imputes every candidate phenotype and computes the exact mismatch distribution against the
   patient (:mod:`.imputation`, :mod:`.prediction`);
4. keeps every donor whose probability of at most N mismatches is above zero, and every
   unrepresented donor (no diplotype of the set explains its typing) with null probabilities.

:func:`order_hits` orders the list and :func:`search_document` writes the answer of
``everydonor donors search`` (``../shared/spec/case-format.md``). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.hla.designation import parse_typing
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.tce import TCE_CONFIDENCE, TceAssignment, TceOutcome, TceTable, tce_outcome
from everydonor.matching.compatibility import abo_compatibility, cmv_pair, sex_pair
from everydonor.unrelated.expansion import TypingExpansion
from everydonor.unrelated.frequencies import (
    LOCI,
    N_LOCI,
    BoolArray,
    FloatArray,
    FrequencySet,
    IdentitySpace,
    IntArray,
    identity_space,
)
from everydonor.unrelated.imputation import (
    GenotypeDistribution,
    Imputer,
    Int64Array,
    Labels,
    TypingRows,
    distribution_of,
    factorize,
)
from everydonor.unrelated.prediction import (
    LocusPrediction,
    MatchPrediction,
    add_sums,
    empty_sums,
    mismatch_sums,
    patient_labels,
)
from everydonor.unrelated.scan import LocusDictionary, PatientLocus, UInt8Array, locus_lut, scan

#: Loci the store keeps as genotype ids: the five of prediction, then DPB1 (for TCE).
STORE_LOCI: tuple[Locus, ...] = (*LOCI, Locus.DPB1)
SEARCH_FORMAT = "everydonor.donor-search/1"
NOTICE = ("Decision support for the treating transplant team: match probabilities depend on the "
          "haplotype-frequency set named here; confirm every donor by verification typing "
          "before clinical use.")
METHOD = {
    "loci": [loc.value for loc in LOCI],
    "matching_level": "the frequency set's allele names (g groups); lgx for names it lacks",
    "null_alleles": "a null allele takes the identity of the other allele of its locus",
    "categories": "definite / potential / mismatch by exact zeros of the summed weights "
                  "(WMDA consensus, Bochtler W et al. HLA 2016;87:439-448)",
    "truncation": "none: every explaining diplotype of both subjects is counted",
    "p_9_of_10": "probability of exactly one mismatch; p_8_of_10 exactly two",
    "ranking": "definite-mismatch loci (fewer first), P(10/10), P(9/10), P(8/10) (higher "
               "first), DPB1 TCE (match, permissive, unknown, non-permissive), potential loci "
               "(fewer first), donor id — everydonor's default order for a search list, not a "
               "clinical rule; the selection rule sets decide among donors",
}
CATEGORY_CODE = {"definite": 0, "potential": 1, "mismatch": 2}
CATEGORY_NAME = {v: k for k, v in CATEGORY_CODE.items()}
TCE_ORDER = {TceOutcome.MATCH: 0, TceOutcome.PERMISSIVE: 1, TceOutcome.UNKNOWN: 2,
             TceOutcome.NON_PERMISSIVE_HVG: 3, TceOutcome.NON_PERMISSIVE_GVH: 3}


@dataclass(frozen=True, slots=True)
class PatientQuery:
    """The patient of a search: typings per locus (pre-expanded) and what the lists compare."""

    id: str
    loci: Mapping[Locus, tuple[TypingExpansion, TypingExpansion]]
    gl: str
    sex: str | None = None
    age: float | None = None
    abo: str | None = None
    cmv_igg: str | None = None

    def locus(self, locus: Locus) -> PatientLocus:
        pair = self.loci.get(locus)
        if pair is None:
            return PatientLocus(None, None)
        return PatientLocus(frozenset(pair[0].lgx), frozenset(pair[1].lgx))


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """Everything a partition needs to be searched (plain arrays: it travels to Dask workers)."""

    max_mismatches: int
    dictionaries: tuple[LocusDictionary, ...]
    luts: tuple[UInt8Array, ...]
    space: IdentitySpace | None
    identity_of_lgx: tuple[IntArray, ...]
    patient: GenotypeDistribution | None
    patient_labels: IntArray | None
    donor_labels: Labels | None
    max_cells: int = 16_000_000


def _identity_rows(space: IdentitySpace, d: LocusDictionary, identity_of: IntArray,
                   typing_ids: IntArray) -> tuple[npt.NDArray[np.bool_], IntArray]:
    """Allowed-allele rows (row 0 untyped) and single identities for ``typing_ids`` (≥ 1)."""
    i = LOCI.index(d.locus)
    v = space.fs.vocabulary_size(i)
    starts, ends = d.indptr[typing_ids], d.indptr[typing_ids + 1]
    lengths = ends - starts
    allow = np.zeros((typing_ids.size + 1, v), dtype=bool)
    allow[0, :] = True
    single = np.full(typing_ids.size + 1, -1, dtype=np.int32)
    if typing_ids.size == 0:
        return allow, single
    row = np.repeat(np.arange(1, typing_ids.size + 1), lengths)
    pos = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
    ident = identity_of[d.ids[pos]]
    known = ident < v
    allow[row[known], ident[known]] = True
    offsets = np.cumsum(lengths) - lengths
    lo = np.minimum.reduceat(ident, offsets)
    hi = np.maximum.reduceat(ident, offsets)
    single[1:] = np.where(lo == hi, lo, -1)
    return allow, single


def _patient_rows(space: IdentitySpace, patient: PatientQuery) -> tuple[TypingRows, IntArray]:
    sets: list[list[frozenset[int] | None]] = []
    subject = np.zeros((N_LOCI, 2), dtype=np.int32)
    for i, locus in enumerate(LOCI):
        pair = patient.loci.get(locus)
        if pair is None:
            sets.append([])
            continue
        sets.append([frozenset(space.identity(i, x) for x in t.lgx) for t in pair])
        subject[i] = (1, 2)
    return TypingRows.build(space, sets), subject


def plan_search(patient: PatientQuery, dictionaries: Sequence[LocusDictionary],
                fs: FrequencySet | None, max_mismatches: int, *,
                max_cells: int = 16_000_000) -> SearchPlan:
    """Prepare a search: the patient's scan tables and, with a frequency set, its genotypes."""
    if not 0 <= max_mismatches <= 2:
        raise InputError("--mismatches must be 0, 1 or 2", field="--mismatches",
                         value=str(max_mismatches))
    typed = [loc for loc in LOCI if loc in patient.loci]
    if not typed:
        raise InputError("the patient has no typing at A, C, B, DRB1 or DQB1",
                         person=patient.id, field="hla")
    dicts = tuple(dictionaries)
    luts = tuple(locus_lut(d, patient.locus(d.locus)) for d in dicts[:N_LOCI])
    if fs is None:
        return SearchPlan(max_mismatches, dicts, luts, None, (), None, None, None, max_cells)
    names = [set(d.lgx_names) for d in dicts[:N_LOCI]]
    for i, locus in enumerate(LOCI):
        for t in patient.loci.get(locus, ()):
            names[i].update(t.lgx)
    space = identity_space(fs, names)
    identity_of = tuple(np.asarray([space.identity(i, x) for x in d.lgx_names], dtype=np.int32)
                        for i, d in enumerate(dicts[:N_LOCI]))
    rows, subject = _patient_rows(space, patient)
    dist = distribution_of(Imputer(space, rows, max_cells=max_cells), subject)
    if dist.unrepresented:
        return SearchPlan(max_mismatches, dicts, luts, space, identity_of, dist, None, None,
                          max_cells)
    universe = dist.universe()
    return SearchPlan(max_mismatches, dicts, luts, space, identity_of, dist,
                      patient_labels(dist.genotypes, universe), Labels.against(space, universe),
                      max_cells)


@dataclass(frozen=True, slots=True)
class PartitionHits:
    """The listed donors of one partition (row numbers within it) and their predictions.

    ``probs[k]`` = P(k mismatches), k = 0, 1, 2; ``loci[k, locus]`` = P(k mismatches there);
    ``categories[k, locus]`` codes definite 0, potential 1, mismatch 2 (-1 when not computed).
    Rows without a prediction (unrepresented donor or patient, or no frequency set) hold NaN.
    """

    rows: Int64Array
    mismatches_min: UInt8Array
    probs: FloatArray
    loci: FloatArray
    categories: npt.NDArray[np.int8]
    unrepresented: BoolArray
    short_circuit: BoolArray
    diplotypes: Int64Array
    genotype_ids: IntArray  # (n, len(STORE_LOCI)) the hit rows' genotype ids
    candidates: int
    excluded_zero: int

    @staticmethod
    def empty(candidates: int = 0, excluded: int = 0) -> PartitionHits:
        return PartitionHits(np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros((0, 3)),
                             np.zeros((0, 3, N_LOCI)), np.zeros((0, N_LOCI), np.int8),
                             np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, np.int64),
                             np.zeros((0, len(STORE_LOCI)), np.int32), candidates, excluded)

    def select(self, keep: BoolArray, candidates: int) -> PartitionHits:
        return PartitionHits(self.rows[keep], self.mismatches_min[keep], self.probs[keep],
                             self.loci[keep], self.categories[keep], self.unrepresented[keep],
                             self.short_circuit[keep], self.diplotypes[keep],
                             self.genotype_ids[keep], candidates, int(candidates - keep.sum()))


def search_partition(plan: SearchPlan, genotype_ids: Sequence[IntArray],
                     xp: ModuleType = np) -> PartitionHits:
    """Scan one partition (genotype ids per store locus) and predict every candidate; keep the
    donors with P(at most N mismatches) > 0 and the unrepresented ones."""
    rows, min_mm = scan(genotype_ids[:N_LOCI], plan.luts, plan.max_mismatches)
    hits = predict_rows(plan, genotype_ids, rows, min_mm, xp)
    if plan.space is None or plan.patient_labels is None:
        return hits
    at_most = hits.probs[:, : plan.max_mismatches + 1].sum(axis=1)
    return hits.select(hits.unrepresented | (at_most > 0), rows.size)


def predict_rows(plan: SearchPlan, genotype_ids: Sequence[IntArray], rows: Int64Array,
                 mismatches_min: UInt8Array | None = None, xp: ModuleType = np) -> PartitionHits:
    """Match prediction for the given rows of a partition, whatever the scan says (every row
    is returned; the validation against published tables uses this)."""
    n = rows.size
    if mismatches_min is None:
        total = np.zeros(n, dtype=np.uint8)
        for i in range(N_LOCI):
            total += plan.luts[i][np.asarray(genotype_ids[i])[rows]]
        mismatches_min = total
    if n == 0:
        return PartitionHits.empty()
    gids = np.zeros((n, len(STORE_LOCI)), dtype=np.int32)
    for i, col in enumerate(genotype_ids[: len(STORE_LOCI)]):
        gids[:, i] = np.asarray(col)[rows]
    if plan.space is None or plan.patient is None or plan.donor_labels is None:
        nan = np.full((n, 3), np.nan)
        return PartitionHits(rows, mismatches_min, nan, np.full((n, 3, N_LOCI), np.nan),
                             np.full((n, N_LOCI), -1, np.int8), np.zeros(n, bool),
                             np.zeros(n, bool), np.zeros(n, np.int64), gids, n, 0)
    cand = [np.asarray(g)[rows] for g in genotype_ids[:N_LOCI]]
    group, first = factorize(cand)
    n_ph = first.size
    subjects = np.zeros((n_ph, N_LOCI, 2), dtype=np.int32)
    allow, single = [], []
    for i, d in enumerate(plan.dictionaries[:N_LOCI]):
        pairs = d.genotypes[cand[i][first]]  # (phenotypes, 2) typing ids
        typed_ids, inverse = np.unique(pairs, return_inverse=True)
        inverse = inverse.reshape(pairs.shape)
        nonzero = typed_ids[typed_ids > 0]
        shift = 0 if typed_ids.size and typed_ids[0] == 0 else 1
        subjects[:, i, :] = inverse + shift  # typing 0 → row 0 (untyped)
        a, s = _identity_rows(plan.space, d, plan.identity_of_lgx[i], nonzero.astype(np.int64))
        allow.append(a)
        single.append(s)
    imputer = Imputer(plan.space, TypingRows(tuple(allow), tuple(single)),
                      max_cells=plan.max_cells)
    stream, summary = imputer.run(subjects, plan.donor_labels)
    assert plan.patient_labels is not None
    sums = empty_sums(n_ph)
    for chunk in stream:
        add_sums(sums, mismatch_sums(plan.patient_labels, plan.patient.probs, chunk, n_ph, xp))
    z = summary.totals
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = sums / z[:, None]
    unrep = summary.unrepresented
    norm[unrep] = np.nan
    match_mass = sums[:, 3::3]
    mismatch_mass = sums[:, 4::3] + sums[:, 5::3]
    cats = np.where(mismatch_mass == 0, 0, np.where(match_mass == 0, 2, 1)).astype(np.int8)
    cats[unrep] = -1
    loci = norm[:, 3:].reshape(n_ph, N_LOCI, 3).transpose(0, 2, 1)
    return PartitionHits(rows, mismatches_min, norm[group, :3], loci[group], cats[group],
                         unrep[group], summary.short_circuit[group], summary.diplotypes[group],
                         gids, n, 0)


# -- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DonorRecord:
    """What the store says of a listed donor (read by the adapter for listed rows only)."""

    id: str
    registry: str | None
    sex: str | None
    age: float | None
    abo: str | None
    cmv_igg: str | None
    gl: str
    genotype_ids: tuple[int, ...]  # per STORE_LOCI


@dataclass(frozen=True, slots=True)
class DonorHit:
    record: DonorRecord
    mismatches_min: int
    prediction: MatchPrediction | None
    typing_categories: tuple[str, ...]
    unrepresented: bool
    short_circuit: bool
    diplotypes: int
    dpb1_tce: TceOutcome = TceOutcome.UNKNOWN
    extra: dict[str, Any] = field(default_factory=dict)


def hits_to_predictions(hits: PartitionHits) -> list[MatchPrediction | None]:
    """The per-row :class:`MatchPrediction` of a partition's hits (None without one)."""
    out: list[MatchPrediction | None] = []
    for k in range(hits.rows.size):
        out.append(hit_prediction(hits, k))
    return out


def hit_prediction(hits: PartitionHits, k: int) -> MatchPrediction | None:
    if np.isnan(hits.probs[k, 0]):
        return None
    loci = tuple(LocusPrediction(float(hits.loci[k, 0, i]), float(hits.loci[k, 1, i]),
                                 float(hits.loci[k, 2, i]),
                                 CATEGORY_NAME[int(hits.categories[k, i])])
                 for i in range(N_LOCI))
    return MatchPrediction((float(hits.probs[k, 0]), float(hits.probs[k, 1]),
                            float(hits.probs[k, 2])), loci)


def typing_category_codes(plan: SearchPlan, gids: IntArray) -> npt.NDArray[np.int8]:
    """Per-locus categories from the typings alone, for rows without a prediction: mismatch
    (2) when the typings cannot match there, *typing match* (3) when both sides are single
    lgx names that match, potential (1) otherwise."""
    out = np.ones((gids.shape[0], N_LOCI), dtype=np.int8)
    for i, d in enumerate(plan.dictionaries[:N_LOCI]):
        g = gids[:, i]
        t = d.genotypes[g]
        unambiguous = (g > 0) & (d.single[t[:, 0]] >= 0) & (d.single[t[:, 1]] >= 0)
        lut = plan.luts[i][g]
        out[:, i] = np.where(lut > 0, 2, np.where(unambiguous, 3, 1))
    return out


TYPING_CATEGORY = {1: "potential", 2: "mismatch", 3: "typing_match"}


def order_hits(plan: SearchPlan, parts: Sequence[PartitionHits],
               tce_rank: Callable[[IntArray], IntArray]
               ) -> tuple[Int64Array, Int64Array, npt.NDArray[np.int8]]:
    """The order of every hit, as (partition, position in its hits), by :data:`METHOD`'s
    ranking: definite-mismatch loci, P(10/10), P(9/10), P(8/10), DPB1 TCE, potential loci,
    then store order. Rows without a probability come after those with one. Also returns the
    per-locus category codes the order used (typing-level ones for rows without a prediction:
    :func:`typing_category_codes`), in the same order."""
    if not parts or sum(p.rows.size for p in parts) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, N_LOCI), np.int8)
    part = np.concatenate([np.full(p.rows.size, k, np.int64) for k, p in enumerate(parts)])
    pos = np.concatenate([np.arange(p.rows.size, dtype=np.int64) for p in parts])
    probs = np.concatenate([p.probs for p in parts])
    cats = np.concatenate([p.categories for p in parts]).astype(np.int8)
    gids = np.concatenate([p.genotype_ids for p in parts])
    rows = np.concatenate([p.rows for p in parts])
    missing = np.isnan(probs[:, 0])
    if missing.any():
        cats[missing] = typing_category_codes(plan, gids[missing])
    definite_mm = (cats == 2).sum(axis=1)
    potential = (cats == 1).sum(axis=1)
    keys = [-np.where(missing, -1.0, probs[:, k]) for k in range(3)]
    tce = tce_rank(gids[:, STORE_LOCI.index(Locus.DPB1)])
    order = np.lexsort((rows, part, potential, tce, keys[2], keys[1], keys[0], definite_mm))
    return part[order], pos[order], cats[order]


class TceJudge:
    """DPB1 TCE outcome of listed donors against the patient (cached per DPB1 genotype)."""

    def __init__(self, patient: PatientQuery, dpb1: LocusDictionary, reducer: Reducer,
                 tce: TceTable) -> None:
        self.reducer, self.tce, self.dpb1 = reducer, tce, dpb1
        pair = patient.loci.get(Locus.DPB1)
        self.patient = pair
        self.patient_groups = [self._group(t.text) for t in pair] if pair else None
        self._memo: dict[int, TceOutcome] = {}
        self._groups: dict[int, TceAssignment | None] = {}

    def _group(self, text: str) -> TceAssignment | None:
        return self.tce.group_of(self.reducer.alleles_of(parse_typing(text)))

    def outcome(self, genotype: int) -> TceOutcome:
        hit = self._memo.get(genotype)
        if hit is not None:
            return hit
        t1, t2 = (int(x) for x in self.dpb1.genotypes[genotype])
        if self.patient is None or self.patient_groups is None or genotype == 0:
            result = TceOutcome.UNKNOWN
        else:
            donor = []
            for t in (t1, t2):
                if t not in self._groups:
                    self._groups[t] = self._group(self.dpb1.texts[t])
                donor.append(self._groups[t])
            d_names = sorted(self.dpb1.names_of(t) for t in (t1, t2))
            p_names = sorted(tuple(t.lgx) for t in self.patient)
            matched = all(len(x) == 1 for x in (*d_names, *p_names)) and d_names == p_names
            result = tce_outcome(self.patient_groups, donor, dpb1_matched=matched)
        self._memo[genotype] = result
        return result

    def rank(self, genotypes: IntArray) -> IntArray:
        """:data:`TCE_ORDER` of every DPB1 genotype id given (vectorised over distinct ids)."""
        uniq, inverse = np.unique(genotypes, return_inverse=True)
        ranks = np.asarray([TCE_ORDER[self.outcome(int(g))] for g in uniq], dtype=np.int32)
        return ranks[inverse.reshape(-1)]


def hit_entry(rank: int, hit: DonorHit, patient: PatientQuery, max_mismatches: int
              ) -> dict[str, Any]:
    r, p = hit.record, hit.prediction
    entry: dict[str, Any] = {"rank": rank, "id": r.id, "registry": r.registry,
                             "mismatches_max": max_mismatches,
                             "mismatches_min": hit.mismatches_min}
    if p is not None:
        entry.update({"p_10_of_10": p.p_10_of_10, "p_9_of_10": p.p_9_of_10,
                      "p_8_of_10": p.p_8_of_10, "p_at_most": p.p_at_most(max_mismatches)})
        entry["loci"] = {loc.value: lp.to_dict() for loc, lp in zip(LOCI, p.loci, strict=True)}
    else:
        entry.update({"p_10_of_10": None, "p_9_of_10": None, "p_8_of_10": None,
                      "p_at_most": None})
        entry["loci"] = {loc.value: {"p_match": None, "category": c, "basis": "typing"}
                         for loc, c in zip(LOCI, hit.typing_categories, strict=True)}
    entry["unrepresented"] = hit.unrepresented
    entry["imputation"] = {"short_circuit": hit.short_circuit, "diplotypes": hit.diplotypes}
    entry["dpb1_tce"] = hit.dpb1_tce.value
    abo = abo_compatibility(patient.abo, r.abo)
    entry.update({"sex": r.sex, "age": r.age, "abo": r.abo, "cmv_igg": r.cmv_igg,
                  "abo_compatibility": abo.value if abo else None,
                  "cmv": cmv_pair(patient.cmv_igg, r.cmv_igg),
                  "sex_pair": sex_pair(patient.sex, r.sex), "typing": r.gl})
    entry.update(hit.extra)
    return entry


def search_document(patient: PatientQuery, plan: SearchPlan, fs: FrequencySet | None,
                    shown: list[DonorHit], *, counts: Mapping[str, int], release: str,
                    provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The ``everydonor donors search`` answer (contract in case-format.md, additions kept):
    ``shown`` are the first listed donors in rank order; ``counts`` says how many there are."""
    dist = plan.patient
    doc: dict[str, Any] = {
        "format": SEARCH_FORMAT,
        "patient": patient.id,
        "frequency_set": fs.name if fs is not None else None,
        "release": release,
        "mismatches_allowed": plan.max_mismatches,
        "patient_typing": patient.gl,
        "patient_imputation": None if dist is None else {
            "genotypes": dist.size, "diplotypes": dist.diplotypes,
            "short_circuit": dist.short_circuit, "unrepresented": dist.unrepresented},
        "counts": {**counts, "shown": len(shown)},
        "donors": [hit_entry(k, h, patient, plan.max_mismatches)
                   for k, h in enumerate(shown, start=1)],
        "method": METHOD,
        "frequency_set_details": fs.describe() if fs is not None else None,
        "confidence": {"dpb1_tce": TCE_CONFIDENCE},
        "warnings": _warnings(plan, fs),
        "provenance": dict(provenance),
        "notice": NOTICE,
    }
    return doc


def _warnings(plan: SearchPlan, fs: FrequencySet | None) -> list[str]:
    out = []
    if fs is None:
        out.append("no haplotype-frequency set: donors are listed by the mismatch scan alone, "
                   "without probabilities (install one: everydonor donors frequencies add)")
    else:
        out.extend(fs.warnings)
        if plan.patient is not None and plan.patient.unrepresented:
            out.append("the patient's typing is not explained by any diplotype of the frequency "
                       "set: no probability can be given; donors are listed by the scan alone")
    return out


