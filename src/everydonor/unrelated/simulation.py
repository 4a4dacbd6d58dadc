"""Synthetic registries: donors sampled from a frequency set, typed as registries type them.

For tests and benchmarks only (never a clinical input). Each donor gets two haplotypes drawn by
frequency; each locus is then written at a resolution chosen by the donor's *typing era*, so the
registry carries the ambiguity real ones do — 2-field alleles, NMDP multiple allele codes, XX
codes, WHO serology and untyped C/DQB1:

============  =====  =================================================================
era           share  A, B / DRB1 / C, DQB1
============  =====  =================================================================
high          0.40   2-field at all five loci
mac           0.25   MAC (or 2-field when no code in the list fits) at all five loci
intermediate  0.20   XX at A, B, DRB1; C and DQB1 untyped
serology      0.15   serology at A, B, DRB1 (XX where no antigen); C and DQB1 untyped
============  =====  =================================================================

The shares are parameters (``SimulationProfile``), not claims about any registry. Pure: the
reducer and MAC list are passed in; the caller writes the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from everydonor.errors import EverydonorError
from everydonor.hla.designation import MacDictionary, parse_typing
from everydonor.hla.reduction import Reducer
from everydonor.unrelated.frequencies import LOCI, N_LOCI, FrequencySet

ERAS = ("high", "mac", "intermediate", "serology")
#: resolution per era, per locus (A, C, B, DRB1, DQB1); "-" = untyped
ERA_RESOLUTION: Mapping[str, tuple[str, ...]] = {
    "high": ("allele",) * N_LOCI,
    "mac": ("mac",) * N_LOCI,
    "intermediate": ("xx", "-", "xx", "xx", "-"),
    "serology": ("serology", "-", "serology", "serology", "-"),
}
RESOLUTIONS = ("allele", "mac", "xx", "serology")


@dataclass(frozen=True, slots=True)
class SimulationProfile:
    era_shares: tuple[float, ...] = (0.40, 0.25, 0.20, 0.15)
    registries: tuple[str, ...] = ("REG1", "REG2", "REG3")
    age_range: tuple[int, int] = (18, 60)
    female_share: float = 0.45
    cmv_positive_share: float = 0.5


@dataclass(frozen=True, slots=True)
class TypingTexts:
    """Per locus: text table ``texts[locus][k]`` and ``index[locus][resolution, allele] → k``."""

    texts: tuple[tuple[str, ...], ...]
    index: tuple[npt.NDArray[np.int32], ...]


def typing_texts(fs: FrequencySet, reducer: Reducer, macs: MacDictionary | None) -> TypingTexts:
    """How each allele of the set is written at each resolution (falling back to a finer one
    where a coarser one does not exist: no MAC in the list, no serological equivalent)."""
    mac_by_name: dict[str, str] = {}
    if macs is not None:
        sizes: dict[str, int] = {}
        for code, listed in macs.codes.items():
            parts = listed.split("/")
            if len(parts) < 2 or len(parts) > 8:
                continue
            for part in parts:
                key = part if ":" in part else None
                if key is None:  # generic code: second fields of any first field
                    mac_by_name.setdefault(f"*:{part}", code)
                    continue
                if key not in mac_by_name or sizes[mac_by_name[key]] > len(parts):
                    mac_by_name[key] = code
                    sizes[code] = len(parts)
    texts_out, index_out = [], []
    for i, locus in enumerate(LOCI):
        table: dict[str, int] = {}
        idx = np.zeros((len(RESOLUTIONS), fs.vocabulary_size(i)), dtype=np.int32)
        for v, name in enumerate(fs.names[i]):
            base = name[:-1] if name.endswith("g") else name
            fields = base.split("*")[1].rstrip("NLSQ").split(":")
            allele = base
            xx = f"{locus.value}*{fields[0]}:XX"
            found = mac_by_name.get(f"{fields[0]}:{fields[1]}") or mac_by_name.get(
                f"*:{fields[1]}")
            mac = allele
            if found:  # keep only codes the list really expands to this allele
                candidate = f"{locus.value}*{fields[0]}:{found}"
                try:
                    covered = {reducer.ref.lgx_of(a)
                               for a in reducer.alleles_of(parse_typing(candidate))}
                except EverydonorError:  # a code of another first field: keep the allele
                    covered = set()
                if base in covered:
                    mac = candidate
            antigens, _ = reducer.serology_of(sorted(reducer.alleles_of(parse_typing(base))))
            sero = antigens[0].name if len(antigens) == 1 else xx
            for r, text in enumerate((allele, mac, xx, sero)):
                if text not in table:
                    table[text] = len(table)
                idx[r, v] = table[text]
        texts_out.append(tuple(table))
        index_out.append(idx)
    return TypingTexts(tuple(texts_out), tuple(index_out))


@dataclass(slots=True)
class SyntheticDonors:
    """A block of synthetic donors: per locus two text-index columns (-1 = untyped)."""

    ids: npt.NDArray[np.int64]
    era: npt.NDArray[np.int8]
    typing: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]]
    age: npt.NDArray[np.int16]
    female: npt.NDArray[np.bool_]
    cmv_positive: npt.NDArray[np.bool_]
    registry: npt.NDArray[np.int8]
    haplotypes: npt.NDArray[np.int64] = field(repr=False, default_factory=lambda: np.zeros(0,
                                                                                       np.int64))


def simulate_donors(fs: FrequencySet, texts: TypingTexts, n: int, rng: np.random.Generator,
                    *, start_id: int = 1, profile: SimulationProfile | None = None
                    ) -> SyntheticDonors:
    """``n`` donors (ids from ``start_id``), haplotypes drawn by frequency."""
    prof = profile or SimulationProfile()
    p = fs.freqs / fs.freqs.sum()
    haps = rng.choice(fs.size, size=(n, 2), p=p)
    era = rng.choice(len(ERAS), size=n, p=np.asarray(prof.era_shares) / sum(prof.era_shares))
    typing = []
    for i in range(N_LOCI):
        res = np.asarray([RESOLUTIONS.index(ERA_RESOLUTION[e][i])
                          if ERA_RESOLUTION[e][i] != "-" else -1 for e in ERAS], dtype=np.int64)
        r = res[era]
        alleles = fs.haplotypes[haps, i]  # (n, 2)
        pair = []
        for pos in (0, 1):
            k = texts.index[i][np.maximum(r, 0), alleles[:, pos]]
            pair.append(np.where(r >= 0, k, -1).astype(np.int32))
        typing.append((pair[0], pair[1]))
    lo, hi = prof.age_range
    return SyntheticDonors(
        ids=np.arange(start_id, start_id + n, dtype=np.int64), era=era.astype(np.int8),
        typing=typing, age=rng.integers(lo, hi + 1, size=n).astype(np.int16),
        female=rng.random(n) < prof.female_share,
        cmv_positive=rng.random(n) < prof.cmv_positive_share,
        registry=rng.integers(0, len(prof.registries), size=n).astype(np.int8),
        haplotypes=haps.astype(np.int64))
