"""Typings pre-expanded once, at import, to every level donor search needs.

A registry holds millions of donors but far fewer distinct typings, so each distinct typing text
is interpreted once — parsed, checked against the release, expanded to its alleles and reduced to
lgx (the matching level, g groups), G groups, P groups and WHO serological equivalents — and the
donor store keeps the answer. A search then compares integer ids; it never re-reads a name.

Pure: the reducer (release tables + MAC list) is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from everydonor.errors import InvalidHlaName
from everydonor.hla.designation import TypingKind, parse_typing
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution, sort_names

DR_FAMILY = frozenset({Locus.DRB1, Locus.DRB3, Locus.DRB4, Locus.DRB5})


@dataclass(frozen=True, slots=True)
class TypingExpansion:
    """One typing at every level: ``lgx`` (matching), ``g``, ``p``, ``serology``."""

    text: str
    locus: Locus
    kind: str
    lgx: tuple[str, ...]
    g: tuple[str, ...]
    p: tuple[str, ...]
    serology: tuple[str, ...]
    alleles: int

    @property
    def has_null(self) -> bool:
        """Whether the typing may be a null allele (an lgx name of its own that ends in N)."""
        return any(x.endswith("N") for x in self.lgx)

    @property
    def unambiguous(self) -> bool:
        return len(self.lgx) == 1


def expand_typing(reducer: Reducer, text: str, locus: Locus) -> TypingExpansion:
    """Interpret ``text`` as a typing of ``locus``; raises the HLA core's errors (value named).

    >>> expand_typing(reducer, "A*01:01", Locus.A).lgx      # doctest: +SKIP
    ('A*01:01',)
    """
    typing = parse_typing(text)
    if typing.is_untyped:
        raise InvalidHlaName(f"{text!r} is untyped; an untyped locus has no expansion",
                             value=text, locus=locus.value)
    if typing.locus is not locus and not (
        typing.kind is TypingKind.SEROLOGY and typing.locus in DR_FAMILY and locus in DR_FAMILY
    ):
        found = typing.locus.value if typing.locus else "no locus"
        raise InvalidHlaName(f"{text!r} is a typing of {found}, given as {locus.value}",
                             value=text, locus=locus.value)
    alleles = sorted(reducer.alleles_of(typing))
    tables = {res: reducer.allele_table(res) for res in (Resolution.LGX, Resolution.G,
                                                         Resolution.P)}
    lgx = sort_names({tables[Resolution.LGX].get(a) or reducer.ref.lgx_of(a) for a in alleles})
    g = sort_names({tables[Resolution.G].get(a, a) for a in alleles})
    p = sort_names({tables[Resolution.P].get(a, a) for a in alleles})
    antigens, _ = reducer.serology_of(alleles)
    serology = sorted({a.name for a in antigens})
    return TypingExpansion(typing.text.removeprefix("HLA-"), locus, typing.kind.value,
                           tuple(lgx), tuple(g), tuple(p), tuple(serology), len(alleles))
