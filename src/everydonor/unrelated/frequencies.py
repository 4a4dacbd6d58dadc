"""Five-locus haplotype-frequency sets (A~C~B~DRB1~DQB1) and their link to the release.

A set is read from text in the WMDA format (``A*01:01g~C*01:02g~B*15:01g~DRB1*01:01~DQB1*05:01;6e-05``,
one haplotype a line; Bochtler W et al. HLA 2016;87:439-448) or the GRIMM/py-graph-imputation
CSV form (``haplotype,count,frequency``). Every allele name is checked against the reference
release and linked to its lgx names (the ARD level, g groups), so that typings of any resolution
can be compared with it:

* the set's own names are the **matching identity**: two alleles match when the set calls them
  by the same name (a g group, ``A*01:01g``, or a 2-field name that stands alone, ``A*01:02``);
* a typing *allows* a name of the set when the alleles it covers and the alleles the name covers
  share an lgx name;
* an lgx name the set does not cover keeps its own identity (an *extra* identity), so that a
  typing unambiguous at this level is known even where the set is silent.

Two names of one set that cover the same lgx name would make that identity ambiguous; such a set
is refused, naming both lines. Pure: the caller reads the file and passes its lines.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from everydonor.errors import EverydonorError, InputError
from everydonor.hla.designation import parse_typing
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution

#: The loci of a frequency set and of match prediction, in the file's order.
LOCI: tuple[Locus, ...] = (Locus.A, Locus.C, Locus.B, Locus.DRB1, Locus.DQB1)
N_LOCI = len(LOCI)

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class FrequencySet:
    """Haplotypes as allele ids per locus (``haplotypes[h, locus]``) with their frequencies.

    ``names[locus][id]`` is the name as the file writes it; ``lgx[locus][id]`` the lgx names it
    covers in the release; ``null[locus][id]`` whether every allele it covers is null.
    """

    name: str
    haplotypes: IntArray
    freqs: FloatArray
    names: tuple[tuple[str, ...], ...]
    lgx: tuple[tuple[frozenset[str], ...], ...]
    null: tuple[BoolArray, ...]
    release: str
    digest: str
    source: str = ""
    population: str | None = None
    registry: str | None = None
    warnings: tuple[str, ...] = ()
    #: per locus: lgx name -> allele id (built from ``lgx``; one id per lgx name by construction)
    by_lgx: tuple[Mapping[str, int], ...] = field(default=(), repr=False)

    @property
    def size(self) -> int:
        return int(self.freqs.shape[0])

    @property
    def total(self) -> float:
        return math.fsum(self.freqs.tolist())

    def vocabulary_size(self, locus: int) -> int:
        return len(self.names[locus])

    def describe(self) -> dict[str, object]:
        """What a report says about the set (and what a reader needs to find it again)."""
        return {
            "name": self.name,
            "haplotypes": self.size,
            "frequency_sum": round(self.total, 6),
            "alleles": {loc.value: self.vocabulary_size(i) for i, loc in enumerate(LOCI)},
            "release": self.release,
            "sha256": self.digest,
            "source": self.source or None,
            "population": self.population,
            "registry": self.registry,
        }


def _strip_g(name: str) -> str:
    return name[:-1] if name.endswith("g") else name


def parse_frequency_lines(lines: Iterable[str], name: str, reducer: Reducer, *,
                          source: str = "", population: str | None = None,
                          registry: str | None = None, digest: str | None = None
                          ) -> FrequencySet:
    """Parse a frequency set; errors name the set, the line, the field and the value.

    >>> fs = parse_frequency_lines(["A*01:01g~C*07:01g~B*08:01g~DRB1*03:01~DQB1*02:01g;0.06"],
    ...                            "tiny", reducer)          # doctest: +SKIP
    >>> fs.names[0], fs.size                                 # doctest: +SKIP
    (('A*01:01g',), 1)
    """
    text_lines = list(lines)
    if digest is None:  # the caller knows the file's own digest; else one of the lines
        digest = hashlib.sha256("\n".join(ln.rstrip("\r\n") for ln in text_lines).encode()
                                ).hexdigest()
    vocab: list[dict[str, int]] = [{} for _ in LOCI]
    names: list[list[str]] = [[] for _ in LOCI]
    lgx: list[list[frozenset[str]]] = [[] for _ in LOCI]
    first_line: list[dict[str, int]] = [{} for _ in LOCI]
    owner: list[dict[str, tuple[str, int]]] = [{} for _ in LOCI]
    rows: list[list[int]] = []
    freqs: list[float] = []
    seen: dict[tuple[int, ...], int] = {}
    zero = 0
    lgx_table = reducer.allele_table(Resolution.LGX)

    def bad(n: int, message: str, value: str) -> InputError:
        return InputError(f"frequency set {name!r}, line {n}: {message}", field=f"line {n}",
                          value=value)

    for n, raw in enumerate(text_lines, start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        if ";" in line:
            hap, _, value = line.partition(";")
        elif "," in line:
            parts = line.split(",")
            if parts[0].lower().startswith("haplo"):
                continue  # a CSV header
            hap, value = parts[0], parts[-1]
        else:
            raise bad(n, "expected A~C~B~DRB1~DQB1;frequency", line)
        alleles = hap.strip().split("~")
        if len(alleles) != N_LOCI:
            raise bad(n, f"a haplotype has {N_LOCI} alleles A~C~B~DRB1~DQB1, this one "
                      f"{len(alleles)}", hap)
        try:
            f = float(value)
        except ValueError:
            raise bad(n, "the frequency is not a number", value) from None
        if not (0.0 <= f <= 1.0) or math.isnan(f):
            raise bad(n, "a frequency must lie in [0, 1]", value)
        row = []
        for i, (locus, allele) in enumerate(zip(LOCI, alleles, strict=True)):
            allele = allele.strip()
            if not allele.startswith(locus.value + "*"):
                raise bad(n, f"position {i + 1} must be an {locus.value} allele", allele)
            key = _strip_g(allele)
            aid = vocab[i].get(key)
            if aid is None:
                try:
                    covered = reducer.alleles_of(parse_typing(allele))
                except EverydonorError as exc:
                    raise bad(n, f"{allele!r} is not an allele name of IPD-IMGT/HLA "
                              f"{reducer.release}: {exc.message}", allele) from None
                names_lgx = frozenset(lgx_table.get(a) or reducer.ref.lgx_of(a) for a in covered)
                for x in names_lgx:
                    if x in owner[i]:
                        other, line_no = owner[i][x]
                        raise bad(n, f"{allele!r} and {other!r} (line {line_no}) both cover "
                                  f"{x}; a set must name each allele once", allele)
                aid = vocab[i][key] = len(names[i])
                names[i].append(allele)
                lgx[i].append(names_lgx)
                first_line[i][key] = n
                for x in names_lgx:
                    owner[i][x] = (allele, n)
            row.append(aid)
        hkey = tuple(row)
        if hkey in seen:
            raise bad(n, f"haplotype listed twice (first on line {seen[hkey]})", hap)
        seen[hkey] = n
        if f == 0.0:
            zero += 1  # listed, but it can explain nothing: kept out of the arrays
            continue
        rows.append(row)
        freqs.append(f)
    if not rows:
        raise InputError(f"frequency set {name!r} holds no haplotype", field="frequencies",
                         value=name)
    total = math.fsum(freqs)
    warnings = []
    if zero:
        warnings.append(f"{zero} haplotypes listed with frequency 0 carry no weight")
    if total > 1.0 + 1e-6:
        raise InputError(f"frequency set {name!r}: frequencies sum to {total:.6f}, more than 1",
                         field="frequencies", value=f"{total:.6f}")
    if total < 0.5:
        warnings.append(f"frequencies sum to {total:.4f}: the set covers little of the "
                        "population; probabilities are conditional on it")
    null = tuple(np.asarray([bool(s) and all(x.endswith("N") for x in s) for s in lgx[i]],
                            dtype=bool) for i in range(N_LOCI))
    by_lgx = tuple({x: aid for aid, s in enumerate(lgx[i]) for x in s} for i in range(N_LOCI))
    return FrequencySet(
        name=name, haplotypes=np.asarray(rows, dtype=np.int32),
        freqs=np.asarray(freqs, dtype=np.float64),
        names=tuple(tuple(x) for x in names), lgx=tuple(tuple(x) for x in lgx), null=null,
        release=reducer.release, digest=digest, source=source, population=population,
        registry=registry, warnings=tuple(warnings), by_lgx=by_lgx)


@dataclass(frozen=True, slots=True)
class IdentitySpace:
    """Per locus: lgx name → matching identity (the set's allele id, or an extra id ≥ V).

    Built for one frequency set and the lgx names a store (or a patient) uses. ``null[locus]``
    covers every identity (extras are null when their lgx name is).
    """

    fs: FrequencySet
    extra: tuple[dict[str, int], ...]
    null: tuple[BoolArray, ...]

    def size(self, locus: int) -> int:
        return self.fs.vocabulary_size(locus) + len(self.extra[locus])

    def identity(self, locus: int, lgx_name: str) -> int:
        hit = self.fs.by_lgx[locus].get(lgx_name)
        if hit is not None:
            return hit
        return self.extra[locus][lgx_name]

    def name_of(self, locus: int, identity: int) -> str:
        v = self.fs.vocabulary_size(locus)
        if identity < v:
            return self.fs.names[locus][identity]
        for n, i in self.extra[locus].items():
            if i == identity:
                return n
        raise KeyError(identity)


def identity_space(fs: FrequencySet, lgx_names: Sequence[Iterable[str]]) -> IdentitySpace:
    """The identity space of ``fs`` extended by the lgx names given per locus."""
    extra: list[dict[str, int]] = []
    null: list[BoolArray] = []
    for i in range(N_LOCI):
        v = fs.vocabulary_size(i)
        more: dict[str, int] = {}
        for x in lgx_names[i]:
            if x not in fs.by_lgx[i] and x not in more:
                more[x] = v + len(more)
        extra.append(more)
        null.append(np.concatenate([fs.null[i], np.asarray(
            [x.endswith("N") for x in more], dtype=bool)]))
    return IdentitySpace(fs, tuple(extra), tuple(null))
