"""Reduction of typings to a target resolution: ``2field``, ``g``, ``p``, ``lgx``, ``serology``.

The :class:`Reducer` holds plain lookup tables (allele → G, P, lgx, 2-field, serology) built from
one release and memoises whole typings, so that reducing millions of typings is a dictionary
lookup per typing. Answers are those of py-ard's ``redux`` (proved on every allele of the
release in ``tests/adapters/test_pyard_agreement.py``).

>>> # r = Reducer(reference)       # reference built by everydonor.adapters.imgt
>>> # r.reduce_text("A*01:01:01:01", Resolution.G)  -> 'A*01:01:01G'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from everydonor.errors import EverydonorError
from everydonor.hla.allele import allele_sort_key
from everydonor.hla.designation import MacDictionary, Typing, TypingKind, expand, parse_typing
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


def _join(names: Iterable[str]) -> str:
    return "/".join(sorted(set(names), key=allele_sort_key))


class Reducer:
    """Reduces typings with lookup tables built from ``ref`` (and an optional MAC list)."""

    def __init__(self, ref: HlaReference, macs: MacDictionary | None = None) -> None:
        self.ref = ref
        self.macs = macs
        self._per_allele: dict[Resolution, dict[str, str]] = {
            Resolution.G: {a: ref.g_of(a) for a in ref.alleles},
            Resolution.P: {a: ref.p_of(a) for a in ref.alleles},
            Resolution.LGX: {a: ref.lgx_of(a) for a in ref.alleles},
            Resolution.TWO_FIELD: {a: ref.two_field_of(a) for a in ref.alleles},
        }
        self._memo: dict[tuple[str, Resolution], str] = {}

    @property
    def release(self) -> str:
        return self.ref.release

    # -- single alleles -----------------------------------------------------------------------
    def allele_table(self, resolution: Resolution) -> dict[str, str]:
        """The plain lookup table ``full allele name → reduced name`` (not serology)."""
        return self._per_allele[resolution]

    def _reduce_name(self, name: str, to: Resolution) -> set[str]:
        """Reduce one allele name, full or truncated (``A*01:01``).

        A truncated name follows py-ard: at G, P and lgx only its alleles that belong to a
        group decide (``C*02:10`` → ``C*02:02``); a name none of whose alleles is grouped
        stays as it is (``C*06:53`` at G is ``C*06:53``).
        """
        table = self._per_allele[to]
        hit = table.get(name)
        if hit is not None:
            return {hit}
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
        if to is Resolution.SEROLOGY and typing.antigen is not None:
            return Reduction(typing.text, typing.antigen.name, to, typing.kind, False,
                             len(alleles))
        if to is Resolution.SEROLOGY:
            antigens, note = self.serology_of(alleles)
            output = "/".join(a.name for a in antigens) or None
            return Reduction(typing.text, output, to, typing.kind, len(antigens) > 1,
                             len(alleles), note)
        table = self._per_allele[to]
        if typing.kind in (TypingKind.ALLELE, TypingKind.ALLELE_STRING):
            names = set()
            for member in typing.members:
                names |= self._reduce_name(member.name, to)
        else:
            names = {table[a] for a in alleles}
        return Reduction(typing.text, _join(names), to, typing.kind, len(names) > 1, len(alleles))

    def reduce_text(self, text: str, to: Resolution) -> str:
        """Fast path: reduce one typing given as text, memoised. Untyped gives ``""``."""
        key = (text, to)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        result = self.reduce(parse_typing(text), to).output or ""
        self._memo[key] = result
        return result

    def reduce_many(self, texts: Iterable[str], to: Resolution) -> list[str]:
        """Reduce many typings (the registry-scale path): one lookup per distinct typing."""
        memo = self._memo
        reduce_text = self.reduce_text
        out = []
        for text in texts:
            hit = memo.get((text, to))
            out.append(hit if hit is not None else reduce_text(text, to))
        return out


def reduce_text_safely(reducer: Reducer, text: str, to: Resolution) -> Reduction | EverydonorError:
    """Reduce, returning the error instead of raising it (for reports of many typings)."""
    try:
        return reducer.reduce(parse_typing(text), to)
    except EverydonorError as exc:
        return exc
