"""Match prediction: the exact mismatch distribution of patient–donor pairs.

For every patient genotype ``g`` (probability π_g) and every donor genotype row ``m`` (weight
w_m), the mismatches at a locus are 2 minus the better pairing of the two allele pairs
(homozygosity counts once; null alleles were replaced by imputation). Summing π_g·w_m over the
pairs gives, per donor, P(0, 1, 2 mismatches in total) over A, C, B, DRB1, DQB1 — P(10/10),
P(9/10) (exactly one) and P(8/10) (exactly two) — and per locus P(0, 1, 2 mismatches there).

Per-locus categories follow the WMDA consensus (Bochtler et al. HLA 2016): *definite* when no
pair mismatches there, *mismatch* when no pair matches, *potential* otherwise. They are decided
by exact zeros of the summed weights, not by rounding, so a 1e-12 chance of a match is still a
potential match. Integer percentages for comparison with published tables round half up
(:func:`percent`).

The kernel (:func:`mismatch_sums`) is written against the array namespace passed in (``xp``):
NumPy here, CuPy on a GPU (``everydonor.adapters.search.gpu``), with the same operations in the same
order. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from everydonor.unrelated.frequencies import LOCI, N_LOCI, FloatArray, IntArray
from everydonor.unrelated.imputation import GenotypeChunk

#: Columns of the sums: P(total = 0, 1, 2), then per locus P(0), P(1), P(2) mismatches there.
N_SUMS = 3 + 3 * N_LOCI


def percent(p: float) -> int:
    """Integer percent, rounding half up (a tie within 1e-9, e.g. 7.4999999999 = 7.5, is up)."""
    return math.floor(p * 100.0 + 0.5 + 1e-9)


def mismatch_sums(patient: IntArray, patient_probs: FloatArray, chunk: GenotypeChunk,
                  n_subjects: int, xp: ModuleType = np, *, max_cells: int = 4_000_000) -> Any:
    """Weighted sums ``(n_subjects, N_SUMS)`` of one chunk of donor genotype rows against the
    patient's genotypes (``patient[g, locus, 0|1]`` labels, ``patient_probs[g]``)."""
    out = xp.zeros((n_subjects, N_SUMS), dtype=xp.float64)
    rows = chunk.labels.shape[0]
    if rows == 0:
        return out
    pg = xp.asarray(patient)
    pi = xp.asarray(patient_probs)
    pa, pb = pg[None, :, :, 0], pg[None, :, :, 1]
    step = max(1, max_cells // max(1, patient.shape[0]))
    for s in range(0, rows, step):
        lab = xp.asarray(chunk.labels[s:s + step])
        w = xp.asarray(chunk.weights[s:s + step])
        subj = xp.asarray(chunk.subject[s:s + step])
        da, db = lab[:, None, :, 0], lab[:, None, :, 1]
        straight = (da == pa).astype(xp.int8) + (db == pb).astype(xp.int8)
        crossed = (da == pb).astype(xp.int8) + (db == pa).astype(xp.int8)
        mm = 2 - xp.maximum(straight, crossed)  # (rows, genotypes, loci)
        total = mm.sum(axis=2)
        cols = [(total == k) for k in range(3)]
        cols += [(mm[:, :, i] == k) for i in range(N_LOCI) for k in range(3)]
        for c, indicator in enumerate(cols):
            q = indicator.astype(xp.float64) @ pi
            out[:, c] += xp.bincount(subj, weights=w * q, minlength=n_subjects)
    return out


@dataclass(frozen=True, slots=True)
class LocusPrediction:
    p_match: float
    p_one: float
    p_two: float
    category: str  # definite | potential | mismatch

    def to_dict(self) -> dict[str, Any]:
        return {"p_match": self.p_match, "category": self.category,
                "p_1_mismatch": self.p_one, "p_2_mismatches": self.p_two}


@dataclass(frozen=True, slots=True)
class MatchPrediction:
    """One pair's answer: P(10/10), P(9/10), P(8/10) and the per-locus predictions."""

    p_mismatches: tuple[float, float, float]
    loci: tuple[LocusPrediction, ...]

    @property
    def p_10_of_10(self) -> float:
        return self.p_mismatches[0]

    @property
    def p_9_of_10(self) -> float:
        return self.p_mismatches[1]

    @property
    def p_8_of_10(self) -> float:
        return self.p_mismatches[2]

    def p_at_most(self, n: int) -> float:
        return math.fsum(self.p_mismatches[: n + 1])

    @property
    def definite_mismatches(self) -> int:
        return sum(loc.category == "mismatch" for loc in self.loci)

    def to_dict(self) -> dict[str, Any]:
        return {"p_10_of_10": self.p_10_of_10, "p_9_of_10": self.p_9_of_10,
                "p_8_of_10": self.p_8_of_10,
                "loci": {loc.value: p.to_dict() for loc, p in zip(LOCI, self.loci, strict=True)}}


def _category(match_mass: float, mismatch_mass: float) -> str:
    if mismatch_mass == 0.0:
        return "definite"
    if match_mass == 0.0:
        return "mismatch"
    return "potential"


def predictions_from_sums(sums: FloatArray, totals: FloatArray) -> list[MatchPrediction | None]:
    """Normalise the sums by each donor's total weight; None where the donor is unrepresented."""
    out: list[MatchPrediction | None] = []
    for row, z in zip(sums, totals, strict=True):
        if z <= 0.0:
            out.append(None)
            continue
        loci = []
        for i in range(N_LOCI):
            m0, m1, m2 = row[3 + 3 * i: 6 + 3 * i]
            loci.append(LocusPrediction(float(m0 / z), float(m1 / z), float(m2 / z),
                                        _category(float(m0), float(m1 + m2))))
        out.append(MatchPrediction((float(row[0] / z), float(row[1] / z), float(row[2] / z)),
                                   tuple(loci)))
    return out


def patient_labels(genotypes: IntArray, universe: list[IntArray]) -> IntArray:
    """The patient's genotypes as indices into its own per-locus universe (donor labels)."""
    out = np.empty_like(genotypes)
    for i in range(N_LOCI):
        out[:, i, :] = np.searchsorted(universe[i], genotypes[:, i, :])
    return out


def empty_sums(n: int) -> FloatArray:
    return np.zeros((n, N_SUMS), dtype=np.float64)


def add_sums(acc: FloatArray, part: Any) -> None:
    """Add a kernel result (NumPy or CuPy) into the NumPy accumulator."""
    acc += part.get() if hasattr(part, "get") else part


