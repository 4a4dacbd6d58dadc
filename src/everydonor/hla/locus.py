"""HLA loci used in transplantation typing, and their serological names."""

from __future__ import annotations

from enum import StrEnum


class Locus(StrEnum):
    """A typing locus, named as in IPD-IMGT/HLA (the text before ``*``)."""

    A = "A"
    B = "B"
    C = "C"
    DRB1 = "DRB1"
    DQB1 = "DQB1"
    DPB1 = "DPB1"
    DRB3 = "DRB3"
    DRB4 = "DRB4"
    DRB5 = "DRB5"
    DQA1 = "DQA1"
    DPA1 = "DPA1"

    @property
    def is_class_i(self) -> bool:
        return self in (Locus.A, Locus.B, Locus.C)

    @property
    def serology_prefix(self) -> str | None:
        """Prefix of WHO serological antigens of this locus (``Cw`` for C), None if none."""
        return _SEROLOGY_PREFIX.get(self)


_SEROLOGY_PREFIX: dict[Locus, str] = {
    Locus.A: "A",
    Locus.B: "B",
    Locus.C: "Cw",
    Locus.DRB1: "DR",
    Locus.DRB3: "DR",
    Locus.DRB4: "DR",
    Locus.DRB5: "DR",
    Locus.DQB1: "DQ",
}

#: Loci in the order typing reports list them.
LOCUS_ORDER: tuple[Locus, ...] = tuple(Locus)

_BY_NAME = {locus.value: locus for locus in Locus}


def parse_locus(text: str) -> Locus | None:
    """The :class:`Locus` named ``text`` (``"HLA-A"`` or ``"A"``), or None if it is not one."""
    name = text.removeprefix("HLA-")
    return _BY_NAME.get(name)
