"""MIRING checks of an HML message, by the rule ids of the NMDP MIRING validator.

MIRING (Mack et al., Hum Immunol 2015;76(12):954-62, "Minimum information for reporting
next generation sequence genotyping") has eight elements: 1 message annotation, 2 reference
context, 3 full genotype, 4 consensus sequence, 5 novel polymorphisms, 6 platform documentation,
7 read processing documentation, 8 primary data. The NMDP's validator
(github.com/nmdp-bioinformatics/miring-validator, ``WebContent/rules/Rules.csv``) numbers its
rules within those elements (``1.1.a``: one ``hmlid``; ``2.1.c``: an ``allele-version`` on every
``allele-assignment`` ...) and grades them ``miring`` (MIRING requires it), ``warning`` or
``info`` (a few rules are left ungraded there: ``ungraded`` here). The checks below use
those ids, severities and descriptions, so that a laboratory scientist can look a finding up in
the validator's table. Two checks are everydonor's own and say so (``source: everydonor``):
element 4 asks an NGS typing for its consensus sequence, which the validator checks only
through the blocks of one that is present (rule ``4``); and element 7 (read processing) has no
machine rule in the validator, so it is reported as not checked. The validator files elements
6 and 8 under element 1 (rules 1.3 and 1.5: the message must *reference* the platform and the
primary data); each finding names both numbers.

A finding never stops an import: MIRING describes what a complete NGS report holds, and a
typing without a consensus sequence (an SSO result, say) is still a typing.

Every check reads one ``sample`` subtree (or the message header), so a message is checked while
it is streamed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: The validator's rule table (Rules.csv) this module follows.
VALIDATOR = ("NMDP miring-validator, WebContent/rules/Rules.csv "
             "(github.com/nmdp-bioinformatics/miring-validator)")
#: MIRING element names (Mack et al. 2015, Table 1).
ELEMENTS = {
    1: "Message annotation",
    2: "Reference context",
    3: "Full genotype",
    4: "Consensus sequence",
    5: "Novel polymorphisms",
    6: "Platform documentation",
    7: "Read processing documentation",
    8: "Primary data",
}
#: How many places each finding lists (the count is always complete).
EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: the validator's id, MIRING element, severity and description."""

    id: str
    element: int
    severity: str
    description: str
    source: str = "miring-validator"
    #: The MIRING element the rule documents, when the validator files it elsewhere.
    documents: int | None = None


_RULES = (
    Rule("1.1.a", 1, "miring",
         "Document has exactly one <hmlid> node directly under the root <hml> node"),
    Rule("1.1.c", 1, "info",
         "if OID, the <hmlid> node should have a root and an extension attribute."),
    Rule("1.2.a", 1, "miring", "Document has exactly one <reporting-center> node directly "
         "under the root <hml> node"),
    Rule("1.2.b", 1, "warning", "<reporting-center> has one reporting-center-id and one "
         "reporting-center-context attributes"),
    Rule("1.3.a", 1, "miring", "Every sso,ssp,sbt-sanger,sbt-ngs node should have a test-id "
         "and test-id-source attributes", documents=6),
    Rule("1.3.b", 1, "info", "test-id and test-id-source are in a recognized format. NCBI-GTR",
         documents=6),
    Rule("1.5.a", 1, "miring", "Every <sbt-ngs> node has at least one <raw-reads> node "
         "underneath.", documents=8),
    Rule("1.5.b", 1, "miring", "Every <raw-reads> node has an \"availability\" attribute. "
         "It's a string. public,private,permission", documents=8),
    Rule("2.1.a", 2, "warning",
         "Every <typing> node must have at least one <allele-assignment> node."),
    Rule("2.1.b", 2, "miring", "Every <allele-assignment> must have an allele-db attribute"),
    Rule("2.1.c", 2, "miring",
         "Every <allele-assignment> must have an allele-version attribute"),
    Rule("2.2.a", 2, "ungraded",
         "Every <reference-database> has at least one <reference-sequence> node."),
    Rule("2.2.b", 2, "miring", "Reference sequence should have id, name, start, end, "
         "accession, URI attributes."),
    Rule("2.2.c", 2, "miring", "end >= start"),
    Rule("2.2.1.c", 2, "warning", "Every<reference-sequence> id corresponds to at least one ID "
         "under a <consensus-sequence-block> node."),
    Rule("2.3.b", 2, "miring",
         "Every <reference-database> node has a curated attribute, true/false"),
    Rule("3.1.a", 3, "warning", "Locus is reported in either a <glstring> node or as a "
         "\"locus\" attribute under the typing method node. (<sbt-ngs>, etc)"),
    Rule("3.2.a", 3, "warning", "<glstring> node should either have a text, or a URI "
         "attribute pointing to a valid GLString"),
    Rule("4", 4, "miring", "An NGS typing (<sbt-ngs>) reports its consensus sequence "
         "(<consensus-sequence>): MIRING element 4", source="everydonor"),
    Rule("4.1.a", 4, "ungraded", "Every <consensus-sequence> node should have at least one "
         "<consensus-sequence-block> node."),
    Rule("4.2.2.a", 4, "ungraded",
         "Each <consensus-sequence-block> node has a reference-sequence-id attribute."),
    Rule("4.2.3.a", 4, "miring",
         "Every <consensus-sequence-block> node must have start and end attributes."),
    Rule("4.2.3.b", 4, "miring", "end >= start"),
    Rule("4.2.3.d", 4, "miring", "CSB:start >= refseq:start && CSB:end <= refseq:end"),
    Rule("4.2.3.e", 4, "miring",
         "Length of sequence node text (trimmed) should be = end-start."),
    Rule("4.2.4.a", 4, "warning",
         "Every <consensus-sequence-block> node must have phase set attribute."),
    Rule("4.2.5.a", 4, "miring",
         "Every <consensus-sequence-block> node must have expected-copy-number attribute"),
    Rule("4.2.7.a", 4, "miring", "Every <consensus-sequence-block> node must have a continuity "
         "attribute, true/false."),
    Rule("5.2.b", 5, "miring", "end >= start"),
    Rule("5.2.d", 5, "miring",
         "variant:start >=refseq:start&& variant:end <=refseq:end"),
    Rule("5.3.a", 5, "miring", "Each <variant> node must have an ID attribute."),
    Rule("5.4.a", 5, "ungraded", "Each <variant> node should have a reference-bases attribute."),
    Rule("5.5.a", 5, "ungraded", "Each <variant> node should have a alternate-bases attribute."),
    Rule("5.6.a", 5, "miring", "Each <variant> node should have a quality-score attribute."),
    Rule("5.7.a", 5, "miring", "Each <variant> node should have a filter attribute."),
)
RULES = {r.id: r for r in _RULES}
#: Element 7 (read processing documentation): the validator has no machine rule (its rule 1.4
#: is a heading without a check); reported as such, never as passed.
NOT_CHECKED = {7: "no machine-checkable rule in the validator (rule 1.4 has no check): read "
                  "the laboratory's documentation"}

_METHODS = ("sso", "ssp", "sbt-sanger", "sbt-ngs")
_GTR_ID = re.compile(r"^GTR\d{9}\.\d+$")
_OID = re.compile(r"^[0-9]+(\.[0-9]+)+$")


_LOCAL: dict[str, str] = {}


def local(el: Any) -> str:
    """An element's name without its namespace (HML 1.0.1 and 1.0.2 differ in namespace)."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    name = _LOCAL.get(tag)
    if name is None:
        name = _LOCAL[tag] = tag.rpartition("}")[2]
    return name


def children(el: Any, name: str) -> Iterator[Any]:
    """The children called ``name`` in any namespace or none (lxml's ``{*}`` wildcard)."""
    return el.iterchildren("{*}" + name)  # type: ignore[no-any-return]


@dataclass
class MiringReport:
    """Findings of one message by rule: a complete count and the first places found."""

    counts: dict[str, int] = field(default_factory=dict)
    places: dict[str, list[str]] = field(default_factory=dict)

    def add(self, rule: str, where: str, detail: str) -> None:
        if rule not in RULES:  # pragma: no cover - programming error
            raise KeyError(rule)
        self.counts[rule] = self.counts.get(rule, 0) + 1
        shown = self.places.setdefault(rule, [])
        if len(shown) < EXAMPLES:
            shown.append(f"{where}: {detail}")

    def findings(self) -> list[dict[str, Any]]:
        order = {r.id: i for i, r in enumerate(_RULES)}
        out = []
        for rule_id in sorted(self.counts, key=order.__getitem__):
            rule = RULES[rule_id]
            out.append({
                "rule": rule.id,
                "element": rule.element,
                "element_name": ELEMENTS[rule.element],
                "documents_element": rule.documents,
                "severity": rule.severity,
                "description": rule.description,
                "source": rule.source,
                "count": self.counts[rule_id],
                "examples": self.places[rule_id],
            })
        return out

    def to_dict(self) -> dict[str, Any]:
        findings = self.findings()
        by_element: dict[int, list[str]] = {e: [] for e in ELEMENTS}
        for f in findings:
            by_element[f["element"]].append(f["rule"])
            if f["documents_element"]:
                by_element[f["documents_element"]].append(f["rule"])
        elements = []
        for number, name in ELEMENTS.items():
            if number in NOT_CHECKED:
                status = "not checked"
            elif any(RULES[r].severity == "miring" for r in by_element[number]):
                status = "incomplete"
            elif by_element[number]:  # warning, info or ungraded only
                status = "warnings"
            else:
                status = "complete"
            elements.append({"element": number, "name": name, "status": status,
                             "rules": sorted(set(by_element[number])),
                             "note": NOT_CHECKED.get(number)})
        return {
            "rules_from": VALIDATOR,
            "required_rules_failed": sum(1 for f in findings if f["severity"] == "miring"),
            "elements": elements,
            "findings": findings,
            "note": ("MIRING findings are warnings: they never stop an import. Severity 'miring' "
                     "means the validator grades the rule as required by MIRING; no failed "
                     "rule is not a certificate of compliance (element 7 is not checked)."),
        }


def check_header(report: MiringReport, hmlids: list[dict[str, str]],
                 centers: list[dict[str, str]]) -> None:
    """Element 1 rules on the message header (``hmlid``, ``reporting-center``)."""
    if len(hmlids) != 1:
        report.add("1.1.a", "message", f"{len(hmlids)} <hmlid> elements (exactly one expected)")
    for h in hmlids:
        root, ext = h.get("root", ""), h.get("extension", "")
        if not (_OID.match(root) and ext):
            report.add("1.1.c", "message", f"hmlid root={root!r} extension={ext!r}")
    if len(centers) != 1:
        report.add("1.2.a", "message",
                   f"{len(centers)} <reporting-center> elements (exactly one expected)")
    for c in centers:
        if not c.get("reporting-center-id") or not c.get("reporting-center-context"):
            missing = [a for a in ("reporting-center-id", "reporting-center-context")
                       if not c.get(a)]
            report.add("1.2.b", "message", "missing " + ", ".join(missing))


def _num(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def check_typing(report: MiringReport, typing: Any, where: str) -> None:
    """Elements 1-5 on one ``typing`` element (``where`` names the sample and typing)."""
    assignments = list(children(typing, "allele-assignment"))
    if not assignments:
        report.add("2.1.a", where, "no <allele-assignment>")
    for i, aa in enumerate(assignments, 1):
        at = f"{where} allele-assignment {i}"
        if not aa.get("allele-db"):
            report.add("2.1.b", at, "no allele-db attribute")
        if not aa.get("allele-version"):
            report.add("2.1.c", at, "no allele-version attribute")
        for gl in children(aa, "glstring"):
            if not (gl.text or "").strip() and not gl.get("uri"):
                report.add("3.2.a", at, "<glstring> with neither text nor uri")
    methods = [m for tm in children(typing, "typing-method") for m in tm
               if local(m) in _METHODS]
    has_gl = any((gl.text or "").strip() for aa in assignments
                 for gl in children(aa, "glstring"))
    if not has_gl and not any(m.get("locus") for m in methods):
        report.add("3.1.a", where, "no GL string text and no locus attribute on the typing "
                   "method")
    for m in methods:
        at = f"{where} {local(m)}"
        if not m.get("test-id") or not m.get("test-id-source"):
            report.add("1.3.a", at, "missing " + ", ".join(
                a for a in ("test-id", "test-id-source") if not m.get(a)))
        elif local(m) == "sbt-ngs" and not (
                _GTR_ID.match(m.get("test-id", "")) and "GTR" in m.get("test-id-source", "")):
            report.add("1.3.b", at, f"test-id {m.get('test-id')!r} from "
                       f"{m.get('test-id-source')!r} is not an NCBI GTR accession")
        if local(m) == "sbt-ngs":
            reads = list(children(m, "raw-reads"))
            if not reads:
                report.add("1.5.a", at, "no <raw-reads>")
            for r in reads:
                if not r.get("availability"):
                    report.add("1.5.b", at, f"<raw-reads uri={r.get('uri')!r}> has no "
                               "availability")
    sequences = list(children(typing, "consensus-sequence"))
    if not sequences and any(local(m) == "sbt-ngs" for m in methods):
        report.add("4", where, "no <consensus-sequence>")
    for j, cs in enumerate(sequences, 1):
        _check_consensus(report, cs, f"{where} consensus-sequence {j}")


def _check_consensus(report: MiringReport, cs: Any, where: str) -> None:
    refs: dict[str, tuple[int | None, int | None]] = {}
    for db in children(cs, "reference-database"):
        seqs = list(children(db, "reference-sequence"))
        if not seqs:
            report.add("2.2.a", where, "<reference-database> without <reference-sequence>")
        if db.get("curated") not in ("true", "false"):
            report.add("2.3.b", where, f"<reference-database> curated={db.get('curated')!r}")
        for rs in seqs:
            rid = rs.get("id") or "?"
            missing = [a for a in ("id", "name", "start", "end", "accession", "uri")
                       if not rs.get(a)]
            if missing:
                report.add("2.2.b", f"{where} reference-sequence {rid}",
                           "missing " + ", ".join(missing))
            start, end = _num(rs.get("start")), _num(rs.get("end"))
            if start is not None and end is not None and end < start:
                report.add("2.2.c", f"{where} reference-sequence {rid}",
                           f"end {end} < start {start}")
            refs[rid] = (start, end)
    blocks = list(children(cs, "consensus-sequence-block"))
    if not blocks:
        report.add("4.1.a", where, "no <consensus-sequence-block>")
    used = {b.get("reference-sequence-id") for b in blocks}
    for rid in refs:
        if rid not in used:
            report.add("2.2.1.c", where, f"reference-sequence {rid!r} is used by no block")
    for k, b in enumerate(blocks, 1):
        at = f"{where} block {k}"
        rid = b.get("reference-sequence-id")
        if not rid:
            report.add("4.2.2.a", at, "no reference-sequence-id")
        start, end = _num(b.get("start")), _num(b.get("end"))
        if start is None or end is None:
            report.add("4.2.3.a", at, "missing start or end")
        else:
            if end < start:
                report.add("4.2.3.b", at, f"end {end} < start {start}")
            rs_start, rs_end = refs.get(rid or "", (None, None))
            if rs_start is not None and rs_end is not None and (start < rs_start or
                                                                 end > rs_end):
                report.add("4.2.3.d", at, f"[{start}, {end}] outside reference sequence "
                           f"{rid!r} [{rs_start}, {rs_end}]")
            for seq in children(b, "sequence"):
                text = "".join((seq.text or "").split())
                if text and len(text) != end - start:
                    report.add("4.2.3.e", at, f"sequence of {len(text)} bases for "
                               f"end-start = {end - start}")
        if not b.get("phase-set"):
            report.add("4.2.4.a", at, "no phase-set")
        if not b.get("expected-copy-number"):
            report.add("4.2.5.a", at, "no expected-copy-number")
        if b.get("continuity") not in ("true", "false"):
            report.add("4.2.7.a", at, f"continuity={b.get('continuity')!r}")
        _check_variants(report, b.iter("{*}variant"), at, refs.get(rid or "", (None, None)))


def _check_variants(report: MiringReport, nodes: Iterable[Any], where: str,
                    ref: tuple[int | None, int | None]) -> None:
    for v in nodes:
        at = f"{where} variant {v.get('id', '?')}"
        if not v.get("id"):
            report.add("5.3.a", at, "no id")
        start, end = _num(v.get("start")), _num(v.get("end"))
        if start is not None and end is not None:
            if end < start:
                report.add("5.2.b", at, f"end {end} < start {start}")
            if ref[0] is not None and ref[1] is not None and (start < ref[0] or end > ref[1]):
                report.add("5.2.d", at, f"[{start}, {end}] outside the reference sequence")
        for attr, rule in (("reference-bases", "5.4.a"), ("alternate-bases", "5.5.a"),
                           ("quality-score", "5.6.a"), ("filter", "5.7.a")):
            if not v.get(attr):
                report.add(rule, at, f"no {attr}")
