"""The mismatch scan: which donors of a whole registry *can* match within N mismatches.

Each donor holds, per locus, one genotype id; each genotype is a pair of typing ids; each typing
is the set of lgx names it may be (pre-expanded at import, :mod:`everydonor.unrelated.expansion`).
For a patient, a per-locus table ``lut[genotype] = the fewest mismatches the two genotypes can
have`` is computed once over the store's *distinct* genotypes; the scan is then five table
look-ups and a sum per donor — no name is read again. An untyped locus (either side) counts 0:
it is left to match prediction, never counted as a match.

Null alleles: a typing that may be null lets its partner stand in for it (the comparison rule
of :mod:`everydonor.unrelated.imputation`); the scan relaxes each position to "either typing"
in that case, so its bound stays a lower bound — a donor is never dropped that prediction could
find within N.

Pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from everydonor.hla.locus import Locus
from everydonor.unrelated.frequencies import BoolArray, IntArray
from everydonor.unrelated.imputation import Int64Array

UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class LocusDictionary:
    """A store's typings and genotypes of one locus, as arrays.

    Typing ``t`` may be the lgx names ``lgx_names[ids[indptr[t]:indptr[t + 1]]]``; typing 0 is
    *untyped* (no names). Genotype ``g`` is the typing pair ``genotypes[g]``; genotype 0 is
    untyped ``(0, 0)``.
    """

    locus: Locus
    lgx_names: tuple[str, ...]
    indptr: Int64Array
    ids: IntArray
    texts: tuple[str, ...]
    genotypes: IntArray
    has_null: BoolArray = field(init=False)
    single: IntArray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.indptr) - 1
        lengths = np.diff(self.indptr)
        is_null = np.asarray([x.endswith("N") for x in self.lgx_names], dtype=bool)
        null_counts = _segment_sum(is_null[self.ids].astype(np.int64), self.indptr)
        single = np.full(n, -1, dtype=np.int32)
        one = np.flatnonzero(lengths == 1)
        single[one] = self.ids[self.indptr[one]]
        object.__setattr__(self, "has_null", null_counts > 0)
        object.__setattr__(self, "single", single)

    @property
    def n_typings(self) -> int:
        return len(self.indptr) - 1

    def names_of(self, typing: int) -> tuple[str, ...]:
        return tuple(self.lgx_names[i] for i in self.ids[self.indptr[typing]:self.indptr[typing + 1]])


def _segment_sum(values: npt.NDArray[np.int64], indptr: Int64Array) -> Int64Array:
    cs = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(values)])
    return cs[indptr[1:]] - cs[indptr[:-1]]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class PatientLocus:
    """The patient's two typings of one locus as lgx names (``None`` when untyped)."""

    first: frozenset[str] | None
    second: frozenset[str] | None

    @property
    def typed(self) -> bool:
        return self.first is not None and self.second is not None


def locus_lut(d: LocusDictionary, patient: PatientLocus) -> UInt8Array:
    """``lut[genotype]``: the fewest mismatches the store genotype can have with the patient."""
    n_gen = d.genotypes.shape[0]
    if not patient.typed:
        return np.zeros(n_gen, dtype=np.uint8)
    assert patient.first is not None and patient.second is not None
    p1, p2 = set(patient.first), set(patient.second)
    # a possibly-null patient typing may stand for its partner
    if any(x.endswith("N") for x in p1):
        p1 |= p2
    if any(x.endswith("N") for x in patient.second):
        p2 |= set(patient.first)
    index = {x: i for i, x in enumerate(d.lgx_names)}

    def hits(names: set[str]) -> BoolArray:
        ind = np.zeros(len(d.lgx_names), dtype=np.int64)
        ind[[index[x] for x in names if x in index]] = 1
        return _segment_sum(ind[d.ids], d.indptr) > 0

    h1, h2 = hits(p1), hits(p2)
    t1, t2 = d.genotypes[:, 0], d.genotypes[:, 1]
    n1, n2 = d.has_null[t1], d.has_null[t2]
    m11 = h1[t1] | (n1 & h1[t2])
    m22 = h2[t2] | (n2 & h2[t1])
    m12 = h2[t1] | (n1 & h2[t2])
    m21 = h1[t2] | (n2 & h1[t1])
    best = np.maximum(m11.astype(np.int8) + m22, m12.astype(np.int8) + m21)
    lut = (2 - best).astype(np.uint8)
    lut[(t1 == 0) | (t2 == 0)] = 0  # an untyped donor locus is left to prediction
    return lut


def scan(genotype_ids: Sequence[IntArray], luts: Sequence[UInt8Array], max_mismatches: int
         ) -> tuple[Int64Array, UInt8Array]:
    """Rows whose fewest possible mismatches (summed over the loci) is ≤ ``max_mismatches``,
    and that number for each of them."""
    total = np.take(luts[0], genotype_ids[0])
    for gids, lut in zip(genotype_ids[1:], luts[1:], strict=True):
        total += np.take(lut, gids)
    rows = np.flatnonzero(total <= max_mismatches)
    return rows.astype(np.int64), total[rows]
