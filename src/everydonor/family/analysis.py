"""Who in the family shares which of the patient's haplotypes: the ``everydonor family`` answer.

Parents, full siblings, half-siblings whose linking parent is recorded (``through``), the
patient's children and partner are *segregated* (:mod:`everydonor.family.segregation`).
Collateral relatives (uncles, aunts, cousins, nephews, nieces, grandparents, other) are judged by
*phenotype*: whether their typing can carry the patient's paternal (``through: father``) or
maternal haplotype as segregated — marked ``basis: phenotype``, because a collateral's phase is
not proven by the family typings.

Vocabulary (``../shared/spec/case-format.md``): ``hla_relation`` identical / haploidentical /
not_haploidentical / undetermined; ``shared`` paternal / maternal / both / none / null;
``sibling_mismatch`` NIMA (sibling shares the patient's paternal haplotype: its mismatched
haplotype is the mother's non-inherited one) / NIPA.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from everydonor.case import Case, Person, Relationship, check_typings, release_flags
from everydonor.errors import InputError
from everydonor.family.segregation import (
    AlleleSet,
    LocusTyping,
    Member,
    MemberKind,
    Option,
    SegregationResult,
    Solution,
    Solver,
    resolve,
)
from everydonor.hla.designation import Typing
from everydonor.hla.genotype import Phenotype
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution

SIDE = {"a": "paternal", "c": "maternal"}


@dataclass
class FamilyResult:
    release: str
    document: dict[str, Any]
    segregation: SegregationResult | None = None
    warnings: list[str] = field(default_factory=list)


class _Sets:
    """Allele sets of typings as bitsets over an index of the alleles seen (cached), and how
    to write a set back as a typing."""

    def __init__(self, reducer: Reducer) -> None:
        self.reducer = reducer
        self._cache: dict[str, AlleleSet] = {}
        self._names: dict[AlleleSet, str] = {}
        self._index: dict[str, int] = {}
        self._alleles: list[str] = []

    def of(self, typing: Typing) -> AlleleSet:
        hit = self._cache.get(typing.text)
        if hit is None:
            bits = 0
            for allele in self.reducer.alleles_of(typing):
                i = self._index.get(allele)
                if i is None:
                    i = self._index[allele] = len(self._alleles)
                    self._alleles.append(allele)
                bits |= 1 << i
            hit = self._cache[typing.text] = bits
            best = self._names.get(hit)
            if best is None or len(typing.text) < len(best):
                self._names[hit] = typing.text.removeprefix("HLA-")
        return hit

    def names(self, bits: AlleleSet) -> list[str]:
        out, i = [], 0
        while bits:
            if bits & 1:
                out.append(self._alleles[i])
            bits >>= 1
            i += 1
        return out

    def write(self, alleles: AlleleSet, locus: Locus) -> str:
        if not alleles:
            return f"{locus.value}*UUUU"
        named = self._names.get(alleles)
        if named is not None:
            return named
        table = self.reducer.allele_table(Resolution.LGX)
        lgx = sorted({table[a] for a in self.names(alleles) if a in table})
        return "/".join(lgx) if lgx else f"{locus.value}*UUUU"


def _locus_typings(phenotype: Phenotype | None, sets: _Sets, person: str,
                   warnings: list[str]) -> dict[Locus, LocusTyping]:
    out: dict[Locus, LocusTyping] = {}
    if phenotype is None:
        return out
    for locus, options in phenotype.loci.items():
        if len(options) > 1:
            # A GL genotype list: every allele of every alternative, a looser but honest typing.
            warnings.append(f"{person}: {locus.value} genotype list (|) compared as the union "
                            "of its alternatives")
            first: AlleleSet = 0
            second: AlleleSet = 0
            for g in options:
                first |= sets.of(g.typings[0])
                second |= sets.of(g.typings[1])
            out[locus] = (first, second)
        else:
            g = options[0]
            out[locus] = (sets.of(g.typings[0]), sets.of(g.typings[1]))
    return out


def _member_kind(person: Person, partners: int) -> MemberKind | None:
    rel = person.relationship
    if rel is Relationship.FATHER:
        return MemberKind.FATHER
    if rel is Relationship.MOTHER:
        return MemberKind.MOTHER
    if rel is not None and rel.is_full_sibling:
        return MemberKind.SIBLING
    if rel is not None and rel.is_child:
        return MemberKind.CHILD
    if rel is Relationship.PARTNER and partners == 1:
        return MemberKind.PARTNER
    if rel is not None and rel.is_half_sibling and person.through == "father":
        return MemberKind.HALF_SIBLING_PATERNAL
    if rel is not None and rel.is_half_sibling and person.through == "mother":
        return MemberKind.HALF_SIBLING_MATERNAL
    return None


def analyse_family(case: Case, reducer: Reducer, *, max_recombinations: int = 2) -> FamilyResult:
    """Segregate the family of ``case`` and judge every relative's HLA relation to the patient."""
    patient = case.patient
    if patient.hla is None or not patient.hla.loci:
        raise InputError("the patient has no HLA typing", person=patient.id, field="hla")
    check_typings(case, reducer.alleles_of)  # an HLA error names the person and the field
    warnings: list[str] = [*case.warnings, *release_flags(case, reducer.release)]
    sets = _Sets(reducer)
    loci = patient.hla.typed_loci()
    partners = sum(1 for p in case.relatives if p.relationship is Relationship.PARTNER)

    members: list[Member] = [Member(patient.id, MemberKind.PATIENT,
                                    _locus_typings(patient.hla, sets, patient.id, warnings))]
    kinds: dict[str, MemberKind] = {}
    for person in case.relatives:
        kind = _member_kind(person, partners)
        if person.relationship is not None and person.relationship.is_half_sibling and (
            kind is None
        ):
            warnings.append(f"{person.id}: half-sibling without 'through' (father/mother): "
                            "judged by phenotype only")
        if kind is None or person.hla is None:
            continue
        typings = _locus_typings(person.hla, sets, person.id, warnings)
        extra = [loc.value for loc in person.hla.typed_loci() if loc not in loci]
        if extra:
            warnings.append(f"{person.id}: loci {', '.join(extra)} are not typed in the patient "
                            "and are not used")
        members.append(Member(person.id, kind, typings))
        kinds[person.id] = kind

    solver = Solver(members, loci, max_recombinations=max_recombinations)
    seg = solver.solve()
    parents_typed = any(k in (MemberKind.FATHER, MemberKind.MOTHER) for k in kinds.values())
    document: dict[str, Any] = {"release": reducer.release, "consistent": seg.consistent}

    if not seg.consistent:
        document.update({
            "haplotypes": None, "members": [],
            "inconsistency": {
                "members": seg.conflicts_members,
                "loci": [loc.value for loc in seg.conflicts_loci],
                "explanation": (
                    "no assignment of haplotypes explains these typings, even with one crossover "
                    f"per meiosis and up to {max_recombinations} recombinant meioses: a typing "
                    "error, or a relationship that is not as recorded (removing any one of the "
                    "members listed lets the rest be explained)"),
            },
            "relatives": [_relative_unexplained(p, loci) for p in case.relatives],
        })
        return FamilyResult(reducer.release, _finish(document, warnings), seg, warnings)

    assert seg.first is not None
    haplotypes = _haplotypes(seg, sets, kinds)
    document["haplotypes"] = haplotypes
    document["recombinations"] = seg.recombinations
    document["members"] = [_member_entry(m.id, seg, kinds) for m in members]
    for person in case.relatives:  # parents in the case but untyped: reconstructed, inferred
        if person.relationship in (Relationship.FATHER, Relationship.MOTHER) and (
            person.id not in kinds
        ):
            letters = ("a", "b") if person.relationship is Relationship.FATHER else ("c", "d")
            side = "paternal" if person.relationship is Relationship.FATHER else "maternal"
            document["members"].append({
                "id": person.id, "role": person.relationship.value, "inferred": True,
                "inherited": None, "haplotypes": list(letters),
                "reconstructed": {k: (haplotypes[side][k] or {}).get("gl") for k in letters}})
    document["alternatives"] = {
        "count": len(seg.alternatives), "truncated": seg.alternatives_truncated,
    }
    relatives = []
    patient_sets = {lab: _founder_union(seg, lab) for lab in ("a", "c")}
    for person in case.relatives:
        if person.id in kinds:
            relatives.append(_segregated_relative(person, kinds[person.id], seg, loci,
                                                  parents_typed))
        else:
            relatives.append(_phenotype_relative(person, sets, patient_haplotypes=patient_sets,
                                                 seg_loci=seg.loci, loci=loci, parents_typed=parents_typed,
                                                 warnings=warnings))
    document["relatives"] = relatives
    if not parents_typed:
        warnings.append("no parent is typed: which of the patient's haplotypes is paternal "
                        "cannot be told, so 'shared' and NIMA/NIPA are reported as null")
    return FamilyResult(reducer.release, _finish(document, warnings), seg, warnings)


def _finish(document: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    document["warnings"] = warnings
    return document


def _founder_union(seg: SegregationResult, label: str) -> list[AlleleSet | None]:
    """Per locus, every allele the haplotype may carry across the explanations found."""
    out: list[AlleleSet | None] = []
    sols: Iterable[Solution] = seg.alternatives or ([seg.first] if seg.first else [])
    for i in range(len(seg.loci)):
        merged: AlleleSet = 0
        seen = False
        for sol in sols:
            for st in sol.states[i]:
                if label in st:
                    merged |= st[label]
                    seen = True
        out.append(merged if seen else None)
    return out


def _haplotypes(seg: SegregationResult, sets: _Sets, kinds: dict[str, MemberKind]
                ) -> dict[str, Any]:
    father = MemberKind.FATHER in kinds.values()
    mother = MemberKind.MOTHER in kinds.values()
    partner = MemberKind.PARTNER in kinds.values()

    def render(label: str) -> dict[str, Any] | None:
        per_locus = _founder_union(seg, label)
        if all(s is None for s in per_locus):
            return None
        parts = [sets.write(s or 0, loc) for s, loc in zip(per_locus, seg.loci, strict=True)]
        ambiguous = [loc.value for loc, i in zip(seg.loci, range(len(seg.loci)), strict=True)
                     if _ambiguous(seg, label, i)]
        return {"gl": "~".join(parts), "ambiguous_loci": ambiguous}

    out: dict[str, Any] = {
        "paternal": {"a": render("a"), "b": render("b"), "inferred": not father},
        "maternal": {"c": render("c"), "d": render("d"), "inferred": not mother},
    }
    if partner:
        out["partner"] = {"e": render("e"), "f": render("f"), "inferred": False}
    return out


def _ambiguous(seg: SegregationResult, label: str, i: int) -> bool:
    seen: set[AlleleSet] = set()
    for sol in seg.alternatives or []:
        for st in sol.states[i]:
            if label in st:
                seen.add(st[label])
    return len(seen) > 1


def _describe(option: Option, loci: tuple[Locus, ...], side: int) -> str | None:
    labels = [lab[side] for lab in option.labels if lab[side]]
    if not labels:
        return None
    first, last = labels[0], labels[-1]
    if first.startswith("x:"):
        return "other parent"
    if first == last:
        return first
    switch = next(i for i, lab in enumerate(option.labels) if lab[side] == last)
    before = max(i for i in range(switch) if option.labels[i][side])
    return f"{first}→{last} between {loci[before].value} and {loci[switch].value}"


def _member_entry(mid: str, seg: SegregationResult, kinds: dict[str, MemberKind]
                  ) -> dict[str, Any]:
    options = seg.possible.get(mid, [])
    entry: dict[str, Any] = {"id": mid, "inferred": False}
    if len(options) == 1:
        entry["inherited"] = {"paternal": _describe(options[0], seg.loci, 0),
                              "maternal": _describe(options[0], seg.loci, 1)}
    else:
        entry["inherited"] = None
        entry["alternatives"] = [{"paternal": _describe(o, seg.loci, 0),
                                  "maternal": _describe(o, seg.loci, 1)} for o in options]
    kind = kinds.get(mid, MemberKind.PATIENT)
    entry["role"] = kind.value
    return entry


class _Content:
    """Whether two founder haplotypes carry the same HLA at a locus, in every explanation.

    HLA relation is about what a relative carries, not which copy: with a homozygous father
    (a and b alike), a sibling who got b still carries the patient's paternal HLA haplotype.
    """

    def __init__(self, seg: SegregationResult) -> None:
        self.seg = seg
        self._memo: dict[tuple[str, str, int], bool] = {}

    def same(self, x: str, y: str, i: int) -> bool:
        if x == y:
            return True
        if x.startswith("x:") or y.startswith("x:"):
            return False
        key = (x, y, i)
        hit = self._memo.get(key)
        if hit is None:
            hit = True
            for sol in (*self.seg.alternatives, *self.seg.witnesses):
                for st in sol.states[i]:
                    if x not in st or y not in st or st[x] != st[y]:
                        hit = False
            self._memo[key] = hit
        return hit

    def carries(self, option: Option, side: int, patient: Option, patient_side: int) -> bool:
        """Whether ``option``'s ``side`` carries the patient's haplotype of ``patient_side``
        (the same HLA at every locus typed in the member)."""
        positions = [i for i, lab in enumerate(option.labels) if lab[side]]
        if not positions:
            return False
        for i in positions:
            mine = resolve(option.labels[i], patient, i)[side]
            theirs = patient.labels[i][patient_side]
            if not theirs or not self.same(mine, theirs, i):
                return False
        return True


def _judge(option: Option, kind: MemberKind, content: _Content, patient: Option
           ) -> tuple[bool, bool]:
    """(carries the patient's paternal haplotype, carries the patient's maternal haplotype)."""
    if kind is MemberKind.FATHER:
        return True, False
    if kind is MemberKind.MOTHER:
        return False, True
    if kind is MemberKind.CHILD:
        return content.carries(option, 0, patient, 0), content.carries(option, 0, patient, 1)
    if kind is MemberKind.PARTNER:
        return False, False
    return content.carries(option, 0, patient, 0), content.carries(option, 1, patient, 1)


def _relation_of(pat: bool, mat: bool) -> tuple[str, str]:
    if pat and mat:
        return "identical", "both"
    if pat:
        return "haploidentical", "paternal"
    if mat:
        return "haploidentical", "maternal"
    return "not_haploidentical", "none"


def _segregated_relative(person: Person, kind: MemberKind, seg: SegregationResult,
                         loci: list[Locus], parents_typed: bool) -> dict[str, Any]:
    options = seg.possible.get(person.id, [])
    untyped = _untyped(person, loci)
    content = _Content(seg)
    judged = {_relation_of(*_judge(o, kind, content, p)) for p, o in seg.pairs.get(person.id, [])}
    relations = {r for r, _ in judged}
    shares = {s for _, s in judged}
    relation = relations.pop() if len(relations) == 1 else "undetermined"
    shared: str | None = shares.pop() if len(shares) == 1 else None
    if not parents_typed and shared in ("paternal", "maternal"):
        shared = None
    if kind is MemberKind.PARTNER:
        relation, shared = _partner_relation(relation)
    recombinant = bool(options) and all(o.recombinant for o in options)
    mismatch = None
    if kind is MemberKind.SIBLING and relation == "haploidentical" and shared is not None:
        mismatch = "NIMA" if shared == "paternal" else "NIPA"
    entry: dict[str, Any] = {
        "id": person.id, "relationship": person.relationship.value if person.relationship
        else None, "hla_relation": relation, "shared": shared, "sibling_mismatch": mismatch,
        "recombinant": recombinant, "untyped_loci": untyped, "basis": "segregation",
    }
    if recombinant:
        entry["crossover"] = sorted({d for o in options for side in (0, 1)
                                     if (d := _describe(o, seg.loci, side)) and "between" in d})
    elif any(o.recombinant for o in options):
        entry["notes"] = ["possibly recombinant: the typings allow a crossover in this member"]
    if len(relations) > 1:
        entry["notes"] = [*entry.get("notes", []),
                          "undetermined: the explanations the typings allow (at most one "
                          "crossover per meiosis) disagree; see alternatives"]
    if len(relations) > 1:
        entry["alternatives"] = sorted(f"{r} ({s})" for r, s in judged)
    if untyped and len(untyped) == len(loci):
        entry.update({"hla_relation": "undetermined", "shared": None, "sibling_mismatch": None})
    return entry


def _partner_relation(relation: str) -> tuple[str, str | None]:
    return ("not_haploidentical", "none") if relation != "undetermined" else (relation, None)


def _untyped(person: Person, loci: list[Locus]) -> list[str]:
    typed = set(person.hla.typed_loci()) if person.hla else set()
    return [loc.value for loc in loci if loc not in typed]


def _relative_unexplained(person: Person, loci: list[Locus]) -> dict[str, Any]:
    return {"id": person.id, "relationship": person.relationship.value if person.relationship
            else None, "hla_relation": "undetermined", "shared": None, "sibling_mismatch": None,
            "recombinant": False, "untyped_loci": _untyped(person, loci), "basis": "none"}


def _phenotype_relative(person: Person, sets: _Sets, *,
                        patient_haplotypes: dict[str, list[AlleleSet | None]],
                        seg_loci: tuple[Locus, ...],
                        loci: list[Locus], parents_typed: bool, warnings: list[str]
                        ) -> dict[str, Any]:
    entry = _relative_unexplained(person, loci)
    entry["basis"] = "phenotype"
    if person.hla is None or not person.hla.loci:
        entry["notes"] = ["not typed"]
        return entry
    typings = _locus_typings(person.hla, sets, person.id, warnings)
    order = list(seg_loci)  # the haplotypes are indexed in chromosome order

    def carries(label: str) -> bool:
        hap = patient_haplotypes[label]
        checked = False
        for i, locus in enumerate(order):
            t = typings.get(locus)
            if t is None or i >= len(hap) or hap[i] is None:
                continue
            checked = True
            h = hap[i]
            assert h is not None
            if not (t[0] & h or t[1] & h):
                return False
        return checked

    sides = ["a", "c"]
    if person.through == "father":
        sides = ["a"]
    elif person.through == "mother":
        sides = ["c"]
    found = sorted(lab for lab in sides if carries(lab))
    if found:
        entry["hla_relation"] = "haploidentical"
        entry["shared"] = SIDE[found[0]] if len(found) == 1 and parents_typed else None
    else:
        entry["hla_relation"] = "not_haploidentical"
        entry["shared"] = "none"
    entry["notes"] = ["judged by phenotype: the typing can carry the patient's haplotype, but "
                      "its phase is not proven by the family typings (type the linking "
                      "relatives to confirm)"] if found else []
    return entry


def render_text(document: dict[str, Any], notice: str, software: str) -> str:
    """The pedigree with haplotype letters, for a person to check at a glance."""
    lines = [f"# everydonor family — IPD-IMGT/HLA {document['release']} — {software}",
             f"# {notice}"]
    if not document["consistent"]:
        inc = document["inconsistency"]
        lines += ["", "INCONSISTENT FAMILY: " + inc["explanation"],
                  f"  members: {', '.join(inc['members']) or '(none single)'}",
                  f"  loci inconsistent on their own: {', '.join(inc['loci']) or '(none)'}"]
        return "\n".join(lines)
    members = {m["id"]: m for m in document["members"]}
    rels = {r["id"]: r for r in document["relatives"]}
    patient_letters = next(((m.get("inherited") or {}) for m in document["members"]
                            if m.get("role") == "patient"), {})
    # A child's side from the patient is written pp/pm (the patient's paternal/maternal
    # chromosome): shown as the patient's own letter; an untyped other parent as "?".
    own = {"pp": patient_letters.get("paternal") or "a",
           "pm": patient_letters.get("maternal") or "c", "other parent": "?"}

    def shown(label: str | None) -> str:
        if not label:
            return "-"
        first, arrow, rest = label.partition("→")  # "a→b between B and DRB1" (recombinant)
        if not arrow:
            return own.get(label, label)
        last, _, where = rest.partition(" ")
        return f"{own.get(first, first)}→{own.get(last, last)} {where}"

    def letters(mid: str) -> str:
        m = members.get(mid)
        if m is None:
            return "?/?"
        if m.get("inferred") and m.get("haplotypes"):  # a parent in the case but not typed
            return f"{' / '.join(m['haplotypes'])} (not typed; reconstructed)"
        inh = m.get("inherited")
        if inh is not None:
            return f"{shown(inh.get('paternal'))} / {shown(inh.get('maternal'))}"
        # Several explanations: show each side they agree on, "?" for the one they do not.
        alternatives = m.get("alternatives") or []
        if not alternatives:
            return "?/?"
        sides = []
        for key in ("paternal", "maternal"):
            values = {shown(alt.get(key)) for alt in alternatives}
            sides.append(values.pop() if len(values) == 1 else "?")
        return " / ".join(sides)

    lines.append("")
    for mid, m in members.items():
        role = m["role"]
        if role in ("father", "mother", "partner"):
            lines.append(f"{role:<8} {mid:<10} {letters(mid)}")
    for mid, m in members.items():
        role = m["role"]
        if role in ("father", "mother", "partner"):
            continue
        rel = rels.get(mid)
        if rel is None:
            desc = "PATIENT"
        else:
            desc = f"{rel['hla_relation']}"
            if rel.get("shared"):
                desc += f", shares {rel['shared']}"
            if rel.get("sibling_mismatch"):
                desc += f", {rel['sibling_mismatch']}"
            if rel.get("recombinant"):
                desc += ", RECOMBINANT " + "; ".join(rel.get("crossover", []))
            if rel.get("untyped_loci"):
                desc += f" (untyped: {', '.join(rel['untyped_loci'])})"
        lines.append(f"  ├─ {mid:<10} {role:<22} {letters(mid):<28} {desc}")
    others = [r for r in document["relatives"] if r["id"] not in members]
    for r in others:
        lines.append(f"  ·  {r['id']:<10} {r['relationship'] or '':<22} {'(phenotype)':<28} "
                     f"{r['hla_relation']}" + (f", shares {r['shared']}" if r.get("shared") else ""))
    lines += ["", "Haplotypes (~ GL):"]
    for side in ("paternal", "maternal", "partner"):
        block = document["haplotypes"].get(side)
        if not block:
            continue
        tag = " (inferred from the children)" if block.get("inferred") else ""
        for lab in ("a", "b", "c", "d", "e", "f"):
            if lab in block:
                hap = block[lab]
                text = hap["gl"] if hap else "(not seen in any typed member)"
                amb = f"  [ambiguous at {', '.join(hap['ambiguous_loci'])}]" if hap and hap[
                    "ambiguous_loci"] else ""
                lines.append(f"  {lab}  {text}{amb}{tag}")
    if document["warnings"]:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in document["warnings"]]
    return "\n".join(lines)

