"""``everydonor rank`` and ``everydonor demo``: the explained donor ranking and its report."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path
from typing import Any

from everydonor.adapters.cli.common import (
    Context,
    case_or_stored_patient,
    registry_arguments,
    save_snapshots,
    write_output,
)
from everydonor.errors import EverydonorError, InputError


def rule_set(spec: str) -> Any:
    from everydonor.selection.catalogue import get_rule_set, rule_set_from_mapping

    if spec.endswith((".yaml", ".yml", ".json")):
        from everydonor.adapters.inputs.casefile import load_case_data

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


def rank_document(ctx: Context, case: Any, rules: Any
                  ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The ranking document (with provenance), the family (with the pedigree's people) and
    the match answer it stands on."""
    from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce
    from everydonor.selection.ranking import rank_case

    tce = read_tce(open_release(ctx.imgt_dir))
    kir = load_kir_table(ctx.imgt_dir)
    result, family, match = rank_case(case, ctx.reducer, tce, kir, rules)
    document = dict(result.document)
    document["provenance"] = {**ctx.provenance(), "rule_set": f"{rules.name}@{rules.version}",
                              "case_date": case.as_of.isoformat()}
    family = {**family, "people": _pedigree_people(case)}
    return document, family, dict(match)


def render_ranking(document: dict[str, Any], family: dict[str, Any], fmt: str) -> bytes | str:
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

    from everydonor.adapters.donorstore import DonorStore
    from everydonor.adapters.reference.imgt import open_release, read_tce
    from everydonor.adapters.search.frequencies import frequency_set_of
    from everydonor.adapters.search.runner import case_entries, patient_from_person, run_search
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
    case = case_or_stored_patient(args, "ranking")
    if args.store:
        case = _with_registry_donors(ctx, case, args)
    rules = rule_set(args.rules)
    document, family, match = rank_document(ctx, case, rules)
    if args.patient is not None:
        document["provenance"]["source"] = f"registry patient {args.patient}"
    rendered = render_ranking(document, family, args.format)  # whole, before anything is kept
    if args.save:
        save_snapshots(args, (("family", family), ("match", match), ("ranking", document)),
                       rule_set=(rules.name, rules.version), release=ctx.ref.release,
                       reason=f"ranked under {rules.name}@{rules.version}")
    write_output(rendered, args.output)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from everydonor.adapters.inputs.casefile import read_case
    from everydonor.adapters.report.text import render_ranking_text

    ctx = Context(args)
    case = read_case(Path(str(resources.files("everydonor") / "data" / "examples" /
                              "case.json")))
    rules = rule_set(args.rules)
    document, family, _ = rank_document(ctx, case, rules)
    from everydonor.adapters.report.html import render_ranking_html
    from everydonor.adapters.report.pdf import html_to_pdf

    html = render_ranking_html(document, family, family["people"])
    pdf = html_to_pdf(html)  # everything rendered before anything is written
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_output(json.dumps(document, indent=2, ensure_ascii=False), str(out / "ranking.json"))
    write_output(html, str(out / "report.html"))
    write_output(pdf, str(out / "report.pdf"))
    print(render_ranking_text(document, document["provenance"]))
    print(f"\nReport written: {out / 'report.pdf'} (and report.html, ranking.json)")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the main parser."""
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
    registry_arguments(rank, "the ranking, the match and the family segregation")
    rank.set_defaults(func=cmd_rank)

    demo = sub.add_parser("demo", help="run the whole chain on the bundled example family and "
                          "write the report (PDF, HTML, JSON)")
    demo.add_argument("--out", default="everydonor-demo", metavar="DIR",
                      help="folder for the report (default ./everydonor-demo)")
    demo.add_argument("--rules", default="beijing", metavar="NAME|FILE")
    demo.set_defaults(func=cmd_demo)
