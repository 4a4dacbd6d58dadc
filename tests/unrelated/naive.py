"""A deliberately plain reference for imputation and match prediction (tests only).

Every ordered pair of haplotypes is tried against the typing locus by locus, with exact rational
arithmetic (``Fraction``), so that it can check the vectorised code's probabilities *and* its
exact-zero categories. It shares no code with ``everydonor.unrelated``.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

Genotype = tuple[tuple[str, str], ...]
Typing = list[tuple[frozenset[str], frozenset[str]] | None]  # per locus, None = untyped


def _allowed(allele: str, names: frozenset[str] | None) -> bool:
    return names is None or allele in names


def _express(a: str, b: str) -> tuple[str, str]:
    """A null allele takes the identity of the other allele of its locus."""
    if a.endswith("N") and not b.endswith("N"):
        a = b
    elif b.endswith("N") and not a.endswith("N"):
        b = a
    return (a, b) if a <= b else (b, a)


def distribution(haplotypes: list[tuple[str, ...]], freqs: list[Fraction], typing: Typing
                 ) -> dict[Genotype, Fraction] | None:
    weights: dict[Genotype, Fraction] = defaultdict(Fraction)
    for h1, f1 in zip(haplotypes, freqs, strict=True):
        for h2, f2 in zip(haplotypes, freqs, strict=True):
            ok = True
            for locus, pair in enumerate(typing):
                if pair is None:
                    continue
                s1, s2 = pair
                straight = h1[locus] in s1 and h2[locus] in s2
                crossed = h1[locus] in s2 and h2[locus] in s1
                if not (straight or crossed):
                    ok = False
                    break
            if ok and f1 * f2 > 0:
                g = tuple(_express(a, b) for a, b in zip(h1, h2, strict=True))
                weights[g] += f1 * f2
    total = sum(weights.values(), Fraction(0))
    if total == 0:
        return None
    return {g: w / total for g, w in weights.items()}


def known_genotype(typing: Typing) -> dict[Genotype, Fraction] | None:
    """The genotype of a typing with one name per typing at every locus (else None)."""
    if any(p is None or len(p[0]) != 1 or len(p[1]) != 1 for p in typing):
        return None
    g = tuple(_express(next(iter(p[0])), next(iter(p[1]))) for p in typing if p is not None)
    return {g: Fraction(1)}


def mismatches(p: tuple[str, str], d: tuple[str, str]) -> int:
    straight = (p[0] == d[0]) + (p[1] == d[1])
    crossed = (p[0] == d[1]) + (p[1] == d[0])
    return 2 - max(straight, crossed)


def predict(patient: dict[Genotype, Fraction], donor: dict[Genotype, Fraction]
            ) -> tuple[list[Fraction], list[Fraction], list[str]]:
    """P(total = 0, 1, 2), per-locus P(match), per-locus category."""
    total = [Fraction(0)] * 3
    n_loci = len(next(iter(patient)))
    match = [Fraction(0)] * n_loci
    miss = [Fraction(0)] * n_loci
    for gp, wp in patient.items():
        for gd, wd in donor.items():
            w = wp * wd
            mm = [mismatches(a, b) for a, b in zip(gp, gd, strict=True)]
            if sum(mm) < 3:
                total[sum(mm)] += w
            for i, m in enumerate(mm):
                if m == 0:
                    match[i] += w
                else:
                    miss[i] += w
    cats = ["definite" if miss[i] == 0 else "mismatch" if match[i] == 0 else "potential"
            for i in range(n_loci)]
    return total, match, cats
