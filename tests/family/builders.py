"""Build case files from haplotypes, so that tests read like pedigrees."""

from __future__ import annotations

import datetime as dt
from typing import Any

from everydonor.case import Case, parse_case

LOCI = ("A", "B", "DRB1")
# Four parental haplotypes with no allele in common (A, B, DRB1).
H = {
    "a": ("A*02:01", "B*46:01", "DRB1*09:01"),
    "b": ("A*24:02", "B*40:01", "DRB1*12:01"),
    "c": ("A*11:01", "B*51:01", "DRB1*15:01"),
    "d": ("A*33:03", "B*58:01", "DRB1*03:01"),
    "e": ("A*01:01", "B*08:01", "DRB1*03:02"),
    "f": ("A*03:01", "B*07:02", "DRB1*04:01"),
    "x": ("A*26:01", "B*35:01", "DRB1*11:01"),
}


def hla(h1: tuple[str, ...], h2: tuple[str, ...], loci: tuple[str, ...] = LOCI) -> dict[str, Any]:
    return {loc: [h1[LOCI.index(loc)], h2[LOCI.index(loc)]] for loc in loci}


def person(pid: str, relationship: str | None, h1: str | tuple[str, ...],
           h2: str | tuple[str, ...], **extra: Any) -> dict[str, Any]:
    one = H[h1] if isinstance(h1, str) else h1
    two = H[h2] if isinstance(h2, str) else h2
    out: dict[str, Any] = {"id": pid, "hla": hla(one, two, extra.pop("loci", LOCI))}
    if relationship:
        out["relationship"] = relationship
    out.update(extra)
    return out


def case(*relatives: dict[str, Any],
         patient: tuple[str | tuple[str, ...], str | tuple[str, ...]] = ("a", "c")) -> Case:
    data = {"format": "everydonor.case/1",
            "patient": person("P1", None, *patient, sex="male", age=30),
            "relatives": list(relatives)}
    return parse_case(data, today=dt.date(2026, 11, 25))


def recombinant(first: str, second: str, switch_at: int) -> tuple[str, ...]:
    """A haplotype made of ``first`` before locus index ``switch_at`` and ``second`` after."""
    return tuple(H[first][i] if i < switch_at else H[second][i] for i in range(len(LOCI)))
