"""Imputation: every diplotype of a frequency set that explains a typing, weighted exactly.

Method (the WMDA reference approach, Bochtler W et al. HLA 2016;87:439-448; as implemented by
Atlas and GRIMM): a subject's two typings at each of A, C, B, DRB1, DQB1 are explained by an
ordered pair of haplotypes (h1, h2) of the set when, at every locus, h1 carries an allele the
first typing allows and h2 one the second allows, or the other way round (phase is unknown);
an untyped locus allows every allele. The pair weighs f(h1)·f(h2), so that an unordered
heterozygous diplotype counts twice and a homozygous one once — its Hardy-Weinberg
probability. **Nothing is truncated**: every explaining pair is counted (Atlas keeps the top
2,000 genotypes; GRIMM can cut at a probability threshold). A subject no pair explains is
*unrepresented* — reported, never dropped.

How it stays fast without dropping anything:

1. *Feasible haplotypes*: a haplotype can take part only if each of its alleles is allowed by
   one of the two typings of its locus; at each locus two bits say which typing allows it
   (``A`` for the first, ``B`` for the second).
2. *Classes*: haplotypes with the same bits and the same *labels* (what the comparison needs to
   know of each allele: for a donor, which of the patient's possible alleles it is, or "other",
   or "null") are interchangeable, so their frequencies are summed into one class.
3. *Class pairs*: ``(i, j)`` explains the typing when ``(A_i & B_j) | (B_i & A_j)`` has every
   locus bit set; its weight is ``F_i · F_j``, which is exactly the sum of ``f(h1)·f(h2)`` over
   the haplotype pairs it stands for.

Null alleles are not expressed: in a genotype a null allele takes the identity of the other
allele of its locus (as Atlas does for its P-group comparison), so a patient A*01:16N + A*03:01
is compared as A*03:01 homozygous. A subject whose every typing is unambiguous at the matching
level (one identity per typing at all five loci) is *short-circuited*: its genotype is known,
no frequency is needed, and it is never unrepresented.

Pure: numpy arithmetic on arrays; the frequency set and the typings come from the caller.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from everydonor.unrelated.frequencies import N_LOCI, BoolArray, FloatArray, IdentitySpace, IntArray

ALL_LOCI_BITS = (1 << N_LOCI) - 1
Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TypingRows:
    """Typings as rows of allowed set alleles, per locus; row 0 is *untyped* (allows all).

    ``allow[locus][row, allele]``: whether the typing of ``row`` allows the set's allele;
    ``single[locus][row]``: the one matching identity of the typing, or -1 when it has several
    (or none in the set's identity space).
    """

    allow: tuple[BoolArray, ...]
    single: tuple[IntArray, ...]

    @staticmethod
    def build(space: IdentitySpace, identities: Sequence[Sequence[frozenset[int] | None]]
              ) -> TypingRows:
        """Rows from identity sets per locus (``identities[locus][k]`` is row ``k + 1``)."""
        allow, single = [], []
        for i in range(N_LOCI):
            v = space.fs.vocabulary_size(i)
            rows = identities[i]
            a = np.zeros((len(rows) + 1, v), dtype=bool)
            a[0, :] = True
            s = np.full(len(rows) + 1, -1, dtype=np.int32)
            for k, ids in enumerate(rows, start=1):
                if ids is None:  # an untyped entry
                    a[k, :] = True
                    continue
                known = [x for x in ids if x < v]
                if known:
                    a[k, known] = True
                if len(ids) == 1:
                    s[k] = next(iter(ids))
            allow.append(a)
            single.append(s)
        return TypingRows(tuple(allow), tuple(single))


@dataclass(frozen=True, slots=True)
class Labels:
    """What the comparison needs to know of each identity, per locus.

    ``of[locus][identity]`` is the identity's label; ``null[locus][label]`` whether a label is
    null. For a patient the labels are the identities themselves; for a donor compared with a
    patient they are the index among the patient's possible alleles, ``other`` or ``null``.
    """

    of: tuple[IntArray, ...]
    null: tuple[BoolArray, ...]

    @staticmethod
    def identity(space: IdentitySpace) -> Labels:
        return Labels(tuple(np.arange(space.size(i), dtype=np.int32) for i in range(N_LOCI)),
                      space.null)

    @staticmethod
    def against(space: IdentitySpace, universe: Sequence[IntArray]) -> Labels:
        """Labels relative to the identities ``universe[locus]`` a patient may carry."""
        of, null = [], []
        for i in range(N_LOCI):
            u = universe[i]
            other, null_label = len(u), len(u) + 1
            rel = np.full(space.size(i), other, dtype=np.int32)
            rel[space.null[i]] = null_label
            rel[u] = np.arange(len(u), dtype=np.int32)
            is_null = np.zeros(len(u) + 2, dtype=bool)
            is_null[null_label] = True
            is_null[: len(u)] = space.null[i][u]
            of.append(rel)
            null.append(is_null)
        return Labels(tuple(of), tuple(null))


@dataclass(frozen=True, slots=True)
class GenotypeChunk:
    """Genotype rows of some subjects: ``labels[m, locus, 0|1]``, weight, subject index."""

    labels: IntArray
    weights: FloatArray
    subject: Int64Array


@dataclass(frozen=True, slots=True)
class ImputationSummary:
    """Per subject: total weight (0 = unrepresented), explaining diplotypes, short circuit."""

    totals: FloatArray
    diplotypes: Int64Array
    short_circuit: BoolArray

    @property
    def unrepresented(self) -> BoolArray:
        return (self.totals <= 0.0) & ~self.short_circuit


def factorize(columns: Sequence[npt.NDArray[np.integer]]) -> tuple[Int64Array, Int64Array]:
    """Group index of each row given by ``columns`` (groups in lexicographic order, the first
    column most significant), and the first row of each group."""
    key = np.asarray(columns[0], dtype=np.int64)
    for col in columns[1:]:
        c = np.asarray(col, dtype=np.int64)
        base = int(c.max()) + 1 if c.size else 1
        span = int(key.max()) + 1 if key.size else 1
        if span * base >= 1 << 62:
            _, key = np.unique(key, return_inverse=True)  # compress; order is kept
            span = int(key.max()) + 1 if key.size else 1
        key = key * base + c
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), first.astype(np.int64)


def _replace_nulls(a: IntArray, b: IntArray, null: Sequence[BoolArray]) -> tuple[IntArray, IntArray]:
    """A null allele takes the identity of the other allele of its locus (columns = loci)."""
    a, b = a.copy(), b.copy()
    for i in range(N_LOCI):
        na, nb = null[i][a[:, i]], null[i][b[:, i]]
        only_a, only_b = na & ~nb, nb & ~na
        a[only_a, i] = b[only_a, i]
        b[only_b, i] = a[only_b, i]
    return a, b


class Imputer:
    """Imputes batches of subjects against one frequency set (see the module docstring).

    ``max_cells`` bounds the (subjects × haplotypes) boolean work arrays, ``max_pairs`` the
    class pairs held at once; both bound memory, neither changes an answer.
    """

    def __init__(self, space: IdentitySpace, rows: TypingRows, *, max_cells: int = 16_000_000,
                 max_pairs: int = 2_000_000) -> None:
        self.space = space
        self.fs = space.fs
        self.rows = rows
        self.max_cells = max_cells
        self.max_pairs = max_pairs
        self._packed: tuple[npt.NDArray[np.uint8], ...] | None = None

    def run(self, subjects: IntArray, labels: Labels
            ) -> tuple[Iterator[GenotypeChunk], ImputationSummary]:
        """Impute ``subjects`` (``[d, locus, 0|1]`` typing rows). Returns the genotype rows as
        a lazy stream of chunks and the per-subject summary, which is complete once the stream
        has been consumed."""
        d = subjects.shape[0]
        totals = np.zeros(d, dtype=np.float64)
        diplotypes = np.zeros(d, dtype=np.int64)
        singles = np.stack([self.rows.single[i][subjects[:, i, k]]
                            for i in range(N_LOCI) for k in (0, 1)], axis=1)
        short = np.all(singles >= 0, axis=1) if d else np.zeros(0, dtype=bool)
        summary = ImputationSummary(totals, diplotypes, short)

        def stream() -> Iterator[GenotypeChunk]:
            sc = np.flatnonzero(short)
            if sc.size:
                ids = singles[sc]
                a = np.stack([labels.of[i][ids[:, 2 * i]] for i in range(N_LOCI)], axis=1)
                b = np.stack([labels.of[i][ids[:, 2 * i + 1]] for i in range(N_LOCI)], axis=1)
                a, b = _replace_nulls(a, b, labels.null)
                totals[sc] = 1.0
                yield GenotypeChunk(np.stack([a, b], axis=2), np.ones(sc.size), sc.astype(np.int64))
            rest = np.flatnonzero(~short)
            step = max(1, self.max_cells // max(1, self.fs.size))
            for start in range(0, rest.size, step):
                yield from self._chunk(rest[start:start + step], subjects, labels, totals,
                                       diplotypes)
            np.floor_divide(diplotypes, 2, out=diplotypes)

        return stream(), summary

    def _masks(self) -> tuple[npt.NDArray[np.uint8], ...]:
        """Per locus, per typing row: the haplotypes it allows, as packed bits."""
        if self._packed is None:
            hap = self.fs.haplotypes
            self._packed = tuple(np.packbits(self.rows.allow[i][:, hap[:, i]], axis=1)
                                 for i in range(N_LOCI))
        return self._packed

    def _chunk(self, part: Int64Array, subjects: IntArray, labels: Labels, totals: FloatArray,
               diplotypes: Int64Array) -> Iterator[GenotypeChunk]:
        hap = self.fs.haplotypes
        sub = subjects[part]
        masks = self._masks()
        first_typing, second_typing = [], []
        packed = None
        for i in range(N_LOCI):
            a = masks[i][sub[:, i, 0]]
            b = masks[i][sub[:, i, 1]]
            first_typing.append(a)
            second_typing.append(b)
            packed = (a | b) if packed is None else packed & (a | b)
        assert packed is not None
        feasible = np.unpackbits(packed, axis=1, count=hap.shape[0]).view(bool)
        di, hi = np.nonzero(feasible)
        if di.size == 0:
            return
        byte, shift = hi >> 3, (7 - (hi & 7)).astype(np.uint8)
        a_bits = np.zeros(di.size, dtype=np.uint8)
        b_bits = np.zeros(di.size, dtype=np.uint8)
        for i in range(N_LOCI):
            a_bits |= (((first_typing[i][di, byte] >> shift) & 1) << i).astype(np.uint8)
            b_bits |= (((second_typing[i][di, byte] >> shift) & 1) << i).astype(np.uint8)
        lab = np.stack([labels.of[i][hap[hi, i]] for i in range(N_LOCI)], axis=1)
        cls, first = factorize([di, a_bits, b_bits, *lab.T])
        freq = np.bincount(cls, weights=self.fs.freqs[hi])
        members = np.bincount(cls).astype(np.int64)
        c_sub = di[first]
        c_a = a_bits[first].astype(np.int64)
        c_b = b_bits[first].astype(np.int64)
        c_lab = lab[first]
        per_sub = np.bincount(c_sub, minlength=part.size)
        start_of = np.cumsum(per_sub) - per_sub
        partners = per_sub[c_sub]  # each class pairs with every class of its subject
        ends = np.cumsum(partners)
        offsets = ends - partners
        total = int(ends[-1]) if ends.size else 0
        for s in range(0, total, self.max_pairs):
            p = np.arange(s, min(total, s + self.max_pairs), dtype=np.int64)
            ci = np.searchsorted(ends, p, side="right")
            cj = start_of[c_sub[ci]] + (p - offsets[ci])
            ok = ((c_a[ci] & c_b[cj]) | (c_b[ci] & c_a[cj])) == ALL_LOCI_BITS
            ok &= (freq[ci] > 0) & (freq[cj] > 0)  # a zero frequency explains nothing
            ci, cj = ci[ok], cj[ok]
            if ci.size == 0:
                continue
            w = freq[ci] * freq[cj]
            owner = c_sub[ci]
            totals[part] += np.bincount(owner, weights=w, minlength=part.size)
            # unordered diplotypes = (ordered pairs + homozygous pairs) / 2, counted as twice
            # that here and halved once the stream is done (windows may split a pair of pairs)
            twice = members[ci] * members[cj] + np.where(ci == cj, members[ci], 0)
            diplotypes[part] += np.bincount(owner, weights=twice,
                                            minlength=part.size).astype(np.int64)
            lab_a, lab_b = _replace_nulls(c_lab[ci], c_lab[cj], labels.null)
            yield GenotypeChunk(np.stack([lab_a, lab_b], axis=2), w, part[owner])


@dataclass(frozen=True, slots=True)
class GenotypeDistribution:
    """A subject's genotypes at the matching level, each locus an unordered identity pair
    (null alleles replaced), with probabilities summing to 1."""

    genotypes: IntArray  # (n, 5, 2), pairs sorted
    probs: FloatArray
    diplotypes: int
    short_circuit: bool
    unrepresented: bool

    @property
    def size(self) -> int:
        return int(self.probs.shape[0])

    def universe(self) -> list[IntArray]:
        """The identities the subject may carry at each locus."""
        return [np.unique(self.genotypes[:, i, :]).astype(np.int32) for i in range(N_LOCI)]


def distribution_of(imputer: Imputer, subject: IntArray) -> GenotypeDistribution:
    """The full genotype distribution of one subject (``[locus, 0|1]`` typing rows)."""
    stream, summary = imputer.run(subject[None, :, :], Labels.identity(imputer.space))
    chunks = list(stream)
    if summary.unrepresented[0] or not chunks:
        return GenotypeDistribution(np.zeros((0, N_LOCI, 2), dtype=np.int32), np.zeros(0),
                                    0, bool(summary.short_circuit[0]), True)
    labels = np.concatenate([c.labels for c in chunks])
    weights = np.concatenate([c.weights for c in chunks])
    labels = np.sort(labels, axis=2)
    group, first = factorize([labels[:, i, k] for i in range(N_LOCI) for k in (0, 1)])
    probs = np.bincount(group, weights=weights)
    return GenotypeDistribution(labels[first].astype(np.int32), probs / probs.sum(),
                                int(summary.diplotypes[0]), bool(summary.short_circuit[0]),
                                False)
