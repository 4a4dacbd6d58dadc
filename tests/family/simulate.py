"""Simulated families from the WMDA set-3 haplotype frequencies (read from ../shared).

Shared by the property test and ``benchmarks/family_simulation.py``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from everydonor.case import Case, parse_case

LOCI = ("A", "C", "B", "DRB1", "DQB1")
FREQS = Path(__file__).resolve().parents[3] / "shared" / "data" / "wmda-set3" / "freqs.txt"
Haplotype = tuple[str, ...]


def load_haplotypes() -> tuple[list[Haplotype], list[float]]:
    haps, cum = [], []
    total = 0.0
    for line in FREQS.read_text(encoding="utf-8").splitlines():
        if ";" not in line:
            continue
        gl, freq = line.split(";")
        total += float(freq)
        haps.append(tuple(gl.split("~")))
        cum.append(total)
    return haps, cum


@dataclass
class Truth:
    paternal: dict[str, Haplotype] = field(default_factory=dict)
    maternal: dict[str, Haplotype] = field(default_factory=dict)
    recombinant: set[str] = field(default_factory=set)  # a crossover visible in the typings
    crossovers: int = 0  # recombinant meioses (visible or not)
    parents: tuple[Haplotype, Haplotype, Haplotype, Haplotype] | None = None
    father_typed: bool = False
    mother_typed: bool = False

    def relation(self, sid: str) -> tuple[str, str]:
        pat = self.paternal[sid] == self.paternal["P"]
        mat = self.maternal[sid] == self.maternal["P"]
        if pat and mat:
            return "identical", "both"
        if pat:
            return "haploidentical", "paternal"
        if mat:
            return "haploidentical", "maternal"
        return "not_haploidentical", "none"

    def coincidental(self, sid: str) -> bool:
        """A sibling carrying, by chance, a copy of the patient's *other-side* haplotype."""
        return (self.paternal[sid] == self.maternal["P"]
                or self.maternal[sid] == self.paternal["P"])


def _meiosis(rng: random.Random, h0: Haplotype, h1: Haplotype, rate: float
             ) -> tuple[Haplotype, bool]:
    first, second = (h0, h1) if rng.random() < 0.5 else (h1, h0)
    if rng.random() >= rate:
        return first, False
    cut = rng.randint(1, len(LOCI) - 1)
    return first[:cut] + second[cut:], True


def simulate(rng: random.Random, haps: list[Haplotype], cum: list[float], *,
             recombination: float = 0.02, keep_parent: float = 0.5) -> tuple[Case, Truth]:
    def draw() -> Haplotype:
        return haps[bisect.bisect_left(cum, rng.random() * cum[-1])]

    a, b, c, d = draw(), draw(), draw(), draw()
    truth = Truth(parents=(a, b, c, d))
    n_children = rng.randint(2, 6)
    ids = ["P"] + [f"S{i}" for i in range(1, n_children)]
    for sid in ids:
        pat, x1 = _meiosis(rng, a, b, recombination)
        mat, x2 = _meiosis(rng, c, d, recombination)
        truth.crossovers += x1 + x2
        truth.paternal[sid], truth.maternal[sid] = pat, mat
        if pat not in (a, b) or mat not in (c, d):
            truth.recombinant.add(sid)

    def typing(h1: Haplotype, h2: Haplotype) -> dict[str, list[str]]:
        out = {}
        for i, locus in enumerate(LOCI):
            pair = [h1[i], h2[i]]
            rng.shuffle(pair)  # no phase may leak through the order of the typings
            out[locus] = pair
        return out

    relatives: list[dict[str, Any]] = []
    truth.father_typed = rng.random() < keep_parent
    truth.mother_typed = rng.random() < keep_parent
    if truth.father_typed:
        relatives.append({"id": "F", "relationship": "father", "hla": typing(a, b)})
    if truth.mother_typed:
        relatives.append({"id": "M", "relationship": "mother", "hla": typing(c, d)})
    for sid in ids[1:]:
        relatives.append({"id": sid, "relationship": rng.choice(["brother", "sister"]),
                          "hla": typing(truth.paternal[sid], truth.maternal[sid])})
    data = {"format": "everydonor.case/1",
            "patient": {"id": "P", "hla": typing(truth.paternal["P"], truth.maternal["P"])},
            "relatives": relatives}
    return parse_case(data, today=dt.date(2026, 11, 25)), truth


@dataclass
class Tally:
    families: int = 0
    recombinant_families: int = 0
    excluded_coincidental: int = 0
    beyond_model: int = 0  # more recombinant meioses than the model allows: inconsistent is right
    siblings: int = 0
    determined: int = 0
    wrong: list[str] = field(default_factory=list)
    full_nonrecomb_families: int = 0
    full_nonrecomb_exact: int = 0
    determined_shared: int = 0
    max_recombinations: int = 2
    flag_misattributed: list[str] = field(default_factory=list)

    def check(self, case: Case, truth: Truth, doc: dict[str, Any], tag: str) -> None:
        self.families += 1
        if truth.recombinant:
            self.recombinant_families += 1
        sibs = [p.id for p in case.relatives if p.id.startswith("S")]
        if any(truth.coincidental(s) for s in sibs):
            self.excluded_coincidental += 1
            return
        if truth.crossovers > self.max_recombinations:
            self.beyond_model += 1
            return
        if not doc["consistent"]:
            self.wrong.append(f"{tag}: reported inconsistent")
            return
        full = truth.father_typed and truth.mother_typed and not truth.recombinant
        exact = True
        for sid in sibs:
            r = next(x for x in doc["relatives"] if x["id"] == sid)
            relation, shared = truth.relation(sid)
            self.siblings += 1
            if r["hla_relation"] != "undetermined":
                self.determined += 1
                if r["hla_relation"] != relation:
                    self.wrong.append(f"{tag} {sid}: {r['hla_relation']} != {relation}")
            if r["shared"] is not None:
                self.determined_shared += 1
                if r["shared"] != shared:
                    self.wrong.append(f"{tag} {sid}: shared {r['shared']} != {shared}")
            if r["recombinant"] and sid not in truth.recombinant:
                # the flag follows the fewest-crossover explanation: counted, not a wrong answer
                self.flag_misattributed.append(f"{tag} {sid}")
            if (r["hla_relation"], r["shared"]) != (relation, shared):
                exact = False
        if full:
            self.full_nonrecomb_families += 1
            self.full_nonrecomb_exact += exact
            if not exact:
                self.wrong.append(f"{tag}: fully typed, non-recombinant, not recovered exactly")


def run(n: int, seed: int, reducer: Any, **kw: Any) -> Tally:
    from everydonor.family.analysis import analyse_family

    haps, cum = load_haplotypes()
    rng = random.Random(seed)
    tally = Tally()
    for i in itertools.count():
        if i >= n:
            break
        case, truth = simulate(rng, haps, cum, **kw)
        doc = analyse_family(case, reducer).document
        tally.check(case, truth, doc, f"family {i} (seed {seed})")
    return tally
