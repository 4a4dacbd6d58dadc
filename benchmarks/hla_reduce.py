"""Typings reduced to lgx per second: everydonor's lookup tables vs py-ard's ``redux``.

Same 100,000 typings, same process, same release (bundled IPD-IMGT/HLA 3.58.0), same MAC list.
The typings are the locus typings of the WMDA matching-validation set 3 (patients and donors,
``../shared/data/wmda-set3``; XX codes, NMDP MACs, 2-field alleles), cycled to the requested
count. MACs come from the Atlas MAC subset (``../shared/data/hla/Atlas/...``; GPL test data, read
in place). Both engines memoise as they do out of the box... and, for fairness, py-ard is also
timed with a cache as large as ours (``--pyard-cache``).

Answers are compared typing by typing; the only accepted difference is the documented one
(py-ard drops the ``N`` of null-only 2-field names, everydonor keeps it), counted separately.

Usage: python benchmarks/hla_reduce.py [--n 100000] [--pyard-cache 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from everydonor.adapters.imgt import load_reference, read_mac_file
from everydonor.adapters.pyard import load_pyard
from everydonor.errors import EverydonorError
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution

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


def null_suffix_only(ours: str, theirs: str) -> bool:
    a, b = ours.split("/"), theirs.split("/")
    return len(a) == len(b) and all(x == y or (x.endswith("N") and x[:-1] == y)
                                    for x, y in zip(a, b, strict=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--pyard-cache", type=int, default=1_000_000)
    args = ap.parse_args()
    if not WMDA.is_dir() or not MAC_FILE.is_file():
        print(f"needs {WMDA} and {MAC_FILE} (../shared beside the project)", file=sys.stderr)
        return 2

    base = wmda_typings()
    typings = (base * (args.n // len(base) + 1))[: args.n]
    macs = read_mac_file(MAC_FILE, skip_codes=FAKE_ATLAS_CODES)
    ref = load_reference()
    print(f"{len(typings):,} typings ({len(set(typings)):,} distinct) from WMDA set 3; "
          f"IPD-IMGT/HLA {ref.release}; MAC list {macs.source} ({len(macs.codes):,} codes)")

    # everydonor: lookup tables + memo (table build timed separately, as a one-off cost).
    t0 = time.perf_counter()
    reducer = Reducer(ref, macs)
    build_s = time.perf_counter() - t0
    ours: list[str | None] = []
    t0 = time.perf_counter()
    for text in typings:
        try:
            ours.append(reducer.reduce_text(text, Resolution.LGX))
        except EverydonorError:
            ours.append(None)
    ours_s = time.perf_counter() - t0

    results = {}
    for label, cache in (("py-ard default cache", None), ("py-ard large cache", args.pyard_cache)):
        ard = load_pyard(macs=macs)
        if cache is not None:
            from pyard.ard import ARD
            ard = ARD(imgt_version="3580", data_dir=ard._data_dir, load_mac=True,
                      max_cache_size=cache)
        theirs: list[str | None] = []
        t0 = time.perf_counter()
        for text in typings:
            try:
                theirs.append(ard.redux(text, "lgx"))
            except Exception:  # py-ard raises its own InvalidTypingError and friends
                theirs.append(None)
        results[label] = (time.perf_counter() - t0, theirs)

    _, theirs = results["py-ard default cache"]
    same = sum(1 for a, b in zip(ours, theirs, strict=True) if a == b)
    null_only = sum(1 for a, b in zip(ours, theirs, strict=True)
                    if a != b and a and b and null_suffix_only(a, b))
    other = len(typings) - same - null_only
    refused_both = sum(1 for a, b in zip(ours, theirs, strict=True) if a is None and b is None)
    print(f"everydonor tables: {len(typings) / ours_s:>12,.0f} typings/s "
          f"({ours_s:.2f} s; tables built once in {build_s:.2f} s)")
    for label, (secs, _) in results.items():
        print(f"{label + ':':<22}{len(typings) / secs:>12,.0f} typings/s ({secs:.2f} s)  "
              f"ratio everydonor/py-ard = {secs / ours_s:,.0f}x")
    print(f"answers identical: {same:,}; differing only by the kept null suffix: {null_only:,}; "
          f"other differences: {other:,}; refused by both (MAC absent from the list): "
          f"{refused_both:,}")
    worst = min(secs for secs, _ in results.values()) / ours_s
    print(f"RESULT ratio (vs the faster py-ard) = {worst:,.0f}x; target >= 20x: "
          f"{'met' if worst >= 20 and other == 0 else 'NOT met'}")
    return 0 if other == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
