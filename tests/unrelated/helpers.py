"""Tiny frequency sets built by hand (no release needed) for the core's unit tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from everydonor.unrelated.frequencies import N_LOCI, FrequencySet, IdentitySpace, identity_space
from everydonor.unrelated.imputation import TypingRows


def tiny_set(haplotypes: Sequence[Sequence[str]], freqs: Sequence[float],
             extra: Sequence[Sequence[str]] = ((),) * N_LOCI) -> tuple[FrequencySet, IdentitySpace]:
    """A set whose allele names are their own lgx names; ``extra`` lgx names per locus."""
    names: list[list[str]] = [[] for _ in range(N_LOCI)]
    rows = []
    for hap in haplotypes:
        row = []
        for i, a in enumerate(hap):
            if a not in names[i]:
                names[i].append(a)
            row.append(names[i].index(a))
        rows.append(row)
    fs = FrequencySet(
        name="tiny", haplotypes=np.asarray(rows, dtype=np.int32),
        freqs=np.asarray(freqs, dtype=np.float64), names=tuple(tuple(n) for n in names),
        lgx=tuple(tuple(frozenset([a]) for a in n) for n in names),
        null=tuple(np.asarray([a.endswith("N") for a in n], dtype=bool) for n in names),
        release="test", digest="0", by_lgx=tuple({a: k for k, a in enumerate(n)} for n in names))
    space = identity_space(fs, [list(names[i]) + list(extra[i]) for i in range(N_LOCI)])
    return fs, space


def rows_for(space: IdentitySpace, subjects: Sequence[Sequence[tuple[frozenset[str],
                                                                     frozenset[str]] | None]]
             ) -> tuple[TypingRows, np.ndarray]:
    """Typing rows and the ``[subject, locus, 0|1]`` row indices for named typings."""
    per_locus: list[list[frozenset[int] | None]] = [[] for _ in range(N_LOCI)]
    index = np.zeros((len(subjects), N_LOCI, 2), dtype=np.int32)
    for s, typing in enumerate(subjects):
        for i, pair in enumerate(typing):
            if pair is None:
                continue
            for k, names in enumerate(pair):
                per_locus[i].append(frozenset(space.identity(i, x) for x in names))
                index[s, i, k] = len(per_locus[i])
    return TypingRows.build(space, per_locus), index
