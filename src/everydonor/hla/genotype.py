"""A person's HLA: two typings per locus (homozygosity explicit), across loci (a phenotype).

A locus typed homozygous is written with the typing twice (``["A*02:01", "A*02:01"]``), as the
case format says; one typing alone is refused, because "homozygous" and "second typing not
reported" must never be confused. A locus left out is *untyped*: it is listed, never counted as a
match. A GL string may carry genotype ambiguity (``|``): it is kept as alternatives, a result to
report, not an error.

>>> p = phenotype_from_mapping({"A": ["A*02:01", "A*02:01"], "B": ["B44", "B*08:01"]})
>>> p.genotype(Locus.A).homozygous, [loc.value for loc in p.untyped_loci()][:2]
(True, ['C', 'DRB1'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from everydonor.errors import EverydonorError, InvalidHlaName
from everydonor.hla.allele import case_hint
from everydonor.hla.designation import Typing, TypingKind, parse_typing
from everydonor.hla.glsc import Glsc, looks_like_glsc, parse_glsc
from everydonor.hla.glstring import AlleleList, GlString, Haplotype, parse_gl
from everydonor.hla.locus import LOCUS_ORDER, Locus, parse_locus


@dataclass(frozen=True, slots=True)
class LocusGenotype:
    """The two typings of one locus, in the order received."""

    locus: Locus
    typings: tuple[Typing, Typing]

    @property
    def homozygous(self) -> bool:
        """Both typings written the same (the lab's explicit homozygous report)."""
        a, b = self.typings
        return a.text.removeprefix("HLA-") == b.text.removeprefix("HLA-")

    @property
    def untyped(self) -> bool:
        return all(t.is_untyped for t in self.typings)

    def gl(self) -> str:
        return "+".join(t.text.removeprefix("HLA-") or f"{self.locus.value}*UUUU"
                        for t in self.typings)


@dataclass(frozen=True, slots=True)
class Phenotype:
    """Genotypes of the typed loci of one person.

    ``loci`` maps each typed locus to its alternatives: one :class:`LocusGenotype`, or several
    when a GL genotype list (``|``) leaves the genotype ambiguous.
    """

    loci: Mapping[Locus, tuple[LocusGenotype, ...]]
    person: str | None = None
    phased: bool = False
    notes: tuple[str, ...] = field(default=())
    #: GL String Codes the typings were given as: ``(field, code)``, field ``hla.A`` or
    #: ``hla_gl`` (their versions are compared with the loaded release by ``release_flags``).
    codes: tuple[tuple[str, Glsc], ...] = field(default=())

    def typed_loci(self) -> list[Locus]:
        return [loc for loc in LOCUS_ORDER if loc in self.loci]

    def untyped_loci(self, among: Iterable[Locus] = LOCUS_ORDER) -> list[Locus]:
        return [loc for loc in among if loc not in self.loci]

    def is_ambiguous(self, locus: Locus) -> bool:
        return len(self.loci.get(locus, ())) > 1

    def genotype(self, locus: Locus) -> LocusGenotype:
        """The genotype of a typed locus; raises if untyped or if a genotype list leaves a choice
        (use ``loci[locus]`` to see the alternatives)."""
        options = self.loci.get(locus)
        if not options:
            raise EverydonorError(f"locus {locus.value} is untyped", field=locus.value,
                                  person=self.person)
        if len(options) > 1:
            raise EverydonorError(
                f"locus {locus.value} has {len(options)} alternative genotypes (GL '|'); "
                "choose from loci[locus]", field=locus.value, person=self.person)
        return options[0]

    def gl(self) -> str:
        """The phenotype as a GL string (loci in report order, ``|`` for alternatives)."""
        return "^".join("|".join(g.gl() for g in self.loci[loc]) for loc in self.typed_loci())


def locus_genotype(locus: Locus, typings: Sequence[str], *, person: str | None = None
                   ) -> LocusGenotype:
    """Two typings of ``locus``; errors name the person, the field (``hla.A``) and the value."""
    where = f"hla.{locus.value}"
    if not isinstance(typings, list | tuple) or len(typings) != 2:
        got = typings if not isinstance(typings, list | tuple) else list(typings)
        raise InvalidHlaName(
            f"{locus.value} needs exactly two typings (repeat the typing for a homozygous locus), "
            f"got {got!r}", value=str(got), field=where, person=person)
    parsed = []
    for text in typings:
        try:
            typing = parse_typing(text)
        except EverydonorError as exc:
            exc.locus = exc.locus or locus.value
            raise exc.with_context(person=person, field=where) from None
        if typing.locus is not None and typing.locus is not locus and not (
            typing.kind is TypingKind.SEROLOGY and _dr_family(locus, typing.locus)
        ):
            raise InvalidHlaName(
                f"{text!r} is a typing of {typing.locus.value}, given under {locus.value}",
                value=text, field=where, person=person)
        parsed.append(typing)
    if parsed[0].is_untyped != parsed[1].is_untyped:
        raise InvalidHlaName(
            f"{locus.value}: one typing is missing ({typings[0]!r}, {typings[1]!r}); leave the "
            "locus out if it was not typed, or repeat the typing if homozygous",
            value=f"{typings[0]}+{typings[1]}", field=where, person=person)
    return LocusGenotype(locus, (parsed[0], parsed[1]))


def _dr_family(a: Locus, b: Locus) -> bool:
    dr = {Locus.DRB1, Locus.DRB3, Locus.DRB4, Locus.DRB5}
    return a in dr and b in dr


def phenotype_from_mapping(hla: Mapping[str, Sequence[str]], *, person: str | None = None
                           ) -> Phenotype:
    """From the case file's ``hla`` object: ``{"A": ["A*02:01", "A*11:01"], …}``."""
    loci: dict[Locus, tuple[LocusGenotype, ...]] = {}
    codes: list[tuple[str, Glsc]] = []
    for name, typings in hla.items():
        locus = parse_locus(name) if isinstance(name, str) else None
        if locus is None:
            supported = ", ".join(loc.value for loc in Locus)
            hint = case_hint(name) if isinstance(name, str) else ""
            raise InvalidHlaName(f"{name!r} is not a typing locus ({supported}){hint}",
                                 value=str(name), field=f"hla.{name}", person=person)
        if looks_like_glsc(typings):
            assert isinstance(typings, str)
            options = _locus_from_code(locus, typings, person)
            codes.append((f"hla.{locus.value}", parse_glsc(typings)))
            if options:
                loci[locus] = options
            continue
        genotype = locus_genotype(locus, typings, person=person)
        if not genotype.untyped:
            loci[locus] = (genotype,)
    return Phenotype(loci, person, codes=tuple(codes))


def _locus_from_code(locus: Locus, text: str, person: str | None
                     ) -> tuple[LocusGenotype, ...]:
    """One locus given as a GL String Code (``hla#3.58.0#HLA-A*02:01+HLA-A*11:01``)."""
    where = f"hla.{locus.value}"
    try:
        sub = phenotype_from_gl(text, person=person)
    except EverydonorError as exc:
        raise exc.with_context(person=person, field=where) from None
    others = [loc.value for loc in sub.loci if loc is not locus]
    if others:
        raise InvalidHlaName(f"the GL String Code under {where} also types "
                             f"{', '.join(others)}: give each locus its own code, or the whole "
                             "typing as hla_gl", value=text, field=where, person=person)
    return sub.loci.get(locus, ())


def phenotype_from_gl(text: str, *, person: str | None = None) -> Phenotype:
    """From a GL string (the case file's ``hla_gl``). Haplotypes (``~``) are split per locus
    and ``phased`` is set; genotype lists (``|``) become alternatives."""
    try:
        gl = parse_gl(text)
        codes = (("hla_gl", parse_glsc(text)),) if looks_like_glsc(text) else ()
    except EverydonorError as exc:
        raise exc.with_context(person=person, field="hla_gl") from None
    loci: dict[Locus, list[LocusGenotype]] = {}
    phased = False
    for block in gl.loci:
        for genotype in block.genotypes:
            copies = genotype.copies
            if len(copies) != 2:
                raise InvalidHlaName(
                    f"GL genotype {'+'.join(c.format() for c in copies)!r} has one copy; write "
                    "both (repeat it for a homozygous locus)", value=text, field="hla_gl",
                    person=person)
            phased = phased or any(len(c.alleles) > 1 for c in copies)
            per_locus = [_by_locus(c, text, person) for c in copies]
            if set(per_locus[0]) != set(per_locus[1]):
                raise InvalidHlaName(f"GL string {text!r}: the two copies name different loci",
                                     value=text, field="hla_gl", person=person)
            for locus, first in per_locus[0].items():
                second = per_locus[1][locus]
                entry = locus_genotype(locus, [first.format(), second.format()], person=person)
                if not entry.untyped:
                    loci.setdefault(locus, []).append(entry)
    return Phenotype({k: tuple(v) for k, v in loci.items()}, person, phased, codes=codes)


def _by_locus(copy: Haplotype, text: str, person: str | None) -> dict[Locus, AlleleList]:
    out: dict[Locus, AlleleList] = {}
    for allele_list in copy.alleles:
        token = allele_list.tokens[0]
        try:
            locus = parse_typing(token).locus
        except EverydonorError as exc:
            raise exc.with_context(person=person, field="hla_gl") from None
        if locus is None:
            raise InvalidHlaName(f"GL string {text!r}: {token!r} names no locus",
                                 value=text, field="hla_gl", person=person)
        if locus in out:
            raise InvalidHlaName(f"GL string {text!r}: locus {locus.value} twice in one copy",
                                 value=text, field="hla_gl", person=person)
        out[locus] = allele_list
    return out


def gl_of(phenotype: Phenotype) -> GlString:
    """The phenotype as a parsed :class:`GlString`."""
    return parse_gl(phenotype.gl())
