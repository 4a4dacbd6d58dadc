"""Typings reduced to lgx per second: everydonor's lookup tables vs py-ard 2.4.2's ``redux``.

Both engines reduce the same 100,000 typings, in this process, on the bundled IPD-IMGT/HLA
3.58.0 release, with the same MAC list; the ratio is printed for each workload. Two workloads:

* ``wmda``: the locus typings of the WMDA matching-validation set 3 (patients then donors,
  ``../shared/data/wmda-set3``: XX codes, NMDP MACs, 2-field alleles), cycled to 100,000 typings
  (1,241 distinct) — what a registry file looks like. MACs come from the Atlas 2020 subset
  (``../shared/data/hla/Atlas/...``, GPL test data, read in place); typings whose MAC it lacks
  are refused by both engines and count as work done.
* ``release``: 100,000 mostly distinct typings made from the release itself: every allele name
  of the typing loci (39,083), every truncated name (``A*01:01``), every XX code, and two-member
  allele strings of the same locus (fixed seed) — where memoisation cannot help.

Baseline: py-ard's ``redux`` with its memo enlarged to 1,000,000 entries (``--pyard-cache``), the
strongest py-ard one can configure. With its default 1,000-entry memo py-ard thrashes on the
cyclic ``wmda`` workload (about 120 typings/s here, ~14 minutes): ``--with-default-cache`` adds
that run. Both engines' one-off table builds are timed apart from the reductions.

Answers are compared typing by typing. Accepted difference, counted apart: the ``N`` of a
null-only name (everydonor ``A*01:52N``, py-ard ``A*01:52``; see ARCHITECTURE.md).

Usage: python benchmarks/hla_reduce.py [--n 100000] [--with-default-cache]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from everydonor.adapters.reference.imgt import load_reference, read_mac_file
from everydonor.adapters.reference.pyard import load_pyard
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import HlaReference, Resolution

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WMDA = SHARED / "wmda-set3"
MAC_FILE = (SHARED / "hla" / "Atlas" / "Atlas.MultipleAlleleCodeDictionary.Test.Integration"
            / "Repositories" / "LargeMacDictionary.csv")
FAKE_ATLAS_CODES = frozenset({"ABC", "DEF", "NUL", "TCE", "XYZ", "YYY", "ZZZ"})


def wmda_typings() -> list[str]:
    out = []
    for name in ("pat.txt", "don.txt"):
        for line in (WMDA / name).read_text(encoding="utf-8").splitlines():
            if "%" not in line:
                continue
            gl = line.split("%", 1)[1]
            out += [t for t in gl.replace("^", "+").split("+") if not t.endswith("UUUU")]
    return out


def release_typings(ref: HlaReference, n: int) -> list[str]:
    names = sorted(ref.alleles)
    truncated = sorted(k for k in ref.by_prefix if ":" in k)
    families = sorted(f"{k}:XX" for k in ref.by_prefix if ":" not in k)
    out = names + truncated + families
    rng = random.Random(2026)
    by_locus: dict[str, list[str]] = {}
    for name in [*names, *truncated]:
        if name.count(":") == 1:
            by_locus.setdefault(name.split("*")[0], []).append(name)
    loci = sorted(by_locus)
    while len(out) < n:
        pool = by_locus[rng.choice(loci)]
        a, b = rng.sample(pool, 2)
        out.append(f"{a}/{b}")
    return out[:n]


def timed(fn: Callable[[str], Any], typings: list[str]) -> tuple[float, list[str | None]]:
    answers: list[str | None] = []
    t0 = time.perf_counter()
    for text in typings:
        try:
            answers.append(fn(text))
        except Exception:  # both engines' refusals (py-ard raises its own error types)
            answers.append(None)
    return time.perf_counter() - t0, answers


def null_suffix_only(ours: str, theirs: str) -> bool:
    a, b = ours.split("/"), theirs.split("/")
    return len(a) == len(b) and all(x == y or (x.endswith("N") and x[:-1] == y)
                                    for x, y in zip(a, b, strict=True))


def compare(ours: list[str | None], theirs: list[str | None]) -> tuple[int, int, list[int]]:
    same = null_only = 0
    other = []
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a == b:
            same += 1
        elif a and b and null_suffix_only(a, b):
            null_only += 1
        else:
            other.append(i)
    return same, null_only, other


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--pyard-cache", type=int, default=1_000_000)
    ap.add_argument("--with-default-cache", action="store_true")
    args = ap.parse_args()
    if not WMDA.is_dir() or not MAC_FILE.is_file():
        print(f"needs {WMDA} and {MAC_FILE} (../shared beside the project)", file=sys.stderr)
        return 2

    macs = read_mac_file(MAC_FILE, skip_codes=FAKE_ATLAS_CODES)
    ref = load_reference()
    base = wmda_typings()
    workloads = {
        "wmda": (base * (args.n // len(base) + 1))[: args.n],
        "release": release_typings(ref, args.n),
    }
    print(f"IPD-IMGT/HLA {ref.release}; MAC list {macs.source} ({len(macs.codes):,} codes); "
          f"everydonor vs py-ard 2.4.2, lgx, one process")
    failures = 0
    worst = float("inf")
    for label, typings in workloads.items():
        t0 = time.perf_counter()
        reducer = Reducer(ref, macs)
        reducer.build_tables(Resolution.LGX)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = reducer.reduce_many(typings, Resolution.LGX, on_error="none")
        ours_s = time.perf_counter() - t0

        baselines = [("py-ard, memo 1,000,000", args.pyard_cache)]
        if args.with_default_cache:
            baselines.append(("py-ard, default memo", None))
        print(f"\n[{label}] {len(typings):,} typings ({len(set(typings)):,} distinct)")
        print(f"  everydonor reduce_many {len(typings) / ours_s:>12,.0f} typings/s "
              f"({ours_s:.3f} s; tables for lgx built in {build_s:.2f} s)")
        for name, cache in baselines:
            ard = load_pyard(macs=macs, max_cache_size=cache)
            secs, theirs = timed(lambda t, a=ard: a.redux(t, "lgx"), typings)
            same, null_only, other = compare(ours, theirs)
            ratio = secs / ours_s
            worst = min(worst, ratio)
            failures += len(other)
            print(f"  {name:<21} {len(typings) / secs:>12,.0f} typings/s ({secs:.3f} s)   "
                  f"ratio {ratio:,.1f}x")
            both = sum(1 for a, b in zip(ours, theirs, strict=True) if a is None and b is None)
            print(f"    answers: identical {same:,}; null suffix kept {null_only:,}; "
                  f"refused by both {both:,}; other differences {len(other):,}")
            for i in other[:5]:
                print(f"      {typings[i]!r}: everydonor {str(ours[i])[:150]!r} | "
                      f"py-ard {str(theirs[i])[:150]!r}")
    met = worst >= 20 and failures == 0
    print(f"\nRESULT: lowest ratio {worst:,.1f}x (target >= 20x with identical answers): "
          f"{'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
