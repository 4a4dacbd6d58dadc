"""HLA haplotype segregation in a family: which parental haplotype each member inherited.

Model. The father carries haplotypes ``a`` and ``b``, the mother ``c`` and ``d``, the patient's
partner ``e`` and ``f``; the patient carries ``a`` (paternal) and ``c`` (maternal) by definition.
A member's two typings at a locus must be explained by the two haplotypes it inherited there, in
one of two phases; a haplotype's content at a locus is the intersection of the allele sets of
every typing assigned to it (typings of any resolution are compared by their allele sets in the
release: the finest level they have in common). A parent of a half-sibling or of a child, when
not in the family, gives a *private* haplotype that constrains nothing.

Search. Depth-first over members, trying inheritance options in order (no crossover first),
pruning as soon as a haplotype has no allele left at some locus. Recombination: at most one
crossover per meiosis, and at most ``max_recombinations`` recombinant meioses in the family;
the smallest number that explains the family is used (0, then 1, …). What each member inherited
is then decided by *marginal feasibility*: an option is possible iff some complete explanation
uses it, so ambiguity is reported exactly, never sampled and never picked silently.

Pure: allele sets are supplied by the caller (``everydonor.family.analysis`` builds them with
the HLA core).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from everydonor.hla.locus import Locus

#: Order of the loci along chromosome 6p (telomere → centromere), for placing crossovers.
CHROMOSOME_ORDER: tuple[Locus, ...] = (
    Locus.A, Locus.C, Locus.B, Locus.DRB3, Locus.DRB4, Locus.DRB5, Locus.DRB1, Locus.DQA1,
    Locus.DQB1, Locus.DPA1, Locus.DPB1,
)

#: A set of alleles as a bitset over an index the caller keeps (``&`` intersects, 0 is empty).
AlleleSet = int
#: A member's typings at one locus as two allele sets, or None when untyped.
LocusTyping = tuple[AlleleSet, AlleleSet] | None


class MemberKind(StrEnum):
    PATIENT = "patient"
    FATHER = "father"
    MOTHER = "mother"
    SIBLING = "sibling"  # full sibling
    HALF_SIBLING_PATERNAL = "half_sibling_paternal"
    HALF_SIBLING_MATERNAL = "half_sibling_maternal"
    CHILD = "child"
    PARTNER = "partner"


@dataclass(frozen=True, slots=True)
class Member:
    """A typed member taking part in segregation."""

    id: str
    kind: MemberKind
    typings: Mapping[Locus, LocusTyping]

    def typed(self, loci: Sequence[Locus]) -> list[int]:
        return [i for i, loc in enumerate(loci) if self.typings.get(loc) is not None]


@dataclass(frozen=True, slots=True)
class Option:
    """What a member inherited: per locus (paternal-side label, maternal-side label).

    Labels are founder haplotypes (``a``-``f``) or a private label (``x:<id>``). ``crossovers``
    lists, per recombinant meiosis, the index of the first locus after the crossover.
    """

    labels: tuple[tuple[str, str], ...]
    crossovers: tuple[tuple[str, int], ...] = ()

    @property
    def recombinant(self) -> bool:
        return bool(self.crossovers)


State = dict[str, AlleleSet]


@dataclass
class Solution:
    """One complete explanation of the family."""

    options: dict[str, Option]
    states: list[list[State]]  # per locus: the founder-haplotype contents still possible

    @property
    def recombinations(self) -> int:
        return sum(len(o.crossovers) for o in self.options.values())


@dataclass
class SegregationResult:
    loci: tuple[Locus, ...]
    mirror_broken: bool
    consistent: bool
    recombinations: int
    possible: dict[str, list[Option]]  # member id → inheritance options some explanation uses
    first: Solution | None
    #: member id → (patient option, member option) pairs some explanation uses
    pairs: dict[str, list[tuple[Option, Option]]] = field(default_factory=dict)
    #: every explanation found on the way (the evidence for ``pairs``)
    witnesses: list[Solution] = field(default_factory=list)
    alternatives: list[Solution] = field(default_factory=list)
    alternatives_truncated: bool = False
    conflicts_members: list[str] = field(default_factory=list)
    conflicts_loci: list[Locus] = field(default_factory=list)


def _meiosis(first: str, second: str, positions: Sequence[int], n: int, allow_crossover: bool
             ) -> Iterator[tuple[tuple[str | None, ...], int | None]]:
    """Transmissions of one parent (haplotypes ``first``/``second``) over ``n`` loci.

    Only loci in ``positions`` (typed in the child) matter; the others get None. Without a
    crossover the whole chromosome comes from one haplotype; with one, the switch happens
    between two consecutive typed loci.
    """
    for h in (first, second):
        yield tuple(h if i in positions else None for i in range(n)), None
    if not allow_crossover:
        return
    for k in range(1, len(positions)):
        cut = positions[k]
        for h1, h2 in ((first, second), (second, first)):
            yield tuple((h1 if i < cut else h2) if i in positions else None
                        for i in range(n)), cut


class Solver:
    """Segregation of one family over ``loci`` (the loci typed in the patient)."""

    def __init__(self, members: Sequence[Member], loci: Sequence[Locus],
                 max_recombinations: int = 2, max_alternatives: int = 24,
                 margin: int = 1) -> None:
        order = {loc: i for i, loc in enumerate(CHROMOSOME_ORDER)}
        self.loci = tuple(sorted(loci, key=order.__getitem__))
        self.members = list(members)
        self.max_recombinations = max_recombinations
        self.max_alternatives = max_alternatives
        self.margin = margin
        self._options: dict[tuple[str, bool], list[Option]] = {}
        kinds = {m.kind for m in self.members}
        self.partner_typed = MemberKind.PARTNER in kinds
        # Most informative first: founders, then members typed at most loci.
        rank = {MemberKind.PATIENT: 0, MemberKind.FATHER: 1, MemberKind.MOTHER: 1,
                MemberKind.PARTNER: 2}
        self.members.sort(key=lambda m: (rank.get(m.kind, 3), -len(m.typed(self.loci)), m.id))
        # With no member that tells the parents apart, every explanation has a mirror image
        # (a<->c, b<->d). The patient's phase is then fixed at its first heterozygous locus:
        # the letters are arbitrary there, and the answer says so.
        sided = {MemberKind.FATHER, MemberKind.MOTHER, MemberKind.HALF_SIBLING_PATERNAL,
                 MemberKind.HALF_SIBLING_MATERNAL}
        self.mirror_broken = not (kinds & sided)
        self.phase_locus: int | None = None
        if self.mirror_broken:
            patient = next(m for m in self.members if m.kind is MemberKind.PATIENT)
            self.phase_locus = _first_heterozygous(patient, self.loci)
        # The partner's two haplotypes (e, f) are named arbitrarily: fix the partner's phase.
        partner = next((m for m in self.members if m.kind is MemberKind.PARTNER), None)
        self.partner_phase_locus = (_first_heterozygous(partner, self.loci)
                                    if partner is not None else None)

    # -- options ------------------------------------------------------------------------------
    def options(self, member: Member, crossovers_allowed: bool) -> list[Option]:
        key = (member.id, crossovers_allowed)
        hit = self._options.get(key)
        if hit is None:
            hit = self._options[key] = self._make_options(member, crossovers_allowed)
        return hit

    def _make_options(self, member: Member, crossovers_allowed: bool) -> list[Option]:
        n = len(self.loci)
        pos = member.typed(self.loci)
        fixed: dict[MemberKind, tuple[str, str]] = {
            MemberKind.FATHER: ("a", "b"),
            MemberKind.MOTHER: ("c", "d"), MemberKind.PARTNER: ("e", "f"),
        }
        if member.kind is MemberKind.PATIENT:
            # The patient's own meioses may recombine as well; ``a`` (``c``) names the paternal
            # (maternal) haplotype the patient received at its first typed locus.
            out_p: list[Option] = []
            for pat, cut_p in _meiosis("a", "b", pos, n, crossovers_allowed):
                if pat[pos[0]] != "a":
                    continue
                for mat, cut_m in _meiosis("c", "d", pos, n, crossovers_allowed):
                    if mat[pos[0]] != "c":
                        continue
                    crossovers = tuple((side, cut) for side, cut in (("father", cut_p),
                                                                      ("mother", cut_m))
                                       if cut is not None)
                    out_p.append(Option(tuple((pat[i] or "", mat[i] or "") for i in range(n)),
                                        crossovers))
            out_p.sort(key=lambda o: len(o.crossovers))
            return out_p
        if member.kind in fixed:
            p, m = fixed[member.kind]
            return [Option(tuple((p, m) if i in pos else ("", "") for i in range(n)))]
        private = f"x:{member.id}"
        if member.kind is MemberKind.SIBLING:
            sides = [("a", "b", "father"), ("c", "d", "mother")]
        elif member.kind is MemberKind.HALF_SIBLING_PATERNAL:
            sides = [("a", "b", "father"), (private, private, "other parent")]
        elif member.kind is MemberKind.HALF_SIBLING_MATERNAL:
            sides = [(private, private, "other parent"), ("c", "d", "mother")]
        else:  # child of the patient: "pp"/"pm" are the patient's own two chromosomes
            other = ("e", "f", "partner") if self.partner_typed else (private, private, "other")
            sides = [("pp", "pm", "patient"), other]
        out: list[Option] = []
        for pat, cut_p in _meiosis(sides[0][0], sides[0][1], pos, n,
                                   crossovers_allowed and sides[0][0] != sides[0][1]):
            for mat, cut_m in _meiosis(sides[1][0], sides[1][1], pos, n,
                                       crossovers_allowed and sides[1][0] != sides[1][1]):
                crossovers = tuple((side, cut) for side, cut in ((sides[0][2], cut_p),
                                                                  (sides[1][2], cut_m))
                                   if cut is not None)
                labels = tuple((pat[i] or "", mat[i] or "") for i in range(n))
                out.append(Option(labels, crossovers))
        out.sort(key=lambda o: len(o.crossovers))
        return out

    # -- constraint propagation ------------------------------------------------------------------
    def _add(self, states: list[list[State]], member: Member, option: Option,
             patient_option: Option | None = None) -> list[list[State]] | None:
        new_states: list[list[State]] = []
        for i, loc in enumerate(self.loci):
            typing = member.typings.get(loc)
            p, m = resolve(option.labels[i], patient_option, i)
            if typing is None or not p:
                new_states.append(states[i])
                continue
            s1, s2 = typing
            out: list[State] = []
            seen: set[tuple[tuple[str, AlleleSet], ...]] = set()
            phases = ((s1, s2), (s2, s1)) if s1 != s2 else ((s1, s2),)
            if (member.kind is MemberKind.PATIENT and i == self.phase_locus) or (
                member.kind is MemberKind.PARTNER and i == self.partner_phase_locus
            ):
                phases = ((s1, s2),)
            for st in states[i]:
                for x, y in phases:
                    nxt = _assign(_assign(st, p, x), m, y)
                    if nxt is None:
                        continue
                    key = tuple(sorted(nxt.items(), key=lambda kv: kv[0]))
                    if key not in seen:
                        seen.add(key)
                        out.append(nxt)
            if not out:
                return None
            new_states.append(out)
        return new_states

    def _search(self, budget: int, fixed: Mapping[str, Option] | None = None,
                limit: int = 1, members: Sequence[Member] | None = None) -> list[Solution]:
        members = list(members if members is not None else self.members)
        found: list[Solution] = []
        opts = {m.id: ([fixed[m.id]] if fixed and m.id in fixed else
                        self.options(m, budget > 0)) for m in members}

        patient_id = next((m.id for m in members if m.kind is MemberKind.PATIENT), None)

        def dfs(k: int, states: list[list[State]], used: int, chosen: dict[str, Option]) -> bool:
            if k == len(members):
                found.append(Solution(dict(chosen), states))
                return len(found) >= limit
            member = members[k]
            for option in opts[member.id]:
                cost = len(option.crossovers)
                if used + cost > budget:
                    continue
                nxt = self._add(states, member, option,
                                chosen.get(patient_id) if patient_id else None)
                if nxt is None:
                    continue
                chosen[member.id] = option
                if dfs(k + 1, nxt, used + cost, chosen):
                    return True
                del chosen[member.id]
            return False

        dfs(0, [[{}] for _ in self.loci], 0, {})
        return found

    # -- the answer -------------------------------------------------------------------------------
    def solve(self) -> SegregationResult:
        """Explain the family.

        Relations are judged over every explanation with up to ``margin`` more recombinant
        meioses than the fewest that explain the family (at most one crossover per meiosis,
        ``max_recombinations`` in all): an answer is definite only when none of them
        contradicts it — a parsimonious explanation alone can be wrong (a recombinant patient
        with an untyped parent looks like a phase difference). Letters and crossovers shown
        are those of the fewest-recombination explanations."""
        for budget in range(self.max_recombinations + 1):
            first = self._search(budget)
            if first:
                break
        else:
            members, loci = self._conflicts()
            return SegregationResult(self.loci, self.mirror_broken, False, -1, {}, None, {}, [],
                                     [], False, members, loci)
        solution = first[0]
        minimal = solution.recombinations
        full = min(minimal + self.margin, self.max_recombinations)
        patient = next(m for m in self.members if m.kind is MemberKind.PATIENT)
        # What is shown (letters, crossovers): the most parsimonious explanations.
        possible: dict[str, list[Option]] = {}
        for member in self.members:
            possible[member.id] = [
                o for o in self.options(member, minimal > 0)
                if len(o.crossovers) <= minimal and (
                    o == solution.options[member.id] or self._search(minimal, {member.id: o}))]
        # What is concluded (relations): every explanation the model allows.
        patient_options = [o for o in self.options(patient, full > 0)
                           if o == solution.options[patient.id]
                           or self._search(full, {patient.id: o})]
        # Every pair a found explanation uses is feasible: record them all as they come, so
        # that only the pairs no explanation has shown yet are searched for.
        known: set[tuple[str, Option, Option]] = set()
        witnesses: list[Solution] = []

        def learn(sol: Solution) -> None:
            witnesses.append(sol)
            p_opt = sol.options[patient.id]
            for mid, opt in sol.options.items():
                known.add((mid, p_opt, opt))

        learn(solution)
        empty: list[list[State]] = [[{}] for _ in self.loci]
        pairs: dict[str, list[tuple[Option, Option]]] = {}
        for member in self.members:
            if member.kind is MemberKind.PATIENT:
                continue
            member_pairs: list[tuple[Option, Option]] = []
            for p_option in patient_options:
                base = self._add(empty, patient, p_option)
                for option in self.options(member, full > 0):
                    if len(option.crossovers) + len(p_option.crossovers) > full:
                        continue
                    if (member.id, p_option, option) not in known:
                        if base is None or self._add(base, member, option, p_option) is None:
                            continue  # the two alone already disagree
                        found = self._search(full, {member.id: option, patient.id: p_option})
                        if not found:
                            continue
                        learn(found[0])
                    member_pairs.append((p_option, option))
            pairs[member.id] = member_pairs
        alternatives = self._search(minimal, limit=self.max_alternatives + 1)
        truncated = len(alternatives) > self.max_alternatives
        return SegregationResult(self.loci, self.mirror_broken, True, minimal, possible,
                                 solution, pairs, witnesses,
                                 alternatives[: self.max_alternatives], truncated)

    def _conflicts(self) -> tuple[list[str], list[Locus]]:
        """Members whose removal lets the family be explained; loci inconsistent on their own."""
        budget = self.max_recombinations
        culprits = []
        for member in self.members:
            if member.kind is MemberKind.PATIENT:
                continue
            rest = [m for m in self.members if m.id != member.id]
            if self._search(budget, members=rest):
                culprits.append(member.id)
        bad_loci = []
        for locus in self.loci:
            single = Solver(self.members, [locus], 0)
            single.phase_locus = single.partner_phase_locus = None  # nothing to break alone
            if not single._search(0):
                bad_loci.append(locus)
        return culprits, bad_loci


def resolve(labels: tuple[str, str], patient_option: Option | None, i: int) -> tuple[str, str]:
    """Replace a child's ``pp``/``pm`` (the patient's paternal/maternal chromosome) by the
    founder haplotype the patient carries at locus ``i``."""
    p, m = labels
    if patient_option is None or not (p in ("pp", "pm") or m in ("pp", "pm")):
        return labels
    pat, mat = patient_option.labels[i]
    def one(x: str) -> str:
        return pat if x == "pp" else mat if x == "pm" else x
    return one(p), one(m)


def _first_heterozygous(member: Member, loci: Sequence[Locus]) -> int | None:
    for i, loc in enumerate(loci):
        t = member.typings.get(loc)
        if t is not None and t[0] != t[1]:
            return i
    return None


def _assign(state: State | None, label: str, alleles: AlleleSet) -> State | None:
    if state is None:
        return None
    if label.startswith("x:"):
        return state  # a haplotype from outside the family: nothing to check against
    current = state.get(label)
    merged = alleles if current is None else current & alleles
    if not merged:
        return None
    if merged == current:
        return state
    out = dict(state)
    out[label] = merged
    return out
