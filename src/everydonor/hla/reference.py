"""Reference tables of one IPD-IMGT/HLA release, as plain lookups.

:class:`HlaReference` is a value: built once per release by ``everydonor.adapters.reference.imgt`` (which
reads the files and caches the result) or, in unit tests, from a few hand-written rows with
:func:`build_reference`. Everything here is pure.

Per allele of the typing loci it knows: G group, P group, the lgx (ARD, 2-field) name,
serological equivalents (``rel_dna_ser.txt``), and null status; per name prefix (``A*01``,
``A*01:01``, ``A*01:01:01``) the alleles it covers; per antigen the alleles it covers.

The conventions follow py-ard (NMDP), the field's reference implementation, so that answers
are identical (a test proves it on every allele of the release):

* an allele outside any G (P) group is its own G (P) "group";
* G groups keep their official WHO names (``hla_nom_g.txt``); py-ard renames 39 of them after
  their first member, which changes the name, never the membership;
* lgx is the 2-field name of the *lowest-numbered* member of the allele's G group (the NMDP
  "lg" naming: ``C*02:10:01:01`` is in ``C*02:10:01G`` whose first member is ``C*02:02:37``,
  so lgx ``C*02:02``); a 2- or 3-field name whose alleles fall in lg groups of different
  names takes the lowest-numbered (py-ard issue #333: ``DPA1*02:07`` → ``DPA1*02:02``), and a
  full allele's lgx is read once more through that table; for an allele outside every G
  group, the 2-field name of its P group; else its own 2-field name. The null suffix is
  kept (``A*03:11N`` stays ``A*03:11N``; py-ard drops it, which would make a null allele
  read as expressed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from everydonor.hla.allele import allele_sort_key
from everydonor.hla.locus import Locus, parse_locus
from everydonor.hla.serology import Antigen, SerologyBasis, SerologyRelations, antigen_for

#: ``(locus with '*', '/'-separated fields list, group name)`` as in ``hla_nom_g/p.txt``.
GroupRow = tuple[str, str, str]
#: ``(locus with '*', fields, USA, PSA, ASA, EAE)`` as in ``rel_dna_ser.txt`` (a 7th HATS column
#: of releases >= 3.64 is accepted and ignored).
SerologyRow = tuple[str, ...]


class Resolution(StrEnum):
    """Targets of reduction."""

    TWO_FIELD = "2field"
    G = "g"
    P = "p"
    LGX = "lgx"
    SEROLOGY = "serology"


@dataclass(frozen=True, slots=True)
class SerologyAssignment:
    """The serological equivalents of one allele and how ``rel_dna_ser.txt`` assigns them.

    ``antigens`` is empty when the allele has none: ``null`` (``0``: not expressed),
    ``unknown`` (``?``), or no entry for the locus.
    """

    antigens: tuple[Antigen, ...]
    basis: SerologyBasis | None
    none_reason: str | None = None


@dataclass(frozen=True, slots=True)
class HlaReference:
    """Lookup tables of one release (typing loci only)."""

    release: str
    alleles: frozenset[str]
    g_group: Mapping[str, str]
    p_group: Mapping[str, str]
    g_lgx: Mapping[str, str]
    prefix_lgx: Mapping[str, str]
    serology: Mapping[str, SerologyAssignment]
    by_prefix: Mapping[str, tuple[str, ...]]
    group_members: Mapping[str, tuple[str, ...]]
    deleted: Mapping[str, str]
    relations: SerologyRelations
    antigen_alleles: Mapping[Antigen, tuple[str, ...]] = field(default_factory=dict)

    # -- per full allele ---------------------------------------------------------------------
    def g_of(self, allele: str) -> str:
        return self.g_group.get(allele, allele)

    def p_of(self, allele: str) -> str:
        return self.p_group.get(allele, allele)

    def lgx_of(self, name: str) -> str:
        """lgx of a full or truncated allele name (see the module docstring for the rules)."""
        bare = _strip_suffix(name)
        lgx = self.g_lgx.get(name) or self.prefix_lgx.get(bare)
        if lgx is not None:
            return self.prefix_lgx.get(lgx, lgx)
        p = self.p_group.get(name)
        lgx = two_field(p) if p is not None else two_field(name if name in self.alleles else bare)
        lgx = self.prefix_lgx.get(lgx, lgx)
        if name.endswith("N") and lgx == two_field(bare) and (
            lgx + "N" in self.by_prefix or lgx + "N" in self.alleles
        ):
            return lgx + "N"  # a null outside every G group stays visibly null
        return lgx

    def two_field_of(self, allele: str) -> str:
        """The 2-field WHO name of ``allele`` as it stands in this release.

        The expression suffix is carried only when every allele of the 2-field name has it
        (``A*01:04:01:01N`` → ``A*01:04N``, but ``A*01:01:38L`` → ``A*01:01``).
        """
        base = two_field(allele)
        suffix = allele[-1] if allele[-1].isalpha() else ""
        if suffix and base + suffix in self.by_prefix:
            return base + suffix
        return base

    def is_null(self, allele: str) -> bool:
        return allele.endswith("N")

    def expand_prefix(self, name: str) -> tuple[str, ...]:
        """Full alleles named by ``name`` (a full name, or a 1-3 field prefix)."""
        if name in self.alleles:
            return (name,)
        return self.by_prefix.get(name, ())


def two_field(name: str) -> str:
    """``A*01:01:01:01`` → ``A*01:01``; group suffixes dropped, 2-field names kept as they are."""
    if name[-1] in "GPg":
        name = name[:-1]
    parts = name.split(":")
    if len(parts) <= 2:
        return name
    return ":".join(parts[:2])


def _strip_suffix(name: str) -> str:
    return name[:-1] if name[-1].isalpha() else name


def sort_names(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=allele_sort_key)


def build_reference(
    *,
    release: str,
    allele_names: Iterable[str],
    g_rows: Iterable[GroupRow],
    p_rows: Iterable[GroupRow],
    serology_rows: Iterable[SerologyRow],
    ser_ser_rows: Iterable[tuple[str, str, str, str]],
    deleted: Mapping[str, str] | None = None,
) -> HlaReference:
    """Build the tables from the rows of a release's files (already split on ``;``/``,``)."""
    alleles = frozenset(a for a in allele_names if _typing_locus(a) is not None)

    g_group: dict[str, str] = {}
    g_lgx: dict[str, str] = {}
    group_members: dict[str, list[str]] = defaultdict(list)
    for locus_star, members, group in g_rows:
        if not group or parse_locus(locus_star.rstrip("*")) is None:
            continue
        name = locus_star + group
        listed = members.split("/")
        lg_name = two_field(locus_star + _strip_suffix(listed[0]))
        for m in listed:
            g_group[locus_star + m] = name
            g_lgx[locus_star + m] = lg_name
            group_members[name].append(locus_star + m)

    p_group: dict[str, str] = {}
    for locus_star, members, group in p_rows:
        if not group or parse_locus(locus_star.rstrip("*")) is None:
            continue
        name = locus_star + group
        for m in members.split("/"):
            p_group[locus_star + m] = name
            group_members[name].append(locus_star + m)

    lgx_candidates: dict[str, set[str]] = defaultdict(set)
    for a, lg in g_lgx.items():
        fields = _strip_suffix(a).split(":")
        for n in (2, 3):
            if len(fields) > n:
                lgx_candidates[":".join(fields[:n])].add(lg)
        lgx_candidates[two_field(a)].add(lg)
    prefix_lgx = {k: min(v, key=allele_sort_key) for k, v in lgx_candidates.items()}

    by_prefix: dict[str, set[str]] = defaultdict(set)
    for a in alleles:
        parts = _strip_suffix(a).split(":")
        for n in range(1, len(parts)):
            prefix = ":".join(parts[:n])
            by_prefix[prefix].add(a)
    # 2- and 3-field names with an expression suffix exist when every allele under them has it.
    for prefix, under in list(by_prefix.items()):
        if ":" not in prefix:
            continue
        suffixes = {m[-1] if m[-1].isalpha() else "" for m in under}
        if len(suffixes) == 1 and (s := suffixes.pop()):
            # WHO writes such a name with the suffix (A*01:04N); the bare form is refused so
            # that a null allele can never be taken for an expressed one.
            by_prefix[prefix + s] = by_prefix.pop(prefix)

    serology: dict[str, SerologyAssignment] = {}
    antigen_alleles: dict[Antigen, set[str]] = defaultdict(set)
    for row in serology_rows:
        locus_star, fields_ = row[0], row[1]
        locus = parse_locus(locus_star.rstrip("*"))
        if locus is None:
            continue
        name = locus_star + fields_
        usa, psa, asa = (row[2], row[3], row[4]) if len(row) >= 5 else ("", "", "")
        assignment = _assign_serology(locus, usa, psa, asa)
        serology[name] = assignment
        for antigen in assignment.antigens:
            antigen_alleles[antigen].add(name)

    relations = SerologyRelations.from_rows(ser_ser_rows)
    # Alleles of a broad antigen include those of its splits (and associated antigens).
    covered: dict[Antigen, tuple[str, ...]] = {}
    for antigen in {*antigen_alleles, *relations.splits, *relations.associated}:
        names: set[str] = set()
        for member in relations.family(antigen):
            names |= antigen_alleles.get(member, set())
        covered[antigen] = tuple(sort_names(names))

    return HlaReference(
        release=release,
        alleles=alleles,
        g_group=g_group,
        p_group=p_group,
        g_lgx=g_lgx,
        prefix_lgx=prefix_lgx,
        serology=serology,
        by_prefix={k: tuple(sort_names(v)) for k, v in by_prefix.items()},
        group_members={k: tuple(sort_names(v)) for k, v in group_members.items()},
        deleted=dict(deleted or {}),
        relations=relations,
        antigen_alleles=covered,
    )


def _typing_locus(name: str) -> Locus | None:
    return parse_locus(name.partition("*")[0])


def _antigens(locus: Locus, text: str) -> tuple[Antigen, ...]:
    return tuple(
        antigen_for(locus, n) for n in text.split("/") if n and n not in ("0", "?")
    )


def _assign_serology(locus: Locus, usa: str, psa: str, asa: str) -> SerologyAssignment:
    if locus.serology_prefix is None:
        return SerologyAssignment((), None, "no WHO serological antigens are defined for this locus")
    if usa and usa not in ("0", "?"):
        return SerologyAssignment(_antigens(locus, usa), SerologyBasis.UNAMBIGUOUS)
    if psa and _antigens(locus, psa):
        return SerologyAssignment(_antigens(locus, psa), SerologyBasis.POSSIBLE)
    if asa and _antigens(locus, asa):
        return SerologyAssignment(_antigens(locus, asa), SerologyBasis.ASSUMED)
    if usa == "0" or psa == "0":
        return SerologyAssignment((), None, "null allele: not expressed, no serological antigen")
    if usa == "?":
        return SerologyAssignment((), None, "serological equivalent unknown ('?' in rel_dna_ser)")
    return SerologyAssignment((), None, "no serological equivalent assigned in rel_dna_ser")
