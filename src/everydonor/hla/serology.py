"""WHO serological antigens (``A2``, ``B44``, ``Cw7``, ``DR15``, ``DQ7``, ``DR52``) and their
broad / split / associated relations (IPD-IMGT/HLA ``rel_ser_ser.txt``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from everydonor.errors import InvalidHlaName
from everydonor.hla.locus import Locus

SEROLOGY_RE = re.compile(r"^(?P<prefix>A|B|Cw|C|DR|DQ|DP)(?P<number>\d{1,4})$")
_PUBLIC_EPITOPES = {"Bw4", "Bw6", "BW4", "BW6"}


@dataclass(frozen=True, slots=True)
class Antigen:
    """A serological antigen, e.g. ``Antigen(Locus.B, "44")`` named ``B44``."""

    locus: Locus
    number: str

    @property
    def name(self) -> str:
        prefix = self.locus.serology_prefix
        assert prefix is not None  # antigens are only made for loci that have serology
        return f"{prefix}{self.number}"

    def __str__(self) -> str:
        return self.name


def _dr_locus(number: str) -> Locus:
    return {"51": Locus.DRB5, "52": Locus.DRB3, "53": Locus.DRB4}.get(number, Locus.DRB1)


def antigen_for(locus: Locus, number: str) -> Antigen:
    """The antigen with this number as ``rel_dna_ser.txt`` writes it for an allele of ``locus``."""
    return Antigen(locus, number.lstrip("0") or "0")


def parse_antigen(text: str) -> Antigen:
    """Parse a WHO serological antigen name.

    >>> parse_antigen("DR15").name, parse_antigen("Cw7").locus, parse_antigen("DR52").locus
    ('DR15', <Locus.C: 'C'>, <Locus.DRB3: 'DRB3'>)
    """
    body = text.strip().removeprefix("HLA-")
    if body in _PUBLIC_EPITOPES:
        raise InvalidHlaName(
            f"{text!r} is a public epitope (Bw4/Bw6), not an antigen of one locus; give the B "
            "antigen (e.g. 'B44') or allele",
            value=text,
        )
    m = SEROLOGY_RE.match(body)
    if m is None:
        raise InvalidHlaName(
            f"{text!r} is not a serological antigen name (expected e.g. 'A2', 'B44', 'Cw7', 'DR15')",
            value=text,
        )
    prefix, number = m.group("prefix"), m.group("number").lstrip("0") or "0"
    if prefix == "DP":
        raise InvalidHlaName(
            f"{text!r}: DP antigens have no WHO serological equivalents in IPD-IMGT/HLA; "
            "type DPB1 by DNA",
            value=text,
        )
    locus = {"A": Locus.A, "B": Locus.B, "Cw": Locus.C, "C": Locus.C, "DQ": Locus.DQB1}.get(prefix)
    if locus is None:
        locus = _dr_locus(number)
    return Antigen(locus, number)


def looks_like_serology(text: str) -> bool:
    body = text.strip().removeprefix("HLA-")
    return bool(SEROLOGY_RE.match(body)) or body in _PUBLIC_EPITOPES


class SerologyBasis(StrEnum):
    """How ``rel_dna_ser.txt`` relates an allele to its antigen."""

    UNAMBIGUOUS = "unambiguous"
    POSSIBLE = "possible"
    ASSUMED = "assumed"
    EXPERT = "expert"


@dataclass(frozen=True, slots=True)
class SerologyRelations:
    """Broad → splits and split → associated antigens, from ``rel_ser_ser.txt``.

    >>> rel = SerologyRelations.from_rows([("B", "12", "44/45", "")])
    >>> sorted(a.name for a in rel.splits_of(parse_antigen("B12")))
    ['B44', 'B45']
    >>> rel.broad_of(parse_antigen("B44")).name
    'B12'
    """

    splits: dict[Antigen, tuple[Antigen, ...]]
    associated: dict[Antigen, tuple[Antigen, ...]]

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str, str]]) -> SerologyRelations:
        splits: dict[Antigen, tuple[Antigen, ...]] = {}
        associated: dict[Antigen, tuple[Antigen, ...]] = {}
        for prefix, number, split_list, assoc_list in rows:
            try:
                parent = parse_antigen(f"{prefix}{number}")
            except InvalidHlaName:
                continue  # Dw (cellular) specificities are not typing antigens
            if split_list:
                splits[parent] = tuple(
                    parse_antigen(f"{prefix}{n}") for n in split_list.split("/") if n
                )
            if assoc_list:
                associated[parent] = tuple(
                    parse_antigen(f"{prefix}{n}") for n in assoc_list.split("/") if n
                )
        return cls(splits, associated)

    def splits_of(self, antigen: Antigen) -> tuple[Antigen, ...]:
        return self.splits.get(antigen, ())

    def associated_of(self, antigen: Antigen) -> tuple[Antigen, ...]:
        return self.associated.get(antigen, ())

    def broad_of(self, antigen: Antigen) -> Antigen | None:
        for broad, splits in self.splits.items():
            if antigen in splits:
                return broad
        for parent, assoc in self.associated.items():
            if antigen in assoc:
                return self.broad_of(parent) or parent
        return None

    def family(self, antigen: Antigen) -> frozenset[Antigen]:
        """The antigen with every antigen it covers: its splits, their associated antigens."""
        out = {antigen}
        stack = [antigen]
        while stack:
            cur = stack.pop()
            for child in (*self.splits_of(cur), *self.associated_of(cur)):
                if child not in out:
                    out.add(child)
                    stack.append(child)
        return frozenset(out)
