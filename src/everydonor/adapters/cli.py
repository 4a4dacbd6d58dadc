"""The ``everydonor`` command: parse arguments → call the core → render; errors → stderr, exit 2.

Nothing is written to stdout unless the whole answer is ready, so a failed run never leaves a
half-written JSON document behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from everydonor import __version__
from everydonor.adapters.imgt import IMGT_CITATIONS, load_reference, read_mac_file
from everydonor.adapters.pyard import PYARD_VERSION
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.designation import MacDictionary, expand, parse_typing
from everydonor.hla.glstring import is_gl_string, map_tokens, parse_gl
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import HlaReference, Resolution

EXIT_BAD_INPUT = 2
NOTICE = ("Decision support for the treating transplant team; check every answer against its "
          "source before clinical use.")


def _example_path() -> Path:
    return Path(str(resources.files("everydonor") / "data" / "examples" / "typings.txt"))


def _read_typings_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read typings file {str(path)!r}: {exc.strerror}",
                         value=str(path), field="--file") from exc
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


class Context:
    """What a command needs: the release tables, the MAC list, the reducer (built lazily)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.imgt_dir: str | None = args.imgt or os.environ.get("EVERYDONOR_IMGT_DIR") or None
        self.mac_file: str | None = args.mac or os.environ.get("EVERYDONOR_MAC_FILE") or None
        self._ref: HlaReference | None = None
        self._macs: MacDictionary | None = None
        self._reducer: Reducer | None = None

    @property
    def ref(self) -> HlaReference:
        if self._ref is None:
            self._ref = load_reference(self.imgt_dir)
        return self._ref

    @property
    def macs(self) -> MacDictionary | None:
        if self._macs is None and self.mac_file:
            self._macs = read_mac_file(self.mac_file)
        return self._macs

    @property
    def reducer(self) -> Reducer:
        if self._reducer is None:
            self._reducer = Reducer(self.ref, self.macs)
        return self._reducer

    def provenance(self) -> dict[str, Any]:
        return {
            "software": f"everydonor {__version__}",
            "reference": f"IPD-IMGT/HLA {self.ref.release}",
            "mac_list": self.macs.source if self.macs else None,
            "notice": NOTICE,
        }


def _typings(args: argparse.Namespace) -> list[str]:
    items: list[str] = list(args.typings or [])
    if args.file:
        items += _read_typings_file(Path(args.file))
    if args.example:
        items += _read_typings_file(_example_path())
    if not items:
        raise InputError("no typings given: pass TYPING arguments, --file FILE or --example",
                         field="TYPING")
    return items


def _reduce_one(ctx: Context, text: str, to: Resolution) -> dict[str, Any]:
    if is_gl_string(text):
        gl = parse_gl(text)
        reduced = map_tokens(gl, lambda t: ctx.reducer.reduce(parse_typing(t), to).output or t)
        return {"input": text, "output": reduced.format(), "kind": "gl_string"}
    return ctx.reducer.reduce(parse_typing(text), to).to_dict()


def _check_one(ctx: Context, text: str) -> dict[str, Any]:
    tokens = parse_gl(text).tokens() if is_gl_string(text) else [text]
    parts = []
    for token in tokens:
        typing = parse_typing(token)
        alleles = expand(typing, ctx.ref, ctx.macs)
        parts.append({"typing": token, "kind": typing.kind.value,
                      "locus": typing.locus.value if typing.locus else None,
                      "alleles": len(alleles), "ambiguous": len(alleles) > 1})
    out: dict[str, Any] = {"input": text, "valid": True}
    if len(parts) == 1:
        out.update({k: v for k, v in parts[0].items() if k != "typing"})
    else:
        out["kind"] = "gl_string"
        out["ambiguous"] = any(p["ambiguous"] for p in parts)
        out["parts"] = parts
    return out


def _expand_one(ctx: Context, text: str) -> dict[str, Any]:
    if is_gl_string(text):
        gl = parse_gl(text)
        expanded = map_tokens(gl, lambda t: "/".join(expand(parse_typing(t), ctx.ref, ctx.macs))
                              or t)
        return {"input": text, "output": expanded.format(), "kind": "gl_string"}
    typing = parse_typing(text)
    alleles = expand(typing, ctx.ref, ctx.macs)
    return {"input": text, "kind": typing.kind.value, "alleles": list(alleles),
            "count": len(alleles)}


def _run_each(ctx: Context, items: Sequence[str],
              fn: Callable[[Context, str], dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                     list[EverydonorError]]:
    results, errors = [], []
    for item in items:
        try:
            results.append(fn(ctx, item))
        except EverydonorError as exc:
            if exc.value is None:
                exc.value = item
            if exc.release is None and ctx._ref is not None:
                exc.release = ctx._ref.release
            errors.append(exc)
            results.append({"input": item, "valid": False, "error": exc.to_dict()})
    return results, errors


def cmd_hla(args: argparse.Namespace) -> int:
    ctx = Context(args)
    items = _typings(args)
    if args.action == "reduce":
        to = Resolution(args.to)
        results, errors = _run_each(ctx, items, lambda c, t: _reduce_one(c, t, to))
    elif args.action == "check":
        results, errors = _run_each(ctx, items, _check_one)
    else:
        results, errors = _run_each(ctx, items, _expand_one)

    if errors and args.action != "check":
        for exc in errors:
            print(f"everydonor: {exc}", file=sys.stderr)
        print(f"everydonor: {len(errors)} of {len(items)} typings refused; nothing written",
              file=sys.stderr)
        return EXIT_BAD_INPUT

    document: dict[str, Any] = {"release": ctx.ref.release}
    if args.action == "reduce":
        document["to"] = args.to
    document["results"] = results
    document["provenance"] = ctx.provenance()
    if args.format == "json":
        text = json.dumps(document, indent=2, ensure_ascii=False)
    else:
        text = _render_text(args.action, results, document)
    print(text)
    if errors:
        for exc in errors:
            print(f"everydonor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _render_text(action: str, results: list[dict[str, Any]], document: dict[str, Any]) -> str:
    lines = [f"# IPD-IMGT/HLA {document['release']} — {NOTICE}"]
    width = max((len(r["input"]) for r in results), default=10)
    for r in results:
        if "error" in r:
            lines.append(f"{r['input']:<{width}}  INVALID  {r['error']['message']}")
        elif action == "reduce":
            out = r.get("output") or f"(none: {r.get('note', '')})"
            note = f"   [{r['note']}]" if r.get("output") and r.get("note") else ""
            lines.append(f"{r['input']:<{width}}  →  {out}{note}")
        elif action == "check":
            amb = "ambiguous" if r.get("ambiguous") else "unambiguous"
            lines.append(f"{r['input']:<{width}}  valid  {r.get('kind')}  {amb}")
        else:
            out = r.get("output") or "/".join(r.get("alleles", []))
            lines.append(f"{r['input']:<{width}}  =  {out}")
    return "\n".join(lines)


def cmd_family(args: argparse.Namespace) -> int:
    from everydonor.family.analysis import analyse_family, render_text

    ctx = Context(args)
    case = _load_case(args)
    result = analyse_family(case, ctx.reducer)
    document = dict(result.document)
    document["provenance"] = ctx.provenance()
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(render_text(document, NOTICE, f"everydonor {__version__}"))
    return 0


def _load_case(args: argparse.Namespace) -> Any:
    from everydonor.adapters.casefile import read_case

    if args.example:
        return read_case(Path(str(resources.files("everydonor") / "data" / "examples" /
                                  "case.json")))
    if args.case:
        return read_case(args.case)
    raise InputError("no case file given: pass CASE or --example", field="CASE")


def cmd_match(args: argparse.Namespace) -> int:
    from everydonor.adapters.imgt import load_kir_table, open_release, read_tce
    from everydonor.matching.analysis import match_case

    ctx = Context(args)
    case = _load_case(args)
    tce = read_tce(open_release(ctx.imgt_dir))
    kir = load_kir_table(ctx.imgt_dir)
    document = match_case(case, ctx.reducer, tce, kir, dsa_positive_mfi=args.dsa_positive_mfi)
    document["provenance"] = ctx.provenance()
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    lines = [f"# everydonor match — IPD-IMGT/HLA {document['release']} — patient "
             f"{document['patient']}", f"# {NOTICE}", ""]
    for d in document["donors"]:
        hla = d["hla"]
        if hla is None:
            lines.append(f"{d['id']:<8} not HLA typed")
            continue
        loci = " ".join(f"{loc}:{v['gvh']}/{v['hvg']}{'?' if v.get('ambiguous') else ''}"
                        for loc, v in hla["loci"].items())
        m = hla["match"]
        dsa = d["dsa"]
        dsa_text = dsa["status"] + (f" (max MFI {dsa['max_mfi']:g})" if dsa["max_mfi"] else "")
        lines.append(f"{d['id']:<8} {d.get('relationship') or d.get('registry') or '':<12} "
                     f"{m['of_8']}/8 {m['of_10']}/10 {m['of_12']}/12  gvh/hvg {loci}")
        lines.append(f"{'':<8} untyped {','.join(hla['untyped_loci']) or '-'}; DPB1 TCE "
                     f"{d['dpb1_tce']}; KIR-ligand mismatch GvH {d['kir_ligand_mismatch_gvh']}; "
                     f"DSA {dsa_text}; ABO {d['abo']}; CMV {d['cmv']}; sex {d['sex']}")
    print("\n".join(lines))
    return 0


def _rule_set(spec: str) -> Any:
    from everydonor.selection.rules import get_rule_set, rule_set_from_mapping

    if spec.endswith((".yaml", ".yml", ".json")):
        from everydonor.adapters.casefile import load_case_data

        try:
            data = load_case_data(spec)
        except EverydonorError as exc:
            exc.field = exc.field or "--rules"
            raise
        return rule_set_from_mapping(data)
    return get_rule_set(spec)


def _pedigree_people(case: Any) -> list[dict[str, Any]]:
    people = []
    for p in (case.patient, *case.relatives):
        people.append({"id": p.id, "relationship": p.relationship.value if p.relationship
                       else None, "sex": p.sex.value if p.sex else None, "age": p.age,
                       "label": f"{p.name} ({p.id})" if p.name else p.id, "through": p.through,
                       "untyped": p.hla is None or not p.hla.loci})
    return people


def _rank_document(ctx: Context, case: Any, rules: Any) -> tuple[dict[str, Any],
                                                                 dict[str, Any]]:
    from everydonor.adapters.imgt import load_kir_table, open_release, read_tce
    from everydonor.selection.ranking import rank_case

    tce = read_tce(open_release(ctx.imgt_dir))
    kir = load_kir_table(ctx.imgt_dir)
    result, family, _ = rank_case(case, ctx.reducer, tce, kir, rules)
    document = dict(result.document)
    document["provenance"] = {**ctx.provenance(), "rule_set": f"{rules.name}@{rules.version}",
                              "case_date": case.as_of.isoformat()}
    family = {**family, "people": _pedigree_people(case)}
    return document, family


def _write_output(data: bytes | str, out: str | None) -> None:
    """Write all of it or nothing: a temporary file beside the target, then an atomic rename."""
    if out is None or out == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            print(data, end="" if data.endswith("\n") else "\n")
        return
    target = Path(out)
    if target.parent and not target.parent.exists():
        raise InputError(f"output folder {str(target.parent)!r} does not exist", field="-o",
                         value=out)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data if data.endswith("\n") else data + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {out!r}: {exc.strerror}", field="-o", value=out) from exc


def _render(document: dict[str, Any], family: dict[str, Any], fmt: str) -> bytes | str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False)
    if fmt == "text":
        from everydonor.adapters.report.text import render_ranking_text

        return render_ranking_text(document, document["provenance"])
    from everydonor.adapters.report.html import render_ranking_html

    html = render_ranking_html(document, family, family["people"])
    if fmt == "html":
        return html
    from everydonor.adapters.report.pdf import html_to_pdf

    return html_to_pdf(html)


def _with_registry_donors(ctx: Context, case: Any, args: argparse.Namespace) -> Any:
    """``rank --store DIR``: the best donors of a registry search join the case's unrelated."""
    import dataclasses

    from everydonor.adapters.donor_search import case_entries, patient_from_person, run_search
    from everydonor.adapters.donors_cli import frequency_set_of
    from everydonor.adapters.donorstore import DonorStore
    from everydonor.adapters.imgt import open_release, read_tce
    from everydonor.case import parse_person

    if args.unrelated_top < 1:
        raise InputError("--unrelated-top must be at least 1", field="--unrelated-top",
                         value=str(args.unrelated_top))
    store = DonorStore.open(args.store)
    patient = patient_from_person(case.patient, ctx.reducer)
    fs = frequency_set_of(store, args.frequencies, ctx.reducer)
    run = run_search(store, patient, fs, args.mismatches, ctx.reducer,
                     tce=read_tce(open_release(ctx.imgt_dir)), limit=args.unrelated_top)
    taken = {p.id for p in (case.patient, *case.relatives, *case.unrelated)}
    added = [parse_person(e, "unrelated", case.as_of)[0]
             for e in case_entries(run.hits, fs, taken)]
    note = (f"{len(added)} unrelated donors added from the registry search of {store.path} "
            f"({store.donors:,} donors, up to {args.mismatches} mismatches, frequency set "
            f"{fs.name if fs else 'none'}): the best {args.unrelated_top} of "
            f"{run.document['counts']['listed']:,} listed")
    return dataclasses.replace(case, unrelated=(*case.unrelated, *added),
                               warnings=(*case.warnings, note))


def cmd_rank(args: argparse.Namespace) -> int:
    ctx = Context(args)
    case = _load_case(args)
    if args.store:
        case = _with_registry_donors(ctx, case, args)
    rules = _rule_set(args.rules)
    document, family = _rank_document(ctx, case, rules)
    _write_output(_render(document, family, args.format), args.output)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from everydonor.adapters.casefile import read_case
    from everydonor.adapters.report.text import render_ranking_text

    ctx = Context(args)
    case = read_case(Path(str(resources.files("everydonor") / "data" / "examples" /
                              "case.json")))
    rules = _rule_set(args.rules)
    document, family = _rank_document(ctx, case, rules)
    from everydonor.adapters.report.html import render_ranking_html
    from everydonor.adapters.report.pdf import html_to_pdf

    html = render_ranking_html(document, family, family["people"])
    pdf = html_to_pdf(html)  # everything rendered before anything is written
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_output(json.dumps(document, indent=2, ensure_ascii=False), str(out / "ranking.json"))
    _write_output(html, str(out / "report.html"))
    _write_output(pdf, str(out / "report.pdf"))
    print(render_ranking_text(document, document["provenance"]))
    print(f"\nReport written: {out / 'report.pdf'} (and report.html, ranking.json)")
    return 0


def cmd_regimens(args: argparse.Namespace) -> int:
    from everydonor.adapters.regimens import bundled_regimens

    regimens = [r.summary() for r in bundled_regimens()]
    if args.format == "json":
        print(json.dumps({"regimens": regimens, "notice": NOTICE}, indent=2, ensure_ascii=False))
        return 0
    lines = [f"# everydonor regimens — {NOTICE}", ""]
    for r in regimens:
        lines.append(f"{r['id']} ({r['version']}): {r['title']}")
        lines.append(f"    {r['platform']} · {r['indication']}")
        for name, o in r["options"].items():
            lines.append(f"    option {name}: default {o['default']}; choices "
                         + "; ".join(f"{k} = {v}" for k, v in o["choices"].items()))
        lines.append(f"    {r['lines_to_verify']} line(s) to be verified by the centre ([M])"
                     + (f"; doses not set (template): {', '.join(r['unset_doses'])}"
                        if r["unset_doses"] else ""))
        lines += [f"    - {ref}" for ref in r["references"]]
    print("\n".join(lines))
    return 0


def _parse_options(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError("--option takes NAME=VALUE (e.g. atg_total_mg_per_kg=7.5)",
                             field="--option", value=item)
        out[key.strip()] = value.strip()
    return out


def cmd_plan(args: argparse.Namespace) -> int:
    import datetime as dt

    from everydonor.adapters.regimens import load_regimen
    from everydonor.treatment.body import BsaFormula
    from everydonor.treatment.plan import plan_regimen

    case = _load_case(args)
    regimen = load_regimen(args.regimen)
    try:
        day0 = dt.date.fromisoformat(args.day0)
    except ValueError:
        raise InputError("--day0 must be a date (YYYY-MM-DD)", field="--day0",
                         value=args.day0) from None
    donor = None
    if args.donor:
        try:
            donor = case.person(args.donor)
        except KeyError:
            raise InputError(f"no person {args.donor!r} in the case", field="--donor",
                             value=args.donor) from None
        if donor.role == "patient":
            raise InputError("the donor cannot be the patient", field="--donor",
                             value=args.donor)
    document = plan_regimen(regimen, case.patient, day0, bsa_formula=BsaFormula(args.bsa),
                            options=_parse_options(args.option), donor=donor,
                            engraftment_day=args.engraftment_day)
    provenance = {"software": f"everydonor {__version__}", "notice": NOTICE,
                  "reference": f"regimen {regimen.id}@{regimen.version}"}
    document["provenance"] = provenance
    if args.format == "json":
        out: str | bytes = json.dumps(document, indent=2, ensure_ascii=False)
    elif args.format == "text":
        from everydonor.adapters.report.plan_text import render_plan_text

        out = render_plan_text(document, provenance)
    elif args.format == "ics":
        from everydonor.adapters.report.plan_text import render_plan_ics

        stamp = dt.datetime.combine(case.as_of, dt.time(0, 0))
        out = render_plan_ics(document, stamp)
    else:
        from everydonor.adapters.report.html import render_plan_html

        html = render_plan_html(document, provenance, case.patient.name)
        if args.format == "html":
            out = html
        else:
            from everydonor.adapters.report.pdf import html_to_pdf

            out = html_to_pdf(html)
    _write_output(out, args.output)
    return 0


def cmd_followup(args: argparse.Namespace) -> int:
    import datetime as dt

    from everydonor.treatment.followup import assess_follow_up

    case = _load_case(args)
    try:
        day0 = dt.date.fromisoformat(args.day0)
    except ValueError:
        raise InputError("--day0 must be a date (YYYY-MM-DD)", field="--day0",
                         value=args.day0) from None
    document = assess_follow_up(case.patient, day0, case.follow_up)
    document["provenance"] = {"software": f"everydonor {__version__}", "notice": NOTICE}
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    lines = [f"everydonor followup — patient {document['patient']} — day 0 {document['day0']}",
             f"NOTICE: {document['notice']}", "",
             f"{'day':>5}  {'date':<10}  {'WT1 %':>6}  {'WT1+':<5} {'flow+':<5} fusion"]
    for r in document["results"]:
        fusion = (f"{r['fusion']['name']} {'+' if r['fusion']['positive'] else '-'}"
                  if r["fusion"] else "")
        wt1 = "" if r["wt1_pct"] is None else f"{r['wt1_pct']:g}"
        lines.append(f"{r['day']:>+5}  {r['date']:<10}  {wt1:>6}  {r['wt1_positive']!s:<5} "
                     f"{r['flow_positive']!s:<5} {fusion}")
    lines += ["", f"MRD status: {document['mrd_status'].upper()} "
              f"({document['mrd_definition']['name']}, {document['mrd_definition']['citation']})",
              "", "Recommendations:"]
    for r in document["recommendations"]:
        tag = f" [{r['confidence']}; {r['citation']}]"
        lines.append(f"  - {r['action']}{tag}" + ("  (to be verified by the centre)"
                                                   if r["to_verify"] else ""))
    lines += ["", "Notes:"] + [f"  - {n}" for n in document["notes"]]
    print("\n".join(lines))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from everydonor.adapters.casefile import load_case_data
    from everydonor.scores.catalogue import SCORES, compute_score

    if args.list:
        if args.format == "json":
            print(json.dumps({"scores": [s.describe() for s in SCORES.values()]}, indent=2,
                             ensure_ascii=False))
        else:
            for s in SCORES.values():
                print(f"{s.name:<36} [{s.confidence}] {s.criteria:<16} {s.citation}")
        return 0
    if not args.name or not args.input:
        raise InputError("give NAME and --input FILE.json (or --list)", field="NAME")
    if not str(args.input).endswith(".json"):
        raise InputError("--input must be a JSON file", field="--input", value=args.input)
    data = load_case_data(args.input)
    document = compute_score(args.name, data)
    document["provenance"] = {"software": f"everydonor {__version__}", "notice": NOTICE}
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    skip = {"score", "criteria", "citation", "confidence", "notes", "inputs", "provenance"}
    lines = [f"{document['score']} ({document['criteria']}; [{document['confidence']}] "
             f"{document['citation']})"]
    lines += [f"  {k}: {v}" for k, v in document.items() if k not in skip]
    lines += [f"  note: {n}" for n in document["notes"]]
    print("\n".join(lines))
    return 0


def version_text() -> str:
    lines = [
        f"everydonor {__version__}",
        "Reference data: IPD-IMGT/HLA 3.58.0 (bundled, unmodified; CC BY-ND, see "
        "everydonor/data/imgt/3580/LICENCE.md)",
        f"HLA reduction cross-checked with py-ard {PYARD_VERSION} (NMDP, LGPL-3.0)",
        "Please cite, when you use the IPD-IMGT/HLA data:",
        *[f"  - {c}" for c in IMGT_CITATIONS],
        NOTICE,
    ]
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """Print :func:`version_text` as written (argparse's own action would reflow it)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(version_text())
        raise SystemExit(0)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit status is 2 as well
        self.print_usage(sys.stderr)
        print(f"everydonor: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _case_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", metavar="CASE", nargs="?",
                        help="case file (JSON or YAML, everydonor.case/1)")
    parser.add_argument("--example", action="store_true", help="use the bundled example case")
    parser.add_argument("--format", choices=["json", "text"], default="json")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="everydonor", description=(
        "everydonor: HLA nomenclature, family haplotypes and donor selection by the Beijing "
        "Protocol. " + NOTICE))
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show version, reference release and citations, then exit")
    parser.add_argument("--imgt", metavar="DIR", help="IPD-IMGT/HLA release folder (default: "
                        "the bundled 3.58.0; or EVERYDONOR_IMGT_DIR)")
    parser.add_argument("--mac", metavar="FILE", help="NMDP multiple allele code list "
                        "(numer.v3.txt or Atlas CSV; or EVERYDONOR_MAC_FILE)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    hla = sub.add_parser("hla", help="check, reduce or expand HLA typings")
    hla.add_argument("action", choices=["check", "reduce", "expand"])
    hla.add_argument("typings", nargs="*", metavar="TYPING",
                     help="allele, allele string, MAC, XX code, G/P group, serology or GL string")
    hla.add_argument("--to", choices=[r.value for r in Resolution], default=Resolution.LGX.value,
                     help="target of reduce (default lgx)")
    hla.add_argument("--file", metavar="FILE", help="read typings from FILE, one per line")
    hla.add_argument("--example", action="store_true", help="use the bundled example typings")
    hla.add_argument("--format", choices=["json", "text"], default="json")
    hla.set_defaults(func=cmd_hla)

    fam = sub.add_parser("family", help="segregate the family's HLA haplotypes and judge every "
                         "relative's relation to the patient")
    _case_arguments(fam)
    fam.set_defaults(func=cmd_family)

    mat = sub.add_parser("match", help="compare every candidate donor with the patient: HLA by "
                         "direction, DPB1 TCE, KIR ligands, DSA, ABO, CMV, sex")
    _case_arguments(mat)
    mat.add_argument("--dsa-positive-mfi", type=float, default=None, metavar="MFI",
                     help="count only antibody results at or above this MFI (the laboratory's "
                     "cut-off; default: every reported result)")
    mat.set_defaults(func=cmd_match)

    rank = sub.add_parser("rank", help="rank the donors of a case under a named rule set, with "
                          "reasons, flags and exclusions; report as text, JSON, HTML or PDF")
    rank.add_argument("case", metavar="CASE", nargs="?",
                      help="case file (JSON or YAML, everydonor.case/1)")
    rank.add_argument("--example", action="store_true", help="use the bundled example case")
    rank.add_argument("--rules", default="beijing", metavar="NAME|FILE",
                      help="rule set: beijing (CSH 2021), beijing@csh2018, baltimore, or a "
                      "centre's YAML/JSON file based on one of them (default beijing)")
    rank.add_argument("--format", choices=["json", "text", "html", "pdf"], default="json")
    rank.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout; "
                      "written whole or not at all)")
    rank.add_argument("--store", metavar="DIR", help="also search this donor store and add the "
                      "best unrelated donors to the ranking (see `everydonor donors`)")
    rank.add_argument("--unrelated-top", type=int, default=3, metavar="N",
                      help="how many registry donors to add (default 3)")
    rank.add_argument("--frequencies", metavar="NAME|FILE",
                      help="frequency set for the registry search (default: the store's only one)")
    rank.add_argument("--mismatches", type=int, default=2, choices=[0, 1, 2],
                      help="mismatches allowed in the registry search (default 2)")
    rank.set_defaults(func=cmd_rank)

    demo = sub.add_parser("demo", help="run the whole chain on the bundled example family and "
                          "write the report (PDF, HTML, JSON)")
    demo.add_argument("--out", default="everydonor-demo", metavar="DIR",
                      help="folder for the report (default ./everydonor-demo)")
    demo.add_argument("--rules", default="beijing", metavar="NAME|FILE")
    demo.set_defaults(func=cmd_demo)

    regs = sub.add_parser("regimens", help="list the bundled regimens with their options and "
                          "references")
    regs.add_argument("--format", choices=["json", "text"], default="text")
    regs.set_defaults(func=cmd_regimens)

    plan = sub.add_parser("plan", help="doses for this patient, a dated calendar of orders, the "
                          "donor's priming and the monitoring schedule")
    plan.add_argument("case", metavar="CASE", nargs="?",
                      help="case file (JSON or YAML, everydonor.case/1)")
    plan.add_argument("--example", action="store_true", help="use the bundled example case")
    plan.add_argument("--regimen", required=True, metavar="ID|FILE",
                      help="bundled regimen id (see `everydonor regimens`) or a regimen file")
    plan.add_argument("--day0", required=True, metavar="YYYY-MM-DD",
                      help="day 0: the first graft infusion")
    plan.add_argument("--bsa", choices=["mosteller", "dubois"], default="mosteller",
                      help="body-surface-area formula (default mosteller)")
    plan.add_argument("--option", action="append", metavar="NAME=VALUE",
                      help="a regimen option, e.g. atg_total_mg_per_kg=7.5 (repeatable)")
    plan.add_argument("--donor", metavar="ID", help="the chosen donor (priming doses by the "
                      "donor's weight)")
    plan.add_argument("--engraftment-day", type=int, metavar="N",
                      help="day of engraftment, to date monitoring that starts then")
    plan.add_argument("--format", choices=["json", "text", "html", "pdf", "ics"],
                      default="json")
    plan.add_argument("-o", "--output", metavar="FILE", help="write to FILE (whole or nothing)")
    plan.set_defaults(func=cmd_plan)

    fu = sub.add_parser("followup", help="post-transplant MRD results (the case's follow_up) "
                        "→ the protocol's recommendation, each with its source")
    _case_arguments(fu)
    fu.add_argument("--day0", required=True, metavar="YYYY-MM-DD",
                    help="day 0 of the transplant (results are dated from it)")
    fu.set_defaults(func=cmd_followup)

    sc = sub.add_parser("score", help="clinical scores and event definitions by their published "
                        "tables (GVHD, HCT-CI, DRI, EBMT, performance, engraftment, CMV, GRFS)")
    sc.add_argument("name", metavar="NAME", nargs="?", help="score name (see --list)")
    sc.add_argument("--input", metavar="FILE.json", help="the score's input as a JSON object")
    sc.add_argument("--list", action="store_true", help="list every score with its citation")
    sc.add_argument("--format", choices=["json", "text"], default="json")
    sc.set_defaults(func=cmd_score)

    from everydonor.adapters.donors_cli import register as register_donors

    register_donors(sub, Context, _write_output, NOTICE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 ok, 2 bad input)."""
    parser = build_parser()
    # Typings may come before or after options ("hla reduce --to g A*01:01"): argparse leaves
    # positionals after an option unparsed, so they are gathered here; stray options still fail.
    args, extras = parser.parse_known_args(argv)
    stray = [x for x in extras if x.startswith("-") and x != "-"]
    if stray or (extras and args.command != "hla"):  # only hla takes many positionals
        parser.error(f"unrecognized arguments: {' '.join(stray or extras)}")
    if extras:
        args.typings = [*getattr(args, "typings", []), *extras]
    try:
        result: int = args.func(args)
        return result
    except EverydonorError as exc:
        print(f"everydonor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
