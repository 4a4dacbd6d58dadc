"""Reduction of typings to a target resolution: ``2field``, ``g``, ``p``, ``lgx``, ``serology``.

The :class:`Reducer` holds plain lookup tables (allele → G, P, lgx, 2-field, serology) built from
one release and memoises whole typings, so that reducing millions of typings is a dictionary
lookup per typing. Answers are those of py-ard's ``redux`` (proved on every allele of the
release in ``tests/adapters/test_pyard_agreement.py``; the deliberate differences are listed in
ARCHITECTURE.md).

Example (``ref`` from ``everydonor.adapters.reference.imgt.load_reference()``)::

    r = Reducer(ref)
    r.reduce_text("A*01:01:01:01", Resolution.G)        # 'A*01:01:01G'
    r.reduce_many(["B*15:01", "A*02:XX"], Resolution.LGX)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from everydonor.errors import EverydonorError
from everydonor.hla.allele import allele_sort_key
from everydonor.hla.designation import (
    MacDictionary,
    Typing,
    TypingKind,
    expand,
    mac_names,
    parse_typing,
)
from everydonor.hla.reference import HlaReference, Resolution
from everydonor.hla.serology import Antigen


@dataclass(frozen=True, slots=True)
class Reduction:
    """The reduction of one typing.

    ``output`` is a single name, a ``/``-separated list when the typing stays ambiguous at the
    target level, or None when there is no answer (untyped locus, or no serological
    equivalent: ``note`` says why).
    """

    input: str
    output: str | None
    resolution: Resolution
    kind: TypingKind
    ambiguous: bool
    n_alleles: int
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"input": self.input, "output": self.output}
        out["kind"] = self.kind.value
        out["ambiguous"] = self.ambiguous
        out["alleles"] = self.n_alleles
        if self.note:
            out["note"] = self.note
        return out


class Reducer:
    """Reduces typings with lookup tables built from ``ref`` (and an optional MAC list).

    Tables, per target resolution, built on first use:

    * every allele name of the release, full or truncated (``A*01:01``), → its reduction;
    * every allele family (``A*01``, the XX code) → its reduction;
    * every typing text seen → its answer (so a registry's repeated typings cost one lookup).

    Allele names, allele strings, MACs and XX codes reduce *name by name* through these
    tables, as py-ard does (a MAC ``A*01:AB`` is the allele string ``A*01:01/A*01:02``; an XX
    code the list of its 2-field names); G/P/lg groups and serological antigens reduce allele
    by allele.
    """

    def __init__(self, ref: HlaReference, macs: MacDictionary | None = None) -> None:
        self.ref = ref
        self.macs = macs
        self._per_allele: dict[Resolution, dict[str, str]] = {
            Resolution.G: {a: ref.g_of(a) for a in ref.alleles},
            Resolution.P: {a: ref.p_of(a) for a in ref.alleles},
            Resolution.LGX: {a: ref.lgx_of(a) for a in ref.alleles},
            Resolution.TWO_FIELD: {a: ref.two_field_of(a) for a in ref.alleles},
        }
        self._names: dict[Resolution, dict[str, tuple[str, ...]]] = {}
        self._rank: dict[Resolution, dict[str, int]] = {}
        self._families: dict[tuple[Resolution, str], tuple[str, ...]] = {}
        self._texts: dict[Resolution, dict[str, str]] = {}
        self._refused: dict[tuple[Resolution, str], EverydonorError] = {}
        self._expansions: dict[str, frozenset[str]] = {}

    @property
    def release(self) -> str:
        return self.ref.release

    def alleles_of(self, typing: Typing) -> frozenset[str]:
        """The alleles of the release a typing covers (memoised; see :func:`expand`)."""
        hit = self._expansions.get(typing.text)
        if hit is None:
            hit = self._expansions[typing.text] = frozenset(expand(typing, self.ref, self.macs))
        return hit

    # -- tables -------------------------------------------------------------------------------
    def allele_table(self, resolution: Resolution) -> dict[str, str]:
        """The plain lookup table ``full allele name → reduced name`` (not serology)."""
        return self._per_allele[resolution]

    def name_table(self, to: Resolution) -> dict[str, tuple[str, ...]]:
        """``allele name (full or truncated) → reduced names`` for ``to`` (not serology)."""
        if to is Resolution.SEROLOGY:
            raise ValueError("serology has no name table: antigens are read per allele")
        table = self._names.get(to)
        if table is None:
            per_allele = self._per_allele[to]
            table = {a: (r,) for a, r in per_allele.items()}
            for name in self.ref.by_prefix:
                if ":" in name and name not in table:
                    table[name] = tuple(sorted(self._reduce_truncated(name, to), key=allele_sort_key))
            outputs = {r for rs in table.values() for r in rs}
            self._rank[to] = {n: i for i, n in enumerate(sorted(outputs, key=allele_sort_key))}
            self._names[to] = table
        return table

    def _text_table(self, to: Resolution) -> dict[str, str]:
        """``typing text → answer``, seeded with every allele name of the release."""
        texts = self._texts.get(to)
        if texts is None:
            texts = self._texts[to] = (
                {} if to is Resolution.SEROLOGY
                else {n: "/".join(rs) for n, rs in self.name_table(to).items()})
        return texts

    def build_tables(self, to: Resolution) -> None:
        """Build every table for ``to`` now (names and all XX families), not on first use.

        The registry-scale path calls this once before reducing millions of typings, as py-ard
        builds its database before its first ``redux``. Serology answers are memoised as they
        come (there is nothing to build ahead).
        """
        if to is Resolution.SEROLOGY:
            return
        self.name_table(to)
        for family in self.ref.by_prefix:
            if ":" not in family and "*" in family:
                locus, _, first = family.partition("*")
                code = f"{locus}*{first}:XX"
                try:
                    self._text_table(to)[code] = "/".join(self._family(parse_typing(code), to))
                except EverydonorError:
                    continue  # a family outside the typing loci' XX syntax

    def _reduce_truncated(self, name: str, to: Resolution) -> set[str]:
        """Reduce a truncated allele name (``A*01:01``, ``A*01:01:01``).

        It follows py-ard: at G, P and lgx only its alleles that belong to a group decide
        (``C*02:10`` → ``C*02:02``); a name none of whose alleles is grouped stays as it is
        (``C*06:53`` at G is ``C*06:53``).
        """
        table = self._per_allele[to]
        alleles = self.ref.expand_prefix(name)
        if to is Resolution.TWO_FIELD:
            return {table[a] for a in alleles}
        if to is Resolution.LGX:
            return {self.ref.lgx_of(name)}
        groups = self.ref.p_group if to is Resolution.P else self.ref.g_group
        grouped = [a for a in alleles if a in groups]
        if not grouped:
            return {name}
        return {table[a] for a in grouped}

    def _family(self, typing: Typing, to: Resolution) -> tuple[str, ...]:
        """An XX code: the union of its 2-field names' reductions (splits of a broad included)."""
        key = (to, f"{typing.locus}*{typing.first_field}")
        hit = self._families.get(key)
        if hit is None:
            names = self.name_table(to)
            two_field_names = {self.ref.two_field_of(a) for a in expand(typing, self.ref)}
            hit = tuple(sorted({r for n in two_field_names for r in names[n]}, key=allele_sort_key))
            self._families[key] = hit
        return hit

    def _outputs(self, typing: Typing, to: Resolution,
                 alleles: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """Reduced names of a typing at ``to`` (not serology); raises for unknown names.

        ``alleles``: the typing's expansion when the caller already has it."""
        kind = typing.kind
        if kind is TypingKind.XX:
            return self._family(typing, to)
        names = self.name_table(to)
        if kind in (TypingKind.ALLELE, TypingKind.ALLELE_STRING, TypingKind.MAC):
            if kind is TypingKind.MAC:
                if self.macs is None:
                    expand(typing, self.ref, None)  # raises the "no MAC list" error
                assert self.macs is not None
                wanted = mac_names(typing, self.ref, self.macs)  # notes any MacGap
                found = [names[n] for n in wanted if n in names]
                if not found:
                    expand(typing, self.ref, self.macs)  # raises UnknownAllele, naming them
            else:
                wanted = [m.name for m in typing.members]
                if any(n not in names for n in wanted):
                    expand(typing, self.ref, self.macs)  # raises UnknownAllele with a hint
                found = [names[n] for n in wanted]
            out = {r for rs in found for r in rs}
            return tuple(sorted(out, key=allele_sort_key)) if len(out) > 1 else tuple(out)
        table = self._per_allele[to]
        if alleles is None:
            alleles = expand(typing, self.ref, self.macs)
        return tuple(sorted({table[a] for a in alleles}, key=allele_sort_key))

    # -- serology -----------------------------------------------------------------------------
    def serology_of(self, alleles: Sequence[str]) -> tuple[list[Antigen], str | None]:
        antigens: set[Antigen] = set()
        reasons: set[str] = set()
        for a in alleles:
            assignment = self.ref.serology.get(a)
            if assignment is None:
                reasons.add("not listed in rel_dna_ser")
                continue
            antigens.update(assignment.antigens)
            if not assignment.antigens and assignment.none_reason:
                reasons.add(assignment.none_reason)
        ordered = sorted(antigens, key=lambda x: (x.locus.value, int(x.number)))
        note = None
        if not ordered:
            note = "; ".join(sorted(reasons)) or "no serological equivalent"
        elif reasons:
            note = "some alleles have no serological equivalent: " + "; ".join(sorted(reasons))
        return ordered, note

    # -- typings ------------------------------------------------------------------------------
    def reduce(self, typing: Typing, to: Resolution) -> Reduction:
        """Reduce one parsed typing. Raises an :class:`EverydonorError` for unknown names."""
        if typing.is_untyped:
            return Reduction(typing.text, None, to, typing.kind, False, 0, "untyped")
        alleles = expand(typing, self.ref, self.macs)
        if to is Resolution.SEROLOGY:
            if typing.antigen is not None:
                return Reduction(typing.text, typing.antigen.name, to, typing.kind, False,
                                 len(alleles))
            antigens, note = self.serology_of(alleles)
            output = "/".join(a.name for a in antigens) or None
            return Reduction(typing.text, output, to, typing.kind, len(antigens) > 1,
                             len(alleles), note)
        names = self._outputs(typing, to, alleles)
        output = "/".join(names)
        nulls = sum(1 for a in alleles if self.ref.is_null(a))
        note = None
        if nulls and nulls == len(alleles) and not output.endswith("N"):
            note = ("null allele (not expressed); reduced by its antigen-recognition exons, "
                    f"which it shares with {output}")
        elif nulls and nulls < len(alleles):
            note = f"{nulls} of the {len(alleles)} alleles covered are null (not expressed)"
        return Reduction(typing.text, output, to, typing.kind, len(names) > 1, len(alleles),
                         note)

    def reduce_text(self, text: str, to: Resolution) -> str:
        """Fast path: reduce one typing given as text. Untyped gives ``""``.

        A typing seen before, or any allele name of the release, is one dictionary lookup.
        """
        texts = self._texts.get(to) or self._text_table(to)
        hit = texts.get(text)
        if hit is not None:
            return hit
        if "/" in text and to is not Resolution.SEROLOGY:
            fast = self._allele_string(text, to)
            if fast is not None:
                texts[text] = fast
                return fast
        refused = self._refused.get((to, text))
        if refused is not None:
            raise refused.with_traceback(None)
        try:
            typing = parse_typing(text)
            if to is Resolution.SEROLOGY or typing.kind not in _NAME_LEVEL:
                result = self.reduce(typing, to).output or ""
            else:
                result = "/".join(self._outputs(typing, to))
        except EverydonorError as exc:
            self._refused[(to, text)] = exc  # the same bad typing recurs in registry files
            raise
        texts[text] = result
        return result

    def _allele_string(self, text: str, to: Resolution) -> str | None:
        """``A*01:01/A*02:01`` whose members are all names of the release, straight from the
        name table; None sends anything else (shorthand, HLA- prefix, unknown names, mixed
        loci) to the full parser, which also produces the errors."""
        return _allele_string(text, self._names.get(to) or self.name_table(to), self._rank[to])

    def reduce_many(self, texts: Iterable[str], to: Resolution,
                    on_error: str = "raise") -> list[str | None]:
        """Reduce many typings (the registry-scale path): one lookup per typing seen before.

        ``on_error="raise"`` stops at the first refused typing; ``"none"`` gives None for it
        and goes on (use :meth:`reduce_text` on that typing for the error itself).
        """
        if on_error not in ("raise", "none"):
            raise ValueError("on_error must be 'raise' or 'none'")
        reduce_text = self.reduce_text
        table = self._text_table(to)
        get = table.get
        names = None if to is Resolution.SEROLOGY else self.name_table(to)
        rank = self._rank.get(to, {})
        out: list[str | None] = []
        append = out.append
        for text in texts:
            hit = get(text)
            if hit is not None:
                append(hit)
                continue
            if names is not None and "/" in text:
                hit = _allele_string(text, names, rank)
                if hit is not None:
                    table[text] = hit
                    append(hit)
                    continue
            try:
                append(reduce_text(text, to))
            except EverydonorError:
                if on_error == "raise":
                    raise
                append(None)
        return out


def _allele_string(text: str, names: dict[str, tuple[str, ...]], rank: dict[str, int]
                   ) -> str | None:
    first, _, second = text.partition("/")
    star = first.find("*")
    if star < 1:
        return None
    locus = first[: star + 1]
    if "/" not in second:  # the common case: two names
        a, b = names.get(first), names.get(second)
        if a is None or b is None or not second.startswith(locus):
            return None
        if len(a) == 1 and len(b) == 1:
            x, y = a[0], b[0]
            if x == y:
                return x
            return f"{x}/{y}" if rank[x] < rank[y] else f"{y}/{x}"
    parts = text.split("/")
    out: set[str] = set()
    for part in parts:
        hit = names.get(part)
        if hit is None or not part.startswith(locus):
            return None
        out.update(hit)
    if len(out) == 1:
        return out.pop()
    return "/".join(sorted(out, key=rank.__getitem__))


_NAME_LEVEL = frozenset({TypingKind.ALLELE, TypingKind.ALLELE_STRING, TypingKind.MAC,
                         TypingKind.XX})
